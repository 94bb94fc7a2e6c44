"""Shared test helpers: a scripted chat model for pure-logic tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from task_router import Task, TaskCatalog

ROOT_DIR = Path(__file__).resolve().parents[1]  # the repository
FIXTURES = ROOT_DIR / "tests" / "fixtures"  # small hand-made files


def scripted_model(*replies: str | dict) -> GenericFakeChatModel:
    """A fake chat model answering the given replies in order (dicts are sent as JSON text)."""
    return GenericFakeChatModel(messages=iter(AIMessage(json.dumps(r) if isinstance(r, dict) else r) for r in replies))


def choice(task: str, closing: bool = False) -> dict:
    return {"task": task, "closing": closing}


@pytest.fixture
def catalog() -> TaskCatalog:
    return TaskCatalog(
        [
            Task(
                name="recap",
                description="Summarise a meeting into decisions and action items.",
                inputs=[{"name": "notes", "description": "the meeting notes"}],
            ),
            Task(
                name="email",
                description="Write a follow-up email after a meeting.",
                inputs=[{"name": "recipient", "description": "who the email is for"}],
            ),
            Task(name="post", description="Draft a LinkedIn post.", display_name="LinkedIn post"),
        ]
    )


def user_turns(texts: Iterable[str]) -> list[dict]:
    return [{"role": "user", "content": t} for t in texts]


def with_replies(texts: Iterable[str], reply: Callable[[int], str]) -> list[BaseMessage]:
    """The user's turns as messages, each after the first preceded by the assistant's ``reply(i)`` (i: its index)."""
    messages: list[BaseMessage] = []
    for i, text in enumerate(texts):
        if i:
            messages.append(AIMessage(reply(i)))
        messages.append(HumanMessage(text))
    return messages
