"""Thread persistence: a LangGraph SQLite checkpointer, the CLI's default (``langgraph-checkpoint-sqlite``, in the
``cli`` extra; imported when a checkpointer is made)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from task_router.extras import require

if TYPE_CHECKING:
    from langgraph.checkpoint.sqlite import SqliteSaver

_DB_HINT = "give --db (or TASK_ROUTER_DB) a writable SQLite file, or a new path to create one"
# The columns SqliteSaver reads: tables of the same names made by another program lack them.
_SCHEMA_PROBES = (
    "SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata "
    "FROM checkpoints LIMIT 0",
    "SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value FROM writes LIMIT 0",
)


def default_db_path() -> Path:
    """``TASK_ROUTER_DB``, else ``~/.local/share/task_router/threads.sqlite``."""
    return Path(os.environ.get("TASK_ROUTER_DB") or Path.home() / ".local" / "share" / "task_router" / "threads.sqlite")


def sqlite_checkpointer(path: str | Path | None = None) -> SqliteSaver:
    """A SqliteSaver on ``path`` (created if needed); the connection is shared safely across threads.

    The file is checked before any thread is read: a folder, a file that is not a SQLite database (or a corrupt
    one), a read-only file, a path under a file or a database whose ``checkpoints`` / ``writes`` tables belong to
    another program give a ValueError saying so and what to give instead.
    """
    sqlite = require("langgraph.checkpoint.sqlite", extra="cli", purpose="a SQLite thread database")
    path = Path(path) if path else default_db_path()
    if path.is_dir():
        raise ValueError(f"thread database {path} is a folder; {_DB_HINT}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(
            f"cannot create the folder of thread database {path} ({exc.strerror or exc}); {_DB_HINT}"
        ) from None
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"thread database {path} is read-only; {_DB_HINT}")
    try:
        # check_same_thread=False is safe: SqliteSaver serialises access with its own lock.
        connection = sqlite3.connect(str(path), check_same_thread=False)
        saver = sqlite.SqliteSaver(connection)
        saver.setup()  # reads the schema and creates the tables: a corrupt or read-only file fails here, not mid-chat
        connection.execute("BEGIN IMMEDIATE")  # takes the write lock: a file we cannot write fails here too
        connection.rollback()
    except sqlite3.DatabaseError as exc:
        problem = "is not a SQLite database, or is corrupt" if "not a database" in str(exc) else "cannot be used"
        raise ValueError(f"thread database {path} {problem} ({exc}); {_DB_HINT}") from None
    _check_schema(connection, path)
    return saver


def _check_schema(connection: sqlite3.Connection, path: Path) -> None:
    """A ValueError unless the tables setup() found (it creates only missing ones) are a thread database's."""
    try:
        for probe in _SCHEMA_PROBES:
            connection.execute(probe)
    except sqlite3.OperationalError as exc:
        raise ValueError(
            f"thread database {path} is not a task-router thread database (its tables belong to another program: "
            f"{exc}); give another --db (or TASK_ROUTER_DB): a task-router thread database, or a new path to create "
            "one"
        ) from None
