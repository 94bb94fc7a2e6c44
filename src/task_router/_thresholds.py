"""The None / escalation thresholds a router applies at run time: the rule, and the file they are kept in.

Thresholds act on a decision's ``confidence`` (0..1) for turns where the router proposes a task other than the
active one (a START or a SWITCH); see :class:`task_router.routers.Abstain` and the cascade router:

- ``none``: below it, the proposal is not taken (no active task: NONE; else the active task continues);
- ``escalate`` (cascades): from ``none`` up to ``escalate`` the strong router decides; at or above, the cheap one.

They are fitted by ``task-router fit`` on a dev set (:mod:`task_router._calibration`) and saved in a JSON/YAML file
of their own, or as a ``thresholds`` section next to ``tasks`` in a catalogue file (``TaskCatalog.from_file`` reads
the tasks and ignores the section).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from task_router._catalog import NONE_LABEL
from task_router._io_limits import load_document, write_text_atomic

_THRESHOLDS_HINT = (
    'give a file written by `task-router fit --out FILE` (e.g. {"router": "embedding", "none": 0.42}) '
    "or a catalogue written with --catalog-out (its 'thresholds' section)"
)


class Thresholds(BaseModel):
    """Fitted thresholds, with what they were fitted for and how they scored on the fitting data.

    Example:
        >>> Thresholds(router="embedding", none=0.42).none
        0.42
    """

    model_config = ConfigDict(extra="allow", ser_json_inf_nan="null")  # a figure that could not be measured: null

    router: str
    model: str = ""
    none: float | None = Field(default=None, ge=0.0, le=1.0)
    escalate: float | None = Field(default=None, ge=0.0, le=1.0)
    # The learned router's own calibration, refitted on your turns (task-router fit --router learned).
    none_bias: float | None = Field(default=None, ge=-1.0, le=1.0)
    none_bias_active: float | None = Field(default=None, ge=-1.0, le=1.0)
    temperature: float | None = Field(default=None, gt=0.0)
    # The learned model they were fitted for (``learned_model_key``): its NONE scores and temperature belong to
    # it alone. None: another router kind, or a file written before the key was recorded (applied to any model).
    model_key: str | None = None
    shortlist: int | None = None
    dataset: str = ""
    fitted_on: str = ""
    metrics: dict[str, Any] = Field(default_factory=dict)


# The fields a router applies (the others describe the fit): a thresholds file must give at least one.
APPLIED_FIELDS = ("none", "escalate", "none_bias", "none_bias_active", "temperature", "shortlist")


@dataclass(frozen=True)
class ScoredTurn:
    """One dev-set turn as a thresholded router sees it: the proposal, its confidence and the gold task.

    ``proposed`` is the task the router would name with no abstention ("NONE" when it says none itself);
    ``active`` the active task before the turn (None when none).
    """

    proposed: str
    confidence: float
    gold: str
    active: str | None = None


def apply_none(turn: ScoredTurn, threshold: float) -> str:
    """The task named after abstention at ``threshold`` (a proposal other than the active task needs
    ``confidence >= threshold``; otherwise the active task stays, or NONE)."""
    if turn.proposed == NONE_LABEL or turn.proposed == turn.active or turn.confidence >= threshold:
        return turn.proposed
    return turn.active or NONE_LABEL


def learned_model_mismatch(fitted: Thresholds, kind: str, model_path: str | Path | None = None) -> str | None:
    """Why ``fitted`` does not apply to the learned router ``kind`` routes with (``learned`` or
    ``learned:<dir>``; ``model_path`` given on its own wins), naming the fix; None when it applies: another router
    kind (compared elsewhere), thresholds recording no model, or the same model (by content, not path).

    Example:
        >>> learned_model_mismatch(Thresholds(router="learned", none_bias=0.3), "learned") is None  # no key: applies
        True
    """
    from task_router._learned.model import learned_model_key, learned_model_path

    learned, folder = learned_model_path(kind)
    if not learned or fitted.model_key is None:
        return None
    path = model_path if model_path is not None else folder
    current = learned_model_key(path)
    if current is None or current == fitted.model_key:
        return None  # a folder that holds no model: loading the router says so
    target = f"learned:{path}" if path is not None else "learned"
    fitted_for = fitted.model or "another model"
    return (
        f"thresholds fitted for another learned model ({fitted_for}, key {fitted.model_key}), and this routes with "
        f"{target} (key {current}): the NONE scores and temperature belong to one model; refit them for this one "
        f"(`task-router fit --router {target} ...`) or route with the model they were fitted for"
    )


def save_thresholds(path: Path, thresholds: Thresholds, tasks: Sequence[dict[str, Any]] | None = None) -> Path:
    """Write the thresholds alone, or (``tasks`` given) a catalogue file ``{tasks: [...], thresholds: {...}}``.

    YAML for ``.yaml`` / ``.yml``, JSON otherwise, written whole or not at all. Either file can be read back with
    :func:`load_thresholds`; the catalogue one also with ``TaskCatalog.from_file``.
    """
    data: dict[str, Any] = thresholds.model_dump(mode="json", exclude_none=True)  # strict JSON: no NaN
    if tasks is not None:
        data = {"tasks": list(tasks), "thresholds": data}
    if path.suffix.lower() in (".yaml", ".yml"):
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    return write_text_atomic(path, text)  # a run interrupted while saving leaves the previous file whole


def load_thresholds(path: str | Path) -> Thresholds:
    """Read thresholds from a file written by ``task-router fit`` (on their own or a catalogue's section).

    Example:
        >>> load_thresholds("catalog.fitted.yaml").none  # doctest: +SKIP
        0.41
    """
    path, data = load_document(path, what="thresholds file", hint=_THRESHOLDS_HINT)
    if isinstance(data, dict) and data.get("thresholds") is not None:
        data = data["thresholds"]
        if not isinstance(data, dict):
            raise ValueError(
                f"{path}: its 'thresholds' section is a {type(data).__name__} ({data!r:.60}), not the mapping "
                f"`task-router fit` writes; {_THRESHOLDS_HINT}"
            )
    if not isinstance(data, dict) or "router" not in data:
        raise ValueError(
            f"{path} holds no thresholds: run `task-router fit --dataset DEV --out {path}` "
            "(or --catalog-out) to write them"
        )
    try:
        fitted = Thresholds.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'thresholds'}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"thresholds file {path}: {details}; {_THRESHOLDS_HINT}") from None
    if all(getattr(fitted, key) is None for key in APPLIED_FIELDS):  # e.g. a misspelt key: nothing would apply
        unknown = sorted(str(key) for key in data if key not in Thresholds.model_fields)
        found = f" (it has {', '.join(map(repr, unknown))})" if unknown else ""
        raise ValueError(
            f"{path} gives the {fitted.router!r} router no threshold to apply: none of "
            f"{', '.join(map(repr, APPLIED_FIELDS))}{found}; {_THRESHOLDS_HINT}"
        )
    return fitted
