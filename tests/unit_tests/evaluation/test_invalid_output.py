"""An unparseable model answer goes through the real structured router and is counted as invalid format."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage

from task_router.evaluation import compute_metrics, load_dataset, replay
from task_router.routers._chat_model import StructuredRouter
from tests.unit_tests.evaluation.scripted import FIXTURE


def test_garbage_answer_becomes_a_safe_fallback_counted_as_invalid() -> None:
    replies = [
        '{"task": "recap"}',
        '{"task": "recap"}',
        '{"task": "email"}',
        '{"task": "email", "closing": true}',
        "I like turtles",  # the out-of-scope turn: unparseable ...
        "Turtles are great",  # ... and still unparseable after the one repair
        '{"task": "flight"}',
        '{"task": "flight"}',
    ]
    model = GenericFakeChatModel(messages=iter(AIMessage(reply) for reply in replies))
    predictions = replay(load_dataset(FIXTURE), StructuredRouter(model), progress=False)
    invalid = predictions[4]
    assert (invalid.event, invalid.task, invalid.valid_format) == ("NONE", "NONE", False)
    assert "I like turtles" in invalid.raw_output and "Turtles are great" in invalid.raw_output
    metrics = compute_metrics([p.result for p in predictions])
    assert metrics["invalid_format"] == 1
    assert metrics["task_accuracy"] == 1.0  # the fallback (nothing active -> NONE) happens to be right
    assert metrics["event_accuracy"] == 1.0
