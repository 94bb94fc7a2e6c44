"""Node-path (trajectory) evaluation of conversations with agentevals' graph trajectory evaluators.

A conversation graph from :func:`task_router.create_router_graph` takes one path per user turn:

| decision | path |
|---|---|
| START / CONTINUE / SWITCH | ``__start__ -> router -> task`` (or the task's own node, given ``task_graphs``) |
| NONE (also a digression: off topic with a task active, which stays active) | ``__start__ -> router -> none`` |
| END | ``__start__ -> router`` (then END) |
| a question between close tasks (``clarify`` set; the turn spec ``"ASK"``) | ``__start__ -> router -> clarify`` |

The actual path is read from the thread's state history (``extract_langgraph_trajectory_from_snapshots``: one
list of top-level nodes per user turn; nodes inside task subgraphs are not listed) and compared strictly.

Example:
    >>> from task_router.evaluators.trajectory import evaluate_node_path
    >>> app.invoke({"messages": [("user", "Recap my meeting")]}, cfg)  # doctest: +SKIP
    >>> app.invoke({"messages": [("user", "What's the weather?")]}, cfg)  # doctest: +SKIP
    >>> evaluate_node_path(app, cfg, ["START", "END"])  # doctest: +SKIP
    {'key': 'graph_trajectory_strict_match', 'score': True, 'comment': None, 'metadata': None}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig

START_NODE, ROUTER_NODE, TASK_NODE, NONE_NODE, CLARIFY_NODE = "__start__", "router", "task", "none", "clarify"
ASK = "ASK"  # the turn spec of a decision that asks the user to choose between close tasks
TurnSpec = str | tuple[str, str | None] | Sequence[str]
_TASK_EVENTS = ("START", "CONTINUE", "SWITCH")


def turn_path(event: str, task: str | None = None, *, task_nodes: Sequence[str] = ()) -> list[str]:
    """The nodes one user turn goes through for a decision (``task`` matters only if it has its own node);
    ``event`` ``"ASK"`` is a decision that asks the user to choose between close tasks.

    Example:
        >>> turn_path("NONE"), turn_path("ASK")
        (['__start__', 'router', 'none'], ['__start__', 'router', 'clarify'])
    """
    if event in _TASK_EVENTS:
        return [START_NODE, ROUTER_NODE, task if task in task_nodes else TASK_NODE]
    if event == "NONE":
        return [START_NODE, ROUTER_NODE, NONE_NODE]
    if event == "END":
        return [START_NODE, ROUTER_NODE]
    if event == ASK:
        return [START_NODE, ROUTER_NODE, CLARIFY_NODE]
    raise ValueError(f"unknown event {event!r}: use START, CONTINUE, SWITCH, END, NONE or ASK, or give the node list")


def reference_trajectory(turns: Sequence[TurnSpec], *, task_nodes: Sequence[str] = ()) -> dict[str, Any]:
    """An agentevals ``GraphTrajectory`` for the expected turns.

    Each turn is an event (``"START"``), an (event, task) pair (``("SWITCH", "post")``, needed when the task has its
    own node in ``task_nodes``), or an explicit list of node names.
    """
    steps: list[list[str]] = []
    for turn in turns:
        if isinstance(turn, str):
            steps.append(turn_path(turn, task_nodes=task_nodes))
        elif isinstance(turn, tuple) and len(turn) == 2 and turn[0] in (*_TASK_EVENTS, "NONE", "END", ASK):
            steps.append(turn_path(turn[0], turn[1], task_nodes=task_nodes))
        else:
            steps.append(list(turn))
    return {"inputs": [], "results": [], "steps": steps}


def decisions_trajectory(decisions: Sequence[Mapping[str, Any]], *, task_nodes: Sequence[str] = ()) -> dict[str, Any]:
    """The trajectory a list of decisions (``state["decisions"]``) implies, e.g. to cross-check a thread (a
    decision with ``clarify`` set went to the clarify node)."""
    turns = [(ASK if d.get("clarify") else d["event"], d.get("task")) for d in decisions]
    return reference_trajectory(turns, task_nodes=task_nodes)


def thread_trajectory(graph: Any, config: RunnableConfig) -> dict[str, Any]:
    """The actual ``GraphTrajectory`` of a thread of a compiled graph with a checkpointer.

    Uses ``get_state_history`` snapshots of the top-level graph (the thread extractor of agentevals descends into
    subgraphs, whose inner nodes would break a strict match).
    """
    from agentevals.graph_trajectory.utils import extract_langgraph_trajectory_from_snapshots

    return extract_langgraph_trajectory_from_snapshots(graph.get_state_history(config))["outputs"]


def node_path_strict_match(*, outputs: Mapping[str, Any], reference_outputs: Mapping[str, Any], **_: Any) -> Any:
    """agentevals' strict graph trajectory match; usable as a LangSmith evaluator ``(outputs, reference_outputs)``."""
    from agentevals.graph_trajectory.strict import graph_trajectory_strict_match

    return graph_trajectory_strict_match(outputs=dict(outputs), reference_outputs=dict(reference_outputs))


def evaluate_node_path(
    graph: Any, config: RunnableConfig, expected: Sequence[TurnSpec], *, task_nodes: Sequence[str] = ()
) -> Any:
    """Compare a thread's node path with the expected turns; returns agentevals' ``EvaluatorResult``."""
    return node_path_strict_match(
        outputs=thread_trajectory(graph, config),
        reference_outputs=reference_trajectory(expected, task_nodes=task_nodes),
    )


def assert_node_path(
    graph: Any, config: RunnableConfig, expected: Sequence[TurnSpec], *, task_nodes: Sequence[str] = ()
) -> None:
    """Raise AssertionError showing both paths when the thread's node path differs from the expected one."""
    result = evaluate_node_path(graph, config, expected, task_nodes=task_nodes)
    if not result["score"]:
        actual = thread_trajectory(graph, config)["steps"]
        wanted = reference_trajectory(expected, task_nodes=task_nodes)["steps"]
        raise AssertionError(f"node path differs:\n  actual:   {actual}\n  expected: {wanted}")


TRAJECTORY_EVALUATORS = [node_path_strict_match]

__all__ = [
    "ASK",
    "TRAJECTORY_EVALUATORS",
    "assert_node_path",
    "decisions_trajectory",
    "evaluate_node_path",
    "node_path_strict_match",
    "reference_trajectory",
    "thread_trajectory",
    "turn_path",
]
