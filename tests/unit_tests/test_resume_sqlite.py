"""A thread survives a process restart through the SQLite checkpointer (two real processes)."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json, sys
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from task_router import TaskCatalog, create_router_graph, make_router
    from task_router.persistence import sqlite_checkpointer

    db, text, route_to = sys.argv[1:4]
    router_model = GenericFakeChatModel(messages=iter([AIMessage(json.dumps({"task": route_to}))]))
    writer = GenericFakeChatModel(messages=iter([AIMessage("Your recap.")]))
    graph = create_router_graph(
        TaskCatalog.demo(), router=make_router("structured", model=router_model), model=writer
    ).compile(checkpointer=sqlite_checkpointer(db))
    out = graph.invoke({"messages": [("user", text)]}, {"configurable": {"thread_id": "resume-me"}})
    print(json.dumps({"events": [d["event"] for d in out["decisions"]], "active": out["active_task"],
                      "n_messages": len(out["messages"]), "last": out["messages"][-1].content}))
    """
)


def run_turn(db, text, route_to):
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(db), text, route_to], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


def test_thread_resumes_in_a_new_process(tmp_path):
    db = tmp_path / "threads.sqlite"
    first = run_turn(db, "Recap my meeting", "meeting_recap")
    assert first["events"] == ["START"] and first["active"] == "meeting_recap"
    assert "notes" in first["last"]  # the task asked for its first input
    second = run_turn(db, "We agreed to ship on Friday.", "meeting_recap")
    assert second["events"] == ["START", "CONTINUE"]
    assert second["n_messages"] == 4 and second["last"] == "Your recap."
