"""Fast local inference for routing: prompt layout for reuse, per-thread KV caches, one-pass answer scoring."""

from task_router._inference.engine import ScoreResult, ScoringEngine, model_lock
from task_router._inference.kv_store import DEFAULT_MAX_BYTES, DEFAULT_MAX_THREADS, ThreadCache, ThreadKVStore
from task_router._inference.layout import ChatFrame, Prefix, PromptLayout
from task_router._inference.packed import cache_nbytes, copy_cache, crop_to, extend_and_score, packed_mask, prefill
from task_router._inference.trie import TokenTrie

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
