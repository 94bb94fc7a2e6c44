"""The generic task subgraph: natural questions, inputs filled from the user's own message, no re-asking, and
deliverables cut before any turn the model invents (fake chat models: this tests the logic, not a model)."""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, convert_to_messages
from pydantic import Field

from task_router import CatalogError, Task, TaskCatalog
from task_router._prompting import load_prompt
from task_router._router_input import content_after_request, request_before_content
from task_router._task_graph import create_task_graph, grounded, question_for
from task_router.models._local import strip_invented_turns, turn_stop_kwargs
from tests.conftest import scripted_model

TEMPLATE = load_prompt("task")
EMAIL = Task(
    name="follow_up_email",
    display_name="Follow-up email",
    description="Write a follow-up email after a call.",
    inputs=[
        {"name": "recipient", "description": "who the email is for"},
        {"name": "context", "description": "what was discussed and agreed"},
    ],
)
POST = Task(
    name="linkedin_post",
    display_name="LinkedIn post",
    description="Draft a LinkedIn post.",
    inputs=[
        {"name": "topic", "description": "what the post is about", "question": "What is the post about?"},
        {"name": "tone", "description": "the tone (e.g. humble, enthusiastic)", "required": False},
    ],
)


class Writer(GenericFakeChatModel):
    """A fake chat model that records the prompts it was given, as (role, text) pairs."""

    prompts: list[Any] = Field(default_factory=list)

    def invoke(self, value: Any, *args: Any, **kwargs: Any) -> Any:
        self.prompts.append([(m.type, m.content) for m in convert_to_messages(value)])
        return super().invoke(value, *args, **kwargs)


def writer(*replies: str) -> Writer:
    return Writer(messages=iter(AIMessage(r) for r in replies), prompts=[])


def turn(graph: Any, state: dict[str, Any], text: str, task: str) -> dict[str, Any]:
    """One user turn through the subgraph, as the router graph would run it (state carried over)."""
    messages = [*state.get("messages", []), HumanMessage(text)]
    out = graph.invoke({"messages": messages, "active_task": task, "task_data": state.get("task_data", {})})
    return out


# -- questions ---------------------------------------------------------------------------------------------


def test_question_uses_the_catalogue_question_else_a_sentence_that_reads_for_any_description() -> None:
    topic, tone = POST.inputs
    assert question_for(POST, [topic], TEMPLATE) == "What is the post about?"
    assert (
        question_for(POST, [tone], TEMPLATE)
        == "For the LinkedIn post, could you share the tone (e.g. humble, enthusiastic)?"
    )
    recipient, context = EMAIL.inputs
    assert (
        question_for(EMAIL, [recipient], TEMPLATE) == "For the Follow-up email, could you tell me who the email is for?"
    )
    both = question_for(EMAIL, [recipient, context], TEMPLATE)
    assert both.splitlines()[1:] == ["- who the email is for", "- what was discussed and agreed"]


def test_no_demo_question_glues_what_is_onto_a_description() -> None:
    """The issue's "what is what the post is about?": no question of the demo catalogue reads like that."""
    for task in TaskCatalog.demo():
        for item in task.inputs:
            question = question_for(task, [item], TEMPLATE)
            assert not re.search(r"\bwhat is (what|who|how|when|where|which)\b", question, re.IGNORECASE), question
            assert f"what is {item.description}" not in question, question
            assert question.endswith(("?", ".")) and "{" not in question, question
        if len(task.inputs) > 1:
            assert "{" not in question_for(task, task.inputs, TEMPLATE)


def test_input_question_is_optional_and_validated(tmp_path: Any) -> None:
    old = tmp_path / "old.yaml"  # a catalogue written before `question` existed still loads
    old.write_text("- {name: a, description: d, inputs: [{name: x, description: the notes}]}\n", encoding="utf-8")
    assert TaskCatalog.from_file(old)["a"].inputs[0].question is None
    ok = Task(name="a", description="d", inputs=[{"name": "x", "description": "y", "question": "  Who is it\n for? "}])
    assert ok.inputs[0].question == "Who is it for?"
    for bad, fix in [("   ", "question is empty"), ("x" * 301, "ask one short question")]:
        with pytest.raises(CatalogError, match=fix):
            TaskCatalog.from_records(
                [{"name": "a", "description": "d", "inputs": [{"name": "x", "description": "y", "question": bad}]}]
            )


# -- collecting inputs ---------------------------------------------------------------------------------------


