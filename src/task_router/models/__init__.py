"""Chat models from spec strings: ``embedded``, ``hf:<path>``, ``qlora:<adapter_dir>`` and any LangChain
``<provider>:<model>`` (``openai:``, ``anthropic:``, ``ollama:``, ``google_genai:``...)."""

from __future__ import annotations

import os
from functools import cache
from typing import Any

from langchain_core.language_models import BaseChatModel

from task_router._budget import DEFAULT, resolve_timeout
from task_router.models import _local

ModelSpec = str | BaseChatModel

_SPEC_HELP = (
    "use 'embedded', 'hf:<local model dir>', 'qlora:<adapter dir>', a LangChain '<provider>:<model>' such as "
    "'openai:gpt-4o-mini' (OPENAI_BASE_URL for a compatible server), 'anthropic:claude-sonnet-4-5' or "
    "'ollama:llama3.2', or pass a LangChain BaseChatModel instance"
)


def load_chat_model(spec: ModelSpec, *, base_url: str | None = None, **kwargs: Any) -> BaseChatModel:
    """Return a LangChain chat model for a model spec (see docs/contract.md); instances pass through unchanged.

    Local models are loaded once per process and shared.

    Example:
        >>> model = load_chat_model("embedded")  # doctest: +SKIP
        >>> model.invoke("Hello").content  # doctest: +SKIP
    """
    if isinstance(spec, BaseChatModel):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"invalid model spec {spec!r}: {_SPEC_HELP}")
    spec = spec.strip()
    if kwargs:
        return _load(spec, base_url, **kwargs)
    return _load_cached(spec, base_url)


# Network providers whose LangChain chat models take ``timeout`` and retry by themselves (``max_retries``, 2 by
# default): a router's model of these gets the router's time-out and no retries of its own.
_NETWORK_CLIENTS = frozenset({"openai", "azure_openai", "anthropic"})


def load_router_model(
    spec: ModelSpec, *, base_url: str | None = None, timeout_s: float | str | None = DEFAULT
) -> BaseChatModel:
    """The chat model a router asks: as :func:`load_chat_model`, except that a network provider's client
    (``openai:``, ``azure_openai:``, ``anthropic:``) gets the router's time-out and ``max_retries=0``.

    The time-out then stops the HTTP request itself (no request left running after the router gave up), and a
    router's retries belong to its composition (:func:`~task_router.reliability.make_reliable`): with the
    client's own 2 underneath, 3 attempts there would send up to 9 requests. Other specs (local models) load
    as :func:`load_chat_model` does; instances pass through unchanged (their settings are yours).

    Args:
        spec: a model spec or a chat model instance.
        base_url: an OpenAI-compatible server's URL, for ``openai:`` specs.
        timeout_s: the client's time-out in seconds (None: no limit; default: ``TASK_ROUTER_TIMEOUT_S``, else
            60; :mod:`task_router._budget`).

    Raises:
        ValueError: ``timeout_s`` is not a positive number of seconds or None, or the spec is not one.

    Example:
        >>> model = load_router_model("openai:gpt-4o-mini", base_url="http://127.0.0.1:9/v1", timeout_s=10)
        >>> model.request_timeout, model.max_retries
        (10.0, 0)
    """
    seconds = resolve_timeout(None, timeout_s)  # a bad value fails here, whatever the spec
    provider = spec.partition(":")[0] if isinstance(spec, str) else None
    if provider in _NETWORK_CLIENTS:
        return load_chat_model(spec, base_url=base_url, timeout=seconds, max_retries=0)
    return load_chat_model(spec, base_url=base_url)


_SPEC_OF: dict[int, str] = {}  # id of a cached model -> the spec it was loaded from (cached models live forever)


@cache
def _load_cached(spec: str, base_url: str | None) -> BaseChatModel:
    model = _load(spec, base_url)
    _SPEC_OF[id(model)] = spec
    return model


