"""Router kinds (docs/contract.md) and the `make_router` factory."""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from task_router.extras import install_line
from task_router.models import ModelSpec
from task_router.models.local import pipeline_of
from task_router.routers.base import Prediction, Router
from task_router.routers.budget import DEFAULT, resolve_budget

# kind -> "module:Class"; imported on demand so that e.g. the embedding router's torch stays optional.
ROUTER_KINDS: dict[str, str] = {
    "structured": "task_router.routers.structured:StructuredRouter",
    "zero-shot": "task_router.routers.prompted:ZeroShotRouter",
    "few-shot-cot": "task_router.routers.prompted:FewShotCoTRouter",
    "react": "task_router.routers.react:ReActRouter",
    "scoring": "task_router.routers.scoring:ScoringRouter",
    "embedding": "task_router.routers.embedding:EmbeddingRouter",
    "learned": "task_router.routers.learned:LearnedRouter",
    "cascade": "task_router.routers.cascade:CascadeRouter",
}
_MODEL_FREE = {"embedding", "learned"}
# The `local` extra's packages that local router kinds (scoring, rerank) import: missing ones name the extra.
_LOCAL_PACKAGES = frozenset({"torch", "transformers", "sentence_transformers", "peft", "gguf", "accelerate"})


def llm_router_kind(model: ModelSpec | None) -> str:
    """The best kind that reads a model: likelihood scoring for local transformers models, structured otherwise."""
    if model is None:
        return "embedding"
    if isinstance(model, str):
        local = model == "embedded" or model.startswith(("hf:", "qlora:"))
    else:
        local = pipeline_of(model) is not None
    return "scoring" if local and _available("scoring") else "structured"


def default_router_kind(model: ModelSpec | None) -> str:
    """The best kind for a model spec, by measurement (benchmarks/RESULTS.md).

    For the embedded 135M model, the `learned` router (all-MiniLM-L6-v2 + LoRA trained on routing data, shipped in
    the package) routes best of every local kind (full sgd_dev: task accuracy 0.947 against 0.670 for `embedding`
    and 0.41 for `scoring` over the LoRA-tuned 135M model), so it is the default there, then `embedding` if the
    learned model cannot load here; the chat model still writes the tasks' deliverables. Other local models
    (`hf:`, `qlora:`) default to `scoring`, API models to `structured`.
    """
    if model == "embedded":
        if _available("learned") and importlib.util.find_spec("peft") is not None:
            return "learned"
        if _available("embedding"):
            return "embedding"
    return llm_router_kind(model)


def _available(kind: str) -> bool:
    module = ROUTER_KINDS[kind].partition(":")[0]
    if kind in ("embedding", "learned") and importlib.util.find_spec("sentence_transformers") is None:
        return False
    return importlib.util.find_spec(module) is not None


def make_router(kind: str | None = None, *, model: ModelSpec | None = "embedded", **options: Any) -> Router:
    """Build a router of the given kind over a model spec or chat model instance.

    Example:
        >>> from task_router import make_router, TaskCatalog
        >>> router = make_router("structured", model="embedded", catalog=TaskCatalog.demo())  # doctest: +SKIP
        >>> router.invoke({"messages": [{"role": "user", "content": "Draft a LinkedIn post"}]})  # doctest: +SKIP

    Composition for any kind, as methods of the router it returns (or the equivalent keyword options):
    ``.with_shortlist(k, window=..., pinned=...)`` (``shortlist=k``, ``shortlist_window``, ``shortlist_pinned``) lets
    the router see only the k tasks most similar to the conversation (:class:`task_router.shortlist.Shortlist`);
    ``.with_abstention(t)`` (``none_threshold=t``) abstains below a confidence
    (:class:`task_router.routers.abstain.Abstain`); ``thresholds=PATH`` reads both from a file written by
    ``task-router fit`` (for ``cascade`` it also gives the escalation threshold). ``time_budget_s=s`` bounds each
    decision (default 60 s, None: no limit; :mod:`task_router.routers.budget`). Every router is a LangChain
    Runnable: ``.with_retry()``, ``.with_fallbacks([...])`` and ``.with_config()`` compose as usual.
    """
    kind = kind or default_router_kind(model)
    time_budget = options.pop("time_budget_s", DEFAULT)
    shortlist = options.pop("shortlist", None)
    shortlist_options = {
        key: options.pop(f"shortlist_{key}") for key in ("window", "pinned") if f"shortlist_{key}" in options
    }
    none_threshold = options.pop("none_threshold", None)
    if options.get("thresholds") is not None:
        from task_router.calibration import load_thresholds

        fitted = load_thresholds(options["thresholds"])  # a cascade also reads its escalation threshold from it
        shortlist = fitted.shortlist if shortlist is None else shortlist
        if kind != "cascade":
            del options["thresholds"]
            none_threshold = fitted.none if none_threshold is None else none_threshold
    if kind == "embedding" and none_threshold is not None:
        options.setdefault("threshold", None)  # the fitted None threshold replaces the embedding router's own
    router = _build(kind, model, options)
    if none_threshold is not None:
        router = router.with_abstention(none_threshold)
    if shortlist:
        router = router.with_shortlist(shortlist, **shortlist_options)
    if time_budget != DEFAULT:
        resolve_budget(None, time_budget)  # a bad value fails here, naming the fix
        router.time_budget_s = time_budget
    return router


def _build(kind: str, model: ModelSpec | None, options: dict[str, Any]) -> Router:
    if kind not in ROUTER_KINDS:
        raise ValueError(f"unknown router kind {kind!r}: choose one of {sorted(ROUTER_KINDS)}")
    module_name, _, class_name = ROUTER_KINDS[kind].partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise ValueError(f"router kind {kind!r} is not available in this version yet") from None
        if (exc.name or "").split(".")[0] in _LOCAL_PACKAGES:
            raise ImportError(
                f"router kind {kind!r} runs a local model and needs the '{exc.name}' package: {install_line('local')}"
            ) from exc
        raise
    if kind in _MODEL_FREE:
        return cls(**options)
    if model is None:
        raise ValueError(f"router kind {kind!r} needs a model: pass model='embedded' or another model spec")
    return cls(model, **options)


__all__ = ["ROUTER_KINDS", "Prediction", "Router", "default_router_kind", "llm_router_kind", "make_router"]
