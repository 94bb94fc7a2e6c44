"""The validity path shared by text-answering routers: lenient parse -> one repair -> safe fallback."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.runnables import Runnable

from task_router._budget import ModelCall, Plan
from task_router._catalog import NONE_LABEL, TaskCatalog
from task_router._router_input import RoutingInput
from task_router.models._local import pipeline_of
from task_router.routers._base import Answer, Prediction, safe_fallback
from task_router.routers._parsing import DONE_LABEL, OutputParseError, ParsedAnswer, parse_answer

Parser = Callable[[str, TaskCatalog], ParsedAnswer]
REPAIR_SEPARATOR = "\n--- repair ---\n"
MAX_LOGPROB_TOKENS = 4096
TOP_LOGPROBS = 5  # alternatives per token asked of the API with logprobs=True (they rank the other answers)
_PUNCTUATION = " \t\n\"'`,}]"


def read_answer(
    raw: str,
    routing: RoutingInput,
    *,
    parse: Parser = parse_answer,
    reask: Callable[[OutputParseError], ModelCall] | None = None,
) -> Plan[Prediction]:
    """Turn a model's text answer into a Prediction, re-asking once with the parse error if it is unusable: a
    plan (:mod:`task_router._budget`) that yields the re-asking call.

    ``reask(error)`` is the call that asks the model again (its prompt should quote ``error``); None disables
    the repair. A repaired answer counts as ``valid_format=False``; an answer still unusable after
    the repair becomes the safe fallback (keep the active task, or NONE).

    Example:
        >>> from task_router import TaskCatalog
        >>> from task_router._router_input import coerce_input
        >>> catalog = TaskCatalog([{"name": "recap", "description": "Recap a meeting."}])
        >>> routing = coerce_input({"messages": ["recap please"], "catalog": catalog})
        >>> from langchain_core.runnables import RunnableLambda
        >>> from task_router._budget import run_plan
        >>> run_plan(read_answer("Task: RECAP", routing), {}).task
        'recap'
        >>> model = RunnableLambda(lambda messages: '{"task": "recap"}')
        >>> run_plan(read_answer("no idea", routing, reask=lambda error: ModelCall(model, [])), {}).valid_format
        False
    """
    try:
        return _prediction(parse(raw, routing.catalog), raw, valid=True)
    except OutputParseError as error:
        if reask is None:
            return safe_fallback(routing, raw, f"unparseable answer: {error}")
        first_error = error
    second = reply_text((yield reask(first_error)))
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
        return _tool_call_text(message.tool_calls[0].get("args", {}))
    content = getattr(message, "content", message)
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b if isinstance(b, str) else str(b.get("text", "")) for b in content if b)
    return str(content)


def _tool_call_text(args: Any) -> str:
    """Tool-call arguments as JSON text; a value JSON cannot hold (bytes, a set) becomes a ``<bytes: not JSON>``
    marker, which names no task: the answer is then unreadable (a decision with ``valid_format=False``), not a crash.

    Example:
        >>> _tool_call_text({"task": "recap", "note": {1}})
        '{"task": "recap", "note": "<set: not JSON>"}'
    """
    try:
        return json.dumps(args, default=_not_json, skipkeys=True)
    except (ValueError, RecursionError):  # a circular or absurdly deep structure
        return json.dumps({"task": _not_json(args)})


def _not_json(value: Any) -> str:
    return f"<{type(value).__name__}: not JSON>"


def bounded(model: BaseChatModel, max_new_tokens: int) -> Runnable[LanguageModelInput, Any]:
    """Cap the answer length: local pipelines and API models left without ``max_tokens`` otherwise generate up to
    their default budget (a small model behind an OpenAI-compatible server can ramble for hundreds of tokens)."""
    if pipeline_of(model) is not None:
        return model.bind(pipeline_kwargs={"max_new_tokens": max_new_tokens})
    if "max_tokens" in type(model).model_fields and getattr(model, "max_tokens", None) is None:
        return model.model_copy(update={"max_tokens": max_new_tokens})  # still a chat model: structured output works
    return model


def with_logprobs(model: BaseChatModel) -> BaseChatModel:
    """A copy of ``model`` that asks the API for token log-probabilities (``ChatOpenAI(logprobs=True)``), with the
    :data:`TOP_LOGPROBS` most probable tokens at each position (``top_logprobs``) unless the model sets its own."""
    if "logprobs" not in type(model).model_fields:
        raise ValueError(
            f"logprobs=True needs a chat model that can return token log-probabilities (e.g. ChatOpenAI); "
            f"{type(model).__name__} cannot: drop logprobs=True (local models get confidences from the `scoring` kind)"
        )
    update: dict[str, Any] = {"logprobs": True}
    if "top_logprobs" in type(model).model_fields and getattr(model, "top_logprobs", None) is None:
        update["top_logprobs"] = TOP_LOGPROBS
    return model.model_copy(update=update)


def _logprob_tokens(message: Any) -> list[dict[str, Any]] | None:
    """The reply's OpenAI-style token log-probabilities (its last :data:`MAX_LOGPROB_TOKENS`), or None."""
    metadata = getattr(message, "response_metadata", None)
    logprobs = metadata.get("logprobs") if isinstance(metadata, dict) else None
    tokens = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not tokens or not isinstance(tokens, list) or not all(isinstance(t, dict) for t in tokens):
        return None
    return tokens[-MAX_LOGPROB_TOKENS:]  # the answer is at the end; a rambling reply costs no more than this


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
    tokens = _logprob_tokens(message)
    if tokens is None or not answer:
        return None
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


