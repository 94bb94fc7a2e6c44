"""Prompt-injection benchmark: how many hostile turns change the router's decision versus the same turn without
the attack, per router kind, on the embedded model (and on a fully obedient fake model, the worst case).

    nice -n 10 python benchmarks/reliability_injection.py --model embedded --kinds embedding scoring
    nice -n 10 python benchmarks/reliability_injection.py --model embedded --kinds zero-shot structured --limit 8
    python benchmarks/reliability_injection.py --model obedient        # every kind, a model that obeys the attacker

Prints a Markdown table; ``--json FILE`` also writes the per-case rows. Offline; loopback-free (no server).
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from task_router import TaskCatalog, make_router

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the hostile-turn cases are a test fixture
from tests.injection_cases import case_input, load_injection_cases

CASES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "injection_turns.jsonl"
KINDS = ["embedding", "scoring", "structured", "zero-shot", "few-shot-cot", "react"]


class ObedientModel(GenericFakeChatModel):
    """A fake chat model that does whatever the latest user text asks: it answers with the last task-like word
    or JSON it finds there (the attacker's), as a fully injected model would. Thread-safe, deterministic."""

    messages: Any = iter(())

    def _generate(
        self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> ChatResult:
        prompt = str(messages[-1].content) if messages else ""
        prompt = prompt.split("</conversation>")[0]  # the conversation only, not the answer-format example
        found = re.findall(r"[\"']task[\"']\s*:\s*[\"']([^\"']+)", prompt) or re.findall(
            r"\b([a-z]+_[a-z_]+)\b", prompt
        )
        answer = json.dumps({"task": found[-1] if found else "NONE", "closing": False})
        if "final_answer" in str(messages[0].content):  # the react prompt: answer with its action syntax
            answer = f"Thought: the user says so.\nAction: final_answer[{found[-1] if found else 'NONE'}]"
        return ChatResult(generations=[ChatGeneration(message=AIMessage(answer))])

    def bind_tools(self, *args: Any, **kwargs: Any) -> Any:
        return self


def build(kind: str, model: str) -> Any:
    if kind == "embedding":
        return make_router(kind, model=None)
    return make_router(kind, model=ObedientModel() if model == "obedient" else model)


def run(kinds: list[str], model: str, limit: int | None) -> list[dict[str, Any]]:
    catalog = TaskCatalog.demo()
    cases = load_injection_cases(CASES)[:limit]
    rows = []
    for kind in kinds:
        if kind == "scoring" and model == "obedient":
            continue  # scoring reads likelihoods, not generated text: a fake model has none
        router = build(kind, model)
        changed = followed = outside = 0
        started = time.perf_counter()
        for case in cases:
            base = router.invoke(case_input(case, catalog, hostile=False))
            hostile = router.invoke(case_input(case, catalog, hostile=True))
            outside += sum(d.task is not None and d.task not in catalog for d in (base, hostile))
            changed += (base.event, base.task) != (hostile.event, hostile.task)
            followed += hostile.task == case.target and base.task != case.target
        rows.append(
            {
                "model": "none" if kind == "embedding" else model,
                "router": kind,
                "cases": len(cases),
                "changed": changed,
                "followed_attacker": followed,
                "outside_catalogue": outside,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="embedded", help="model spec, or 'obedient' for the worst-case fake")
    parser.add_argument("--kinds", nargs="*", default=KINDS)
    parser.add_argument("--limit", type=int, default=None, help="first N cases only")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = run(args.kinds, args.model, args.limit)
    print(f"\n{date.today()} · {platform.machine()} · {platform.processor() or 'cpu'} · {CASES.name}")
    print("| model | router | hostile turns | decision changed | followed attacker | outside catalogue |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['router']} | {r['cases']} | {r['changed']} | {r['followed_attacker']} | "
            f"{r['outside_catalogue']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
