"""Issue 27, item 4: does the task flow ask for what the user's first message already said? No model involved.

    python benchmarks/input_filling.py

Runs a dozen scripted first messages of the demo catalogue through the generic task subgraph's first turn with a
model that extracts nothing (as the embedded model is used: ``extract_inputs`` off), and prints, per message, what
the user gave, whether the subgraph asks or fills, and the same under the rule before this change (only the content
after a colon, only for a task missing one input). A row is right when the subgraph fills the required inputs
when the message gives them all, and asks otherwise. The messages were written with the rule, not held out: a
check of its intent, not an accuracy estimate.
"""

from __future__ import annotations

from task_router import TaskCatalog
from task_router._router_input import content_after_request
from task_router._task_graph import given_in_request

# (first message, task, whether it gives every required input the task needs)
SCRIPT: list[tuple[str, str, bool]] = [
    ("I need a LinkedIn post about our product launch next week", "linkedin_post", True),
    ("Write a LinkedIn post", "linkedin_post", False),
    ("Post about my promotion to head of sales on LinkedIn", "linkedin_post", True),
    ("Recap this morning's meeting: we decided to ship v2 Friday, Bob owns QA", "meeting_recap", True),
    ("Can you recap this morning's sync?", "meeting_recap", False),
    ("Write a follow-up email to Sarah after our call", "follow_up_email", False),
    (
        "Write a follow-up email to Anna from ACME: we agreed on a 3-month pilot starting in May, she sends the "
        "contract Friday",
        "follow_up_email",
        True,
    ),
    ("I have an idea: a Slack bot that books meeting rooms from a chat message", "idea_to_notes", True),
    ("Help me organise my thoughts on pricing", "idea_to_notes", False),
    ("Prepare my weekly update for my manager", "weekly_report", False),
    ("Weekly report: shipped the billing page, closed 12 tickets, hired a designer", "weekly_report", True),
    ("A prospect says we're too expensive compared to Acme's offer, help me answer", "prospect_answer", True),
    ("I need an elevator pitch for the investor event", "one_minute_pitch", False),
]


def before(task_required: int, text: str) -> bool:
    """Whether the rule before this change filled every missing required input (the colon rule, one input)."""
    return task_required == 1 and content_after_request(text) is not None


def main() -> None:
    catalog = TaskCatalog.demo()
    rows = []
    for text, name, gives in SCRIPT:
        task = catalog[name]
        required = [item for item in task.inputs if item.required]
        values, covered = given_in_request(task, required, text)
        filled_now = len(values) + len(covered) == len(required)
        filled_before = before(len(required), text)
        rows.append((text, name, gives, filled_before, filled_now, values))
    print("| first message | task | gives its inputs | before | now | right before / now |")
    print("|---|---|---|---|---|---|")
    for text, name, gives, was, now, _ in rows:
        word = {True: "fills", False: "asks"}
        print(
            f"| {text} | {name} | {'yes' if gives else 'no'} | {word[was]} | {word[now]} | "
            f"{'yes' if was == gives else 'no'} / {'yes' if now == gives else 'no'} |"
        )
    right_before = sum(was == gives for _, _, gives, was, _, _ in rows)
    right_now = sum(now == gives for _, _, gives, _, now, _ in rows)
    print(f"\nright: {right_before}/{len(rows)} before, {right_now}/{len(rows)} now")
    for text, _, _, _, now, values in rows:
        if now:
            print(f"  {text[:50]!r} -> {values}")


if __name__ == "__main__":
    main()
