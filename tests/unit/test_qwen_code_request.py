"""QwenCodeProvider request building without network: endpoint, headers, bodies, options."""

from __future__ import annotations

from typing import Any

import pytest

from tokenwire import __version__
from tokenwire.providers.qwen_code import DEFAULT_BASE_URL, QwenCodeProvider, qwen_base_url
from tokenwire.types import ChatRequest, CompletionRequest, Message

TOKEN = "qwen-static-access-token"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QWEN_CODE_OAUTH_PATH", raising=False)


def provider(**options: Any) -> QwenCodeProvider:
    options.setdefault("api_key", TOKEN)
    return QwenCodeProvider(**options)


def req(model: str = "qwen3-coder-plus", **fields: Any) -> ChatRequest:
    fields.setdefault("messages", (Message("user", "hi"),))
    return ChatRequest(model=model, **fields)


@pytest.mark.parametrize(
    ("resource_url", "base"),
    [
        (None, DEFAULT_BASE_URL),
        ("", DEFAULT_BASE_URL),
        ("portal.qwen.ai", "https://portal.qwen.ai/v1"),
        ("https://portal.qwen.ai/v1/", "https://portal.qwen.ai/v1"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080/v1"),
        ("dashscope.aliyuncs.com/compatible-mode", "https://dashscope.aliyuncs.com/compatible-mode/v1"),
    ],
)
def test_base_url_from_resource_url(resource_url: Any, base: str) -> None:
    assert qwen_base_url(resource_url) == base


def test_streaming_call() -> None:
    call = provider().build_chat_call(req(system="Be brief."), stream=True)
    assert (call.method, call.url, call.dialect) == ("POST", f"{DEFAULT_BASE_URL}/chat/completions", "openai-chat")
    assert dict(call.headers) == {
        "Authorization": f"Bearer {TOKEN}",
        "User-Agent": f"tokenwire/{__version__}",
        "Accept": "text/event-stream",
        "Content-Type": "application/json",
    }
    assert call.json == {
        "model": "qwen3-coder-plus",
        "temperature": 0,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_completion_tokens": 65536,
    }
    assert dict(call.stream_options) == {"think_tags": True}
    assert dict(provider(think_tags=False).build_chat_call(req(), stream=True).stream_options) == {}


def test_body_options() -> None:
    body = provider().build_chat_call(req("qwen-unknown", max_tokens=100, temperature=0.3), stream=False).json
    assert body == {
        "model": "qwen-unknown",
        "temperature": 0.3,
        "messages": [{"role": "user", "content": "hi"}],
        "max_completion_tokens": 100,
    }
    flash = provider(default_temperature=None).build_chat_call(req("qwen3-coder-flash"), stream=False).json
    assert "temperature" not in flash and flash["max_completion_tokens"] == 65536


def test_completion_is_roos_complete_prompt() -> None:
    call = provider().build_completion_call(CompletionRequest(model="qwen3-coder-plus", prompt="Say hi"), stream=False)
    assert call is not None
    assert call.url == f"{DEFAULT_BASE_URL}/chat/completions"
    assert call.json == {
        "model": "qwen3-coder-plus",
        "messages": [{"role": "user", "content": "Say hi"}],
        "max_completion_tokens": 65536,
    }


def test_openai_settings_do_not_leak_in(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (
        ("OPENAI_API_KEY", "sk-openai"),
        ("OPENAI_BASE_URL", "https://api.openai.com/v1"),
        ("OPENAI_ORG_ID", "org-x"),
        ("OPENAI_PROJECT_ID", "proj-x"),
    ):
        monkeypatch.setenv(name, value)
    bare = QwenCodeProvider()
    assert bare.api_key is None and bare.base_url == DEFAULT_BASE_URL
    call = provider().build_chat_call(req(), stream=False)
    assert not {"OpenAI-Organization", "OpenAI-Project"} & set(call.headers)
    assert provider(base_url="https://proxy.example/v1/").base_url == "https://proxy.example/v1"


def test_refresh_form_is_roos() -> None:
    assert QwenCodeProvider().refresh_form("r") == {
        "grant_type": "refresh_token",
        "refresh_token": "r",
        "client_id": "f0304373b74a44d2b584a3fb70ca9e56",
    }


def test_non_streaming_answer_splits_a_leading_think_block() -> None:
    body = {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "<think>plan</think>Done."}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
    answer = provider().parse_chat_response(body, model="qwen3-coder-plus", request_id=None)
    assert (answer.text, answer.reasoning) == ("Done.", "plan")
    kept = provider(think_tags=False).parse_chat_response(body, model="qwen3-coder-plus", request_id=None)
    assert kept.text == "<think>plan</think>Done."
