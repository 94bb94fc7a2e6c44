"""Tasks and the runtime-editable task catalogue the router chooses from."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from task_router._io_limits import load_document, valid_text

NONE_LABEL = "NONE"
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_NAME_SYMBOLS = re.compile(r"[^A-Za-z0-9_.\-]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
MAX_DESCRIPTION_CHARS = 2000
# Routers read answers from their last MAX_ANSWER_CHARS (8,000) characters: a name must fit in an answer many times.
MAX_NAME_CHARS = 200
MAX_QUESTION_CHARS = 300
T = TypeVar("T")
TASK_EXAMPLE = '[{"name": "meeting_recap", "description": "Summarise a meeting."}]'
CATALOG_HINT = (
    "a catalogue file is YAML or JSON holding a list of tasks (or a mapping with a 'tasks' list), each with a "
    f"'name' and a 'description', e.g. {TASK_EXAMPLE}"
)


class CatalogError(ValueError):
    """A task catalogue that cannot be used; the message says how to fix it."""


class _CatalogModel(BaseModel):
    """A part of a catalogue: unknown fields are refused and every text is made valid (:func:`_valid_strings`)."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _valid_text(cls, value: Any) -> Any:
        return _valid_strings(value)


class TaskInput(_CatalogModel):
    """One piece of information a task collects from the user before producing its deliverable.

    ``description`` says what the input is ("who the email is for"); ``question`` is the exact question the generic
    task subgraph asks for it ("Who is the email for?"). Without a question it asks "For the <task>, could you
    tell me <description>?" (or "could you share <description>?" when the description is a noun phrase).
    """

    name: str
    description: str
    required: bool = True
    question: str | None = Field(default=None, description="The question to ask for this input (one sentence).")

    @field_validator("question")
    @classmethod
    def _check_question(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _sized_text(
            " ".join(value.split()),
            "question",
            MAX_QUESTION_CHARS,
            if_empty="write the question to ask (e.g. 'Who is the email for?') or remove it",
            if_too_long="ask one short question and put details in the input's description",
        )


class Task(_CatalogModel):
    """A task the assistant can do.

    ``name`` is the identifier routers answer with (letters, digits, ``_ . -``; no spaces);
    ``description`` is what routers read to decide; ``examples`` are user requests that start the task.
    """

    name: str
    description: str
    display_name: str | None = None
    examples: list[str] = Field(default_factory=list)
    inputs: list[TaskInput] = Field(default_factory=list)
    instructions: str | None = Field(
        default=None, description="How to produce the deliverable, for the generic task subgraph."
    )
    tools: list[str] = Field(default_factory=list, description="Names of tools the task may use.")

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        value = _sized_text(
            value.strip(),
            "task name",
            MAX_NAME_CHARS,
            if_empty="give every task a short identifier such as 'meeting_recap'",
            if_too_long="give a short identifier such as 'meeting_recap' and put the human-readable name in "
            "display_name",
        )
        if value.upper() == NONE_LABEL:
            raise ValueError(f"'{value}' is reserved for 'no task fits': rename the task")
        if not _NAME_RE.match(value):
            problem = "has spaces or symbols" if _NAME_SYMBOLS.search(value) else "must start with a letter or digit"
            raise ValueError(
                f"task name {value!r} {problem}: use letters, digits, '_', '.' or '-', starting with a letter or "
                f"digit (e.g. {_suggested_name(value)!r}), and put the human-readable name in display_name"
            )
        return value

    @field_validator("description")
    @classmethod
    def _check_description(cls, value: str) -> str:
        return _sized_text(
            value.strip(),
            "description",
            MAX_DESCRIPTION_CHARS,
            if_empty="say in a sentence what the task does, routers read it",
            if_too_long="shorten it and move details to 'instructions'",
        )

    @property
    def title(self) -> str:
        return self.display_name or self.name.replace("_", " ").replace(".", " ").strip().capitalize()


def _suggested_name(name: str) -> str:
    """A valid task name close to ``name``: spaces and symbols become ``_``, and it starts with a letter or digit.

    Example:
        >>> _suggested_name("my task"), _suggested_name(".hidden"), _suggested_name("--")
        ('my_task', 'hidden', 'my_task')
    """
    return _NAME_SYMBOLS.sub("_", name).lstrip("_.-").rstrip("_") or "my_task"


def _sized_text(value: str, what: str, max_chars: int, *, if_empty: str, if_too_long: str) -> str:
    """``value`` (already normalised) if it is neither empty nor over ``max_chars``; else a ValueError naming
    ``what``, the problem and the fix.

    Example:
        >>> _sized_text("", "question", 300, if_empty="write one", if_too_long="shorten it")
        Traceback (most recent call last):
        ValueError: question is empty: write one
    """
    if not value:
        raise ValueError(f"{what} is empty: {if_empty}")
    if len(value) > max_chars:
        raise ValueError(f"{what} has {len(value)} characters (max {max_chars}): {if_too_long}")
    return value


def _valid_strings(value: Any) -> Any:
    """A field's value with its text (a string, or the strings of a list) made valid (:func:`valid_text`)."""
    if isinstance(value, str):
        return valid_text(value)
    if isinstance(value, list):
        return [valid_text(item) if isinstance(item, str) else item for item in value]
    return value


def readable_name(task: Task) -> str:
    """The task's display name, else its name split into words ("Restaurants_1.ReserveRestaurant" ->
    "Restaurants 1 Reserve Restaurant"): what the embedding router and the reranker read."""
    return task.display_name or _CAMEL.sub(" ", task.name).replace("_", " ").replace(".", " ")


class TaskCatalog:
    """An ordered, thread-safe set of tasks that can change while conversations run.

    Every change bumps :attr:`version`, which caches (prompts, embeddings, KV caches) use as part of their key.

    Example:
        >>> catalog = TaskCatalog([Task(name="recap", description="Summarise a meeting.")])
        >>> catalog.add(Task(name="email", description="Write a follow-up email.")).name
        'email'
        >>> catalog.names
        ['recap', 'email']
    """

    def __init__(self, tasks: Iterable[Task | dict[str, Any]] | None = None) -> None:
        """A catalogue holding ``tasks``, in order.

        Args:
            tasks: the first tasks (Task objects or dicts with a ``name`` and a ``description``); None or nothing
                for an empty catalogue that tasks are added to later (:meth:`add`).

        Raises:
            CatalogError: ``tasks`` is not a list of tasks, or one of them is invalid.
        """
        self._lock = threading.RLock()
        self._tasks: dict[str, Task] = {}
        self._folded: dict[str, str] = {}  # name_key(name) -> name: names a model's answer cannot tell apart
        self._version = 0
        self._memo: dict[str, tuple[int, Any]] = {}
        for task in _task_list(tasks) if tasks is not None else ():
            self.add(task)
        self._version = 0

    # -- reading -----------------------------------------------------------------------------------------
    @property
    def version(self) -> int:
        return self._version

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._tasks)

    @property
    def tasks(self) -> list[Task]:
        with self._lock:
            return list(self._tasks.values())

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        return iter(self.tasks)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._tasks

    def __getitem__(self, name: str) -> Task:
        try:
            return self._tasks[name]
        except KeyError:
            raise KeyError(f"no task named {name!r} in the catalogue; known tasks: {self.names}") from None

    def get(self, name: str | None) -> Task | None:
        return self._tasks.get(name) if name else None

    @property
    def live(self) -> TaskCatalog:
        """The catalogue that edits go to: itself, or for a :meth:`frozen` snapshot the catalogue it was taken of."""
        return self

    def frozen(self) -> TaskCatalog:
        """A read-only snapshot of the catalogue as it is now, for one decision: an edit made meanwhile (another
        thread adding or removing a task) cannot change what the decision sees half-way through.

        One snapshot is shared by every decision made at the same :attr:`version`, so caches kept in the snapshot
        (:meth:`memo`: prompts, task vectors, KV prefixes) are built once per version, as on the live catalogue.

        Example:
            >>> catalog = TaskCatalog([Task(name="recap", description="Recap a meeting.")])
            >>> view = catalog.frozen()
            >>> _ = catalog.remove("recap")
            >>> view.names, catalog.names, view.live is catalog
            (['recap'], [], True)
        """
        with self._lock:
            hit = self._memo.get(_FROZEN_KEY)
            if hit is not None and hit[0] == self._version:
                return hit[1]
            view = _FrozenCatalog(self)
            self._memo[_FROZEN_KEY] = (self._version, view)
            return view

    def memo(self, key: str, factory: Callable[[], T]) -> T:
        """A value derived from this catalogue (rendered prompt, embeddings...), recomputed after any edit."""
        with self._lock:
            version = self._version
            hit = self._memo.get(key)
            if hit is not None and hit[0] == version:
                return hit[1]
        value = factory()
        with self._lock:
            if self._version == version:
                self._memo[key] = (version, value)
        return value

    # -- changing ----------------------------------------------------------------------------------------
    def add(self, task: Task | dict[str, Any]) -> Task:
        task = _coerce(task)
        with self._lock:
            if task.name in self._tasks:
                raise CatalogError(
                    f"duplicate task name {task.name!r}: names must be unique; rename one of them, "
                    "or call update() to change the existing task"
                )
            twin = self._folded.get(name_key(task.name))
            if twin is not None:
                raise CatalogError(_case_problem(task.name, twin))
            self._tasks[task.name] = task
            self._folded[name_key(task.name)] = task.name
            self._version += 1
        return task

    def update(self, name: str, /, **changes: Any) -> Task:
        """Change fields of an existing task (``name`` cannot change: remove and add instead)."""
        with self._lock:
            if name not in self._tasks:
                raise CatalogError(f"cannot update {name!r}: it is not in the catalogue ({self.names})")
            if "name" in changes and changes["name"] != name:
                raise CatalogError("a task's name cannot be updated: remove() it and add() the renamed task")
            task = _coerce({**self._tasks[name].model_dump(), **changes})
            self._tasks[name] = task
            self._version += 1
        return task

    def remove(self, name: str) -> Task:
        with self._lock:
            if name not in self._tasks:
                raise CatalogError(f"cannot remove {name!r}: it is not in the catalogue ({self.names})")
            task = self._tasks.pop(name)
            self._folded.pop(name_key(name), None)
            self._version += 1
        return task

    def _set_tasks(self, tasks: Iterable[Task]) -> None:
        """Replace every task at once (tasks already validated together, e.g. by a TaskCatalog); call with the lock
        held."""
        self._tasks = {task.name: task for task in tasks}
        self._folded = {name_key(name): name for name in self._tasks}

    # -- input / output ----------------------------------------------------------------------------------
    @classmethod
    def from_records(cls, records: Iterable[Task | dict[str, Any]]) -> TaskCatalog:
        """Build a catalogue from dicts or tasks, reporting every bad entry at once."""
        records = _task_list(records)
        problems: list[str] = []
        tasks: list[Task] = []
        seen: set[str] = set()
        folded: dict[str, str] = {}
        for i, record in enumerate(records):
            try:
                task = _coerce(record)
            except CatalogError as exc:
                problems.append(f"task #{i}: {exc}")
                continue
            twin = folded.get(name_key(task.name))
            if task.name in seen:
                problems.append(f"task #{i}: duplicate name {task.name!r}; task names must be unique")
            elif twin is not None:
                problems.append(f"task #{i}: {_case_problem(task.name, twin)}")
            seen.add(task.name)
            folded.setdefault(name_key(task.name), task.name)
            tasks.append(task)
        if problems:
            raise CatalogError("invalid task catalogue:\n  " + "\n  ".join(problems))
        if not tasks:
            raise CatalogError("the task catalogue is empty: give at least one task with a name and description")
        return cls(tasks)

    @classmethod
    def from_file(cls, path: str | Path) -> TaskCatalog:
        """Load a catalogue from YAML or JSON: a list of tasks, or a mapping with a ``tasks`` list.

        The file is read through :func:`task_router._io_limits.load_document` (size, nesting and number limits);
        every problem is a :class:`CatalogError` naming the file and saying what a catalogue file looks like.
        """
        path, data = load_document(path, what="catalogue file", hint=CATALOG_HINT, error=CatalogError)
        if isinstance(data, dict) and "tasks" in data:
            data = data["tasks"]
        if not isinstance(data, list):
            raise CatalogError(
                f"{path} must hold a list of tasks (or a mapping with a 'tasks' list), "
                f"each with at least 'name' and 'description'; found {type(data).__name__}; {CATALOG_HINT}"
            )
        try:
            return cls.from_records(data)
        except CatalogError as exc:
            raise CatalogError(f"{path}: {exc}\n{CATALOG_HINT}") from exc

    @classmethod
    def demo(cls) -> TaskCatalog:
        """The built-in catalogue of a professional assistant."""
        return cls.from_file(Path(__file__).parent / "data" / "demo_catalog.yaml")

    def to_records(self) -> list[dict[str, Any]]:
        return [task.model_dump(exclude_defaults=True) for task in self.tasks]

    def __repr__(self) -> str:
        return f"TaskCatalog(version={self._version}, tasks={self.names})"


