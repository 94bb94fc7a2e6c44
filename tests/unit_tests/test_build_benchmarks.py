"""task_router.datasets on a tiny hand-made copy of the public releases (tests/fixtures/public_releases): the labels
derived from SGD's frames, the catalogues, CLINC150's records, the digressions, the files' format and the errors."""

from __future__ import annotations

import ast
import gzip
import json
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from task_router.datasets import Sizes, SourceError, build_benchmarks
from task_router.datasets import _clinc as clinc_source
from task_router.datasets import _sgd as sgd_source
from task_router.datasets._build import REFUSAL, insert_digressions, off_topic_texts
from task_router.evaluation import load_dataset
from tests.conftest import FIXTURES

RELEASES = FIXTURES / "public_releases"
SGD = RELEASES / "dstc8-schema-guided-dialogue"
DATA_FULL = RELEASES / "oos-eval" / "data" / "data_full.json"
DOMAINS = RELEASES / "oos-eval" / "data" / "domains.json"
PACKAGE = Path(sgd_source.__file__).parent

# The fixture dialogues' labels, written out by hand from the rules: (turn_index, task, event, acts).
TRAIN_LABELS = {
    "sgd-train-1_00000": [
        (0, "Restaurants_1.FindRestaurants", "START", ["INFORM", "INFORM_INTENT"]),
        (2, "Restaurants_1.ReserveRestaurant", "SWITCH", ["INFORM", "INFORM_INTENT"]),  # a new intent
        (4, "Restaurants_1.ReserveRestaurant", "CONTINUE", ["AFFIRM"]),
        (6, "Restaurants_1.ReserveRestaurant", "CONTINUE", ["THANK_YOU"]),  # thanks, not on the last turn
        (8, "Restaurants_1.ReserveRestaurant", "END", ["GOODBYE", "NEGATE"]),
    ],
    "sgd-train-1_00001": [
        (0, "Weather_1.GetWeather", "START", ["INFORM", "INFORM_INTENT"]),
        (2, "Restaurants_1.FindRestaurants", "SWITCH", ["INFORM", "INFORM_INTENT"]),  # INFORM_INTENT's frame wins
        (4, "Restaurants_1.FindRestaurants", "END", ["SELECT", "THANK_YOU"]),  # thanks on the last user turn
    ],
}
DEV_LABELS = {
    "sgd-dev-1_00000": [
        (0, "Restaurants_2.FindRestaurants", "START", ["INFORM_INTENT"]),
        (2, "Restaurants_2.FindRestaurants", "CONTINUE", ["INFORM"]),
        (4, "Restaurants_2.ReserveRestaurant", "SWITCH", ["AFFIRM_INTENT"]),  # an accepted offer: the intent changed
        (6, "Restaurants_2.ReserveRestaurant", "CONTINUE", ["INFORM"]),
        (8, "Restaurants_2.ReserveRestaurant", "END", ["NEGATE", "THANK_YOU"]),
    ],
    "sgd-dev-1_00001": [
        (0, "Weather_1.GetWeather", "START", ["INFORM", "INFORM_INTENT"]),
        (2, "Media_2.FindMovies", "SWITCH", ["INFORM", "INFORM_INTENT"]),
        (4, "Media_2.FindMovies", "END", ["NEGATE_INTENT"]),  # active intent NONE ends the active task
        (6, "NONE", "END", ["NEGATE", "THANK_YOU"]),  # NONE with no task active
    ],
}


def read(path: Path) -> list[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle]


def as_tuples(record: dict[str, Any]) -> list[tuple]:
    return [(label["turn_index"], label["task"], label["event"], label["acts"]) for label in record["labels"]]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("benchmarks")
    files = build_benchmarks(out, sgd_folder=RELEASES, clinc_file=DATA_FULL, domains_file=DOMAINS)
    return {file.path.name.removesuffix(".jsonl.gz"): file.path for file in files}


