"""Progress of a long run: a rich bar on a terminal, periodic plain lines elsewhere (a log file, CI, a notebook)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn


class LineProgress:
    """Prints ``<what>: done/total (share), rate/s, ETA`` at most every ``every_s`` seconds, and once at the end.

    Example:
        >>> import io
        >>> from rich.console import Console
        >>> out = io.StringIO()
        >>> progress = LineProgress("routing turns", 4, Console(file=out, width=100), every_s=0.0)
        >>> for _ in range(4):
        ...     progress.advance()
        >>> progress.close()
        >>> out.getvalue().splitlines()[-1].startswith("routing turns: 4/4 (100%)")
        True
    """

    def __init__(self, what: str, total: int, console: Console, *, every_s: float = 30.0) -> None:
        self.what, self.total, self.console, self.every_s = what, total, console, every_s
        self.done = 0
        self.started = self.last = time.monotonic()
        console.print(f"{what}: {total} to do; a line every {every_s:g} s")

    def advance(self, count: int = 1) -> None:
        self.done += count
        if time.monotonic() - self.last >= self.every_s and self.done < self.total:
            self._line()

    def close(self) -> None:
        self._line()

    def _line(self) -> None:
        now = time.monotonic()
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        share = self.done / self.total if self.total else 1.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta = "done" if self.done >= self.total else f"ETA {_duration(left)}"
        self.console.print(
            f"{self.what}: {self.done}/{self.total} ({share:.0%}), {rate:.1f}/s, {_duration(elapsed)} elapsed, {eta}"
        )


@contextmanager
def progress(what: str, total: int, *, enabled: bool = True, console: Console | None = None) -> Iterator[object]:
    """Yield an object with ``advance()``: a rich bar when ``console`` is a terminal, :class:`LineProgress` lines
    otherwise, nothing when ``enabled`` is False."""
    console = console or Console()
    if not enabled:
        yield _Silent()
    elif console.is_terminal:
        bar = Progress(
            TextColumn(what),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
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
