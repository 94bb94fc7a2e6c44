"""Hypothesis fuzzing of the surfaces issue 16 found crashes on: catalogue files, conversations, model outputs per
router kind, catalogue edits while routing, every CLI command on bad files. Bounded (``max_examples``, small sizes,
fake models) so that the whole file runs in about a minute; ``--hypothesis-show-statistics`` prints the case counts
reported in benchmarks/RELIABILITY.md.

Each property states what counts as not crashing: a documented result or the documented error class, never
another exception, a hang (a per-case deadline) or a decision naming a task outside the catalogue.
"""

from __future__ import annotations

import json
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from pydantic import Field
from typer.testing import CliRunner

from task_router import CatalogError, Task, TaskCatalog, make_router
from task_router._decision import RouteDecision
from task_router._router_input import coerce_input, load_conversation_file
from task_router.cli import app
from task_router.cli._base import USAGE_EXIT
from task_router.routers._embedding import EmbeddingRouter
from tests.unit_tests.fakes import encodes_as_utf8

FOLDER = Path(tempfile.mkdtemp(prefix="fuzz-hostile-"))
CASES = settings(max_examples=300, deadline=5000, suppress_health_check=[HealthCheck.too_slow])
FEW = settings(max_examples=120, deadline=10_000, suppress_health_check=[HealthCheck.too_slow])
NAMES = ["recap", "email", "post"]


def _catalog() -> TaskCatalog:
    return TaskCatalog(
        [
            Task(name="recap", description="Summarise a meeting into decisions and action items."),
            Task(name="email", description="Write a follow-up email after a meeting."),
            Task(name="post", description="Draft a LinkedIn post.", display_name="LinkedIn post"),
        ]
    )


def _valid(decision: RouteDecision, catalog: TaskCatalog) -> None:
    assert isinstance(decision, RouteDecision)
    assert decision.task is None or decision.task in catalog or decision.event == "END"
    assert decision.confidence is None or 0.0 <= decision.confidence <= 1.0


# -- values ----------------------------------------------------------------------------------------------------------
big_ints = st.integers(min_value=10**1000, max_value=10**1000 * 10) | st.integers(-(10**30), 10**30)
scalars = st.none() | st.booleans() | big_ints | st.floats() | st.text(max_size=30)
json_like = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=30,
)
deep_text = st.builds(
    lambda n, opener, closer: opener * n + closer * n,
    st.integers(50, 20_000),
    st.sampled_from(["[", "{", "- ", '{"a":']),
    st.sampled_from(["]", "}", "", "1}"]),
)


def _big_int_text(digits: int) -> str:
    return "9" * digits


# -- 1. catalogue files ----------------------------------------------------------------------------------------------
catalogue_texts = (
    json_like.map(lambda v: json.dumps(v, default=str))
    | deep_text
    | st.integers(1, 6000).map(lambda n: f'[{{"name": "a", "description": "b", "x": {_big_int_text(n)}}}]')
    | st.integers(1, 60).map(
        lambda n: "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}]\n" for i in range(1, n))
    )
    | st.text(max_size=300)
)


@CASES
@given(catalogue_texts, st.sampled_from([".yaml", ".json"]))
def test_any_catalogue_file_gives_a_catalogue_or_a_catalog_error(text: str, suffix: str) -> None:
    path = FOLDER / f"catalogue{suffix}"
    if encodes_as_utf8(text):
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    else:
        path.write_bytes(b"\xff")
    try:
        catalog = TaskCatalog.from_file(path)
    except CatalogError as error:
        assert str(path) in str(error) and "'description'" in str(error)  # names the file and shows a valid one
    else:
        assert len(catalog) >= 1


@CASES
@given(json_like | deep_text)
def test_any_records_give_a_catalogue_or_a_catalog_error(value: Any) -> None:
    try:
        TaskCatalog.from_records(value)
    except CatalogError as error:
        assert str(error)


# -- 2. conversations ------------------------------------------------------------------------------------------------
blocks = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "text": st.text(max_size=40) | scalars}),
    st.fixed_dictionaries({"type": st.sampled_from(["image_url", "file", 3, None])}, optional={"x": json_like}),
    st.text(max_size=20),
    scalars,
)
contents = (
    st.text(max_size=60)
    | st.lists(blocks, max_size=4)
    | scalars
    | st.integers(0, 3).map(lambda k: "recap the meeting " * (10**k) * 50)
)
messages = st.one_of(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "tool", "system", "wizard", None, 3])},
        optional={
            "content": contents,
            "tool_call_id": st.text(max_size=5) | scalars,
            "name": st.text(max_size=5),
            "deep": st.integers(1, 200).map(lambda n: json.loads("[" * n + "]" * n)),
        },
    ),
    st.text(max_size=40),
    st.tuples(st.sampled_from(["user", "ai", "human"]), st.text(max_size=20)),
    scalars,
)
conversations = st.lists(messages, max_size=5) | scalars | st.dictionaries(st.text(max_size=4), scalars, max_size=2)


