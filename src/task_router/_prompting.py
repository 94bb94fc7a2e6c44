"""Router prompt files (prompts/*.yaml) and the chat messages built from them."""

from __future__ import annotations

from functools import cache

import yaml
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

from task_router._catalog import TaskCatalog
from task_router._rendering import DEFAULT_WINDOW, render_catalog, render_conversation
from task_router._resources import read_prompt
from task_router._router_input import RoutingInput


@cache
def load_prompt(name: str, required: tuple[str, ...] = ("system",)) -> dict[str, str]:
    """Sections of a prompt file under prompts/ (``name`` with or without ``.yaml``); ``required`` must be there."""
    filename = name if name.endswith((".yaml", ".yml")) else f"{name}.yaml"
    data = yaml.safe_load(read_prompt(filename))
    missing = [key for key in required if not isinstance(data, dict) or key not in data]
    if missing:
        shown = ", ".join(repr(key) for key in missing)
        raise ValueError(f"prompt file {filename} must be a YAML mapping with the section(s) {shown}")
    return {key: str(value) for key, value in data.items()}


def catalog_block(catalog: TaskCatalog) -> str:
    return catalog.memo("prompt.catalog", lambda: render_catalog(catalog.tasks))


def build_messages(
    prompt: dict[str, str],
    routing: RoutingInput,
    *,
    window: int = DEFAULT_WINDOW,
    text_format: bool = False,
    **extra: str,
) -> list[BaseMessage]:
    """System message (instructions + catalogue) then one user message (conversation + question).

    The whole conversation goes in one delimited user message so that the user's words can never pose as
    the router's own instructions.
    """
    values = {
        "catalog": catalog_block(routing.catalog),
        "conversation": render_conversation(routing.messages, window=window),
        "active_task": routing.active_task or "none",
        **extra,
    }
    system = prompt["system"].format(**values)
    user = prompt.get("user", "{conversation}").format(**values)
    if text_format and prompt.get("format"):
        user = f"{user.rstrip()}\n{prompt['format'].format(**values)}"
    return [SystemMessage(system.strip()), HumanMessage(user.strip())]
