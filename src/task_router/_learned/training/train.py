"""`task-router train --router learned`: LoRA on all-MiniLM-L6-v2 with the sentence-transformers trainers.

Stage 1 trains the bi-encoder (query vs every task of the turn's catalogue, :class:`CatalogueRankingLoss`),
stage 2 the cross-encoder over the bi-encoder's shortlist (:class:`OwnCandidatesLoss`). Each stage is one
trainer call; the run writes ``learned.json``, the two adapters and a model card to ``config.out``.
"""

from __future__ import annotations

import itertools
import json
import random
import resource
import shutil
import tempfile
import time
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from rich.console import Console

from task_router._learned.model import BI_ENCODER_DIR, CROSS_ENCODER_DIR, LearnedConfig
from task_router._learned.texts import DONE_TEXT
from task_router._learned.training.calibrate import large_catalogue_records
from task_router._learned.training.config import LearnedTrainConfig, write_card
from task_router._learned.training.examples import RoutingExample, conversation_examples, event_counts, sample_negatives
from task_router.evaluation import ConversationRecord, load_dataset
from task_router.training._augment import first_sentence
from task_router.training._data import load_training_records

LORA_TARGETS = ("query", "key", "value", "dense")  # every linear layer of a BERT encoder
_CALIBRATION_S_PER_RECORD = 0.3  # scoring held-out turns after training (0.23 s per record measured)


@dataclass(frozen=True)
class LearnedTrainResult:
    out: Path
    meta: dict[str, Any]