def test_writes_the_files_of_the_releases_given(built: dict[str, Path]) -> None:
    # The fixture release has no test/ folder: no sgd_test, hence no sgd_digress_test.
    assert list(built) == ["sgd_train", "sgd_dev", "clinc_dev", "clinc_test", "sgd_digress_dev"]
    for path in built.values():
        records = load_dataset(path)  # the evaluation's own loader accepts every file
        assert records and all(record.labels for record in records)


@pytest.mark.parametrize(("name", "expected"), [("sgd_train", TRAIN_LABELS), ("sgd_dev", DEV_LABELS)])
def test_sgd_labels_follow_the_rules(built: dict[str, Path], name: str, expected: dict[str, list]) -> None:
    records = read(built[name])
    assert [record["id"] for record in records] == list(expected)
    for record in records:
        assert as_tuples(record) == expected[record["id"]], record["id"]


def test_sgd_record_fields(built: dict[str, Path]) -> None:
    train, dev = read(built["sgd_train"]), read(built["sgd_dev"])
    assert list(train[0]) == ["id", "source", "split", "services", "unseen_services", "tasks", "turns", "labels"]
    assert [(r["source"], r["split"], r["services"], r["unseen_services"]) for r in train] == [
        ("sgd", "train", ["Restaurants_1"], []),
        ("sgd", "train", ["Weather_1", "Restaurants_1"], []),
    ]
    # dev: the services absent from the train schema are unseen
    assert [(r["services"], r["unseen_services"]) for r in dev] == [
        (["Restaurants_2"], ["Restaurants_2"]),
        (["Weather_1", "Media_2"], ["Media_2"]),
    ]
    assert dev[0]["turns"][:2] == [
        {"role": "user", "text": "I'd like to find a restaurant."},
        {"role": "assistant", "text": "In which city?"},
    ]
    described = {task["name"]: task["description"] for task in dev[0]["tasks"]}
    assert sorted(described) == [
        "Media_2.FindMovies",
        "Media_2.RentMovie",
        "Restaurants_2.FindRestaurants",
        "Restaurants_2.ReserveRestaurant",
        "Weather_1.GetWeather",
    ]
    assert described["Restaurants_2.ReserveRestaurant"] == (
        "Make a table reservation at a restaurant. "
        "(Service Restaurants_2: A popular restaurant search and reservation service.)"
    )


def test_catalogue_keeps_the_conversations_services_and_one_seeded_service_per_other_domain() -> None:
    def service(name: str, *intents: str) -> dict[str, Any]:
        described = [{"name": intent, "description": f"{intent}."} for intent in intents]
        return {"service_name": name, "description": f"{name} service.", "intents": described}

    schema = {
        s["service_name"]: s
        for s in [
            service("Restaurants_1", "FindRestaurants", "ReserveRestaurant"),
            service("Restaurants_2", "FindRestaurants", "ReserveRestaurant"),
            service("Media_1", "FindMovies", "PlayMovie"),
            service("Movies_1", "FindMovies", "GetTimesForMovie"),
            service("Weather_1", "GetWeather"),
        ]
    }
    seen_services = set()
    for seed in range(20):
        tasks = sgd_source.catalogue(["Restaurants_2"], schema, random.Random(seed))
        services = {task["name"].split(".")[0] for task in tasks}
        assert "Restaurants_2" in services and "Restaurants_1" not in services and "Weather_1" in services
        assert len(services & {"Media_1", "Movies_1"}) == 1  # Media and Movies: one domain
        assert len(tasks) == 5
        seen_services |= services
        assert tasks == sgd_source.catalogue(["Restaurants_2"], schema, random.Random(seed))  # seeded
    assert {"Media_1", "Movies_1"} <= seen_services  # the other domains' service is drawn, not fixed
    both = sgd_source.catalogue(["Media_1", "Movies_1"], schema, random.Random(0))
    assert {task["name"].split(".")[0] for task in both} >= {"Media_1", "Movies_1"}


