"""What a router is given: the input validated, its off-topic exchanges marked, and the request a user's message makes.

The router's input: the conversation, the active task and the catalogue (in memory or from a file). Untrusted input
ends in a :class:`RouterInputError` (a ValueError) whose message names the fix, never in an error from deep inside a
router; :class:`RoutingInput` is what routers read once it is checked.

An off-topic exchange (the user's request while a task is active, and the assistant's reply that it cannot help
with it) is marked on the reply (:func:`off_topic_reply`), so that a router can read the user's next turn next to
what the assistant asked before it (:func:`without_off_topic_exchanges`).

Splitting a user's message into the request it makes and the content it carries ("Recap this meeting: <notes>").
Users often paste what a task works on after the request itself. The task subgraph takes that content as the task's
input (:func:`content_after_request`), and the learned router also reads the request alone
(:func:`request_before_content`), since the pasted notes are not what says which task is wanted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    convert_to_messages,
)

from task_router._catalog import NONE_LABEL, TaskCatalog
from task_router._io_limits import load_document, structure_problem, valid_text
from task_router._prompting import routed_text

FAILURE_KEY = "error"  # the input key under which with_fallbacks(exception_key=...) hands a fallback the error
CONVERSATION_HINT = (
    'a conversation is a JSON list of messages ending with the user\'s turn, or {"messages": [...], '
    '"active_task": <task name or null>}, e.g. [{"role": "user", "content": "Recap my meeting"}]'
)
_USER_ROLES = frozenset({"user", "human"})  # a ChatMessage with one of these roles is a user turn, as for LangChain
#: The ``response_metadata`` key that marks the assistant messages the graph and the middleware write about routing
#: (a clarifying question, a reply to an off-topic request): checkpointed with the message, never sent to a model.
MARK_KEY = "task_router"
OFF_TOPIC = "off_topic"


class RouterInputError(ValueError):
    """What a router was given cannot be routed (no conversation, no catalogue, ...); the message names the fix."""


@dataclass(frozen=True)
class RoutingInput:
    """A validated router input: the conversation so far (ending with a user turn), the active task, the catalogue."""

    messages: tuple[BaseMessage, ...]
    active_task: str | None
    catalog: TaskCatalog
    #: The error of the router this one stands in for, when it runs as a fallback (the input's ``error`` key, set
    #: by LangChain's ``with_fallbacks(..., exception_key="error")``; see :mod:`task_router.routers._fallbacks`).
    failure: BaseException | None = None

    @property
    def last_user_text(self) -> str:
        """The user's latest message as routers read it (at most :data:`~task_router._prompting.MAX_ROUTED_CHARS`
        characters, see :func:`~task_router._prompting.routed_text`)."""
        return routed_text(self.messages[-1])


def coerce_input(
    value: Any, default_catalog: TaskCatalog | None = None, *, user_turn_last: bool = True
) -> RoutingInput:
    """Validate what a router was given. Raises RouterInputError (a ValueError) naming the fix.

    Accepted: a mapping with ``messages`` (LangChain messages, OpenAI-style dicts or strings),
    optional ``active_task`` and ``catalog`` (a TaskCatalog or a list of tasks); or a bare list of messages.
    An ``active_task`` that is no longer in the catalogue is treated as no active task. Text no encoder accepts
    (lone surrogates) is replaced in the routed copies of the messages (:func:`~task_router._io_limits.valid_text`),
    and a ``ChatMessage`` with role ``user`` is a user turn.
    """
    failure = None
    if isinstance(value, Mapping):
        raw_messages = value.get("messages")
        active = value.get("active_task")
        catalog = value.get("catalog")
        catalog = default_catalog if catalog is None else catalog
        failure = value.get(FAILURE_KEY)
    else:
        raw_messages, active, catalog = value, None, default_catalog
    catalog = _routable_catalog(catalog)
    if not raw_messages or isinstance(raw_messages, str | bytes | Mapping) or not isinstance(raw_messages, Iterable):
        raise RouterInputError(
            f"no conversation: pass 'messages', a list that ends with the user's turn; {CONVERSATION_HINT}"
        )
    converted = [_to_message(raw, i) for i, raw in enumerate(raw_messages)]
    messages = [m for m in converted if not isinstance(m, SystemMessage)]
    if not messages or (user_turn_last and not isinstance(messages[-1], HumanMessage)):
        raise RouterInputError("the conversation must end with a user message: the router decides once per user turn")
    if active is not None and not isinstance(active, str):
        raise RouterInputError(f"active_task must be a task name or None, got {type(active).__name__}")
    if active is not None and (active == NONE_LABEL or active not in catalog):
        active = None
    return RoutingInput(tuple(messages), active, catalog, failure if isinstance(failure, BaseException) else None)


def _routable_catalog(catalog: Any) -> TaskCatalog:
    """A snapshot of the catalogue to route over, or a RouterInputError / CatalogError naming the fix."""
    if catalog is None:
        raise RouterInputError(
            "no task catalogue: pass {'catalog': TaskCatalog(...)} in the input or give the router one"
        )
    if not isinstance(catalog, TaskCatalog):
        catalog = TaskCatalog.from_records(catalog)  # a CatalogError (a ValueError) naming the fix if it is not one
    catalog = catalog.frozen()  # one consistent view for the whole decision, whatever other threads edit meanwhile
    if not len(catalog):
        raise RouterInputError(
            "the task catalogue is empty (every task was removed): add one with catalog.add(Task(name=..., "
            "description=...)) before routing, or pass a catalogue that has tasks"
        )
    return catalog


def _to_message(value: Any, index: int) -> BaseMessage:
    """One message of an untrusted conversation as a LangChain message, or a ValueError naming the fix.

    Dicts are read the way ``convert_to_messages`` reads them, after checks that never index them blindly: a
    ``tool`` message without ``tool_call_id`` gets an empty one (routers read only user and assistant text, so
    the turn is still routed); nesting beyond :data:`~task_router._io_limits.MAX_DEPTH` is refused.
    """
    if isinstance(value, Mapping):
        problem = structure_problem(value)
        if problem is not None:
            raise RouterInputError(f"cannot read the conversation: message #{index} is {problem}; {CONVERSATION_HINT}")
        role = value.get("role", value.get("type"))
        if role == "tool" and value.get("tool_call_id") is None:
            value = {**value, "tool_call_id": ""}
    try:
        message = convert_to_messages([value])[0]
    except (ValueError, NotImplementedError, TypeError, KeyError, AttributeError, RecursionError) as exc:
        raise RouterInputError(
            f"cannot read the conversation: message #{index} ({_short(exc)}); give messages as LangChain messages or "
            f"{{'role': 'user'|'assistant', 'content': str}} dicts ({CONVERSATION_HINT})"
        ) from None
    if is_user_message(message) and not isinstance(message, HumanMessage):
        message = HumanMessage(**message.model_dump(exclude={"role", "type"}))
    return _with_valid_text(message)


def is_user_message(message: Any) -> bool:
    """A user turn: a ``HumanMessage``, or a ``ChatMessage`` whose role is user (as LangChain reads it).

    Example:
        >>> from langchain_core.messages import ChatMessage
        >>> is_user_message(HumanMessage("hi")), is_user_message(ChatMessage(role="user", content="hi"))
        (True, True)
    """
    if isinstance(message, HumanMessage):
        return True
    return isinstance(message, ChatMessage) and message.role.lower() in _USER_ROLES


def off_topic_reply(reply: AIMessage | str) -> AIMessage:
    """The assistant's reply to an off-topic request made while a task is active (a digression), marked as such.

    Example:
        >>> off_topic_reply("Sorry, I can't help with that here.").response_metadata
        {'task_router': 'off_topic'}
    """
    message = AIMessage(reply) if isinstance(reply, str) else reply
    return message.model_copy(update={"response_metadata": {**message.response_metadata, MARK_KEY: OFF_TOPIC}})


def is_off_topic_reply(message: Any) -> bool:
    """Whether ``message`` (a message, or a message dict) is an assistant's reply marked by :func:`off_topic_reply`
    (the mark on any other message, a user's say, is not read: it would hide the conversation from the router)."""
    if isinstance(message, Mapping):
        metadata = message.get("response_metadata") if message.get("role") in ("assistant", "ai") else None
    else:
        metadata = message.response_metadata if isinstance(message, AIMessage) else None
    return isinstance(metadata, Mapping) and metadata.get(MARK_KEY) == OFF_TOPIC


def with_last_reply_off_topic(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """``messages`` (ending with a user turn) with the last reply to the turn before it marked off-topic
    (:func:`off_topic_reply`), unless a reply to that turn is marked already: how a graph whose router called the
    previous turn a digression reads a none node's reply that its author did not mark.

    Example:
        >>> turns = [AIMessage("Book it?"), HumanMessage("Weather?"), AIMessage("No idea."), HumanMessage("Yes")]
        >>> [m.content for m in without_off_topic_exchanges(with_last_reply_off_topic(turns))]
        ['Book it?', 'Yes']
    """
    users = [i for i, message in enumerate(messages) if is_user_message(message)]
    if len(users) < 2 or users[-1] != len(messages) - 1:
        return list(messages)
    replies = range(users[-2] + 1, users[-1])
    if any(is_off_topic_reply(messages[i]) for i in replies):
        return list(messages)
    answers = [(i, m) for i in replies if isinstance(m := messages[i], AIMessage) and not m.tool_calls]
    if not answers:
        return list(messages)
    last, answer = answers[-1]
    return [*messages[:last], off_topic_reply(answer), *messages[last + 1 :]]


def without_off_topic_exchanges(messages: Sequence[BaseMessage]) -> list[BaseMessage]:
    """``messages`` without their off-topic exchanges: each marked reply (:func:`off_topic_reply`) and what came
    since the user message it answered. After "What's the weather?" / "Sorry, I can't help with that here.", the
    user's "Yes, book it" answers what the assistant asked before the digression: that is what it is read with.

    Example:
        >>> asked = [AIMessage("Shall I book it?"), HumanMessage("What's the weather?"), off_topic_reply("Sorry.")]
        >>> [m.content for m in without_off_topic_exchanges(asked)]
        ['Shall I book it?']
    """
    kept: list[BaseMessage] = []
    left_out_up_to = 0  # a second reply to the same request (or an agent run on without a new turn) goes no further
    for message in messages:
        if not is_off_topic_reply(message):
            kept.append(message)
            continue
        asked = max((i for i in range(left_out_up_to, len(kept)) if is_user_message(kept[i])), default=None)
        if asked is not None:  # the off-topic request, and any tool calls made on it
            del kept[asked:]
        left_out_up_to = len(kept)
    return kept


def _with_valid_text(message: BaseMessage) -> BaseMessage:
    """The message, or a copy whose text every encoder accepts (see :func:`~task_router._io_limits.valid_text`)."""
    content = message.content
    cleaned = valid_text(content) if isinstance(content, str) else [_valid_block(block) for block in content]
    return message if cleaned == content else message.model_copy(update={"content": cleaned})


def _valid_block(block: Any) -> Any:
    if isinstance(block, str):
        return valid_text(block)
    if isinstance(block, Mapping):  # its text and its type (read for placeholders)
        return {key: valid_text(value) if isinstance(value, str) else value for key, value in block.items()}
    return block


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:200]}"


