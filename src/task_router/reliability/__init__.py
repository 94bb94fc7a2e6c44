"""Reliability: routers composed with retries and fallback stages; resuming threads. (The fault-injecting local
server of the tests is tests/fault_server.py.)"""

from task_router._budget import TIMEOUT_KEY, DecisionTimeout
from task_router.reliability._threads import pending_turn, resume_pending_turn
from task_router.routers._fallbacks import KEEP_ACTIVE, FallbackStage, embedding_available, make_reliable

__all__ = [
    "KEEP_ACTIVE",
    "TIMEOUT_KEY",
    "DecisionTimeout",
    "FallbackStage",
    "embedding_available",
    "make_reliable",
    "pending_turn",
    "resume_pending_turn",
]
