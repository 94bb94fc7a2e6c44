"""Task subgraphs and the conversation state they share with the router graph: `TaskState`, `RouterState`.

The generic task subgraph collects the task's inputs over several turns, then produces the deliverable. The state
(:class:`TaskState`, what a task subgraph reads and writes, and :class:`RouterState`, the router graph's state,
which extends it) lives with the subgraph that reads it; :mod:`task_router._graph` and :mod:`task_router.middleware`
import it from here.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Annotated, Any, TypedDict

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableConfig
from langgraph.constants import TAG_NOSTREAM
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, Field, create_model

from task_router._catalog import Task, TaskCatalog, TaskInput
from task_router._clarify import request_asked_about
from task_router._prompting import load_prompt, message_text, render_conversation
from task_router._router_input import content_after_request, says_more_than_request, subject_of_request
from task_router.models._local import deliverable_model, strip_invented_turns
from task_router.routers._answering import bounded
from task_router.routers._chat_model import supports_structured_output
from task_router.routers._parsing import find_json_object


def merge_task_data(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Per-task progress: a task's entry is replaced by the update; an entry set to None is dropped."""
    merged = dict(left or {})
    for name, value in (right or {}).items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


#: Decisions kept whole (raw output, rationale, alternatives) at the end of a thread's ``decisions``: what the
#: graph, the middleware and a reviewer read (the last decision, a question's pending choices, a few turns of
#: history). Older ones keep every field but those texts, so a long thread's checkpoint grows by ~0.5 KB a turn
#: instead of up to ~40 KB (two 20,000-character texts).
FULL_DECISIONS = 20
_TEXT_FIELDS: dict[str, Any] = {"raw_output": "", "rationale": None, "alternatives": []}