def load_conversation_file(path: Any) -> tuple[list[Any], str | None]:
    """(messages, active task) from a JSON conversation file: a list of messages, or a mapping with ``messages``
    and optionally ``active_task``. Read within :mod:`task_router._io_limits`' bounds; every problem is a
    ValueError naming the file and saying what a conversation file looks like (:data:`CONVERSATION_HINT`).
    The messages themselves are checked by :func:`coerce_input` when routed."""
    path, data = load_document(path, what="conversation file", hint=CONVERSATION_HINT, fmt="json")
    active = None
    if isinstance(data, Mapping):
        active = data.get("active_task")
        data = data.get("messages")
    if not isinstance(data, list) or not data:
        raise ValueError(f"conversation file {path} holds no messages; {CONVERSATION_HINT}")
    if active is not None and not isinstance(active, str):
        raise ValueError(f"conversation file {path}: active_task must be a task name or null; {CONVERSATION_HINT}")
    return data, active


_WORD = re.compile(r"\w+")
_REQUEST_COLON = re.compile(r":\s")  # "request: content" (not "10:30" or "https://")
MIN_CONTENT_WORDS = 3


def _split(text: str) -> tuple[str, str] | None:
    """(request, content) when ``text`` is "request: content" with at least ``MIN_CONTENT_WORDS`` words of content
    and a request of at least one word; else None."""
    match = _REQUEST_COLON.search(text)
    if match is None:
        return None
    request = text[: match.start()].strip()
    content = text[match.end() :].strip().strip("\"'“”")
    if not _WORD.search(request) or len(_WORD.findall(content)) < MIN_CONTENT_WORDS:
        return None
    return request, content


