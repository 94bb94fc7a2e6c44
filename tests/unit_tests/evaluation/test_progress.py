"""Long runs report progress off a terminal too (a log file, CI, a notebook): periodic lines with rate and ETA."""

from __future__ import annotations

import io

from rich.console import Console

from task_router.evaluation._progress import LineProgress, progress


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


def test_the_eta_waits_for_a_few_items_and_leaves_out_the_first_ones_loading_time(monkeypatch) -> None:
    """Issue 27, item 6: a `fit` said "ETA 163 min" after one item (whose time was the models' loading) for a run
    that took 56 s."""
    import task_router.evaluation._progress as module

    clock = iter([0.0, 60.0, 60.0, *[60.0 + 0.1 * i for i in range(1, 40) for _ in (0, 1)]])
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    out = io.StringIO()
    lines = LineProgress("routing turns", 100, Console(file=out, width=120), every_s=0.0)
    lines.advance()  # the first item: 60 s of loading
    for _ in range(10):
        lines.advance()  # then 0.1 s each
    printed = out.getvalue().splitlines()
    assert "ETA after 6 items" in printed[1] and "/s" not in printed[1]
    assert printed[-1].startswith("routing turns: 11/100") and printed[-1].endswith(
        "ETA 10 s"
    )  # 89 left at ~9 per second, not 8 min
