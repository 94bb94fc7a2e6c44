"""Routing benchmarks built from the public releases: Schema-Guided Dialogue (SGD) and CLINC150.

:func:`build_benchmarks` writes the same gzipped JSONL files as the project's shared benchmarks (``sgd_train``,
``sgd_dev``, ``sgd_test``, ``clinc_dev``, ``clinc_test``, ``sgd_digress_dev``, ``sgd_digress_test``); each record
loads with :func:`task_router.evaluation.load_dataset`. The conversion rules are in :mod:`task_router.datasets._sgd`,
:mod:`task_router.datasets._clinc` and :mod:`task_router.datasets._build` (the digressions). Standard library
only.

Example:
    >>> from pathlib import Path
    >>> files = build_benchmarks(Path("data"), sgd_folder=Path("dstc8-schema-guided-dialogue"))  # doctest: +SKIP
"""

from task_router.datasets._build import BuiltFile, Sizes, build_benchmarks
from task_router.datasets._sgd import SourceError

__all__ = ["BuiltFile", "Sizes", "SourceError", "build_benchmarks"]
