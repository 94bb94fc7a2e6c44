"""`task-router fit`: choose None / cascade escalation thresholds on a dev set, save them, report calibration."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from task_router._learned.model import learned_model_key, learned_model_path
from task_router.cli._base import BaseUrlOpt, ModelOpt, RerankOpt, app, build_router, check_output

if TYPE_CHECKING:
    from task_router._catalog import Task


@app.command("fit")
def fit_command(
    dataset: Annotated[Path, typer.Option("--dataset", "-d", help="Dev set (.jsonl or .jsonl.gz benchmark file).")],
    model: ModelOpt = "embedded",
    router: Annotated[
        str | None,
        typer.Option(
            "--router",
            "-r",
            help="Router kind whose None threshold to fit (embedding, learned, learned:<dir>, scoring...), or "
            "cascade (default: the best kind for --model, as chat, route and eval use).",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the thresholds alone (JSON or YAML).")] = None,
    catalog_out: Annotated[
        Path | None,
        typer.Option("--catalog-out", help="Write a catalogue file: the dataset's tasks plus a 'thresholds' section."),
    ] = None,
    report_dir: Annotated[
        Path | None, typer.Option("--report-dir", help="Folder for reliability.png, abstention.png, calibration.json.")
    ] = None,
    records: Annotated[
        str | None, typer.Option("--records", help="Python slice of the conversations to fit on, e.g. ':300'.")
    ] = None,
    shortlist: Annotated[
        int | None, typer.Option("--shortlist", "-k", min=1, help="Route over the top-k tasks (saved with them).")
    ] = None,
    rerank: RerankOpt = None,
    cheap: Annotated[str, typer.Option("--cheap", help="Cascade: cheap stage (embedding, scoring).")] = "embedding",
    strong: Annotated[str | None, typer.Option("--strong", help="Cascade: strong stage kind over --model.")] = None,
    min_in_scope_accuracy: Annotated[
        float | None,
        typer.Option(
            help="Pick the best None recall that keeps in-scope accuracy at or above this (else best accuracy)."
        ),
    ] = None,
    max_escalation: Annotated[float, typer.Option(help="Cascade: at most this share of turns escalated.")] = 1.0,
    escalation_cost: Annotated[
        float, typer.Option(help="Cascade: accuracy given up per escalated share (0 = accuracy only).")
    ] = 0.0,
    base_url: BaseUrlOpt = None,
) -> None:
    """Fit thresholds on a dev set (gold active task per turn) and report calibration.

    Example: task-router fit --dataset ../shared/benchmarks/clinc_dev.jsonl.gz --records :300 --out thr.json
    --report-dir fit_report
    """
    from task_router._thresholds import Thresholds, save_thresholds
    from task_router.evaluation import DatasetError, load_dataset

    if out is None and catalog_out is None:
        raise typer.BadParameter("say where to save the thresholds: --out FILE and/or --catalog-out FILE")
    if out is not None and catalog_out is not None and out.resolve() == catalog_out.resolve():
        raise typer.BadParameter(
            f"{catalog_out} is also --out: the catalogue would overwrite the thresholds file; give another path",
            param_hint="--catalog-out",
        )
    check_output(out, "--out", folder=False)
    check_output(catalog_out, "--catalog-out", folder=False)
    check_output(report_dir, "--report-dir")
    try:
        dev = load_dataset(dataset)
    except DatasetError as exc:
        raise typer.BadParameter(str(exc), param_hint="--dataset") from None
    if records:
        dev = dev[_slice(records)]
        if not dev:
            raise typer.BadParameter(f"--records {records} selects no conversation of {dataset}")
    tasks = _tasks(dev) if catalog_out is not None else None  # a catalogue no command could load fails here
    from task_router.routers import default_router_kind

    console = Console()
    kind = router or default_router_kind(model)
    if kind == "cascade":
        if rerank is not None:
            raise typer.BadParameter("--rerank goes with --router embedding, not cascade", param_hint="--rerank")
        fitted, report = _fit_cascade(dev, model, cheap, strong, shortlist, base_url, max_escalation, escalation_cost)
    else:
        fitted, report = _fit_none(dev, kind, model, shortlist, base_url, min_in_scope_accuracy, rerank)
    learned, folder = learned_model_path(kind)
    if learned:  # its NONE scores and temperature belong to this model alone
        fitted["model_key"] = learned_model_key(folder)
    thresholds = Thresholds(
        dataset=str(dataset), fitted_on=records or ":", shortlist=shortlist, metrics=report["summary"], **fitted
    )
    for path in (out, catalog_out):
        if path is not None:
            console.print(f"wrote {save_thresholds(path, thresholds, tasks if path == catalog_out else None)}")
    if report_dir is not None:
        for path in _write_report(report_dir, report, kind):
            console.print(f"wrote {path}")
    console.print_json(json.dumps(thresholds.model_dump(exclude_none=True)))


def _fit_none(
    dev: list[Any],
    kind: str,
    model: str,
    shortlist: int | None,
    base_url: str | None,
    target: float | None,
    rerank: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    from task_router._calibration import abstention_curve, choose_none_threshold, turns_from_predictions

    options: dict[str, Any] = {"threshold": None} if kind == "embedding" else {}  # fit replaces its own threshold
    decider = build_router(kind, model, base_url, shortlist=shortlist, rerank=rerank, **options)
    learned = _refit_learned(dev, decider) if target is None else None
    if learned is not None:
        # The learned router says NONE by itself: refit its NONE scores and temperature on these turns (the
        # calibration its training fitted on held-out training conversations), rather than abstain on top.
        kind_options = {key: learned[key] for key in ("none_bias", "none_bias_active", "temperature")}
        decider = build_router(kind, model, base_url, shortlist=shortlist, **kind_options)
        turns = turns_from_predictions(_replay(dev, decider))
        point = {key: value for key, value in learned.items() if key not in kind_options}
        report: dict[str, Any] = {"turns": turns, "curve": abstention_curve(turns), "chosen": None, "summary": point}
        return {"router": kind, "model": decider.model_label, **kind_options}, report
    turns = turns_from_predictions(_replay(dev, decider))
    none, point = choose_none_threshold(turns, min_in_scope_accuracy=target)
    report = {"turns": turns, "curve": abstention_curve(turns), "chosen": none, "summary": point}
    return {"router": kind, "model": decider.model_label, "none": none}, report


FEW_NONE_TURNS = 5  # below this many NONE turns of a kind, fit warns that its NONE score rests on few examples


def _refit_learned(dev: list[Any], decider: Any) -> dict[str, Any] | None:
    """The learned router's calibration fitted on ``dev`` (gold active task), or None for other routers (and for a
    learned router with a cross-encoder or a shortlist in front, which decide otherwise)."""
    from task_router._learned.router import LearnedRouter
    from task_router._learned.training.calibrate import MIN_TEMPERATURE_TURNS, fit_calibration, score_held_out

    if not isinstance(decider, LearnedRouter) or decider.use_cross_encoder or decider.calibration.none_bias is None:
        return None
    turns = score_held_out(decider, dev)
    few = len(turns) < MIN_TEMPERATURE_TURNS
    if few:
        Console().print(
            f"[dim]{len(turns)} labelled turns: the NONE scores are fitted, the model's temperature is kept "
            f"(a temperature is fitted from {MIN_TEMPERATURE_TURNS} turns)[/dim]"
        )
    own = decider.calibration
    scores = {"none_bias": own.none_score(active=False), "none_bias_active": own.none_score(active=True)}
    fitted = fit_calibration(
        turns,
        scale=own.bi_scale,
        temperature=own.temperature if few else None,
        keep={key: value for key, value in scores.items() if value is not None},
        top_k=own.top_k,
    )
    for key, count in fitted["none_turns"].items():
        kind = "with a task active" if key == "none_bias_active" else "with no task active"
        if key in fitted["kept"]:
            Console().print(
                f"[dim]{key} kept at the model's {fitted[key]:.3f}: the labelled turns {kind} do not have both NONE "
                "and a task as answers, so they cannot place it[/dim]"
            )
        elif count < FEW_NONE_TURNS:
            Console().print(
                f"[yellow]{key} {fitted[key]:.3f} is fitted on {count} NONE turn(s) {kind}: it may not hold on other "
                f"conversations; label at least {FEW_NONE_TURNS} such turns[/yellow]"
            )
    return fitted


def _fit_cascade(
    dev: list[Any],
    model: str,
    cheap: str,
    strong: str | None,
    shortlist: int | None,
    base_url: str | None,
    max_escalation: float,
    cost: float,
) -> tuple[dict[str, Any], dict[str, Any]]:
    from task_router._calibration import abstention_curve, choose_escalation, turns_from_predictions
    from task_router.routers import llm_router_kind
    from task_router.routers._compose import CHEAP_KINDS

    if cheap not in CHEAP_KINDS:
        raise typer.BadParameter(f"--cheap must be one of {CHEAP_KINDS}")
    options: dict[str, Any] = {"threshold": None} if cheap == "embedding" else {}
    first = build_router(cheap, model, base_url, shortlist=shortlist, **options)
    second = build_router(strong or llm_router_kind(model), model, base_url, shortlist=shortlist)
    cheap_turns = turns_from_predictions(_replay(dev, first))
    strong_tasks = [p.task for p in _replay(dev, second)]
    none, escalate, point = choose_escalation(cheap_turns, strong_tasks, max_escalation=max_escalation, cost=cost)
    report = {"turns": cheap_turns, "curve": abstention_curve(cheap_turns), "chosen": none, "summary": point}
    label = f"{first.model_label}->{second.model_label}"
    return {"router": "cascade", "model": label, "none": none, "escalate": escalate}, report


def _replay(dev: list[Any], decider: Any) -> list[Any]:
    from task_router.evaluation._replay import replay

    return replay(dev, decider, state="gold")


def _write_report(folder: Path, report: dict[str, Any], kind: str) -> list[Path]:
    from task_router._calibration import expected_calibration_error, plot_abstention, plot_reliability

    folder.mkdir(parents=True, exist_ok=True)
    turns = report["turns"]
    confidences = [t.confidence for t in turns]
    correct = [t.proposed == t.gold for t in turns]
    summary = {
        "router": kind,
        "n_turns": len(turns),
        "ece": expected_calibration_error(confidences, correct),
        "chosen": report["summary"],
        "curve": report["curve"],
    }
    data = folder / "calibration.json"
    data.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return [
        data,
        plot_reliability(confidences, correct, folder / "reliability.png", title=f"{kind}: top answer"),
        plot_abstention(
            report["curve"], folder / "abstention.png", title=f"{kind}: None threshold", chosen=report["chosen"]
        ),
    ]


def _tasks(dev: list[Any]) -> list[dict[str, Any]]:
    """Every task of the dev records, as a catalogue file's tasks (SGD records each offer their own catalogue): a
    task several records offer keeps the first one's description, display name and instructions, and gathers the
    examples, inputs (by name) and tools of them all.

    Raises:
        typer.BadParameter: The records' tasks do not make one catalogue (e.g. 'Email' in one record, 'email' in
            another: routers cannot tell them apart), naming them.
    """
    from task_router._catalog import CatalogError, TaskCatalog

    merged: dict[str, Task] = {}
    offered_by: dict[str, list[str]] = {}
    for record in dev:
        for task in record.catalog().tasks:
            kept = merged.get(task.name)
            merged[task.name] = task if kept is None else _merged(kept, task)
            offered_by.setdefault(task.name, []).append(record.id)
    try:
        TaskCatalog.from_records([task.model_dump() for task in merged.values()])  # validated again, merged
    except CatalogError as exc:
        raise typer.BadParameter(
            f"the tasks of the --dataset conversations do not make one catalogue file: {exc}{_clashes(offered_by)}; "
            "fix them in the dataset, or drop --catalog-out",
            param_hint="--catalog-out",
        ) from None
    return [task.model_dump(exclude_defaults=True) for task in merged.values()]


def _clashes(offered_by: dict[str, list[str]]) -> str:
    """Which conversations offer the names that routers cannot tell apart ('Email' and 'email'), if any."""
    from task_router._catalog import name_key

    groups: dict[str, list[str]] = {}
    for name in offered_by:
        groups.setdefault(name_key(name), []).append(name)
    clashes = [names for names in groups.values() if len(names) > 1]
    if not clashes:
        return ""
    where = "; ".join(
        " vs ".join(
            f"{name!r} in {', '.join(offered_by[name][:3])}{', ...' if len(offered_by[name]) > 3 else ''}"
            for name in names
        )
        for names in clashes[:3]
    )
    return f" ({where})"


def _merged(kept: Task, other: Task) -> Task:
    """Task ``kept`` with what ``other`` (the same task in a later record) adds: its examples, inputs and tools not
    yet there, and the display name / instructions that ``kept`` lacks."""
    known = {task_input.name for task_input in kept.inputs}
    return kept.model_copy(
        update={
            "examples": list(dict.fromkeys([*kept.examples, *other.examples])),
            "inputs": [*kept.inputs, *(task_input for task_input in other.inputs if task_input.name not in known)],
            "tools": list(dict.fromkeys([*kept.tools, *other.tools])),
            "display_name": kept.display_name or other.display_name,
            "instructions": kept.instructions or other.instructions,
        }
    )


def _slice(text: str) -> slice:
    try:
        parts = [int(p) if p.strip() else None for p in text.split(":")]
    except ValueError:
        raise typer.BadParameter(f"--records {text!r} is not a slice: use e.g. ':300' or '300:'") from None
    if len(parts) not in (2, 3):
        raise typer.BadParameter(f"--records {text!r} is not a slice: use e.g. ':300' or '300:'")
    return slice(*parts)
