"""A terminal UI (Textual) over :class:`ReviewSession`: one conversation at a time, one key per action."""

from __future__ import annotations

from typing import ClassVar

from rich.markup import escape
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Footer, Header, Input, Static

from task_router.training._review import ReviewSession


def render_record(session: ReviewSession) -> str:
    """Rich markup for the current conversation: catalogue, turns, and each user turn's label."""
    record = session.current
    if record is None:
        counts = session.counts()
        return (
            "[b]Review finished.[/b] "
            + ", ".join(f"{k}: {v}" for k, v in counts.items())
            + "\nPress b to go back, q to quit (export with `task-router review --export FILE`)."
        )
    labels = {label.turn_index: label for label in record.labels}
    lines = [f"[b]{escape(record.id)}[/b]  ({len(record.tasks)} tasks)"]
    lines.append("Tasks: " + ", ".join(escape(str(t["name"])) for t in record.tasks))
    lines.append("")
    for index, turn in enumerate(record.turns):
        who = "[cyan]User[/]" if turn.role == "user" else "[green]Assistant[/]"
        lines.append(f"[dim]{index:>2}[/] {who}: {escape(turn.text)}")
        if index in labels:
            label = labels[index]
            lines.append(f"     [yellow]-> {escape(label.task)} ({label.event})[/]")
    status = session.status_of(session.position)
    if status:
        lines.append(f"\n[dim]earlier decision: {status}[/]")
    return "\n".join(lines)


class ReviewApp(App[None]):
    """``c`` confirm, ``b`` back, ``l`` change a label (``<turn> <task>``), ``f`` flag, ``d`` delete, ``q`` quit.
    Every action is saved immediately; starting again resumes where the review stopped.

    Example:
        >>> ReviewApp(ReviewSession("generated.jsonl")).run()  # doctest: +SKIP
    """

    TITLE = "task-router review"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "confirm", "Confirm"),
        Binding("b", "back", "Back"),
        Binding("l", "change_label", "Change label"),
        Binding("f", "flag", "Flag"),
        Binding("d", "delete", "Delete"),
        Binding("q", "quit", "Quit"),
    ]
    CSS = "#status { height: 1; background: $boost; } #label { dock: bottom; }"

    def __init__(self, session: ReviewSession) -> None:
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="status")
        with VerticalScroll():
            yield Static(id="body")
        yield Input(placeholder="turn task   e.g. `4 NONE` (Enter to apply, Escape to cancel)", id="label")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#label", Input).display = False
        self.refresh_view()

    def refresh_view(self, message: str = "") -> None:
        counts = self.session.counts()
        total = len(self.session.records)
        position = min(self.session.position + 1, total)
        summary = f"{position}/{total} | " + " | ".join(f"{k} {v}" for k, v in counts.items())
        self.query_one("#status", Static).update(summary + (f" | {message}" if message else ""))
        self.query_one("#body", Static).update(render_record(self.session))

    def _run(self, action: str, *args: str) -> None:
        try:
            getattr(self.session, action)(*args)
        except ValueError as exc:
            self.refresh_view(f"[red]{escape(str(exc))}[/]")
            return
        self.refresh_view()

    def action_confirm(self) -> None:
        self._run("confirm")

    async def action_back(self) -> None:  # async as App.action_back, which it replaces (textual awaits actions)
        self._run("back")

    def action_flag(self) -> None:
        self._run("flag")

    def action_delete(self) -> None:
        self._run("delete")

    def action_change_label(self) -> None:
        if self.session.done:
            self.refresh_view("[red]the review is finished: go back first[/]")
            return
        box = self.query_one("#label", Input)
        box.display = True
        box.value = ""
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        box = event.input
        turn, _, task = event.value.strip().partition(" ")
        box.display = False
        self.set_focus(None)
        if not turn.isdigit() or not task.strip():
            self.refresh_view("[red]type a turn number and a task name, e.g. `2 NONE`[/]")
            return
        try:
            self.session.change_label(int(turn), task.strip())
        except ValueError as exc:
            self.refresh_view(f"[red]{escape(str(exc))}[/]")
            return
        self.refresh_view(f"turn {turn} -> {escape(task.strip())}")

    def on_key(self, event: object) -> None:
        box = self.query_one("#label", Input)
        if getattr(event, "key", None) == "escape" and box.display:
            box.display = False
            self.set_focus(None)
