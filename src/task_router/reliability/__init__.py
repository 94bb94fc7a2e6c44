"""Reliability: time-outs, retries and fallback routers; a fault-injecting local server; resuming threads."""

from task_router.reliability.fault_server import MODES, FaultServer, keyword_reply
from task_router.reliability.router import (
    KEEP_ACTIVE,
    TIMEOUT_KEY,
    DecisionTimeout,
    ReliableRouter,
    embedding_available,
    make_reliable_router,
)
from task_router.reliability.threads import pending_turn, resume_pending_turn

__all__ = [
    "KEEP_ACTIVE",
    "MODES",
    "TIMEOUT_KEY",
    "DecisionTimeout",
    "FaultServer",
    "ReliableRouter",
    "embedding_available",
    "keyword_reply",
    "make_reliable_router",
    "pending_turn",
    "resume_pending_turn",
]
