"""The learned router is one package, ``task_router._learned`` (issue 26, item 2): its routing part never imports
its training part (``task_router._learned.training``) nor ``task_router.training``, so that routing loads no trainer.

Checked twice: in a fresh interpreter that routes with the package (over a small word-count encoder instead of the
shipped MiniLM, so that it runs in about a second), and by reading the source: every module the routing part can
import, at load time or inside a function (loading a model folder included), is outside the training packages.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.unit_tests.source_tree import PACKAGE, import_targets, module_files, nearest_module

TRAINING = ("task_router.training", "task_router._learned.training")
ROUTING = [
    "task_router._learned",
    "task_router._learned.model",
    "task_router._learned.router",
    "task_router._learned.texts",
]

_ROUTE = """
import json, sys, zlib
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

import task_router._learned
from task_router import TaskCatalog
from task_router._learned.model import LearnedConfig, LearnedModel
from task_router._learned.router import LearnedRouter
from task_router.routers import ROUTER_KINDS, LearnedRouter as Exported


class WordCounts(Embeddings):
    # Each text's words counted into 64 buckets: texts sharing words are near.
    def embed_documents(self, texts):
        rows = np.zeros((len(texts), 64))
        for row, text in zip(rows, texts):
            for word in text.lower().replace(":", " ").split():
                row[zlib.crc32(word.encode()) % 64] += 1.0
        return rows.tolist()

    def embed_query(self, text):
        return self.embed_documents([text])[0]


model = LearnedModel(WordCounts(), None, LearnedConfig(), Path("word-counts"))
router = LearnedRouter(model=model, catalog=TaskCatalog.demo())
decision = router.invoke({"messages": [{"role": "user", "content": "Draft a LinkedIn post about our launch"}]})
print(json.dumps({
    "decision": [decision.event, decision.task],
    "registered": [ROUTER_KINDS["learned"], Exported is LearnedRouter],
    "training": sorted(name for name in sys.modules if name.startswith(tuple(json.loads(sys.argv[1])))),
    "routing": sorted(name for name in sys.modules if name.startswith("task_router._learned")),
}))
"""


def test_routing_with_the_learned_package_imports_no_training() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PACKAGE.parent), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_ROUTE), json.dumps([*TRAINING, "trl"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["decision"] == ["START", "linkedin_post"]
    assert seen["registered"] == ["task_router._learned.router:LearnedRouter", True]
    assert seen["training"] == []
    assert seen["routing"] == sorted(ROUTING)


def every_import(name: str, path: Path, known: set[str]) -> set[str]:
    """The package modules ``name`` imports anywhere: at load time, inside functions, under ``TYPE_CHECKING``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]
    targets = {target for node in nodes for target in import_targets(node, package, known)}
    return {module for target in targets if (module := nearest_module(target, known))}


def test_nothing_the_routing_part_can_import_is_training() -> None:
    files = module_files()
    package = [name for name in files if name.split(".")[:2] == ["task_router", "_learned"]]
    assert sorted(name for name in package if not name.startswith(TRAINING)) == sorted(ROUTING)  # the routing part
    reached: dict[str, str] = {}  # module -> the module that imports it (or its subpackage)
    todo = [(name, "") for name in ROUTING]
    while todo:
        name, by = todo.pop()
        if name in reached:
            continue
        reached[name] = by
        parents = [name.rsplit(".", depth)[0] for depth in range(1, name.count(".") + 1)]
        todo += [(module, name) for module in [*parents, *every_import(name, files[name], set(files))]]

    def chain(name: str) -> str:
        links = [name]
        while reached[links[-1]]:
            links.append(reached[links[-1]])
        return " <- ".join(links)

    assert {"task_router.models._encoders"} <= set(reached)  # loading a folder
    wrong = [chain(name) for name in sorted(reached) if name.startswith(TRAINING)]
    assert not wrong, "the learned router's routing part reaches training:\n" + "\n".join(wrong)
