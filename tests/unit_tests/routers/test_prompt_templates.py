"""Router prompts are LangChain ChatPromptTemplates: the prompt files load as one, and a user's own template
replaces a kind's messages (issue 26, item 2)."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, convert_to_messages
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from pydantic import Field

from task_router import TaskCatalog, make_router

CATALOG = TaskCatalog.demo()
TURN = {"messages": [{"role": "user", "content": "Recap my meeting {catalog} }}"}], "active_task": "linkedin_post"}


class Recording(GenericFakeChatModel):
    """Answers from a script and keeps every prompt it was sent, as (role, text) pairs."""

    sent: list[list[tuple[str, Any]]] = Field(default_factory=list)

    def invoke(self, value: Any, *args: Any, **kwargs: Any) -> Any:
        self.sent.append([(m.type, m.content) for m in convert_to_messages(value)])
        return super().invoke(value, *args, **kwargs)


def recording(*answers: str) -> Recording:
    return Recording(messages=iter(AIMessage(a) for a in answers), sent=[])


def test_a_users_own_template_is_what_the_model_is_sent() -> None:
    own = ChatPromptTemplate.from_messages(
        [
            ("system", "Route the user to one of these tasks.\n{catalog}"),
            ("human", "Active: {active_task}\n{conversation}\nJSON only."),
        ]
    )
    model = recording('{"task": "meeting_recap", "closing": false}')
    router = make_router("zero-shot", model=model, catalog=CATALOG, prompt=own)
    decision = router.invoke(TURN)
    assert (decision.event, decision.task) == ("SWITCH", "meeting_recap")
    [(system_role, system), (user_role, user)] = model.sent[0]
    assert (system_role, user_role) == ("system", "human")
    assert system.startswith("Route the user to one of these tasks.\n") and "meeting_recap" in system
    # the user's words are inserted as they are: their braces are not read as template variables
    assert user.startswith("Active: linkedin_post\n") and "{catalog} }}" in user and user.endswith("JSON only.")


def test_the_kinds_file_still_gives_the_other_sections() -> None:
    """An unreadable first answer is re-asked with the prompt file's `repair` section, whatever the template."""
    own = ChatPromptTemplate.from_messages([("human", "{catalog}\n{conversation}")])
    model = recording("no idea", '{"task": "meeting_recap", "closing": false}')
    decision = make_router("zero-shot", model=model, catalog=CATALOG, prompt=own).invoke(TURN)
    assert decision.task == "meeting_recap" and decision.valid_format is False
    assert model.sent[1][-1][1].startswith("Your answer could not be used:")


def test_kind_variables_are_filled_in_a_users_template() -> None:
    own = ChatPromptTemplate.from_messages([("system", "{examples}"), ("human", "{conversation}")])
    model = recording("Answer: meeting_recap")
    make_router("few-shot-cot", model=model, catalog=CATALOG, prompt=own).invoke(TURN)
    assert "Answer:" in model.sent[0][0][1]  # the worked examples the kind builds from the catalogue


@pytest.mark.parametrize(
    ("template", "fix"),
    [
        (ChatPromptTemplate.from_messages([("human", "{conversation} {question}")]), r"uses \['question'\]"),
        (ChatPromptTemplate.from_messages([("human", "Tasks: {catalog}")]), r"add \{conversation\}"),
        (
            ChatPromptTemplate.from_messages([("system", "{catalog}"), MessagesPlaceholder("conversation")]),
            r"with text, not messages: replace MessagesPlaceholder\('conversation'\)",
        ),
    ],
)
def test_a_template_the_router_cannot_fill_fails_at_construction(template: ChatPromptTemplate, fix: str) -> None:
    with pytest.raises(ValueError, match=fix):
        make_router("structured", model=recording(), catalog=CATALOG, prompt=template)


def test_a_prompt_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError, match="a prompt file's name or a ChatPromptTemplate"):
        make_router("zero-shot", model=recording(), catalog=CATALOG, prompt={"system": "x"})  # type: ignore[arg-type]
