"""Integration tests run real models: their decisions get a time budget that a busy machine cannot exhaust.

The default budget (60 s a decision) is for users; on a loaded 2-core machine an embedded-model decision once took
longer and a test failed with DecisionTimeout (issue 27, item 7). Tests about budgets set their own, per call or
per router, which take precedence over this one; subprocesses inherit it.
"""

from __future__ import annotations

import pytest

from task_router._budget import TIMEOUT_ENV

TEST_BUDGET_S = "1800"  # only ends a decision that hangs; no test may depend on the machine's speed


@pytest.fixture(autouse=True)
def _budget_a_busy_machine_cannot_exhaust(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TIMEOUT_ENV, TEST_BUDGET_S)