def add_decisions(left: list[dict[str, Any]] | None, right: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The ``decisions`` reducer: one entry per user turn, appended, the last :data:`FULL_DECISIONS` whole and
    the ones that fall out of that window compacted (``raw_output``, ``rationale`` and ``alternatives`` emptied;
    event, task, confidence, latency, fallback, stage... kept, so every count and trajectory still holds).

    Example:
        >>> decisions = [{"event": "START", "task": "recap", "raw_output": "x" * 100, "rationale": "why"}]
        >>> for _ in range(FULL_DECISIONS):
        ...     decisions = add_decisions(decisions, [{"event": "CONTINUE", "task": "recap", "raw_output": "y"}])
        >>> len(decisions), decisions[0]["event"], decisions[0]["raw_output"], decisions[-1]["raw_output"]
        (21, 'START', '', 'y')
    """
    merged = [*(left or []), *(right or [])]
    leaving = range(max(0, len(merged) - FULL_DECISIONS - len(right or [])), max(0, len(merged) - FULL_DECISIONS))
    for index in leaving:  # only those that just left the window: the older ones were compacted when they did
        decision = merged[index]
        if any(decision.get(key) for key in _TEXT_FIELDS):
            merged[index] = {**decision, **{key: value for key, value in _TEXT_FIELDS.items() if key in decision}}
    return merged


class TaskState(TypedDict, total=False):
    """What a task subgraph reads and writes. Its reducers are idempotent, so a subgraph's final state can be
    merged back into the parent safely (an `operator.add` list here would be duplicated)."""

    messages: Annotated[list[AnyMessage], add_messages]
    active_task: str | None
    task_data: Annotated[dict[str, Any], merge_task_data]  # task name -> progress of its subgraph


class RouterState(TaskState, total=False):
    decisions: Annotated[list[dict[str, Any]], add_decisions]  # RouteDecision.model_dump() per user turn


logger = logging.getLogger("task_router")

# A description that is a clause ("who the email is for") reads after "tell me"; a noun phrase after "share".
_CLAUSE_START = re.compile(r"^(what|who|whom|whose|which|when|where|why|how|whether|if)\b", re.IGNORECASE)
_EMPTY_VALUES = {"", "null", "none", "n/a", "na", "unknown", "not given", "not provided", "-", "?"}
_WORD = re.compile(r"\w+")
_EXTRACT_MAX_NEW_TOKENS = 160
GROUNDED_SHARE = 0.6  # share of an extracted value's words that must appear in the user's message


def question_for(task: Task, missing: Sequence[TaskInput], template: dict[str, str]) -> str:
    """What the subgraph asks for the missing inputs: the input's own ``question`` if the catalogue gives one,
    else a sentence built around its description; several inputs are asked together, one line each."""
    if len(missing) == 1:
        item = missing[0]
        if item.question:
            return item.question
        description = item.description.strip().rstrip(".?!:;")
        key = "ask-clause" if _CLAUSE_START.match(description) else "ask-noun"
        return template[key].format(title=task.title, description=description).strip()
    items = "\n".join(f"- {item.question or item.description.strip().rstrip('.')}" for item in missing)
    return template["ask-several"].format(title=task.title, items=items).strip()


def given_in_request(task: Task, required: Sequence[TaskInput], text: str) -> tuple[dict[str, str], list[str]]:
    """The required inputs the message that starts a task already gives, without a model: (values, inputs covered by
    the first value). For models that cannot extract inputs reliably (the embedded one); checked on scripted requests
    by ``benchmarks/input_filling.py``.

    - one input missing: the content pasted after the request ("Recap this meeting: <notes>"), else the subject it
      names ("a LinkedIn post about our launch next week"), else the whole message if it carries details beyond
      the request (:func:`~task_router._router_input.says_more_than_request`);
    - several missing: a message that carries that much answers them all, as a reply to the question that asks for
      them together would (stored under the first, the others covered).

    Example:
        >>> email = Task(name="follow_up_email", description="Write a follow-up email after a call.",
        ...     inputs=[{"name": "recipient", "description": "who the email is for"},
        ...             {"name": "context", "description": "what was discussed and agreed"}])
        >>> given_in_request(email, email.inputs, "Write a follow-up email to Sarah after our call")
        ({}, [])
        >>> given_in_request(email, email.inputs, "Email Anna: she will pilot 3 seats from May, invoice in June")
        ({'recipient': 'Email Anna: she will pilot 3 seats from May, invoice in June'}, ['context'])
    """
    first, *others = required
    known = " ".join([task.name, task.title, task.description, *task.examples])
    carries = says_more_than_request(text, known)
    if not others:
        given = content_after_request(text) or subject_of_request(text) or (text.strip() if carries else None)
        return ({first.name: given} if given else {}), []
    if carries:
        return {first.name: text.strip()}, [item.name for item in others]
    return {}, []


def grounded(value: str, message: str, share: float = GROUNDED_SHARE) -> bool:
    """Whether most words of an extracted value are the user's own (a guard against values a model invents)."""
    words = [w.lower() for w in _WORD.findall(value)]
    if not words:
        return False
    said = {w.lower() for w in _WORD.findall(message)}
    return sum(w in said for w in words) / len(words) >= share


def _clean_extraction(raw: dict[str, Any], wanted: Sequence[TaskInput], message: str) -> dict[str, str]:
    """The extracted values worth keeping: strings the user actually wrote, one per wanted input."""
    names = {item.name.lower(): item.name for item in wanted}
    kept: dict[str, str] = {}
    for key, value in raw.items():
        name = names.get(str(key).strip().lower())
        if name is None or not isinstance(value, str | int | float) or isinstance(value, bool):
            continue
        text = " ".join(str(value).split())
        if text.lower().strip(".") in _EMPTY_VALUES or not grounded(text, message):
            continue
        kept[name] = text
    return kept


def _extraction_schema(task: Task, wanted: Sequence[TaskInput]) -> type[BaseModel]:
    fields: dict[str, Any] = {
        item.name: (str | None, Field(default=None, description=f"{item.description} (null if not given)"))
        for item in wanted
    }
    return create_model(f"{task.name.replace('.', '_')}_inputs", **fields)


class InputExtractor:
    """Fills the inputs a user's message already gives, with the chat model.

    Models with structured output (tool calling / JSON schema) answer a schema of optional strings; others answer
    JSON text, read leniently. Only values whose words are mostly the user's own are kept, so a model that invents
    or paraphrases freely fills nothing and the subgraph simply asks.
    """

    def __init__(self, model: BaseChatModel, template: dict[str, str]) -> None:
        self.model = model
        self.template = template
        self.structured = supports_structured_output(model)
        self._text_model = bounded(model, _EXTRACT_MAX_NEW_TOKENS)

    def __call__(self, task: Task, wanted: Sequence[TaskInput], message: str, config: RunnableConfig) -> dict[str, str]:
        if not wanted or not message.strip():
            return {}
        fields = "\n".join(f"- {item.name}: {item.description}" for item in wanted)
        prompt = self.template["extract"].format(title=task.title, fields=fields, message=" ".join(message.split()))
        messages = [("human", prompt.strip())]
        config = not_streamed(config)  # its JSON is not part of the conversation
        try:
            if self.structured:
                parsed = self.model.with_structured_output(_extraction_schema(task, wanted)).invoke(messages, config)
                raw = parsed.model_dump() if isinstance(parsed, BaseModel) else dict(parsed or {})
            else:
                reply = message_text(self._text_model.invoke(messages, config))
                raw = find_json_object(reply, keys=[item.name for item in wanted]) or {}
        except Exception as exc:  # extraction only saves the user a question: never let it break the turn
            logger.warning("input extraction for %s failed (%s); asking instead", task.name, type(exc).__name__)
            return {}
        return _clean_extraction(raw, wanted, message)


def not_streamed(config: RunnableConfig) -> RunnableConfig:
    """``config`` with LangGraph's ``nostream`` tag: model calls under it are left out of ``stream_mode="messages"``
    (they compute something - a decision, extracted inputs - rather than write a reply to the user)."""
    return {**config, "tags": [*(config.get("tags") or []), TAG_NOSTREAM]}


def _last_deliverable(messages: Sequence[Any], task: str) -> str | None:
    """The text of the task's latest deliverable in the conversation (its subgraph names its messages)."""
    for message in reversed(messages):
        if isinstance(message, AIMessage) and message.name == task:
            return message_text(message)
    return None


def _covered(data: dict[str, Any]) -> set[str]:
    """Inputs answered so far: with their own value, or inside the answer given for several questions at once."""
    return set(data.get("inputs") or {}) | set(data.get("covered") or [])


def _asked(data: dict[str, Any]) -> list[str]:
    asked = data.get("asked")
    if isinstance(asked, str):  # threads checkpointed before several inputs could be asked at once
        return [asked]
    return list(asked or [])


def task_gone_reply(name: str | None) -> str:
    """The reply of a turn routed to a task that has left the catalogue before it could answer.

    Example:
        >>> task_gone_reply("linkedin_post")
        "I can't go on with linkedin_post: it is no longer offered here. What else can I do for you?"
    """
    return f"I can't go on with {name or 'that task'}: it is no longer offered here. What else can I do for you?"


def create_task_graph(
    catalog: TaskCatalog, model: BaseChatModel, *, prompt: str = "task", extract_inputs: bool | None = None
) -> CompiledStateGraph:
    """A compiled subgraph that works on whichever catalogue task is active (``state["active_task"]``).

    Each turn it records the user's answer to what it asked last, fills the inputs the user's message already
    gives (``extract_inputs``), asks for the missing required inputs (all in one message, each with its catalogue
    ``question``), and once nothing is missing produces the deliverable with ``model`` (and revises it on later
    turns). Progress is kept per task in ``state["task_data"]``, so a task switched away from and back to resumes.

    Args:
        catalog: the tasks; the active one is looked up on every turn, so catalogue edits apply at once.
        model: the chat model that writes deliverables (and extracts inputs).
        prompt: the prompt file under ``prompts/`` (sections system, user, ask-clause, ask-noun, ask-several,
            extract, and optionally revise: the request on turns after the deliverable is written).
        extract_inputs: ask ``model`` which inputs the user's message already gives, so they are not asked for.
            None (default): only with models that do structured output (API models); the embedded 135M model
            was measured to answer with invented nested JSON, 4-5 s a turn, so local pipelines skip it.

    Returns:
        The compiled subgraph, to add as a node of a graph whose state extends :class:`TaskState`.
    """
    template = load_prompt(prompt, required=("system", "user", "ask-clause", "ask-noun", "ask-several", "extract"))
    writer = deliverable_model(model)
    use_extraction = supports_structured_output(model) if extract_inputs is None else extract_inputs
    extract = InputExtractor(model, template) if use_extraction else None
    write = ChatPromptTemplate.from_messages([("system", template["system"]), ("human", template["user"])])
    revise = ChatPromptTemplate.from_messages([("system", template["system"]), ("human", template.get("revise", ""))])

    def collect(state: TaskState, config: RunnableConfig) -> dict[str, Any]:
        task = catalog.get(state.get("active_task"))
        if task is None:  # removed from the catalogue since routing (or while a crashed turn waited): say so
            return {"messages": [AIMessage(task_gone_reply(state.get("active_task")))], "active_task": None}
        data = dict((state.get("task_data") or {}).get(task.name) or {})
        collected = dict(data.get("inputs") or {})
        covered = [name for name in data.get("covered") or [] if name not in collected]
        last = state["messages"][-1]
        text = message_text(last) if isinstance(last, HumanMessage) else ""
        # After "Do you mean A or B?" the answer picks this task, and the request asked about is what the user said to
        # it: its content fills the inputs ("Recap this: <notes>"), or answers the question this task had asked.
        asked_about = request_asked_about(state["messages"], task.name) if text else ""
        said = [message for message in (asked_about, text) if message]
        open_inputs = [i for i in task.inputs if i.name not in collected and i.name not in covered]
        if said and open_inputs and extract is not None and not data.get("delivered"):  # not on revision turns
            collected.update(extract(task, open_inputs, "\n".join(said), config))
        required = [i for i in open_inputs if i.required and i.name not in collected]
        if required and not _asked(data) and not data.get("delivered"):  # the message that starts the task
            for message in said:
                given, also = given_in_request(task, required, message)
                if given:
                    collected.update(given)
                    covered.extend(also)
                    break
        # What was asked and not extracted is answered by the whole message: stored once, under the first input.
        unanswered = [name for name in _asked(data) if name not in collected and name not in covered]
        if said and unanswered:
            collected[unanswered[0]] = "\n".join(said)
            covered.extend(unanswered[1:])
        data.update(inputs=collected, covered=covered)
        missing = [i for i in task.inputs if i.required and i.name not in _covered(data)]
        data["asked"] = [i.name for i in missing]
        update: dict[str, Any] = {"task_data": {task.name: data}}
        if missing:
            update["messages"] = [AIMessage(question_for(task, missing, template), name=task.name)]
        return update

    def route_after_collect(state: TaskState) -> str:
        task = catalog.get(state.get("active_task"))
        data = (state.get("task_data") or {}).get(task.name if task else "", {}) or {}
        return "produce" if task is not None and not _asked(data) else END

    def produce(state: TaskState, config: RunnableConfig) -> dict[str, Any]:
        active = state["active_task"]
        if active is None:  # route_after_collect comes here only with an active task
            raise ValueError("the task subgraph's produce step needs an active task")
        task = catalog[active]
        data = (state.get("task_data") or {}).get(task.name) or {}
        described = {item.name: item.description for item in task.inputs}
        lines = [f"- {described.get(k, k)}: {v}" for k, v in (data.get("inputs") or {}).items()]
        also = [described.get(name, name) for name in data.get("covered") or []]
        if also:
            lines.append(f"- (also given in the answers above: {'; '.join(also)})")
        values = {
            "title": task.title,
            "description": task.description,
            "instructions": task.instructions or "",
            "inputs": "\n".join(lines) or "- (none)",
            "conversation": render_conversation(state["messages"], window=6),
        }
        last = state["messages"][-1]
        draft = _last_deliverable(state["messages"], task.name) if data.get("delivered") else None
        revising = draft is not None and isinstance(last, HumanMessage) and "revise" in template
        # After "Do you mean A or B?" the request is what the user asked, not only the answer that picked this task.
        text = message_text(last) if isinstance(last, HumanMessage) else ""
        asked_about = request_asked_about(state["messages"], task.name) if text else ""
        request = "\n".join(message for message in (asked_about, text) if message)
        values.update(request=request, draft=draft or "")
        messages = (revise if revising else write).format_messages(**values)
        reply = writer.invoke(messages, config)
        # The reply keeps the id of the model's message: a caller streaming the graph's messages has shown it already.
        return {
            "messages": [AIMessage(strip_invented_turns(message_text(reply)), name=task.name, id=reply.id)],
            "task_data": {task.name: {**data, "delivered": True}},
        }

    builder = StateGraph(TaskState)
    builder.add_node("collect", collect)
    builder.add_node("produce", produce)
    builder.add_edge(START, "collect")
    builder.add_conditional_edges("collect", route_after_collect, ["produce", END])
    builder.add_edge("produce", END)
    return builder.compile(name="task")
