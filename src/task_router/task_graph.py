"""The generic task subgraph: collect the task's inputs over several turns, then produce the deliverable."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import Runnable, RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from task_router.catalog import Task, TaskCatalog
from task_router.models.local import pipeline_of
from task_router.routers.prompting import load_prompt
from task_router.routers.render import message_text, render_conversation
from task_router.state import TaskState


def _missing_input(task: Task, collected: dict[str, str]) -> Any:
    return next((i for i in task.inputs if i.required and i.name not in collected), None)


def _deliverable_model(model: BaseChatModel) -> Runnable[Any, Any]:
    """Local pipelines loop on small models under greedy decoding: penalise repetition when writing deliverables
    (only here: a router must be free to copy task names from its prompt)."""
    if pipeline_of(model) is not None:
        return model.bind(pipeline_kwargs={"repetition_penalty": 1.3, "max_new_tokens": 200})
    return model


def create_task_graph(catalog: TaskCatalog, model: BaseChatModel, *, prompt: str = "task") -> CompiledStateGraph:
    """A compiled subgraph that works on whichever catalogue task is active (``state["active_task"]``).

    Each turn it records the user's answer to the question it asked last, asks for the next missing required
    input, and once nothing is missing produces the deliverable with ``model`` (and revises it on later turns).
    Progress is kept per task in ``state["task_data"]``, so a task switched away from and back to resumes.
    """
    template = load_prompt(prompt)
    writer = _deliverable_model(model)

    def collect(state: TaskState) -> dict[str, Any]:
        task = catalog.get(state.get("active_task"))
        if task is None:  # removed from the catalogue since routing: nothing to do
            return {}
        data = dict((state.get("task_data") or {}).get(task.name) or {})
        collected = dict(data.get("inputs") or {})
        last = state["messages"][-1]
        if data.get("asked") and isinstance(last, HumanMessage):
            collected[data["asked"]] = message_text(last)
        missing = _missing_input(task, collected)
        data.update(inputs=collected, asked=missing.name if missing else None)
        update: dict[str, Any] = {"task_data": {task.name: data}}
        if missing is not None:
            question = template["ask"].format(title=task.title, question=f"what is {missing.description}?")
            update["messages"] = [AIMessage(question.strip(), name=task.name)]
        return update

    def route_after_collect(state: TaskState) -> str:
        task = catalog.get(state.get("active_task"))
        data = (state.get("task_data") or {}).get(task.name if task else "", {}) or {}
        return "produce" if task is not None and not data.get("asked") else END

    def produce(state: TaskState, config: RunnableConfig) -> dict[str, Any]:
        task = catalog[state["active_task"]]
        data = (state.get("task_data") or {}).get(task.name) or {}
        inputs = "\n".join(f"- {k}: {v}" for k, v in (data.get("inputs") or {}).items()) or "- (none)"
        values = {
            "title": task.title,
            "description": task.description,
            "instructions": task.instructions or "",
            "inputs": inputs,
            "conversation": render_conversation(state["messages"], window=6),
        }
        messages = [("system", template["system"].format(**values)), ("human", template["user"].format(**values))]
        reply = writer.invoke(messages, config)
        return {
            "messages": [AIMessage(message_text(reply), name=task.name)],
            "task_data": {task.name: {**data, "delivered": True}},
        }

    builder = StateGraph(TaskState)
    builder.add_node("collect", collect)
    builder.add_node("produce", produce)
    builder.add_edge(START, "collect")
    builder.add_conditional_edges("collect", route_after_collect, ["produce", END])
    builder.add_edge("produce", END)
    return builder.compile(name="task")
