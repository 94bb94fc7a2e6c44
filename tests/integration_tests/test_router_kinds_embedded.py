"""Each router kind of this package on the real embedded models (SmolLM2-135M; all-MiniLM-L6-v2).

The untrained 135M model often answers with chat instead of a decision: these tests check validity and the
catalogue invariant, not accuracy. The embedding model is a real sentence encoder, so it is also checked on
a few unambiguous requests.
"""

from __future__ import annotations

import json

import pytest
import torch

from task_router import RouteDecision, TaskCatalog, load_chat_model, make_router
from tests.conftest import user_turns

LLM_KINDS = {
    "zero-shot": {},
    "few-shot-cot": {"n_task_examples": 1},
    "react": {"max_steps": 2, "max_new_tokens": 64},
}


def assert_valid_decision(decision: RouteDecision, catalog: TaskCatalog, kind: str) -> None:
    assert decision.router == kind
    assert decision.task is None or decision.task in catalog
    assert decision.event in ("START", "NONE")  # no task was active
    assert (decision.task is None) == (decision.event == "NONE")
    assert decision.valid_format == (decision.fallback is None)
    assert decision.raw_output.strip()  # the model's verbatim text is kept
    assert decision.latency_ms > 0


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(LLM_KINDS))
def test_llm_kind_on_embedded_model(kind, catalog):
    router = make_router(kind, model="embedded", **LLM_KINDS[kind])
    decision = router.invoke({"messages": user_turns(["Please recap my meeting notes."]), "catalog": catalog})
    assert_valid_decision(decision, catalog, kind)
    if kind == "react":
        assert (decision.rationale and "Thought" in decision.rationale) or "Observation" in decision.rationale


@pytest.mark.slow
def test_embedding_router_with_the_real_encoder():
    catalog = TaskCatalog.demo()
    router = make_router("embedding", model=None, catalog=catalog)
    start = router.invoke({"messages": user_turns(["Can you summarize the notes of my meeting with the client?"])})
    assert (start.event, start.task) == ("START", "meeting_recap")
    switch = router.invoke(
        {
            "messages": user_turns(["Recap please", "Now draft a LinkedIn post about our launch"]),
            "active_task": "meeting_recap",
        }
    )
    assert (switch.event, switch.task) == ("SWITCH", "linkedin_post")
    end = router.invoke(
        {"messages": user_turns(["Recap please", "No, that's all. Thank you, bye!"]), "active_task": "meeting_recap"}
    )
    assert (end.event, end.task) == ("END", "meeting_recap")
    for decision in (start, switch, end):
        assert 0.0 <= decision.confidence <= 1.0 and decision.valid_format


@pytest.mark.slow
def test_qlora_adapter_round_trip(tmp_path):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from task_router.models._cpu import peft_quietly
    from task_router.models._local import embedded_model_dir

    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(embedded_model_dir(), dtype=torch.bfloat16)
    lora = LoraConfig(
        r=4, lora_alpha=64, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM", init_lora_weights=False
    )
    with peft_quietly():  # the test wraps the model itself: the project's loads drop that notice the same way
        get_peft_model(base, lora).save_pretrained(tmp_path)
    config_file = tmp_path / "adapter_config.json"
    config_file.write_text(json.dumps({**json.loads(config_file.read_text()), "base_model_name_or_path": "embedded"}))

    adapted = load_chat_model(f"qlora:{tmp_path}")
    assert load_chat_model(f"qlora:{tmp_path}") is adapted  # cached
    prompt = "Name three colours."
    with_adapter = adapted.bind(pipeline_kwargs={"max_new_tokens": 12}).invoke(prompt).content
    plain = load_chat_model("embedded").bind(pipeline_kwargs={"max_new_tokens": 12}).invoke(prompt).content
    assert with_adapter != plain
    # The shared embedded model is untouched by the adapter.
    assert not any("lora" in name for name, _ in load_chat_model("embedded").llm.pipeline.model.named_modules())
    decision = make_router("zero-shot", model=adapted, repair=False).invoke(
        {"messages": user_turns(["recap my meeting"]), "catalog": TaskCatalog.demo()}
    )
    assert decision.task is None or decision.task in TaskCatalog.demo()


def test_qlora_errors_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="task-router train"):
        load_chat_model(f"qlora:{tmp_path / 'missing'}")
    with pytest.raises(FileNotFoundError, match=r"adapter_config\.json"):
        load_chat_model(f"qlora:{tmp_path}")
    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 4}))
    with pytest.raises(ValueError, match="base_model_name_or_path"):
        load_chat_model(f"qlora:{tmp_path}")
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "org/some-hub-model"}))
    with pytest.raises(FileNotFoundError, match="never downloaded"):
        load_chat_model(f"qlora:{tmp_path}")
