"""Prompt text: catalogues and conversations rendered for prompts, and router prompt files as LangChain templates.

Catalogues and conversations become prompt text bounded, on one line, with tag-like delimiters defused
(:func:`clip`, :func:`render_catalog`, :func:`render_conversation`).

Router prompt files (prompts/*.yaml) become LangChain templates, and the chat messages a router kind sends. A prompt
file is a YAML mapping of sections written as f-string templates (``{catalog}``; ``{{`` for a brace). Its
``system`` and ``user`` sections make the router's :class:`~langchain_core.prompts.ChatPromptTemplate`; a user may
pass their own ChatPromptTemplate instead (:func:`chat_template`), which fills the same variables.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import cache
from typing import TYPE_CHECKING

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from task_router._catalog import NONE_LABEL, Task, TaskCatalog
from task_router._resources import read_prompt

if TYPE_CHECKING:  # _router_input imports this module
    from task_router._router_input import RoutingInput


DEFAULT_WINDOW = 8  # messages of history a prompt-based router reads (the latest user turn always included)
MAX_MESSAGE_CHARS = 600  # longer messages keep their head and tail
# Characters of one message that any router reads (head and tail kept): a 10 MB paste costs no more than this.
# The embedding router's MiniLM reads at most its first 256 tokens anyway, well within it.
MAX_ROUTED_CHARS = 4000
# Tag-like text (``</conversation>``, ``<system>``, ``<|im_start|>``) in user text could pose as the prompt's own
# delimiters: its angle brackets are replaced by look-alikes that no prompt uses.
_TAG_LIKE = re.compile(r"<(\s*/?\s*[|A-Za-z_][^<>\n]{0,60}?)>")


def message_text(message: BaseMessage) -> str:
    """The text of a message; non-text content blocks (images, files) become a short placeholder."""
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif isinstance(block, Mapping):
            parts.append(f"[{block.get('type', 'attachment')}]")
    return " ".join(p for p in parts if p)


def routed_text(message: BaseMessage, limit: int = MAX_ROUTED_CHARS) -> str:
    """A message's text as routers read it: whole up to ``limit`` characters, else its first and last
    ``limit // 2`` characters around ``[...]``. The message itself is not changed (task subgraphs see all of it)."""
    return head_tail(message_text(message), limit)