def _load(spec: str, base_url: str | None, **kwargs: Any) -> BaseChatModel:
    kind, _, arg = spec.partition(":")
    if spec == "embedded":
        return _local.chat_model_from_local(_local.load_embedded_model(), **kwargs)
    if kind == "hf" and arg:
        return _local.chat_model_from_local(_local.load_local_model(arg), **kwargs)
    if kind == "qlora" and arg:
        from task_router.models._local import load_adapter_model

        return _local.chat_model_from_local(load_adapter_model(arg), **kwargs)
    if kind and arg:
        return _load_provider(kind, arg, spec, base_url, **kwargs)
    raise ValueError(f"unknown model spec {spec!r}: {_SPEC_HELP}")


def _load_provider(provider: str, name: str, spec: str, base_url: str | None, **kwargs: Any) -> BaseChatModel:
    """``<provider>:<model>`` through LangChain's ``init_chat_model`` (openai, anthropic, ollama, google_genai, ...),
    greedy (``temperature=0``) unless ``kwargs`` say otherwise."""
    from langchain.chat_models import init_chat_model

    options: dict[str, Any] = {"temperature": 0, **kwargs}
    if provider == "openai":
        options = {"timeout": 60, "max_retries": 2, **options}
        base_url = base_url or os.environ.get("OPENAI_BASE_URL")
        if not base_url and not options.get("api_key") and not os.environ.get("OPENAI_API_KEY"):
            raise ValueError(
                f"{spec} needs an API key: set OPENAI_API_KEY, or give the base URL of an OpenAI-compatible server "
                "(--base-url or OPENAI_BASE_URL; local servers need no key)"
            )
        if base_url:
            options["base_url"] = base_url
            # Local OpenAI-compatible servers usually need no key; ChatOpenAI insists on one.
            options.setdefault("api_key", os.environ.get("OPENAI_API_KEY") or "not-needed")
    elif base_url:
        raise ValueError(f"--base-url / base_url is for openai: models (an OpenAI-compatible server), not {spec!r}")
    try:
        return init_chat_model(name, model_provider=provider, **options)
    except ImportError as exc:
        package = "langchain-" + provider.replace("_", "-")
        hint = "pip install 'langgraph-task-router[openai]'" if provider == "openai" else f"pip install {package}"
        raise ImportError(f"{provider}: models need LangChain's {provider} integration: {hint}") from exc
    except ValueError as exc:
        if "Unsupported" in str(exc):
            raise ValueError(f"unknown model spec {spec!r}: {_SPEC_HELP}") from None
        raise


def resolve_local_model(
    model: ModelSpec | _local.LocalModel,
    *,
    user: str = "the scoring router",
    otherwise: str = "router kind 'structured' for API models",
) -> tuple[_local.LocalModel, str]:
    """The transformers model behind a spec / chat model, or a ValueError that says what to use instead (``user``
    needs the likelihoods; ``otherwise`` is the way out for models that give none)."""
    if isinstance(model, _local.LocalModel):
        return model, model.name
    label = model_name(model)
    if isinstance(model, str) and not (model == "embedded" or model.startswith(("hf:", "qlora:"))):
        raise ValueError(
            f"{user} needs a local transformers model to read likelihoods, not {model!r}: use "
            f"model='embedded', 'hf:<dir>' or 'qlora:<adapter dir>', or {otherwise}"
        )
    found = _local.local_model_of(load_chat_model(model))
    if found is None:
        raise ValueError(
            f"{user} cannot read likelihoods from {label!r} ({type(model).__name__}): give a local "
            "model ('embedded', 'hf:<dir>', 'qlora:<dir>' or a ChatHuggingFace over a transformers pipeline), or "
            f"use {otherwise}"
        )
    return found, label


def model_name(model: ModelSpec) -> str:
    """A short name for a model, recorded in every decision."""
    if isinstance(model, str):
        return model
    name = _SPEC_OF.get(id(model)) or getattr(model, "model_name", None)
    return str(name or getattr(model, "model_id", None) or getattr(model, "model", None) or type(model).__name__)


__all__ = ["ModelSpec", "load_chat_model", "load_router_model", "model_name", "resolve_local_model"]
