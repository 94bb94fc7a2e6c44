"""Options and loaders shared by the subcommands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from task_router.catalog import CatalogError, TaskCatalog

ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="Model spec: embedded, hf:<dir>, openai:<model>, qlora:<dir>.")
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


def load_conversation(path: Path) -> tuple[list[dict[str, Any]], str | None]:
    """Read --conversation: a list of OpenAI-style messages, or {"messages": [...], "active_task": ...}."""
    from task_router.routers.render import load_conversation_file

    try:
        return load_conversation_file(path)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--conversation") from None


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


def build_router(
    kind: str | None, model: str, base_url: str | None = None, *, rerank: str | None = None, **options: Any
) -> Any:
    from task_router.models import load_chat_model
    from task_router.routers import default_router_kind, make_router

    kind = kind or default_router_kind(model)
    if kind.startswith("learned:"):
        kind, _, options["model_path"] = kind.partition(":")
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
        chat_model = load_chat_model(model, base_url=base_url)
    try:
        return make_router(kind, model=chat_model, **options)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