def head_tail(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its head and tail around ``[...]``."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} [...] {text[-half:]}"


def neutralize(text: str) -> str:
    """Text with tag-like sequences defused: ``</conversation>`` becomes ``‹/conversation›``."""
    return _TAG_LIKE.sub(lambda m: f"‹{m.group(1)}›", text)


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Text for a prompt: on one line (so it cannot start a fake ``User:`` line), tag-like delimiters
    neutralised, and at most ``limit`` characters (head and tail kept, ``[...]`` between)."""
    if len(text) > 4 * limit + 1024:  # a huge text: cut before the linear passes (whitespace, tags) over all of it
        text = f"{text[: 2 * limit + 512]} {text[-(2 * limit + 512) :]}"
    return head_tail(neutralize(" ".join(text.split())), limit)


def render_catalog(tasks: Sequence[Task], *, with_examples: bool = True) -> str:
    lines = []
    for task in tasks:
        line = f"- {task.name}: {clip(task.description, 400)}"
        if with_examples and task.examples:
            line += " (e.g. " + "; ".join(f'"{clip(e, 80)}"' for e in task.examples[:2]) + ")"
        lines.append(line)
    lines.append(f"- {NONE_LABEL}: the request fits none of the tasks above.")
    return "\n".join(lines)


def render_conversation(messages: Sequence[BaseMessage], *, window: int = DEFAULT_WINDOW) -> str:
    """The last ``window`` messages as 'User:' / 'Assistant:' lines.

    Truncation: the oldest messages are dropped first; the latest ``window`` messages are kept (at least the
    latest user turn, even with ``window <= 0``), and each message longer than ``MAX_MESSAGE_CHARS`` keeps its
    first and last ``MAX_MESSAGE_CHARS // 2`` characters around ``[...]``. So a conversation longer than the
    model's context is cut to a bounded prompt that always ends with the user's latest words. Every message is
    put on one line with tag-like text neutralised (:func:`clip`), so user text cannot close the prompt's
    ``<conversation>`` block or start a fake turn.
    """
    kept = list(messages)[-window:] if window > 0 else list(messages)[-1:]
    lines = []
    for message in kept:
        role = "User" if isinstance(message, HumanMessage) else "Assistant" if isinstance(message, AIMessage) else None
        if role:
            lines.append(f"{role}: {clip(routed_text(message))}")
    return "\n".join(lines)


#: What every router template may use; a kind adds its own (few-shot-cot ``examples``, react ``task_names``).
ROUTER_VARIABLES = ("catalog", "conversation", "active_task")


@cache
def load_prompt(name: str, required: tuple[str, ...] = ("system",)) -> dict[str, str]:
    """Sections of a prompt file under prompts/ (``name`` with or without ``.yaml``); ``required`` must be there."""
    filename = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
    data = yaml.safe_load(read_prompt(filename))
    missing = [key for key in required if not isinstance(data, dict) or key not in data]
    if missing:
        shown = ", ".join(repr(key) for key in missing)
        raise ValueError(f"prompt file {filename} must be a YAML mapping with the section(s) {shown}")
    return {key: str(value) for key, value in data.items()}


@cache
def file_template(name: str, *, text_format: bool = False) -> ChatPromptTemplate:
    """The chat template of a prompt file: its ``system`` section, then its ``user`` section (default: the
    conversation alone), followed by its ``format`` section when ``text_format`` (the answer's JSON spelled out).

    Example:
        >>> file_template("zero-shot").input_variables
        ['active_task', 'catalog', 'conversation']
    """
    sections = load_prompt(name)
    user = sections.get("user", "{conversation}").strip()
    if text_format and sections.get("format"):
        user = f"{user}\n{sections['format'].strip()}"
    return ChatPromptTemplate.from_messages([("system", sections["system"].strip()), ("human", user)])


def chat_template(
    prompt: str | ChatPromptTemplate, *, extra: tuple[str, ...] = (), text_format: bool = False
) -> ChatPromptTemplate:
    """A router kind's template: a prompt file's (by name) or the user's own ChatPromptTemplate, checked to use
    only the variables the router fills (``{catalog}``, ``{conversation}``, ``{active_task}`` and ``extra``, all of
    them text) and to show the conversation. A user's template is sent as it is: it spells out the answer's format
    itself (the file's ``format`` section, which ``text_format`` appends, is not added to it).

    Example:
        >>> own = ChatPromptTemplate.from_messages(
        ...     [("system", "Pick one of:\\n{catalog}"), ("human", "{conversation}\\nAnswer in JSON.")]
        ... )
        >>> chat_template(own).input_variables
        ['catalog', 'conversation']
        >>> chat_template(ChatPromptTemplate.from_messages([("human", "{question}")]))
        Traceback (most recent call last):
        ...
        ValueError: the router's ChatPromptTemplate uses ['question'], which the router does not fill; ...
    """
    if isinstance(prompt, str):
        return file_template(prompt, text_format=text_format)
    if not isinstance(prompt, ChatPromptTemplate):
        raise TypeError(f"prompt must be a prompt file's name or a ChatPromptTemplate, got {type(prompt).__name__}")
    allowed = {*ROUTER_VARIABLES, *extra}
    unknown = sorted(set(prompt.input_variables) - allowed)
    if unknown:
        raise ValueError(
            f"the router's ChatPromptTemplate uses {unknown}, which the router does not fill; use only "
            f"{sorted(allowed)} (or give them with .partial(...))"
        )
    if "conversation" not in prompt.input_variables:
        raise ValueError("the router's ChatPromptTemplate must show the user's words: add {conversation} to it")
    placeholders = [m.variable_name for m in prompt.messages if isinstance(m, MessagesPlaceholder)]
    if placeholders:
        raise ValueError(
            f"the router fills its variables with text, not messages: replace MessagesPlaceholder({placeholders[0]!r}) "
            f'with a message that quotes it, e.g. ("human", "{{{placeholders[0]}}}")'
        )
    return prompt


def catalog_block(catalog: TaskCatalog) -> str:
    return catalog.memo("prompt.catalog", lambda: render_catalog(catalog.tasks))


def build_messages(
    template: ChatPromptTemplate, routing: RoutingInput, *, window: int = DEFAULT_WINDOW, **extra: str
) -> list[BaseMessage]:
    """The template filled for one turn: the file templates send the instructions and the catalogue as the system
    message, then the conversation, delimited, in one user message, so that the user's words can never pose as the
    router's own instructions (values are inserted as they are: braces in them are not read as variables)."""
    values = {
        "catalog": catalog_block(routing.catalog),
        "conversation": render_conversation(routing.messages, window=window),
        "active_task": routing.active_task or "none",
        **extra,
    }
    return template.format_messages(**{name: values[name] for name in template.input_variables})
