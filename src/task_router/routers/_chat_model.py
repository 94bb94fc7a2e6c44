"""The router kinds that prompt a chat model: their shared base, `structured`, `zero-shot` and `few-shot-cot`.

- :class:`ChatModelRouter`: what the router kinds that prompt a chat model share (structured, zero-shot,
  few-shot-cot, react): the model with its answer-length cap, the prompt file, and re-asking once with the parse
  error.
- The `structured` router (:class:`StructuredRouter`): tool calling / JSON schema where the model supports it, JSON
  text otherwise.
- Prompt-only router kinds (:class:`PromptedRouter`): `zero-shot` (instructions + catalogue) and `few-shot-cot`
  (worked examples, reasoning, then a final answer line). Both read the model's text through the shared parse ->
  repair -> fallback path.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field, create_model

from task_router._budget import DEFAULT, ModelCall, Plan
from task_router._catalog import NONE_LABEL, Task, TaskCatalog
from task_router._prompting import DEFAULT_WINDOW, build_messages, chat_template, clip, load_prompt
from task_router._router_input import RoutingInput
from task_router.models import ModelSpec, load_router_model, model_name
from task_router.routers._answering import (
    Parser,
    add_logprob_confidence,
    bounded,
    read_answer,
    reply_text,
    with_logprobs,
)
from task_router.routers._base import Prediction, Router, logger, redact
from task_router.routers._parsing import (
    DONE_LABEL,
    OutputParseError,
    ParsedAnswer,
    parse_answer,
    resolve_choice,
    split_final_answer,
)


class ChatModelRouter(Router):
    """Base of the router kinds that ask a chat model with a prompt file (``prompts/<prompt>.yaml``).

    Args:
        model: a model spec or a chat model instance (:func:`~task_router.models.load_router_model`: a network
            provider's client gets ``timeout_s`` as its own time-out and does not retry by itself; retries are the
            composition's).
        catalog: the task catalogue, unless each input carries its own.
        prompt: the prompt file's name, or your own ``ChatPromptTemplate`` filling ``{catalog}``,
            ``{conversation}`` and ``{active_task}`` (plus the kind's own :attr:`template_variables`) and asking for
            the kind's answer format itself (e.g. the JSON object of ``prompts/structured.yaml``'s ``format``); the
            kind's prompt file still gives the other sections (such as ``repair``).
        window: how many of the latest messages the prompt shows.
        max_new_tokens: the answer-length cap (:func:`~task_router.routers._answering.bounded`; default: the
            kind's :attr:`default_max_new_tokens`).
        logprobs: ask the API for token log-probabilities, which set the decision's confidence
            (:func:`~task_router.routers._answering.with_logprobs`).
        timeout_s: seconds a decision may take (:attr:`Router.timeout_s`), also the client's time-out of a
            network model given by spec (None: no limit; default: ``TASK_ROUTER_TIMEOUT_S``, else 60).
        base_url: an OpenAI-compatible server's URL, for an ``openai:`` spec (default: ``OPENAI_BASE_URL``).
    """

    #: The prompt file used when none is given, and for the sections a user's own template does not replace.
    default_prompt: ClassVar[str] = "zero-shot"
    #: Variables this kind fills besides ``catalog``, ``conversation`` and ``active_task``.
    template_variables: ClassVar[tuple[str, ...]] = ()
    #: Whether the prompt file's ``format`` section (the answer's JSON) follows its ``user`` section.
    text_format: ClassVar[bool] = False
    #: The answer-length cap when ``max_new_tokens`` is not given.
    default_max_new_tokens: ClassVar[int] = 48
    takes_timeout: ClassVar[bool] = True

    def __init__(
        self,
        model: ModelSpec,
        *,
        catalog: TaskCatalog | None = None,
        prompt: str | ChatPromptTemplate | None = None,
        window: int = DEFAULT_WINDOW,
        max_new_tokens: int | None = None,
        logprobs: bool = False,
        timeout_s: float | str | None = DEFAULT,
        base_url: str | None = None,
    ) -> None:
        super().__init__(catalog=catalog, model_label=model_name(model))
        self.model: BaseChatModel = load_router_model(model, base_url=base_url, timeout_s=timeout_s)
        self.timeout_s = timeout_s
        if logprobs:
            self.model = with_logprobs(self.model)
        self.prompt_name = prompt if isinstance(prompt, str) else self.default_prompt
        self.prompt = load_prompt(self.prompt_name)
        self.template = chat_template(
            self.prompt_name if prompt is None or isinstance(prompt, str) else prompt,
            extra=self.template_variables,
            text_format=self.text_format,
        )
        self.window = window
        self._text_model = bounded(self.model, max_new_tokens or self.default_max_new_tokens)

    def messages(self, routing: RoutingInput, **extra: str) -> list[BaseMessage]:
        """The chat messages of one decision: :attr:`template` filled with the turn (and ``extra`` variables)."""
        return build_messages(self.template, routing, window=self.window, **extra)

    def require_sections(self, sections: Iterable[str], purpose: str) -> None:
        """Fail at construction, naming the prompt and its missing sections, rather than at the first decision."""
        missing = set(sections) - self.prompt.keys()
        if missing:
            raise ValueError(f"prompt {self.prompt_name!r} lacks the section(s) {sorted(missing)} {purpose}")

    def read_reply(
        self,
        raw: str,
        routing: RoutingInput,
        messages: list[BaseMessage],
        *,
        parse: Parser = parse_answer,
        repair: bool = True,
    ) -> Plan[Prediction]:
        """The model's text answer to ``messages`` read by :func:`~task_router.routers._answering.read_answer`; if
        ``repair``, an unusable answer is re-asked once with the prompt's ``repair`` section quoting the error."""

        def reask(error: OutputParseError) -> ModelCall:
            retry = [*messages, AIMessage(raw), HumanMessage(self.prompt["repair"].format(error=error))]
            return ModelCall(self._text_model, retry)

        return read_answer(raw, routing, parse=parse, reask=reask if repair else None)


_ROUTER_MAX_NEW_TOKENS = 48


def choice_schema(catalog: TaskCatalog) -> type[BaseModel]:
    """A pydantic schema whose `task` can only be a catalogue name, NONE or DONE (cached per catalogue version).

    NONE: nothing in the list fits (an off-topic request; an active task stays active); DONE: the user is done with
    the active task. ``closing`` true on the active task says "done" too (the older answer).
    """

    def build() -> type[BaseModel]:
        names = tuple(dict.fromkeys((*catalog.names, NONE_LABEL, DONE_LABEL)))
        return create_model(
            "RouteChoice",
            __doc__="The task the assistant is doing after the user's latest message.",
            task=(
                Literal[names],
                Field(
                    description="A task name from the list; NONE if nothing in the list fits (an off-topic request: "
                    "an active task stays active); DONE if the user is done with the active task."
                ),
            ),
            closing=(
                bool,
                Field(default=False, description="True if the user is done with the active task (as DONE)."),
            ),
        )

    return catalog.memo("structured.schema", build)


class StructuredRouter(ChatModelRouter):
    """Asks the chat model for ``{"task": <name | NONE | DONE>, "closing": bool}``.

    NONE is "nothing in the list fits" (with a task active: an off-topic request, the task stays active), DONE "the
    user is done with the active task" (END); the active task with ``closing`` true still means DONE.

    Uses ``with_structured_output`` (tool calling / JSON schema) when the model supports it; models without it
    (local pipelines, fake models) answer in JSON text, parsed leniently. An unusable answer is re-asked once
    with the error, then replaced by a safe fallback (keep the active task, or NONE), with ``valid_format=False``.
    ``logprobs=True`` (ChatOpenAI) sets the confidence to the probability of the answer's tokens.

    Example:
        >>> from task_router import TaskCatalog, make_router
        >>> router = make_router("structured", model="embedded")  # doctest: +SKIP
        >>> router.invoke({"messages": [{"role": "user", "content": "Recap my meeting"}],
        ...                "catalog": TaskCatalog.demo()})  # doctest: +SKIP
    """

    kind = "structured"
    default_prompt = "structured"
    text_format = True
    default_max_new_tokens = _ROUTER_MAX_NEW_TOKENS

    def __init__(self, model: ModelSpec, *, repair: bool = True, use_tools: bool | None = None, **options: Any) -> None:
        super().__init__(model, **options)
        self.repair = repair
        self.use_tools = supports_structured_output(self.model) if use_tools is None else use_tools

    def plan(self, routing: RoutingInput, config: RunnableConfig) -> Plan[Prediction]:
        if self.use_tools:
            return (yield from self._structured_plan(routing))
        return (yield from self._text_plan(routing))

    def _structured_plan(self, routing: RoutingInput) -> Plan[Prediction]:
        # The JSON format is spelled out here too: servers that ignore response_format / tool_choice
        # (e.g. `transformers serve`) then still answer in JSON text, which the text path reads.
        messages = self.messages(routing)
        model = self._text_model if isinstance(self._text_model, BaseChatModel) else self.model
        structured = model.with_structured_output(choice_schema(routing.catalog), include_raw=True)
        try:
            out = yield ModelCall(structured, messages)
        except ValueError as exc:
            # e.g. ChatOpenAI's json_schema mode raises a ValidationError on the free text of a server that
            # ignored response_format, losing that text: ask for text, for this decision only. One bad answer
            # says nothing about the next one, and the router is shared by every thread.
            logger.warning("structured output failed (%s); %s asks for a text answer", redact(exc), self.name)
            return (yield from self._text_plan(routing))
        raw: AIMessage = out["raw"]
        parsed = out.get("parsed")
        if parsed is not None:
            try:
                task, closing = resolve_choice(parsed.task, routing.catalog, bool(parsed.closing))
                prediction = Prediction(task, closing, raw_output=reply_text(raw))
                return add_logprob_confidence(prediction, raw, routing.catalog)
            except OutputParseError:
                pass
        # Servers that ignore tool_choice / response_format answer in text: read it like the text path.
        return (yield from self._read_text(routing, messages, raw))

    def _text_plan(self, routing: RoutingInput) -> Plan[Prediction]:
        messages = self.messages(routing)
        reply = yield ModelCall(self._text_model, messages)
        return (yield from self._read_text(routing, messages, reply))

    def _read_text(self, routing: RoutingInput, messages: list[BaseMessage], reply: AIMessage) -> Plan[Prediction]:
        """A text answer, read leniently (re-asked once if ``repair``); its confidence from its log-probabilities."""
        prediction = yield from self.read_reply(reply_text(reply), routing, messages, repair=self.repair)
        return add_logprob_confidence(prediction, reply, routing.catalog)


def supports_structured_output(model: BaseChatModel) -> bool:
    """Whether ``model.with_structured_output`` works (tool calling / JSON schema): API models, not local pipelines."""
    probe = create_model("Probe", task=(str, ...))
    try:
        model.with_structured_output(probe)
    except (NotImplementedError, ValueError, TypeError, AttributeError):
        return False
    return True


class PromptedRouter(ChatModelRouter):
    """A router that asks a chat model in plain text and parses its answer leniently (no tools, no schema).

    ``logprobs=True`` asks an API model (ChatOpenAI) for token log-probabilities; the decision's confidence is then
    the probability of the answer's tokens (see :func:`~task_router.routers._answering.logprob_confidence`).
    """

    kind: ClassVar[str] = "prompted"

    def __init__(self, model: ModelSpec, *, repair: bool = True, **options: Any) -> None:
        super().__init__(model, **options)
        if "repair" not in self.prompt:
            raise ValueError(f"prompt {self.prompt_name!r} has no 'repair' section: add one that quotes {{error}}")
        self.repair = repair

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
    template_variables = ("examples",)

    def __init__(self, model: ModelSpec, *, n_task_examples: int = 3, **options: Any) -> None:
        super().__init__(model, **options)
        self.require_sections({"task_example", "generic_examples"}, "used for examples")
        self.n_task_examples = n_task_examples

    def messages(self, routing: RoutingInput, **extra: str) -> list[BaseMessage]:
        catalog = routing.catalog
        examples = catalog.memo(
            f"few-shot-cot.examples:{self.prompt_name}:{self.n_task_examples}", lambda: self.examples(catalog)
        )
        return super().messages(routing, examples=examples, **extra)

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
