"""Bad input that still broke a decision (issue 24, items 6 and 9): invalid code points and unclear messages."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, ChatMessage, HumanMessage
from pydantic import Field

from task_router import CatalogError, Task, TaskCatalog, load_chat_model, make_router
from task_router._prompting import render_conversation
from task_router._router_input import RouterInputError, coerce_input
from task_router.routers._embedding import EmbeddingRouter
from task_router.routers._fallbacks import make_reliable
from tests.fault_server import FaultServer, keyword_reply
from tests.unit_tests.fakes import Words, encodes_as_utf8

LONE = "\ud800"  # a lone surrogate: valid in a Python str, refused by UTF-8 encoders, tokenizers and HTTP clients
TOKENIZER_ERROR = "TextEncodeInput must be Union[TextInputSequence, Tuple[InputSequence, InputSequence]]"


class TokenizerLikeWords(Words):
    """Bag of words that, like a Hugging Face tokenizer, raises TypeError on text it cannot encode."""

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        if not all(encodes_as_utf8(text) for text in texts):
            raise TypeError(TOKENIZER_ERROR)
        return super().encode(texts, **kwargs)


class Utf8WireModel(GenericFakeChatModel):
    """Like an API client, sends the prompt as UTF-8 (a lone surrogate raises UnicodeEncodeError); counts calls."""

    calls: list[int] = Field(default_factory=list)

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        self.calls.append(1)
        for message in messages:
            str(message.content).encode("utf-8")
        return super()._generate(messages, *args, **kwargs)


# -- item 6: invalid code points are replaced where text enters ----------------------------------------------


def test_valid_text_replaces_lone_surrogates_and_keeps_valid_text() -> None:
    from task_router._io_limits import valid_text

    assert valid_text(f"recap {LONE} now") == "recap \ufffd now"
    assert valid_text("\udfff\ud800") == "\ufffd\ufffd"
    assert valid_text("\ud83d\ude80") == "🚀"  # a surrogate pair written as two code points is the character
    text = "Résume 会議 🚀"
    assert valid_text(text) is text


def test_messages_are_cleaned_where_they_are_coerced(catalog: TaskCatalog) -> None:
    blocks = [{"type": "text", "text": f"recap {LONE}"}, {"type": f"image{LONE}"}]
    routing = coerce_input(
        {
            "messages": [AIMessage(f"hi {LONE}"), HumanMessage(content=blocks), {"role": "user", "content": LONE}],
            "catalog": catalog,
        }
    )
    rendered = render_conversation(routing.messages)
    assert rendered == "Assistant: hi \ufffd\nUser: recap \ufffd [image\ufffd]\nUser: \ufffd"
    assert encodes_as_utf8(rendered)


def test_catalogue_text_is_cleaned_where_tasks_are_validated() -> None:
    task = Task(
        name="recap",
        description=f"Summarise {LONE} a meeting.",
        display_name=f"Recap {LONE}",
        examples=[f"recap {LONE}"],
        inputs=[{"name": "notes", "description": f"the {LONE} notes", "question": f"Notes {LONE}?"}],
        instructions=f"List {LONE} decisions.",
    )
    catalog = TaskCatalog([task, {"name": "email", "description": f"Write {LONE} an email."}])
    dumped = str(catalog.to_records())
    assert LONE not in dumped and "\ufffd" in dumped
    assert catalog["email"].description == "Write \ufffd an email."


def test_embedding_router_decides_on_a_lone_surrogate(catalog: TaskCatalog) -> None:
    catalog.add({"name": "pitch", "description": f"Prepare a one-minute pitch {LONE}."})
    router = EmbeddingRouter(
        catalog=catalog, encoder=TokenizerLikeWords(), closing_phrases=[], threshold=0.1, margin=0.0
    )
    decision = router.invoke({"messages": [f"recap the meeting {LONE}"]})
    assert (decision.event, decision.task) == ("START", "recap")


def test_api_router_on_a_lone_surrogate_decides_in_one_call_not_three(catalog: TaskCatalog) -> None:
    catalog.add({"name": "pitch", "description": f"Prepare a one-minute pitch {LONE}."})
    model = Utf8WireModel(messages=iter([AIMessage('{"task": "recap", "closing": false}')] * 3))
    router = make_reliable(make_router("structured", model=model), retries=2, backoff_s=0, fallback="keep-active")
    decision = router.invoke({"messages": [f"recap my meeting {LONE}"], "catalog": catalog})
    assert (decision.event, decision.task, decision.valid_format) == ("START", "recap", True)
    assert len(model.calls) == 1


def test_openai_structured_router_on_a_lone_surrogate_sends_one_request() -> None:
    catalog = TaskCatalog([{"name": "meeting_recap", "description": f"Summarise a meeting {LONE}."}])
    with FaultServer(reply=keyword_reply({"meeting": "meeting_recap"})) as server:
        model = load_chat_model("openai:fake", base_url=server.base_url, max_retries=0)
        router = make_reliable(
            make_router("structured", model=model, catalog=catalog), retries=2, backoff_s=0, fallback="keep-active"
        )
        decision = router.invoke({"messages": [{"role": "user", "content": f"Recap the meeting {LONE}"}]})
    assert (decision.task, decision.valid_format, decision.stage) == ("meeting_recap", True, None)
    assert len(server.requests) == 1


# -- item 9: messages that name the fix --------------------------------------------------------------------


@pytest.mark.parametrize(("name", "suggestion"), [("-x", "'x'"), (".hidden", "'hidden'"), ("--", "'my_task'")])
def test_invalid_name_suggests_a_valid_name(name: str, suggestion: str) -> None:
    with pytest.raises(CatalogError) as info:
        TaskCatalog.from_records([{"name": name, "description": "d"}])
    message = str(info.value)
    assert f"e.g. {suggestion}" in message and "start with a letter or digit" in message
    Task(name=suggestion.strip("'"), description="d")  # the suggestion is itself valid


def test_chat_message_with_role_user_is_a_user_turn(catalog: TaskCatalog) -> None:
    messages = [AIMessage("Hi!"), ChatMessage(role="user", content="recap my meeting")]
    routing = coerce_input({"messages": messages, "catalog": catalog})
    assert isinstance(routing.messages[-1], HumanMessage)
    assert routing.last_user_text == "recap my meeting"
    assert render_conversation(routing.messages).endswith("User: recap my meeting")
    with pytest.raises(RouterInputError, match="must end with a user message"):
        coerce_input({"messages": [ChatMessage(role="assistant", content="hi")], "catalog": catalog})


def test_empty_catalogue_says_it_is_empty_and_how_to_add_tasks(catalog: TaskCatalog) -> None:
    for name in catalog.names:
        catalog.remove(name)
    for router_catalog in (None, catalog):
        router = make_router("structured", model=GenericFakeChatModel(messages=iter([])), catalog=router_catalog)
        with pytest.raises(RouterInputError) as info:
            router.invoke({"messages": ["hi"], "catalog": catalog})
        assert "catalogue is empty" in str(info.value) and "add(" in str(info.value)
        assert "no task catalogue" not in str(info.value)


def test_router_catalogue_still_used_when_the_input_names_none(catalog: TaskCatalog) -> None:
    router = make_router("structured", model=GenericFakeChatModel(messages=iter([])))
    assert coerce_input({"messages": ["hi"]}, catalog).catalog.names == catalog.names
    with pytest.raises(RouterInputError, match="no task catalogue"):
        router.invoke({"messages": ["hi"]})
