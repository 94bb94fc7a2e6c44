"""LocalChatModel (the local transformers chat model) streams token by token, stops generating when its reader
stops, honours stop strings, and surfaces a generation error at once. A tiny random Llama over a word-level
tokenizer stands in for the embedded model: these test the streaming, not a model's words."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("langchain_huggingface")

from langchain_huggingface import HuggingFacePipeline  # noqa: E402
from tokenizers import Tokenizer, decoders, models, pre_tokenizers  # noqa: E402
from transformers import LogitsProcessor, PreTrainedTokenizerFast, pipeline  # noqa: E402

from task_router.models._streaming import LocalChatModel, StopText, cut_at_stop  # noqa: E402
from tests.unit_tests.inference.tiny_model import tiny_llama  # noqa: E402

# "abcdef": transformers' stop-string matcher decodes each token after that prefix.
WORDS = [f"word{i}" for i in range(60)] + ["user", "assistant", ":", "hello", "abcdef"]
TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant :{% endif %}"
)


def tiny_chat_model(max_new_tokens: int = 24) -> LocalChatModel:
    vocab = {"[UNK]": 0, "[EOS]": 1, **{word: i + 2 for i, word in enumerate(WORDS)}}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece()  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", eos_token="[EOS]")
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.chat_template = TEMPLATE
    model = tiny_llama(len(vocab), hidden_size=16, num_hidden_layers=1, eos_token_id=1, pad_token_id=1)
    with torch.no_grad():  # never end early: the tests need long replies
        model.lm_head.weight[1].fill_(0.0)
        model.lm_head.weight[0].fill_(0.0)
    pipe = pipeline(
        "text-generation",
        model=model,
        tokenizer=tokenizer,
        max_new_tokens=max_new_tokens,
        do_sample=False,
        return_full_text=False,
    )
    return LocalChatModel(llm=HuggingFacePipeline(pipeline=pipe, model_id="tiny"), tokenizer=tokenizer, model_id="tiny")


class Steps(LogitsProcessor):
    """Counts the generation steps."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        self.count += 1
        return scores


@pytest.fixture(scope="module")
def model() -> LocalChatModel:
    return tiny_chat_model()


def test_stop_text_holds_back_what_may_start_a_stop_string() -> None:
    cut = StopText(["\nUser:"])
    assert cut.feed("Dear Sarah,\nU") == ("Dear Sarah,", False)
    assert cut.feed("nder the plan") == ("\nUnder the plan", False)
    assert cut.feed(" ok\nUser: next") == (" ok", True)
    assert StopText(["\nUser:"]).feed("tail\n") == ("tail", False)
    assert cut_at_stop("a b\nUser: c", ["\nUser:", " b"]) == "a"
    assert cut_at_stop("a b", []) == "a b"


def test_the_stream_is_the_invoked_reply_in_several_pieces(model: LocalChatModel) -> None:
    whole = model.invoke("hello").content
    pieces = [chunk.content for chunk in model.stream("hello")]
    assert len(whole.split()) >= 10
    assert len([p for p in pieces if p.strip()]) >= 10
    assert "".join(pieces).strip() == whole.strip()


def test_closing_the_stream_stops_the_generation(model: LocalChatModel) -> None:
    steps = Steps()
    stream = model.stream("hello", pipeline_kwargs={"max_new_tokens": 400, "logits_processor": [steps]})
    next(stream), next(stream)
    stream.close()
    assert steps.count < 20  # not the 400 asked for
    assert not [t for t in threading.enumerate() if t.name == "task-router-generate"]


def test_the_reply_ends_before_a_stop_string(model: LocalChatModel) -> None:
    words = model.invoke("hello").content.split()
    stop = " " + words[4]
    streamed = "".join(chunk.content for chunk in model.stream("hello", stop=[stop]))
    invoked = model.invoke("hello", stop=[stop]).content
    assert streamed.strip() == invoked.strip() == " ".join(words[:4])


def test_a_generation_error_is_raised_at_once(model: LocalChatModel) -> None:
    start = time.monotonic()
    with pytest.raises(Exception, match=r"max_new_tokens|int|str"):
        list(model.stream("hello", pipeline_kwargs={"max_new_tokens": "many"}))
    assert time.monotonic() - start < 10  # not the streamer's queue timeout


def test_the_reply_repetition_penalty_leaves_the_prompt_alone(model: LocalChatModel) -> None:
    from task_router.models._streaming import reply_repetition_penalty

    penalty = reply_repetition_penalty(100.0)
    prompt = torch.tensor([[5, 6, 7]])
    scores = torch.ones((1, len(WORDS) + 2))
    assert torch.equal(penalty(prompt, scores.clone()), scores)  # first call: the prompt only, nothing penalised
    out = penalty(torch.tensor([[5, 6, 7, 9]]), scores.clone())
    assert out[0, 9] == pytest.approx(0.01) and out[0, 5] == 1.0  # the reply's own token only
