"""The validity path shared by text-answering routers: lenient parse -> one repair -> safe fallback."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable

from task_router.catalog import NONE_LABEL, TaskCatalog
from task_router.models.local import pipeline_of
from task_router.rendering import RoutingInput
from task_router.routers.base import Prediction, safe_fallback
from task_router.routers.parsing import OutputParseError, ParsedAnswer, parse_answer

Parser = Callable[[str, TaskCatalog], ParsedAnswer]
REPAIR_SEPARATOR = "\n--- repair ---\n"
MAX_LOGPROB_TOKENS = 4096


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
        >>> from task_router.rendering import coerce_input
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
    if pipeline_of(model) is not None:
        return model.bind(pipeline_kwargs={"max_new_tokens": max_new_tokens})
    if "max_tokens" in type(model).model_fields and getattr(model, "max_tokens", None) is None:
        return model.model_copy(update={"max_tokens": max_new_tokens})  # still a chat model: structured output works
    return model


def with_logprobs(model: BaseChatModel) -> BaseChatModel:
    """A copy of ``model`` that asks the API for token log-probabilities (``ChatOpenAI(logprobs=True)``)."""
    if "logprobs" not in type(model).model_fields:
        raise ValueError(
            f"logprobs=True needs a chat model that can return token log-probabilities (e.g. ChatOpenAI); "
            f"{type(model).__name__} cannot: drop logprobs=True (local models get confidences from the `scoring` kind)"
        )
    return model.model_copy(update={"logprobs": True})


def logprob_confidence(message: Any, answer: str) -> float | None:
    """Probability the model gave to the tokens that spell ``answer`` in its reply: exp(sum of their log-probs).

    Read from ``response_metadata["logprobs"]["content"]`` (OpenAI's format, which ChatOpenAI keeps); None when the
    reply carries no log-probabilities or does not spell the answer verbatim (e.g. a display name the lenient
    parser resolved). The last occurrence counts: a chain of thought may mention several tasks before its answer.

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> tokens = [{"token": t, "logprob": -0.1} for t in ['{"task": "', "recap", '"}']]
        >>> round(logprob_confidence(AIMessage("", response_metadata={"logprobs": {"content": tokens}}), "recap"), 3)
        0.905
    """
    metadata = getattr(message, "response_metadata", None)
    logprobs = metadata.get("logprobs") if isinstance(metadata, dict) else None
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not tokens or not answer or not isinstance(tokens, list) or not all(isinstance(t, dict) for t in tokens):
        return None
    tokens = tokens[-MAX_LOGPROB_TOKENS:]  # the answer is at the end; a rambling reply costs no more than this
    pieces = [str(token.get("token", "")) for token in tokens]
    start = "".join(pieces).lower().rfind(answer.lower())
    if start < 0:
        return None
    end, offset, total = start + len(answer), 0, 0.0
    for piece, token in zip(pieces, tokens, strict=True):
        if offset < end and offset + len(piece) > start:
            value = _finite(token.get("logprob"))
            if value is None:
                return None  # provider data we cannot read: no confidence rather than a made-up one
            total += value
        offset += len(piece)
    # Untrusted provider numbers: a log-probability is <= 0; a positive sum (a buggy server) is clamped to
    # probability 1 instead of failing the decision's validation.
    return math.exp(min(0.0, total))


def _finite(value: Any) -> float | None:
    """A finite float from provider data (None, numbers and numeric strings), else None."""
    if value is None:
        return 0.0
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def add_logprob_confidence(prediction: Prediction, message: Any) -> Prediction:
    """Set the confidence of an answer read as-is (not repaired, not a fallback) from the message's log-probs."""
    if prediction.confidence is not None or not prediction.valid_format or prediction.fallback is not None:
        return prediction
    return replace(prediction, confidence=logprob_confidence(message, prediction.task or NONE_LABEL))