def train_learned(
    config: LearnedTrainConfig, *, command: str = "", console: Console | None = None
) -> LearnedTrainResult:
    """Train the learned router's encoders and write them, with ``learned.json`` and a model card, to ``config.out``.

    Example:
        >>> config = LearnedTrainConfig(data=["tests/fixtures/train_tiny.jsonl"], out="/tmp/learned", bi_steps=2,
        ...                             ce_steps=2, max_minutes=5)
        >>> train_learned(config).meta["stages"]["bi_encoder"]["steps"]  # doctest: +SKIP
        2
    """
    import torch
    from transformers import set_seed

    console = console or Console()
    started = time.monotonic()
    if config.threads:
        torch.set_num_threads(config.threads)
    set_seed(config.seed)
    if config.low_memory:
        _release_freed_memory()
    out = Path(config.out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    budget_s = config.max_minutes * 60.0
    plan = f"bi-encoder {config.bi_steps} steps x {config.bi_batch_size}"
    if config.none_bias is not None and config.calibration_share:
        plan += ", then the NONE scores and temperature fitted on held-out training conversations"
    if config.cross_encoder:
        plan += (
            f" in <= {config.max_minutes * config.bi_share:.1f} min, then cross-encoder {config.ce_steps} steps x "
            f"{config.ce_batch_size}"
        )
    console.print(
        f"budget: {config.max_minutes:g} min wall in all ({plan}); {torch.get_num_threads()} torch threads, "
        f"seed {config.seed}, data seed {config.data_order_seed}; a stage that runs out of time stops and is saved "
        "as it is"
    )
    loaded = [record for path in config.data for record in load_dataset(path, limit=config.limit)]
    train_part, held_out_part = split_held_out(loaded, config.calibration_share, by=config.calibration_split)
    held_out_single = round(config.single_turn * config.calibration_share)
    records = _prepared(
        config, train_part, seed=config.data_order_seed, single_turn=config.single_turn - held_out_single
    )
    held_out = _calibration_prepared(config, held_out_part)
    conversations = _batch_groups(
        records,
        conversation_examples(
            records, window=config.window, continue_share=config.continue_share, seed=config.data_order_seed
        ),
    )
    examples = [example for conversation in conversations for example in conversation]
    console.print(
        f"data: {len(records)} conversations -> {len(examples)} turns {event_counts(examples)}; "
        f"{len(held_out)} held out to calibrate"
    )

    # The calibration after training is inside the budget: ~0.3 s per held-out conversation was measured.
    reserve_s = _CALIBRATION_S_PER_RECORD * len(held_out) if config.none_bias is not None else 0.0
    bi_budget = budget_s * (config.bi_share if config.cross_encoder else 1.0) - (time.monotonic() - started) - reserve_s
    bi_encoder, bi_stats = _train_bi_encoder(config, conversations, bi_budget, console)
    _save_adapter(bi_encoder[0].model, out / BI_ENCODER_DIR)
    stages: dict[str, Any] = {"bi_encoder": bi_stats}
    if config.cross_encoder:
        ce_budget = budget_s - (time.monotonic() - started)
        cross_encoder, ce_stats = _train_cross_encoder(config, examples, bi_encoder, ce_budget, console)
        _save_adapter(cross_encoder[0].model, out / CROSS_ENCODER_DIR)
        stages["cross_encoder"] = ce_stats
    else:
        shutil.rmtree(out / CROSS_ENCODER_DIR, ignore_errors=True)  # an earlier run's, which this model did not train
    routing_config = LearnedConfig(window=config.window, shortlist=config.shortlist, lora_scale=config.lora_scale)
    routing_config.write(out)
    calibration: dict[str, Any] = {}
    if held_out and config.none_bias is not None and not config.cross_encoder:
        calibration = _calibrate(out, routing_config, held_out, _large_catalogues(config, held_out_part), console)

    usage = resource.getrusage(resource.RUSAGE_SELF)
    meta = {
        "command": command,
        "config": config.to_dict(),
        "data": {
            "files": list(config.data),
            "conversations": len(records),
            "turns": event_counts(examples),
            "held_out_conversations": len(held_out),
        },
        "stages": stages,
        "calibration": calibration,
        "wall_time_s": round(time.monotonic() - started, 1),
        "cpu_time_s": round(usage.ru_utime + usage.ru_stime, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "torch_threads": torch.get_num_threads(),
        "adapter_mb": round(sum(p.stat().st_size for p in out.rglob("adapter_model.*")) / 1e6, 2),
    }
    (out / "training.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    write_card(out, meta)
    console.print(
        f"learned router written to {out} in {meta['wall_time_s']:.0f} s (peak RSS {meta['peak_rss_mb']:.0f} MB)"
    )
    return LearnedTrainResult(out, meta)


def split_held_out(
    records: Sequence[ConversationRecord], share: float, *, by: Literal["conversation", "service"] = "conversation"
) -> tuple[list[ConversationRecord], list[ConversationRecord]]:
    """(training records, held-out records): a stable ``share`` of the conversations held out, the same ones whatever
    the seed or the order of the file.

    ``by="conversation"`` holds out conversations chosen by a hash of their ids. ``by="service"`` holds out whole
    services (taken in the order of a hash of their names until the share is reached): every conversation using one
    is held out, and their tasks are removed from the training records' catalogues, so that the held-out turns are
    what a deployed model meets, services it never saw.

    Example:
        >>> from task_router.evaluation import parse_records
        >>> recs = parse_records([{"id": f"c{i}", "tasks": [{"name": "a", "description": "Do A."}],
        ...     "turns": [{"role": "user", "text": "do a"}],
        ...     "labels": [{"turn_index": 0, "task": "a", "event": "START"}]} for i in range(100)])
        >>> train, held_out = split_held_out(recs, 0.1)
        >>> len(train) + len(held_out), 0 < len(held_out) < 25
        (100, True)
    """
    if by not in ("conversation", "service"):
        raise ValueError(f"split_held_out draws by 'conversation' or 'service', got {by!r}")
    if share <= 0:
        return list(records), []
    if by == "conversation":
        held = [zlib.crc32(record.id.encode("utf-8")) % 1000 < share * 1000 for record in records]
        return [r for r, h in zip(records, held, strict=True) if not h], [
            r for r, h in zip(records, held, strict=True) if h
        ]
    services = _held_out_services(records, share)
    train = [r for r in records if services.isdisjoint(r.services)]
    return [_without_services(r, services) for r in train], [r for r in records if not services.isdisjoint(r.services)]


def _held_out_services(records: Sequence[ConversationRecord], share: float) -> set[str]:
    """The services whose conversations make up at least ``share`` of ``records``, taken in a stable hashed order."""
    if any(not record.services for record in records):
        raise ValueError(
            "calibration_split='service' needs every record to name its services (the `services` field of the "
            "benchmark format): add them, or hold out by conversation"
        )
    names = sorted({s for r in records for s in r.services}, key=lambda s: (zlib.crc32(s.encode("utf-8")), s))
    held: set[str] = set()
    for name in names:
        if sum(not held.isdisjoint(r.services) for r in records) >= share * len(records):
            break
        held.add(name)
    if all(not held.isdisjoint(r.services) for r in records):
        raise ValueError(
            f"holding out {share:.0%} of the conversations by service leaves none to train on: lower "
            "calibration_share or give conversations of more services"
        )
    return held


def _without_services(record: ConversationRecord, services: set[str]) -> ConversationRecord:
    """``record`` with the tasks of ``services`` (named ``Service.intent``) out of its catalogue."""
    kept = [task for task in record.tasks if str(task["name"]).split(".", 1)[0] not in services]
    return record if len(kept) == len(record.tasks) else record.model_copy(update={"tasks": kept})


def _batch_groups(
    records: Sequence[ConversationRecord], conversations: list[list[RoutingExample]]
) -> list[list[RoutingExample]]:
    """The examples of each conversation, with the one-turn records of a block (one shared catalogue) joined into
    one group, so that the trainer batches them together and embeds their task texts once."""
    groups: dict[str, list[RoutingExample]] = {}
    for record, examples in zip(records, conversations, strict=True):
        key = record.id.rsplit("-", 1)[0] if record.source == "single-turn" else record.id
        groups.setdefault(key, []).extend(examples)
    return list(groups.values())


def calibration_records(
    config: LearnedTrainConfig, loaded: Sequence[ConversationRecord] | None = None
) -> list[ConversationRecord]:
    """The held-out conversations a trained model's NONE scores and temperature are fitted on: the
    ``calibration_share`` of the training file (``loaded``, else read from ``config.data``) never trained on,
    prepared as :func:`_calibration_prepared` says."""
    if loaded is None:
        loaded = [record for path in config.data for record in load_dataset(path, limit=config.limit)]
    return _calibration_prepared(
        config, split_held_out(loaded, config.calibration_share, by=config.calibration_split)[1]
    )


def _calibration_prepared(
    config: LearnedTrainConfig, held_out_part: Sequence[ConversationRecord]
) -> list[ConversationRecord]:
    """The held-out conversations prepared as the training data is (off-topic requests, one-turn records,
    augmentation), plus the same records with every description cut to its first sentence: catalogues in the wild
    are often that terse, and short texts score lower cosines, so a NONE score fitted on the benchmark's long
    descriptions alone says NONE to requests that do match a terse task."""
    if not held_out_part:
        return []
    prepared = _prepared(
        config,
        held_out_part,
        seed=config.data_order_seed + 1,
        single_turn=round(config.single_turn * config.calibration_share),
    )
    terse = [
        record.model_copy(
            update={
                "id": f"{record.id}#terse",
                "tasks": [{**task, "description": first_sentence(str(task["description"]))} for task in record.tasks],
            }
        )
        for record in prepared
    ]
    return [*prepared, *terse]


def _large_catalogues(
    config: LearnedTrainConfig, held_out_part: Sequence[ConversationRecord]
) -> list[ConversationRecord]:
    """The held-out catalogues of 100+ tasks ``top_k`` is chosen on (the held-out conversations' tasks in them)."""
    return large_catalogue_records(held_out_part, seed=config.data_order_seed + 2)


def recalibrate(out: str | Path, *, console: Console | None = None) -> dict[str, Any]:
    """Fit a trained folder's NONE scores, temperature and ``top_k`` again, on the held-out conversations its training
    config names (its ``training.json``), and write them to its ``learned.json`` and model card (keeping what was
    written below the card's command): what the end of :func:`train_learned` does, for a folder trained before the
    calibration data changed."""
    folder = Path(out).expanduser()
    meta = json.loads((folder / "training.json").read_text(encoding="utf-8"))
    config = LearnedTrainConfig.of_meta(meta, out=str(folder))
    if config.cross_encoder:
        raise ValueError(
            f"{folder} routes with a cross-encoder, whose scores this calibration does not fit: recalibrate a "
            "bi-encoder model (trained with --ce-steps 0)"
        )
    routing_config = LearnedConfig.read(folder)
    loaded = [record for path in config.data for record in load_dataset(path, limit=config.limit)]
    _, held_out_part = split_held_out(loaded, config.calibration_share, by=config.calibration_split)
    calibration = _calibrate(
        folder,
        routing_config,
        _calibration_prepared(config, held_out_part),
        _large_catalogues(config, held_out_part),
        console or Console(),
    )
    meta["calibration"] = calibration
    (folder / "training.json").write_text(json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8")
    write_card(folder, meta, keep_written=True)
    return calibration


def _prepared(
    config: LearnedTrainConfig, records: Sequence[ConversationRecord], *, seed: int, single_turn: int
) -> list[Any]:
    """Records as trained on: example requests, off-topic requests and one-turn records added, then augmented."""
    return load_training_records(
        [],
        records=records,
        augment=config.augment,
        seed=seed,
        examples_prob=config.examples_prob,
        off_topic=config.off_topic if config.none_bias is not None else None,
        single_turn=single_turn if config.none_bias is not None else 0,
        close_early_prob=config.close_early_prob,
    )


def _calibrate(
    out: Path,
    routing_config: LearnedConfig,
    held_out: Sequence[ConversationRecord],
    large: Sequence[ConversationRecord],
    console: Console,
) -> dict[str, Any]:
    """Fit the NONE scores and the temperature on the held-out conversations, then choose ``top_k`` on them and on
    the ``large`` catalogues, and write them to ``learned.json``."""
    from dataclasses import replace

    from task_router._learned.model import LearnedModel
    from task_router._learned.router import LearnedRouter
    from task_router._learned.training.calibrate import choose_top_k, fit_calibration, score_held_out

    started = time.monotonic()
    router = LearnedRouter(model=LearnedModel.load(out))
    turns = score_held_out(router, held_out)
    fitted = fit_calibration(turns, scale=routing_config.bi_scale)
    chosen = choose_top_k(
        {"held-out conversations": turns, "large catalogues": score_held_out(router, large)},
        none_bias=fitted["none_bias"],
        none_bias_active=fitted["none_bias_active"],
        scale=routing_config.bi_scale,
        temperature=fitted["temperature"],
    )
    # the same NONE scores and temperature, measured with the chosen top_k (the temperature is not fitted again)
    again = fit_calibration(
        turns, scale=routing_config.bi_scale, temperature=fitted["temperature"], top_k=chosen["top_k"]
    )
    fitted = {**again, "top_k_choice": chosen}
    replace(
        routing_config,
        none_bias=fitted["none_bias"],
        none_bias_active=fitted["none_bias_active"],
        temperature=fitted["temperature"],
        top_k=chosen["top_k"],
    ).write(out)
    LearnedModel.forget(out)  # a later load in this process reads the calibrated config
    k = chosen["top_k"] or "all"
    console.print(
        f"calibrated on {fitted['turns']} held-out turns and {len(large)} over large catalogues in "
        f"{time.monotonic() - started:.0f} s: NONE score {fitted['none_bias']:.3f} (a task active: "
        f"{fitted['none_bias_active']:.3f}), temperature {fitted['temperature']:.3f}, softmax over the {k} best "
        f"answers (mean ECE {chosen['mean_ece'][str(k)]:.3f}, {chosen['mean_ece']['all']:.3f} over all); accuracy "
        f"{fitted['accuracy']:.3f}, ECE {fitted['ece']:.3f} ({fitted['ece_at_temperature_1']:.3f} at temperature 1)"
    )
    return fitted


def _release_freed_memory() -> None:
    """Make glibc give freed tensor memory back to the system (Linux only; elsewhere nothing changes).

    Every bi-encoder batch has other shapes (32 turns x a catalogue of distinct candidate texts), and glibc's
    allocator keeps the heap of the largest batch seen so far: the process grew to 9.5 GB in 40 steps (14.7 GB in
    the shipped 466-step run). Serving every large allocation with mmap returns it when freed: the same 40 steps
    stayed between 1.4 and 5.7 GB, with the same losses (benchmarks/RESULTS.md). Equivalent to
    MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=0 in the environment, which a running process cannot set.
    It costs time (every large tensor is mapped and zeroed anew): the same 5 steps took 49 s instead of 32 s
    (2026-12-04), so it is an option (``LearnedTrainConfig.low_memory``, ``--low-memory``), for machines short of
    memory.
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): keep its allocator as it is
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    mallopt(m_mmap_threshold, 64 * 1024)
    mallopt(m_trim_threshold, 0)


# -- stage 1: bi-encoder ---------------------------------------------------------------------------------------
def _train_bi_encoder(
    config: LearnedTrainConfig, conversations: list[list[RoutingExample]], budget_s: float, console: Console
) -> tuple[Any, dict[str, Any]]:
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer

    from task_router._learned.training.loss import CatalogueRankingLoss
    from task_router.models._encoders import minilm_dir

    rng = random.Random(config.data_order_seed)
    count = max(len(e.negatives) for c in conversations for e in c)  # the largest catalogue: every wrong answer
    examples = [example for conversation in conversations for example in conversation]
    rows = _columns(examples, [sample_negatives(e, count, rng) for e in examples])
    if config.none_bias is not None:
        rows["label"] = [int(e.positive is None) for e in examples]
    ends = itertools.accumulate(len(conversation) for conversation in conversations)
    groups = [range(end - len(c), end) for c, end in zip(conversations, ends, strict=True) if c]
    model = SentenceTransformer(str(minilm_dir()), device="cpu")
    model.max_seq_length = config.max_seq_length
    model[0].model = _with_lora(model[0].model, config, task_type="FEATURE_EXTRACTION")
    trainer_class = _conversation_batches(SentenceTransformerTrainer, groups)
    loss = CatalogueRankingLoss(
        model, scale=LearnedConfig().bi_scale, none_bias=config.none_bias, hard_weight=config.hard_weight
    )
    stage = _Stage("bi-encoder", config.bi_steps, config.bi_batch_size, config.bi_learning_rate)
    stats = _run(trainer_class, model, Dataset.from_dict(rows), loss, config, stage, budget_s=budget_s, console=console)
    return model, stats


# -- stage 2: cross-encoder ------------------------------------------------------------------------------------
def _train_cross_encoder(
    config: LearnedTrainConfig, examples: list[RoutingExample], bi_encoder: Any, budget_s: float, console: Console
) -> tuple[Any, dict[str, Any]]:
    import numpy as np
    from datasets import Dataset
    from sentence_transformers import CrossEncoder, CrossEncoderTrainer

    from task_router._learned.training.loss import OwnCandidatesLoss
    from task_router.models._encoders import minilm_dir

    examples = [e for e in examples if e.positive is not None]  # the cross-encoder chooses among texts only
    needed = min(len(examples), config.ce_steps * config.ce_batch_size)
    chosen = random.Random(config.data_order_seed + 1).sample(examples, needed)
    mining = time.monotonic()
    bi_encoder.eval()
    texts = sorted({text for e in chosen for text in (cast(str, e.positive), *e.negatives)})  # None: filtered out
    vectors = bi_encoder.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
    row_of = {text: i for i, text in enumerate(texts)}
    queries = bi_encoder.encode([e.query for e in chosen], batch_size=64, normalize_embeddings=True)
    rng = random.Random(config.data_order_seed + 2)
    negatives = []
    for example, query in zip(chosen, queries, strict=True):
        candidates = list(example.negatives)
        order = np.argsort(-(vectors[[row_of[t] for t in candidates]] @ query))
        ranked = [candidates[i] for i in order]
        negatives.append(sample_negatives(example, config.ce_negatives, rng, ranked=ranked))
    rows = _columns(chosen, negatives)
    console.print(
        f"cross-encoder: {needed} turns, hard negatives mined by the bi-encoder in {time.monotonic() - mining:.0f} s"
    )
    budget_s -= time.monotonic() - mining

    model = CrossEncoder(str(minilm_dir()), num_labels=1, max_length=config.ce_max_length, device="cpu")
    model[0].model = _with_lora(model[0].model, config, task_type="SEQ_CLS")
    loss = OwnCandidatesLoss(model, scale=LearnedConfig().ce_scale)
    stage = _Stage("cross-encoder", config.ce_steps, config.ce_batch_size, config.ce_learning_rate)
    stats = _run(
        CrossEncoderTrainer, model, Dataset.from_dict(rows), loss, config, stage, budget_s=budget_s, console=console
    )
    return model, stats


# -- shared ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Stage:
    """One trainer call's name (in messages and errors) and schedule, from the config's ``bi_*`` or ``ce_*``."""

    name: str
    steps: int
    batch_size: int
    learning_rate: float


def _columns(
    examples: Sequence[RoutingExample], negatives: Sequence[Sequence[str]]
) -> dict[str, list[str] | list[int]]:
    """The trainers' text columns: query, positive, negative_0 ... negative_{n-1} (a caller may add ``label``)."""
    # A "nothing fits" row has no positive text: its column holds "done", scored as a wrong answer (label 1).
    columns: dict[str, list[str] | list[int]] = {
        "query": [e.query for e in examples],
        "positive": [e.positive or DONE_TEXT for e in examples],
    }
    for i in range(len(negatives[0]) if negatives else 0):
        columns[f"negative_{i}"] = [row[i] for row in negatives]
    return columns


def _with_lora(model: Any, config: LearnedTrainConfig, *, task_type: str) -> Any:
    from peft import LoraConfig, get_peft_model

    from task_router.models._cpu import peft_quietly

    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(LORA_TARGETS),
        task_type=task_type,  # SEQ_CLS also trains and saves the new classifier head
    )
    with peft_quietly():
        return get_peft_model(model, lora)


def _run(
    trainer_class: type,
    model: Any,
    dataset: Any,
    loss: Any,
    config: LearnedTrainConfig,
    stage: _Stage,
    *,
    budget_s: float,
    console: Console,
) -> dict[str, Any]:
    """One trainer call with a progress bar, stopped by the stage's share of the wall-time budget."""
    from sentence_transformers import CrossEncoderTrainer
    from sentence_transformers.cross_encoder import CrossEncoderTrainingArguments
    from sentence_transformers.sentence_transformer import SentenceTransformerTrainingArguments
    from transformers import PrinterCallback

    from task_router.training._trainer import RichProgressCallback, TimeBudgetCallback

    if budget_s <= 0:
        raise ValueError(f"the time budget is spent before the {stage.name} stage: raise --max-minutes")
    scratch = tempfile.mkdtemp(prefix="task-router-train-")
    arguments = (
        CrossEncoderTrainingArguments
        if issubclass(trainer_class, CrossEncoderTrainer)
        else SentenceTransformerTrainingArguments
    )
    args = arguments(
        output_dir=scratch,  # nothing is checkpointed (save_strategy "no"): the folder is removed after training
        max_steps=stage.steps,
        per_device_train_batch_size=stage.batch_size,
        learning_rate=stage.learning_rate,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a share of the steps
        lr_scheduler_type="linear",
        weight_decay=0.0,
        logging_steps=config.logging_steps,
        save_strategy="no",
        seed=config.seed,
        data_seed=config.data_order_seed,
        use_cpu=True,
        bf16=config.bf16,
        report_to="none",
        disable_tqdm=True,
        dataloader_drop_last=False,
    )
    budget = TimeBudgetCallback(budget_s / 60.0)
    console.print(
        f"{stage.name}: {len(dataset)} rows, {stage.steps} steps of {stage.batch_size}, at most {budget_s / 60:.1f} min"
    )
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=dataset,
        loss=loss,
        callbacks=[RichProgressCallback(console), budget],
    )
    trainer.remove_callback(PrinterCallback)  # the rich callback already prints each logged loss
    started = time.monotonic()
    try:
        output = trainer.train()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    losses = [log["loss"] for log in trainer.state.log_history if "loss" in log]
    return {
        "rows": len(dataset),
        "steps": int(trainer.state.global_step),
        "planned_steps": stage.steps,
        "batch_size": stage.batch_size,
        "learning_rate": stage.learning_rate,
        "train_loss": round(float(output.training_loss), 4),
        "first_logged_loss": losses[0] if losses else None,
        "last_logged_loss": losses[-1] if losses else None,
        "wall_time_s": round(time.monotonic() - started, 1),
        "stopped_by_time_budget": budget.stopped_early,
    }


def _save_adapter(model: Any, folder: Path) -> None:
    """The LoRA weights (and a new classifier head) in fp16; merged into the base encoder at load."""
    from safetensors.torch import load_file, save_file

    model.save_pretrained(folder)
    (folder / "README.md").unlink(missing_ok=True)  # PEFT's empty template; the model card is one folder up
    weights = folder / "adapter_model.safetensors"
    save_file({name: tensor.half() for name, tensor in load_file(weights).items()}, weights)
    config_file = folder / "adapter_config.json"
    data = json.loads(config_file.read_text(encoding="utf-8"))
    data["base_model_name_or_path"] = LearnedConfig().base  # a package name, not this machine's path
    config_file.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _conversation_batches(trainer_class: type, groups: Sequence[range]) -> type:
    """A trainer class whose batches hold whole conversations, so that their catalogues' texts repeat (each
    distinct candidate is embedded once per batch by :class:`CatalogueRankingLoss`)."""
    from sentence_transformers.base.sampler import DefaultBatchSampler

    class ConversationBatchSampler(DefaultBatchSampler):
        def __iter__(self) -> Iterator[list[int]]:
            order = list(groups)
            random.Random(f"{self.seed}:{getattr(self, 'epoch', 0)}").shuffle(order)
            batch: list[int] = []
            for group in order:
                for index in group:
                    batch.append(index)
                    if len(batch) == self.batch_size:
                        yield batch
                        batch = []
            if batch and not self.drop_last:
                yield batch

        def __len__(self) -> int:
            total = sum(len(group) for group in groups)
            return total // self.batch_size if self.drop_last else -(-total // self.batch_size)

    class ConversationTrainer(trainer_class):  # type: ignore[misc, valid-type]
        def get_batch_sampler(self, dataset: Any, batch_size: int, drop_last: bool, *args: Any, **kwargs: Any) -> Any:
            return ConversationBatchSampler(
                dataset, batch_size=batch_size, drop_last=drop_last, seed=self.args.data_seed
            )

    return ConversationTrainer
