"""A catalogue's fitted thresholds take effect wherever it is loaded (or the load says why not)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
import yaml

from task_router.cli._base import build_router, catalog_thresholds, resolve_thresholds
from task_router.routers._compose import Abstain
from tests.unit_tests.fakes import Scripted, Words, learned_folder

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


# --- thresholds of one learned model applied to another ----------------------------------------------------------


def _fitted_for(tmp_path: Path, model_path: Path | None) -> dict:
    from task_router._learned.model import learned_model_key

    return {"router": "learned", "none_bias": 0.3, "temperature": 1.2, "model_key": learned_model_key(model_path)}


def test_thresholds_of_another_learned_model_are_refused_or_ignored_with_a_reason(tmp_path: Path) -> None:
    mine = learned_folder(tmp_path / "mine")
    fitted = _fitted_for(tmp_path, mine)
    assert fitted["model_key"]  # a key of the folder's content, computed without loading the model
    explicit = tmp_path / "t.json"
    explicit.write_text(json.dumps(fitted))
    with pytest.raises(typer.BadParameter, match=r"task-router fit --router learned \.\.\.") as caught:
        resolve_thresholds(explicit, None, "learned")  # fitted on models/mine, applied to the shipped model
    assert "another learned model" in str(caught.value) and caught.value.param_hint == "--thresholds"
    other = learned_folder(tmp_path / "other", b"adapter B")
    with pytest.raises(typer.BadParameter, match=re.escape(f"task-router fit --router learned:{other} ...")):
        resolve_thresholds(explicit, None, f"learned:{other}")
    catalogue = _catalogue(tmp_path, fitted)
    warnings: list[str] = []
    assert resolve_thresholds(None, catalogue, "learned", warnings.append) is None
    assert warnings[0].startswith("ignoring the catalogue's thresholds") and "another learned model" in warnings[0]
    assert resolve_thresholds(explicit, None, f"learned:{mine}") == explicit
    assert resolve_thresholds(None, catalogue, f"learned:{mine}") == catalogue


def test_thresholds_follow_the_learned_models_content_not_its_path(tmp_path: Path) -> None:
    explicit = tmp_path / "t.json"
    explicit.write_text(json.dumps(_fitted_for(tmp_path, learned_folder(tmp_path / "a"))))
    copy = learned_folder(tmp_path / "copied" / "elsewhere")  # the same model on another machine or folder
    assert resolve_thresholds(explicit, None, f"learned:{copy}") == explicit
    builtin = tmp_path / "builtin.json"
    builtin.write_text(json.dumps(_fitted_for(tmp_path, None)))
    assert resolve_thresholds(builtin, None, "learned") == builtin
    with pytest.raises(typer.BadParameter, match="another learned model"):
        resolve_thresholds(builtin, None, f"learned:{copy}")


def test_old_learned_thresholds_without_a_model_key_still_apply(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text('{"router": "learned", "model": "learned:/somewhere/mine", "none_bias": 0.3}')
    assert resolve_thresholds(old, None, "learned") == old
    assert resolve_thresholds(old, None, f"learned:{learned_folder(tmp_path / 'm')}") == old


def test_make_router_refuses_thresholds_of_another_learned_model(tmp_path: Path, monkeypatch) -> None:
    from task_router import routers

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("refused thresholds must fail before any model is loaded")

    monkeypatch.setattr(routers, "_build", no_model)
    mine = learned_folder(tmp_path / "mine")
    explicit = tmp_path / "t.json"
    explicit.write_text(json.dumps(_fitted_for(tmp_path, mine)))
    with pytest.raises(ValueError, match=r"task-router fit --router learned \.\.\."):
        routers.make_router("learned", thresholds=explicit)
    other = learned_folder(tmp_path / "other", b"adapter B")
    with pytest.raises(ValueError, match=re.escape(f"task-router fit --router learned:{other} ...")):
        routers.make_router("learned", thresholds=explicit, model_path=other)
    built: list[dict] = []
    monkeypatch.setattr(routers, "_build", lambda kind, model, options, **kw: built.append(options) or Scripted(None))
    routers.make_router("learned", thresholds=explicit, model_path=str(mine))
    assert built[-1]["none_bias"] == 0.3 and built[-1]["temperature"] == 1.2


def test_a_command_hashes_the_learned_model_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command checks its thresholds twice (its options, then make_router): the model's weights are read once;
    weights rewritten since are read again."""
    from task_router import routers
    from task_router._learned.model import ADAPTER_WEIGHTS
    from task_router.routers._fallbacks import KeepActiveRouter

    monkeypatch.setattr(routers, "_build", lambda *args, **kwargs: KeepActiveRouter())  # no model loaded
    mine = learned_folder(tmp_path / "mine")
    explicit = tmp_path / "t.json"
    explicit.write_text(json.dumps(_fitted_for(tmp_path, learned_folder(tmp_path / "copy"))))  # not mine's path
    read_bytes, reads = Path.read_bytes, []

    def counted(path: Path) -> bytes:
        if path.name == ADAPTER_WEIGHTS:
            reads.append(path)
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", counted)
    build_router(f"learned:{mine}", "embedded", thresholds=explicit)
    assert reads == [mine.resolve() / "bi_encoder" / ADAPTER_WEIGHTS]
    (mine / "bi_encoder" / ADAPTER_WEIGHTS).write_bytes(b"retrained adapter")
    with pytest.raises(typer.BadParameter, match="another learned model"):
        build_router(f"learned:{mine}", "embedded", thresholds=explicit)
    assert len(reads) == 2


def test_weights_overwritten_in_place_with_their_timestamps_kept_are_hashed_again(tmp_path: Path) -> None:
    """Adapters of one configuration have the same size: another model's weights copied over mine in place with
    their modification time kept (``cp -p``, an archive extracted over the folder) are a new version of the file;
    the cached key must not be the old model's."""
    import os

    from task_router._learned.model import ADAPTER_WEIGHTS, learned_model_key

    mine = learned_folder(tmp_path / "mine", weights=b"adapter A")
    weights = mine / "bi_encoder" / ADAPTER_WEIGHTS
    before = learned_model_key(mine)
    kept = weights.stat()
    with weights.open("r+b") as handle:  # the same file (inode), the same size, other bytes
        handle.write(b"adapter B")
    os.utime(weights, ns=(kept.st_atime_ns, kept.st_mtime_ns))  # the copy keeps the source's timestamp
    assert learned_model_key(mine) == learned_model_key(learned_folder(tmp_path / "b", weights=b"adapter B"))
    assert learned_model_key(mine) != before


def test_a_recalibrated_folder_is_another_model_for_its_thresholds(tmp_path: Path) -> None:
    """A confidence threshold fitted on one calibration (temperature, top_k, NONE scores) means something else on
    another: `--recalibrate` changes the key, so thresholds fitted before are refused and refitted."""
    import json

    from task_router._learned.model import learned_model_key

    mine = learned_folder(tmp_path / "mine")
    copy = learned_folder(tmp_path / "copy")
    assert learned_model_key(mine) == learned_model_key(copy)  # the same model in another folder
    before = learned_model_key(mine)
    for field, value in (("top_k", 3), ("temperature", 0.9), ("none_bias", 0.35)):
        config = json.loads((mine / "learned.json").read_text())
        (mine / "learned.json").write_text(json.dumps({**config, field: value}))
        assert learned_model_key(mine) != before, field
        before = learned_model_key(mine)