def test_clinc_records(built: dict[str, Path]) -> None:
    dev, test = read(built["clinc_dev"]), read(built["clinc_test"])
    assert [record["id"] for record in dev] == [f"clinc-val-{n:04d}" for n in range(6)]  # 4 in scope + 2 oos
    assert len(test) == 7 and {record["split"] for record in test} == {"test"}
    record = dev[0]
    assert list(record) == ["id", "source", "split", "tasks", "turns", "labels"]
    assert record["source"] == "clinc150"
    assert [task["name"] for task in record["tasks"]] == ["freeze_account", "pin_change", "todo_list_update", "weather"]
    assert record["tasks"][1]["description"] == (
        'PIN change (banking domain). Examples: "change the pin on my card"; "i want a new pin number"'
    )
    labels = {r["turns"][0]["text"]: r["labels"] for r in dev}
    assert labels["can you update my pin"] == [{"turn_index": 0, "task": "pin_change", "event": "START"}]
    assert labels["what is the capital of peru"] == [{"turn_index": 0, "task": "NONE", "event": "NONE"}]


def test_clinc_without_domains_omits_the_domain() -> None:
    lists = clinc_source.load_clinc(DATA_FULL)
    tasks = clinc_source.catalogue(lists["train"])
    assert tasks[-1] == {
        "name": "todo_list_update",
        "description": 'To-do list update. Examples: "add milk to my todo list"; "put laundry on my to do list"',
    }


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("pin_change", "PIN change"),
        ("todo_list", "To-do list"),
        ("what_can_i_ask_you", "What can I ask you"),
        ("rollover_401k", "Rollover 401(k)"),
        ("w2", "W-2"),
        ("change_ai_name", "Change AI name"),
        ("freeze_account", "Freeze account"),
    ],
)
def test_humanize(name: str, words: str) -> None:
    assert clinc_source.humanize(name) == words


def test_digressions_insert_one_off_topic_turn_mid_task(built: dict[str, Path]) -> None:
    originals = {record["id"]: record for record in read(built["sgd_dev"])}
    off_topic = set(off_topic_texts(read(built["clinc_dev"])))
    assert off_topic == {"what is the capital of peru", "can i mix antifreeze with water"}
    for record in read(built["sgd_digress_dev"]):
        original = originals[record["id"].removesuffix("+digress")]
        [digression] = [label for label in record["labels"] if label.get("digression")]
        at = digression["turn_index"]
        assert digression == {"turn_index": at, "task": "NONE", "event": "NONE", "digression": True}
        assert record["turns"][at]["text"] in off_topic and record["turns"][at + 1]["text"] == REFUSAL
        assert record["turns"][:at] + record["turns"][at + 2 :] == original["turns"]
        before = [label for label in original["labels"] if label["turn_index"] < at]
        assert before[-1]["event"] in {"START", "CONTINUE", "SWITCH"}  # a task stays active over the digression
        assert len(before) < len(original["labels"])  # mid-conversation: a labelled turn follows it
        shifted = [dict(label, turn_index=label["turn_index"] + 2) for label in original["labels"][len(before) :]]
        assert record["labels"] == [*before, digression, *shifted]  # the other labels are unchanged


def test_digressions_skip_a_conversation_without_an_active_task_mid_way() -> None:
    record = {
        "id": "c",
        "turns": [{"role": "user", "text": "bye"}, {"role": "assistant", "text": "bye"}],
        "labels": [{"turn_index": 0, "task": "NONE", "event": "END"}],
    }
    assert insert_digressions([record], ["off topic"], seed=0) == []
    with pytest.raises(ValueError, match="out-of-scope"):
        insert_digressions([record], [], seed=0)


def test_same_seed_same_bytes_and_limits_sample(tmp_path: Path) -> None:
    first = build_benchmarks(tmp_path / "a", sgd_folder=SGD, clinc_file=DATA_FULL, seed=3)
    again = build_benchmarks(tmp_path / "b", sgd_folder=SGD, clinc_file=DATA_FULL, seed=3)
    assert [f.path.read_bytes() for f in first] == [f.path.read_bytes() for f in again]
    sizes = Sizes(sgd_train=1, sgd_eval=1, clinc_in_scope=2, clinc_out_of_scope=1)
    small = build_benchmarks(tmp_path / "c", sgd_folder=SGD, clinc_file=DATA_FULL, sizes=sizes)
    assert [(f.path.name, f.records) for f in small] == [
        ("sgd_train.jsonl.gz", 1),
        ("sgd_dev.jsonl.gz", 1),
        ("clinc_dev.jsonl.gz", 3),
        ("clinc_test.jsonl.gz", 3),
        ("sgd_digress_dev.jsonl.gz", 1),
    ]
    assert all(f.labelled_turns == sum(len(r["labels"]) for r in read(f.path)) for f in small)
    assert not list((tmp_path / "c").glob("*.partial"))


