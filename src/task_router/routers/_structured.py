"""The `structured` router: tool calling / JSON schema where the model supports it, JSON text otherwise."""

from __future__ import annotations

from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field, create_model

from task_router._budget import DEFAULT
from task_router._catalog import NONE_LABEL, TaskCatalog
from task_router._prompting import build_messages
from task_router._rendering import DEFAULT_WINDOW
from task_router._router_input import RoutingInput
from task_router.models import ModelSpec
from task_router.routers._answering import add_logprob_confidence, reply_text
from task_router.routers._base import Prediction, logger, redact
from task_router.routers._chat_model import ChatModelRouter
from task_router.routers._parsing import DONE_LABEL, OutputParseError, resolve_choice
from task_router.routers._plans import ModelCall, Plan

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

    def __init__(
        self,
        model: ModelSpec,
        *,
        catalog: TaskCatalog | None = None,
        prompt: str = "structured",
        window: int = DEFAULT_WINDOW,
        repair: bool = True,
        use_tools: bool | None = None,
        logprobs: bool = False,
        timeout_s: float | str | None = DEFAULT,
        base_url: str | None = None,
    ) -> None:
        super().__init__(
            model,
            catalog=catalog,
            prompt=prompt,
            window=window,
            max_new_tokens=_ROUTER_MAX_NEW_TOKENS,
            logprobs=logprobs,
            timeout_s=timeout_s,
            base_url=base_url,
        )
        self.repair = repair
        self.use_tools = supports_structured_output(self.model) if use_tools is None else use_tools

    def plan(self, routing: RoutingInput, config: RunnableConfig) -> Plan[Prediction]:
        if self.use_tools:
            return (yield from self._structured_plan(routing))
        return (yield from self._text_plan(routing))

    def _structured_plan(self, routing: RoutingInput) -> Plan[Prediction]:
        # The JSON format is spelled out here too: servers that ignore response_format / tool_choice
        # (e.g. `transformers serve`) then still answer in JSON text, which the text path reads.
        messages = build_messages(self.prompt, routing, window=self.window, text_format=True)
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
        messages = build_messages(self.prompt, routing, window=self.window, text_format=True)
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
