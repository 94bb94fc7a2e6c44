"""What the converters share: their error, a bounded JSON reader, per-record seeded randomness, the gzip writer."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from task_router._io_limits import load_document, replacing

# One SGD dialogues file is a few MB and CLINC's data_full.json about 2 MB: far below this, far above a typo.
MAX_SOURCE_BYTES = 256 * 1024 * 1024


class SourceError(ValueError):
    """A public release that cannot be converted; the message names the file and what to give instead."""


def read_json(path: Path, *, what: str, hint: str) -> Any:
    """The parsed JSON document at ``path``, read within the project's input limits.

    Args:
        path: The file to read.
        what: What the file is, for the error message (e.g. "SGD schema").
        hint: What a valid file is, appended to every error message.

    Raises:
        SourceError: The file is missing, too large, not UTF-8 or not valid JSON.
    """
    return load_document(path, what=what, hint=hint, error=SourceError, fmt="json", max_bytes=MAX_SOURCE_BYTES)[1]


def seeded(seed: int, *parts: str) -> random.Random:
    """A random generator that depends only on ``seed`` and ``parts`` (so a record's draws do not depend on which
    other records are converted, nor on the order they are read in)."""
    return random.Random(":".join([str(seed), *parts]))


def write_jsonl_gz(path: Path, records: Iterable[Mapping[str, Any]]) -> int:
    """Write ``records`` as gzipped JSONL, one record a line, byte-identical for identical records.

    Written whole or not at all (:func:`task_router._io_limits.replacing`).

    Returns:
        The number of records written.
    """
    count = 0
    with (  # the gzip stream and the file close before the new file replaces ``path``
        replacing(path) as partial,
        partial.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as handle,
    ):
        for record in records:
            handle.write((json.dumps(record) + "\n").encode("utf-8"))
            count += 1
    return count


def labelled_turns(records: Iterable[Mapping[str, Any]]) -> int:
    """The number of labels (labelled user turns) in ``records``."""
    return sum(len(record["labels"]) for record in records)