def test_sgd_only_and_clinc_only(tmp_path: Path) -> None:
    assert [f.path.name for f in build_benchmarks(tmp_path / "s", sgd_folder=SGD)] == [
        "sgd_train.jsonl.gz",
        "sgd_dev.jsonl.gz",
    ]
    assert [f.path.name for f in build_benchmarks(tmp_path / "c", clinc_file=RELEASES / "oos-eval")] == [
        "clinc_dev.jsonl.gz",
        "clinc_test.jsonl.gz",
    ]
    with pytest.raises(ValueError, match="SGD release folder, the CLINC150"):
        build_benchmarks(tmp_path / "none")


def broken_sgd(tmp_path: Path, split: str, name: str, content: str) -> Path:
    root = tmp_path / "sgd"
    shutil.copytree(SGD, root)
    (root / split / name).write_text(content)
    return root


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: tmp, "has no train/schema.json"),
        (lambda tmp: SGD / "train", "is one split's folder: give its parent"),
        (lambda tmp: broken_sgd(tmp, "dev", "dialogues_001.json", "{not json"), "not valid JSON"),
        (lambda tmp: broken_sgd(tmp, "dev", "dialogues_001.json", '[{"dialogue_id": "x"}]'), "not an SGD dialogue"),
        (lambda tmp: broken_sgd(tmp, "train", "schema.json", '{"services": []}'), "is not a list of services"),
    ],
)
def test_sgd_errors_name_the_fix(tmp_path: Path, make: Any, expected: str) -> None:
    with pytest.raises(SourceError, match=expected) as error:
        build_benchmarks(tmp_path / "out", sgd_folder=make(tmp_path))
    assert "google-research-datasets/dstc8-schema-guided-dialogue" in str(error.value)


def test_sgd_split_without_dialogues(tmp_path: Path) -> None:
    root = tmp_path / "sgd"
    shutil.copytree(SGD, root)
    (root / "dev" / "dialogues_001.json").unlink()
    with pytest.raises(SourceError, match=r"has no dialogues_NNN\.json files"):
        build_benchmarks(tmp_path / "out", sgd_folder=root)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"train": []}', "lacks one of the lists"),
        (json.dumps({**json.loads(DATA_FULL.read_text()), "val": [["text only"]]}), "not a list of \\[text, intent\\]"),
    ],
)
def test_clinc_errors_name_the_fix(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "data_full.json"
    path.write_text(content)
    with pytest.raises(SourceError, match=expected) as error:
        build_benchmarks(tmp_path / "out", clinc_file=path)
    assert "clinc/oos-eval" in str(error.value)
    with pytest.raises(SourceError, match="does not exist"):
        build_benchmarks(tmp_path / "out", clinc_file=tmp_path / "missing.json")


def test_no_import_cycle() -> None:
    """The conversion is a library: it imports neither the CLI nor the evaluation package."""
    for path in PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                for name in names:
                    assert not name.startswith(("task_router.cli", "task_router.evaluation", "typer")), (path, name)


def test_an_interrupted_write_keeps_the_previous_file_and_leaves_no_partial_one(tmp_path: Path) -> None:
    from task_router.datasets._sgd import write_jsonl_gz

    path = tmp_path / "sgd_dev.jsonl.gz"
    write_jsonl_gz(path, [{"id": "old"}])

    def interrupted():
        yield {"id": "new"}
        raise KeyboardInterrupt  # Ctrl-C while `task-router data` writes

    with pytest.raises(KeyboardInterrupt):
        write_jsonl_gz(path, interrupted())
    with gzip.open(path, "rt") as handle:
        assert [json.loads(line)["id"] for line in handle] == ["old"]
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
