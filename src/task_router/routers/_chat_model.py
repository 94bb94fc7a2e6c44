"""`ChatModelRouter`: what the router kinds that prompt a chat model share (structured, zero-shot, few-shot-cot,
react): the model with its answer-length cap, the prompt file, and re-asking once with the parse error."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate

from task_router._budget import DEFAULT
from task_router._catalog import TaskCatalog
from task_router._prompting import build_messages, chat_template, load_prompt
from task_router._rendering import DEFAULT_WINDOW
from task_router._router_input import RoutingInput
from task_router.models import ModelSpec, load_router_model, model_name
from task_router.routers._answering import Parser, bounded, read_answer, with_logprobs
from task_router.routers._base import Prediction, Router
from task_router.routers._parsing import OutputParseError, parse_answer
from task_router.routers._plans import ModelCall, Plan


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
