"""Issue 16: the crash classes an outside fuzz run found, each reproduced once and checked to be a clear error now.

Catalogue and conversation files (nesting, numbers, sizes, argument types), conversations (tool messages, huge
messages, a catalogue that is not one), model output (huge answers, provider numbers out of range), catalogue
edits while a decision is made.
"""

from __future__ import annotations

import gzip
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from pydantic import Field

from task_router import CatalogError, TaskCatalog, load_chat_model, make_router
from task_router._io_limits import MAX_DEPTH, MAX_INT_DIGITS, parse_document, structure_problem
from task_router._learned.texts import query_text
from task_router._prompting import MAX_ROUTED_CHARS, render_conversation
from task_router._router_input import RoutingInput, coerce_input, load_conversation_file
from task_router._thresholds import load_thresholds
from task_router.evaluation import DatasetError, load_dataset
from task_router.routers._answering import logprob_confidence
from task_router.routers._base import MAX_DECISION_TEXT, Prediction, Router
from task_router.routers._embedding import EmbeddingRouter
from tests.conftest import choice, scripted_model
from tests.fault_server import FaultServer, keyword_reply


def _deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


class _RecordingEncoder:
    """Bag-of-words vectors (as in test_router_kinds) that records the length of every text it is given; optionally
    runs ``on_query`` when asked for a user turn (one text or a turn with its context), to edit the catalogue then."""

    vocabulary = ("meeting", "recap", "notes", "email", "follow", "write", "post", "linkedin", "thanks", "bye")

    def __init__(self, on_query: Callable[[], object] | None = None) -> None:
        self.lengths: list[int] = []
        self.on_query = on_query

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        self.lengths += [len(t) for t in texts]
        if self.on_query is not None and not any(":" in t for t in texts):
            self.on_query()
        rows = np.zeros((len(texts), len(self.vocabulary) + 1), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                if word in self.vocabulary:
                    rows[i, self.vocabulary.index(word)] += 1
            rows[i, -1] = 0.05
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


class _FixedRouter(Router):
    kind = "fixed"

    def __init__(self, prediction: Prediction, catalog: TaskCatalog) -> None:
        super().__init__(catalog=catalog)
        self.prediction = prediction

    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        return self.prediction


CATALOG_GUIDANCE = "each with a 'name' and a 'description'"  # every catalogue-file error says what a valid one is


# -- 1. files: nesting, numbers, types ------------------------------------------------------------------------------
DEEP = 5_000


@pytest.mark.parametrize(
    ("name", "text", "problem"),
    [
        ("flow.json", "[" * DEEP + "]" * DEEP, f"nested more than {MAX_DEPTH} levels"),
        ("object.json", '{"a":' * DEEP + "1" + "}" * DEEP, f"nested more than {MAX_DEPTH} levels"),
        ("flow.yaml", "[" * DEEP + "]" * DEEP, f"nested more than {MAX_DEPTH} levels"),
        ("block.yaml", "".join("  " * i + "-\n" for i in range(1000)), f"nested more than {MAX_DEPTH} levels"),
        ("inline_block.yaml", "- " * 100_000 + "x\n", f"nested more than {MAX_DEPTH} levels"),
        ("aliases.yaml", "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 200)), "nested"),
        (
            "laughs.yaml",
            "a: &a [lol]\n"
            + "".join(
                f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefghij", "bcdefghijk", strict=True)
            ),
            "expands to",
        ),
        ("cycle.yaml", "&a [*a]", "refers to itself"),
        ("bigint.json", '[{"name": "a", "description": "b", "n": ' + "9" * 5000 + "}]", "5,000 digits"),
        ("bigint.yaml", "- {name: a, description: b, n: " + "9" * 5000 + "}", "5,000 digits"),
        ("date.yaml", "- {name: a, description: 2001-13-45}", "cannot be read (month must be in 1..12)"),
        ("syntax.json", '[{"name": "a", "description": }]', "not valid JSON (Expecting value at line 1, column 31)"),
        ("syntax.yaml", "- name: a\n  description: [x", "not valid YAML"),
        ("binary.yaml", "\x00\x01\x02 garbage", "not UTF-8 text"),
        ("folder", None, "is a folder"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 30 else "",
)
def test_hostile_catalogue_files_give_a_catalog_error_with_guidance(
    tmp_path: Path, name: str, text: str | None, problem: str
) -> None:
    path = tmp_path / name
    if text is None:
        path.mkdir()
    else:
        path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        TaskCatalog.from_file(path)
    message = str(info.value)
    assert problem in message and str(path) in message and CATALOG_GUIDANCE in message
    assert len(message) < 1000  # the parser's own message is wrapped, not dumped


@pytest.mark.parametrize("value", [None, 7, 3.5, ["a.yaml"], b"", ""])
def test_catalog_from_file_with_a_wrong_argument_type_says_what_it_needs(value: object) -> None:
    with pytest.raises(CatalogError, match="must be a file path") as info:
        TaskCatalog.from_file(value)  # type: ignore[arg-type]
    assert CATALOG_GUIDANCE in str(info.value)


@pytest.mark.parametrize("value", [None, 7, "recap", {"name": "a", "description": "b"}])
def test_catalog_from_records_with_a_wrong_argument_type_says_what_it_needs(value: object) -> None:
    with pytest.raises(CatalogError, match="must be a list of tasks") as info:
        TaskCatalog.from_records(value)  # type: ignore[arg-type]
    assert "'name' and a 'description'" in str(info.value)


def test_oversized_file_is_refused_before_it_is_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("task_router._io_limits.MAX_FILE_BYTES", 1000)
    import task_router._io_limits as limits

    path = tmp_path / "big.json"
    path.write_text(json.dumps([{"name": "a", "description": "x" * 2000}]))
    with pytest.raises(ValueError, match="larger than"):
        limits.read_text(path, what="file", hint="h", max_bytes=limits.MAX_FILE_BYTES)


def test_a_valid_catalogue_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "tasks:\n  - name: recap\n    description: Recap a meeting.\n    inputs:\n"
        "      - {name: notes, description: the notes}\n",
        encoding="utf-8",
    )
    assert TaskCatalog.from_file(path).names == ["recap"]
    assert TaskCatalog.demo().names  # the shipped catalogue passes the limits


def test_structure_check_counts_shared_values_at_every_use() -> None:
    leaf: list = ["x"]
    deep, wide = {"a": leaf, "b": leaf}, leaf
    for _ in range(MAX_DEPTH + 5):
        deep = {"a": deep, "b": leaf}  # a chain of mappings: deeper than the limit
    for _ in range(30):
        wide = [wide, wide]  # 30 objects that expand to 2**30 values
    assert "nested more than" in (structure_problem(deep) or "")
    assert "expands to more than" in (structure_problem(wide) or "")
    assert structure_problem({"a": [1, {"b": [2]}]}) is None
    with pytest.raises(ValueError, match="digits"):
        parse_document("9" * (MAX_INT_DIGITS + 1), fmt="json", source="s", hint="h")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[" * DEEP + "]" * DEEP, "nested more than"),
        ('[{"role": "user", "content": ' + "9" * 5000 + "}]", "5,000 digits"),
        ("\x00\x01binary", "not UTF-8 text"),
        ("[]", "holds no messages"),
        ('{"messages": [{"role": "user", "content": "x"}], "active_task": 3}', "active_task must be a task name"),
        ("not json", "not valid JSON"),
    ],
)
def test_hostile_conversation_files_give_a_value_error_with_guidance(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "conversation.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=problem) as info:
        load_conversation_file(path)
    assert "a conversation is a JSON list of messages" in str(info.value)


@pytest.mark.parametrize(
    ("line", "problem"),
    [("[" * DEEP + "]" * DEEP, "nested more than"), ('{"id": ' + "9" * 5000 + "}", "5,000 digits")],
)
def test_hostile_dataset_records_give_a_dataset_error(tmp_path: Path, line: str, problem: str) -> None:
    for path in (tmp_path / "d.jsonl", tmp_path / "d.jsonl.gz"):
        data = line.encode()
        path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
        with pytest.raises(DatasetError, match=problem) as info:
            load_dataset(path)
        assert f"{path}:1" in str(info.value) and "each line must be one JSON object" in str(info.value)


def test_hostile_thresholds_file_gives_a_value_error(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("[" * DEEP + "]" * DEEP)
    with pytest.raises(ValueError, match=r"nested more than.*task-router fit"):
        load_thresholds(path)
    path.write_text("router: embedding\nnone: 7\n")
    with pytest.raises(ValueError, match="none: Input should be less than or equal to 1"):
        load_thresholds(path)


# -- 2. conversations: tool messages, a catalogue that is not one, huge messages ----------------------------------
def test_tool_message_without_tool_call_id_is_read_not_a_key_error(catalog: TaskCatalog) -> None:
    messages = [{"role": "user", "content": "recap"}, {"role": "tool", "content": "result"}, "recap please"]
    routing = coerce_input({"messages": messages, "catalog": catalog})
    assert [m.type for m in routing.messages] == ["human", "tool", "human"]
    router = make_router("zero-shot", model=scripted_model(choice("recap")), catalog=catalog)
    assert router.invoke({"messages": messages}).task == "recap"


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"messages": ["hi"], "catalog": 7}, "must be a list of tasks"),
        ({"messages": ["hi"], "catalog": "catalog.yaml"}, "must be a list of tasks"),
        ({"messages": ["hi"], "catalog": [{"name": "a"}]}, "description"),
        ({"messages": {"role": "user", "content": "hi"}}, "no conversation"),
        ({"messages": 7}, "no conversation"),
        ({"messages": [{"role": None, "content": "x"}]}, "message #0"),
        ({"messages": [{"role": "user", "content": 7}]}, "message #0"),
        (
            {"messages": ["ok", {"role": "user", "content": [{"type": "text", "text": "x", "deep": _deep(100)}]}]},
            "message #1 is nested more than",
        ),
    ],
)
def test_unusable_router_inputs_give_a_value_error_naming_the_fix(
    catalog: TaskCatalog, value: dict, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        coerce_input({"catalog": catalog, **value})


def test_huge_user_message_is_read_within_a_bound_by_every_encoder_router(catalog: TaskCatalog) -> None:
    huge = "recap the meeting notes " + "blah " * 2_000_000 + " and thanks"  # 10 MB
    encoder = _RecordingEncoder()
    router = EmbeddingRouter(catalog=catalog, encoder=encoder, closing_phrases=["thanks, bye"])
    start = time.perf_counter()
    decision = router.invoke({"messages": [{"role": "assistant", "content": huge}, {"role": "user", "content": huge}]})
    assert time.perf_counter() - start < 5
    assert decision.task == "recap"  # the head of the message is still read
    assert max(encoder.lengths) <= MAX_ROUTED_CHARS + 10
    routing = coerce_input({"messages": [huge, "ok", huge], "catalog": catalog})
    assert len(routing.last_user_text) <= MAX_ROUTED_CHARS + 10
    assert len(query_text(routing.messages, catalog["recap"], window=2)) < 1000  # the learned router's query
    assert len(render_conversation(routing.messages)) < 3 * 700


# -- 3. model output: huge answers, provider numbers -------------------------------------------------------------
@pytest.mark.parametrize(
    "answer",
    ["\n" * 200_000, "!\n" * 100_000, "Action: " + "a " * 100_000, "Thought:" + " x" * 100_000, "{" * 200_000],
    ids=["newlines", "punctuation-lines", "action-spaces", "long-thought", "braces"],
)
def test_react_on_a_200k_character_answer_decides_quickly(catalog: TaskCatalog, answer: str) -> None:
    router = make_router("react", model=scripted_model(answer, answer), catalog=catalog)
    start = time.perf_counter()
    decision = router.invoke({"messages": ["recap please"], "active_task": "recap"})
    assert time.perf_counter() - start < 5
    assert (decision.event, decision.task, decision.valid_format) == ("CONTINUE", "recap", False)
    assert (
        len(decision.raw_output) <= MAX_DECISION_TEXT + 10 and len(decision.rationale or "") <= MAX_DECISION_TEXT + 10
    )


@pytest.mark.parametrize("kind", ["zero-shot", "few-shot-cot", "structured"])
def test_text_routers_on_a_200k_character_answer_decide_quickly(catalog: TaskCatalog, kind: str) -> None:
    answer = "\n" * 100_000 + "Answer: " + " " * 100_000 + '{"task": "email"}'
    router = make_router(kind, model=scripted_model(answer, answer), catalog=catalog)
    start = time.perf_counter()
    decision = router.invoke({"messages": ["write the email"]})
    assert time.perf_counter() - start < 5
    assert decision.task == "email"


def test_positive_api_logprobs_are_clamped_not_a_validation_error() -> None:
    catalog = TaskCatalog([{"name": "meeting_recap", "description": "Summarise a meeting."}])
    with FaultServer(reply=keyword_reply({"meeting": "meeting_recap"}), token_logprob=0.7) as server:
        model = load_chat_model("openai:fake", base_url=server.base_url, max_retries=0)
        router = make_router("structured", model=model, catalog=catalog, logprobs=True)
        decision = router.invoke({"messages": [{"role": "user", "content": "Recap the meeting"}]})
    assert (decision.task, decision.confidence) == ("meeting_recap", 1.0)


@pytest.mark.parametrize(
    ("logprob", "expected"), [(5.0, 1.0), ("nan", None), ("inf", None), ("abc", None), (1e308, 1.0), (-1e308, 0.0)]
)
def test_provider_logprobs_are_read_defensively(logprob: object, expected: float | None) -> None:
    reply = AIMessage("recap", response_metadata={"logprobs": {"content": [{"token": "recap", "logprob": logprob}]}})
    assert logprob_confidence(reply, "recap") == expected
    assert (
        logprob_confidence(AIMessage("recap", response_metadata={"logprobs": {"content": ["x", 3]}}), "recap") is None
    )


@pytest.mark.parametrize(("value", "expected"), [(1.7, 1.0), (-0.2, 0.0), (float("nan"), None), ("x", None)])
def test_every_confidence_is_clamped_by_the_base_router(catalog: TaskCatalog, value: object, expected: object) -> None:
    router = _FixedRouter(Prediction("recap", confidence=value), catalog)  # type: ignore[arg-type]
    assert router.invoke({"messages": ["recap"]}).confidence == expected


# -- 4. catalogue edits while a decision is made -----------------------------------------------------------------
class _RemovingModel(GenericFakeChatModel):
    """A chat model that removes tasks from the live catalogue while it "thinks", then answers."""

    catalog: Any = None
    remove: list[str] = Field(default_factory=list)

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        for name in self.remove:
            if name in self.catalog:
                self.catalog.remove(name)
        return super()._generate(*args, **kwargs)


CONCURRENT_CASES = [
    # (active before, task the model names, tasks removed meanwhile, expected (event, task))
    ("recap", "recap", ["recap"], ("NONE", None)),
    ("recap", "email", ["email"], ("CONTINUE", "recap")),
    ("recap", "email", ["email", "recap"], ("NONE", None)),
    (None, "email", ["email"], ("NONE", None)),
]


@pytest.mark.parametrize(("active", "named", "removed", "expected"), CONCURRENT_CASES)
@pytest.mark.parametrize("kind", ["structured", "react", "zero-shot"])
def test_task_removed_while_an_llm_router_decides_never_comes_back(
    catalog: TaskCatalog, kind: str, active: str | None, named: str, removed: list[str], expected: tuple
) -> None:
    reply = json.dumps(choice(named))
    reply = f"Action: final_answer[{reply}]" if kind == "react" else reply
    model = _RemovingModel(messages=iter([AIMessage(reply)]), catalog=catalog, remove=removed)
    router = make_router(kind, model=model, catalog=catalog)
    decision = router.invoke({"messages": ["go on"], "active_task": active})
    assert (decision.event, decision.task) == expected
    assert decision.task is None or decision.task in catalog
    assert "removed from the catalogue while this decision was made" in decision.fallback
    assert "removed from the catalogue" in decision.rationale


@pytest.mark.parametrize(("active", "named", "removed", "expected"), CONCURRENT_CASES)
def test_task_removed_while_the_embedding_router_decides_never_comes_back(
    catalog: TaskCatalog, active: str | None, named: str, removed: list[str], expected: tuple
) -> None:
    encoder = _RecordingEncoder(on_query=lambda: [catalog.remove(n) for n in removed if n in catalog])
    router = EmbeddingRouter(catalog=catalog, encoder=encoder, closing_phrases=[], threshold=0.1, margin=0.0)
    text = {"recap": "recap the meeting notes", "email": "write a follow up email"}[named]
    decision = router.invoke({"messages": [text], "active_task": active})
    assert (decision.event, decision.task) == expected
    assert "removed from the catalogue while this decision was made" in decision.fallback


def test_decisions_see_one_snapshot_and_snapshots_are_read_only(catalog: TaskCatalog) -> None:
    view = catalog.frozen()
    assert catalog.frozen() is view  # one per version: caches kept in it survive between decisions
    catalog.remove("post")
    assert "post" in view and "post" not in catalog and catalog.frozen() is not view
    with pytest.raises(CatalogError, match="read-only snapshot"):
        view.add({"name": "x", "description": "y"})
    assert view.live is catalog and catalog.live is catalog
