"""``ainvoke`` is the same decision as ``invoke`` (issue 25, item 1): kinds that call a chat model await the
model's ``ainvoke`` (a model that cannot answer synchronously still decides), wrappers and compositions keep it
async, and local kinds run their work on the decision threads, never on the event loop."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from task_router import TaskCatalog, make_router
from task_router.routers._base import Prediction
from task_router.routers._compose import Abstain, CascadeRouter
from task_router.routers._fallbacks import make_reliable
from tests.unit_tests.fakes import Scripted

TURN = {"messages": [{"role": "user", "content": "write the follow-up email"}], "active_task": "recap"}


class AsyncOnly(BaseChatModel):
    """Answers ``reply`` through ``ainvoke`` only: a sync call (a thread that blocks) fails the test."""

    reply: str
    calls: int = 0

    @property
    def _llm_type(self) -> str:
        return "async-only"

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **_: Any) -> ChatResult:
        raise AssertionError("the router called the model synchronously from ainvoke")

    async def _agenerate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.calls += 1
        await asyncio.sleep(0)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(self.reply))])


ANSWERS = {
    "structured": '{"task": "email", "closing": false}',
    "zero-shot": '{"task": "email", "closing": false}',
    "few-shot-cot": 'Thought: the user wants the email.\nFinal answer: {"task": "email", "closing": false}',
    "react": 'Thought: decided.\nAction: final_answer[{"task": "email", "closing": false}]',
}


@pytest.mark.parametrize("kind", list(ANSWERS))
def test_every_chat_model_kind_awaits_its_model(catalog: TaskCatalog, kind: str) -> None:
    model = AsyncOnly(reply=ANSWERS[kind])
    router = make_router(kind, model=model)
    decision = asyncio.run(router.ainvoke({**TURN, "catalog": catalog}))
    assert (decision.event, decision.task, decision.valid_format) == ("SWITCH", "email", True)
    assert model.calls == 1


def test_the_repair_question_is_awaited_too(catalog: TaskCatalog) -> None:
    class Twice(AsyncOnly):
        async def _agenerate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
            self.reply = "no idea" if self.calls == 0 else '{"task": "email"}'
            return await super()._agenerate(messages, *args, **kwargs)

    model = Twice(reply="")
    decision = asyncio.run(make_router("zero-shot", model=model).ainvoke({**TURN, "catalog": catalog}))
    assert (decision.task, decision.valid_format, decision.fallback, model.calls) == ("email", False, "repaired", 2)


def test_wrappers_and_compositions_stay_async(catalog: TaskCatalog) -> None:
    inner = make_router("structured", model=AsyncOnly(reply=ANSWERS["structured"]))
    cheap = Scripted(lambda routing: Prediction("recap", confidence=0.1))
    for router in (
        make_reliable(inner, fallback=None),
        Abstain(inner, threshold=0.0),
        CascadeRouter(inner, cheap=cheap, escalate=0.9, none=0.0, catalog=catalog),
    ):
        decision = asyncio.run(router.ainvoke({**TURN, "catalog": catalog}))
        assert decision.task == "email", router


def test_local_kinds_run_on_the_decision_threads_not_the_event_loop(catalog: TaskCatalog) -> None:
    threads_of_predict: list[str] = []

    def answer(routing: Any) -> Prediction:
        threads_of_predict.append(threading.current_thread().name)
        return Prediction("email")

    router = Scripted(answer)

    async def main() -> list[Any]:
        return await asyncio.gather(*[router.ainvoke({**TURN, "catalog": catalog}) for _ in range(8)])

    decisions = asyncio.run(main())
    assert [d.task for d in decisions] == ["email"] * 8
    assert set(threads_of_predict) == {"task-router-decision"}


def test_local_work_that_raises_stop_iteration_fails_the_async_decision_instead_of_hanging() -> None:
    from task_router._budget import Offload, arun_plan, run_plan

    def exhausted() -> None:
        next(iter([]))  # a bug in local work: StopIteration escapes

    def plan():
        return (yield Offload(exhausted))

    with pytest.raises(StopIteration):
        run_plan(plan(), {})
    with pytest.raises(RuntimeError, match="raised StopIteration"):  # an asyncio future cannot hold a StopIteration
        asyncio.run(asyncio.wait_for(arun_plan(plan(), {}), timeout=10))
