"""Seen vs unseen services: per-label split, metrics.json "splits", report.md, the LangSmith summary evaluator."""

from __future__ import annotations

import json

from task_router.evaluation import evaluate_router, load_dataset, parse_records, replay
from task_router.evaluation._langsmith_run import to_examples
from task_router.evaluators.summary import service_splits
from tests.unit_tests.evaluation.scripted import FIXTURE, ScriptedRouter


def _with_services(records):
    """The fixture's conversations as SGD-style records: recap/email from a trained service, flight from a new one."""
    out = []
    for record in records:
        data = json.loads(record.model_dump_json())
        names = {t["name"]: f"{'Office_1' if t['name'] != 'flight' else 'Travel_9'}.{t['name']}" for t in data["tasks"]}
        for task in data["tasks"]:
            task["name"] = names[task["name"]]
        for label in data["labels"]:
            label["task"] = names.get(label["task"], label["task"])
        data["services"], data["unseen_services"] = ["Office_1", "Travel_9"], ["Travel_9"]
        out.append(data)
    return parse_records(out)


def test_a_label_takes_its_task_services_split() -> None:
    record = _with_services(load_dataset(FIXTURE))[0]
    assert record.service_split("Office_1.recap") == "seen"
    assert record.service_split("Travel_9.flight") == "unseen"
    assert record.service_split("NONE") == "unseen"  # no task: the conversation has an unseen service
    assert load_dataset(FIXTURE)[0].service_split("recap") is None  # no services listed: no split


def test_metrics_report_and_rows_carry_the_split(tmp_path) -> None:
    records = _with_services(load_dataset(FIXTURE))
    run = evaluate_router(records, _Renamed(), dataset="sgd_like.jsonl", out_dir=tmp_path, progress=False)
    splits = run.metrics["splits"]
    assert set(splits) == {"seen", "unseen"}
    assert splits["seen"]["n_turns"] + splits["unseen"]["n_turns"] == run.metrics["n_turns"]
    flight = [p for p in run.predictions if p.gold_task.startswith("Travel_9")]
    assert splits["unseen"]["n_turns"] >= len(flight) > 0
    assert "## Seen vs unseen services" in (tmp_path / "report.md").read_text(encoding="utf-8")
    plain = evaluate_router(load_dataset(FIXTURE), ScriptedRouter(), progress=False)
    assert "splits" not in plain.metrics


def test_langsmith_summary_evaluator_reports_each_split() -> None:
    records = _with_services(load_dataset(FIXTURE))
    examples = to_examples(records)
    assert {e.outputs["split"] for e in examples} == {"seen", "unseen"}
    predictions = replay(records, _Renamed(), state="gold", progress=False)
    outputs = [{"event": p.event, "task": p.task} for p in predictions]
    results = {r["key"]: r["score"] for r in service_splits(outputs, [e.outputs for e in examples])["results"]}
    assert {"seen_task_accuracy", "unseen_task_accuracy", "unseen_SWITCH_f1"} <= set(results)
    assert all(0.0 <= v <= 1.0 for v in results.values())


class _Renamed(ScriptedRouter):
    """The scripted router, answering with the services' task names."""

    def predict(self, routing, config):
        from dataclasses import replace

        prediction = super().predict(routing, config)
        if prediction.task is None:
            return prediction
        service = "Travel_9" if prediction.task == "flight" else "Office_1"
        return replace(prediction, task=f"{service}.{prediction.task}")
