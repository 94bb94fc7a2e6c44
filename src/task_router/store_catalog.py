"""A task catalogue kept in a LangGraph store, so that every process opening the same store shares it.

A :class:`~task_router.TaskCatalog` lives in one process's memory: with two workers, an edit made in one
never reaches the other. :class:`StoreCatalog` keeps the catalogue in a LangGraph ``BaseStore`` instead
(``InMemoryStore`` in one process, ``PostgresStore`` for many), as one item: the tasks in order, a version, and
the id of the edit that wrote it. Each decision reads the item first (:meth:`StoreCatalog.frozen`, one ``get``),
so an edit made in any process is what the next decision in every process routes over; task vectors are
re-embedded only for the tasks whose text changed (the routers cache them by text).

Edits (``add``, ``update``, ``remove``) write through at once, on top of the latest stored catalogue. Two edits
from two processes at the same instant: the last write wins and the processes agree on it (a process that wrote
an edit another one overwrote reads the stored catalogue at its next decision), so make catalogue edits from one
place (an admin process, a deploy step) and let the workers read.

Example:
    >>> from langgraph.store.memory import InMemoryStore
    >>> store = InMemoryStore()
    >>> worker_a = StoreCatalog(store, tasks=TaskCatalog.demo().tasks)
    >>> worker_b = StoreCatalog(store)  # another process, on the same store
    >>> _ = worker_a.add({"name": "travel_booking", "description": "Book a train or a flight for the user."})
    >>> "travel_booking" in worker_b.frozen(), worker_b.version == worker_a.version
    (True, True)
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from langgraph.store.base.batch import AsyncBatchedBaseStore

from task_router._catalog import CatalogError, Task, TaskCatalog

DEFAULT_NAMESPACE = ("task_router", "catalog")
ITEM_KEY = "catalog"


def _writer() -> str:
    """Which package version writes the item (stored with it, so that another version reading it says so)."""
    try:
        return f"langgraph-task-router {package_version('langgraph-task-router')}"
    except PackageNotFoundError:  # a source tree on the path, not installed
        return "langgraph-task-router (not installed)"


_WRITER = _writer()


class StoreCatalog(TaskCatalog):
    """A :class:`~task_router.TaskCatalog` read from and written to a LangGraph store (see the module
    docstring).

    Args:
        store: any LangGraph ``BaseStore`` with a sync API (``InMemoryStore``, ``PostgresStore``: an
            ``AsyncPostgresStore`` refuses sync calls, and decisions read the catalogue synchronously).
        namespace: where the catalogue item lives, a tuple of labels (``("tenant-a", "catalog")``); one namespace
            per catalogue.
        tasks: the tasks to start with when the store holds no catalogue yet in ``namespace`` (ignored if it
            does: the stored catalogue is the shared truth).

    Raises:
        CatalogError: ``tasks`` holds an invalid task, or the stored item is not a catalogue.
        ValueError: ``namespace`` is not a tuple of labels (a string, say).
        TypeError: ``store`` is not a store, or answers only async calls (``AsyncPostgresStore``, the LangGraph
            server's store).
    """

    def __init__(
        self,
        store: Any,
        *,
        namespace: tuple[str, ...] = DEFAULT_NAMESPACE,
        tasks: Iterable[Task | dict[str, Any]] | None = None,
    ) -> None:
        if not callable(getattr(store, "get", None)) or not callable(getattr(store, "put", None)):
            raise TypeError(f"store must be a LangGraph BaseStore (InMemoryStore, PostgresStore), got {store!r}")
        if isinstance(store, AsyncBatchedBaseStore):  # its sync calls fail on its event loop: every async decision
            raise TypeError(
                f"{type(store).__name__} answers only async calls in its event loop, and StoreCatalog reads the store "
                "synchronously at each decision: give it a sync store on the same database, e.g. "
                "task_router.persistence.postgres_store(url) (a PostgresStore), or InMemoryStore in one process"
            )
        super().__init__()
        self.store = store
        self.namespace = _checked_namespace(namespace)
        self._edit: str | None = None
        # Reads and writes of the store are numbered as they start; a read applies only if nothing that started after
        # it (a read, an edit of this process) was applied first: a read in flight meanwhile may be older.
        self._tickets = itertools.count(1)
        self._applied = 0
        if not self.refresh() and tasks is not None:
            seed = TaskCatalog(tasks)  # validates every task first
            with self._lock:
                self._set_tasks(seed.tasks)
                self._write()

    # -- the shared copy -----------------------------------------------------------------------------------
    def refresh(self) -> bool:
        """Read the stored catalogue into this process if it changed; whether the store holds one at all."""
        ticket = next(self._tickets)
        item = self.store.get(self.namespace, ITEM_KEY)
        if item is None:
            return False
        value = item.value  # written by any process on the store: untrusted
        if not isinstance(value, dict) or not isinstance(value.get("tasks"), list) or "version" not in value:
            raise CatalogError(
                f"the store item {self.namespace}/{ITEM_KEY!r} is not a task catalogue: give StoreCatalog a "
                "namespace of its own"
            )
        version = value["version"]
        if type(version) is not int or version < 0:  # not a bool, a float or a string either
            raise CatalogError(
                f"the store item {self.namespace}/{ITEM_KEY!r} has version {version!r:.40}, not a count of edits: "
                "it was not written by StoreCatalog; give StoreCatalog a namespace of its own"
            )
        with self._lock:
            if ticket < self._applied:  # a later read, or an edit of this process, is in already: this one may be older
                return True
            self._applied = ticket
            if (version, value.get("edit")) == (self._version, self._edit):
                return True
            try:  # every bad task at once, with fixes for stored data (not "call update()")
                tasks = TaskCatalog.from_records(value["tasks"]).tasks if value["tasks"] else []
            except CatalogError as exc:
                raise CatalogError(
                    f"the catalogue stored in {self.namespace} is invalid; {self._fix(value)}: {exc}"
                ) from exc
            self._set_tasks(tasks)
            self._version, self._edit = version, value.get("edit")
            self._memo.clear()  # derived values (prompts, task matrices, snapshots) were of another catalogue
        return True

    def _fix(self, value: dict[str, Any]) -> str:
        """What to do about the invalid stored catalogue ``value`` (it is left as it is)."""
        writer = value.get("writer")
        if isinstance(writer, str) and writer != _WRITER:
            return (
                f"it was written by {writer:.60} and this process runs {_WRITER}: run the same langgraph-task-router "
                "version in every process on the store"
            )
        unknown = (
            ""
            if isinstance(writer, str)
            else (
                f"it records no writer, so a langgraph-task-router version before {_WRITER} (or a hand edit) "
                "stored it: "
                "if other processes run an older version, run the same version in every process on the store; else "
            )
        )
        return (
            f"{unknown}store a valid one: store.delete({self.namespace!r}, {ITEM_KEY!r}), then "
            f"StoreCatalog(store, namespace={self.namespace!r}, tasks=...)"
        )

    def _write(self) -> None:
        """Store this process's tasks as the next version (call with the lock held, after an edit)."""
        self._edit = uuid.uuid4().hex
        tasks = [task.model_dump(mode="json", exclude_defaults=True) for task in self._tasks.values()]
        self.store.put(
            self.namespace, ITEM_KEY, {"version": self._version, "edit": self._edit, "writer": _WRITER, "tasks": tasks}
        )
        self._applied = next(self._tickets)  # a read that started before the write ended may not have seen it

    # -- reading: every snapshot (one per decision) starts from the stored catalogue -------------------------
    def frozen(self) -> TaskCatalog:
        self.refresh()
        return super().frozen()

    @property
    def version(self) -> int:
        self.refresh()
        return self._version

    @property
    def names(self) -> list[str]:
        self.refresh()
        return super().names

    @property
    def tasks(self) -> list[Task]:
        self.refresh()
        return super().tasks

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __len__(self) -> int:
        self.refresh()
        return super().__len__()

    # -- edits write through, on top of the latest stored catalogue -----------------------------------------
    def add(self, task: Task | dict[str, Any]) -> Task:
        with self._lock:
            self.refresh()
            added = super().add(task)
            self._write()
        return added

    def update(self, name: str, /, **changes: Any) -> Task:
        with self._lock:
            self.refresh()
            updated = super().update(name, **changes)
            self._write()
        return updated

    def remove(self, name: str) -> Task:
        with self._lock:
            self.refresh()
            removed = super().remove(name)
            self._write()
        return removed

    def __repr__(self) -> str:
        return f"StoreCatalog(namespace={self.namespace}, version={self._version}, tasks={list(self._tasks)})"


def _checked_namespace(namespace: Any) -> tuple[str, ...]:
    """``namespace`` as a tuple of store labels, or a ValueError naming the fix (a string would be split into one
    label per character: a namespace no other process opens)."""
    labels = tuple(namespace) if isinstance(namespace, tuple | list) else None
    if not labels or not all(isinstance(label, str) and label and "." not in label for label in labels):
        raise ValueError(
            f"namespace must be a tuple of labels (non-empty strings without '.'), got {namespace!r:.80}: e.g. "
            "('tenant-a', 'catalog'), one namespace per catalogue"
        )
    return labels


__all__ = ["DEFAULT_NAMESPACE", "StoreCatalog"]
