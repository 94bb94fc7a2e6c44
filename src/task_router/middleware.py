"""`TaskRouterMiddleware`: per-turn task routing for LangChain 1.x agents (`create_agent`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Annotated, Any, NotRequired

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langchain_core.messages import AIMessage, SystemMessage, ToolMessage
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.tools import tool as as_tool
from langgraph.config import get_config
from langgraph.runtime import Runtime

from task_router._catalog import TaskCatalog
from task_router._clarify import clarify_question, close_tasks, live_choices, pending_question, with_question
from task_router._decision import RouteDecision
from task_router._router_input import is_user_message, off_topic_reply
from task_router._task_graph import add_decisions
from task_router.models import ModelSpec
from task_router.routers import Router, make_router
from task_router.routers._fallbacks import make_reliable, timed

DEFAULT_TASK_PROMPT = """{base_prompt}

You are now doing this task: {title}.
{description}
{instructions}"""
DEFAULT_NONE_PROMPT = """{base_prompt}

The user's request does not match any task you can do. Say so in one sentence, then offer what you can do:
{catalog}"""
DEFAULT_DIGRESSION_PROMPT = """{base_prompt}

You are doing this task with the user: {title}.
{description}
The user's latest request is off topic: you cannot help with it here. Say so briefly, in one sentence, then offer
to go on with the task "{title}"."""
DEFAULT_CLARIFY_PROMPT = """{base_prompt}

The user's latest message could mean more than one task. Do not start any of them yet.
Ask the user, in one short question, which of these they mean (for example: "{question}"):
{choices}"""
DEFAULT_END_PROMPT = """{base_prompt}

The task "{title}" is now closed. If the user is wrapping up, acknowledge it briefly and ask if they need anything
else. If they asked for something else, say you cannot do it here and offer what you can do:
{catalog}"""


class TaskRouterState(AgentState[Any]):
    """Agent state with the router's keys (the same names as :class:`task_router.RouterState`)."""

    active_task: NotRequired[str | None]
    decisions: NotRequired[Annotated[list[dict[str, Any]], add_decisions]]  # RouteDecision.model_dump() per turn


ToolLike = BaseTool | Callable[..., Any]


