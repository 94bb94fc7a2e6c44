"""The `decision` router: any LangChain decision model (``BaseDecisionModel``) answers one ``Choice`` per turn.

The opposite direction, the local routers as a decision model, is :mod:`task_router.decision_models`.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from langchain_core.decisions import Choice, ChoiceAnswer, ClassifierResponse
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig

from task_router._budget import ModelCall, Plan
from task_router._catalog import NONE_LABEL, TaskCatalog
from task_router._prompting import DEFAULT_WINDOW, head_tail, routed_text
from task_router._router_input import RoutingInput, is_user_message
from task_router.routers._base import MAX_ALTERNATIVES, Answer, Prediction, Router, safe_fallback
from task_router.routers._parsing import DONE_LABEL

QUESTION_ID = "task"
INSTRUCTIONS = (
    "Which task is the assistant doing after the user's latest message? Choose a task from the list; "
    f"{NONE_LABEL} if nothing in the list fits the latest message."
)
NONE_CRITERION = "Nothing in the list fits the user's latest message (an off-topic request or small talk)."
MAX_LABEL_SHOWN = 200  # characters of a label not asked that a decision's fallback quotes
DONE_CRITERION = "The user is done with the active task {task!r}: they thank, say that's all, or say goodbye."


class DecisionModelRouter(Router):
    """Routes with a LangChain decision model: each turn is one ``Choice`` over the catalogue's tasks (task names
    -> descriptions), plus ``NONE`` (nothing fits) and, while a task is active, ``DONE`` (the user is done with it).

    The state the model reads is the conversation's last ``window`` user and assistant messages (text only, each
    bounded as routers read it); the instructions name the active task. The answer decides:

    - the active task: CONTINUE; another task: START or SWITCH;
    - ``DONE`` (a task active): END of the active task;
    - ``NONE``: NONE (with a task active, an off-topic request: the task stays active);
    - a label that is not in the question (a faulty model or server): the active task is kept,
      ``valid_format=False``.

    ``confidence`` is the probability the model gives its choice (its ``confidence`` if it gave no
    probabilities), and ``alternatives`` its probabilities of the other labels. A model that fails (an API error,
    the time budget spent) raises, as every router does, for the composition's retries and fallbacks.

    Args:
        decision_model: a ``langchain_core.decisions.BaseDecisionModel``, e.g. ``OpenAIClassifier(model=...)``
            from ``langchain_openai.decisions``, or :class:`~task_router.decision_models.TaskRouterDecisionModel`.
        catalog: the task catalogue, unless each input carries its own.
        instructions: the question's instructions (the active task is added to them).
        window: how many of the latest messages the model reads.

    Example:
        >>> from langchain_openai.decisions import OpenAIClassifier
        >>> from task_router import TaskCatalog, make_router
        >>> router = make_router("decision", decision_model=OpenAIClassifier(model="gpt-6-luna"),
        ...                      catalog=TaskCatalog.demo())  # doctest: +SKIP
        >>> router.invoke({"messages": [{"role": "user", "content": "Recap my meeting"}]}).task  # doctest: +SKIP
        'meeting_recap'
    """

    kind: ClassVar[str] = "decision"

    def __init__(
        self,
        *,
        decision_model: Runnable[Any, ClassifierResponse] | None = None,
        catalog: TaskCatalog | None = None,
        instructions: str = INSTRUCTIONS,
        window: int = DEFAULT_WINDOW,
    ) -> None:
        if decision_model is None or not isinstance(decision_model, Runnable):
            raise ValueError(
                "the decision router needs a decision model: make_router('decision', decision_model=...) with a "
                "langchain_core.decisions.BaseDecisionModel, e.g. OpenAIClassifier(model=...) from "
                f"langchain_openai.decisions (got {type(decision_model).__name__})"
            )
        if window < 1:
            raise ValueError(f"window must be at least 1 message (the user's latest), got {window}")
        label = str(getattr(decision_model, "model", "") or type(decision_model).__name__)
        super().__init__(catalog=catalog, model_label=label)
        self.decision_model = decision_model
        self.instructions = instructions
        self.window = window

    def question(self, routing: RoutingInput) -> tuple[Choice, str]:
        """This turn's ``Choice`` and its "done" label (a label no task has, ``DONE`` unless a task is named so)."""
        done = DONE_LABEL
        while done in routing.catalog:
            done += "_"
        catalog = routing.catalog  # the tasks' criteria are built once per catalogue version, not every turn
        criteria: dict[str, Any] = dict(
            catalog.memo("decision.criteria", lambda: {task.name: task.description for task in catalog.tasks})
        )
        criteria[NONE_LABEL] = NONE_CRITERION
        instructions = self.instructions
        if routing.active_task is not None:
            criteria[done] = DONE_CRITERION.format(task=routing.active_task)
            instructions += (
                f" The active task is {routing.active_task!r}: choose it if the user goes on with it, {done} if "
                "they are done with it."
            )
        else:
            instructions += " No task is active."
        return Choice(instructions=instructions, criteria=criteria), done

    def state(self, routing: RoutingInput) -> list[BaseMessage]:
        """The conversation the model reads: the last ``window`` user and assistant messages, as bounded text (an
        assistant message with no text, e.g. only tool calls, is left out)."""
        chat = [m for m in routing.messages if isinstance(m, HumanMessage | AIMessage) or is_user_message(m)]
        kept = [(is_user_message(m), routed_text(m)) for m in chat]
        kept = [(user, text) for user, text in kept if user or text.strip()]  # not a tool call's empty text
        return [HumanMessage(text) if user else AIMessage(text) for user, text in kept[-self.window :]]

    def plan(self, routing: RoutingInput, config: RunnableConfig) -> Plan[Prediction]:
        choice, done = self.question(routing)
        response = yield ModelCall(
            self.decision_model, {"state": self.state(routing), "questions": {QUESTION_ID: choice}}
        )
        answer = response.choices.get(QUESTION_ID) if isinstance(response, ClassifierResponse) else None
        if answer is None:
            return safe_fallback(routing, _raw(response), "the decision model gave no Choice answer")
        return prediction(routing, answer, done)


