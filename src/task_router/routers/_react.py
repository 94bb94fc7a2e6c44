"""The `react` router: Thought / Action / Observation steps over a small action set, ending in a decision."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, ClassVar

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from task_router._budget import ModelCall, Plan
from task_router._catalog import NONE_LABEL, TaskCatalog
from task_router._prompting import clip
from task_router._router_input import RoutingInput
from task_router.models import ModelSpec
from task_router.routers._answering import add_logprob_confidence, reply_text
from task_router.routers._base import Prediction, safe_fallback
from task_router.routers._chat_model import ChatModelRouter
from task_router.routers._parsing import DONE_LABEL, OutputParseError, ParsedAnswer, parse_answer, resolve_choice

ACTIONS = ("list_tasks", "task_details", "final_answer")
# A step is read from its first MAX_STEP_CHARS characters (the first action is the one that counts): a model that
# rambles for 200,000 characters costs no more than this. The patterns stay within one line ([^\w\n]* rather than
# \W*, which crosses newlines) and bound the action name, so no input makes them backtrack quadratically.
MAX_STEP_CHARS = 8000
_LEAD = r"^[^\w\n]*"
_ACTION = re.compile(_LEAD + r"action[ \t]*:\s*`*([A-Za-z_ ]{1,40}?)`*[ \t]*(?:[\[(:]|$)", re.I | re.M)
_ACTION_INPUT = re.compile(_LEAD + r"action[ \t]+input[ \t]*:[ \t]*(.+)$", re.IGNORECASE | re.MULTILINE)
_FINAL = re.compile(_LEAD + r"final[ \t]+answer[ \t]*:\s*(.+)", re.IGNORECASE | re.MULTILINE | re.DOTALL)
_OBSERVATION = re.compile(_LEAD + r"observation[ \t]*:", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Step:
    """One parsed model step: a tool action with its argument, or the final answer."""

    action: str
    argument: str = ""
    answer: ParsedAnswer | None = None


def parse_step(text: str, catalog: TaskCatalog) -> Step:
    """Read the first action of a ReAct step. Raises OutputParseError naming what to write instead.

    Accepted: ``Action: name[arg]`` (also ``name(arg)``, ``name: arg``, or a following ``Action Input:`` line)
    and the classic ``Final Answer: ...``. A final answer's argument is read like any router answer (JSON or a
    task name).

    Example:
        >>> catalog = TaskCatalog([{"name": "recap", "description": "Recap a meeting."}])
        >>> parse_step('Thought: easy.\\nAction: final_answer[{"task": "recap", "closing": false}]', catalog).answer
        ParsedAnswer(task='recap', closing=False, rationale=None)
    """
    text = own_text(text)
    match = _ACTION.search(text)
    if match is None:
        final = _FINAL.search(text)
        if final is not None:
            return Step("final_answer", final.group(1).strip(), parse_answer(final.group(1), catalog))
        raise OutputParseError(f"no 'Action:' line found; use one of {', '.join(a + '[...]' for a in ACTIONS)}")
    action = re.sub(r"\s+", "_", match.group(1).strip().lower())
    if action not in ACTIONS:
        raise OutputParseError(f"unknown action {match.group(1)!r}; use one of {', '.join(ACTIONS)}")
    argument = _argument(text[match.end() - 1 :])
    if not argument:
        given = _ACTION_INPUT.search(text, match.end())
        argument = given.group(1).strip() if given else ""
    if action != "final_answer":
        return Step(action, argument)
    if not argument:
        raise OutputParseError('final_answer needs the decision: final_answer[{"task": "<name or NONE>", ...}]')
    return Step(action, argument, parse_answer(argument, catalog))


def own_text(text: str) -> str:
    """The model's step (its first :data:`MAX_STEP_CHARS` characters) up to any Observation it made up itself
    (observations come only from the tools)."""
    text = (text or "")[:MAX_STEP_CHARS]
    match = _OBSERVATION.search(text)
    return (text[: match.start()] if match else text).strip()


def _argument(rest: str) -> str:
    """The argument after an action name: inside [...] or (...) (up to the last closing bracket), or after ':'."""
    rest = rest.strip()
    if rest[:1] in "[(":
        close = "]" if rest[0] == "[" else ")"
        end = rest.rfind(close)
        return (rest[1:end] if end > 0 else rest[1:]).strip()
    if rest[:1] == ":":
        return rest[1:].strip().splitlines()[0].strip() if rest[1:].strip() else ""
    return ""


class ReActRouter(ChatModelRouter):
    """ReAct over the catalogue: the model thinks, looks tasks up (``list_tasks[]``, ``task_details[name]``) and
    ends with ``final_answer[{"task": ..., "closing": ...}]`` within ``max_steps`` model calls (the task a name,
    NONE for "nothing fits", which keeps an active task, or DONE for "the user is done").

    A step that cannot be read gets one corrective observation (the repair; the decision then counts as
    ``valid_format=False``); a second unreadable step, or running out of steps, gives the safe fallback (keep the
    active task, or NONE). The rationale is the Thought / Action / Observation trace.

    Example:
        >>> from task_router import TaskCatalog, make_router
        >>> router = make_router("react", model="embedded", catalog=TaskCatalog.demo())  # doctest: +SKIP
        >>> decision = router.invoke({"messages": [{"role": "user", "content": "Recap my meeting"}]})  # doctest: +SKIP
        >>> print(decision.rationale)  # doctest: +SKIP
    """

    kind: ClassVar[str] = "react"
    default_prompt: ClassVar[str] = "react"
    template_variables: ClassVar[tuple[str, ...]] = ("task_names",)
    default_max_new_tokens: ClassVar[int] = 96

    def __init__(self, model: ModelSpec, *, max_steps: int = 4, **options: Any) -> None:
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1 (got {max_steps}): the final answer needs one step")
        super().__init__(model, **options)
        self.require_sections({"observation", "last_step", "repair"}, "that the ReAct loop needs")
        self.max_steps = max_steps

    def plan(self, routing: RoutingInput, config: RunnableConfig) -> Plan[Prediction]:
        names = ", ".join([*routing.catalog.names, NONE_LABEL, DONE_LABEL])
        messages: list[BaseMessage] = self.messages(routing, task_names=names)
        outputs: list[str] = []
        trace: list[str] = []
        repaired = False
        for step_index in range(self.max_steps):
            message = yield ModelCall(self._text_model, messages)
            raw = reply_text(message)
            outputs.append(raw)
            text = own_text(raw)
            trace.append(text)
            try:
                step = parse_step(text, routing.catalog)
            except OutputParseError as error:
                if repaired:
                    reason = f"unreadable ReAct step after one repair: {error}"
                    return replace(safe_fallback(routing, _joined(outputs), reason), rationale="\n".join(trace))
                repaired = True
                reply = self.prompt["repair"].format(error=error)
            else:
                if step.answer is not None:
                    prediction = Prediction(
                        step.answer.task,
                        step.answer.closing,
                        rationale="\n".join(trace),
                        raw_output=_joined(outputs),
                        valid_format=not repaired,
                        fallback="repaired" if repaired else None,
                    )
                    return add_logprob_confidence(prediction, message, routing.catalog)
                observation = self.observe(step, routing.catalog)
                section = "last_step" if step_index == self.max_steps - 2 else "observation"
                reply = self.prompt[section].format(observation=observation)
            trace.append(reply.strip())
            messages = [*messages, AIMessage(text), HumanMessage(reply.strip())]
        reason = f"no final_answer within {self.max_steps} steps"
        return replace(safe_fallback(routing, _joined(outputs), reason), rationale="\n".join(trace))

    def observe(self, step: Step, catalog: TaskCatalog) -> str:
        """Run a lookup action; unknown task names get the list of names back instead of an error."""
        if step.action == "list_tasks":
            return "\n" + "\n".join(f"- {t.name}: {clip(t.description, 120)}" for t in catalog)
        try:
            name, done = resolve_choice(step.argument, catalog)
        except OutputParseError:
            return f"there is no task {clip(step.argument, 60)!r}. Task names: {', '.join(catalog.names)}"
        if name is None and done:
            return f"{DONE_LABEL} means that the user is done with the active task: it is closed."
        if name is None:
            return (
                f"{NONE_LABEL} means that no task fits the user's request. An active task stays active: the "
                "assistant says it cannot help with that request, then goes on with the task."
            )
        task = catalog[name]
        lines = [f"{task.name} ({task.title}): {clip(task.description, 400)}"]
        if task.examples:
            lines.append("Example requests: " + "; ".join(f'"{clip(e, 80)}"' for e in task.examples[:3]))
        if task.inputs:
            lines.append("It asks the user for: " + ", ".join(i.name for i in task.inputs))
        return "\n".join(lines)


def _joined(outputs: list[str]) -> str:
    return "\n--- step ---\n".join(outputs)
