"""The `task-router` app with every subcommand registered (each module adds its command to ``app``)."""

from __future__ import annotations

import task_router.cli.bench
import task_router.cli.chat
import task_router.cli.data
import task_router.cli.eval
import task_router.cli.fit
import task_router.cli.generate
import task_router.cli.review
import task_router.cli.route
import task_router.cli.train  # noqa: F401
from task_router.cli.base import app, quiet_libraries


def main() -> None:
    quiet_libraries()
    app()