class TaskRouterMiddleware(AgentMiddleware[TaskRouterState, Any, Any]):
    """Route every user turn to a catalogue task, and give the agent that task's prompt and tools.

    Once per user turn, before the agent runs (``before_agent``), the router decides (START / CONTINUE / SWITCH /
    END / NONE); the active task and the decision history are kept in the agent state (``active_task``,
    ``decisions``). Every model call of the turn (the tool loop) uses that decision. On each model call:

    - a task is active: the system prompt becomes the task's (title, description, instructions, after your own
      ``system_prompt``) and the model sees only the tools the task declares (``Task.tools``) plus ``shared_tools``;
    - nothing fits (NONE) and no task is active: the prompt tells the model to say so and offer the catalogue,
      with only ``shared_tools``;
    - an off-topic request while a task is active (NONE, a digression): the task stays active; the prompt tells the
      model to say briefly that it cannot help with that here and to offer to go on with the task (named), with
      only ``shared_tools``; the next on-topic turn gets the task's prompt again;
    - the decision asks to clarify (``RouteDecision.clarify``: tasks too close to tell apart): the prompt tells the
      model to ask the user, in one short question, which of them they mean, with only ``shared_tools``; the
      active task stays as it was, and the user's answer is acted on (never asked about again);
    - the user just ended a task (END): the prompt asks the model to close it and offer more help.

    A tool call outside the active task's tools is refused with an error ToolMessage instead of being run.

    Args:
        catalog: the tasks; may be edited while the agent runs.
        router: a Router, a router kind or None (the model's best kind), composed with
            :func:`~task_router.reliability.make_reliable`'s default (retries, then the embedding router, then
            keep the active task). Any other Runnable from the router input to a RouteDecision is used as it is:
            your own ``make_reliable(router, retries=..., fallback=...)`` or
            ``router.with_retry().with_fallbacks([...])``; ``make_reliable(router, retries=0, fallback=None)``
            neither retries nor asks another router; any Runnable around the router (``router.with_config()``)
            lets its errors reach the agent.
        model: the model spec or chat model a router given by kind uses (not the agent's model).
        tools_by_name: tools the tasks declare, registered with the agent by this middleware (tools passed to
            ``create_agent(tools=...)`` work too); a list of tools or a mapping name -> tool.
        shared_tools: names of tools available whatever the task.
        task_prompt, none_prompt, end_prompt, digression_prompt, clarify_prompt: system prompt templates
            (placeholders ``{base_prompt}``, ``{title}``, ``{description}``, ``{instructions}``, ``{catalog}``; for
            ``clarify_prompt`` also ``{choices}``, one line per close task, and ``{question}``, a suggested
            question).
        clarify_margin: mark decisions whose two most probable tasks are closer than this probability gap as
            needing a question (:func:`task_router._clarify.close_tasks`), for routers that do not mark them
            themselves; None: only the router's own ``clarify``.

    Example:
        >>> from langchain.agents import create_agent
        >>> from task_router import TaskCatalog, TaskRouterMiddleware
        >>> agent = create_agent(
        ...     model, tools=[], middleware=[TaskRouterMiddleware(TaskCatalog.demo(), router="embedding")]
        ... )  # doctest: +SKIP
        >>> state = agent.invoke({"messages": [("user", "Recap this morning's meeting")]})  # doctest: +SKIP
        >>> state["active_task"], state["decisions"][-1]["event"]  # doctest: +SKIP
        ('meeting_recap', 'START')
    """

    state_schema = TaskRouterState

    def __init__(
        self,
        catalog: TaskCatalog,
        *,
        router: Runnable[dict[str, Any], RouteDecision] | str | None = None,
        model: ModelSpec | None = "embedded",
        tools_by_name: Mapping[str, ToolLike] | Sequence[ToolLike] | None = None,
        shared_tools: Sequence[str] = (),
        task_prompt: str = DEFAULT_TASK_PROMPT,
        none_prompt: str = DEFAULT_NONE_PROMPT,
        end_prompt: str = DEFAULT_END_PROMPT,
        digression_prompt: str = DEFAULT_DIGRESSION_PROMPT,
        clarify_prompt: str = DEFAULT_CLARIFY_PROMPT,
        clarify_margin: float | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(catalog, TaskCatalog):
            raise ValueError("catalog must be a TaskCatalog: build one with TaskCatalog([...]) or .from_file()")
        if router is not None and not isinstance(router, Runnable | str):
            raise ValueError(
                f"router must be a Router, a router kind, None or a Runnable composing a router, got {type(router)}"
            )
        self.catalog = catalog
        if router is None or isinstance(router, str):
            router = make_router(router, model=model)
        # A composition counts its whole time and its decisions come held to the contract (TimedComposition).
        self.router: Runnable[dict[str, Any], RouteDecision] = timed(
            make_reliable(router) if isinstance(router, Router) else router
        )
        self.tools = _coerce_tools(tools_by_name)
        self.shared_tools = frozenset(shared_tools)
        self.task_prompt, self.none_prompt, self.end_prompt = task_prompt, none_prompt, end_prompt
        self.digression_prompt, self.clarify_prompt = digression_prompt, clarify_prompt
        close_tasks([], clarify_margin)  # a bad margin fails here, naming the fix
        self.clarify_margin = clarify_margin

    # -- routing, once per user turn ---------------------------------------------------------------------
    def _routing_input(self, state: TaskRouterState) -> dict[str, Any] | None:
        messages = state.get("messages") or []
        if not messages or not is_user_message(messages[-1]):
            return None  # the agent runs on without a new user turn: the last decision stands
        return {"messages": list(messages), "active_task": state.get("active_task"), "catalog": self.catalog}

    def _update(self, state: TaskRouterState, routing: dict[str, Any], decision: RouteDecision) -> dict[str, Any]:
        decision = with_question(
            decision, pending_question(state.get("decisions") or []), self.clarify_margin, self.catalog
        )
        # A question (with_question kept only live tasks to ask between) changes nothing yet: the task active before
        # the turn stays (the user's answer, routed at the next turn, picks the task). Otherwise the decision says (a
        # digression keeps the active task).
        active = routing["active_task"] if decision.clarify else decision.active_task_after
        return {"active_task": active, "decisions": [decision.model_dump()]}

    def before_agent(self, state: TaskRouterState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        routing = self._routing_input(state)
        if routing is None:
            return None
        return self._update(state, routing, self.router.invoke(routing, get_config()))

    async def abefore_agent(self, state: TaskRouterState, runtime: Runtime[Any]) -> dict[str, Any] | None:
        routing = self._routing_input(state)
        if routing is None:
            return None
        return self._update(state, routing, await self.router.ainvoke(routing, get_config()))

    # -- prompt and tools of the active task -------------------------------------------------------------
    def _turn(self, state: Mapping[str, Any]) -> tuple[str, Any]:
        """What the current turn is: ("clarify", close task names), ("digression", task), ("task", task),
        ("none", None), ("end", closed task) or ("base", None) (no decision yet)."""
        decisions = state.get("decisions") or []
        decision = decisions[-1] if decisions else {}
        task = self.catalog.get(state.get("active_task"))
        choices = live_choices(decision.get("clarify"), self.catalog)
        if choices:
            return "clarify", choices
        if decision.get("event") == "NONE" and task is not None:
            return "digression", task
        if task is not None:
            return "task", task
        if decision.get("event") == "NONE":
            return "none", None
        if decision.get("event") == "END" and (closed := self.catalog.get(decision.get("task"))) is not None:
            return "end", closed
        return "base", None

    def allowed_tools(self, state: Mapping[str, Any]) -> frozenset[str]:
        """Names of the tools the model may use now: the active task's and ``shared_tools``; only ``shared_tools``
        on a turn off topic or asking the user to choose between tasks."""
        mode, task = self._turn(state)
        return self.shared_tools | frozenset(task.tools if mode == "task" else ())

    def system_prompt(self, state: Mapping[str, Any], base_prompt: str | None) -> str | None:
        """The system prompt for the current turn (None: keep the agent's own)."""
        mode, subject = self._turn(state)
        if mode == "base":
            return base_prompt
        values = {"base_prompt": base_prompt or "", "catalog": _catalog_lines(self.catalog)}
        if mode == "clarify":
            tasks = [self.catalog[name] for name in subject]
            values["choices"] = "\n".join(f"- {task.title}: {task.description}" for task in tasks)
            values["question"] = clarify_question(subject, self.catalog)
        elif subject is not None:
            values.update(title=subject.title, description=subject.description, instructions=subject.instructions or "")
        template = {
            "clarify": self.clarify_prompt,
            "digression": self.digression_prompt,
            "task": self.task_prompt,
            "none": self.none_prompt,
            "end": self.end_prompt,
        }[mode]
        return _tidy(template.format_map(_Blank(values)))

    def _request(self, request: ModelRequest) -> ModelRequest:
        state: Mapping[str, Any] = request.state  # the agent's state, with this middleware's keys
        allowed = self.allowed_tools(state)
        available = {_tool_name(t): t for t in request.tools}
        task = self.catalog.get(state.get("active_task"))
        missing = sorted(name for name in allowed if name not in available)
        if missing:
            owner = f"task {task.name!r}" if task and set(missing) & set(task.tools) else "shared_tools"
            raise ValueError(
                f"{owner} names tools the agent does not have: {missing}; pass them to "
                f"create_agent(tools=...) or TaskRouterMiddleware(tools_by_name=...) (agent tools: {sorted(available)})"
            )
        prompt = self.system_prompt(state, request.system_prompt)
        return request.override(
            tools=[t for name, t in available.items() if name in allowed],
            system_message=SystemMessage(prompt) if prompt else None,
        )

    def _marked(self, request: ModelRequest, response: ModelResponse | AIMessage) -> ModelResponse | AIMessage:
        """The model's reply, marked as the answer to an off-topic request on a digression turn, or on a turn off
        topic while a question between close tasks waits for its answer (so that the router reads the user's next
        turn with what was asked before it); a tool call is not the reply."""
        state: Mapping[str, Any] = request.state
        mode = self._turn(state)[0]
        if mode != "digression" and not (mode == "none" and pending_question(state.get("decisions") or [])):
            return response
        if isinstance(response, AIMessage):
            return response if response.tool_calls else off_topic_reply(response)
        result = [m if not isinstance(m, AIMessage) or m.tool_calls else off_topic_reply(m) for m in response.result]
        return ModelResponse(result=result, structured_response=response.structured_response)

    def wrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], ModelResponse]
    ) -> ModelResponse | AIMessage:
        return self._marked(request, handler(self._request(request)))

    async def awrap_model_call(
        self, request: ModelRequest, handler: Callable[[ModelRequest], Awaitable[ModelResponse]]
    ) -> ModelResponse | AIMessage:
        return self._marked(request, await handler(self._request(request)))

    # -- tool calls outside the active task are refused ---------------------------------------------------
    def _refusal(self, request: Any) -> ToolMessage | None:
        call = request.tool_call
        allowed = self.allowed_tools(request.state or {})
        if call["name"] in allowed:
            return None
        return ToolMessage(
            f"Tool {call['name']!r} is not available for the current task; available: {sorted(allowed) or 'none'}.",
            tool_call_id=call["id"],
            name=call["name"],
            status="error",
        )

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return self._refusal(request) or handler(request)

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        return self._refusal(request) or await handler(request)


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip()


