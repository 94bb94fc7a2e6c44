"""Turn catalogues, conversations and router inputs into prompt text and plain values."""

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

from task_router.catalog import NONE_LABEL, Task, TaskCatalog
from task_router.io_limits import load_document, structure_problem, valid_text

DEFAULT_WINDOW = 8  # messages of history a prompt-based router reads (the latest user turn always included)
MAX_MESSAGE_CHARS = 600  # longer messages keep their head and tail
# Characters of one message that any router reads (head and tail kept): a 10 MB paste costs no more than this.
# The embedding router's MiniLM reads at most its first 256 tokens anyway, well within it.
MAX_ROUTED_CHARS = 4000
FAILURE_KEY = "error"  # the input key under which with_fallbacks(exception_key=...) hands a fallback the error
CONVERSATION_HINT = (
    'a conversation is a JSON list of messages ending with the user\'s turn, or {"messages": [...], '
    '"active_task": <task name or null>}, e.g. [{"role": "user", "content": "Recap my meeting"}]'
)
_USER_ROLES = frozenset({"user", "human"})  # a ChatMessage with one of these roles is a user turn, as for LangChain
# Tag-like text (``</conversation>``, ``<system>``, ``<|im_start|>``) in user text could pose as the prompt's own
# delimiters: its angle brackets are replaced by look-alikes that no prompt uses.
_TAG_LIKE = re.compile(r"<(\s*/?\s*[|A-Za-z_][^<>\n]{0,60}?)>")


class RouterInputError(ValueError):
    """What a router was given cannot be routed (no conversation, no catalogue, ...); the message names the fix."""


@dataclass(frozen=True)
class RoutingInput:
    """A validated router input: the conversation so far (ending with a user turn), the active task, the catalogue."""

    messages: tuple[BaseMessage, ...]
    active_task: str | None
    catalog: TaskCatalog
    #: The error of the router this one stands in for, when it runs as a fallback (the input's ``error`` key, set
    #: by LangChain's ``with_fallbacks(..., exception_key="error")``; see :mod:`task_router.routers.fallbacks`).
    failure: BaseException | None = None

    @property
    def last_user_text(self) -> str:
        """The user's latest message as routers read it (at most :data:`MAX_ROUTED_CHARS`, see :func:`routed_text`)."""
        return routed_text(self.messages[-1])


def coerce_input(
    value: Any, default_catalog: TaskCatalog | None = None, *, user_turn_last: bool = True
) -> RoutingInput:
    """Validate what a router was given. Raises RouterInputError (a ValueError) naming the fix.

    Accepted: a mapping with ``messages`` (LangChain messages, OpenAI-style dicts or strings),
    optional ``active_task`` and ``catalog`` (a TaskCatalog or a list of tasks); or a bare list of messages.
    An ``active_task`` that is no longer in the catalogue is treated as no active task. Text no encoder accepts
    (lone surrogates) is replaced in the routed copies of the messages (:func:`~task_router.io_limits.valid_text`),
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
    the turn is still routed); nesting beyond :data:`~task_router.io_limits.MAX_DEPTH` is refused.
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
    """The message, or a copy whose text every encoder accepts (see :func:`~task_router.io_limits.valid_text`)."""
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
    and optionally ``active_task``. Read within :mod:`task_router.io_limits`' bounds; every problem is a
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


def message_text(message: BaseMessage) -> str:
    """The text of a message; non-text content blocks (images, files) become a short placeholder."""
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, Mapping) and block.get("type") == "text":
            parts.append(str(block.get("text", "")))
        elif isinstance(block, Mapping):
            parts.append(f"[{block.get('type', 'attachment')}]")
    return " ".join(p for p in parts if p)


def routed_text(message: BaseMessage, limit: int = MAX_ROUTED_CHARS) -> str:
    """A message's text as routers read it: whole up to ``limit`` characters, else its first and last
    ``limit // 2`` characters around ``[...]``. The message itself is not changed (task subgraphs see all of it)."""
    return head_tail(message_text(message), limit)


def head_tail(text: str, limit: int) -> str:
    """``text`` if it has at most ``limit`` characters, else its head and tail around ``[...]``."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]} [...] {text[-half:]}"


def neutralize(text: str) -> str:
    """Text with tag-like sequences defused: ``</conversation>`` becomes ``‹/conversation›``."""
    return _TAG_LIKE.sub(lambda m: f"‹{m.group(1)}›", text)


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Text for a prompt: on one line (so it cannot start a fake ``User:`` line), tag-like delimiters
    neutralised, and at most ``limit`` characters (head and tail kept, ``[...]`` between)."""
    if len(text) > 4 * limit + 1024:  # a huge text: cut before the linear passes (whitespace, tags) over all of it
        text = f"{text[: 2 * limit + 512]} {text[-(2 * limit + 512) :]}"
    return head_tail(neutralize(" ".join(text.split())), limit)


def render_catalog(tasks: Sequence[Task], *, with_examples: bool = True) -> str:
    lines = []
    for task in tasks:
        line = f"- {task.name}: {clip(task.description, 400)}"
        if with_examples and task.examples:
            line += " (e.g. " + "; ".join(f'"{clip(e, 80)}"' for e in task.examples[:2]) + ")"
        lines.append(line)
    lines.append(f"- {NONE_LABEL}: the request fits none of the tasks above.")
    return "\n".join(lines)


def render_conversation(messages: Sequence[BaseMessage], *, window: int = DEFAULT_WINDOW) -> str:
    """The last ``window`` messages as 'User:' / 'Assistant:' lines.

    Truncation: the oldest messages are dropped first; the latest ``window`` messages are kept (at least the
    latest user turn, even with ``window <= 0``), and each message longer than ``MAX_MESSAGE_CHARS`` keeps its
    first and last ``MAX_MESSAGE_CHARS // 2`` characters around ``[...]``. So a conversation longer than the
    model's context is cut to a bounded prompt that always ends with the user's latest words. Every message is
    put on one line with tag-like text neutralised (:func:`clip`), so user text cannot close the prompt's
    ``<conversation>`` block or start a fake turn.
    """
    kept = list(messages)[-window:] if window > 0 else list(messages)[-1:]
    lines = []
    for message in kept:
        role = "User" if isinstance(message, HumanMessage) else "Assistant" if isinstance(message, AIMessage) else None
        if role:
            lines.append(f"{role}: {clip(routed_text(message))}")
    return "\n".join(lines)
