"""Router kinds (docs/contract.md) and the `make_router` factory.

The router classes (one per kind of :data:`ROUTER_KINDS`) and the wrappers :class:`Abstain` and :class:`Shortlist`
are importable from here; each is imported on first use, so that e.g. the embedding router's torch stays optional.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from task_router._budget import DEFAULT, resolve_timeout
from task_router._clarify import close_tasks
from task_router._resources import install_line
from task_router.models import ModelSpec
from task_router.models._local import pipeline_of
from task_router.routers._base import Prediction, Router

# kind -> "module:Class"; imported on demand so that e.g. the embedding router's torch stays optional.
ROUTER_KINDS: dict[str, str] = {
    "structured": "task_router.routers._chat_model:StructuredRouter",
    "zero-shot": "task_router.routers._chat_model:ZeroShotRouter",
    "few-shot-cot": "task_router.routers._chat_model:FewShotCoTRouter",
    "react": "task_router.routers._react:ReActRouter",
    "scoring": "task_router.routers._scoring:ScoringRouter",
    "embedding": "task_router.routers._embedding:EmbeddingRouter",
    "learned": "task_router._learned.router:LearnedRouter",
    "cascade": "task_router.routers._compose:CascadeRouter",
    "decision": "task_router.routers._decision_model:DecisionModelRouter",
}
# Class name -> module: the routers of ROUTER_KINDS and the wrappers composed by hand, loaded by __getattr__.
_LAZY = {path.partition(":")[2]: path.partition(":")[0] for path in ROUTER_KINDS.values()} | {
    "Abstain": "task_router.routers._compose",
    "Shortlist": "task_router.routers._shortlist",
}
_MODEL_FREE = {"embedding", "learned", "decision"}  # "decision" reads its own decision_model= instead
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


def make_router(
    kind: str | None = None,
    *,
    model: ModelSpec | None = "embedded",
    shortlist: int | None = None,
    shortlist_window: int | None = None,
    shortlist_pinned: Sequence[str] | None = None,
    none_threshold: float | None = None,
    thresholds: str | Path | None = None,
    timeout_s: float | str | None = DEFAULT,
    clarify_margin: float | None = None,
    **options: Any,
) -> Router:
    """Build a router of the given kind over a model spec or chat model instance, composed with the wrappers asked for.

    Args:
        kind: a router kind of :data:`ROUTER_KINDS` (None: the best kind for ``model``, :func:`default_router_kind`).
        model: a model spec (``embedded``, ``hf:<dir>``, ``qlora:<dir>``, ``<provider>:<model>``) or a chat model.
        shortlist: let the router read only the ``shortlist`` tasks most similar to the conversation, plus the
            active one (:class:`~task_router.routers.Shortlist`); ``shortlist_window`` /
            ``shortlist_pinned`` are its ``window`` and ``pinned``.
        none_threshold: abstain below this confidence: a proposed new task is not taken
            (:class:`~task_router.routers.Abstain`; fit it with ``task-router fit``).
        thresholds: a file written by ``task-router fit``: its None threshold and shortlist, unless given here (a
            cascade also reads its escalation threshold from it; a learned router, its NONE scores and
            temperature, refused with a ValueError when they were fitted for another learned model).
        timeout_s: the router's time-out in seconds (None: no limit; default: ``TASK_ROUTER_TIMEOUT_S``, else
            60; :mod:`task_router._budget`). A decision that takes longer raises ``DecisionTimeout``, for the
            composition's fallback to decide (:func:`~task_router.reliability.make_reliable`); a network model
            given by spec (``openai:``, ``azure_openai:``, ``anthropic:``) also gets it as its client's time-out,
            so that its HTTP request stops too (:func:`~task_router.models.load_router_model`).
        clarify_margin: mark a decision whose two most probable tasks are closer than this probability gap, so
            that the graph asks the user which one they mean (``RouteDecision.clarify``, :mod:`task_router._clarify`).
        **options: the kind's own options (e.g. ``catalog``; ``threshold`` of ``embedding``; of the chat-model kinds,
            ``prompt``, a prompt file's name or your own ``ChatPromptTemplate``, and ``base_url``, an
            OpenAI-compatible server for an ``openai:`` model).

    Returns:
        The router: a LangChain Runnable, so ``.with_retry()``, ``.with_fallbacks([...])`` and ``.with_config()``
        compose as usual; :func:`~task_router.reliability.make_reliable` is the documented composition. The
        wrappers themselves can also be composed by hand:
        ``Shortlist(Abstain(make_router("scoring"), threshold=0.4), k=10)``.

    Raises:
        ValueError: an unknown kind, a kind without the model it needs, or a ``timeout_s`` that is not a positive
            number of seconds (or None).

    Example:
        >>> from task_router import make_router, TaskCatalog
        >>> router = make_router("learned", none_threshold=0.35, catalog=TaskCatalog.demo())  # doctest: +SKIP
        >>> router.invoke({"messages": [{"role": "user", "content": "Draft a LinkedIn post"}]}).task  # doctest: +SKIP
        'linkedin_post'
        >>> api = make_router("structured", model="openai:gpt-4o-mini", timeout_s=10,
        ...                   base_url="http://127.0.0.1:9/v1")  # the client's time-out is 10 s too
        >>> api.timeout_s, api.model.request_timeout, api.model.max_retries
        (10, 10.0, 0)
    """
    from task_router.routers._compose import Abstain
    from task_router.routers._shortlist import Shortlist

    if "time_budget_s" in options:
        raise TypeError("make_router's time_budget_s was renamed timeout_s: give timeout_s=...")
    kind = kind or default_router_kind(model)
    if thresholds is not None:
        from task_router._thresholds import learned_model_mismatch, load_thresholds

        fitted = load_thresholds(thresholds)
        mismatch = learned_model_mismatch(fitted, kind, _learned_model_path(options))
        if mismatch is not None:
            raise ValueError(f"{thresholds} holds {mismatch}")
        shortlist = fitted.shortlist if shortlist is None else shortlist
        if kind == "cascade":
            options["thresholds"] = thresholds  # its escalation and None thresholds
        else:
            none_threshold = fitted.none if none_threshold is None else none_threshold
        if kind == "learned":  # its own NONE scores and temperature, refitted on the user's turns
            for key in ("none_bias", "none_bias_active", "temperature"):
                if getattr(fitted, key) is not None:
                    options.setdefault(key, getattr(fitted, key))
    if kind == "embedding" and none_threshold is not None:
        options.setdefault("threshold", None)  # the fitted None threshold replaces the embedding router's own
    resolve_timeout(None, timeout_s)  # a bad value (or the renamed environment variable) fails here, naming the fix
    router = _build(kind, model, options, timeout_s=timeout_s)
    if none_threshold is not None:
        router = Abstain(router, threshold=none_threshold)
    if shortlist:
        extra: dict[str, Any] = {"window": shortlist_window, "pinned": shortlist_pinned}
        router = Shortlist(router, k=shortlist, **{key: value for key, value in extra.items() if value is not None})
    router.timeout_s = timeout_s  # the outermost router's: a wrapper decides within one time-out
    if clarify_margin is not None:
        close_tasks([], clarify_margin)  # a bad value fails here, naming the fix
        router.clarify_margin = clarify_margin
    return router


def _learned_model_path(options: dict[str, Any]) -> Any:
    """The folder of the learned model ``options`` ask for (``model_path``, or a loaded ``model``'s); None: the
    shipped one."""
    loaded = options.get("model")
    return options.get("model_path") if loaded is None else getattr(loaded, "path", None)


def _build(kind: str, model: ModelSpec | None, options: dict[str, Any], *, timeout_s: Any) -> Router:
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
    if cls.takes_timeout:
        options["timeout_s"] = timeout_s
    if kind in _MODEL_FREE:
        return cls(**options)
    if model is None:
        raise ValueError(f"router kind {kind!r} needs a model: pass model='embedded' or another model spec")
    return cls(model, **options)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'task_router.routers' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "ROUTER_KINDS",
    "Abstain",
    "CascadeRouter",
    "DecisionModelRouter",
    "EmbeddingRouter",
    "FewShotCoTRouter",
    "LearnedRouter",
    "Prediction",
    "ReActRouter",
    "Router",
    "ScoringRouter",
    "Shortlist",
    "StructuredRouter",
    "ZeroShotRouter",
    "default_router_kind",
    "llm_router_kind",
    "make_router",
]
