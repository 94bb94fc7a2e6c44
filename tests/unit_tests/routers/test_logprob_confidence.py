"""Confidence from API log-probabilities: the helper on hand-made replies, then a real ChatOpenAI round trip against
the loopback fake server (no network, no key), for each text-answering router kind."""

import math

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from task_router import TaskCatalog, load_chat_model, make_router
from task_router.routers._answering import logprob_confidence, with_logprobs
from tests.fault_server import FaultServer, keyword_reply


def _reply(*tokens: tuple[str, float]) -> AIMessage:
    content = [{"token": token, "logprob": logprob} for token, logprob in tokens]
    return AIMessage("".join(t for t, _ in tokens), response_metadata={"logprobs": {"content": content}})


def test_probability_of_the_answer_tokens_only():
    reply = _reply(('{"task": "', -2.0), ("follow", -0.1), ("_up", -0.2), ("_email", -0.3), ('"}', -5.0))
    assert logprob_confidence(reply, "follow_up_email") == pytest.approx(math.exp(-0.6))


def test_last_mention_counts_and_case_is_ignored():
    reply = _reply(("recap", -3.0), (" or post? Answer: ", -1.0), ("Recap", -0.01))
    assert logprob_confidence(reply, "recap") == pytest.approx(math.exp(-0.01))


def test_no_logprobs_or_no_verbatim_answer_gives_no_confidence():
    assert logprob_confidence(AIMessage("recap"), "recap") is None
    assert logprob_confidence(_reply(("Meeting recap", -0.1)), "meeting_recap") is None
    assert logprob_confidence(_reply(("", 0.0)), "") is None


def test_models_without_logprobs_are_refused_with_the_fix():
    fake = GenericFakeChatModel(messages=iter([]))
    with pytest.raises(ValueError, match="drop logprobs=True"):
        with_logprobs(fake)


@pytest.mark.parametrize("kind", ["zero-shot", "structured", "react"])
def test_chat_openai_round_trip_sets_the_confidence(kind):
    catalog = TaskCatalog(
        [
            {"name": "meeting_recap", "description": "Summarise a meeting."},
            {"name": "linkedin_post", "description": "Write a LinkedIn post."},
        ]
    )
    reply = keyword_reply({"meeting": "meeting_recap"})
    if kind == "react":
        inner = reply
        reply = lambda request: f"Thought: the user wants a recap.\nAction: final_answer[{inner(request)}]"  # noqa: E731
    with FaultServer(reply=reply, token_logprob=-0.25) as server:
        model = load_chat_model("openai:fake", base_url=server.base_url, max_retries=0)
        router = make_router(kind, model=model, catalog=catalog, logprobs=True)
        decision = router.invoke({"messages": [{"role": "user", "content": "Recap the meeting we just had"}]})
        assert all(request["body"].get("logprobs") is True for request in server.requests)
    assert (decision.task, decision.event) == ("meeting_recap", "START")
    assert decision.confidence == pytest.approx(math.exp(-0.25))  # "meeting_recap" is one \w+ piece
