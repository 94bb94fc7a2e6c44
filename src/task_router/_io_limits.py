"""One bounded, validating reader for the files users hand the router: catalogues, conversations, benchmark records.

Every reader of a user-supplied JSON or YAML document goes through here, so that hostile or broken input ends in one
kind of error whose message says what was wrong *and* what a valid input looks like, never in a ``RecursionError``,
an ``int`` conversion ``ValueError``, a hang or a ``TypeError``:

- :data:`MAX_FILE_BYTES`: a file larger than this is refused before it is read (benchmark files are read one record
  at a time, each record bounded by the same limit);
- :data:`MAX_DEPTH`: lists and mappings nested deeper than this are refused. YAML is checked while it is composed
  (without recursing past the limit), JSON at the parse boundary (the parser's ``RecursionError`` is caught), and
  every parsed document is walked once more without recursion, counting YAML aliases as the nesting they expand to;
- :data:`MAX_INT_DIGITS`: integers with more digits are refused (Python's own limit, 4300 digits, gives an error
  that names ``sys.set_int_max_str_digits``, which is no help to a user);
- :data:`MAX_NODES`: a YAML document whose aliases expand to more values than this ("billion laughs") is refused.

The limits are module constants; each function also takes them as keyword arguments for callers that need others.

Example:
    >>> from task_router._io_limits import parse_document
    >>> parse_document('[{"name": "recap"}]', fmt="json", source="inline", hint="give a list of tasks")
    [{'name': 'recap'}]
    >>> parse_document("[" * 100 + "]" * 100, fmt="json", source="inline", hint="give a list of tasks")
    Traceback (most recent call last):
    ...
    ValueError: inline: nested more than 64 levels deep; give a list of tasks
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import yaml

MAX_FILE_BYTES = 16 * 1024 * 1024  # 16 MiB: a catalogue of ~10,000 described tasks, or a long conversation
MAX_DEPTH = 64  # a catalogue needs 6 levels, a conversation with content blocks and tool calls about 8
MAX_INT_DIGITS = 1000
MAX_NODES = 2_000_000  # values a document may expand to (YAML aliases counted once per use)

Format = Literal["json", "yaml"]


class _LimitExceeded(Exception):
    """Raised inside a parser hook; turned into the caller's error class with the source and the hint."""


def as_path(value: Any, *, what: str, hint: str, error: type[ValueError] = ValueError) -> Path:
    """``value`` as the Path of a file, or ``error`` saying that a file path was expected (``None``, numbers,
    lists...) or that the path is a folder."""
    if not isinstance(value, str | os.PathLike) or not str(value).strip():
        raise error(f"the {what} must be a file path (str or Path), got {type(value).__name__} {value!r:.60}; {hint}")
    if "\x00" in str(value):
        raise error(f"the {what} path contains a NUL character; give the path of a file ({hint})")
    path = Path(value)
    if _is_folder(path):
        raise error(f"{what} {path} is a folder; give the path of a file ({hint})")
    return path


