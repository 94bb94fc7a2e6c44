"""Prompt-only router kinds: `zero-shot` (instructions + catalogue) and `few-shot-cot` (worked examples, reasoning,
then a final answer line). Both read the model's text through the shared parse -> repair -> fallback path."""

from __future__ import annotations

from typing import Any, ClassVar

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig

from task_router._budget import DEFAULT
from task_router._catalog import Task, TaskCatalog
from task_router._prompting import build_messages
from task_router._rendering import DEFAULT_WINDOW, clip
from task_router._router_input import RoutingInput
from task_router.models import ModelSpec
from task_router.routers._answering import add_logprob_confidence, reply_text
from task_router.routers._base import Prediction
from task_router.routers._chat_model import ChatModelRouter
from task_router.routers._parsing import ParsedAnswer, parse_answer, split_final_answer
from task_router.routers._plans import ModelCall, Plan


class PromptedRouter(ChatModelRouter):
    """A router that asks a chat model in plain text and parses its answer leniently (no tools, no schema).

    ``logprobs=True`` asks an API model (ChatOpenAI) for token log-probabilities; the decision's confidence is then
    the probability of the answer's tokens (see :func:`~task_router.routers._answering.logprob_confidence`).
    """

    kind: ClassVar[str] = "prompted"
    default_prompt: ClassVar[str] = "zero-shot"
    default_max_new_tokens: ClassVar[int] = 48

    def __init__(
        self,
        model: ModelSpec,
        *,
        catalog: TaskCatalog | None = None,
        prompt: str | None = None,
        window: int = DEFAULT_WINDOW,
        repair: bool = True,
        max_new_tokens: int | None = None,
        logprobs: bool = False,
        timeout_s: float | str | None = DEFAULT,
        base_url: str | None = None,
    ) -> None:
        super().__init__(
            model,
            catalog=catalog,
            prompt=prompt or self.default_prompt,
            window=window,
            max_new_tokens=max_new_tokens or self.default_max_new_tokens,
            logprobs=logprobs,
            timeout_s=timeout_s,
            base_url=base_url,
        )
        if "repair" not in self.prompt:
            raise ValueError(f"prompt {self.prompt_name!r} has no 'repair' section: add one that quotes {{error}}")
        self.repair = repair

    def messages(self, routing: RoutingInput) -> list[BaseMessage]:
        return build_messages(self.prompt, routing, window=self.window)

    def parse(self, raw: str, catalog: TaskCatalog) -> ParsedAnswer:
        return parse_answer(raw, catalog)

    def plan(self, routing: RoutingInput, config: RunnableConfig) -> Plan[Prediction]:
        messages = self.messages(routing)
        reply = yield ModelCall(self._text_model, messages)
        raw = reply_text(reply)
        prediction = yield from self.read_reply(raw, routing, messages, parse=self.parse, repair=self.repair)
        return add_logprob_confidence(prediction, reply, routing.catalog)


class ZeroShotRouter(PromptedRouter):
    """Zero-shot prompt: the rules and the catalogue, answered with one JSON line ``{"task": ..., "closing": ...}``.

    Example:
        >>> from task_router import TaskCatalog, make_router
        >>> router = make_router("zero-shot", model="embedded", catalog=TaskCatalog.demo())  # doctest: +SKIP
        >>> router.invoke({"messages": [{"role": "user", "content": "Recap my meeting"}]}).event  # doctest: +SKIP
        'START'
    """

    kind = "zero-shot"
    default_prompt = "zero-shot"


class FewShotCoTRouter(PromptedRouter):
    """Few-shot chain of thought: worked examples built from the catalogue, short reasoning, an ``Answer:`` line.

    The examples use the catalogue's own task examples (``Task.examples``) for a few tasks plus hand-written
    generic situations from the prompt file (continue, switch, close, nothing fits) filled with catalogue tasks;
    they are rebuilt when the catalogue changes. The reasoning goes into ``RouteDecision.rationale``.

    Example:
        >>> from task_router import TaskCatalog, make_router
        >>> router = make_router("few-shot-cot", model="embedded", catalog=TaskCatalog.demo())  # doctest: +SKIP
        >>> turn = {"messages": [{"role": "user", "content": "Post about my promotion"}]}
        >>> router.invoke(turn).rationale  # doctest: +SKIP
    """

    kind = "few-shot-cot"
    default_prompt = "few-shot-cot"
    default_max_new_tokens = 128

    def __init__(self, model: ModelSpec, *, n_task_examples: int = 3, **options: Any) -> None:
        super().__init__(model, **options)
        self.require_sections({"task_example", "generic_examples"}, "used for examples")
        self.n_task_examples = n_task_examples

    def messages(self, routing: RoutingInput) -> list[BaseMessage]:
        catalog = routing.catalog
        examples = catalog.memo(
            f"few-shot-cot.examples:{self.prompt_name}:{self.n_task_examples}", lambda: self.examples(catalog)
        )
        return build_messages(self.prompt, routing, window=self.window, examples=examples)

    def examples(self, catalog: TaskCatalog) -> str:
        """The worked examples for a catalogue (deterministic: the first tasks, their first example request)."""
        tasks = catalog.tasks
        with_examples = [t for t in tasks if t.examples][: self.n_task_examples]
        blocks = [
            self.prompt["task_example"].format(task=t.name, request=clip(t.examples[0], 160)) for t in with_examples
        ]
        first = (with_examples or tasks)[0]
        unused = [t for t in tasks if t not in with_examples]  # prefer a task not already shown above
        second = next((t for t in [*unused, *tasks] if t.name != first.name), None)
        values = {"task": first.name, "request": _request(first)}
        if second is not None:
            values |= {"task_b": second.name, "request_b": _request(second)}
        for block in self.prompt["generic_examples"].split("\n---\n"):
            if second is None and "{task_b}" in block:
                continue  # a one-task catalogue has nothing to switch to
            blocks.append(block.format(**values))
        return "\n---\n".join(b.strip() for b in blocks)

    def parse(self, raw: str, catalog: TaskCatalog) -> ParsedAnswer:
        reasoning, answer = split_final_answer(raw)
        parsed = parse_answer(answer, catalog)
        return ParsedAnswer(parsed.task, parsed.closing, reasoning or parsed.rationale)


def _request(task: Task) -> str:
    return clip(task.examples[0], 160) if task.examples else f"Can you help me with {task.title.lower()}?"
