"""Would ONNX Runtime's transformer fusions (fused attention, embedding + layer norm, bias + GELU, skip + layer norm)
speed up the learned router's encoder? Prints one table of one forward's p50 per thread count; changes nothing
shipped.

    python benchmarks/onnx_fusions.py  # ~1 min

The shipped export (``task_router.models._encoders``) traces transformers' SDPA attention, whose NaN guard
(IsNaN / Where) keeps ``onnxruntime.transformers.optimizer`` from fusing attention; exported with eager attention,
the optimizer fuses all six attention blocks. Rows: the shipped file, the eager export, the eager export fused.
``cosine`` is the lowest cosine to the shipped file's vectors over a padded batch of four texts.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.transformers.optimizer import optimize_model

from task_router._learned import model as learned_model
from task_router._learned.model import BI_ENCODER_DIR, BUILTIN_DIR, LearnedConfig
from task_router.models import _encoders
from task_router.models._cpu import cpu_description

TURN = (
    "I'd like the reservation at quarter to 12 in the morning. | Before: Assistant: Sorry, I can't help with that "
    "here. | Active task: reserve restaurant"
)
TEXTS = [TURN, "ok", "book a table for two at an Italian place tonight at 8", "what's the weather in Paris tomorrow?"]


def _session(path: Path, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads, options.log_severity_level = threads, 1, 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _vectors(session: ort.InferenceSession, batch: dict) -> np.ndarray:
    feeds = {i.name: np.asarray(batch[i.name], dtype=np.int64) for i in session.get_inputs()}
    hidden = session.run(None, feeds)[0]
    mask = feeds["attention_mask"][..., None].astype(np.float32)
    vectors = (hidden * mask).sum(axis=1) / mask.sum(axis=1)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _p50_ms(session: ort.InferenceSession, batch: dict, runs: int = 300) -> float:
    feeds = {i.name: np.asarray(batch[i.name], dtype=np.int64) for i in session.get_inputs()}
    for _ in range(30):
        session.run(None, feeds)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def main() -> None:
    config = LearnedConfig.read(BUILTIN_DIR)
    model = learned_model._torch_encoder(BUILTIN_DIR, BI_ENCODER_DIR, config.lora_scale, cross=False)
    shipped = learned_model.LearnedModel.load(None).bi_encoder
    with tempfile.TemporaryDirectory() as tmp:
        eager = Path(tmp) / "eager.onnx"
        model[0].auto_model.config._attn_implementation = "eager"
        _encoders._export(model, eager, int8=False)
        optimizer = optimize_model(str(eager), model_type="bert", num_heads=12, hidden_size=384, opt_level=1)
        fused_ops = {op: n for op, n in optimizer.get_fused_operator_statistics().items() if n}
        fused = Path(tmp) / "fused.onnx"
        optimizer.save_model_to_file(str(fused))
        files = {"shipped (SDPA export)": Path(shipped.path), "eager export": eager, "eager export, fused": fused}
        padded, one = shipped.tokenize(TEXTS), shipped.tokenize([TURN])
        reference = _vectors(_session(files["shipped (SDPA export)"], 1), padded)
        print(
            f"CPU: {cpu_description()}, load {os.getloadavg()[0]:.2f}; "
            f"one forward of a {len(one['input_ids'][0])}-token turn; fused: {fused_ops}"
        )
        print("| encoder file | cosine to shipped | p50 ms, 1 thread | p50 ms, 2 threads |")
        print("|---|---|---|---|")
        for name, path in files.items():
            cosine = float((reference * _vectors(_session(path, 1), padded)).sum(axis=1).min())
            p50s = [_p50_ms(_session(path, threads), one) for threads in (1, 2)]
            print(f"| {name} | {cosine:.7f} | {p50s[0]:.2f} | {p50s[1]:.2f} |")


if __name__ == "__main__":
    main()