def _is_folder(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. a name too long: the reader that opens the path says what is wrong with it
        return False


def valid_text(text: str) -> str:
    """``text`` that every encoder accepts: each lone surrogate (``"\\ud800"``, which UTF-8 encoders, tokenizers and
    HTTP clients refuse) becomes U+FFFD, and a surrogate pair written as two code points becomes its character.
    Valid text is returned as it is (the same object).

    Example:
        >>> valid_text("recap \\ud800 now") == "recap \\ufffd now", valid_text("\\ud83d\\ude80") == "\\U0001f680"
        (True, True)
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def read_text(
    path: Any, *, what: str, hint: str, error: type[ValueError] = ValueError, max_bytes: int = MAX_FILE_BYTES
) -> tuple[Path, str]:
    """(path, its UTF-8 text): refused with ``error`` if it is missing, a folder, larger than ``max_bytes``,
    binary (NUL bytes) or not UTF-8. A byte-order mark is accepted and dropped."""
    path = as_path(path, what=what, hint=hint, error=error)
    try:
        with path.open("rb") as handle:
            data = handle.read(max_bytes + 1)  # never more: /dev/zero or a growing file cannot exhaust memory
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}; {hint}") from None
    if len(data) > max_bytes:
        raise error(f"{what} {path} is larger than {max_bytes // (1024 * 1024)} MiB; {hint}")
    if b"\x00" in data:
        raise error(
            f"{what} {path} is not UTF-8 text (it holds NUL bytes: a binary or UTF-16 file); save it as UTF-8 ({hint})"
        )
    try:
        return path, data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text ({exc.reason}); save it as UTF-8 ({hint})") from None


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A new file beside ``path`` for the block to write; renamed onto ``path`` when the block ends, removed if it
    fails or is interrupted (Ctrl-C, a full disk): ``path`` is the previous file or the whole new one, never a
    half-written one, and no partial file is left behind. Each call gets its own file, so two processes writing one
    path do not write into each other's.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "out.txt"
        >>> with replacing(target) as partial:
        ...     _ = partial.write_text("whole", encoding="utf-8")
        >>> target.read_text(encoding="utf-8"), [p.name for p in target.parent.iterdir()]
        ('whole', ['out.txt'])
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # A unique name, not mkstemp's file: the writer creates it with the user's umask (mkstemp's 0600 would make
    # every dataset, run and thresholds file private to its owner).
    partial = path.parent / f".{path.name}.{uuid.uuid4().hex}.partial"
    try:
        yield partial
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


@contextmanager
def replacing_together(folder: Path, *, moved_last: str | None = None) -> Iterator[Path]:
    """A new staging folder inside ``folder`` for the block to write a set of files into; when the block ends, each
    file is moved onto its namesake in ``folder`` (one rename each). If the block fails or is interrupted, nothing
    of the new set reaches ``folder``: the staging folder is removed, ``folder``'s files are untouched, and
    ``folder`` itself (and the parents this call created) is removed again if it is empty.

    No file system renames several files at once, so a crash between two of the final renames can still leave new
    files beside old ones. ``moved_last`` names the file that marks a whole set: it is removed from ``folder``
    before the first rename and renamed last, so while it is in ``folder``, every file of its set beside it is the
    one written with it (after such a crash it is missing, and the next whole write puts it back). A reader that
    reads while another process writes may still see a mix.

    Example:
        >>> import tempfile
        >>> run = Path(tempfile.mkdtemp())
        >>> with replacing_together(run, moved_last="b.txt") as staging:
        ...     _ = (staging / "a.txt").write_text("new a", encoding="utf-8")
        ...     _ = (staging / "b.txt").write_text("new b", encoding="utf-8")
        >>> sorted(p.name for p in run.iterdir())
        ['a.txt', 'b.txt']
    """
    created = [path for path in (folder, *folder.parents) if not path.exists()]
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".partial-", dir=folder))
    moved = False
    try:
        yield staging
        names = sorted(path.name for path in staging.iterdir())
        if moved_last in names:
            names.remove(moved_last)
            names.append(moved_last)
            (folder / moved_last).unlink(missing_ok=True)
        moved = True  # from here on, some of the new set may be in folder
        for name in names:
            os.replace(staging / name, folder / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if not moved:
            for path in created:  # the deepest first; a folder someone else wrote into meanwhile stays
                try:
                    path.rmdir()
                except OSError:
                    break


def write_text_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (UTF-8, its folder created) as a whole or not at all (:func:`replacing`)."""
    with replacing(path) as partial:
        partial.write_text(text, encoding="utf-8")
    return path


def format_of(path: Path) -> Format:
    """``json`` for ``.json`` files, ``yaml`` otherwise (JSON is valid YAML, so YAML is the lenient default)."""
    return "json" if path.suffix.lower() == ".json" else "yaml"


def load_document(
    path: Any,
    *,
    what: str,
    hint: str,
    error: type[ValueError] = ValueError,
    fmt: Format | None = None,
    max_bytes: int = MAX_FILE_BYTES,
    max_depth: int = MAX_DEPTH,
) -> tuple[Path, Any]:
    """(path, parsed document) of a bounded JSON or YAML file (``fmt`` default: by suffix, see :func:`format_of`).

    Every failure is an ``error`` naming the file, what was wrong, and ``hint`` (what a valid file looks like).
    """
    path, text = read_text(path, what=what, hint=hint, error=error, max_bytes=max_bytes)
    return path, parse_document(
        text, fmt=fmt or format_of(path), source=f"{what} {path}", hint=hint, error=error, max_depth=max_depth
    )


def parse_document(
    text: str,
    *,
    fmt: Format,
    source: str,
    hint: str,
    error: type[ValueError] = ValueError,
    max_depth: int = MAX_DEPTH,
    max_int_digits: int = MAX_INT_DIGITS,
) -> Any:
    """Parse JSON or YAML text within the limits; ``error`` names ``source``, the problem and ``hint``."""
    deep = f"{source}: nested more than {max_depth} levels deep; {hint}"
    try:
        if fmt == "json":
            data = json.loads(text, parse_int=lambda digits: _bounded_int(digits, max_int_digits))
        else:
            data = yaml.load(text, Loader=_bounded_loader(max_depth, max_int_digits))  # a SafeLoader subclass
    except RecursionError:
        raise error(deep) from None
    except _LimitExceeded as exc:
        raise error(f"{source}: {exc}; {hint}") from None
    except json.JSONDecodeError as exc:
        raise error(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); {hint}") from None
    except yaml.YAMLError as exc:
        raise error(f"{source}: not valid YAML ({_yaml_problem(exc)}); {hint}") from None
    except (ValueError, TypeError, OverflowError) as exc:  # YAML values such as the date 2001-13-45
        raise error(f"{source}: holds a value that cannot be read ({exc}); {hint}") from None
    problem = structure_problem(data, max_depth=max_depth)
    if problem is not None:
        raise error(f"{source}: {problem}; {hint}")
    return data


def structure_problem(data: Any, *, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> str | None:
    """Why a parsed document cannot be used (too deep, self-referencing, expanding to too many values), or None.

    Walks the document once without recursion; a value reached twice (a YAML alias) is measured once and its
    depth and size count at every place it is used.
    """
    heights: dict[int, int] = {}
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, leaving = stack.pop()
        children = _children(node)
        key = id(node)
        if leaving:
            on_path.discard(key)
            heights[key] = 1 + max((heights.get(id(c), 1) for c in children), default=0)
            sizes[key] = 1 + sum(sizes.get(id(c), 1) for c in children)
            if heights[key] > max_depth:
                return f"nested more than {max_depth} levels deep"
            if sizes[key] > max_nodes:
                return f"expands to more than {max_nodes:,} values (YAML aliases repeating one another)"
            continue
        if not children or key in heights:
            continue
        if key in on_path:
            return "refers to itself (a YAML alias used inside its own anchor)"
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in children if _children(child))
    return None


def _children(node: Any) -> list[Any]:
    if isinstance(node, Mapping):
        return [*node.keys(), *node.values()]
    if isinstance(node, list | tuple | set):
        return list(node)
    return []


def _bounded_int(digits: str, max_digits: int) -> int:
    if len(digits.lstrip("+-")) > max_digits:
        raise _LimitExceeded(f"holds a number with {len(digits.lstrip('+-')):,} digits (at most {max_digits})")
    return int(digits)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """The YAML error as one short phrase with its position ("expected ',' or ']' at line 3, column 7")."""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    return f"{problem} at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(problem)


def _bounded_loader(max_depth: int, max_int_digits: int) -> type[yaml.SafeLoader]:
    """A SafeLoader that stops composing past ``max_depth`` levels and refuses integers over ``max_int_digits``."""

    class BoundedLoader(yaml.SafeLoader):
        _depth = 0

        def compose_node(self, parent: Any, index: Any) -> Any:
            self._depth += 1
            try:
                if self._depth > max_depth:
                    raise _LimitExceeded(f"nested more than {max_depth} levels deep")
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1

        def construct_yaml_int(self, node: Any) -> int:
            value = str(self.construct_scalar(node))
            digits = len(value.replace("_", "").lstrip("+-"))
            if digits > max_int_digits:
                raise _LimitExceeded(f"holds a number with {digits:,} digits (at most {max_int_digits})")
            return super().construct_yaml_int(node)

    BoundedLoader.add_constructor("tag:yaml.org,2002:int", BoundedLoader.construct_yaml_int)
    return BoundedLoader
