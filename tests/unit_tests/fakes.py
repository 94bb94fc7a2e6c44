"""Fakes for the shortlist / cascade / fit tests: a word-count encoder, a router with scripted predictions, a learned
model folder with fake weights, a conversation with a digression; and the UTF-8 check that fakes of real encoders
and clients apply to their input."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.runnables import RunnableConfig

from task_router._router_input import RoutingInput
from task_router.routers._base import Prediction, Router

DIM = 512


class Words:
    """Bag of words (no collisions below 511 distinct words); counts how many texts it embedded."""

    def __init__(self) -> None:
        self.encoded = 0
        self.vocabulary: dict[str, int] = {}

    def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
        self.encoded += len(texts)
        rows = np.zeros((len(texts), DIM), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                rows[i, 1 + self.vocabulary.setdefault(word, len(self.vocabulary)) % (DIM - 1)] += 1.0
            rows[i, 0] += 0.01  # never a zero vector
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)


class Scripted(Router):
    """Answers ``answer(routing)``; records the catalogues it was shown."""

    kind = "scripted"

    def __init__(self, answer: Any, label: str = "fake") -> None:
        super().__init__(model_label=label)
        self.answer = answer
        self.seen: list[list[str]] = []

    def predict(self, routing: RoutingInput, config: RunnableConfig) -> Prediction:
        self.seen.append(routing.catalog.names)
        return self.answer(routing)


def big_catalog(n: int = 40) -> list[dict[str, str]]:
    topics = ["pizza", "flight", "hotel", "alarm", "weather", "music", "bank", "taxi", "movie", "doctor"]
    return [
        {"name": f"task_{i:02d}", "description": f"Help with {topics[i % len(topics)]} number {i} item{i}"}
        for i in range(n)
    ]


def encodes_as_utf8(text: str) -> bool:
    """Whether UTF-8 encoders (tokenizers, HTTP clients, files) accept ``text``: not if it holds a lone surrogate."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def learned_folder(path: Path, weights: bytes = b"adapter A") -> Path:
    """A learned model folder as `task-router train --router learned` lays it out (fake weights: never loaded)."""
    (path / "bi_encoder").mkdir(parents=True)
    (path / "bi_encoder" / "adapter_model.safetensors").write_bytes(weights)
    (path / "learned.json").write_text('{"format": 1, "lora_scale": 0.7, "none_bias": 0.4, "temperature": 1.1}')
    return path


def digression_record() -> Any:
    """A conversation over one task ``a``: START, an off-topic request the assistant refuses (a digression), then the
    user's answer to what the task had asked ("which one?")."""
    from task_router.evaluation import parse_records

    texts = ["do a", "which one?", "weather?", "Sorry, I can't help with that here.", "the red one"]
    return parse_records(
        [
            {
                "id": "digression",
                "tasks": [{"name": "a", "description": "Task a."}],
                "turns": [{"role": ("user", "assistant")[i % 2], "text": text} for i, text in enumerate(texts)],
                "labels": [
                    {"turn_index": 0, "task": "a", "event": "START"},
                    {"turn_index": 2, "task": "NONE", "event": "NONE", "digression": True},
                    {"turn_index": 4, "task": "a", "event": "CONTINUE"},
                ],
            }
        ]
    )[0]
