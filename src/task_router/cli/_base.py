"""The `task-router` Typer app: its error boundary, and the options and loaders shared by the subcommands.

The subcommands live in the sibling modules (:mod:`task_router.cli` registers them on the app); they share the
options (``ModelOpt``, ``RouterOpt``, ...) and loaders (:func:`load_catalog`, :func:`build_router`, ...) defined
here.

Errors: every command shares one error boundary (:class:`_ErrorBoundary`). Bad input (a usage error, a file that
cannot be read or written, an unusable catalogue, conversation, dataset, model spec or database) prints one line,
``error: <what was wrong>; <what a valid input is / the fix>``, and exits with status 2; any other failure prints one
line too and exits with status 1. ``task-router --debug <command> ...`` (or ``TASK_ROUTER_DEBUG=1``) shows the
traceback instead.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from task_router._catalog import CatalogError, TaskCatalog, name_key
from task_router._learned.model import learned_model_path

USAGE_EXIT = 2  # bad input: the user can fix it
FAILURE_EXIT = 1  # anything else


class _ErrorBoundary(TyperGroup):
    """The Typer group that runs every subcommand inside the CLI's one error boundary (see the module docstring).

    It sits in ``invoke``, so it applies however the app is run (``task-router``, ``python -m``, CliRunner).
    """

    # The base annotates ctx with click's Context, vendored by typer with no public name; typer.Context subclasses it
    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as exc:
            if _debug(ctx):
                raise
            message, code = describe_error(exc, ctx)
            typer.echo(f"error: {message}", err=True)
            raise typer.Exit(code) from None


def describe_error(exc: BaseException, ctx: typer.Context | None = None) -> tuple[str, int]:
    """(one-line message saying what was wrong and what to do, exit status) for an exception out of a command."""
    command = _command_path(ctx)
    if isinstance(exc, typer.TyperException) and hasattr(exc, "format_message"):  # usage errors, BadParameter
        message = _one_line(exc.format_message()).rstrip(".")
        if ";" not in message:
            message += f"; see `{command} --help`"
        return message, USAGE_EXIT
    if isinstance(exc, IsADirectoryError | NotADirectoryError | FileExistsError | PermissionError | FileNotFoundError):
        return _os_message(exc), USAGE_EXIT
    if isinstance(exc, ValueError | sqlite3.DatabaseError):  # CatalogError, DatasetError, bad model specs...
        message = _one_line(str(exc)) or type(exc).__name__
        if ";" not in message and ":" not in message:
            message += f"; check the command's inputs (`{command} --help`)"
        return message, USAGE_EXIT
    if isinstance(exc, ImportError):
        message = _one_line(str(exc))
        if "pip install" in message:  # our own messages (task_router._resources.require) already name the extra
            return message, USAGE_EXIT
        return f"{message}; install the missing package (see the README's install extras)", USAGE_EXIT
    if isinstance(exc, OSError):
        return _os_message(exc), USAGE_EXIT
    if type(exc).__module__.split(".")[0] == "openai":  # e.g. missing or rejected credentials
        return f"{_one_line(str(exc))}; set OPENAI_API_KEY or give --base-url of a local server", USAGE_EXIT
    detail = _one_line(f"{type(exc).__name__}: {exc}")
    return f"{detail}; this is a bug, not your input: rerun with `task-router --debug ...` and report it", FAILURE_EXIT


def _os_message(exc: OSError) -> str:
    if exc.strerror is None and str(exc):  # raised with a message of ours, which names the path and the fix
        return _one_line(str(exc))
    name = exc.filename if exc.filename is not None else "the path"
    reason = exc.strerror or type(exc).__name__
    fixes = {
        FileExistsError: "it exists and is not a folder: give a new path or a folder",
        NotADirectoryError: "part of the path is a file, not a folder: give a path under a folder",
        IsADirectoryError: "it is a folder: give a file path",
        PermissionError: "permission denied: give a path you can read and write",
        FileNotFoundError: "it does not exist: check the path",
    }
    fix = next((text for kind, text in fixes.items() if isinstance(exc, kind)), "check the path and the disk")
    return f"cannot use {name} ({reason}); {fix}"


def _one_line(text: str) -> str:
    r"""``text`` on one line: its lines joined by "; " (a heading ending in ":" runs on into its first item).

    Example:
        >>> _one_line("invalid task catalogue:\n  task #1: no name\n  task #2: no description")
        'invalid task catalogue: task #1: no name; task #2: no description'
    """
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return "".join(line + (" " if line.endswith(":") else "; ") for line in lines).rstrip("; ")[:2000]


def _command_path(ctx: typer.Context | None) -> str:
    sub = getattr(ctx, "invoked_subcommand", None) if ctx is not None else None
    return f"task-router {sub}" if sub else "task-router"


def _debug(ctx: typer.Context) -> bool:
    return bool(ctx.params.get("debug")) or os.environ.get("TASK_ROUTER_DEBUG", "") not in ("", "0")


app = typer.Typer(
    name="task-router",
    help="Per-turn task routing for LangGraph assistants: chat, route, evaluate, train, benchmark.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    cls=_ErrorBoundary,
)


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="Show the full traceback of an error (also TASK_ROUTER_DEBUG=1).")
    ] = False,
) -> None:
    """Per-turn task routing for LangGraph assistants: chat, route, evaluate, train, benchmark."""


def quiet_libraries() -> None:
    """No library chatter on a command's output: bitsandbytes' missing-kernel notice (it is imported by peft even
    when nothing is quantized), transformers' warnings and weight-loading bars. Set TRANSFORMERS_VERBOSITY=info
    (or HF_HUB_DISABLE_PROGRESS_BARS=0) to see them again."""
    import logging
    import warnings

    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if os.environ["TRANSFORMERS_VERBOSITY"] == "error":
        logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")


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


__all__ = ["FAILURE_EXIT", "USAGE_EXIT", "app", "describe_error", "quiet_libraries"]
