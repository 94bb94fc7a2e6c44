"""Fast local inference for routing: prompt layout for reuse, per-thread KV caches, one-pass answer scoring."""

from task_router._inference.engine import (
    DEFAULT_MAX_BYTES,
    DEFAULT_MAX_THREADS,
    ChatFrame,
    Prefix,
    PromptLayout,
    ScoreResult,
    ScoringEngine,
    ThreadCache,
    ThreadKVStore,
    model_lock,
)
from task_router._inference.forward import (
    TokenTrie,
    cache_nbytes,
    copy_cache,
    crop_to,
    extend_and_score,
    packed_mask,
    prefill,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_THREADS",
    "ChatFrame",
    "Prefix",
    "PromptLayout",
    "ScoreResult",
    "ScoringEngine",
    "ThreadCache",
    "ThreadKVStore",
    "TokenTrie",
    "cache_nbytes",
    "copy_cache",
    "crop_to",
    "extend_and_score",
    "model_lock",
    "packed_mask",
    "prefill",
]