def content_after_request(text: str) -> str | None:
    """The content a request carries after a colon, if it has at least ``MIN_CONTENT_WORDS`` words; else None.

    A model-free way to fill a task's one missing input from the message that starts the task, for models that
    cannot extract inputs reliably (the embedded one).

    Example:
        >>> content_after_request("Recap this morning meeting: we decided to ship v2 Friday")
        'we decided to ship v2 Friday'
        >>> content_after_request("Post about our launch at 10:30 today") is None
        True
    """
    split = _split(text)
    return split[1] if split is not None else None


def request_before_content(text: str) -> str | None:
    """The request alone, when ``text`` is a request followed by its content after a colon; else None.

    Example:
        >>> request_before_content("Recap this morning meeting: we decided to ship v2 Friday")
        'Recap this morning meeting'
        >>> request_before_content("Book a table for two") is None
        True
    """
    split = _split(text)
    return split[0] if split is not None else None


# "a post about X", "an email regarding X": what a request names as its subject.
_SUBJECT = re.compile(r"\b(?:about|regarding|concerning|on the (?:topic|subject) of)\s+", re.IGNORECASE)
MIN_SUBJECT_WORDS = 2
# Words that make a request without carrying its content ("could you please write me a ..."); with the task's own
# words they are what a message says beyond asking for the task.
_REQUEST_WORDS = frozenset(
    """a about after again all also am an and any are as at be but by can could do does for from get give have help
    hey hi i in into is it just let like make me my need new now of on one our please quick quickly so some something
    that the their them then there this those to up us want we with would write draft prepare create you your yes ok
    okay hello thanks thank d ll m s re ve""".split()  # noqa: SIM905 (a word list reads better as text)
)
MIN_NEW_WORDS = 4


