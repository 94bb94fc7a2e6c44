"""Thread persistence: LangGraph checkpointers that refuse a second writer on one thread (SQLite, the CLI's default,
from ``langgraph-checkpoint-sqlite`` in the ``cli`` extra; PostgreSQL from the ``postgres`` extra; imported when a
checkpointer is made)."""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from task_router._resources import require

if TYPE_CHECKING:
    from langgraph.checkpoint.sqlite import SqliteSaver

# How long a write waits for another process's write transaction (SQLite's default, 5 s, is short on a busy host).
_BUSY_TIMEOUT_S = 60.0
_DB_HINT = "give --db (or TASK_ROUTER_DB) a writable SQLite file, or a new path to create one"
# The columns SqliteSaver reads: tables of the same names made by another program lack them.
_SCHEMA_PROBES = (
    "SELECT thread_id, checkpoint_ns, checkpoint_id, parent_checkpoint_id, type, checkpoint, metadata "
    "FROM checkpoints LIMIT 0",
    "SELECT thread_id, checkpoint_ns, checkpoint_id, task_id, idx, channel, type, value FROM writes LIMIT 0",
)


_LATEST_SQL = (
    "SELECT checkpoint_id FROM checkpoints WHERE thread_id = {p} AND checkpoint_ns = {p} "
    "ORDER BY checkpoint_id DESC LIMIT 1"
)


class ThreadConflictError(RuntimeError):
    """Another run wrote the thread while this one ran (two writers on one thread): this run's step was not saved.

    LangGraph's savers keep the newest checkpoint as the thread, so of two runs on one thread the older one's
    turns vanish once the other writes. The savers of this module check, in the transaction that writes a
    checkpoint, that its parent is still the thread's latest, and raise this error otherwise: the turn that raised
    is not acknowledged (its message may be in the thread without a reply), the other run's turns are kept.
    :func:`thread_lock` serialises turns instead, so that neither is refused.
    """


def _conflict(thread_id: str, parent: str | None, latest: str | None) -> ThreadConflictError:
    return ThreadConflictError(
        f"thread {thread_id!r} was written by another run while this turn ran (two writers on one thread; its "
        f"latest checkpoint is {latest}, this turn started from {parent}): this turn was not finished, and its "
        "message may be in the thread without a reply. Read the thread and send it again, and give each writer its "
        "own thread_id (or hold task_router.persistence.thread_lock around each turn)"
    )


def default_db_path() -> Path:
    """``TASK_ROUTER_DB``, else ``~/.local/share/task_router/threads.sqlite``."""
    return Path(os.environ.get("TASK_ROUTER_DB") or Path.home() / ".local" / "share" / "task_router" / "threads.sqlite")


