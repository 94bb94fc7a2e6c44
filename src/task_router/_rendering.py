"""Turn catalogues and conversations into prompt text: bounded, on one line, with tag-like delimiters defused."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from task_router._catalog import NONE_LABEL, Task

DEFAULT_WINDOW = 8  # messages of history a prompt-based router reads (the latest user turn always included)
MAX_MESSAGE_CHARS = 600  # longer messages keep their head and tail
# Characters of one message that any router reads (head and tail kept): a 10 MB paste costs no more than this.
# The embedding router's MiniLM reads at most its first 256 tokens anyway, well within it.
MAX_ROUTED_CHARS = 4000
# Tag-like text (``</conversation>``, ``<system>``, ``<|im_start|>``) in user text could pose as the prompt's own
# delimiters: its angle brackets are replaced by look-alikes that no prompt uses.
_TAG_LIKE = re.compile(r"<(\s*/?\s*[|A-Za-z_][^<>\n]{0,60}?)>")


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