def subject_of_request(text: str) -> str | None:
    """What a request says it is about ("a LinkedIn post about our launch next week" -> "our launch next week"),
    if it names at least ``MIN_SUBJECT_WORDS`` words; else None.

    Example:
        >>> subject_of_request("I need a LinkedIn post about our product launch next week.")
        'our product launch next week'
        >>> subject_of_request("Tell me about it") is None
        True
    """
    match = _SUBJECT.search(text)
    if match is None:
        return None
    subject = text[match.end() :].strip().rstrip(".!?").strip()
    return subject if len(_WORD.findall(subject)) >= MIN_SUBJECT_WORDS else None


def words_beyond_request(text: str, known: str) -> list[str]:
    """The words of ``text`` that neither make a request ("could you write me a") nor appear in ``known`` (the
    task's own name, description and examples): what the message carries beyond asking for the task.

    Example:
        >>> words_beyond_request("Write a follow-up email to Anna: pilot in May", "Follow-up email after a call")
        ['Anna', 'pilot', 'May']
    """
    said = {word.lower() for word in _WORD.findall(known.replace("_", " "))}
    return [word for word in _WORD.findall(text) if word.lower() not in _REQUEST_WORDS and word.lower() not in said]


def says_more_than_request(text: str, known: str) -> bool:
    """Whether ``text`` carries details beyond asking for the task described by ``known``: at least
    ``MIN_NEW_WORDS`` words of its own (:func:`words_beyond_request`), one of them a detail, i.e. a number or a
    capitalised word after the first (a name, a place, a date).

    Example:
        >>> says_more_than_request("Email Anna: we agreed on a pilot in May", "Follow-up email after a call")
        True
        >>> says_more_than_request("My cat needs a check-up, can you book her in?", "Book a vet appointment")
        False
    """
    words = words_beyond_request(text, known)
    later = set(_WORD.findall(text)[1:])  # a capital on the first word says nothing
    details = [w for w in words if any(c.isdigit() for c in w) or (w[0].isupper() and w in later)]
    return len(words) >= MIN_NEW_WORDS and bool(details)
