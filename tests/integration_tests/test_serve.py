"""Scale-out as docs/deploy.md writes it (issue 25, item 5): examples/serve.py under uvicorn with 2 worker
processes on one PostgreSQL (threads and the catalogue), 32 concurrent conversations across them, a task added
to the catalogue in the middle: both workers answer, no turn is lost, and a decision names the new task only after
it was added, and then in whichever worker serves the turn."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid

import pytest

from tests.conftest import ROOT_DIR
from tests.fault_server import FaultServer, keyword_reply
from tests.serving import free_port, wait_until_serving

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

KEYWORDS = keyword_reply({"travel": "travel_booking", "linkedin": "linkedin_post", "recap": "meeting_recap"})
TRAVEL = {"name": "travel_booking", "description": "Book a train or a flight for the user."}
CONVERSATIONS, TURNS = 32, 4


@pytest.fixture(scope="module")
def postgres_url() -> str:
    from tests.integration_tests.test_restarts import start_postgres

    return start_postgres()


@pytest.mark.slow
def test_two_workers_share_threads_and_the_catalogue(postgres_url: str) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    run = uuid.uuid4().hex[:8]
    with FaultServer("ok", reply=KEYWORDS, delay_s=0.02) as model_server:
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT_DIR),
            "TASK_ROUTER_POSTGRES": postgres_url,
            "TASK_ROUTER_MODEL": "openai:fake",
            "OPENAI_BASE_URL": model_server.base_url,
            "OPENAI_API_KEY": "test",
            "TASK_ROUTER_CATALOG_NAMESPACE": f"test-{run}/catalog",
        }
        # uvicorn closes a keep-alive connection idle for 5 s by default; a turn sent on it as it closes fails with
        # httpx.ReadError (seen once under a loaded test run, while conversations waited for the edit)
        command = [sys.executable, "-m", "uvicorn", "examples.serve:app", "--workers", "2", "--port", str(port)]
        command += ["--timeout-keep-alive", "300"]
        server = subprocess.Popen(command, cwd=ROOT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            outcome = asyncio.run(_traffic(base, run))
        finally:
            server.terminate()
            log = server.communicate(timeout=60)[0].decode(errors="replace")
    responses, added_at, stored = outcome
    assert len(responses) == CONVERSATIONS * TURNS, log[-3000:]
    assert len({r["worker"] for r in responses}) == 2  # both worker processes served turns
    for thread, texts in stored.items():  # no turn lost: every acknowledged message and decision is in the thread
        assert texts["user_messages"] == texts["sent"], thread
        assert len(texts["decisions"]) == TURNS
    travel = [r for r in responses if r["decision"]["task"] == "travel_booking"]
    assert travel and all(r["started"] >= added_at for r in travel)  # never before the task existed
    asked_after = [r for r in responses if "travel" in r["text"] and r["started"] > added_at]
    assert asked_after and all(r["decision"]["task"] == "travel_booking" for r in asked_after)
    assert {r["worker"] for r in asked_after} == {r["worker"] for r in responses}  # each worker saw the edit


async def _traffic(base: str, run: str) -> tuple[list[dict], float, dict[str, dict]]:
    async with httpx.AsyncClient(base_url=base, timeout=120) as client:
        await wait_until_serving(client, "/catalog", timeout_s=240)  # every worker loads the app first
        responses: list[dict] = []
        sent: dict[str, list[str]] = {}
        added = asyncio.Event()
        added_at = 0.0

        async def conversation(i: int) -> None:
            thread = f"{run}-{i}"
            texts = ["write a linkedin post", "make the linkedin post shorter", "now plan my travel", "travel: Lyon"]
            for turn, text in enumerate(texts):
                if turn == 2:
                    await added.wait()  # half the turns before the edit, half after
                started = time.monotonic()
                reply = await client.post(f"/threads/{thread}/turns", json={"message": text})
                assert reply.status_code == 200, reply.text
                sent.setdefault(thread, []).append(text)
                responses.append({**reply.json(), "text": text, "started": started})

        async def edit() -> None:
            nonlocal added_at
            while len(responses) < CONVERSATIONS:  # in the middle of the traffic
                await asyncio.sleep(0.05)
            reply = await client.post("/catalog/tasks", json=TRAVEL)
            assert reply.status_code == 200 and "travel_booking" in reply.json()["tasks"], reply.text
            added_at = time.monotonic()
            added.set()

        await asyncio.gather(edit(), *(conversation(i) for i in range(CONVERSATIONS)))
        stored = {}
        for thread, texts in sent.items():
            stored[thread] = {**(await client.get(f"/threads/{thread}")).json(), "sent": texts}
        return responses, added_at, stored