def sqlite_checkpointer(path: str | Path | None = None, *, one_writer: bool = True) -> SqliteSaver:
    """A SqliteSaver on ``path`` (created if needed); the connection is shared safely across threads.

    With ``one_writer`` (the default), a checkpoint whose parent is no longer its thread's latest is refused with
    :class:`ThreadConflictError` instead of silently hiding the other run's turns (two processes, or two threads,
    running one ``thread_id``); the check and the write are one SQLite write transaction. Pass
    ``one_writer=False`` to write from a past checkpoint on purpose (LangGraph's time travel).

    Opening is serialised across processes by a lock file in ``<path>.locks/`` (the folder :func:`thread_lock` uses
    too): processes opening one new file at once would otherwise race on its creation. The file is checked before
    any thread is read: a folder, a file that is not a SQLite database (or a corrupt
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
        # Two processes opening one new file at once race on its creation and switch to WAL, where SQLite answers
        # "database is locked" without waiting: the opening (not the turns) is serialised by a lock file.
        with _lock_file(_locks_folder(path) / "open.lock"):
            # check_same_thread=False is safe: SqliteSaver serialises access with its own lock.
            connection = sqlite3.connect(str(path), check_same_thread=False, timeout=_BUSY_TIMEOUT_S)
            saver = _one_writer_sqlite(sqlite)(connection) if one_writer else sqlite.SqliteSaver(connection)
            saver.setup()  # reads the schema and creates the tables: a corrupt or read-only file fails here
            connection.execute("BEGIN IMMEDIATE")  # takes the write lock: a file we cannot write fails here too
            connection.rollback()
    except OSError as exc:
        raise ValueError(
            f"cannot create the lock files of thread database {path} ({exc.strerror or exc}); {_DB_HINT}"
        ) from None
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


def _one_writer_sqlite(sqlite: Any) -> type[Any]:
    """SqliteSaver whose ``put`` checks, in the write transaction, that the parent is still the latest."""
    from langgraph.checkpoint.base import get_checkpoint_metadata

    class OneWriterSqliteSaver(sqlite.SqliteSaver):
        def put(self, config, checkpoint, metadata, new_versions):  # type: ignore[no-untyped-def]
            configurable = config["configurable"]
            thread_id, ns = str(configurable["thread_id"]), configurable.get("checkpoint_ns", "")
            parent = configurable.get("checkpoint_id")
            type_, blob = self.serde.dumps_typed(checkpoint)
            meta = json.dumps(get_checkpoint_metadata(config, metadata), ensure_ascii=False).encode("utf-8", "ignore")
            with self.lock:
                self.setup()
                cur = self.conn.cursor()
                try:
                    cur.execute("BEGIN IMMEDIATE")  # the write lock, across processes, before the check
                    row = cur.execute(_LATEST_SQL.format(p="?"), (thread_id, ns)).fetchone()
                    latest = row[0] if row else None
                    if latest not in (parent, checkpoint["id"]):
                        raise _conflict(thread_id, parent, latest)
                    cur.execute(
                        "INSERT OR REPLACE INTO checkpoints (thread_id, checkpoint_ns, checkpoint_id, "
                        "parent_checkpoint_id, type, checkpoint, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (thread_id, ns, checkpoint["id"], parent, type_, blob, meta),
                    )
                    self.conn.commit()
                except BaseException:
                    self.conn.rollback()
                    raise
                finally:
                    cur.close()
            return {"configurable": {"thread_id": thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint["id"]}}

    return OneWriterSqliteSaver


@contextmanager
def postgres_checkpointer(conn_string: str, *, one_writer: bool = True) -> Iterator[Any]:
    """A PostgresSaver on ``conn_string`` (tables set up), as a context manager, refusing a second writer on one
    thread as :func:`sqlite_checkpointer` does (``pip install "langgraph-task-router[postgres]"``).

    Example:
        >>> with postgres_checkpointer("postgresql://postgres@127.0.0.1:5432/postgres") as saver:  # doctest: +SKIP
        ...     graph = create_router_graph(catalog, model=model).compile(checkpointer=saver)
    """
    postgres = require("langgraph.checkpoint.postgres", extra="postgres", purpose="a PostgreSQL thread database")
    saver_class = _one_writer_postgres(postgres) if one_writer else postgres.PostgresSaver
    with saver_class.from_conn_string(conn_string) as saver:
        saver.setup()
        yield saver


@asynccontextmanager
async def async_postgres_checkpointer(conn_string: str, *, one_writer: bool = True) -> AsyncIterator[Any]:
    """An AsyncPostgresSaver on ``conn_string`` (tables set up), as an async context manager, for
    ``graph.ainvoke`` / ``astream`` (the sync savers have no async methods), refusing a second writer on one
    thread as :func:`postgres_checkpointer` does.

    Example:
        >>> async with async_postgres_checkpointer("postgresql://postgres@127.0.0.1:5432/postgres") as saver:  # doctest: +SKIP
        ...     state = await create_router_graph(catalog).compile(checkpointer=saver).ainvoke(turn, config)
    """  # noqa: E501
    aio = require("langgraph.checkpoint.postgres.aio", extra="postgres", purpose="a PostgreSQL thread database")
    saver_class = _one_writer_async_postgres(aio) if one_writer else aio.AsyncPostgresSaver
    async with saver_class.from_conn_string(conn_string) as saver:
        await saver.setup()
        yield saver


@contextmanager
def postgres_store(conn_string: str) -> Iterator[Any]:
    """A LangGraph PostgresStore on ``conn_string`` (tables set up), as a context manager: where a
    :class:`~task_router.store_catalog.StoreCatalog` shared by many processes lives
    (``pip install "langgraph-task-router[postgres]"``).

    Example:
        >>> with postgres_store("postgresql://postgres@127.0.0.1:5432/postgres") as store:  # doctest: +SKIP
        ...     catalog = StoreCatalog(store, tasks=TaskCatalog.from_file("catalog.yaml").tasks)
    """
    postgres = require("langgraph.store.postgres", extra="postgres", purpose="a PostgreSQL store for the catalogue")
    with postgres.PostgresStore.from_conn_string(conn_string) as store:
        store.setup()
        yield store


def _one_writer_postgres(postgres: Any) -> type[Any]:
    """PostgresSaver whose ``put`` checks the parent under a per-thread transaction lock, then writes, in one
    transaction (the body of ``PostgresSaver.put`` with the check before it)."""

    class OneWriterPostgresSaver(postgres.PostgresSaver):
        def put(self, config, checkpoint, metadata, new_versions):  # type: ignore[no-untyped-def]
            put = _GuardedPut(self, config, checkpoint, metadata, new_versions)
            with self._cursor() as cur, cur.connection.transaction():
                cur.execute(put.LOCK_SQL, put.lock_args)
                put.check(cur.execute(_LATEST_SQL.format(p="%s"), put.latest_args).fetchone())
                if put.blob_rows:
                    cur.executemany(self.UPSERT_CHECKPOINT_BLOBS_SQL, put.blob_rows)
                cur.execute(self.UPSERT_CHECKPOINTS_SQL, put.checkpoint_row)
            return put.next_config

    return OneWriterPostgresSaver


def _one_writer_async_postgres(aio: Any) -> type[Any]:
    """AsyncPostgresSaver with the same check as :func:`_one_writer_postgres`, on the event loop."""

    class OneWriterAsyncPostgresSaver(aio.AsyncPostgresSaver):
        async def aput(self, config, checkpoint, metadata, new_versions):  # type: ignore[no-untyped-def]
            put = _GuardedPut(self, config, checkpoint, metadata, new_versions)
            async with self._cursor() as cur, cur.connection.transaction():
                await cur.execute(put.LOCK_SQL, put.lock_args)
                put.check(await (await cur.execute(_LATEST_SQL.format(p="%s"), put.latest_args)).fetchone())
                if put.blob_rows:
                    await cur.executemany(self.UPSERT_CHECKPOINT_BLOBS_SQL, put.blob_rows)
                await cur.execute(self.UPSERT_CHECKPOINTS_SQL, put.checkpoint_row)
            return put.next_config

    return OneWriterAsyncPostgresSaver


class _GuardedPut:
    """What a one-writer PostgreSQL ``put`` writes (PostgresSaver's own layout) and the check it makes first: the
    thread's latest checkpoint must be this write's parent (or this checkpoint itself, a retried write)."""

    LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))"

    def __init__(self, saver: Any, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> None:
        from langgraph.checkpoint.base import get_serializable_checkpoint_metadata
        from psycopg.types.json import Jsonb

        configurable = config["configurable"]
        self.thread_id, ns = str(configurable["thread_id"]), configurable.get("checkpoint_ns", "")
        self.parent, self.checkpoint_id = configurable.get("checkpoint_id"), checkpoint["id"]
        values, blobs = _split_blobs(checkpoint["channel_values"])
        versions = {k: v for k, v in new_versions.items() if k in blobs}
        self.blob_rows = saver._dump_blobs(self.thread_id, ns, blobs, versions) if versions else []
        self.checkpoint_row = (
            self.thread_id,
            ns,
            checkpoint["id"],
            self.parent,
            Jsonb({**checkpoint, "channel_values": values}),
            Jsonb(get_serializable_checkpoint_metadata(config, metadata)),
        )
        self.lock_args = (f"{self.thread_id}\x1f{ns}",)
        self.latest_args = (self.thread_id, ns)
        self.next_config = {
            "configurable": {"thread_id": self.thread_id, "checkpoint_ns": ns, "checkpoint_id": checkpoint["id"]}
        }

    def check(self, latest_row: Any) -> None:
        latest = latest_row["checkpoint_id"] if latest_row else None
        if latest not in (self.parent, self.checkpoint_id):
            raise _conflict(self.thread_id, self.parent, latest)


def _split_blobs(channel_values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """PostgresSaver's layout: primitive values inline in the checkpoint row, the others in the blobs table
    (a delta snapshot leaves ``True`` in its place)."""
    from langgraph.checkpoint.serde.types import _DeltaSnapshot

    inline, blobs = dict(channel_values), {}
    for key, value in channel_values.items():
        if isinstance(value, _DeltaSnapshot):
            blobs[key] = inline.pop(key)
            inline[key] = True
        elif not (value is None or isinstance(value, (str, int, float, bool))):
            blobs[key] = inline.pop(key)
    return inline, blobs


@contextmanager
def thread_lock(saver: Any, thread_id: str) -> Iterator[None]:
    """Hold ``thread_id`` for one turn: another process or thread asking for the same thread waits until it is
    released (turns are queued, none is refused; LangGraph server's "enqueue").

    SQLite (:func:`sqlite_checkpointer`): an advisory file lock (``fcntl.flock``) beside the database, one file per
    thread. PostgreSQL (:func:`postgres_checkpointer`, one connection): a session advisory lock, tried every 10-200
    ms so that a waiter holds no connection (turns wait, but are not served in arrival order), and a lock of this
    process, which its threads share the session with. Either is released when the holder exits or dies.
    ``task-router chat`` holds it around each turn.

    Example:
        >>> saver = sqlite_checkpointer("threads.sqlite")  # doctest: +SKIP
        >>> with thread_lock(saver, "t1"):  # doctest: +SKIP
        ...     graph.invoke({"messages": [("user", "hi")]}, {"configurable": {"thread_id": "t1"}})
    """
    if isinstance(saver, _sqlite_saver_types()):
        with _sqlite_thread_lock(saver, thread_id):
            yield
    elif type(saver.conn).__module__.startswith("psycopg") and hasattr(saver.conn, "cursor"):
        key = ("task_router.thread\x1f" + str(thread_id),)
        # A session advisory lock is re-entrant for its session, and this process's threads share the saver's one
        # connection: they queue on a lock of this process first, then the session's lock queues the processes.
        with _process_lock((id(saver.conn), str(thread_id))):
            try:  # taken inside: a KeyboardInterrupt right after the server granted it still releases it
                _wait_for_advisory_lock(saver, key)
                yield
            finally:
                with saver._cursor() as cur:
                    cur.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", key)
    else:
        raise ValueError(
            f"thread_lock works with sqlite_checkpointer(path) or postgres_checkpointer(url) (one connection), not "
            f"{type(saver).__name__}: give each writer its own thread_id, or serialise turns yourself"
        )


def _wait_for_advisory_lock(saver: Any, key: tuple[str]) -> None:
    """Take the session advisory lock ``key``, trying again until it is free. Each try holds the saver's one
    connection only for itself: a blocking ``pg_advisory_lock`` would hold it while waiting for another process, and
    every other thread of this process (the holder of another thread_id, writing its checkpoints) would wait too, or
    two processes waiting on each other's threads would deadlock."""
    pause = _LOCK_POLL_S
    while True:
        with saver._cursor() as cur:
            cur.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0)) AS held", key)
            row = cur.fetchone()
        if row is not None and (row["held"] if isinstance(row, dict) else row[0]):
            return
        time.sleep(pause)
        pause = min(pause * 2, _LOCK_POLL_MAX_S)