def test_every_missing_input_is_asked_at_once_and_one_answer_fills_them_all() -> None:
    """The issue's re-ask: the user answered both questions in one message and was asked the second again."""
    model = writer("Subject: Pilot in May")
    graph = create_task_graph(TaskCatalog([EMAIL]), model)  # a fake model: no extraction by default
    state = turn(graph, {}, "Write a follow-up email", "follow_up_email")
    question = state["messages"][-1].content
    assert "who the email is for" in question and "what was discussed and agreed" in question
    state = turn(graph, state, "Sarah Chen; we agreed on a 3-month pilot starting in May", "follow_up_email")
    assert state["messages"][-1].content == "Subject: Pilot in May"  # no second question
    data = state["task_data"]["follow_up_email"]
    assert data["inputs"] == {"recipient": "Sarah Chen; we agreed on a 3-month pilot starting in May"}
    assert data["covered"] == ["context"] and data["asked"] == []
    prompt = model.prompts[-1][1][1]
    assert "- who the email is for: Sarah Chen; we agreed" in prompt and "what was discussed and agreed" in prompt


def test_inputs_the_message_already_gives_are_filled_not_asked() -> None:
    extraction = {"topic": "our product launch", "tone": "enthusiastic"}
    model = scripted_model(extraction, "POST TEXT")
    graph = create_task_graph(TaskCatalog([POST]), model, extract_inputs=True)
    state = turn(graph, {}, "Write an enthusiastic LinkedIn post about our product launch", "linkedin_post")
    assert state["messages"][-1].content == "POST TEXT"  # nothing asked
    assert state["task_data"]["linkedin_post"]["inputs"] == extraction


def test_extraction_fills_the_other_inputs_given_with_an_answer() -> None:
    model = scripted_model({"recipient": "Sarah"}, {"context": "we agreed on a pilot in May"}, "EMAIL")
    graph = create_task_graph(TaskCatalog([EMAIL]), model, extract_inputs=True)
    state = turn(graph, {}, "Write a follow-up email to Sarah", "follow_up_email")
    assert state["messages"][-1].content == "For the Follow-up email, could you tell me what was discussed and agreed?"
    state = turn(graph, state, "we agreed on a pilot in May", "follow_up_email")
    assert state["messages"][-1].content == "EMAIL"
    assert state["task_data"]["follow_up_email"]["inputs"] == {
        "recipient": "Sarah",
        "context": "we agreed on a pilot in May",
    }


def test_content_after_the_request_fills_the_one_missing_input_without_a_model_call() -> None:
    """The issue's recap: the notes came with the request, and the embedded model cannot extract them."""
    recap = Task(
        name="meeting_recap",
        description="Recap a meeting.",
        inputs=[
            {"name": "notes", "description": "the meeting notes"},
            {"name": "audience", "description": "who reads it", "required": False},
        ],
    )
    model = writer("RECAP")
    graph = create_task_graph(TaskCatalog([recap]), model)  # no extraction: the fake model has no structured output
    state = turn(graph, {}, "Recap this morning meeting: we decided to ship v2 Friday, Bob owns QA.", "meeting_recap")
    assert state["messages"][-1].content == "RECAP" and len(model.prompts) == 1  # produced at once, one model call
    assert state["task_data"]["meeting_recap"]["inputs"] == {"notes": "we decided to ship v2 Friday, Bob owns QA."}
    state = turn(graph, {}, "Recap this morning's meeting", "meeting_recap")
    assert "meeting notes" in state["messages"][-1].content  # nothing given: asked


@pytest.mark.parametrize(
    ("text", "content"),
    [
        ("Reply to this lead: 'Do you integrate with Salesforce?'", "Do you integrate with Salesforce?"),
        ("Recap these notes:\n- ship v2\n- Bob owns QA", "- ship v2\n- Bob owns QA"),
        ("Post about our launch at 10:30 today", None),  # a time, not a request and its content
        ("Summarise https://example.com/notes please", None),
        ("Recap: the sync", None),  # too short to be the content
    ],
)
def test_content_after_request(text: str, content: str | None) -> None:
    assert content_after_request(text) == content