_FROZEN_KEY = "catalog.frozen"


def _task_list(records: Any) -> list[Any]:
    """``records`` as a list, or a CatalogError if it is not a collection of tasks (a string, a single mapping...)."""
    if isinstance(records, str | bytes | Mapping) or not isinstance(records, Iterable):
        raise CatalogError(
            f"a task catalogue must be a list of tasks, got {type(records).__name__} {records!r:.60}; give "
            f"dicts with a 'name' and a 'description' (or Task objects), e.g. {TASK_EXAMPLE}"
        )
    return list(records)


class _FrozenCatalog(TaskCatalog):
    """A read-only copy of a catalogue at one version (see :meth:`TaskCatalog.frozen`)."""

    def __init__(self, source: TaskCatalog) -> None:
        super().__init__()
        self._tasks = dict(source._tasks)  # read-only: no edit needs its case index
        self._version = source._version
        self._source = source

    @property
    def live(self) -> TaskCatalog:
        return self._source

    def frozen(self) -> TaskCatalog:
        return self

    def _read_only(self, *args: Any, **kwargs: Any) -> Task:
        raise CatalogError(
            "this is a read-only snapshot taken for one decision: edit the live catalogue (snapshot.live) instead"
        )

    add = update = remove = _read_only  # type: ignore[assignment]


def name_key(name: str) -> str:
    """How routers compare a model-written task name with the catalogue's: case and separators (``_ - . / :``,
    spaces) ignored.

    Example:
        >>> name_key("Meeting-Recap"), name_key("meeting_recap")
        ('meeting recap', 'meeting recap')
    """
    return re.sub(r"[\s_\-./:]+", " ", name.strip().strip("'\"`*").lower()).strip()


def _case_problem(name: str, twin: str) -> str:
    return (
        f"task name {name!r} differs from {twin!r} only by case or separators: routers match a model's answer "
        "that way, so they could not tell the two apart; rename one of them"
    )


def _coerce(task: Task | dict[str, Any]) -> Task:
    if isinstance(task, Task):
        return task
    if not isinstance(task, dict):
        raise CatalogError(f"a task must be a mapping with 'name' and 'description', got {type(task).__name__}")
    try:
        return Task.model_validate(task)
    except ValidationError as exc:
        name = task.get("name", "?")
        details = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'task'}: {e['msg']}" for e in exc.errors())
        raise CatalogError(f"task {_shown(name)} is invalid: {details}") from None


def _shown(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters: an error message never repeats a 10,000-character name."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
