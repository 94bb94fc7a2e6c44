"""A rich progress bar and loss log for the transformers Trainer."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback


class TimeBudgetCallback(TrainerCallback):
    """Stops training once ``minutes`` of wall time have passed since training began (the adapter is then saved
    as usual), so that a run fits a stated CPU budget on a shared machine."""

    def __init__(self, minutes: float) -> None:
        self.seconds = minutes * 60.0
        self.started: float | None = None
        self.stopped_early = False

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.started = time.monotonic()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.started is not None and time.monotonic() - self.started >= self.seconds:
            self.stopped_early = True
            control.should_training_stop = True
            control.should_save = True
        return control


class RichProgressCallback(TrainerCallback):
    """Shows steps done / total with elapsed and remaining time, and prints each logged loss on its own line
    (so that a run in the background logging to a file is readable)."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console()
        self.progress: Progress | None = None
        self.task: Any = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.progress = Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.max_steps, completed=state.global_step)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if logs:
            shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in logs.items())
            self.console.print(f"step {state.global_step}/{state.max_steps}: {shown}")

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