def test_a_bare_request_is_asked_for_every_missing_input() -> None:
    graph = create_task_graph(TaskCatalog([EMAIL]), writer())
    state = turn(graph, {}, "Write a follow-up email to Sarah after our call", "follow_up_email")
    assert state["task_data"]["follow_up_email"]["inputs"] == {}
    assert "who the email is for" in state["messages"][-1].content
    vet = Task(
        name="vet_appointment",
        description="Book an appointment for a pet at the veterinarian.",
        inputs=[{"name": "when", "description": "the day and time", "question": "Which day and time suit you?"}],
    )
    graph = create_task_graph(TaskCatalog([vet]), writer())
    state = turn(graph, {}, "My cat needs a check-up, can you book her in at the vet?", vet.name)  # words, no detail
    assert state["task_data"][vet.name]["inputs"] == {} and state["messages"][-1].content == vet.inputs[0].question


def test_a_request_that_carries_its_inputs_is_not_asked_for_them() -> None:
    """Issue 27, item 4: with a model that extracts nothing, a starting message that says more than the request
    answers the inputs, as a reply to the question asking for them all would."""
    text = "Email to Sarah: we agreed on a pilot in May"
    graph = create_task_graph(TaskCatalog([EMAIL]), writer("Hi Sarah, ..."))
    state = turn(graph, {}, text, "follow_up_email")
    data = state["task_data"]["follow_up_email"]
    assert data["inputs"] == {"recipient": text} and data["covered"] == ["context"] and data["delivered"]
    post = create_task_graph(TaskCatalog([POST]), writer("Big news: ..."))
    state = turn(post, {}, "I need a LinkedIn post about our product launch next week", POST.name)
    assert state["task_data"][POST.name]["inputs"] == {"topic": "our product launch next week"}


class StructuredWriter(Writer):
    """A fake API-like model: structured output answers ``extracted``, plain calls the scripted replies."""

    extracted: dict[str, Any] = Field(default_factory=dict)

    def with_structured_output(self, schema: Any, **kwargs: Any) -> Any:
        from langchain_core.runnables import RunnableLambda

        def answer(messages: Any) -> Any:
            self.prompts.append(messages)
            return schema(**{k: v for k, v in self.extracted.items() if k in schema.model_fields})

        return RunnableLambda(answer)


def test_models_with_structured_output_extract_by_default_and_not_on_revisions() -> None:
    model = StructuredWriter(
        messages=iter([AIMessage("POST v1"), AIMessage("POST v2")]), extracted={"topic": "our launch"}
    )
    graph = create_task_graph(TaskCatalog([POST]), model)  # extract_inputs=None: on, the model does structured output
    state = turn(graph, {}, "Write a LinkedIn post about our launch", "linkedin_post")
    assert state["messages"][-1].content == "POST v1"
    assert state["task_data"]["linkedin_post"]["inputs"] == {"topic": "our launch"}
    assert "- topic: what the post is about" in model.prompts[0][0][1]  # the extraction prompt lists the fields
    calls = len(model.prompts)
    state = turn(graph, state, "Make it shorter, and humble", "linkedin_post")
    assert state["messages"][-1].content == "POST v2" and len(model.prompts) == calls + 1  # no extraction call


def test_a_revision_asked_about_is_revised_with_the_request_not_the_answer_that_picked_the_task() -> None:
    from task_router._clarify import question_message

    model = writer("POST v1", "POST v2")
    graph = create_task_graph(TaskCatalog([POST, EMAIL]), model)
    state = turn(graph, {}, "Write a LinkedIn post about our launch", "linkedin_post")
    asked = question_message("Do you mean: LinkedIn post, or Follow-up email?", ["linkedin_post", "follow_up_email"])
    state = {**state, "messages": [*state["messages"], HumanMessage("Make it shorter, and humble"), asked]}
    state = turn(graph, state, "the post", "linkedin_post")
    assert state["messages"][-1].content == "POST v2"
    revision_prompt = model.prompts[-1][-1][1]
    assert "Make it shorter, and humble" in revision_prompt and "POST v1" in revision_prompt


@pytest.mark.parametrize(
    "reply",
    [
        {"recipient": "John Smith", "context": "a new role at Initech"},  # invented: not the user's words
        {"recipient": {"email": "sarah@example.com"}, "context": None},  # nested objects, null
        "Sure! Here is the email: Hi Sarah...",  # no JSON at all
        {"recipient": "null", "context": "N/A"},
    ],
)
def test_values_the_user_did_not_write_are_not_filled(reply: Any) -> None:
    graph = create_task_graph(TaskCatalog([EMAIL]), scripted_model(reply), extract_inputs=True)
    state = turn(graph, {}, "Write a follow-up email to Sarah", "follow_up_email")
    assert state["task_data"]["follow_up_email"]["inputs"] == {}
    assert "who the email is for" in state["messages"][-1].content


