"""Serve the task router to many conversations: a FastAPI app run by uvicorn with several worker processes, threads
and the catalogue in one PostgreSQL (see docs/deploy.md).

    pip install "langgraph-task-router[postgres]" fastapi uvicorn
    export TASK_ROUTER_POSTGRES=postgresql://postgres@127.0.0.1:5432/postgres
    uvicorn examples.serve:app --workers 2 --port 8000

    curl -s localhost:8000/threads/t1/turns -H 'content-type: application/json' -d '{"message": "Recap my meeting"}'
    curl -s localhost:8000/catalog/tasks -H 'content-type: application/json' \
         -d '{"name": "travel_booking", "description": "Book a train or a flight for the user."}'

Settings (environment): ``TASK_ROUTER_POSTGRES`` (required), ``TASK_ROUTER_CATALOG`` (a catalogue file that seeds
an empty store; default: the demo catalogue), ``TASK_ROUTER_CATALOG_NAMESPACE`` (where in the store, default
``task_router/catalog``; one per catalogue), ``TASK_ROUTER_ROUTER`` (default: the learned router),
``TASK_ROUTER_MODEL`` (the model for task replies and chat-model routers; default: the embedded model),
``OPENAI_BASE_URL`` for an OpenAI-compatible server.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

from task_router import CatalogError, TaskCatalog, create_router_graph, make_router
from task_router.persistence import ThreadConflictError, async_postgres_checkpointer, postgres_store
from task_router.store_catalog import StoreCatalog


class Turn(BaseModel):
    message: str


def _settings() -> dict[str, Any]:
    url = os.environ.get("TASK_ROUTER_POSTGRES")
    if not url:
        raise RuntimeError("set TASK_ROUTER_POSTGRES to the PostgreSQL URL that holds threads and the catalogue")
    seed = os.environ.get("TASK_ROUTER_CATALOG")
    return {
        "url": url,
        "seed": TaskCatalog.from_file(seed) if seed else TaskCatalog.demo(),
        "router": os.environ.get("TASK_ROUTER_ROUTER") or None,
        "model": os.environ.get("TASK_ROUTER_MODEL") or "embedded",
        "namespace": tuple((os.environ.get("TASK_ROUTER_CATALOG_NAMESPACE") or "task_router/catalog").split("/")),
    }


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = _settings()
    async with AsyncExitStack() as stack:
        saver = await stack.enter_async_context(async_postgres_checkpointer(settings["url"]))
        store = stack.enter_context(postgres_store(settings["url"]))
        # The stored catalogue if there is one, else the seed (written for the other workers).
        catalog = StoreCatalog(store, namespace=settings["namespace"], tasks=settings["seed"].tasks)
        model = settings["model"]
        if model.startswith("openai:") and settings["router"] in (None, "structured"):
            # the client's own time-out is 30 s too: a hung request stops with the decision
            router: Any = make_router("structured", model=model, timeout_s=30)
        else:
            router = make_router(settings["router"], model=model)
            router.warm(catalog)  # load and embed now, not in the first request
        graph = create_router_graph(catalog, router=router, model=model)  # one task node serves any task, new ones too
        app.state.graph, app.state.catalog = graph.compile(checkpointer=saver), catalog
        yield


app = FastAPI(title="task router", lifespan=lifespan)


@app.post("/threads/{thread_id}/turns")
async def turn(thread_id: str, body: Turn) -> dict[str, Any]:
    """Route one user turn of a thread and run it; the decision and the assistant's reply."""
    config = {"configurable": {"thread_id": thread_id}}
    try:
        state = await app.state.graph.ainvoke({"messages": [("user", body.message)]}, config, durability="sync")
    except ThreadConflictError as exc:  # two requests on one thread at once: this one is not stored
        raise HTTPException(status_code=409, detail=str(exc)) from None
    return {"decision": state["decisions"][-1], "reply": state["messages"][-1].content, "worker": os.getpid()}


@app.get("/threads/{thread_id}")
async def thread(thread_id: str) -> dict[str, Any]:
    """What the thread holds: its user messages and its decisions."""
    snapshot = await app.state.graph.aget_state({"configurable": {"thread_id": thread_id}})
    values = snapshot.values or {}
    users = [m.content for m in values.get("messages", []) if m.type == "human"]
    return {"user_messages": users, "decisions": values.get("decisions", [])}


@app.get("/catalog")
async def catalog() -> dict[str, Any]:
    return {"version": app.state.catalog.version, "tasks": app.state.catalog.names}


@app.post("/catalog/tasks")
async def add_task(task: dict[str, Any]) -> dict[str, Any]:
    try:
        app.state.catalog.add(task)
    except CatalogError as exc:
        raise HTTPException(status_code=422, detail=str(exc)) from None
    return await catalog()


@app.delete("/catalog/tasks/{name}")
async def remove_task(name: str) -> dict[str, Any]:
    try:
        app.state.catalog.remove(name)
    except CatalogError as exc:
        raise HTTPException(status_code=404, detail=str(exc)) from None
    return await catalog()
