"""Router prompt files (prompts/*.yaml) as LangChain templates, and the chat messages a router kind sends.

A prompt file is a YAML mapping of sections written as f-string templates (``{catalog}``; ``{{`` for a brace). Its
``system`` and ``user`` sections make the router's :class:`~langchain_core.prompts.ChatPromptTemplate`; a user may
pass their own ChatPromptTemplate instead (:func:`chat_template`), which fills the same variables.
"""

from __future__ import annotations

from functools import cache

import yaml
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

from task_router._catalog import TaskCatalog
from task_router._rendering import DEFAULT_WINDOW, render_catalog, render_conversation
from task_router._resources import read_prompt
from task_router._router_input import RoutingInput

#: What every router template may use; a kind adds its own (few-shot-cot ``examples``, react ``task_names``).
ROUTER_VARIABLES = ("catalog", "conversation", "active_task")


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


@cache
def file_template(name: str, *, text_format: bool = False) -> ChatPromptTemplate:
    """The chat template of a prompt file: its ``system`` section, then its ``user`` section (default: the
    conversation alone), followed by its ``format`` section when ``text_format`` (the answer's JSON spelled out).

    Example:
        >>> file_template("zero-shot").input_variables
        ['active_task', 'catalog', 'conversation']
    """
    sections = load_prompt(name)
    user = sections.get("user", "{conversation}").strip()
    if text_format and sections.get("format"):
        user = f"{user}\n{sections['format'].strip()}"
    return ChatPromptTemplate.from_messages([("system", sections["system"].strip()), ("human", user)])


def chat_template(
    prompt: str | ChatPromptTemplate, *, extra: tuple[str, ...] = (), text_format: bool = False
) -> ChatPromptTemplate:
    """A router kind's template: a prompt file's (by name) or the user's own ChatPromptTemplate, checked to use
    only the variables the router fills (``{catalog}``, ``{conversation}``, ``{active_task}`` and ``extra``, all of
    them text) and to show the conversation. A user's template is sent as it is: it spells out the answer's format
    itself (the file's ``format`` section, which ``text_format`` appends, is not added to it).

    Example:
        >>> own = ChatPromptTemplate.from_messages(
        ...     [("system", "Pick one of:\\n{catalog}"), ("human", "{conversation}\\nAnswer in JSON.")]
        ... )
        >>> chat_template(own).input_variables
        ['catalog', 'conversation']
        >>> chat_template(ChatPromptTemplate.from_messages([("human", "{question}")]))
        Traceback (most recent call last):
        ...
        ValueError: the router's ChatPromptTemplate uses ['question'], which the router does not fill; ...
    """
    if isinstance(prompt, str):
        return file_template(prompt, text_format=text_format)
    if not isinstance(prompt, ChatPromptTemplate):
        raise TypeError(f"prompt must be a prompt file's name or a ChatPromptTemplate, got {type(prompt).__name__}")
    allowed = {*ROUTER_VARIABLES, *extra}
    unknown = sorted(set(prompt.input_variables) - allowed)
    if unknown:
        raise ValueError(
            f"the router's ChatPromptTemplate uses {unknown}, which the router does not fill; use only "
            f"{sorted(allowed)} (or give them with .partial(...))"
        )
    if "conversation" not in prompt.input_variables:
        raise ValueError("the router's ChatPromptTemplate must show the user's words: add {conversation} to it")
    placeholders = [m.variable_name for m in prompt.messages if isinstance(m, MessagesPlaceholder)]
    if placeholders:
        raise ValueError(
            f"the router fills its variables with text, not messages: replace MessagesPlaceholder({placeholders[0]!r}) "
            f'with a message that quotes it, e.g. ("human", "{{{placeholders[0]}}}")'
        )
    return prompt


def catalog_block(catalog: TaskCatalog) -> str:
    return catalog.memo("prompt.catalog", lambda: render_catalog(catalog.tasks))


def build_messages(
    template: ChatPromptTemplate, routing: RoutingInput, *, window: int = DEFAULT_WINDOW, **extra: str
) -> list[BaseMessage]:
    """The template filled for one turn: the file templates send the instructions and the catalogue as the system
    message, then the conversation, delimited, in one user message, so that the user's words can never pose as the
    router's own instructions (values are inserted as they are: braces in them are not read as variables)."""
    values = {
        "catalog": catalog_block(routing.catalog),
        "conversation": render_conversation(routing.messages, window=window),
        "active_task": routing.active_task or "none",
        **extra,
    }
    return template.format_messages(**{name: values[name] for name in template.input_variables})