def prediction(routing: RoutingInput, answer: ChoiceAnswer, done: str = DONE_LABEL) -> Prediction:
    """The prediction a ``ChoiceAnswer`` over the catalogue, ``NONE`` and ``done`` makes (see
    :class:`DecisionModelRouter`)."""
    raw = answer.model_dump_json()
    chosen = _answer(routing, answer.choice, done)
    if chosen is None:
        chose = head_tail(answer.choice, MAX_LABEL_SHOWN)  # untrusted: a faulty server's label may be huge
        return safe_fallback(routing, raw, f"the decision model chose {chose!r}, which is not a label asked")
    # most probable first, the model's own choice first (docs/contract.md), whatever probability it gave it
    ranked = sorted(answer.probabilities.items(), key=lambda item: (item[0] != answer.choice, -item[1]))
    alternatives: list[Answer] = []
    for label, p in ranked:
        option = _answer(routing, label, done)
        if option is not None:
            alternatives.append((*option, p))
    confidence = answer.probabilities.get(answer.choice, answer.confidence)
    return Prediction(
        chosen[0],
        closing=chosen[1],
        confidence=confidence,
        rationale="; ".join(f"{label} p={p:.2f}" for label, p in ranked[:3]) or None,
        raw_output=raw,
        alternatives=tuple(alternatives[:MAX_ALTERNATIVES]),
    )


def _answer(routing: RoutingInput, label: str, done: str) -> tuple[str | None, bool] | None:
    """(task or None, closing) of a label; None for a label that was not asked."""
    if label in routing.catalog:
        return label, False
    if label == NONE_LABEL:
        return None, False
    if label == done and routing.active_task is not None:
        return None, True
    return None


def _raw(response: Any) -> str:
    if isinstance(response, ClassifierResponse):
        return response.model_dump_json()
    return json.dumps(response, default=str)[:2000]


__all__ = ["DONE_CRITERION", "INSTRUCTIONS", "NONE_CRITERION", "DecisionModelRouter", "prediction"]
