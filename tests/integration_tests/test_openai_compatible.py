"""A real OpenAI-compatible round trip: `transformers serve` on 127.0.0.1 serving the embedded model, reached
through ``openai:<model>`` (ChatOpenAI with a base URL) by the `structured` and `react` routers.

`transformers serve` ignores ``response_format`` and ``tool_choice``: the decisions must still be valid
through the text path. Needs the `serving` extra of transformers (fastapi, uvicorn); skipped without it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator

import pytest

from task_router import TaskCatalog, load_chat_model, make_router
from task_router.models._local import embedded_model_dir
from tests.conftest import user_turns
from tests.serving import free_port

pytest.importorskip("fastapi", reason="transformers serve needs fastapi: pip install 'transformers[serving]'")
pytest.importorskip("uvicorn", reason="transformers serve needs uvicorn: pip install 'transformers[serving]'")

STARTUP_TIMEOUT_S = 120


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base_url, model id) of a `transformers serve` process pinned to the embedded model; stopped by PID."""
    executable = shutil.which("transformers")
    if executable is None:
        pytest.skip("the `transformers` command is not on PATH")
    model_dir = str(embedded_model_dir())
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    command = [executable, "serve", model_dir, "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    # One compute thread: a 135M model gains little from two, and a busy machine loses a lot from oversubscription.
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"), "HF_HUB_OFFLINE": "1"}
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _ready(f"http://127.0.0.1:{port}/health"):
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited with {process.returncode}:\n{log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not ready after {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1", model_dir
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # its own session: the server and nothing else
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def chat_model(server):
    base_url, model_id = server
    return load_chat_model(f"openai:{model_id}", base_url=base_url, max_tokens=48, max_retries=0, timeout=180)


def test_plain_chat_round_trip(chat_model):
    reply = chat_model.invoke("Say hello.")
    assert isinstance(reply.content, str) and reply.content.strip()


@pytest.mark.parametrize(("kind", "options"), [("structured", {}), ("react", {"max_steps": 2})])
def test_router_through_openai_compatible_server(kind, options, chat_model):
    catalog = TaskCatalog.demo()
    router = make_router(kind, model=chat_model, **options)
    if kind == "structured":
        assert router.use_tools  # ChatOpenAI claims structured output; the server ignores it
    decision = router.invoke({"messages": user_turns(["Please recap my meeting notes."]), "catalog": catalog})
    assert decision.router == kind
    assert decision.task is None or decision.task in catalog
    assert decision.event in ("START", "NONE")
    assert decision.valid_format == (decision.fallback is None)
    assert decision.raw_output.strip()
    assert decision.fallback is None or not decision.fallback.startswith("model error"), decision.fallback
