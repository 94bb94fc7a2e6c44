"""Progress of a long run: a rich bar on a terminal, periodic plain lines elsewhere (a log file, CI, a notebook).

rich is optional (the ``cli`` extra): without it, progress is always plain lines on stdout.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress


class Printer(Protocol):
    """What progress writes to: a rich ``Console`` or :class:`PlainConsole`."""

    def print(self, *objects: Any) -> None: ...


class Advancing(Protocol):
    """What :func:`progress` yields: ``advance(count)`` once ``count`` more items are done."""

    def advance(self, count: int = 1) -> None: ...


class PlainConsole:
    """A stand-in for rich's ``Console`` when rich is not installed: ``print`` writes one plain line to ``file``.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> PlainConsole(out).print("routing turns: 4 to do")
        >>> out.getvalue().splitlines()
        ['routing turns: 4 to do']
    """

    is_terminal = False  # plain lines, never a bar

    def __init__(self, file: Any = None) -> None:
        self.file = file

    def print(self, *objects: Any) -> None:
        print(*objects, file=self.file or sys.stdout, flush=True)


def default_console() -> Printer:
    """rich's ``Console`` when rich is installed, else :class:`PlainConsole` on stdout."""
    try:
        from rich.console import Console
    except ImportError:
        return PlainConsole()
    return Console()


# An ETA from fewer items is noise: the first one also loads the models (a `fit` once said "ETA 163 min" after one
# item, for a run that took 56 s).
MIN_ETA_ITEMS = 5


class LineProgress:
    """Prints ``<what>: done/total (share), rate/s, ETA`` at most every ``every_s`` seconds, and once at the end.

    Example:
        >>> import io
        >>> out = io.StringIO()
        >>> progress = LineProgress("routing turns", 4, PlainConsole(out), every_s=0.0)
        >>> for _ in range(4):
        ...     progress.advance()
        >>> progress.close()
        >>> out.getvalue().splitlines()[-1].startswith("routing turns: 4/4 (100%)")
        True
    """

    def __init__(self, what: str, total: int, console: Printer, *, every_s: float = 30.0) -> None:
        self.what, self.total, self.console, self.every_s = what, total, console, every_s
        self.done = 0
        self.started = self.last = time.monotonic()
        self.first_done: float | None = None  # the rate is counted from here: the first item also loads models
        console.print(f"{what}: {total} to do; a line every {every_s:g} s")

    def advance(self, count: int = 1) -> None:
        if self.first_done is None:
            self.first_done = time.monotonic()
        self.done += count
        if time.monotonic() - self.last >= self.every_s and self.done < self.total:
            self._line()

    def close(self) -> None:
        self._line()

    def _line(self) -> None:
        now = time.monotonic()
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        share = self.done / self.total if self.total else 1.0
        if self.done >= self.total:
            self.console.print(
                f"{self.what}: {self.done}/{self.total} ({share:.0%}), {self.done / elapsed:.1f}/s, "
                f"{_duration(elapsed)} elapsed, done"
            )
            return
        timed = self.done - 1  # items finished after the first one, whose time includes loading
        if self.first_done is None or timed < MIN_ETA_ITEMS or now <= self.first_done:
            self.console.print(
                f"{self.what}: {self.done}/{self.total} ({share:.0%}), {_duration(elapsed)} elapsed, ETA after "
                f"{MIN_ETA_ITEMS + 1} items"
            )
            return
        rate = timed / (now - self.first_done)
        left = (self.total - self.done) / rate
        self.console.print(
            f"{self.what}: {self.done}/{self.total} ({share:.0%}), {rate:.1f}/s, {_duration(elapsed)} elapsed, "
            f"ETA {_duration(left)}"
        )


@contextmanager
def progress(what: str, total: int, *, enabled: bool = True, console: Printer | None = None) -> Iterator[Advancing]:
    """Yield an object with ``advance()``: a rich bar when ``console`` is a terminal, :class:`LineProgress` lines
    otherwise (always, when rich is not installed), nothing when ``enabled`` is False."""
    if not enabled:
        yield _Silent()
        return
    console = console or default_console()
    if getattr(console, "is_terminal", False):
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.text import Text

        class LaterTimeRemaining(TimeRemainingColumn):
            """Rich's time remaining, shown once a few items are done (see ``MIN_ETA_ITEMS``)."""

            def render(self, task: Any) -> Any:
                return super().render(task) if task.completed > MIN_ETA_ITEMS else Text("-:--:--", style="dim")

        bar = Progress(
            TextColumn(what),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            LaterTimeRemaining(),
            console=cast("Console", console),
            transient=False,
        )  # a console that is a terminal is rich's: rich is installed
        with bar:
            task = bar.add_task(what, total=total)
            yield _Bar(bar, task)
    else:
        lines = LineProgress(what, total, console)
        try:
            yield lines
        finally:
            lines.close()


class _Silent:
    def advance(self, count: int = 1) -> None:
        pass


class _Bar:
    def __init__(self, bar: Progress, task: object) -> None:
        self.bar, self.task = bar, task

    def advance(self, count: int = 1) -> None:
        self.bar.advance(self.task, count)  # type: ignore[arg-type]


def _duration(seconds: float) -> str:
    if seconds != seconds:  # nan: no rate yet
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"
