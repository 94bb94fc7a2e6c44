"""The scoring prompt as token segments laid out for reuse: catalogue, then conversation, then question.

Each segment is tokenized on its own and the ids concatenated, so a longer conversation's ids always extend a
shorter one's (the property the per-thread KV cache relies on), and the cached and uncached paths read exactly the
same ids.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from task_router._catalog import TaskCatalog
from task_router._rendering import clip, message_text, render_catalog

_SYSTEM_MARK, _USER_MARK = "\x00SYSTEM\x00", "\x00USER\x00"


@dataclass(frozen=True)
class ChatFrame:
    """The model's chat template cut around the system text and the user text."""

    head: str  # up to the system text
    middle: str  # between the system text and the user text
    tail: str  # after the user text, including the assistant header
    system_in_user: bool  # the template has no system role: the system text opens the user message

    @classmethod
    def of(cls, tokenizer: Any) -> ChatFrame:
        if getattr(tokenizer, "chat_template", None) is None:
            return cls(head="", middle="\n\n", tail="\n", system_in_user=True)
        try:
            text = tokenizer.apply_chat_template(
                [{"role": "system", "content": _SYSTEM_MARK}, {"role": "user", "content": _USER_MARK}],
                tokenize=False,
                add_generation_prompt=True,
            )
            head, rest = text.split(_SYSTEM_MARK)
            middle, tail = rest.split(_USER_MARK)
            return cls(head, middle, tail, system_in_user=False)
        except Exception:  # templates that reject a system role: put the instructions in the user message
            text = tokenizer.apply_chat_template(
                [{"role": "user", "content": _USER_MARK}], tokenize=False, add_generation_prompt=True
            )
            head, tail = text.split(_USER_MARK)
            return cls(head, "\n\n", tail, system_in_user=True)


@dataclass(frozen=True)
class Prefix:
    """The catalogue part of the prompt: its token ids and a key that changes whenever its text does."""

    ids: tuple[int, ...]
    key: str


class PromptLayout:
    """Builds the scoring prompt's token ids from a prompt file (see ``prompts/scoring.yaml``).

    The conversation shown is the tail of the messages, cut at a multiple of ``stride`` so that it grows by
    whole turns and is cut only every ``stride`` messages (between ``window`` and ``window + stride - 1``
    messages are shown): between cuts the prompt only grows at its end and its KV cache can be extended.

    Example:
        >>> layout = PromptLayout(tokenizer, load_prompt("scoring"))  # doctest: +SKIP
        >>> prefix = layout.prefix(catalog).ids  # doctest: +SKIP
        >>> ids = prefix + layout.conversation_ids(messages) + layout.suffix_ids("recap")  # doctest: +SKIP
    """

    def __init__(self, tokenizer: Any, prompt: dict[str, str], *, window: int = 8, stride: int = 8) -> None:
        if window < 1 or stride < 1:
            raise ValueError("window and stride must be at least 1 message: e.g. window=8, stride=8")
        missing = {"system", "user_line", "assistant_line", "question", "answer", "closing"} - set(prompt)
        if missing:
            raise ValueError(f"the scoring prompt lacks sections {sorted(missing)}: see prompts/scoring.yaml")
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.window, self.stride = window, stride
        self.frame = ChatFrame.of(tokenizer)
        self._encode = lru_cache(maxsize=4096)(self._encode_uncached)

    def _encode_uncached(self, text: str) -> tuple[int, ...]:
        return tuple(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def encode(self, text: str) -> tuple[int, ...]:
        return self._encode(text)

    # -- catalogue ---------------------------------------------------------------------------------------------
    def prefix(self, catalog: TaskCatalog) -> Prefix:
        """The instructions + catalogue + conversation header, cached per catalogue version."""
        return catalog.memo(f"scoring.prefix.{id(self)}", lambda: self._prefix(catalog))

    def _prefix(self, catalog: TaskCatalog) -> Prefix:
        system = self.prompt["system"].format(catalog=render_catalog(catalog.tasks)).strip()
        header = self.prompt.get("conversation_header", "")
        text = f"{self.frame.head}{system}{self.frame.middle}{header}"
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return Prefix(tuple(ids), hashlib.sha256(text.encode()).hexdigest()[:16])

    # -- conversation ------------------------------------------------------------------------------------------
    def visible(self, messages: Sequence[BaseMessage]) -> Sequence[BaseMessage]:
        """The messages the prompt shows (see the class docstring)."""
        start = max(0, (len(messages) - self.window) // self.stride * self.stride)
        while start > 0 and not isinstance(messages[start], HumanMessage):
            start -= 1  # never open on an assistant message
        return messages[start:]

    def message_ids(self, message: BaseMessage) -> tuple[int, ...]:
        if isinstance(message, HumanMessage):
            template = self.prompt["user_line"]
        elif isinstance(message, AIMessage):
            template = self.prompt["assistant_line"]
        else:
            return ()
        return self.encode(template.format(text=clip(message_text(message))))

    def conversation_ids(self, messages: Sequence[BaseMessage]) -> tuple[int, ...]:
        ids: list[int] = []
        for message in self.visible(messages):
            ids.extend(self.message_ids(message))
        return tuple(ids)

    # -- question and answers ----------------------------------------------------------------------------------
    def suffix_ids(self, active_task: str | None) -> tuple[int, ...]:
        """The question (naming the active task) and the assistant's answer opening."""
        question = self.prompt["question"].format(active_task=active_task or "none")
        return self.encode(f"{question}{self.frame.tail}{self.prompt.get('answer_prefix', '')}")

    def answer_ids(self, label: str) -> tuple[int, ...]:
        return self.encode(self.prompt["answer"].format(name=label))

    def closing_ids(self, flag: bool) -> tuple[int, ...]:
        """What follows the active task's answer to say whether the user is finishing it."""
        return self.encode(self.prompt["closing"].format(flag=self.prompt.get("yes" if flag else "no", str(flag))))
