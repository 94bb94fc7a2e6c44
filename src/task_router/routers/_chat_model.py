"""`ChatModelRouter`: what the router kinds that prompt a chat model share (structured, zero-shot, few-shot-cot,
react): the model with its answer-length cap, the prompt file, and re-asking once with the parse error."""

from __future__ import annotations

from collections.abc import Iterable

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from task_router._budget import DEFAULT
from task_router._catalog import TaskCatalog
from task_router._prompting import load_prompt
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
        prompt: the prompt file's name.
        window: how many of the latest messages the prompt shows.
        max_new_tokens: the answer-length cap (:func:`~task_router.routers._answering.bounded`).
        logprobs: ask the API for token log-probabilities, which set the decision's confidence
            (:func:`~task_router.routers._answering.with_logprobs`).
        timeout_s: seconds a decision may take (:attr:`Router.timeout_s`), also the client's time-out of a
            network model given by spec (None: no limit; default: ``TASK_ROUTER_TIMEOUT_S``, else 60).
        base_url: an OpenAI-compatible server's URL, for an ``openai:`` spec (default: ``OPENAI_BASE_URL``).
    """

    def __init__(
        self,
        model: ModelSpec,
        *,
        catalog: TaskCatalog | None,
        prompt: str,
        window: int,
        max_new_tokens: int,
        logprobs: bool,
        timeout_s: float | str | None = DEFAULT,
        base_url: str | None = None,
    ) -> None:
        super().__init__(catalog=catalog, model_label=model_name(model))
        self.model: BaseChatModel = load_router_model(model, base_url=base_url, timeout_s=timeout_s)
        self.timeout_s = timeout_s
        if logprobs:
            self.model = with_logprobs(self.model)
        self.prompt_name = prompt
        self.prompt = load_prompt(prompt)
        self.window = window
        self._text_model = bounded(self.model, max_new_tokens)

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
