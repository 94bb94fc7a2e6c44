"""What the learned router reads: one query text per turn and one candidate text per task.

Training (:mod:`task_router._learned.training.examples`) and routing (:class:`task_router.routers.LearnedRouter`)
both build their texts here, so the model sees at run time exactly the layout it was taught.
"""

from __future__ import annotations

from collections.abc import Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from task_router._catalog import Task, readable_name
from task_router._prompting import clip, message_text
from task_router._router_input import request_before_content, without_off_topic_exchanges

# The learned "done" candidate: chosen when the user closes the active task. Its wording only has to be stable:
# the model learns where it sits. "Nothing in the catalogue fits" has no text: it is a constant score (the
# model's ``none_bias``), so that it wins exactly when no task is close enough.
DONE_TEXT = "No task: the user is done with the task (declines, thanks, says goodbye)."
USER_CHARS, CONTEXT_CHARS, CANDIDATE_CHARS = 300, 200, 300


def query_text(messages: Sequence[BaseMessage], active: Task | None, *, window: int = 1) -> str:
    """The user's latest message, then the ``window`` chat messages before it and the active task. Off-topic
    exchanges are left out (:func:`~task_router._router_input.without_off_topic_exchanges`).

    A first message with nothing before it is the message alone: a request read as an untrained sentence encoder
    reads it, which keeps what the encoder knew before training (single-turn catalogues such as CLINC150).

    Example:
        >>> from langchain_core.messages import AIMessage, HumanMessage
        >>> query_text([HumanMessage("Book a table")], None)
        'Book a table'
        >>> query_text([AIMessage("Shall I book it?"), HumanMessage("Yes please")], None)
        'Yes please | Before: Assistant: Shall I book it? | Active task: none'
    """
    return _query(message_text(messages[-1]), _context(messages, active, window))


def query_texts(messages: Sequence[BaseMessage], active: Task | None, *, window: int = 1) -> list[str]:
    """The texts a turn is compared with the tasks as: :func:`query_text`, and when the latest message is a request
    followed by its content ("Recap this meeting: <notes>"), the same with the request alone (the router keeps each
    candidate's best match of the two: pasted notes say little about which task is wanted).

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> query_texts([HumanMessage("Recap this meeting: we shipped v2, Bob owns QA")], None)
        ['Recap this meeting: we shipped v2, Bob owns QA', 'Recap this meeting']
    """
    latest = message_text(messages[-1])
    context = _context(messages, active, window)  # read once for both texts
    texts = [_query(latest, context)]
    request = request_before_content(latest)
    if request is not None:
        texts.append(_query(request, context))
    return texts


def _context(messages: Sequence[BaseMessage], active: Task | None, window: int) -> list[str]:
    """What a query adds after the user's message: the ``window`` messages before it, then the active task; nothing
    for a first message with no task active."""
    # the message before an off-topic exchange, not the reply to it: "Yes" answers what the task asked
    history: list[HumanMessage | AIMessage] = []
    if window > 0:
        earlier = without_off_topic_exchanges(messages[:-1])
        history = [m for m in earlier if isinstance(m, HumanMessage | AIMessage)][-window:]
    if not history and active is None:
        return []
    parts = []
    for message in history:
        role = "User" if isinstance(message, HumanMessage) else "Assistant"
        parts.append(f"Before: {role}: {clip(message_text(message), CONTEXT_CHARS)}")
    parts.append(f"Active task: {readable_name(active) if active is not None else 'none'}")
    return parts


def _query(latest: str, context: Sequence[str]) -> str:
    return " | ".join([clip(latest, USER_CHARS), *context])


def candidate_text(task: Task, *, max_examples: int = 2) -> str:
    """A task as the model compares it: readable name, description and a few example requests.

    Example:
        >>> from task_router._catalog import Task
        >>> candidate_text(Task(name="meeting_recap", description="Recap a meeting.", examples=["recap my call"]))
        'meeting recap: Recap a meeting. Examples: recap my call'
    """
    text = f"{readable_name(task)}: {task.description}"
    if task.examples and max_examples > 0:
        text += " Examples: " + "; ".join(task.examples[:max_examples])
    return clip(text, CANDIDATE_CHARS)
