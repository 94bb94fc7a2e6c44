"""Build the benchmark files (``sgd_*``, ``clinc_*``, ``sgd_digress_*`` .jsonl.gz) from the public releases,
the digression records included.

Digression records are SGD conversations with one off-topic user request inserted mid-task
(:func:`insert_digressions`). Each conversation gets one user turn inserted right after the assistant's reply to a
turn that leaves a task active (and is not the last labelled turn); its text is an out-of-scope utterance, followed
by the assistant turn :data:`REFUSAL`. Its label is ``{task: NONE, event: NONE, digression: true}``; the other labels
are unchanged (the active task stays active), their turn indices shifted past the insertion.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from task_router._io_limits import replacing_together
from task_router.datasets import _clinc as clinc
from task_router.datasets import _sgd as sgd
from task_router.datasets._sgd import labelled_turns, seeded, write_jsonl_gz

SGD_FILES = {"train": "sgd_train", "dev": "sgd_dev", "test": "sgd_test"}
CLINC_FILES = {"val": "clinc_dev", "test": "clinc_test"}
DIGRESSION_FILES = {("dev", "val"): "sgd_digress_dev", ("test", "test"): "sgd_digress_test"}  # (SGD, CLINC) split
SUFFIX = ".jsonl.gz"

Records = list[dict[str, Any]]


@dataclass(frozen=True)
class Sizes:
    """How many conversations each file samples (None: all of the release's).

    Attributes:
        sgd_train: SGD training conversations (the shared benchmark files: 3000).
        sgd_eval: SGD conversations per dev and test split (200); the digression files derive from these.
        clinc_in_scope: CLINC150 in-scope utterances per split (500).
        clinc_out_of_scope: CLINC150 out-of-scope utterances per split (100).
    """

    sgd_train: int | None = 3000
    sgd_eval: int | None = 200
    clinc_in_scope: int | None = 500
    clinc_out_of_scope: int | None = 100


@dataclass(frozen=True)
class BuiltFile:
    """One written benchmark file and its counts."""

    path: Path
    records: int
    labelled_turns: int


def build_benchmarks(
    out: Path,
    *,
    sgd_folder: Path | None = None,
    clinc_file: Path | None = None,
    domains_file: Path | None = None,
    sizes: Sizes = Sizes(),
    seed: int = 0,
) -> list[BuiltFile]:
    """Convert the releases given and write their benchmark files into ``out``.

    SGD gives ``sgd_<split>`` for each of train/dev/test that the release folder has; CLINC150 gives ``clinc_dev``
    and ``clinc_test``; both together give ``sgd_digress_dev`` / ``sgd_digress_test`` (SGD dev or test
    conversations with a CLINC150 out-of-scope utterance of the matching split inserted).

    All files or none: they are written into a staging folder and moved into ``out`` once every one is written
    (:func:`~task_router._io_limits.replacing_together`), so a split that fails (or Ctrl-C) leaves ``out`` as it
    was: none of this run's files, the earlier files untouched.

    Args:
        out: The output folder (created if needed).
        sgd_folder: A clone of google-research-datasets/dstc8-schema-guided-dialogue (see :func:`sgd.find_sgd_root`).
        clinc_file: CLINC150's ``data_full.json`` (or a folder holding it, see :func:`clinc.find_data_full`).
        domains_file: CLINC150's ``domains.json``; without it the task descriptions omit the domain.
        sizes: Sample sizes.
        seed: The seed of every sample, catalogue and insertion.

    Returns:
        The files written, in the order written.

    Raises:
        SourceError: A release is missing or not in its published format (the message names the fix).
        ValueError: Neither release is given.
    """
    if sgd_folder is None and clinc_file is None:
        raise ValueError("give the SGD release folder, the CLINC150 data_full.json, or both")
    root = sgd.find_sgd_root(sgd_folder) if sgd_folder is not None else None  # fail before anything is written
    clinc_lists = clinc.load_clinc(clinc.find_data_full(clinc_file)) if clinc_file is not None else None
    domains = clinc.load_domains(domains_file) if domains_file is not None else None
    built: list[BuiltFile] = []
    with replacing_together(out) as staging:
        sgd_records = _build_sgd(root, staging, sizes, seed, built) if root is not None else {}
        clinc_records = (
            _build_clinc(clinc_lists, domains, staging, sizes, seed, built) if clinc_lists is not None else {}
        )
        for (sgd_split, clinc_split), name in DIGRESSION_FILES.items():
            if sgd_split in sgd_records and clinc_split in clinc_records:
                texts = off_topic_texts(clinc_records[clinc_split])
                if texts:
                    _write(staging, name, insert_digressions(sgd_records[sgd_split], texts, seed=seed), built)
    return [replace(file, path=out / file.path.name) for file in built]


def _build_sgd(root: Path, out: Path, sizes: Sizes, seed: int, built: list[BuiltFile]) -> dict[str, Records]:
    train_services = list(sgd.load_schema(root / "train"))
    records = {}
    for split in sgd.available_splits(root):
        limit = sizes.sgd_train if split == "train" else sizes.sgd_eval
        records[split] = sgd.convert_split(root, split, limit=limit, seed=seed, train_services=train_services)
        _write(out, SGD_FILES[split], records[split], built)
    return records


def _build_clinc(
    lists: Mapping[str, clinc.Pairs],
    domains: Mapping[str, Sequence[str]] | None,
    out: Path,
    sizes: Sizes,
    seed: int,
    built: list[BuiltFile],
) -> dict[str, Records]:
    tasks = clinc.catalogue(lists["train"], domains)
    records = {}
    for split, name in CLINC_FILES.items():
        records[split] = clinc.convert_split(
            lists, split, tasks, in_scope=sizes.clinc_in_scope, out_of_scope=sizes.clinc_out_of_scope, seed=seed
        )
        _write(out, name, records[split], built)
    return records


def _write(out: Path, name: str, records: Records, built: list[BuiltFile]) -> None:
    path = out / f"{name}{SUFFIX}"
    built.append(BuiltFile(path, write_jsonl_gz(path, records), labelled_turns(records)))


REFUSAL = "Sorry, I can't help with that here."
_ACTIVE_AFTER = ("START", "CONTINUE", "SWITCH")  # events that leave a task active


def off_topic_texts(records: Iterable[Mapping[str, Any]]) -> list[str]:
    """The user text of every record labelled NONE (the out-of-scope utterances of a CLINC150 file)."""
    return [
        record["turns"][label["turn_index"]]["text"]
        for record in records
        for label in record["labels"]
        if label["task"] == "NONE"
    ]


def insert_digressions(
    records: Iterable[Mapping[str, Any]], texts: Sequence[str], *, seed: int
) -> list[dict[str, Any]]:
    """One digression record (id ``<id>+digress``) per record that has a place for one.

    Args:
        records: SGD benchmark records.
        texts: Off-topic utterances to draw from (see :func:`off_topic_texts`).
        seed: The seed of each record's place and text.

    Raises:
        ValueError: ``texts`` is empty.
    """
    if not texts:
        raise ValueError("no out-of-scope utterances to insert as digressions; give a CLINC150 file with some")
    digressed = []
    for record in records:
        rng = seeded(seed, "digress", record["id"])
        places = [label for label in record["labels"][:-1] if _leaves_task_active(record, label)]
        if places:
            digressed.append(_insert(record, rng.choice(places)["turn_index"] + 2, rng.choice(texts)))
    return digressed


def _leaves_task_active(record: Mapping[str, Any], label: Mapping[str, Any]) -> bool:
    reply = label["turn_index"] + 1
    return (
        label["event"] in _ACTIVE_AFTER
        and label["task"] != "NONE"
        and reply < len(record["turns"])
        and record["turns"][reply]["role"] == "assistant"
    )


def _insert(record: Mapping[str, Any], at: int, text: str) -> dict[str, Any]:
    """A copy of ``record`` with the off-topic request ``text`` and the refusal inserted at turn index ``at``."""
    new = copy.deepcopy(dict(record))
    new["id"] = f"{record['id']}+digress"
    new["turns"][at:at] = [{"role": "user", "text": text}, {"role": "assistant", "text": REFUSAL}]
    labels = []
    for label in new["labels"]:
        if label["turn_index"] >= at:
            label["turn_index"] += 2
        labels.append(label)
    labels.append({"turn_index": at, "task": "NONE", "event": "NONE", "digression": True})
    new["labels"] = sorted(labels, key=lambda label: label["turn_index"])
    return new