@CASES
@given(conversations, st.sampled_from([None, "recap", "gone", 3]), st.sampled_from(["catalog", 7, "x", [], None]))
def test_any_router_input_gives_a_decision_or_a_value_error(conversation: Any, active: Any, catalog_kind: Any) -> None:
    catalog = _catalog()
    value = {
        "messages": conversation,
        "active_task": active,
        "catalog": catalog if catalog_kind == "catalog" else catalog_kind,
    }
    try:
        routing = coerce_input(value)
    except ValueError:
        return
    router = EmbeddingRouter(catalog=catalog, encoder=_Words(), closing_phrases=["thanks, bye"])
    _valid(router.invoke(value), catalog)
    assert len(routing.last_user_text) <= 4010


@CASES
@given(json_like | deep_text | st.text(max_size=200))
def test_any_conversation_file_gives_messages_or_a_value_error(value: Any) -> None:
    path = FOLDER / "conversation.json"
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    path.write_bytes(text.encode("utf-8", errors="surrogatepass"))
    try:
        data, active = load_conversation_file(path)
    except ValueError as error:
        assert "a conversation is a JSON list of messages" in str(error)
    else:
        assert isinstance(data, list) and data and (active is None or isinstance(active, str))


# -- 3. model outputs per router kind -------------------------------------------------------------------------------
answers = st.one_of(
    st.text(max_size=200),
    json_like.map(lambda v: json.dumps(v, default=str)),
    st.fixed_dictionaries(
        {"task": st.sampled_from([*NAMES, "NONE", "gone", ""]) | scalars},
        optional={"closing": scalars, "event": scalars},
    ).map(lambda v: json.dumps(v, default=str)),
    st.builds(
        lambda text, n: text * n,
        st.sampled_from(["\n", "!\n", "{", "Action: ", " a", "Observation:"]),
        st.integers(1000, 100_000),
    ),
    st.sampled_from(NAMES).map(lambda t: f'Thought: ok\nAction: final_answer[{{"task": "{t}"}}]'),
)
logprob_values = st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=4) | st.none() | big_ints


@CASES
@given(
    st.sampled_from(["structured", "zero-shot", "few-shot-cot", "react"]),
    st.lists(answers, min_size=4, max_size=4),
    logprob_values,
    st.sampled_from([None, "recap"]),
)
def test_any_model_answer_gives_a_valid_decision(kind: str, replies: list[str], logprob: Any, active: Any) -> None:
    catalog = _catalog()
    metadata = {"logprobs": {"content": [{"token": replies[0][:20], "logprob": logprob}]}}
    model = GenericFakeChatModel(messages=iter([AIMessage(r, response_metadata=metadata) for r in replies]))
    router = make_router(kind, model=model, catalog=catalog)
    _valid(router.invoke({"messages": ["write the follow-up email"], "active_task": active}), catalog)


vectors = st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=4, max_size=4)


@CASES
@given(st.lists(vectors, min_size=1, max_size=12), st.sampled_from([None, "recap"]))
def test_any_encoder_output_gives_a_valid_embedding_decision(rows: list[list[float]], active: Any) -> None:
    catalog = _catalog()

    class Encoder:
        def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
            return np.array([rows[i % len(rows)] for i in range(len(texts))], dtype=np.float32)

    router = EmbeddingRouter(catalog=catalog, encoder=Encoder(), closing_phrases=["bye"])
    _valid(router.invoke({"messages": ["hello"], "active_task": active}), catalog)


# -- 4. catalogue edits while routing --------------------------------------------------------------------------------
edits = st.lists(st.tuples(st.sampled_from(["add", "remove"]), st.sampled_from([*NAMES, "pitch", "notes"])), max_size=4)


class _EditingModel(GenericFakeChatModel):
    """Applies catalogue edits while it "thinks" (as another thread would), then answers."""

    catalog: Any = None
    edits: list = Field(default_factory=list)

    def _generate(self, *args: Any, **kwargs: Any) -> Any:
        _apply(self.catalog, self.edits)
        return super()._generate(*args, **kwargs)


def _apply(catalog: TaskCatalog, changes: list[tuple[str, str]]) -> None:
    for action, name in changes:
        if action == "remove" and name in catalog and len(catalog) > 1:
            catalog.remove(name)
        elif action == "add" and name not in catalog:
            catalog.add({"name": name, "description": f"Do the {name} task."})


