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
