"""What a router is given, validated: the conversation, the active task and the catalogue (in memory or from a file).

Untrusted input ends in a :class:`RouterInputError` (a ValueError) whose message names the fix, never in an error
from deep inside a router; :class:`RoutingInput` is what routers read once it is checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import BaseMessage, ChatMessage, HumanMessage, SystemMessage, convert_to_messages

from task_router._catalog import NONE_LABEL, TaskCatalog
from task_router._io_limits import load_document, structure_problem, valid_text
from task_router._rendering import routed_text

FAILURE_KEY = "error"  # the input key under which with_fallbacks(exception_key=...) hands a fallback the error
CONVERSATION_HINT = (
    'a conversation is a JSON list of messages ending with the user\'s turn, or {"messages": [...], '
    '"active_task": <task name or null>}, e.g. [{"role": "user", "content": "Recap my meeting"}]'
)
_USER_ROLES = frozenset({"user", "human"})  # a ChatMessage with one of these roles is a user turn, as for LangChain


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
        """The user's latest message as routers read it (at most :data:`~task_router._rendering.MAX_ROUTED_CHARS`
        characters, see :func:`~task_router._rendering.routed_text`)."""
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