def logprob_alternatives(message: Any, prediction: Prediction, catalog: TaskCatalog) -> tuple[Answer, ...]:
    """The answers the model weighed where its reply spells its own answer, from the API's ``top_logprobs`` there.

    At the token where the answer begins, each of the most probable tokens that starts exactly one answer (a task
    name, NONE or DONE; case ignored) counts for that answer with its probability; the token the model wrote counts
    for its own answer. These are first-token probabilities (the rest of a name is nearly certain once it has
    begun), most probable first; empty when the reply has no ``top_logprobs`` or does not spell its answer verbatim.

    Example:
        >>> from langchain_core.messages import AIMessage
        >>> from task_router import TaskCatalog
        >>> catalog = TaskCatalog([{"name": name, "description": f"Write a {name}."} for name in ("recap", "email")])
        >>> top = [{"token": "re", "logprob": -0.2}, {"token": "email", "logprob": -1.9}]
        >>> top.append({"token": "NO", "logprob": -4})
        >>> tokens = [{"token": '{"task": "', "logprob": 0.0}, {"token": "re", "logprob": -0.2, "top_logprobs": top},
        ...           {"token": 'cap"}', "logprob": 0.0}]
        >>> reply = AIMessage('{"task": "recap"}', response_metadata={"logprobs": {"content": tokens}})
        >>> [(task, round(p, 2)) for task, _, p in logprob_alternatives(reply, Prediction("recap"), catalog)]
        [('recap', 0.82), ('email', 0.15), (None, 0.02)]
    """
    tokens = _logprob_tokens(message)
    answer = _spelled(prediction)
    if tokens is None:
        return ()
    pieces = [str(token.get("token", "")) for token in tokens]
    text = "".join(pieces).lower()
    start = text.rfind(answer.lower())
    if start < 0:
        return ()
    index, offset = 0, 0
    while offset + len(pieces[index]) <= start:  # the token where the answer begins (start < len(text))
        offset += len(pieces[index])
        index += 1
    token, lead = tokens[index], text[offset:start]  # lead: what the answer's first token has before the answer
    top = token.get("top_logprobs")
    chosen = _finite(token.get("logprob"))
    if not isinstance(top, list) or not top or chosen is None:
        return ()
    own = (prediction.task, prediction.closing)
    labels: dict[str, tuple[str | None, bool]] = {name.lower(): (name, False) for name in catalog.names}
    labels |= {NONE_LABEL.lower(): (None, False), DONE_LABEL.lower(): (None, True)}
    probability: dict[tuple[str | None, bool], float] = {own: math.exp(min(0.0, chosen))}
    for entry in top:
        if not isinstance(entry, dict) or str(entry.get("token", "")) == pieces[index]:
            continue
        value = _finite(entry.get("logprob"))
        start_of = str(entry.get("token", "")).lower()
        if value is None or not start_of.startswith(lead):
            continue
        begun = start_of[len(lead) :].rstrip(_PUNCTUATION)
        matches = {key for label, key in labels.items() if begun and label.startswith(begun)}
        if len(matches) == 1 and (key := matches.pop()) != own:
            probability[key] = probability.get(key, 0.0) + math.exp(min(0.0, value))
    ranked = sorted(probability.items(), key=lambda item: -item[1])
    return tuple((task, closing, min(1.0, p)) for (task, closing), p in ranked)


def _spelled(prediction: Prediction) -> str:
    """How the model spelled its answer: the task's name, DONE, or NONE."""
    if prediction.task is not None:
        return prediction.task
    return DONE_LABEL if prediction.closing else NONE_LABEL


def add_logprob_confidence(prediction: Prediction, message: Any, catalog: TaskCatalog | None = None) -> Prediction:
    """Set the confidence of an answer read as-is (not repaired, not a fallback) from the message's log-probs, and,
    given the ``catalog``, its alternatives (:func:`logprob_alternatives`)."""
    if prediction.confidence is not None or not prediction.valid_format or prediction.fallback is not None:
        return prediction
    confidence = logprob_confidence(message, _spelled(prediction))
    if confidence is None and prediction.task is None and prediction.closing:
        confidence = logprob_confidence(message, NONE_LABEL)  # the older "NONE with closing true" for "done"
    alternatives = logprob_alternatives(message, prediction, catalog) if catalog is not None else ()
    return replace(prediction, confidence=confidence, alternatives=alternatives or prediction.alternatives)
