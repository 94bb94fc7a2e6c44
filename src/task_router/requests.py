"""Splitting a user's message into the request it makes and the content it carries ("Recap this meeting: <notes>").

Users often paste what a task works on after the request itself. The task subgraph takes that content as the
task's input (:func:`content_after_request`), and the learned router also reads the request alone
(:func:`request_before_content`), since the pasted notes are not what says which task is wanted.
"""

from __future__ import annotations

import re

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
