"""Thread persistence: a LangGraph SQLite checkpointer, the CLI's default."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from langgraph.checkpoint.sqlite import SqliteSaver


def default_db_path() -> Path:
    """``TASK_ROUTER_DB``, else ``~/.local/share/task_router/threads.sqlite``."""
    return Path(os.environ.get("TASK_ROUTER_DB") or Path.home() / ".local" / "share" / "task_router" / "threads.sqlite")


def sqlite_checkpointer(path: str | Path | None = None) -> SqliteSaver:
    """A SqliteSaver on ``path`` (created if needed); the connection is shared safely across threads."""
    path = Path(path) if path else default_db_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    # check_same_thread=False is safe: SqliteSaver serialises access with its own lock.
    return SqliteSaver(sqlite3.connect(str(path), check_same_thread=False))
