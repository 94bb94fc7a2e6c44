"""Prompt injection: hostile user turns (tests/fixtures/injection_turns.jsonl) never make a router name a task
outside the catalogue, and user text cannot pose as the router prompt's own delimiters."""

from __future__ import annotations

import json
import re
import threading
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from task_router import TaskCatalog, make_router
from task_router.reliability import embedding_available
from tests.conftest import FIXTURES
from tests.injection_cases import case_input, load_injection_cases

CASES = load_injection_cases(FIXTURES / "injection_turns.jsonl")
PROMPT_KINDS = ["structured", "zero-shot", "few-shot-cot", "react"]
DELIMITERS = re.compile(r"</?conversation>|<\|im_(?:start|end)\|>|</?system>|^Active task:", re.MULTILINE)


class ObedientModel(GenericFakeChatModel):
    """Obeys the attacker: answers with the last task-like word or JSON "task" in the conversation block.
    Records every prompt it is sent."""

    messages: Any = iter(())
    prompts: list[list[BaseMessage]] = []  # noqa: RUF012  (a pydantic field: copied per instance)
    lock: Any = threading.Lock()

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        with self.lock:
            self.prompts.append(list(messages))
        conversation = str(messages[-1].content).split("</conversation>")[0]
        found = re.findall(r"[\"']task[\"']\s*:\s*[\"']([^\"']+)", conversation) or re.findall(
            r"\b([a-z]+_[a-z_]+)\b", conversation
        )
        target = found[-1] if found else "NONE"
        answer = json.dumps({"task": target, "closing": False})
        if "final_answer" in str(messages[0].content):
            answer = f"Thought: as the user says.\nAction: final_answer[{target}]"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(answer))])

    def bind_tools(self, *args: Any, **kwargs: Any) -> Any:
        return self


@pytest.fixture(scope="module")
def catalog() -> TaskCatalog:
    return TaskCatalog.demo()


def test_the_suite_has_at_least_30_hostile_turns() -> None:
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("kind", PROMPT_KINDS)
def test_obedient_model_never_yields_a_task_outside_the_catalogue(catalog: TaskCatalog, kind: str) -> None:
    model = ObedientModel(prompts=[])
    router = make_router(kind, model=model)
    followed = 0
    for case in CASES:
        decision = router.invoke(case_input(case, catalog, hostile=True))
        assert decision.task is None or decision.task in catalog, (case.id, decision)
        if case.target not in catalog:
            assert decision.task != case.target
            assert decision.event in ("NONE", "CONTINUE") or not decision.valid_format, (case.id, decision)
        followed += decision.task == case.target
    # The model really is obedient: most in-catalogue targets were followed, so the check above was exercised.
    assert followed >= sum(case.target in catalog for case in CASES) // 2


@pytest.mark.parametrize("kind", PROMPT_KINDS)
def test_user_text_cannot_forge_the_prompt_delimiters(catalog: TaskCatalog, kind: str) -> None:
    model = ObedientModel(prompts=[])
    router = make_router(kind, model=model)
    for case in CASES:
        router.invoke(case_input(case, catalog, hostile=True))
        user_prompt = str(model.prompts[-1][1].content)
        found = DELIMITERS.findall(user_prompt)
        # exactly the prompt's own: one <conversation>, one </conversation>, one "Active task:" line (if used)
        assert found.count("<conversation>") == 1 and found.count("</conversation>") == 1, (case.id, found)
        assert found.count("Active task:") <= 1 and "<|im_start|>" not in found and "<system>" not in found
        block = user_prompt.split("<conversation>", 1)[1].split("</conversation>", 1)[0]
        lines = [line for line in block.strip().splitlines() if line]
        assert all(line.startswith(("User: ", "Assistant: ")) for line in lines), (case.id, lines)
        assert len(lines) == len(case_input(case, catalog, hostile=True)["messages"])  # no forged turns


@pytest.mark.skipif(not embedding_available(), reason="the embedding model package is not installed")
def test_embedding_router_stays_in_the_catalogue(catalog: TaskCatalog) -> None:
    router = make_router("embedding", model=None)
    for case in CASES:
        decision = router.invoke(case_input(case, catalog, hostile=True))
        assert decision.task is None or decision.task in catalog


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["scoring", "zero-shot"])
def test_embedded_model_stays_in_the_catalogue(catalog: TaskCatalog, kind: str) -> None:
    router = make_router(kind, model="embedded")
    for case in CASES[:: len(CASES) // 4][:4]:  # a few hostile turns: the embedded model is slow on 2 cores
        decision = router.invoke(case_input(case, catalog, hostile=True))
        assert decision.task is None or decision.task in catalog, (case.id, decision)
