"""Model specs: any LangChain `<provider>:<model>` goes through `init_chat_model`; errors name the fix."""

from __future__ import annotations

import importlib.util

import pytest

from task_router.models import load_chat_model


def test_openai_spec_with_a_base_url_is_a_greedy_chat_openai(monkeypatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    model = load_chat_model("openai:my-model", base_url="http://127.0.0.1:9/v1", max_tokens=8)
    assert type(model).__name__ == "ChatOpenAI"
    assert model.model_name == "my-model" and model.temperature == 0 and model.max_tokens == 8
    assert str(model.openai_api_base).startswith("http://127.0.0.1:9")


@pytest.mark.parametrize("spec", ["anthropic:claude-x", "ollama:llama3.2", "google_genai:gemini-x"])
def test_a_provider_whose_integration_is_missing_names_the_package(spec: str) -> None:
    provider = spec.partition(":")[0]
    if importlib.util.find_spec(f"langchain_{provider}") is not None:
        pytest.skip(f"langchain-{provider} is installed here")
    with pytest.raises(ImportError, match=f"pip install langchain-{provider.replace('_', '-')}"):
        load_chat_model(spec, max_tokens=8)


def test_unknown_provider_and_base_url_misuse_are_refused_with_the_valid_forms() -> None:
    with pytest.raises(ValueError, match=r"unknown model spec 'nosuchprovider:x'.*'ollama:llama3\.2'"):
        load_chat_model("nosuchprovider:x", max_tokens=8)
    with pytest.raises(ValueError, match="base_url is for openai: models"):
        load_chat_model("anthropic:claude-x", base_url="http://127.0.0.1:9/v1", max_tokens=8)
    with pytest.raises(ValueError, match="unknown model spec 'hf:'"):
        load_chat_model("hf:")
