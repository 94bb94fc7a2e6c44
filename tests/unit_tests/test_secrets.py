"""API keys never appear in decisions, logs, exception messages or eval reports (OpenAI path, local server)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from task_router import TaskCatalog, make_router
from task_router.evaluation import evaluate_router, parse_records
from task_router.reliability import KEEP_ACTIVE, make_reliable
from task_router.routers._base import redact
from tests.fault_server import FaultServer

KEY = "sk-proj-FAKEtestKEY0123456789abcdefXYZ"
TURN = {"messages": [{"role": "user", "content": "write a linkedin post"}]}


@pytest.fixture(autouse=True)
def _fake_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def _leaks(*texts: object) -> list[str]:
    return [str(t) for t in texts if KEY in str(t) or KEY[8:] in str(t)]


@pytest.mark.parametrize("mode", ["echo_key", "500", "bad_json", "hang"])
def test_key_absent_from_decisions_and_logs(mode: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    catalog = TaskCatalog.demo()
    with FaultServer(mode, hang_s=10) as server:
        for router in (
            make_reliable(make_router("structured", model=_model(server.base_url)), fallback=KEEP_ACTIVE),
            make_reliable(
                make_router("zero-shot", model="openai:fake", base_url=server.base_url, timeout_s=1),
                retries=1,
                backoff_s=0,
            ),
        ):
            decision = router.invoke({**TURN, "catalog": catalog})
            assert decision.fallback and not decision.valid_format
            assert not _leaks(decision.model_dump_json(), caplog.text)
    if mode == "echo_key":  # the server did quote the key: the masking is what kept it out
        assert "Incorrect API key provided: ***" in caplog.text


def test_key_absent_from_exception_messages() -> None:
    with FaultServer("echo_key") as server, pytest.raises(Exception) as info:
        _model(server.base_url).invoke("hi")
    assert KEY in str(info.value)  # the raw client error does quote it ...
    assert not _leaks(redact(info.value))  # ... so everything we record goes through redact()


def test_key_absent_from_eval_report_files(tmp_path: Path) -> None:
    records = parse_records(
        [
            {
                "id": "c1",
                "tasks": [{"name": "recap", "description": "Recap a meeting."}],
                "turns": [{"role": "user", "text": "Recap my call"}, {"role": "assistant", "text": "Sure"}],
                "labels": [{"turn_index": 0, "task": "recap", "event": "START"}],
            }
        ]
    )
    with FaultServer("echo_key") as server:
        primary = make_router("structured", model="openai:fake", base_url=server.base_url, timeout_s=30)
        router = make_reliable(primary, fallback=KEEP_ACTIVE, retries=0)
        run = evaluate_router(records, router, out_dir=tmp_path, progress=False)
    assert run.files
    for path in tmp_path.rglob("*"):
        if path.is_file() and path.suffix in {".json", ".md", ".jsonl", ".txt"}:
            assert not _leaks(path.read_text(encoding="utf-8", errors="replace")), path
    assert any("***" in p.read_text(errors="replace") for p in tmp_path.rglob("*.json*"))


def test_redact_masks_common_key_shapes() -> None:
    for secret in (KEY, "lsv2_pt_0123456789abcdef", "Bearer abcdef0123456789"):
        assert secret not in redact(f"error: {secret} was rejected")


def _model(base_url: str):
    from task_router import load_chat_model

    return load_chat_model("openai:fake", base_url=base_url, timeout=1, max_retries=0)
