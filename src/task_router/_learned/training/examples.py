"""Training examples for the learned router, built from conversations in the benchmark format.

Every labelled user turn becomes one :class:`RoutingExample`: the query text (active task before the turn, the
message before it, the user's message), the candidate text of the right answer, and the candidate texts of the
other answers the router could have given at that turn (every other task of the conversation's catalogue, and
the "no task" candidate). Answers follow docs/contract.md's event table:

| gold label                     | right candidate                    |
|--------------------------------|------------------------------------|
| START / SWITCH / CONTINUE X    | X                                  |
| END of the active task         | done (:data:`~task_router._learned.texts.DONE_TEXT`) |
| NONE (a digression if a task is active) | nothing fits: no text, a constant score (``positive`` None) |

Catalogue-level variety comes from :mod:`task_router.training._augment` (shuffled, resized catalogues, renamed
tasks, shortened descriptions, a conversation's own task removed so that its turns become NONE, off-topic
requests inserted): the same augmentations a user can run on their own catalogue.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from langchain_core.messages import convert_to_messages

from task_router._catalog import NONE_LABEL
from task_router._learned.texts import DONE_TEXT, candidate_text, query_text
from task_router.evaluation import ConversationRecord
from task_router.training._sequences import turn_targets


@dataclass(frozen=True)
class RoutingExample:
    """One user turn as the learned router is taught it.

    Example:
        >>> RoutingExample("Active task: none. User: hi", "recap: Recap a meeting.", (DONE_TEXT,), "START").event
        'START'
    """

    query: str
    positive: str | None  # None: nothing in the catalogue fits (NONE)
    negatives: tuple[str, ...]  # the other candidates of the turn, the active task and "done" included
    event: str  # the gold event, for statistics and sampling
    active: str | None = None  # candidate text of the active task before the turn


def record_examples(record: ConversationRecord, *, window: int = 1) -> list[RoutingExample]:
    """The examples of one conversation, with the gold active task before each turn.

    Example:
        >>> from task_router.evaluation import parse_records
        >>> rec = parse_records([{"id": "c", "tasks": [{"name": "recap", "description": "Recap a meeting."},
        ...     {"name": "email", "description": "Write an email."}],
        ...     "turns": [{"role": "user", "text": "recap my call"}, {"role": "assistant", "text": "Done."},
        ...               {"role": "user", "text": "thanks, bye"}],
        ...     "labels": [{"turn_index": 0, "task": "recap", "event": "START"},
        ...                {"turn_index": 2, "task": "recap", "event": "END"}]}])[0]
        >>> [(e.event, e.positive) for e in record_examples(rec)][1] == ("END", DONE_TEXT)
        True
        >>> rec = rec.model_copy(update={"labels": rec.labels[:1] + [rec.labels[1].model_copy(
        ...     update={"task": "NONE", "event": "NONE"})]})
        >>> record_examples(rec)[1].positive is None
        True
    """
    catalog = record.catalog()
    texts = {task.name: candidate_text(task) for task in catalog}
    # the replies to the gold digressions marked, as the graph marks them: the next turn is read past them
    messages = convert_to_messages(record.messages_until(len(record.turns) - 1))
    examples = []
    for target, label in zip(turn_targets(record), record.labels, strict=True):
        positive = None if target.answer == NONE_LABEL else DONE_TEXT if target.closing else texts[target.answer]
        negatives = tuple(text for text in (*texts.values(), DONE_TEXT) if text != positive)
        active = catalog.get(target.active_before)
        examples.append(
            RoutingExample(
                query=query_text(messages[: target.turn_index + 1], active, window=window),
                positive=positive,
                negatives=negatives,
                event=label.event,
                active=texts[active.name] if active is not None else None,
            )
        )
    return examples


def conversation_examples(
    records: Iterable[ConversationRecord], *, window: int = 1, continue_share: float | None = None, seed: int = 0
) -> list[list[RoutingExample]]:
    """The examples of every conversation, one list per conversation (a trainer batches them together).

    ``continue_share``: CONTINUE turns (62% of SGD) are dropped at random until they are at most this share of all
    turns, so that a time-bounded run sees more of the turns where something happens; None keeps every turn.
    """
    if continue_share is not None and not 0.0 < continue_share <= 1.0:
        raise ValueError(f"continue_share must be in (0, 1] (or None to keep every turn), got {continue_share}")
    conversations = [record_examples(record, window=window) for record in records]
    if continue_share is None or continue_share == 1.0:
        return conversations
    continuing = sum(e.event == "CONTINUE" for c in conversations for e in c)
    others = sum(len(c) for c in conversations) - continuing
    keep = min(1.0, continue_share / (1.0 - continue_share) * others / max(1, continuing))
    rng = random.Random(seed)
    return [[e for e in c if e.event != "CONTINUE" or rng.random() < keep] for c in conversations]


def sample_negatives(
    example: RoutingExample, count: int, rng: random.Random, *, ranked: Sequence[str] | None = None
) -> list[str]:
    """``count`` negatives of an example: the active task and "no task" first (when they are wrong answers), then
    the best-ranked wrong candidates of ``ranked`` (hard negatives mined by a model), then random ones; repeated
    to fill ``count`` when the catalogue is smaller (a ranking loss counts each distinct candidate once)."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    chosen = [text for text in (example.active, DONE_TEXT) if text and text != example.positive]
    pool = set(example.negatives)
    for text in ranked or ():
        if len(chosen) >= count:
            break
        if text in pool and text not in chosen:
            chosen.append(text)
    rest = [text for text in example.negatives if text not in chosen]
    rng.shuffle(rest)
    chosen = (chosen + rest)[:count] or [DONE_TEXT]
    return (chosen * (count // len(chosen) + 1))[:count]


def event_counts(examples: Sequence[RoutingExample]) -> dict[str, int]:
    return dict(Counter(example.event for example in examples))