def test_a_failing_extraction_only_costs_a_question() -> None:
    graph = create_task_graph(TaskCatalog([EMAIL]), scripted_model(), extract_inputs=True)  # raises: no reply
    state = turn(graph, {}, "Write a follow-up email to Sarah", "follow_up_email")
    assert "who the email is for" in state["messages"][-1].content


def test_grounded_needs_most_words_from_the_message() -> None:
    message = "Recap this morning meeting: we decided to ship v2 Friday, Bob owns QA."
    assert grounded("we decided to ship v2 Friday, Bob owns QA", message)
    assert not grounded("The team agreed to hire two engineers", message)
    assert not grounded("...", message)


def test_thread_checkpointed_with_a_single_asked_input_still_resumes() -> None:
    graph = create_task_graph(TaskCatalog([EMAIL]), writer("EMAIL"))
    old = {"follow_up_email": {"inputs": {"recipient": "Sarah"}, "asked": "context"}}  # before lists of asked inputs
    state = turn(
        graph, {"messages": [AIMessage("what was discussed?")], "task_data": old}, "a pilot", "follow_up_email"
    )
    assert state["task_data"]["follow_up_email"]["inputs"] == {"recipient": "Sarah", "context": "a pilot"}
    assert state["messages"][-1].content == "EMAIL"


# -- deliverables ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        (
            "Hi Sarah,\nThanks for the call.\nUser: great, now a post\nAssistant: Sure!",
            "Hi Sarah,\nThanks for the call.",
        ),
        ("Recap\n- ship v2\n\nUser:Thanks", "Recap\n- ship v2"),
        ("Done.<|im_end|>\n<|im_start|>user\nmore", "Done."),
        ("Assistant: Here is the post.\nHuman: and now?", "Here is the post."),
        ("Post text **User:** next", "Post text **User:** next"),  # not at a line start: the user's own words
        ("Our user: the buyer persona", "Our user: the buyer persona"),
        ("Plain reply", "Plain reply"),
        ("We shipped Echo!\n\n User (already sent): How does it work?", "We shipped Echo!"),  # seen on SmolLM2
        ("Example as follows:\n\n1. User: How about this?", "Example as follows:"),  # seen on SmolLM2
        (
            "Results:\n- Users: 50 sign-ups\nAI: the next frontier",
            "Results:\n- Users: 50 sign-ups\nAI: the next frontier",
        ),
        ("User: only an invented turn", "User: only an invented turn"),  # nothing before it: kept as it is
    ],
)
def test_invented_turns_are_cut_from_deliverables(raw: str, kept: str) -> None:
    assert strip_invented_turns(raw) == kept


def test_deliverable_is_cut_before_an_invented_turn() -> None:
    graph = create_task_graph(
        TaskCatalog([POST]), writer("What a launch! #ai\nUser: thanks!\nAssistant: You're welcome")
    )
    state = turn(graph, {"task_data": {"linkedin_post": {"inputs": {"topic": "launch"}}}}, "go", "linkedin_post")
    assert state["messages"][-1].content == "What a launch! #ai"


class Tokenizer:
    """The token ids of a ChatML tokenizer such as SmolLM2's."""

    eos_token, unk_token_id = "<|im_end|>", 0
    vocab: ClassVar[dict[str, int]] = {"<|im_start|>": 1, "<|im_end|>": 2}

    def convert_tokens_to_ids(self, token: str) -> int:
        return self.vocab.get(token, self.unk_token_id)


def test_local_generation_stops_at_the_chat_template_turn_markers() -> None:
    kwargs = turn_stop_kwargs(Tokenizer())
    assert kwargs["eos_token_id"] == [2, 1]  # <|im_end|> and <|im_start|>, not the unknown-token id of the others
    assert "\nUser:" in kwargs["stop_sequence"]


@pytest.mark.parametrize(
    ("text", "asked"),
    [
        ("Recap this morning meeting: we decided to ship v2 Friday", "Recap this morning meeting"),
        ("Quick question: can you write a post?", "Quick question"),
        ("Post about our launch at 10:30 today", None),
        (": we decided to ship v2 Friday", None),  # no request before the colon
        ("Recap: the sync", None),  # too little content after it
    ],
)
def test_request_before_content(text: str, asked: str | None) -> None:
    assert request_before_content(text) == asked
