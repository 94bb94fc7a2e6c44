"""The `learned` router: trained encoders over task descriptions decide the whole turn (no LLM, no hand rules)."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from langchain_core.runnables import RunnableConfig

from task_router._budget import Offload, Plan
from task_router._catalog import TaskCatalog
from task_router._learned.model import BUILTIN_LABEL, LearnedModel
from task_router._learned.texts import DONE_TEXT, candidate_text, query_texts
from task_router._router_input import RoutingInput
from task_router.routers._base import MAX_ALTERNATIVES, Prediction, Router

_MAX_CACHED_TEXTS = 50_000


class LearnedRouter(Router):
    """Routes with encoders trained on routing data (``task-router train --router learned``): one learned model
    makes the whole decision, with no hand-set rule.

    Per turn, the query is the user's latest message, the message before it and the active task
    (:func:`~task_router._learned.texts.query_text`); a message that pastes content after its request ("Recap this
    meeting: <notes>") is also read as the request alone, each candidate keeping its better match of the two. The
    bi-encoder (all-MiniLM-L6-v2 + LoRA) compares it with every task of the catalogue (name, description,
    examples), with a learned "done" candidate while a task is active, and with "nothing fits", a constant score
    the model was trained against (``none_bias`` in its ``learned.json``). The most probable answer decides:

    - the active task: CONTINUE; another task: START or SWITCH;
    - "done" (a task active): END of the active task;
    - "nothing fits": NONE; with a task active, an off-topic request (a digression): the task stays active.

    ``confidence`` is the probability of the answer, ``softmax(bi_scale * cosine / temperature)`` over the
    ``top_k`` best answers, with the temperature and the NONE scores fitted on held-out training conversations and
    ``top_k`` chosen on held-out catalogues of 100+ tasks (never on an evaluation set): the chance that the
    decision is right, on a catalogue of 10 tasks as on one of 150. ``alternatives`` ranks the answers with their
    probabilities (for asking when two tasks are close: :mod:`task_router._clarify`). A threshold fitted on your
    own labelled turns (``task-router fit``, ``make_router("learned", thresholds=...)``) can still move the
    NONE/task trade-off for your catalogue.

    A model trained with a cross-encoder stage (``--ce-steps``) instead lets the cross-encoder pick among the
    bi-encoder's ``shortlist`` nearest tasks, the active task and "done"; the shipped model has none (it measured
    worse and 6x slower at the 60-minute CPU budget, see benchmarks/RESULTS.md).

    Task vectors are cached per text, so an edited catalogue only embeds its new or changed tasks, and any task
    added at run time is routed like the ones trained on: the model reads descriptions, it has no per-task output.

    Args:
        catalog: the default catalogue (else each input brings one).
        model_path: a folder written by ``task-router train --router learned``; None: the model shipped in the
            package (``task_router/_learned/builtin``).
        shortlist: tasks handed to the cross-encoder (default: the model's ``learned.json``).
        cross_encoder: False decides with the bi-encoder alone (faster, see benchmarks/RESULTS.md).
        none_bias, none_bias_active, temperature: replace the model's own calibration (its ``learned.json``), e.g.
            with values fitted on labelled turns of your catalogue by ``task-router fit --router learned``
            (``make_router("learned", thresholds=FILE)`` passes them).
        backend: what runs the encoder: ``"onnx"`` (ONNX Runtime, the default where installed: the same decisions
            as torch, ~1.8x faster on an AVX2 CPU), ``"onnx-int8"`` (faster, changes ~1-3% of decisions) or
            ``"torch"``; None reads ``TASK_ROUTER_BACKEND`` (:func:`task_router.models._encoders.backend_name`).

    Example:
        >>> from task_router import TaskCatalog, make_router
        >>> router = make_router("learned", catalog=TaskCatalog.demo())  # doctest: +SKIP
        >>> turn = {"messages": [{"role": "user", "content": "Recap this morning's meeting"}]}
        >>> router.invoke(turn).task  # doctest: +SKIP
        'meeting_recap'
    """

    kind: ClassVar[str] = "learned"

    def __init__(
        self,
        *,
        catalog: TaskCatalog | None = None,
        model_path: str | Path | None = None,
        shortlist: int | None = None,
        cross_encoder: bool = True,
        model: LearnedModel | None = None,
        none_bias: float | None = None,
        none_bias_active: float | None = None,
        temperature: float | None = None,
        backend: str | None = None,
    ) -> None:
        self.model = model if model is not None else LearnedModel.load(model_path, backend=backend)
        label = BUILTIN_LABEL if model_path is None and model is None else f"learned:{self.model.path}"
        super().__init__(catalog=catalog, model_label=label)
        config = self.model.config
        overrides: dict[str, Any] = {
            "none_bias": none_bias,
            "none_bias_active": none_bias_active,
            "temperature": temperature,
        }
        self.calibration = replace(config, **{key: value for key, value in overrides.items() if value is not None})
        self.window = config.window
        self.shortlist = config.shortlist if shortlist is None else shortlist
        self.use_cross_encoder = cross_encoder and self.model.cross_encoder is not None
        if self.shortlist < 1:
            raise ValueError(f"shortlist must be at least 1 task, got {self.shortlist}")
        self._vectors: dict[str, np.ndarray] = {}
        self._done = self.model.embed([DONE_TEXT])[0]
        self._lock = threading.Lock()

    # -- candidates ------------------------------------------------------------------------------------------
    def task_matrix(self, catalog: TaskCatalog) -> tuple[list[str], list[str], np.ndarray]:
        """(task names, their candidate texts, one unit vector per task), cached per catalogue version."""
        return catalog.memo(f"learned.tasks:{self.model_label}", lambda: self._build_matrix(catalog))

    def _build_matrix(self, catalog: TaskCatalog) -> tuple[list[str], list[str], np.ndarray]:
        tasks = catalog.tasks
        texts = [candidate_text(task) for task in tasks]
        with self._lock:
            known = {text: self._vectors[text] for text in texts if text in self._vectors}
        missing = [text for text in dict.fromkeys(texts) if text not in known]
        if missing:
            fresh = dict(zip(missing, self.model.embed(missing), strict=True))
            known.update(fresh)
            with self._lock:
                if len(self._vectors) + len(fresh) > _MAX_CACHED_TEXTS:
                    self._vectors.clear()
                self._vectors.update(fresh)
        return [task.name for task in tasks], texts, np.stack([known[text] for text in texts])

    def warm(self, catalog: TaskCatalog | None = None) -> None:
        """Embed the catalogue's tasks and run one turn through the encoder (its first forward costs ~1 s)."""
        catalog = catalog or self.catalog
        if catalog is not None:
            self.task_matrix(catalog)
        self.model.embed(["hello"])

    # -- deciding --------------------------------------------------------------------------------------------
    def query(self, routing: RoutingInput) -> str:
        """The text the turn is embedded as (its messages and the active task)."""
        return self.queries(routing)[0]

    def queries(self, routing: RoutingInput) -> list[str]:
        """Every text the turn is compared with the candidates as (:func:`~task_router._learned.texts.query_texts`)."""
        return query_texts(routing.messages, routing.catalog.get(routing.active_task), window=self.window)

    def _ranked_all(
        self, routing: RoutingInput, vectors: np.ndarray | None = None
    ) -> tuple[str, list[str | None], list[str], np.ndarray]:
        """(query text, every candidate's task name with None for "done", texts, bi-encoder similarities),
        nearest first; ``vectors``: the turn's query vectors (one row per :meth:`queries` text), if already
        embedded."""
        names, texts, rows = self.task_matrix(routing.catalog)
        queries = self.queries(routing)
        if vectors is None:
            vectors = self.model.embed(queries)
        vectors = np.atleast_2d(vectors)
        similarities = np.append((rows @ vectors.T).max(axis=1), (self._done @ vectors.T).max())
        order = np.argsort(-similarities, kind="stable")
        all_names: list[str | None] = [*names, None]
        all_texts = [*texts, DONE_TEXT]
        return queries[0], [all_names[i] for i in order], [all_texts[i] for i in order], similarities[order]

    def candidates(
        self, routing: RoutingInput, vectors: np.ndarray | None = None
    ) -> tuple[str, list[str | None], list[str], np.ndarray]:
        """What the decision reads: (query text, candidate names with None for "done", their texts, their
        bi-encoder similarities), nearest first. "Done" closes the active task, so it is a candidate only when one
        is active. With a cross-encoder, only the ``shortlist`` nearest tasks, the active task and "done" are
        kept."""
        query, names, texts, similarities = self._ranked_all(routing, vectors)
        kept: set[str | None] = set(names)
        if self.use_cross_encoder:
            kept = {*[name for name in names if name is not None][: self.shortlist], routing.active_task, None}
        if routing.active_task is None:
            kept.discard(None)
        keep = [i for i, name in enumerate(names) if name in kept]
        return query, [names[i] for i in keep], [texts[i] for i in keep], similarities[keep]

    def none_bias(self, routing: RoutingInput) -> float | None:
        """The score of "nothing fits" at this turn (None: this model has no NONE answer)."""
        return self.calibration.none_score(active=routing.active_task is not None)

    def scored(
        self, routing: RoutingInput, vectors: np.ndarray | None = None
    ) -> list[tuple[str | None, bool, float, float]]:
        """The answers the decision is made from, most probable first: (task name or None, closing, probability,
        bi-encoder cosine similarity to the turn). (None, True) is "done", (None, False) "nothing fits" (its
        similarity is the constant it scores)."""
        query, names, texts, similarities = self.candidates(routing, vectors)
        config = self.calibration
        answers: list[tuple[str | None, bool]] = [(name, name is None) for name in names]
        if self.use_cross_encoder:
            logits = self.model.cross_scores(query, texts)
            scores = config.ce_scale / (1.0 + np.exp(-logits))  # the loss's sigmoid x scale
        else:
            bias = self.none_bias(routing)
            if bias is not None:
                answers.append((None, False))
                similarities = np.append(similarities, bias)
            scores = config.bi_scale * similarities / config.temperature
        probabilities = softmax(scores, top_k=config.top_k)
        ranked = [
            (task, closing, p, c, score)
            for (task, closing), p, c, score in zip(
                answers, probabilities.tolist(), similarities.tolist(), scores.tolist(), strict=True
            )
        ]
        return [row[:4] for row in sorted(ranked, key=lambda row: -row[4])]

    def rank(self, routing: RoutingInput) -> list[str]:
        """Every task of the catalogue, nearest to the turn first by the bi-encoder: a retriever for
        :class:`~task_router.routers.Shortlist` in front of another router."""
        _, names, _, _ = self._ranked_all(routing)
        return [name for name in names if name is not None]

    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        return _prediction(self.scored(routing))

    def plan(self, routing: RoutingInput, config: RunnableConfig) -> Plan[Prediction]:
        # Async callers await the turn's forward in the shared micro-batch (no thread held while waiting), then
        # score on a decision thread (task vectors after a catalogue edit, the cross-encoder are forwards too).
        vectors = yield Offload(self.model.embed, self.queries(routing), afn=self.model.aembed)
        return _prediction((yield Offload(self.scored, routing, vectors)))


def softmax(scores: np.ndarray, *, top_k: int | None = None) -> np.ndarray:
    """Probabilities of ``scores``, over the ``top_k`` highest only (the others 0; None: over all).

    Example:
        >>> softmax(np.array([2.0, 1.0, 0.0, 0.0]), top_k=2).round(3).tolist()
        [0.731, 0.269, 0.0, 0.0]
    """
    probabilities = np.exp(scores - scores.max())
    if top_k is not None and top_k < len(probabilities):
        probabilities[np.argsort(-scores, kind="stable")[top_k:]] = 0.0
    return probabilities / probabilities.sum()


def _prediction(ranked: list[tuple[str | None, bool, float, float]]) -> Prediction:
    chosen, closing, probability, _ = ranked[0]
    rationale = "; ".join(f"{_answer_name(t, c)} p={p:.2f} cos={s:.2f}" for t, c, p, s in ranked[:3])
    return Prediction(
        chosen,
        closing=closing,
        confidence=probability,
        rationale=rationale,
        raw_output=_answer_name(chosen, closing),
        alternatives=tuple((t, c, p) for t, c, p, _ in ranked[:MAX_ALTERNATIVES]),
    )


def _answer_name(task: str | None, closing: bool) -> str:
    return task if task is not None else "done" if closing else "nothing fits"
