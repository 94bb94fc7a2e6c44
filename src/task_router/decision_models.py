"""The local routers as a LangChain decision model: ``Choice`` questions answered with calibrated probabilities.

:class:`TaskRouterDecisionModel` adapts a router (the shipped ``learned`` model by default, or any router kind) to
:class:`langchain_core.decisions.BaseDecisionModel`, so that LangChain code that takes a decision model (e.g.
``langchain.agents.middleware.ModelRouterMiddleware``) can route with it, offline. A ``Choice``'s labels become a
:class:`~task_router.TaskCatalog` (label -> task, its description the task's description), the state
becomes the router's conversation, and the router's probabilities become the answer's.

The opposite direction, a router kind over any decision model, is :mod:`task_router.routers._decision_model`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from langchain_core.decisions import (
    Answer,
    BaseDecisionModel,
    Choice,
    ChoiceAnswer,
    ClassifierResponse,
    Question,
    State,
)
from langchain_core.messages import BaseMessage, HumanMessage
from langchain_core.runnables import ensure_config
from pydantic import ConfigDict, Field, PrivateAttr, model_validator

from task_router._catalog import _NAME_RE, MAX_DESCRIPTION_CHARS, NONE_LABEL, Task, TaskCatalog, _suggested_name
from task_router._prompting import clip
from task_router._router_input import is_user_message

#: Labels that mean "nothing fits" (compared in lower case, with spaces and hyphens read as ``_``): such a label is
#: not made a task, it gets the router's probability that no task fits.
NONE_LABELS = ("none", "none_of_the_above", "other", "nothing", "nothing_fits", "no_match", "unknown")
_CACHED_CATALOGS = 64
#: One answer a router weighed: (task name or None for "nothing fits", probability).
_Weight = tuple[str | None, float]


@dataclass(frozen=True)
class _LabelCatalog:
    """The catalogue a ``Choice`` is routed over: its tasks, the label of each task, and its "nothing fits" labels."""

    catalog: TaskCatalog
    label_of: dict[str, str]  # task name -> label
    none_labels: tuple[str, ...]
    labels: tuple[str, ...]  # every label, in the Choice's order


class TaskRouterDecisionModel(BaseDecisionModel):
    """A router answering ``Choice`` questions: a LangChain decision model that runs locally, with no API call.

    Each ``Choice`` label becomes a task (its criterion the description; labels that are not valid task names are
    renamed for the router and mapped back), cached per set of criteria. The state becomes the router's turn: a
    string or a message is the user's turn; a list of messages (or a mapping with ``messages``) is the conversation
    up to its latest user message; other JSON is read as the user's text. ``Choice.instructions`` are not read: the
    routers decide from the labels' descriptions.

    The answer's ``probabilities`` are the router's, over the labels (summing to 1): the ``learned`` router's whole
    distribution (:meth:`~task_router.routers.LearnedRouter.scored`); for other routers their decision's
    ``alternatives``, the probability they leave spread evenly over the labels they did not rank.

    "Nothing fits" is answered honestly. A label meaning it (:data:`NONE_LABELS`, e.g. ``other`` or
    ``none_of_the_above``) gets the router's probability of NONE and can be the choice. Without one, the choice is
    the most probable label and ``confidence`` is its probability *including* the chance that nothing fits, so it is
    below the top of ``probabilities`` (which are conditional on one label fitting) by that share: a threshold on
    ``confidence`` then still catches off-topic inputs. With a "nothing fits" label, ``confidence`` is the top
    probability.

    Args:
        router: a router (e.g. ``make_router("learned")``, the default) or a router kind for ``make_router``.
        model: the name reported to LangSmith (default: ``task-router:<the router's model>``).
        none_labels: labels that mean "nothing fits" (see above).

    Example:
        >>> from langchain_core.decisions import Choice
        >>> classifier = TaskRouterDecisionModel()  # doctest: +SKIP
        >>> question = Choice(instructions="Which team?", criteria={"billing": "Invoices and payments.",
        ...                   "technical": "Bugs and crashes.", "other": "Anything else."})
        >>> request = {"state": "The app crashes on start", "questions": {"team": question}}
        >>> answer = classifier.invoke(request)  # doctest: +SKIP
        >>> answer.choices["team"].choice  # doctest: +SKIP
        'technical'
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    router: Any = "learned"
    model: str = ""
    none_labels: tuple[str, ...] = Field(default=NONE_LABELS)
    # label_catalog memoised per instance, keyed by (criteria, none labels); thread-safe, like any functools cache
    _catalogs: Callable[[tuple[tuple[str, str], ...], tuple[str, ...]], _LabelCatalog] = PrivateAttr(
        default_factory=lambda: lru_cache(maxsize=_CACHED_CATALOGS)(label_catalog)
    )

    @model_validator(mode="after")
    def _build_router(self) -> TaskRouterDecisionModel:
        if isinstance(self.router, str):
            from task_router.routers import make_router

            self.router = make_router(self.router)
        if not callable(getattr(self.router, "invoke", None)):
            raise ValueError(
                f"router must be a task router (e.g. make_router('learned')) or a router kind, got "
                f"{type(self.router).__name__}"
            )
        if not self.model:
            self.model = f"task-router:{getattr(self.router, 'model_label', '') or type(self.router).__name__}"
        return self

    @property
    def _provider(self) -> str:
        return "task_router"

    # -- BaseDecisionModel ---------------------------------------------------------------------------------------
    def _classify(self, state: State, questions: dict[str, Question]) -> ClassifierResponse:
        answers: dict[str, Answer] = {}
        for question_id, question in questions.items():
            labels = self._catalog_of(question_id, question)
            turn = {"messages": state_messages(state), "catalog": labels.catalog}
            answers[question_id] = choice_answer(labels, self._weights(turn))
        return ClassifierResponse(model=self.model, answers=answers)

    async def _aclassify(self, state: State, questions: dict[str, Question]) -> ClassifierResponse:
        answers: dict[str, Answer] = {}
        for question_id, question in questions.items():
            labels = self._catalog_of(question_id, question)
            turn = {"messages": state_messages(state), "catalog": labels.catalog}
            answers[question_id] = choice_answer(labels, await self._aweights(turn))
        return ClassifierResponse(model=self.model, answers=answers)

    # -- the router's probabilities --------------------------------------------------------------------------------
    def _weights(self, turn: dict[str, Any]) -> list[_Weight]:
        scored = getattr(self.router, "scored", None)
        if callable(scored):  # the learned router: its whole distribution, not the top few alternatives
            from task_router._budget import DEFAULT, call_within, timeout_and_origin
            from task_router._router_input import coerce_input

            # within the time-out the router's invoke would have: the call's config key, else the router's own
            budget, origin = timeout_and_origin(ensure_config(), getattr(self.router, "timeout_s", DEFAULT))
            ranked = call_within(scored, coerce_input(turn), timeout=budget, origin=origin)
            return [(task, p) for task, _, p, _ in ranked]
        return decision_weights(self.router.invoke(turn))

    async def _aweights(self, turn: dict[str, Any]) -> list[_Weight]:
        scored = getattr(self.router, "scored", None)
        if callable(scored):
            from task_router._budget import DEFAULT, deadline, offload, timeout_and_origin
            from task_router._router_input import coerce_input

            budget, origin = timeout_and_origin(ensure_config(), getattr(self.router, "timeout_s", DEFAULT))
            async with deadline(budget, origin):  # the caller bounds an offloaded call (see offload)
                ranked = await offload(scored, coerce_input(turn))
            return [(task, p) for task, _, p, _ in ranked]
        return decision_weights(await self.router.ainvoke(turn))

    def _catalog_of(self, question_id: str, question: Question) -> _LabelCatalog:
        if not isinstance(question, Choice):
            raise ValueError(
                f"question {question_id!r} is a {type(question).__name__}: TaskRouterDecisionModel answers Choice "
                "questions only (labels -> descriptions); ask a Choice, or use another decision model for it"
            )
        criteria = tuple((label, _description(label, text)) for label, text in question.criteria.items())
        return self._catalogs(criteria, tuple(self.none_labels))


def label_catalog(criteria: Sequence[tuple[str, str]], none_labels: Sequence[str] = NONE_LABELS) -> _LabelCatalog:
    """The catalogue a ``Choice``'s (label, description) pairs are routed over: one task per label, except the labels
    that mean "nothing fits"; a label that is not a valid task name gets a valid, unique one.

    Example:
        >>> labels = label_catalog([("Billing team", "Invoices."), ("tech", "Bugs."), ("Other", "Anything else.")])
        >>> labels.catalog.names, labels.label_of["Billing_team"], labels.none_labels
        (['Billing_team', 'tech'], 'Billing team', ('Other',))
    """
    nothing = {_normal(label) for label in none_labels}
    none_found = tuple(label for label, _ in criteria if _normal(label) in nothing)
    task_labels = [(label, text) for label, text in criteria if _normal(label) not in nothing]
    if not task_labels:
        raise ValueError(
            f"every label of the Choice ({[label for label, _ in criteria]}) means 'nothing fits': add the labels "
            "to choose between, each with a description"
        )
    taken = {label.lower() for label, _ in task_labels if _valid_name(label)}
    label_of: dict[str, str] = {}
    tasks = []
    for label, text in task_labels:
        name = label if _valid_name(label) else _unique(_suggested_name(label)[:150], taken)
        label_of[name] = label
        tasks.append(Task(name=name, description=text))
    return _LabelCatalog(TaskCatalog(tasks), label_of, none_found, tuple(label for label, _ in criteria))


def choice_answer(labels: _LabelCatalog, weights: Sequence[_Weight]) -> ChoiceAnswer:
    """A ``ChoiceAnswer`` from a router's (task or None, probability) answers (see :class:`TaskRouterDecisionModel`
    for how "nothing fits" is reported).

    Example:
        >>> labels = label_catalog([("recap", "Recap a meeting."), ("email", "Write an email.")])
        >>> answer = choice_answer(labels, [("recap", 0.6), (None, 0.2), ("email", 0.2)])
        >>> answer.choice, {k: round(p, 2) for k, p in answer.probabilities.items()}, round(answer.confidence, 2)
        ('recap', {'recap': 0.75, 'email': 0.25}, 0.6)
    """
    mass = dict.fromkeys(labels.label_of.values(), 0.0)
    nothing = 0.0
    for task, p in weights:
        if task is None:
            nothing += p
        elif task in labels.label_of:
            mass[labels.label_of[task]] += p
    unranked = [label for label, p in mass.items() if p == 0.0]
    rest = 1.0 - sum(mass.values()) - nothing
    if rest > 1e-9 and unranked:  # a router that ranked only its best few answers: the rest spread evenly
        for label in unranked:
            mass[label] = rest / len(unranked)
    total = sum(mass.values()) + nothing
    if labels.none_labels:
        mass[labels.none_labels[0]] = nothing
        for label in labels.none_labels[1:]:
            mass[label] = 0.0
    mass = {label: mass.get(label, 0.0) for label in labels.labels}
    labelled = sum(mass.values())
    if labelled <= 0.0:  # the router gave nothing to any label
        probabilities = {label: 1.0 / len(mass) for label in mass}
    else:
        probabilities = {label: p / labelled for label, p in mass.items()}
    chosen = max(probabilities, key=probabilities.__getitem__)
    # Without a "nothing fits" label, the confidence includes the chance that nothing fits.
    confidence = probabilities[chosen] if labels.none_labels or total <= 0.0 else mass[chosen] / total
    return ChoiceAnswer(
        type="choice", choice=chosen, probabilities=probabilities, confidence=min(1.0, max(0.0, confidence))
    )


def decision_weights(decision: Any) -> list[_Weight]:
    """A RouteDecision's answers as (task or None, probability): its alternatives, or the decision itself (at its
    confidence, or 1 when the router gave none) when it has none."""
    if decision.alternatives:
        return [(alternative.task, alternative.probability) for alternative in decision.alternatives]
    task = decision.task if decision.event in ("START", "CONTINUE", "SWITCH") else None
    return [(task, 1.0 if decision.confidence is None else decision.confidence)]


def state_messages(state: State) -> list[BaseMessage | Mapping[str, Any] | str]:
    """The conversation a router reads for a decision model's state, ending with the user's latest message.

    Example:
        >>> [m.content for m in state_messages("Recap my meeting")]
        ['Recap my meeting']
        >>> turn = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "Hello! Which meeting?"}]
        >>> len(state_messages({"messages": turn}))
        1
    """
    if isinstance(state, str):
        return [HumanMessage(state)]
    if isinstance(state, BaseMessage):
        return [state if is_user_message(state) else HumanMessage(_text(state.content))]
    if isinstance(state, Mapping) and isinstance(conversation := state.get("messages"), Sequence):
        return state_messages(conversation)
    if isinstance(state, Sequence) and state and all(_is_message(item) for item in state):
        messages = cast("list[BaseMessage | Mapping[str, Any] | str]", list(state))  # all messages (checked above)
        last_user = max((i for i, m in enumerate(messages) if _is_user(m)), default=None)
        if last_user is None:
            raise ValueError(
                "the decision model's state has no user message: pass the text to classify, or messages that "
                "include the user's turn"
            )
        return messages[: last_user + 1]
    return [HumanMessage(_text(state))]


def _is_message(item: Any) -> bool:
    return isinstance(item, BaseMessage) or (isinstance(item, Mapping) and ("role" in item or "type" in item))


def _is_user(message: Any) -> bool:
    if isinstance(message, BaseMessage):
        return is_user_message(message)
    return message.get("role", message.get("type")) in ("user", "human")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _description(label: str, text: Any) -> str:
    """A label's criterion as a task description (its label when it has none)."""
    described = _text(text).strip() if text is not None else ""
    return clip(described or label.replace("_", " "), MAX_DESCRIPTION_CHARS)


def _normal(label: str) -> str:
    return "_".join(label.lower().replace("-", " ").split())


def _valid_name(label: str) -> bool:
    return bool(_NAME_RE.match(label)) and label.upper() != NONE_LABEL and len(label) <= 200


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate.lower() in taken or candidate.upper() == NONE_LABEL:
        candidate, n = f"{name}_{n}", n + 1
    taken.add(candidate.lower())
    return candidate


__all__ = ["NONE_LABELS", "TaskRouterDecisionModel", "choice_answer", "label_catalog", "state_messages"]
