"""Deterministic synthetic catalogues and conversations for speed benchmarks (never benchmark records)."""

from __future__ import annotations

import random

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from task_router._catalog import Task, TaskCatalog

_OBJECTS = [
    ("flight", "a plane trip"), ("hotel", "a room booking"), ("invoice", "a bill to a client"),
    ("meeting", "a team meeting"), ("expense", "an expense claim"), ("contract", "a client contract"),
    ("newsletter", "the monthly newsletter"), ("ticket", "a support ticket"), ("recipe", "a cooking recipe"),
    ("workout", "a training plan"), ("playlist", "a music playlist"), ("budget", "a project budget"),
    ("lesson", "a course lesson"), ("survey", "a customer survey"), ("campaign", "an ad campaign"),
]  # fmt: skip
_ACTIONS = [
    ("create", "Create"), ("cancel", "Cancel"), ("summarise", "Summarise"), ("schedule", "Schedule"),
    ("review", "Review"), ("translate", "Translate"), ("update", "Update"), ("find", "Find"),
    ("compare", "Compare"), ("share", "Share"),
]  # fmt: skip
_DETAILS = ["for next Tuesday", "with the Berlin team", "under 500 euros", "in a friendly tone", "before noon",
            "for the Q3 review", "with two options", "in French", "for my manager", "as a short list"]  # fmt: skip
MAX_TASKS = len(_OBJECTS) * len(_ACTIONS)


def synthetic_catalog(n_tasks: int, seed: int = 0) -> TaskCatalog:
    """``n_tasks`` distinct tasks such as ``schedule_meeting`` (same seed, same catalogue).

    Example:
        >>> synthetic_catalog(3).names
        ['cancel_lesson', 'schedule_contract', 'schedule_recipe']
    """
    if not 1 <= n_tasks <= MAX_TASKS:
        raise ValueError(f"n_tasks must be between 1 and {MAX_TASKS}")
    pairs = [(action, obj) for action in _ACTIONS for obj in _OBJECTS]
    random.Random(seed).shuffle(pairs)
    tasks = []
    for (verb, title), (noun, gloss) in pairs[:n_tasks]:
        tasks.append(
            Task(
                name=f"{verb}_{noun}",
                description=f"{title} {gloss} for the user: asks what is needed, then does it and confirms.",
                examples=[f"Can you {verb} the {noun}?"],
            )
        )
    return TaskCatalog(tasks)


def synthetic_conversation(catalog: TaskCatalog, n_turns: int, seed: int = 0) -> list[BaseMessage]:
    """A conversation of ``n_turns`` user turns (with assistant replies between them) about catalogue tasks:
    starts a task, gives details, sometimes switches, and closes at the end."""
    rng = random.Random(seed)
    names = catalog.names
    messages: list[BaseMessage] = []
    current = rng.choice(names)
    for turn in range(n_turns):
        verb, _, noun = current.partition("_")
        if messages:
            messages.append(AIMessage(f"Sure. For the {noun}, do you want it {rng.choice(_DETAILS)}? Anything else?"))
        if turn == 0 or rng.random() < 0.2:
            current = rng.choice(names) if turn else current
            verb, _, noun = current.partition("_")
            text = f"Hi, could you {verb} the {noun} {rng.choice(_DETAILS)}? It is for the weekly planning."
        elif turn == n_turns - 1:
            text = "That's perfect, thanks a lot. That's all for today, goodbye!"
        else:
            text = f"Make it {rng.choice(_DETAILS)}, and keep the {noun} short and clear."
        messages.append(HumanMessage(text))
    return messages
