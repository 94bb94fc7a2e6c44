"""A catalogue's fitted thresholds take effect wherever it is loaded (or the load says why not)."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
import yaml

from task_router.cli._options import build_router, catalog_thresholds, resolve_thresholds
from task_router.routers._abstain import Abstain
from tests.unit_tests.fakes import Words

TASKS = [{"name": "recap", "description": "Recap a meeting."}, {"name": "email", "description": "Write an email."}]


def _catalogue(tmp_path: Path, thresholds: dict | None) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({"tasks": TASKS, **({"thresholds": thresholds} if thresholds else {})}))
    return path


def test_a_catalogue_with_thresholds_is_found_and_one_without_is_not(tmp_path: Path) -> None:
    assert catalog_thresholds(_catalogue(tmp_path, {"router": "learned", "none": 0.4})) is not None
    assert catalog_thresholds(_catalogue(tmp_path, None)) is None
    assert catalog_thresholds(None) is None


def test_thresholds_for_another_router_are_refused_or_ignored_with_a_reason(tmp_path: Path) -> None:
    catalogue = _catalogue(tmp_path, {"router": "embedding", "none": 0.4})
    warnings: list[str] = []
    assert resolve_thresholds(None, catalogue, "learned", warnings.append) is None
    assert "fitted for the 'embedding' router" in warnings[0] and "--router embedding" in warnings[0]
    with pytest.raises(typer.BadParameter, match="task-router fit --router learned"):
        resolve_thresholds(catalogue, None, "learned")
    assert resolve_thresholds(None, catalogue, "embedding") == catalogue
    assert resolve_thresholds(catalogue, None, "learned:models/mine".replace("learned", "embedding")) == catalogue


def test_the_catalogues_threshold_reaches_the_router(tmp_path: Path) -> None:
    catalogue = _catalogue(tmp_path, {"router": "embedding", "none": 0.42})
    router = build_router("embedding", "embedded", catalog=catalogue, encoder=Words(), closing_phrases=())
    assert isinstance(router, Abstain) and router.threshold == 0.42
    explicit = tmp_path / "t.json"
    explicit.write_text('{"router": "embedding", "none": 0.3}')
    router = build_router("embedding", "embedded", thresholds=explicit, catalog=catalogue, encoder=Words())
    assert router.threshold == 0.3  # --thresholds wins over the catalogue's section


@pytest.mark.parametrize("section", [0.42, "0.42", [0.42]])
def test_a_catalogue_thresholds_section_that_is_not_a_mapping_is_refused(tmp_path: Path, section: object) -> None:
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump({"tasks": TASKS, "thresholds": section}))
    assert catalog_thresholds(path) == path  # not skipped as if the catalogue had no thresholds
    with pytest.raises(typer.BadParameter, match="'thresholds' section") as caught:
        resolve_thresholds(None, path, "embedding")
    assert "task-router fit" in str(caught.value) and caught.value.param_hint == "--catalog"


def test_a_thresholds_file_with_nothing_to_apply_is_refused(tmp_path: Path) -> None:
    typo = tmp_path / "t.json"
    typo.write_text('{"router": "embedding", "threshold": 0.4}')  # "threshold" for "none": nothing would apply
    with pytest.raises(typer.BadParameter, match="no threshold to apply") as caught:
        build_router("embedding", "embedded", thresholds=typo, encoder=Words())
    assert "'threshold'" in str(caught.value) and "'none'" in str(caught.value)
