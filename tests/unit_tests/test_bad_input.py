"""Bad input: each case gets a clear error naming the fix, or a safe documented decision."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.checkpoint.memory import InMemorySaver

from task_router import CatalogError, TaskCatalog, create_router_graph, make_router
from task_router._catalog import MAX_DESCRIPTION_CHARS
from task_router._prompting import MAX_MESSAGE_CHARS, render_conversation
from task_router._router_input import coerce_input
from tests.conftest import choice, scripted_model

# -- catalogue files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "fix"),
    [
        ("bad.yaml", "- name: recap\n  description: [unclosed", "not valid YAML"),
        ("bad.json", '[{"name": "recap", "description": "x",}]', "not valid JSON"),
        ("scalar.yaml", "just a sentence", "must hold a list of tasks"),
        ("empty.yaml", "", "must hold a list of tasks"),
        ("none.yaml", "[]", "catalogue is empty"),
        ("dup.yaml", "- {name: a, description: one}\n- {name: a, description: two}", "duplicate name 'a'"),
        ("nodesc.yaml", "- {name: a, description: '   '}", "description is empty"),
        ("huge.yaml", f"- {{name: a, description: '{'x' * (MAX_DESCRIPTION_CHARS + 1)}'}}", "shorten it"),
        ("spaces.json", json.dumps([{"name": "my task", "description": "d"}]), "'my_task'"),
        ("reserved.json", json.dumps([{"name": "none", "description": "d"}]), "reserved"),
        ("extra.json", json.dumps([{"name": "a", "description": "d", "colour": "red"}]), "colour"),
        ("notmap.json", json.dumps(["a"]), "must be a mapping"),
    ],
)
def test_malformed_catalogue_files_raise_catalog_error_naming_the_fix(
    tmp_path: Path, name: str, text: str, fix: str
) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match=fix):
        TaskCatalog.from_file(path)


def test_missing_and_binary_catalogue_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read catalogue file"):
        TaskCatalog.from_file(tmp_path / "nope.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(CatalogError, match="not UTF-8 text"):
        TaskCatalog.from_file(binary)


def test_every_bad_entry_is_reported_at_once() -> None:
    with pytest.raises(CatalogError) as info:
        TaskCatalog.from_records(
            [{"name": "a"}, {"name": "b c", "description": "x"}, {"name": "ok", "description": "y"}]
        )
    assert "task #0" in str(info.value) and "task #1" in str(info.value)


# -- conversations -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fix"),
    [
        ({"messages": []}, "no conversation"),
        ({"messages": "hello"}, "no conversation"),
        ({}, "no conversation"),
        ({"messages": [{"role": "assistant", "content": "Hi!"}]}, "must end with a user message"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, "end with a user"),
        ({"messages": [{"role": "wizard", "content": "a"}]}, "cannot read the conversation"),
        ({"messages": [{"content": "no role"}]}, "cannot read the conversation"),
        ({"messages": [42]}, "cannot read the conversation"),
        ({"messages": ["hi"], "active_task": 3}, "active_task must be a task name"),
    ],
)
def test_unusable_conversations_raise_value_error_naming_the_fix(catalog: TaskCatalog, value: dict, fix: str) -> None:
    with pytest.raises(ValueError, match=fix):
        coerce_input({**value, "catalog": catalog})
    router = make_router("zero-shot", model=scripted_model(choice("recap")), catalog=catalog)
    with pytest.raises(ValueError, match=fix):
        router.invoke(value)


def test_missing_catalogue_names_the_fix() -> None:
    with pytest.raises(ValueError, match="no task catalogue"):
        coerce_input({"messages": ["hi"]})


def test_conversation_starting_with_the_assistant_is_accepted(catalog: TaskCatalog) -> None:
    """Documented: a greeting by the assistant before the first user turn is ordinary history."""
    messages = [{"role": "assistant", "content": "Hello! How can I help?"}, {"role": "user", "content": "recap"}]
    router = make_router("zero-shot", model=scripted_model(choice("recap")), catalog=catalog)
    decision = router.invoke({"messages": messages})
    assert (decision.event, decision.task, decision.valid_format) == ("START", "recap", True)


def test_non_text_content_blocks_become_placeholders(catalog: TaskCatalog) -> None:
    content = [
        {"type": "text", "text": "Recap the meeting in this picture"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "file", "file": {"filename": "notes.pdf"}},
    ]
    routing = coerce_input({"messages": [HumanMessage(content=content)], "catalog": catalog})
    text = render_conversation(routing.messages)
    assert text == "User: Recap the meeting in this picture [image_url] [file]"
    assert "base64" not in text
    router = make_router("zero-shot", model=scripted_model(choice("recap")), catalog=catalog)
    assert router.invoke({"messages": [HumanMessage(content=content)]}).task == "recap"


def test_unicode_survives_rendering_and_routing(catalog: TaskCatalog) -> None:
    text = "Résume la réunion 会議の要約 🚀 — 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 \u200b zero-width"
    routing = coerce_input({"messages": [{"role": "user", "content": text}], "catalog": catalog})
    assert "会議の要約 🚀" in render_conversation(routing.messages)
    router = make_router("zero-shot", model=scripted_model(choice("recap")), catalog=catalog)
    assert router.invoke({"messages": [{"role": "user", "content": text}]}).task == "recap"


def test_long_history_keeps_the_latest_window_and_clips_long_messages() -> None:
    """Documented truncation: oldest messages dropped first, the last `window` kept, long ones keep head + tail."""
    messages = []
    for i in range(50):
        messages += [HumanMessage(f"user turn {i}"), AIMessage(f"assistant turn {i}")]
    messages.append(HumanMessage("HEAD " + "x" * 10_000 + " TAIL"))
    text = render_conversation(messages, window=4)
    lines = text.splitlines()
    assert [line.split(":")[0] for line in lines] == ["Assistant", "User", "Assistant", "User"]
    assert lines[0] == "Assistant: assistant turn 48" and lines[2] == "Assistant: assistant turn 49"
    assert lines[-1].startswith("User: HEAD") and lines[-1].endswith("TAIL") and "[...]" in lines[-1]
    assert len(lines[-1]) <= len("User: ") + MAX_MESSAGE_CHARS + len(" [...] ")
    assert render_conversation(messages, window=0).startswith("User: HEAD")  # the latest user turn always stays


def test_huge_conversation_routes_with_a_bounded_prompt(catalog: TaskCatalog) -> None:
    model = scripted_model(choice("recap"))
    router = make_router("zero-shot", model=model, catalog=catalog)
    history = [{"role": "user" if i % 2 == 0 else "assistant", "content": "blah " * 2000} for i in range(400)]
    history.append({"role": "user", "content": "recap please"})
    routing = coerce_input({"messages": history, "catalog": catalog})
    prompt = "\n".join(str(m.content) for m in router.messages(routing))
    assert len(prompt) < 20_000  # 800k characters of history become a prompt of a few thousand
    assert router.invoke({"messages": history}).task == "recap"


def test_active_task_removed_mid_thread_continues_as_if_none_was_active(catalog: TaskCatalog) -> None:
    model = scripted_model(choice("recap"), choice("recap"), choice("email"))
    router = make_router("zero-shot", model=model)
    graph = create_router_graph(catalog, router=router, model=None, task_graphs={"email": lambda s: {}}).compile(
        checkpointer=InMemorySaver()
    )
    config = {"configurable": {"thread_id": "removed"}}
    graph.update_state(config, {"active_task": "recap"})
    catalog.remove("recap")
    # The model still answers "recap": it is no longer in the catalogue, so the decision falls back to NONE.
    state = graph.invoke({"messages": [("user", "more notes for the recap")]}, config)
    decision = state["decisions"][-1]
    assert (decision["event"], decision["task"], decision["valid_format"]) == ("NONE", None, False)
    assert "'recap' is not a task in the catalogue" in decision["fallback"]
    assert state["active_task"] is None
    state = graph.invoke({"messages": [("user", "then an email")]}, config)
    assert (state["decisions"][-1]["event"], state["active_task"]) == ("START", "email")