def _catalog_lines(catalog: TaskCatalog) -> str:
    return "\n".join(f"- {task.title}: {task.description}" for task in catalog)


def _tool_name(tool: BaseTool | dict[str, Any]) -> str:
    if isinstance(tool, BaseTool):
        return tool.name
    return str(tool.get("name") or (tool.get("function") or {}).get("name") or "")


def _coerce_tools(tools: Mapping[str, ToolLike] | Sequence[ToolLike] | None) -> list[BaseTool]:
    if tools is None:
        return []
    items = list(tools.items()) if isinstance(tools, Mapping) else [(None, t) for t in tools]
    out: list[BaseTool] = []
    for name, value in items:
        converted = value if isinstance(value, BaseTool) else as_tool(value)
        if name is not None and converted.name != name:
            raise ValueError(
                f"tools_by_name[{name!r}] is a tool named {converted.name!r}: use the tool's own name as the key "
                "(it is the name Task.tools refers to)"
            )
        out.append(converted)
    return out


__all__ = [
    "DEFAULT_CLARIFY_PROMPT",
    "DEFAULT_DIGRESSION_PROMPT",
    "DEFAULT_END_PROMPT",
    "DEFAULT_NONE_PROMPT",
    "DEFAULT_TASK_PROMPT",
    "TaskRouterMiddleware",
    "TaskRouterState",
]
