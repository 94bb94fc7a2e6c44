"""Reliability: routers composed with retries and fallback stages; a fault-injecting local server; resuming
threads."""

from task_router.budget import DecisionTimeout
from task_router.reliability.fault_server import MODES, FaultServer, keyword_decision, keyword_reply
from task_router.reliability.router import TIMEOUT_KEY, make_reliable_router
from task_router.reliability.threads import pending_turn, resume_pending_turn
from task_router.routers.fallbacks import KEEP_ACTIVE, embedding_available, make_reliable

__all__ = [
    "KEEP_ACTIVE",
    "MODES",
    "TIMEOUT_KEY",
    "DecisionTimeout",
    "FaultServer",
    "embedding_available",
    "keyword_decision",
    "keyword_reply",
    "make_reliable",
    "make_reliable_router",
    "pending_turn",
    "resume_pending_turn",
]
