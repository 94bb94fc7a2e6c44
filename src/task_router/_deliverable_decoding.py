"""Writing a task's deliverable: decoding tuned for the embedded 135M model, and replies cut at invented turns.

Local pipelines write with a bounded length, a repetition penalty over the reply's own tokens and a stop at the chat
template's turn markers (:func:`deliverable_model`); whatever model wrote it, a reply is cut where the model starts
writing the conversation's next turns itself (:func:`strip_invented_turns`). Used by the generic task subgraph,
:mod:`task_router._task_graph`.
"""

from __future__ import annotations

import re
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from task_router.models._local import pipeline_of, turn_stop_kwargs

# Decoding of deliverables by local pipelines (measured on the demo tasks with the embedded 135M model; see
# benchmarks/RESULTS.md, "Deliverables of the embedded model"). The 135M model drifts further the longer it writes:
# 160 new tokens hold a short email, recap or post (~10 s on one CPU thread) and bound a turn's time.
DELIVERABLE_MAX_NEW_TOKENS = 160
# Greedy decoding loops on small models, so repetition is penalised - over the reply's own tokens only: the
# pipeline's `repetition_penalty` also penalises every prompt token, which works against copying the user's facts
# (names, dates, prices) into the deliverable.
DELIVERABLE_REPETITION_PENALTY = 1.2


def deliverable_model(model: BaseChatModel) -> Runnable[Any, Any]:
    """Local pipelines: bounded length, repetition penalised when writing deliverables (only here: a router must be
    free to copy task names from its prompt), and a stop at the chat template's turn markers so that the model does
    not go on to write the user's next turn. Other models are used as they are."""
    pipe = pipeline_of(model)
    if pipe is None:
        return model
    from task_router.models._streaming import LocalChatModel  # the `local` extra: installed, since a pipeline is here

    kwargs = {"max_new_tokens": DELIVERABLE_MAX_NEW_TOKENS, **turn_stop_kwargs(pipe.tokenizer)}
    if isinstance(model, LocalChatModel):
        return model.bind(pipeline_kwargs=kwargs, reply_repetition_penalty=DELIVERABLE_REPETITION_PENALTY)
    return model.bind(pipeline_kwargs={**kwargs, "repetition_penalty": DELIVERABLE_REPETITION_PENALTY})


# Where a writer model starts inventing the conversation's next turns: a "User:"-style line (the prompt renders the
# conversation that way) or a chat template's turn marker.
_INVENTED_TURN = re.compile(
    r"(?:^|\n)[ \t]*(?:[-*>]|\d{1,2}[.)])?[ \t]*(?:\*\*)?(?:user|assistant|human)(?:\*\*)?"
    r"(?:[ \t]*\([^()\n]{0,40}\))?[ \t]*(?:\*\*)?:"
    r"|<\|(?:im_start|im_end|endoftext|eot_id|start_header_id|end_header_id|end|user|assistant)\|>"
    r"|<(?:start_of_turn|end_of_turn)>|</s>",
    re.IGNORECASE,
)
_OWN_LABEL = re.compile(r"^\s*(?:<\|im_start\|>\s*assistant\s*\n|(?:\*\*)?assistant(?:\*\*)?\s*:\s*)", re.IGNORECASE)


def strip_invented_turns(text: str) -> str:
    """The reply up to where the model starts writing the conversation's next turns itself.

    A leading "Assistant:" label (the model naming its own turn) is dropped; a reply that is nothing but an
    invented turn is kept as it is.

    Example:
        >>> strip_invented_turns("Subject: Thanks!\\nHi Sarah, ...\\nUser: great, now a post\\nAssistant: Sure")
        'Subject: Thanks!\\nHi Sarah, ...'
    """
    text = _OWN_LABEL.sub("", text, count=1)
    match = _INVENTED_TURN.search(text)
    if match is None or not text[: match.start()].strip():  # nothing before it: keep the reply rather than nothing
        return text.strip()
    return text[: match.start()].strip()
