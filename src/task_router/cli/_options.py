"""Options and loaders shared by the subcommands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from task_router._catalog import CatalogError, TaskCatalog, name_key
from task_router._learned.model_folder import learned_model_path

# Where commands write their outputs by default (relative to the working directory; git-ignored in this repository).
RUNS_DIR = Path("runs")

ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        "-m",
        help="Model spec: embedded, hf:<dir>, qlora:<dir>, or any LangChain <provider>:<model> "
        "(openai:gpt-4o-mini, anthropic:..., ollama:llama3.2; install its langchain-<provider> package).",
    ),
]
RouterOpt = Annotated[
    str | None,
    typer.Option(
        "--router",
        "-r",
        help="Router kind (default: the best kind for the model); learned:<dir> routes with a model trained by "
        "task-router train --router learned.",
    ),
]
CatalogOpt = Annotated[
    Path | None, typer.Option("--catalog", "-c", help="Task catalogue, YAML or JSON (default: the demo catalogue).")
]
RerankOpt = Annotated[
    str | None,
    typer.Option(
        "--rerank",
        help="Embedding router: re-rank its best few tasks with this local model's likelihoods (e.g. embedded).",
    ),
]
ThresholdsOpt = Annotated[
    Path | None,
    typer.Option(
        "--thresholds",
        help="Thresholds written by `task-router fit` (its --out file, or a catalogue with a 'thresholds' section): "
        "the router abstains below its None threshold.",
    ),
]
BaseUrlOpt = Annotated[
    str | None, typer.Option("--base-url", help="Base URL of an OpenAI-compatible server (else OPENAI_BASE_URL).")
]


def load_catalog(path: Path | None) -> TaskCatalog:
    if path is None:
        return TaskCatalog.demo()
    try:
        return TaskCatalog.from_file(path)
    except CatalogError as exc:
        raise typer.BadParameter(str(exc), param_hint="--catalog") from None


def catalog_thresholds(path: Path | None) -> Path | None:
    """``path`` when it is a catalogue file with a ``thresholds`` section (written by ``task-router fit
    --catalog-out``), so that the catalogue's fitted thresholds take effect wherever it is loaded."""
    if path is None:
        return None
    from task_router._io_limits import load_document

    try:
        _, data = load_document(path, what="catalogue", hint="")
    except ValueError:
        return None  # load_catalog reports what is wrong with the file
    # A section that is not a mapping is returned too: load_thresholds says what is wrong with it, rather than the
    # catalogue loading as if it had no thresholds.
    return path if isinstance(data, dict) and data.get("thresholds") is not None else None


def resolve_thresholds(thresholds: Path | None, catalog: Path | None, kind: str, warn: Any = None) -> Path | None:
    """The thresholds file a command routes with: ``--thresholds``, else the catalogue's own section. Thresholds
    fitted for another router kind, or for another learned model than ``kind``'s, do not apply: an explicit file is
    refused, naming the fix; a catalogue's section is ignored with a ``warn`` message saying why."""
    from task_router._thresholds import learned_model_mismatch, load_thresholds

    chosen, explicit = (thresholds, True) if thresholds is not None else (catalog_thresholds(catalog), False)
    if chosen is None:
        return None
    try:
        fitted = load_thresholds(chosen)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--thresholds" if explicit else "--catalog") from None
    if fitted.router.partition(":")[0] != kind.partition(":")[0]:
        message = (
            f"{chosen} holds thresholds fitted for the {fitted.router!r} router, and this routes with {kind!r}: "
            f"fit them for it (`task-router fit --router {kind} ...`) or pass --router {fitted.router}"
        )
    else:
        mismatch = learned_model_mismatch(fitted, kind)
        if mismatch is None:
            return chosen
        message = f"{chosen} holds {mismatch}"
    if explicit:
        raise typer.BadParameter(message, param_hint="--thresholds")
    if warn is not None:
        warn(f"ignoring the catalogue's thresholds: {message}")
    return None


