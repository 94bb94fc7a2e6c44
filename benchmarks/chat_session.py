"""A scripted `task-router chat` session in a pseudo-terminal (pexpect): per-turn times as a user sees them.

    OMP_NUM_THREADS=2 python benchmarks/chat_session.py                 # 6 turns, embedded model, learned router
    python benchmarks/chat_session.py --turns 2                         # quick smoke run
    python benchmarks/chat_session.py --model openai:gpt-4o-mini --router learned --transcript runs/chat.txt

The session runs the real command (``task-router chat`` run by this Python, a fresh thread in a temporary SQLite file)
and types the turns below: start a task, give its inputs, revise, switch, end, and one request outside the
catalogue. For each turn it measures, from the moment Enter is sent:

- ``decision``: the routing decision line (``[route] START ...``) is on screen;
- ``first token``: the first character of the reply is on screen (a question or a fixed reply comes whole);
- ``full reply``: the reply is complete (the next ``you>`` prompt is shown).

It prints a markdown table, with the machine's load average before and after (run it on an idle machine: the
times scale with the load). Start-up (model loading) is measured separately, up to the first prompt.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

try:
    import pexpect
except ImportError:  # pragma: no cover - a dev dependency
    sys.exit("benchmarks/chat_session.py needs pexpect: pip install pexpect (or the project's dev extra)")

TURNS = [
    "Write a follow-up email to Sarah after our call",
    "Sarah Lee at Acme; we agreed on a 3-month pilot starting May 1 at 2,000 euros a month",
    "Make it shorter",
    "Now recap this morning's sync: we ship v2 on Friday, Bob updates the docs by Thursday, pricing is still open",
    "Thanks, that's all for the recap",
    "What's the weather tomorrow in Paris?",
]
ESC = r"(?:\x1b\[[0-9;?]*[A-Za-z]|\r)*"  # colour and cursor codes rich writes between the words
PROMPT = re.compile(r"you>" + ESC + " ")
DECISION = re.compile(
    r"\[route\]" + ESC + r"\s*" + ESC + r"(START|CONTINUE|SWITCH|END|NONE)" + ESC + r" (\S+)" + r".*?(\d+) ms"
)
FIRST = re.compile(r"assistant>" + ESC + " " + ESC + r"(\S)")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@dataclass
class Turn:
    text: str
    event: str = "?"
    task: str = "?"
    router_ms: float = float("nan")
    decision_s: float = float("nan")
    first_s: float = float("nan")
    full_s: float = float("nan")
    reply: str = ""


def run(args: argparse.Namespace) -> tuple[float, list[Turn], str]:
    db = Path(tempfile.mkdtemp(prefix="chat-session-")) / "threads.sqlite"
    command = [*shlex.split(args.command), "--db", str(db), "--model", args.model]
    if args.router:
        command += ["--router", args.router]
    env = {**os.environ, "COLUMNS": "160", "LINES": "50"}
    start = time.perf_counter()
    child = pexpect.spawn(command[0], command[1:], env=env, encoding="utf-8", timeout=args.timeout)
    child.setwinsize(50, 160)
    transcript: list[str] = []
    child.expect(PROMPT)
    startup = time.perf_counter() - start
    transcript.append(child.before + child.after)
    turns = []
    for text in TURNS[: args.turns]:
        turn = Turn(text)
        sent = time.perf_counter()
        child.sendline(text)
        child.expect(DECISION)
        turn.decision_s = time.perf_counter() - sent
        turn.event, turn.task, turn.router_ms = child.match.group(1), child.match.group(2), float(child.match.group(3))
        seen = child.before + child.after
        child.expect(FIRST)
        turn.first_s = time.perf_counter() - sent
        seen += child.before + child.after
        child.expect(PROMPT)
        turn.full_s = time.perf_counter() - sent
        seen += child.before + child.after
        transcript.append(seen)
        reply = ANSI.sub("", seen).split("assistant>", 1)[-1].rsplit("you>", 1)[0]
        turn.reply = " ".join(reply.split())
        turns.append(turn)
    child.sendline("/quit")
    child.expect(pexpect.EOF)
    transcript.append(child.before)
    return startup, turns, ANSI.sub("", "".join(transcript)).replace("\r", "")


def table(startup: float, turns: list[Turn], load: tuple[tuple[float, ...], tuple[float, ...]], args: Any) -> str:
    before, after = load
    lines = [
        f"`task-router chat --model {args.model}{' --router ' + args.router if args.router else ''}`, "
        f"{date.today()}, {platform.processor() or platform.machine()} x{os.cpu_count()}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load average before "
        f"{before[0]:.2f} / after {after[0]:.2f}; start-up to the first prompt {startup:.1f} s.",
        "",
        "| # | user turn | decision | router ms | decision line s | first token s | full reply s | reply words |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for i, turn in enumerate(turns, 1):
        said = turn.text if len(turn.text) <= 40 else turn.text[:39] + "…"
        lines.append(
            f"| {i} | {said} | {turn.event} {turn.task} | {turn.router_ms:.0f} | {turn.decision_s:.2f} | "
            f"{turn.first_s:.2f} | {turn.full_s:.2f} | {len(turn.reply.split())} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=len(TURNS), help=f"how many of the {len(TURNS)} turns to run")
    parser.add_argument("--model", default="embedded", help="the chat's --model (default: embedded)")
    parser.add_argument("--router", default=None, help="the chat's --router (default: the model's default)")
    parser.add_argument(
        "--command",
        default=f"{shlex.quote(sys.executable)} -c 'from task_router.cli import main; main()' chat",
        help="the chat command to run (default: `task-router chat` with this Python, e.g. under PYTHONPATH=src)",
    )
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for each step of a turn")
    parser.add_argument("--transcript", type=Path, default=None, help="also write the session's screen text here")
    args = parser.parse_args()
    if not 1 <= args.turns <= len(TURNS):
        parser.error(f"--turns must be between 1 and {len(TURNS)}")
    before = os.getloadavg()
    startup, turns, transcript = run(args)
    after = os.getloadavg()
    print(table(startup, turns, (before, after), args))
    if args.transcript is not None:
        args.transcript.parent.mkdir(parents=True, exist_ok=True)
        args.transcript.write_text(transcript)
        print(f"\ntranscript: {args.transcript}")


if __name__ == "__main__":
    main()
