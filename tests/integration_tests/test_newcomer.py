"""A newcomer with their own catalogue (issue 27), as they would type it: the CLI in fresh processes, the files of
`examples/`, the shipped learned router and the embedded model writing.

Fit the NONE scores on `examples/labelled.jsonl` into a catalogue file, then `route` and `chat` with that file: its
thresholds take effect, an off-topic question gets NONE and a reply that says so, and a request that names its
inputs is not asked for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from task_router._learned.model import BUILTIN_DIR, LearnedConfig

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CLI = [sys.executable, "-c", "from task_router.cli import main; main()"]
# Generous bounds that only stop a hung process: nothing here may depend on the machine's speed.
PROCESS_LIMIT_S = 1800


def run(*args: str, cwd: Path, stdin: str | None = None) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "NO_COLOR": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [*CLI, *args], cwd=cwd, env=env, input=stdin, capture_output=True, text=True, timeout=PROCESS_LIMIT_S
    )
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    return done.stdout


def route(catalog: Path, text: str, cwd: Path) -> dict:
    conversation = cwd / "conversation.json"
    conversation.write_text(json.dumps([{"role": "user", "content": text}]), encoding="utf-8")
    out = run("route", "--catalog", str(catalog), "--conversation", str(conversation), cwd=cwd)
    return json.loads(out[out.index("{") :])


def test_a_newcomer_fits_their_catalogue_then_routes_and_chats_with_it(tmp_path: Path) -> None:
    run(
        "fit",
        "--dataset",
        str(EXAMPLES / "labelled.jsonl"),
        "--out",
        "thr.json",
        "--catalog-out",
        "fitted.yaml",
        cwd=tmp_path,
    )
    fitted = yaml.safe_load((tmp_path / "fitted.yaml").read_text(encoding="utf-8"))
    thresholds = fitted["thresholds"]
    assert thresholds["router"] == "learned" and thresholds == json.loads((tmp_path / "thr.json").read_text())
    default_bias = LearnedConfig.read(BUILTIN_DIR).none_bias
    assert f"{thresholds['none_bias']:.2f}" != f"{default_bias:.2f}"  # else this test could not tell them apart

    # route: the catalogue's own thresholds decide (the "nothing fits" score the rationale shows is the fitted one)
    off_topic = "What is the capital of Canada?"
    plain = route(EXAMPLES / "catalog.yaml", off_topic, tmp_path)
    own = route(tmp_path / "fitted.yaml", off_topic, tmp_path)
    assert f"nothing fits p={plain['confidence']:.2f} cos={default_bias:.2f}" in plain["rationale"]
    assert f"nothing fits p={own['confidence']:.2f} cos={thresholds['none_bias']:.2f}" in own["rationale"]
    assert (own["event"], own["task"]) == ("NONE", None)

    # chat: a request that names its inputs is not asked for them; an off-topic question mid-task gets NONE, a reply
    # saying so, and the task stays active
    typed = f"Book a hotel in Paris from May 3 to May 5 near the Louvre museum, one king bed\n{off_topic}\n/quit\n"
    out = run("chat", "--catalog", "fitted.yaml", "--db", str(tmp_path / "threads.sqlite"), cwd=tmp_path, stdin=typed)
    assert "[route] START hotel_booking" in out
    assert "In which city, and for which nights?" not in out
    assert "[route] NONE (off topic; hotel_booking stays active)" in out
    assert "can't help with that here" in out