@CASES
@given(
    st.sampled_from(["structured", "zero-shot", "react", "embedding"]),
    edits,
    st.sampled_from([*NAMES, "NONE"]),
    st.sampled_from([None, *NAMES]),
    st.booleans(),
)
def test_edits_during_a_decision_never_leak_a_removed_task(
    kind: str, changes: list, named: str, active: Any, closing: bool
) -> None:
    catalog = _catalog()
    if kind == "embedding":
        router: Any = EmbeddingRouter(
            catalog=catalog,
            encoder=_Words(on_turn=lambda: _apply(catalog, changes)),
            closing_phrases=[],
            threshold=0.0,
            margin=0.0,
        )
    else:
        reply = json.dumps({"task": named, "closing": closing})
        reply = f"Action: final_answer[{reply}]" if kind == "react" else reply
        model = _EditingModel(messages=iter([AIMessage(reply)] * 2), catalog=catalog, edits=changes)
        router = make_router(kind, model=model, catalog=catalog)
    decision = router.invoke({"messages": [f"{named} please"], "active_task": active})
    assert decision.event in ("END", "NONE") or decision.task in catalog  # single-threaded: the live catalogue now


def test_routing_while_another_thread_edits_the_catalogue() -> None:
    """Real threads: 4 routing threads x 150 decisions while a thread adds and removes tasks as fast as it can."""
    catalog = _catalog()
    router = EmbeddingRouter(catalog=catalog, encoder=_Words(), closing_phrases=[], threshold=0.0)
    stop, errors, decisions = threading.Event(), [], []

    def edit() -> None:
        while not stop.is_set():
            _apply(catalog, [("remove", "email"), ("add", "email"), ("remove", "post"), ("add", "post")])

    def route(worker: int) -> None:
        for i in range(150):
            try:
                active = NAMES[(worker + i) % 3] if i % 2 else None
                decisions.append(router.invoke({"messages": [f"{NAMES[i % 3]} please"], "active_task": active}))
            except Exception as exc:  # counted: the assertion below reports them
                errors.append(exc)

    editor = threading.Thread(target=edit)
    editor.start()
    workers = [threading.Thread(target=route, args=(w,)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    stop.set()
    editor.join()
    assert errors == [] and len(decisions) == 600
    assert all(d.task is None or d.task in NAMES for d in decisions)


# -- 5. every CLI command on bad files ------------------------------------------------------------------------------
bad_files = st.one_of(
    st.binary(max_size=200),
    deep_text.map(str.encode),
    st.integers(1001, 6000).map(lambda n: f'[{{"role": "user", "content": {_big_int_text(n)}}}]'.encode()),
    json_like.map(lambda v: json.dumps(v, default=str).encode()),
)
COMMANDS = [
    "route --conversation {file} --router structured --model openai:fuzz",
    "route --conversation {ok} --catalog {file} --router structured --model openai:fuzz",
    "eval --dataset {file} --router structured --model openai:fuzz --out {tmp}/run",
    "fit --dataset {file} --router structured --model openai:fuzz --out {tmp}/t.json",
    "train --data {file} --out {tmp}/train",
    "train --data {file} --router learned --out {tmp}/learned",
    "generate --catalog {file} --model openai:fuzz --out {tmp}/g.jsonl",
    "review {file} --export {tmp}/e.jsonl",
    "chat --db {file} --router structured --model openai:fuzz",
    "chat --catalog {file} --db {tmp}/threads.sqlite --router structured --model openai:fuzz",
]


@FEW
@given(st.sampled_from(COMMANDS), bad_files, st.sampled_from([".json", ".yaml", ".jsonl", ".sqlite"]))
def test_every_command_on_a_bad_file_prints_one_line_and_exits_2(command: str, data: bytes, suffix: str) -> None:
    file = FOLDER / f"input{suffix}"
    file.write_bytes(data)
    ok = FOLDER / "ok.json"
    ok.write_text('[{"role": "user", "content": "recap"}]')
    args = command.format(file=file, ok=ok, tmp=FOLDER).split()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("OPENAI_API_KEY", raising=False)
        patch.delenv("OPENAI_BASE_URL", raising=False)
        result = CliRunner().invoke(app, args)
    lines = [line for line in result.output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error: ")]
    assert result.exit_code == USAGE_EXIT, result.output
    # One error line, last (`train` first prints its budget), naming the problem and the fix; no traceback.
    assert errors == lines[-1:] and ";" in errors[0] and "Traceback" not in result.output, result.output


# -- helpers ---------------------------------------------------------------------------------------------------------
class _Words:
    """Bag-of-words vectors; ``on_turn`` runs when the user's turn is embedded (to edit the catalogue then)."""

    vocabulary = ("meeting", "recap", "email", "follow", "write", "post", "linkedin", "pitch", "notes", "thanks")

    def __init__(self, on_turn: Any = None) -> None:
        self.on_turn = on_turn

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        if self.on_turn is not None and any(t.endswith("please") for t in texts):
            self.on_turn()
        rows = np.full((len(texts), len(self.vocabulary) + 1), 0.0, dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                if word.strip(".,:!?") in self.vocabulary:
                    rows[i, self.vocabulary.index(word.strip(".,:!?"))] += 1
            rows[i, -1] = 0.05
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)
