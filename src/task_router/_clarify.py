"""Asking when two tasks are close: which decisions are too close to call, and the one short question to ask.

A decision carries its ranked alternatives with probabilities (``RouteDecision.alternatives``). When the two most
probable answers name two different tasks and their probabilities differ by less than a margin, acting on either
is a guess: the graph asks the user instead ("Do you mean Find trains or Get train tickets?") and the user's next
turn picks the task. ``make_router(..., clarify_margin=m)`` marks such decisions (``RouteDecision.clarify``);
``create_router_graph(..., clarify_margin=m)`` does the same for a router that does not. ``task-router eval``
reports, for a range of margins, the share of turns that would be asked and the errors left (risk-coverage).

Example:
    >>> from task_router._decision import Alternative
    >>> close_tasks([Alternative(event="START", task="find_trains", probability=0.46),
    ...              Alternative(event="START", task="buy_train_tickets", probability=0.41)], margin=0.1)
    ['find_trains', 'buy_train_tickets']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from task_router._catalog import TaskCatalog
from task_router._decision import TASK_EVENTS, Alternative, RouteDecision
from task_router._prompting import message_text
from task_router._router_input import MARK_KEY, without_off_topic_exchanges

MAX_CHOICES = 3
QUESTION = "clarify"
_TASKS = "tasks"


def margin_of(alternatives: Sequence[Alternative]) -> float | None:
    """The probability gap between the two most probable answers when both name a task (None otherwise: a
    decision that is "done" or "nothing fits" at the top, or with a single task in view, is not a choice between
    tasks)."""
    tasks = [a for a in by_probability(alternatives)[:2] if a.event in TASK_EVENTS and a.task is not None]
    if len(tasks) < 2 or tasks[0].task == tasks[1].task:
        return None
    return tasks[0].probability - tasks[1].probability


def by_probability(alternatives: Sequence[Alternative]) -> list[Alternative]:
    """The alternatives most probable first (a decision lists its own answer first, whatever its probability)."""
    return sorted(alternatives, key=lambda alternative: -alternative.probability)


def close_tasks(alternatives: Sequence[Alternative], margin: float | None) -> list[str] | None:
    """The tasks to ask between (the top two, and a third as close to the first), or None when the decision is
    clear enough at ``margin`` (None: never ask). An answer with probability 0 (the learned router gives 0 beyond
    its three best) is never asked about."""
    if margin is None:
        return None
    if not 0.0 <= margin <= 1.0:
        raise ValueError(f"clarify_margin is a probability gap in 0..1, got {margin}")
    gap = margin_of(alternatives)
    if gap is None or gap >= margin:
        return None
    ranked = by_probability(alternatives)
    top = ranked[0].probability
    chosen: list[str] = []
    for alternative in ranked:
        if len(chosen) == MAX_CHOICES or top - alternative.probability >= margin or alternative.probability <= 0 < top:
            break
        if alternative.event in TASK_EVENTS and alternative.task and alternative.task not in chosen:
            chosen.append(alternative.task)
    return chosen if len(chosen) >= 2 else None


def clarify_question(tasks: Sequence[str], catalog: TaskCatalog) -> str:
    """One short question naming the close tasks.

    Example:
        >>> from task_router import Task, TaskCatalog
        >>> catalog = TaskCatalog([Task(name="find_trains", description="Find trains."),
        ...                        Task(name="buy_train_tickets", description="Buy train tickets.")])
        >>> clarify_question(["find_trains", "buy_train_tickets"], catalog)
        'Do you mean: Find trains, or Buy train tickets?'
    """
    titles = [task.title for name in tasks if (task := catalog.get(name)) is not None]
    if len(titles) < 2:
        raise ValueError(f"a clarifying question needs two tasks of the catalogue, got {list(tasks)}")
    return f"Do you mean: {', '.join(titles[:-1])}, or {titles[-1]}?"


def question_message(question: str, tasks: Sequence[str]) -> AIMessage:
    """The assistant's turn that asks which of ``tasks`` the user means, marked as such with the tasks asked about
    (:func:`request_asked_about`)."""
    return AIMessage(question, response_metadata={MARK_KEY: QUESTION, _TASKS: list(tasks)})


def request_asked_about(messages: Sequence[BaseMessage], task: str) -> str:
    """The user's request a clarifying question about ``task`` was asked about, when the latest message answers that
    question (else ""): the answer ("the recap") picks the task, and the request ("Recap this meeting: <notes>") is
    what the user asked of it. A task the question did not offer ("Neither: email Sarah") gets "".

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> from task_router import Task, TaskCatalog
        >>> catalog = TaskCatalog([Task(name=n, description=f"Do {n}.") for n in ("a", "b", "c")])
        >>> asked = [HumanMessage("Do it: notes"), question_message(clarify_question(["a", "b"], catalog), ["a", "b"])]
        >>> [request_asked_about([*asked, HumanMessage("a")], task) for task in ("a", "c")]
        ['Do it: notes', '']
    """
    if not messages or not isinstance(messages[-1], HumanMessage):
        return ""
    messages = [*without_off_topic_exchanges(messages[:-1]), messages[-1]]  # an off-topic aside after the question
    if len(messages) < 3:
        return ""
    request, question = messages[-3], messages[-2]
    if not isinstance(question, AIMessage) or question.response_metadata.get(MARK_KEY) != QUESTION:
        return ""
    asked = question.response_metadata.get(_TASKS)
    if asked is not None and task not in asked:  # (a question checkpointed before its tasks were recorded: any)
        return ""
    return message_text(request) if isinstance(request, HumanMessage) else ""


def asks_between(decision: RouteDecision, margin: float | None) -> list[str] | None:
    """The close tasks to ask between for ``decision`` at ``margin`` (None: never ask), or None: only a decision that
    picks a task (START / CONTINUE / SWITCH) is a choice between tasks; NONE (off topic, the task stays) and END are
    answers, whatever the alternatives behind them."""
    if decision.event not in TASK_EVENTS:
        return None
    return close_tasks(decision.alternatives, margin)


def pending_question(decisions: Sequence[Mapping[str, Any]]) -> list[str] | None:
    """The tasks of the clarifying question still waiting for its answer (``decisions``: the turns' decision dumps),
    or None: the question the last decision that was not NONE asked, if it asked one. A NONE after a question is an
    off-topic aside ("what's the weather?"): the None node answers it and repeats the question, which stands.

    Example:
        >>> asked = {"event": "START", "task": "a", "clarify": ["a", "b"]}
        >>> pending_question([asked, {"event": "NONE"}]), pending_question([asked, {"event": "START", "task": "b"}])
        (['a', 'b'], None)
    """
    for decision in reversed(decisions):
        if decision.get("event") != "NONE":
            return list(decision.get("clarify") or []) or None
    return None


def with_question(
    decision: RouteDecision, pending: Sequence[str] | None, margin: float | None, catalog: TaskCatalog
) -> RouteDecision:
    """The decision as the graph and the middleware act on it: marked to be asked about when its two most probable
    tasks are closer than ``margin`` (unless the router marked it already), and never asked about while a question
    waits for its answer (``pending``, from :func:`pending_question`): the user's answer is acted on. Only a
    decision that picks a task is asked about (not NONE nor END), and only between tasks of the live ``catalog``
    (a task removed meanwhile, or a name the router made up, is dropped; fewer than two left: no question).

    Example:
        >>> from task_router import Task, TaskCatalog
        >>> catalog = TaskCatalog([Task(name=n, description=f"Do {n}.") for n in ("a", "b")])
        >>> close = [Alternative(event="START", task="a", probability=0.5),
        ...          Alternative(event="START", task="b", probability=0.45)]
        >>> with_question(RouteDecision(event="START", task="a", alternatives=close), None, 0.1, catalog).clarify
        ['a', 'b']
        >>> with_question(RouteDecision(event="START", task="a", alternatives=close), ["a", "b"], 0.1,
        ...               catalog).clarify is None
        True
    """
    if decision.event not in TASK_EVENTS or pending:
        asked = None
    elif decision.clarify is not None:
        asked = decision.clarify
    else:
        asked = close_tasks(decision.alternatives, margin)
    asked = live_choices(asked, catalog) or None
    return decision if asked == decision.clarify else decision.model_copy(update={"clarify": asked})


def live_choices(names: Sequence[str] | None, catalog: TaskCatalog) -> list[str]:
    """The tasks of ``names`` that are in ``catalog`` now, once each, or none unless at least two are (a question
    needs two tasks to choose between).

    Example:
        >>> from task_router import Task, TaskCatalog
        >>> catalog = TaskCatalog([Task(name=n, description=f"Do {n}.") for n in ("a", "b")])
        >>> live_choices(["a", "gone", "b", "a"], catalog), live_choices(["a", "gone"], catalog)
        (['a', 'b'], [])
    """
    choices = [name for name in dict.fromkeys(names or ()) if name in catalog]
    return choices if len(choices) >= 2 else []
