"""The validity path shared by text-answering routers: lenient parse -> one repair -> safe fallback."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable

from task_router.catalog import TaskCatalog
from task_router.routers.base import Prediction, safe_fallback
from task_router.routers.parsing import OutputParseError, ParsedAnswer, parse_answer
from task_router.routers.render import RoutingInput

Parser = Callable[[str, TaskCatalog], ParsedAnswer]
REPAIR_SEPARATOR = "\n--- repair ---\n"


def read_answer(
    raw: str,
    routing: RoutingInput,
    *,
    parse: Parser = parse_answer,
    reask: Callable[[OutputParseError], str] | None = None,
) -> Prediction:
    """Turn a model's text answer into a Prediction, re-asking once with the parse error if it is unusable.

    ``reask(error)`` asks the model again (its prompt should quote ``error``) and returns the new text; None
    disables the repair. A repaired answer counts as ``valid_format=False``; an answer still unusable after
    the repair becomes the safe fallback (keep the active task, or NONE).

    Example:
        >>> from task_router import TaskCatalog
        >>> from task_router.routers.render import coerce_input
        >>> catalog = TaskCatalog([{"name": "recap", "description": "Recap a meeting."}])
        >>> routing = coerce_input({"messages": ["recap please"], "catalog": catalog})
        >>> read_answer("Task: RECAP", routing).task
        'recap'
        >>> read_answer("no idea", routing, reask=lambda error: '{"task": "recap"}').valid_format
        False
    """
    try:
        return _prediction(parse(raw, routing.catalog), raw, valid=True)
    except OutputParseError as error:
        if reask is None:
            return safe_fallback(routing, raw, f"unparseable answer: {error}")
        first_error = error
    second = reask(first_error)
    combined = f"{raw}{REPAIR_SEPARATOR}{second}"
    try:
        answer = parse(second, routing.catalog)
    except OutputParseError as error:
        return safe_fallback(routing, combined, f"unparseable after one repair: {error}")
    return _prediction(answer, combined, valid=False)


def _prediction(answer: ParsedAnswer, raw: str, *, valid: bool) -> Prediction:
    return Prediction(
        answer.task,
        answer.closing,
        rationale=answer.rationale,
        raw_output=raw,
        valid_format=valid,
        fallback=None if valid else "repaired",
    )


def reply_text(message: Any) -> str:
    """The text of a chat model's reply (tool-call arguments as JSON when it answered through a tool)."""
    if isinstance(message, AIMessage) and message.tool_calls:
        import json

        return json.dumps(message.tool_calls[0].get("args", {}))
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content if b)
    return str(content)


def bounded(model: BaseChatModel, max_new_tokens: int) -> Runnable[list[BaseMessage], Any]:
    """Cap the answer length: local pipelines and API models left without ``max_tokens`` otherwise generate up to
    their default budget (a small model behind an OpenAI-compatible server can ramble for hundreds of tokens)."""
    if getattr(getattr(model, "llm", None), "pipeline", None) is not None:
        return model.bind(pipeline_kwargs={"max_new_tokens": max_new_tokens})
    if "max_tokens" in type(model).model_fields and getattr(model, "max_tokens", None) is None:
        return model.model_copy(update={"max_tokens": max_new_tokens})  # still a chat model: structured output works
    return model
