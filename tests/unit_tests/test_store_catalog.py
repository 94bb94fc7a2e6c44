"""A catalogue shared through a LangGraph store (issue 25, item 3): an edit made through one StoreCatalog is what
the next decision made through any other reads, derived caches follow it, and bad stored data is refused
clearly. The same with PostgreSQL and two processes: tests/integration_tests/test_store_catalog_postgres.py."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from langgraph.store.memory import InMemoryStore

from task_router import TaskCatalog
from task_router._catalog import CatalogError
from task_router.routers._base import Prediction
from task_router.store_catalog import DEFAULT_NAMESPACE, ITEM_KEY, StoreCatalog
from tests.unit_tests.fakes import Scripted

TRAVEL = {"name": "travel_booking", "description": "Book a train or a flight for the user."}


def _travel_if_offered(routing) -> Prediction:
    return Prediction("travel_booking" if "travel_booking" in routing.catalog else None)


def test_an_edit_in_one_reaches_the_next_decision_of_another() -> None:
    store = InMemoryStore()
    editor = StoreCatalog(store, tasks=TaskCatalog.demo().tasks)
    worker = StoreCatalog(store)
    router = Scripted(_travel_if_offered)
    turn = {"messages": ["book me a train to Lyon"], "catalog": worker}
    assert router.invoke(turn).event == "NONE"
    editor.add(TRAVEL)
    decision = router.invoke(turn)
    assert (decision.event, decision.task) == ("START", "travel_booking")
    editor.remove("travel_booking")
    assert router.invoke(turn).event == "NONE"
    assert worker.names == editor.names == TaskCatalog.demo().names


def test_derived_caches_are_rebuilt_after_another_process_edits() -> None:
    store = InMemoryStore()
    editor, worker = StoreCatalog(store, tasks=[TRAVEL]), StoreCatalog(store)
    assert worker.memo("names", lambda: tuple(worker.names)) == ("travel_booking",)
    editor.update("travel_booking", description="Book trains only.")
    editor.add({"name": "hotel", "description": "Book a hotel room."})
    worker.refresh()
    assert worker.memo("names", lambda: tuple(worker.names)) == ("travel_booking", "hotel")
    assert worker["travel_booking"].description == "Book trains only."


def test_the_stored_catalogue_wins_over_a_late_starters_tasks() -> None:
    store = InMemoryStore()
    StoreCatalog(store, tasks=[TRAVEL])
    late = StoreCatalog(store, tasks=TaskCatalog.demo().tasks)
    assert late.names == ["travel_booking"]


def test_edits_apply_on_top_of_the_latest_stored_catalogue() -> None:
    store = InMemoryStore()
    first, second = StoreCatalog(store, tasks=[TRAVEL]), StoreCatalog(store)
    first.add({"name": "hotel", "description": "Book a hotel room."})
    second.add({"name": "taxi", "description": "Order a taxi."})  # second never read "hotel" before this edit
    assert first.names == second.names == ["travel_booking", "hotel", "taxi"]
    with pytest.raises(CatalogError, match="duplicate task name 'hotel'"):
        second.add({"name": "hotel", "description": "Another hotel task."})


def test_separate_namespaces_are_separate_catalogues() -> None:
    store = InMemoryStore()
    a = StoreCatalog(store, namespace=("tenant-a", "catalog"), tasks=[TRAVEL])
    b = StoreCatalog(store, namespace=("tenant-b", "catalog"))
    assert a.names == ["travel_booking"] and b.names == []


def test_a_foreign_store_item_is_refused_naming_the_fix() -> None:
    store = InMemoryStore()
    store.put(DEFAULT_NAMESPACE, ITEM_KEY, {"something": "else"})
    with pytest.raises(CatalogError, match="namespace of its own"):
        StoreCatalog(store)
    store.put(DEFAULT_NAMESPACE, ITEM_KEY, {"version": 3, "tasks": [{"name": "-bad", "description": "x"}]})
    with pytest.raises(CatalogError, match="is invalid"):
        StoreCatalog(store)


def test_a_non_store_is_refused() -> None:
    with pytest.raises(TypeError, match="BaseStore"):
        StoreCatalog({"catalog": []})


@pytest.mark.parametrize("version", ["x", None, [1], 3.5, True, float("nan"), -1])
def test_a_stored_version_that_is_not_a_count_is_refused_naming_the_fix(version: object) -> None:
    store = InMemoryStore()
    store.put(DEFAULT_NAMESPACE, ITEM_KEY, {"version": version, "tasks": [TRAVEL]})
    with pytest.raises(CatalogError, match="version") as caught:
        StoreCatalog(store)
    assert "namespace of its own" in str(caught.value)


@pytest.mark.parametrize("namespace", ["tenant-a", ("tenant-a", ""), (), ("tenant-a", 3), ("tenant.a", "catalog")])
def test_a_namespace_that_is_not_a_tuple_of_labels_is_refused_naming_the_fix(namespace: object) -> None:
    # a string was split into one label per character: ("t", "e", "n", ...), a namespace no other process opens
    with pytest.raises(ValueError, match=r"namespace must be a tuple of labels.*\('tenant-a', 'catalog'\)"):
        StoreCatalog(InMemoryStore(), namespace=namespace, tasks=[TRAVEL])


def test_version_and_size_are_the_stored_catalogue_s_before_any_decision() -> None:
    # they were this process's last reading: a worker reported the old version beside the new names
    store = InMemoryStore()
    editor, worker = StoreCatalog(store, tasks=[TRAVEL]), StoreCatalog(store)
    editor.add({"name": "hotel", "description": "Book a hotel room."})
    assert (worker.version, len(worker)) == (editor.version, 2)


class SlowReads(InMemoryStore):
    """An InMemoryStore whose next ``get`` reads the item, then lets ``meanwhile`` run before it returns: a read that
    was in flight while something else happened."""

    meanwhile: Callable[[], None] | None = None

    def get(self, *args: Any, **kwargs: Any) -> Any:
        item = super().get(*args, **kwargs)
        meanwhile, self.meanwhile = self.meanwhile, None
        if meanwhile is not None:
            worker = threading.Thread(target=meanwhile)
            worker.start()
            worker.join(timeout=10)
        return item


def test_a_read_in_flight_during_an_edit_does_not_undo_the_edit() -> None:
    # a decision's read, started before an edit of the same process and returned after it, put the older catalogue
    # back: the task just added was out of the live catalogue, so a decision naming it was changed to "removed"
    store = SlowReads()
    catalog = StoreCatalog(store, tasks=[TRAVEL])
    store.meanwhile = lambda: catalog.add({"name": "hotel", "description": "Book a hotel room."})
    catalog.frozen()  # a decision's read, the edit made while it was in flight
    assert "hotel" in catalog and catalog.get("hotel") is not None


def test_of_two_reads_in_flight_the_older_one_does_not_win() -> None:
    store = SlowReads()
    editor, worker = StoreCatalog(store, tasks=[TRAVEL]), StoreCatalog(store)

    def edit_then_read() -> None:
        editor.add({"name": "hotel", "description": "Book a hotel room."})
        worker.refresh()  # a later read, of the edited catalogue

    store.meanwhile = edit_then_read
    worker.refresh()  # read before the edit, returned after the later read
    assert "hotel" in worker


def test_a_catalogue_stored_by_another_version_is_refused_naming_both_versions_and_kept() -> None:
    # the error was only "task 'travel_booking' is invalid: priority: Extra inputs are not permitted"
    from importlib.metadata import version

    store = InMemoryStore()
    newer = {"version": 4, "edit": "e", "writer": "langgraph-task-router 9.9.0", "tasks": [{**TRAVEL, "priority": 1}]}
    store.put(DEFAULT_NAMESPACE, ITEM_KEY, newer)
    with pytest.raises(CatalogError, match="priority") as caught:
        StoreCatalog(store, tasks=[TRAVEL])
    message = str(caught.value)
    assert "langgraph-task-router 9.9.0" in message and version("langgraph-task-router") in message
    assert "same langgraph-task-router version" in message
    assert store.get(DEFAULT_NAMESPACE, ITEM_KEY).value == newer  # nothing overwritten


def test_a_stored_catalogue_with_an_invalid_task_names_how_to_store_a_valid_one() -> None:
    store = InMemoryStore()
    store.put(DEFAULT_NAMESPACE, ITEM_KEY, {"version": 1, "tasks": [TRAVEL, TRAVEL]})  # written by hand
    with pytest.raises(CatalogError, match="duplicate name") as caught:
        StoreCatalog(store)
    assert "store.delete(" in str(caught.value) and "tasks=" in str(caught.value)
    assert "call update()" not in str(caught.value)  # the fix for an edit, not for a stored catalogue
    # no writer recorded: an older version may have stored it, so deleting is not the only advice
    assert "records no writer" in str(caught.value) and "same version in every process" in str(caught.value)


def test_the_store_holds_only_the_fields_a_task_sets() -> None:
    # every default was written too ("tools": [], "instructions": null, ...): a worker of an older version, whose Task
    # lacks a field added since, refused the whole catalogue ("Extra inputs are not permitted") even though no task
    # used that field, on every decision of a rolling upgrade
    store = InMemoryStore()
    recap = {"name": "recap", "description": "Recap a meeting.", "inputs": [{"name": "notes", "description": "notes"}]}
    catalog = StoreCatalog(store, tasks=[TRAVEL, recap])
    assert store.get(DEFAULT_NAMESPACE, ITEM_KEY).value["tasks"] == [TRAVEL, recap]
    assert StoreCatalog(store).tasks == catalog.tasks


def test_an_async_only_store_is_refused_naming_a_sync_one() -> None:
    # it was taken, then failed (at once in the event loop, or at every decision of graph.ainvoke) with the store's
    # "replace store.get(...) with await store.aget(...)": a change to StoreCatalog's code, not one a user can make
    import asyncio

    from langgraph.store.base.batch import AsyncBatchedBaseStore

    class AsyncStore(AsyncBatchedBaseStore):  # as AsyncPostgresStore and the LangGraph server's store are
        def __init__(self) -> None:
            super().__init__()
            self.inner = InMemoryStore()

        async def abatch(self, ops: Any) -> Any:
            return await self.inner.abatch(ops)

    async def open_catalog() -> None:
        StoreCatalog(AsyncStore(), tasks=[TRAVEL])

    with pytest.raises(TypeError, match=r"sync.*postgres_store\(url\)"):
        asyncio.run(open_catalog())
