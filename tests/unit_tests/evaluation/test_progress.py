"""Long runs report progress off a terminal too (a log file, CI, a notebook): periodic lines with rate and ETA."""

from __future__ import annotations

import io

from rich.console import Console

from task_router.evaluation.progress import LineProgress, progress


def test_off_a_terminal_progress_prints_lines_with_rate_and_eta() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120)
    assert not console.is_terminal
    with progress("routing turns", 3, console=console) as bar:
        assert isinstance(bar, LineProgress)
        bar.every_s = 0.0
        bar.advance()
        bar.advance()
        bar.advance()
    lines = out.getvalue().splitlines()
    assert lines[0] == "routing turns: 3 to do; a line every 30 s"
    assert lines[1].startswith("routing turns: 1/3 (33%)") and "ETA" in lines[1]
    assert lines[-1].startswith("routing turns: 3/3 (100%)") and lines[-1].endswith("done")


def test_on_a_terminal_progress_is_a_bar_and_disabled_progress_prints_nothing() -> None:
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=120)
    with progress("routing turns", 2, console=terminal) as bar:
        bar.advance(2)
    assert "2/2" in out.getvalue() and "ETA" not in out.getvalue()
    quiet = io.StringIO()
    with progress("routing turns", 2, enabled=False, console=Console(file=quiet)) as bar:
        bar.advance(2)
    assert quiet.getvalue() == ""
