"""The demo assistant for `langgraph dev` / LangGraph Studio (see langgraph.json).

Model and router come from TASK_ROUTER_MODEL (default: embedded) and TASK_ROUTER_ROUTER (default: the model's best
kind). The LangGraph server provides persistence, so the graph is compiled without a checkpointer.
"""

import os

from task_router import TaskCatalog, create_router_graph

catalog = TaskCatalog.demo()
graph = create_router_graph(
    catalog,
    model=os.environ.get("TASK_ROUTER_MODEL", "embedded"),
    router=os.environ.get("TASK_ROUTER_ROUTER") or None,
).compile(name="task_router_demo")
