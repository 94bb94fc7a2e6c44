"""The demo assistant for `langgraph dev` / LangGraph Studio / LangGraph Platform (see langgraph.json).

``graph`` is a graph factory: the LangGraph server calls it for every run with the run's config and runtime, so
model and router can change per run without restarting the server. Settings, first found wins:

1. the run's context: ``client.runs.wait(thread_id, "task_router_demo", input=..., context={"model": "embedded",
   "router": "embedding"})`` (Studio shows these fields, from ``DemoContext``);
2. the assistant's config: ``client.assistants.create("task_router_demo", config={"configurable": {"model": ...,
   "router": ...}})``;
3. the server's environment: ``TASK_ROUTER_MODEL`` (default ``embedded``), ``TASK_ROUTER_ROUTER`` (default: the
   model's best kind).

One compiled graph is kept per (model, router), so models load once. The server provides the checkpointer.

Human review: pass ``interrupt_before=["task"]`` to a run to stop after the routing decision, before the task
works on the turn; read the decision in the thread state (``values["decisions"][-1]``, ``next == ["task"]``) and
resume with a run whose input is None.

    langgraph dev --host 127.0.0.1 --port 2024 --no-browser
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from task_router import TaskCatalog, create_router_graph

if TYPE_CHECKING:
    from langgraph_sdk.runtime import ServerRuntime

GRAPH_NAME = "task_router_demo"


@dataclass
class DemoContext:
    """Run settings of the demo assistant."""

    model: str = field(default_factory=lambda: os.environ.get("TASK_ROUTER_MODEL", "embedded"))
    router: str | None = field(default_factory=lambda: os.environ.get("TASK_ROUTER_ROUTER") or None)


catalog = TaskCatalog.demo()


@cache
def build(model: str, router: str | None) -> CompiledStateGraph:
    """The compiled demo graph for one model spec and router kind."""
    builder = create_router_graph(catalog, model=model, router=router)
    builder.context_schema = DemoContext  # what Studio and the API offer as run context
    return builder.compile(name=GRAPH_NAME)


def settings(config: RunnableConfig | None, runtime: Any = None) -> DemoContext:
    """Resolve model and router from the run context, then the assistant config, then the environment."""
    found = DemoContext()
    configurable = (config or {}).get("configurable") or {}
    context = getattr(runtime, "context", None)
    for source in (configurable, context):
        if source is None:
            continue
        for name in ("model", "router"):
            value = source.get(name) if isinstance(source, Mapping) else getattr(source, name, None)
            if value:
                setattr(found, name, str(value))
    return found


async def graph(config: RunnableConfig, runtime: ServerRuntime) -> CompiledStateGraph:
    """Graph factory for the LangGraph server (see the module docstring).

    Async, and models load in a worker thread: the server's event loop must not block on file reads.
    """
    chosen = settings(config, runtime)
    return await asyncio.to_thread(build, chosen.model, chosen.router)