def load_conversation(path: Path, catalog: TaskCatalog) -> tuple[list[dict[str, Any]], str | None]:
    """Read and validate --conversation: a list of OpenAI-style messages, or {"messages": [...], "active_task": ...}.

    The file is read within :mod:`task_router._io_limits`' bounds; everything a router would reject (unreadable
    messages, a last message not from the user, an active task not in ``catalog``) is rejected here, before any
    model is loaded.
    """
    from task_router._router_input import coerce_input, load_conversation_file

    try:
        data, active = load_conversation_file(path)
        coerce_input({"messages": data, "active_task": active, "catalog": catalog})
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--conversation") from None
    if active is not None and active not in catalog:
        near = next((name for name in catalog.names if name_key(name) == name_key(active)), None)
        hint = f" (did you mean {near!r}?)" if near else ""
        # the fix before the names: a catalogue of 100+ names is longer than an error line
        raise typer.BadParameter(
            f"{path}: active_task {active!r} is not in the catalogue: give one of its task names or null{hint}; "
            f"its tasks: {catalog.names}",
            param_hint="--conversation",
        )
    return data, active


def check_output(path: Path | None, option: str, *, folder: bool = True) -> Path | None:
    """Fail before any work if ``path`` cannot be written: an output folder that is a file, or a path under a file
    (``--out results.json/run``). Raises BadParameter naming ``option`` and the fix; returns ``path``."""
    if path is None:
        return None
    if folder and path.exists() and not path.is_dir():
        raise typer.BadParameter(f"{path} is a file; give a folder (new or existing) for the output", param_hint=option)
    if not folder and path.is_dir():
        raise typer.BadParameter(f"{path} is a folder; give a file path for the output", param_hint=option)
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise typer.BadParameter(
                    f"{path} is under {parent}, which is a file, not a folder; give a path under a folder",
                    param_hint=option,
                )
            break
    return path


def check_files(paths: list[Path], option: str) -> None:
    """Fail before any model loads if a data file given to ``option`` cannot be read."""
    for path in paths:
        if not path.is_file():
            what = "a folder" if path.is_dir() else "missing"
            raise typer.BadParameter(f"{path} is {what}: give a readable .jsonl / .jsonl.gz file", param_hint=option)


def build_router(
    kind: str | None,
    model: str,
    base_url: str | None = None,
    *,
    rerank: str | None = None,
    thresholds: Path | None = None,
    catalog: Path | None = None,
    warn: Any = None,
    **options: Any,
) -> Any:
    """The router a command runs: ``kind`` (None: the best kind for ``model``) over ``model``, with the fitted
    thresholds of ``thresholds`` or of the ``catalog`` file (see :func:`resolve_thresholds`)."""
    from task_router.models import load_router_model
    from task_router.routers import default_router_kind, make_router

    kind = kind or default_router_kind(model)
    fitted = resolve_thresholds(thresholds, catalog, kind, warn)
    if fitted is not None:
        options["thresholds"] = fitted
    _, folder = learned_model_path(kind)
    if folder is not None:
        kind, options["model_path"] = "learned", folder
    if rerank is not None and kind != "embedding":
        raise typer.BadParameter(
            f"--rerank re-ranks the embedding router's tasks: use it with --router embedding, not {kind!r}",
            param_hint="--rerank",
        )
    if kind == "learned":
        try:
            return make_router(kind, model=None, **options)
        except (ValueError, FileNotFoundError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--router") from None
    if kind == "embedding":
        if rerank is None:
            return make_router(kind, model=None, **options)
        try:
            return make_router(kind, model=None, rerank=rerank, **options)
        except ValueError as exc:  # e.g. an API model given as the reranker
            raise typer.BadParameter(str(exc), param_hint="--rerank") from None
    chat_model: Any = model
    if base_url and model.startswith("openai:"):
        chat_model = load_router_model(model, base_url=base_url)
    try:
        return make_router(kind, model=chat_model, **options)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