_LOCK_POLL_S, _LOCK_POLL_MAX_S = 0.01, 0.2
_PROCESS_LOCKS: dict[tuple[int, str], tuple[threading.Lock, int]] = {}  # key -> (its lock, threads holding or waiting)
_PROCESS_LOCKS_GUARD = threading.Lock()


@contextmanager
def _process_lock(key: tuple[int, str]) -> Iterator[None]:
    """A lock of this process per ``key``, dropped once no thread holds or waits for it (thread ids are unbounded)."""
    with _PROCESS_LOCKS_GUARD:
        lock, users = _PROCESS_LOCKS.get(key, (threading.Lock(), 0))
        _PROCESS_LOCKS[key] = (lock, users + 1)
    try:
        with lock:
            yield
    finally:
        with _PROCESS_LOCKS_GUARD:
            users = _PROCESS_LOCKS[key][1] - 1
            if users:
                _PROCESS_LOCKS[key] = (lock, users)
            else:
                del _PROCESS_LOCKS[key]


def _sqlite_saver_types() -> tuple[type, ...]:
    try:
        from langgraph.checkpoint.sqlite import SqliteSaver
    except ImportError:
        return ()
    return (SqliteSaver,)


@contextmanager
def _sqlite_thread_lock(saver: Any, thread_id: str) -> Iterator[None]:
    import hashlib

    rows = saver.conn.execute("PRAGMA database_list").fetchall()
    path = next((Path(row[2]) for row in rows if row[1] == "main" and row[2]), None)
    if path is None:
        raise ValueError("thread_lock needs the saver of a SQLite file (sqlite_checkpointer(path)), not in-memory")
    name = hashlib.sha256(str(thread_id).encode("utf-8", "surrogatepass")).hexdigest()[:32]
    with _lock_file(_locks_folder(path) / f"{name}.lock"):
        yield


def _locks_folder(database: Path) -> Path:
    folder = database.with_name(database.name + ".locks")
    folder.mkdir(exist_ok=True)
    return folder


@contextmanager
def _lock_file(path: Path) -> Iterator[None]:
    """An exclusive advisory lock (``fcntl.flock``) on ``path``, across processes; released if the holder dies."""
    import fcntl

    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


__all__ = [
    "ThreadConflictError",
    "async_postgres_checkpointer",
    "default_db_path",
    "postgres_checkpointer",
    "postgres_store",
    "sqlite_checkpointer",
    "thread_lock",
]
