"""The `task-router` app with every subcommand registered (each module adds its command to ``app``)."""

from __future__ import annotations

import task_router.cli._bench
import task_router.cli._chat
import task_router.cli._data
import task_router.cli._eval
import task_router.cli._fit
import task_router.cli._generate
import task_router.cli._review
import task_router.cli._route
import task_router.cli._train  # noqa: F401
from task_router.cli._base import app, quiet_libraries


def main() -> None:
    quiet_libraries()
    app()
