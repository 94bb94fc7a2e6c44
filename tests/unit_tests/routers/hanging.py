"""Fakes that hang until the test that started them ends, for the time-budget tests. RELEASE frees them; a test
module that uses them imports ``release_hung_fakes``, an autouse fixture that clears RELEASE as each test starts and
sets it as the test ends, so that the decisions a time-out abandoned finish and their threads end."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from langchain_core.runnables import RunnableConfig

from task_router import TaskCatalog
from task_router._router_input import RoutingInput
from task_router.routers._base import Prediction, Router

RELEASE = threading.Event()


@pytest.fixture(autouse=True)
def release_hung_fakes() -> Iterator[None]:
    RELEASE.clear()
    yield
    RELEASE.set()


class HangingRouter(Router):
    """A router whose model never answers within its budget: it waits for RELEASE (30 s at most), then names
    "email"."""

    kind = "hanging"

    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        RELEASE.wait(30)
        return Prediction("email")


def hanging_router(catalog: TaskCatalog, budget_s: float) -> HangingRouter:
    """A HangingRouter over ``catalog`` with its own time budget of ``budget_s`` seconds."""
    router = HangingRouter(catalog=catalog)
    router.timeout_s = budget_s
    return router
