"""One catalogue for many processes (issue 25, item 3): two worker processes route over a StoreCatalog in one
PostgreSQL; a task added (then removed) by one of them is what the other's next decision routes over."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT_DIR

WORKER = """
import json, sys
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langgraph.checkpoint.memory import InMemorySaver
from task_router import TaskCatalog, create_router_graph
from task_router.persistence import postgres_store
from task_router.routers._base import Prediction, Router
from task_router.store_catalog import StoreCatalog

class Keywords(Router):
    kind = "keywords"
    def predict(self, routing, config):
        text = routing.messages[-1].content.lower()
        return Prediction(next((name for name in routing.catalog.names if name.split("_")[0] in text), None))

url, namespace = sys.argv[1], tuple(sys.argv[2].split("/"))
with postgres_store(url) as store:
    catalog = StoreCatalog(store, namespace=namespace, tasks=TaskCatalog.demo().tasks)
    replies = FakeListChatModel(responses=["ok"])  # the task node answers any task, one added later too
    # any Runnable is used as it is: an error in Keywords reaches the test instead of a fallback stage
    graph = create_router_graph(catalog, router=Keywords().with_config(run_name="keywords"), model=replies)
    app = graph.compile(checkpointer=InMemorySaver())
    print(json.dumps({"ready": catalog.names}), flush=True)
    for n, line in enumerate(sys.stdin):
        command, _, argument = line.rstrip("\\n").partition(" ")
        if command == "add":
            catalog.add(json.loads(argument))
            print(json.dumps({"added": argument, "version": catalog.version}), flush=True)
        elif command == "remove":
            catalog.remove(argument)
            print(json.dumps({"removed": argument, "version": catalog.version}), flush=True)
        else:
            state = app.invoke({"messages": [("user", argument)]}, {"configurable": {"thread_id": f"t{n}"}})
            decision = state["decisions"][-1]
            print(json.dumps({"event": decision["event"], "task": decision["task"]}), flush=True)
"""


class Worker:
    def __init__(self, url: str, namespace: str) -> None:
        # the repository, then the caller's PYTHONPATH: a checkout run without installing it is the code under test
        paths = (str(ROOT_DIR), os.environ.get("PYTHONPATH"))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in paths if path)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, url, namespace],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.ready = self.read()["ready"]

    def read(self) -> dict:
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the worker stopped: {self.proc.stderr.read()[-3000:]}")
        return json.loads(line)

    def send(self, command: str) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0, self.proc.stderr.read()[-3000:]


@pytest.fixture(scope="module")
def postgres_url() -> str:
    from tests.integration_tests.test_restarts import start_postgres

    return start_postgres()


def test_an_edit_in_one_worker_is_what_the_other_decides_over(postgres_url: str, tmp_path: Path) -> None:
    namespace = f"test-{uuid.uuid4().hex[:8]}/catalog"
    one = Worker(postgres_url, namespace)
    two = Worker(postgres_url, namespace)
    try:
        assert one.ready == two.ready  # the second found the first's catalogue and did not seed its own
        assert two.send("say book me a travel to Lyon") == {"event": "NONE", "task": None}
        travel = {"name": "travel_booking", "description": "Book a train or a flight for the user."}
        one.send(f"add {json.dumps(travel)}")
        assert two.send("say book me a travel to Lyon") == {"event": "START", "task": "travel_booking"}
        two.send("remove travel_booking")
        assert one.send("say book me a travel to Lyon") == {"event": "NONE", "task": None}
        assert one.send("say recap of my meeting") == {"event": "START", "task": "meeting_recap"}
    finally:
        one.close()
        two.close()
