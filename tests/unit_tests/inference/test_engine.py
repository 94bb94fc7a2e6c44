"""The inference building blocks on a tiny real Llama: token trie, packed scoring, KV store, prompt layout."""

from __future__ import annotations

import pytest
import torch
from langchain_core.messages import AIMessage, HumanMessage

from task_router._catalog import Task, TaskCatalog
from task_router._inference import (
    PromptLayout,
    ThreadCache,
    ThreadKVStore,
    TokenTrie,
    cache_nbytes,
    extend_and_score,
    prefill,
)
from task_router._prompting import load_prompt
from tests.unit_tests.inference.tiny_model import ByteTokenizer, tiny_local_model


def test_trie_shares_prefixes_and_keeps_paths() -> None:
    trie = TokenTrie.build([[1, 2, 3], [1, 2, 4], [5], [1, 2]])
    assert trie.tokens == [1, 2, 3, 4, 5]
    assert trie.paths == [[0, 1, 2], [0, 1, 3], [4], [0, 1]]
    assert trie.ancestors(3) == [3, 1, 0]
    with pytest.raises(ValueError, match="tokenized to nothing"):
        TokenTrie.build([[1], []])


def test_packed_scores_equal_separate_forwards() -> None:
    model = tiny_local_model().model
    prompt = [10, 20, 30, 40, 50, 60]
    candidates = [[7, 8, 9], [7, 8, 11], [12], [7]]
    cache = prefill(model, prompt[:4])
    packed = extend_and_score(model, cache, prompt[4:], TokenTrie.build(candidates))
    assert cache.get_seq_length() == len(prompt)  # candidates cropped off
    with torch.inference_mode():
        for candidate, scores in zip(candidates, packed, strict=True):
            logits = model(torch.tensor([prompt + candidate])).logits[0].float()
            expected = [float(torch.log_softmax(logits[len(prompt) - 1 + i], -1)[t]) for i, t in enumerate(candidate)]
            assert scores == pytest.approx(expected, abs=1e-4)


def _entry(model, n_tokens: int) -> ThreadCache:
    ids = tuple(range(3, 3 + n_tokens))
    return ThreadCache("k", ids, prefill(model, ids))


def test_store_evicts_least_recently_used_by_count() -> None:
    model = tiny_local_model().model
    store = ThreadKVStore(max_threads=2, max_bytes=2**30)
    for thread in ("a", "b"):
        store.checkin(thread, _entry(model, 5))
    store.checkin("a", store.checkout("a"))  # a is now the most recent
    store.checkin("c", _entry(model, 5))
    assert store.thread_ids() == ["a", "c"]
    assert store.evictions == 1


def test_store_evicts_by_bytes_and_refuses_oversized_entries() -> None:
    model = tiny_local_model().model
    one = cache_nbytes(_entry(model, 10).cache)
    store = ThreadKVStore(max_threads=100, max_bytes=int(2.5 * one))
    for thread in ("a", "b", "c"):
        store.checkin(thread, _entry(model, 10))
    assert store.thread_ids() == ["b", "c"]
    assert store.nbytes <= store.max_bytes
    store.checkin("big", _entry(model, 40))
    assert "big" not in store and store.thread_ids() == ["b", "c"]


def test_checked_out_entry_is_not_shared() -> None:
    store = ThreadKVStore()
    store.checkin("t", _entry(tiny_local_model().model, 3))
    assert store.checkout("t") is not None
    assert store.checkout("t") is None  # a concurrent call for the same thread starts cold


def test_store_rejects_empty_budget() -> None:
    with pytest.raises(ValueError, match="max_threads"):
        ThreadKVStore(max_threads=0)


def test_layout_conversation_only_grows_between_cuts() -> None:
    layout = PromptLayout(ByteTokenizer(), load_prompt("scoring"), window=4, stride=4)
    messages = []
    previous: tuple[int, ...] = ()
    cuts = 0
    for i in range(12):
        messages.append(HumanMessage(f"user {i}") if i % 2 == 0 else AIMessage(f"assistant {i}"))
        if i % 2:
            continue
        ids = layout.conversation_ids(messages)
        if ids[: len(previous)] != previous:
            cuts += 1
        previous = ids
        assert 1 <= len(layout.visible(messages)) <= 4 + 4 - 1
        assert isinstance(layout.visible(messages)[0], HumanMessage)
    assert cuts == 1  # at the 9th message: the start moves in steps of `stride` messages


def test_prefix_key_changes_with_a_catalogue_edit() -> None:
    layout = PromptLayout(ByteTokenizer(), load_prompt("scoring"))
    catalog = TaskCatalog([Task(name="recap", description="Summarise a meeting.")])
    first = layout.prefix(catalog)
    assert layout.prefix(catalog) is first  # memoised per version
    catalog.update("recap", description="Summarise a meeting in five bullets.")
    assert layout.prefix(catalog).key != first.key
