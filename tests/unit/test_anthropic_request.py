"""Anthropic request building and response parsing, without network.

Expected headers and bodies are written out in full: they are Roo-Code's wire
behaviour (src/api/providers/anthropic.ts, src/api/transform/model-params.ts at
9bcd9918) in tokenwire's request model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import require_recorded

from tokenwire.errors import ConfigurationError, OverloadedError
from tokenwire.providers.anthropic import CLAUDE_MODELS, AnthropicProvider
from tokenwire.registry import ProviderRegistry
from tokenwire.types import (
    ChatRequest,
    Citation,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    Usage,
    coerce_messages,
)

KEY = "sk-ant-unit-test-key-0123456789"
TOKEN = "bearer-unit-test-token-0123456789"
EPH = {"type": "ephemeral"}
CACHE_BETA = "prompt-caching-2024-07-31"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


def provider(**options: Any) -> AnthropicProvider:
    options.setdefault("api_key", KEY)
    return AnthropicProvider(**options)


def req(model: str = "claude-sonnet-4-5", messages: Any = None, **fields: Any) -> ChatRequest:
    msgs = coerce_messages(messages or [{"role": "user", "content": "hi"}])
    return ChatRequest(model=model, messages=msgs, **fields)


def body(request: ChatRequest, stream: bool = False, **options: Any) -> dict[str, Any]:
    return provider(**options).build_chat_call(request, stream=stream).json  # type: ignore[no-any-return]


# -- headers and URLs ------------------------------------------------------------------------


def test_registered_under_anthropic() -> None:
    created = ProviderRegistry.default().create("anthropic", api_key=KEY)
    assert isinstance(created, AnthropicProvider)
    assert created.name == "anthropic"


def test_headers_api_key_mode_cache_model() -> None:
    call = provider().build_chat_call(req(system="S"), stream=True)
    assert call.method == "POST"
    assert call.url == "https://api.anthropic.com/v1/messages"
    assert call.dialect == "anthropic"
    assert call.model == "claude-sonnet-4-5"
    assert dict(call.headers) == {
        "x-api-key": KEY,
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "anthropic-beta": CACHE_BETA,
    }


def test_headers_non_cache_model_has_no_beta() -> None:
    call = provider().build_chat_call(req("claude-haiku-4-5"), stream=False)
    assert call.dialect is None
    assert dict(call.headers) == {
        "x-api-key": KEY,
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
    }


def test_headers_auth_token_mode() -> None:
    p = AnthropicProvider(auth_token=TOKEN)
    assert p.auth_mode == "bearer"
    headers = dict(p.build_chat_call(req("claude-3-haiku-20240307"), stream=True).headers)
    assert headers == {
        "authorization": f"Bearer {TOKEN}",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "anthropic-beta": CACHE_BETA,
    }


def test_credentials_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", TOKEN)
    p = AnthropicProvider()
    assert p.auth_mode == "bearer"
    assert p.build_chat_call(req(), stream=False).headers["authorization"] == f"Bearer {TOKEN}"
    # The API key wins over the token when both come from the environment.
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    headers = AnthropicProvider().build_chat_call(req(), stream=False).headers
    assert headers["x-api-key"] == KEY
    assert "authorization" not in headers
    # An explicit token beats an API key from the environment.
    headers = AnthropicProvider(auth_token="explicit-token-123").build_chat_call(req(), stream=False).headers
    assert headers["authorization"] == "Bearer explicit-token-123"
    assert "x-api-key" not in headers


def test_base_url_from_argument_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:9999/")
    assert provider().build_chat_call(req(), stream=True).url == "http://127.0.0.1:9999/v1/messages"
    p = provider(base_url="https://gateway.example/anthropic")
    assert p.build_chat_call(req(), stream=True).url == "https://gateway.example/anthropic/v1/messages"


def test_missing_credentials_name_the_env_vars() -> None:
    p = AnthropicProvider()
    assert not p.has_credentials()
    assert "auth=missing" in repr(p)
    with pytest.raises(ConfigurationError, match="ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN"):
        p.build_chat_call(req(), stream=True)


def test_api_key_and_auth_token_together_are_rejected() -> None:
    with pytest.raises(ConfigurationError, match="either api_key or auth_token"):
        AnthropicProvider(api_key=KEY, auth_token=TOKEN)


def test_secrets_never_in_repr() -> None:
    for p in (provider(), AnthropicProvider(auth_token=TOKEN)):
        assert KEY not in repr(p)
        assert TOKEN not in repr(p)
        assert KEY not in str(p)


def test_provider_and_request_headers_merge_last() -> None:
    p = provider(headers={"X-Team": "a", "Anthropic-Version": "2099-01-01"})
    headers = p.build_chat_call(req(extra_headers={"x-team": "b"}), stream=True).headers
    assert headers["Anthropic-Version"] == "2099-01-01"
    assert "anthropic-version" not in headers
    assert headers["x-team"] == "b"
    assert "X-Team" not in headers


def test_models_call_headers_and_paging_params() -> None:
    call = provider().build_models_call()
    assert (call.method, call.url) == ("GET", "https://api.anthropic.com/v1/models")
    assert dict(call.headers) == {"x-api-key": KEY, "anthropic-version": "2023-06-01"}
    assert dict(call.params) == {"limit": "1000"}
    assert dict(provider().build_models_call(after_id="m-9").params) == {"limit": "1000", "after_id": "m-9"}


# -- betas -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "options", "provider_options", "sent_model", "beta"),
    [
        ("claude-sonnet-4-5", {}, {}, "claude-sonnet-4-5", CACHE_BETA),
        ("claude-sonnet-4-5", {}, {"context_1m": True}, "claude-sonnet-4-5", f"context-1m-2025-08-07,{CACHE_BETA}"),
        (
            "claude-sonnet-4-20250514",
            {"context_1m": True},
            {},
            "claude-sonnet-4-20250514",
            f"context-1m-2025-08-07,{CACHE_BETA}",
        ),
        ("claude-sonnet-4-5", {"context_1m": False}, {"context_1m": True}, "claude-sonnet-4-5", CACHE_BETA),
        # Roo adds the 1M beta for Sonnet 4 / 4.5 only.
        ("claude-opus-4-1-20250805", {}, {"context_1m": True}, "claude-opus-4-1-20250805", CACHE_BETA),
        (
            "claude-3-7-sonnet-20250219:thinking",
            {},
            {},
            "claude-3-7-sonnet-20250219",
            f"output-128k-2025-02-19,{CACHE_BETA}",
        ),
        ("claude-3-7-sonnet-20250219", {}, {}, "claude-3-7-sonnet-20250219", CACHE_BETA),
        ("claude-3-5-haiku-20241022", {}, {}, "claude-3-5-haiku-20241022", CACHE_BETA),
        ("claude-3-opus-20240229", {}, {}, "claude-3-opus-20240229", CACHE_BETA),
        ("claude-opus-4-20250514", {}, {}, "claude-opus-4-20250514", CACHE_BETA),
        ("claude-3-5-sonnet-20241022", {}, {}, "claude-3-5-sonnet-20241022", CACHE_BETA),
        # Models outside Roo's cache list: no header.
        ("claude-sonnet-4-5-20250929", {}, {"context_1m": True}, "claude-sonnet-4-5-20250929", None),
        ("claude-opus-4-5", {}, {}, "claude-opus-4-5", None),
        # Caching forced off keeps the other betas; forced on adds the caching beta.
        (
            "claude-sonnet-4-5",
            {"prompt_caching": False},
            {"context_1m": True},
            "claude-sonnet-4-5",
            "context-1m-2025-08-07",
        ),
        ("claude-opus-4-5", {}, {"prompt_caching": True}, "claude-opus-4-5", CACHE_BETA),
        ("claude-opus-4-5", {"prompt_caching": True}, {"prompt_caching": False}, "claude-opus-4-5", CACHE_BETA),
        # Extra betas come after Roo's, without duplicates.
        (
            "claude-sonnet-4-5",
            {"betas": ["b2", CACHE_BETA]},
            {"betas": ["b1"]},
            "claude-sonnet-4-5",
            f"{CACHE_BETA},b1,b2",
        ),
        (
            "claude-opus-4-5",
            {"betas": ["interleaved-thinking-2025-05-14"]},
            {},
            "claude-opus-4-5",
            "interleaved-thinking-2025-05-14",
        ),
    ],
)
def test_betas(
    model: str, options: dict[str, Any], provider_options: dict[str, Any], sent_model: str, beta: Any
) -> None:
    call = provider(**provider_options).build_chat_call(req(model, options=options), stream=True)
    assert call.json["model"] == sent_model
    assert call.headers.get("anthropic-beta") == beta


def test_bad_option_types_are_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="'context_1m' must be a bool"):
        body(req(options={"context_1m": "yes"}))
    with pytest.raises(ConfigurationError, match="'betas' must be a list"):
        body(req(options={"betas": "one-beta"}))
    with pytest.raises(ConfigurationError, match="betas must be a list"):
        provider(betas=[1])
    with pytest.raises(ConfigurationError, match="'top_k' must be an int"):
        body(req(options={"top_k": 1.5}))


# -- bodies ----------------------------------------------------------------------------------


def test_body_cache_model_system_and_single_user_message() -> None:
    assert body(req(system="You are terse."), stream=True) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8192,
        "temperature": 0.0,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": EPH}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": EPH}]}],
        "stream": True,
    }


def test_body_non_cache_model_leaves_messages_unchanged() -> None:
    msgs = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "two"},
        {"role": "user", "content": [{"type": "text", "text": "three"}]},
    ]
    assert body(req("claude-opus-4-5", msgs, system="Base.")) == {
        "model": "claude-opus-4-5",
        "max_tokens": 8192,
        "temperature": 0.0,
        "system": [{"type": "text", "text": "Base.\n\nBe brief."}],
        "messages": [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "two"},
            {"role": "user", "content": [{"type": "text", "text": "three"}]},
        ],
    }


def test_no_system_field_without_a_system_prompt() -> None:
    assert "system" not in body(req())
    assert "system" not in body(req("claude-opus-4-5"))


def test_cache_breakpoints_on_last_two_user_messages() -> None:
    msgs = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "second-b"}]},
        {"role": "assistant", "content": "a2"},
        {"role": "user", "content": "third"},
        {"role": "assistant", "content": "prefill"},
    ]
    assert body(req("claude-3-5-sonnet-20241022", msgs, system="S"))["messages"] == [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "a1"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "second"},
                {"type": "text", "text": "second-b", "cache_control": EPH},
            ],
        },
        {"role": "assistant", "content": "a2"},
        {"role": "user", "content": [{"type": "text", "text": "third", "cache_control": EPH}]},
        {"role": "assistant", "content": "prefill"},
    ]


def test_cache_breakpoint_lands_on_a_trailing_image_or_tool_result() -> None:
    image = ImagePart(data="aGVsbG8=", media_type="image/jpeg")
    msgs = (
        Message("user", (TextPart("look"), image)),
        Message("assistant", "", tool_calls=(ToolCall("tu_1", "zoom", '{"x": 1}'),)),
        Message("tool", "zoomed", tool_call_id="tu_1"),
    )
    got = body(ChatRequest(model="claude-opus-4-20250514", messages=msgs))["messages"]
    assert got == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/jpeg", "data": "aGVsbG8="},
                    "cache_control": EPH,
                },
            ],
        },
        {"role": "assistant", "content": [{"type": "tool_use", "id": "tu_1", "name": "zoom", "input": {"x": 1}}]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": "zoomed", "cache_control": EPH}],
        },
    ]


def test_caching_forced_off_for_a_cache_model() -> None:
    got = body(req(system="S", options={"prompt_caching": False}))
    assert got["system"] == [{"type": "text", "text": "S"}]
    assert got["messages"] == [{"role": "user", "content": "hi"}]


def test_images_base64_and_url_from_openai_style_dicts() -> None:
    msgs = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "compare"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0K"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.webp"}},
            ],
        }
    ]
    assert body(req("claude-opus-4-5", msgs))["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "compare"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0K"}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.webp"}},
            ],
        }
    ]


def test_tools_tool_calls_tool_results_and_merging() -> None:
    msgs = [
        {"role": "user", "content": "weather in Paris and Rome?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {"id": "tu_1", "type": "function", "function": {"name": "weather", "arguments": '{"city":"Paris"}'}},
                {"id": "tu_2", "type": "function", "function": {"name": "weather", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "tu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "tu_2", "content": "city missing", "is_error": True},
        {"role": "user", "content": "and tomorrow?"},
        {"role": "user", "content": [{"type": "text", "text": "in Celsius"}]},
    ]
    tools = (
        Tool("weather", "Current weather", {"type": "object", "properties": {"city": {"type": "string"}}}),
        Tool("noop"),
    )
    got = body(req("claude-opus-4-5", msgs, tools=tools, tool_choice="auto", stop=("END",), top_p=0.9))
    assert got == {
        "model": "claude-opus-4-5",
        "max_tokens": 8192,
        "messages": [
            {"role": "user", "content": "weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "tu_1", "name": "weather", "input": {"city": "Paris"}},
                    {"type": "tool_use", "id": "tu_2", "name": "weather", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "tu_1", "content": "18C"},
                    {"type": "tool_result", "tool_use_id": "tu_2", "content": "city missing", "is_error": True},
                    {"type": "text", "text": "and tomorrow?"},
                    {"type": "text", "text": "in Celsius"},
                ],
            },
        ],
        "tools": [
            {
                "name": "weather",
                "description": "Current weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
            {"name": "noop", "input_schema": {"type": "object", "properties": {}}},
        ],
        "tool_choice": {"type": "auto"},
        "stop_sequences": ["END"],
        # top_p without temperature: no default temperature (newer models reject both).
        "top_p": 0.9,
    }


def test_tool_result_with_image_parts_and_empty_content() -> None:
    msgs = (
        Message("user", "draw"),
        Message("assistant", "", tool_calls=(ToolCall("tu_9", "render", "{}"),)),
        Message("tool", (TextPart("done"), ImagePart(url="https://x.test/a.png")), tool_call_id="tu_9"),
        Message("tool", "", tool_call_id="tu_10"),
    )
    got = body(ChatRequest(model="claude-opus-4-5", messages=msgs))["messages"][2]
    assert got == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "tu_9",
                "content": [
                    {"type": "text", "text": "done"},
                    {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                ],
            },
            {"type": "tool_result", "tool_use_id": "tu_10"},
        ],
    }


def test_merging_consecutive_assistant_messages() -> None:
    msgs = [
        {"role": "user", "content": "u"},
        {"role": "assistant", "content": "a"},
        {"role": "assistant", "content": [{"type": "text", "text": "b"}]},
    ]
    assert body(req("claude-opus-4-5", msgs))["messages"][1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
    }


def test_invalid_tool_call_arguments_are_reported() -> None:
    msgs = (
        Message("user", "x"),
        Message("assistant", "", tool_calls=(ToolCall("tu_1", "f", "{not json"),)),
    )
    with pytest.raises(ValueError, match="tool call 'tu_1' \\(f\\) has arguments that are not JSON"):
        body(ChatRequest(model="claude-opus-4-5", messages=msgs))


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("any", {"type": "any"}),
        ("none", {"type": "none"}),
        ("weather", {"type": "tool", "name": "weather"}),
        ({"type": "function", "function": {"name": "weather"}}, {"type": "tool", "name": "weather"}),
        ({"type": "tool", "name": "weather"}, {"type": "tool", "name": "weather"}),
        ({"type": "any", "disable_parallel_tool_use": True}, {"type": "any", "disable_parallel_tool_use": True}),
    ],
)
def test_tool_choice_mapping(choice: Any, expected: dict[str, Any]) -> None:
    assert body(req("claude-opus-4-5", tools=(Tool("weather"),), tool_choice=choice))["tool_choice"] == expected


def test_tool_choice_errors_and_parallel_switch() -> None:
    with pytest.raises(ConfigurationError, match="unsupported tool_choice"):
        body(req(tool_choice={"type": "bogus"}))
    with pytest.raises(ConfigurationError, match=r"needs function\.name"):
        body(req(tool_choice={"type": "function"}))
    got = body(req(tools=(Tool("f"),), options={"disable_parallel_tool_use": True}))
    assert got["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    got = body(req(tools=(Tool("f"),), tool_choice="f", options={"disable_parallel_tool_use": False}))
    assert got["tool_choice"] == {"type": "tool", "name": "f", "disable_parallel_tool_use": False}


@pytest.mark.parametrize(
    ("model", "max_tokens"),
    [
        # Reasoning-budget models without thinking: ANTHROPIC_DEFAULT_MAX_TOKENS.
        ("claude-sonnet-4-5", 8192),
        ("claude-sonnet-4-20250514", 8192),
        ("claude-opus-4-20250514", 8192),
        ("claude-opus-4-1-20250805", 8192),
        # Other models: their max output, capped at 20% of the context window.
        ("claude-3-7-sonnet-20250219", 8192),
        ("claude-3-5-sonnet-20241022", 8192),
        ("claude-3-5-haiku-20241022", 8192),
        ("claude-3-opus-20240229", 4096),
        ("claude-3-haiku-20240307", 4096),
        # The :thinking model always thinks: DEFAULT_HYBRID_REASONING_MODEL_MAX_TOKENS.
        ("claude-3-7-sonnet-20250219:thinking", 16384),
        # Unknown models.
        ("claude-opus-4-5", 8192),
    ],
)
def test_default_max_tokens(model: str, max_tokens: int) -> None:
    assert body(req(model))["max_tokens"] == max_tokens


@pytest.mark.parametrize(
    ("model", "fields", "expected"),
    [
        # Thinking asked with a budget on a reasoning-budget model: 16384 default max tokens.
        ("claude-sonnet-4-5", {"thinking_budget": 4000}, (16384, 4000)),
        # Budget capped at 80% of max_tokens.
        ("claude-sonnet-4-5", {"thinking_budget": 20000}, (16384, 13107)),
        ("claude-sonnet-4-5", {"thinking_budget": 9000, "max_tokens": 10000}, (10000, 8000)),
        # ...and raised to at least 1024.
        ("claude-opus-4-20250514", {"thinking_budget": 100}, (16384, 1024)),
        ("claude-opus-4-20250514", {"thinking_budget": 5000, "max_tokens": 1000}, (1000, 1024)),
        # options["thinking"]=True: Roo's default budget 8192.
        ("claude-opus-4-1-20250805", {"options": {"thinking": True}}, (16384, 8192)),
        ("claude-opus-4-1-20250805", {"options": {"thinking": True}, "max_tokens": 6000}, (6000, 4800)),
        # Required thinking, even when turned off.
        ("claude-3-7-sonnet-20250219:thinking", {}, (16384, 8192)),
        ("claude-3-7-sonnet-20250219:thinking", {"options": {"thinking": False}}, (16384, 8192)),
        ("claude-3-7-sonnet-20250219:thinking", {"max_tokens": 128000, "thinking_budget": 64000}, (128000, 64000)),
        # Unknown models get thinking when asked.
        ("claude-opus-4-5", {"thinking_budget": 2048}, (16384, 2048)),
    ],
)
def test_thinking_budget_rules(model: str, fields: dict[str, Any], expected: tuple[int, int]) -> None:
    got = body(req(model, temperature=0.3, **fields))
    assert (got["max_tokens"], got["thinking"]["budget_tokens"]) == expected
    assert got["thinking"]["type"] == "enabled"
    assert got["temperature"] == 1.0


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        # Known models without a reasoning budget ignore the request (Roo).
        ("claude-3-7-sonnet-20250219", {"thinking_budget": 4000}),
        ("claude-3-5-sonnet-20241022", {"options": {"thinking": True}}),
        # thinking=False wins over a budget.
        ("claude-sonnet-4-5", {"thinking_budget": 4000, "options": {"thinking": False}}),
    ],
)
def test_no_thinking(model: str, fields: dict[str, Any]) -> None:
    got = body(req(model, **fields))
    assert "thinking" not in got
    assert got["temperature"] == 0.0
    assert got["max_tokens"] == 8192


def test_full_thinking_body() -> None:
    assert body(req("claude-sonnet-4-5", system="S", thinking_budget=2000, max_tokens=4000), stream=True) == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4000,
        "temperature": 1.0,
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "system": [{"type": "text", "text": "S", "cache_control": EPH}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": EPH}]}],
        "stream": True,
    }


def test_sampling_fields_user_and_extra_body() -> None:
    got = body(
        req(
            "claude-opus-4-5",
            temperature=0.7,
            top_p=0.5,
            max_tokens=100,
            user="user-42",
            reasoning_effort="high",
            options={"top_k": 5, "unrelated": 1},
            extra_body={"temperature": None, "service_tier": "auto"},
        )
    )
    assert got == {
        "model": "claude-opus-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        "top_p": 0.5,
        "top_k": 5,
        "metadata": {"user_id": "user-42"},
        "service_tier": "auto",
    }


def test_response_format_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="response_format is not supported"):
        body(req(response_format={"type": "json_object"}))


def test_count_tokens_call_drops_what_the_endpoint_rejects() -> None:
    request = req(
        "claude-sonnet-4-5",
        system="S",
        tools=(Tool("f"),),
        tool_choice="auto",
        stop=("x",),
        top_p=0.2,
        user="u",
        thinking_budget=2000,
    )
    call = provider().build_count_tokens_call(request)
    assert (call.method, call.url, call.dialect) == ("POST", "https://api.anthropic.com/v1/messages/count_tokens", None)
    assert call.headers["anthropic-beta"] == CACHE_BETA
    assert call.json == {
        "model": "claude-sonnet-4-5",
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "system": [{"type": "text", "text": "S", "cache_control": EPH}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": EPH}]}],
        "tools": [{"name": "f", "input_schema": {"type": "object", "properties": {}}}],
        "tool_choice": {"type": "auto"},
    }


def test_building_does_not_mutate_the_request() -> None:
    content = (TextPart("a"), TextPart("b"))
    request = ChatRequest(model="claude-sonnet-4-5", messages=(Message("user", content),))
    first = body(request)
    second = body(request)
    assert first == second
    assert request.messages[0].content == content


# -- responses -------------------------------------------------------------------------------


def parse(data: Any, model: str = "claude-sonnet-4-5") -> Any:
    return provider().parse_chat_response(data, model=model, request_id="req_1")


def test_parse_text_thinking_tool_use_and_usage() -> None:
    data = {
        "type": "message",
        "model": "claude-sonnet-4-5-20250929",
        "content": [
            {"type": "thinking", "thinking": "Let me think.", "signature": "sig"},
            {"type": "text", "text": "I'll check."},
            {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Zürich", "days": 2}},
            {"type": "redacted_thinking", "data": "xx"},
            {
                "type": "text",
                "text": "Done.",
                "citations": [
                    {"type": "web_search_result_location", "url": "https://a.example", "title": "A"},
                    {"type": "char_location", "cited_text": "x"},
                ],
            },
        ],
        "stop_reason": "tool_use",
        "usage": {
            "input_tokens": 12,
            "output_tokens": 30,
            "cache_creation_input_tokens": 5,
            "cache_read_input_tokens": 7,
        },
    }
    answer = parse(data)
    # Roo's rule, as the stream applies it: "\n" before every text/thinking block after the first.
    assert answer.text == "\nI'll check.\nDone."
    assert answer.reasoning == "Let me think."
    assert answer.tool_calls == (ToolCall("toolu_1", "weather", '{"city":"Zürich","days":2}'),)
    assert answer.usage == Usage(12, 30, cache_read_tokens=7, cache_write_tokens=5)
    assert answer.finish_reason == "tool_use"
    assert answer.citations == (Citation("https://a.example", "A"),)
    assert (answer.provider, answer.model, answer.request_id) == ("anthropic", "claude-sonnet-4-5", "req_1")


def test_parse_error_body_with_status_200() -> None:
    data = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(OverloadedError) as info:
        parse(data)
    assert info.value.message == "Overloaded"
    assert info.value.request_id == "req_1"
    assert info.value.provider == "anthropic"


def test_parse_tolerates_missing_fields() -> None:
    answer = parse({"type": "message", "content": [{"type": "text"}], "stop_reason": None})
    assert (answer.text, answer.usage, answer.finish_reason, answer.tool_calls) == ("", None, None, ())


def _oracle(data: dict[str, Any]) -> tuple[str, str, list[tuple[str, str, Any]]]:
    text, reasoning, calls = [], [], []
    for index, block in enumerate(data["content"]):
        sep = "\n" if index > 0 else ""
        if block["type"] == "text":
            text.append(sep + block["text"])
        elif block["type"] == "thinking":
            reasoning.append(sep + block["thinking"])
        elif block["type"] == "tool_use":
            calls.append((block["id"], block["name"], block["input"]))
    return "".join(text), "".join(reasoning), calls


def _recorded_messages() -> list[Path]:
    folder = require_recorded() / "vercel-ai" / "anthropic"
    return sorted(p for p in folder.glob("*.json") if json.loads(p.read_text()).get("type") == "message")


def test_parse_recorded_non_streaming_responses() -> None:
    files = _recorded_messages()
    assert len(files) >= 20
    for path in files:
        data = json.loads(path.read_text())
        answer = parse(data)
        text, reasoning, calls = _oracle(data)
        assert answer.text == text, path.name
        assert answer.reasoning == reasoning, path.name
        assert [(c.id, c.name, c.parsed_arguments()) for c in answer.tool_calls] == calls, path.name
        usage = data["usage"]
        assert answer.usage == Usage(
            usage["input_tokens"],
            usage["output_tokens"],
            cache_read_tokens=usage.get("cache_read_input_tokens") or 0,
            cache_write_tokens=usage.get("cache_creation_input_tokens") or 0,
        ), path.name
        assert answer.finish_reason == data["stop_reason"], path.name


def test_parse_models_uses_api_fields_then_the_table() -> None:
    data = {
        "data": [
            {
                "type": "model",
                "id": "claude-opus-4-6",
                "display_name": "Claude Opus 4.6",
                "max_input_tokens": 500_000,
                "max_tokens": 128_000,
                "capabilities": {"image_input": {"supported": True}, "thinking": {"supported": True}},
            },
            {"type": "model", "id": "claude-3-haiku-20240307", "display_name": "Claude Haiku 3"},
            {"type": "model", "id": "claude-x"},
            {"type": "model"},
        ],
        "has_more": False,
    }
    models = provider().parse_models(data)
    assert [m.id for m in models] == ["claude-opus-4-6", "claude-3-haiku-20240307", "claude-x"]
    opus, haiku, unknown = models
    assert (opus.context_window, opus.max_output_tokens, opus.supports_images, opus.supports_reasoning) == (
        500_000,
        128_000,
        True,
        True,
    )
    assert opus.display_name == "Claude Opus 4.6"
    table = CLAUDE_MODELS["claude-3-haiku-20240307"]
    assert (haiku.context_window, haiku.max_output_tokens, haiku.supports_images) == (200_000, table.max_tokens, True)
    assert haiku.supports_prompt_cache and not haiku.supports_reasoning
    assert (unknown.context_window, unknown.max_output_tokens, unknown.supports_images) == (None, None, False)
    assert all(m.provider == "anthropic" for m in models)


class _PagedProvider(AnthropicProvider):
    """Answers the models calls from canned pages (the loopback server has one page only)."""

    def __init__(self, pages: dict[Any, Any]) -> None:
        super().__init__(api_key=KEY)
        self.pages = pages
        self.calls: list[dict[str, str]] = []

    async def send_json(self, call: Any) -> Any:
        self.calls.append(dict(call.params))
        return self.pages[call.params.get("after_id")]


def _page(ids: list[str], has_more: bool) -> dict[str, Any]:
    return {"data": [{"type": "model", "id": i} for i in ids], "has_more": has_more, "last_id": ids[-1]}


@pytest.mark.anyio
async def test_list_models_follows_pages() -> None:
    p = _PagedProvider({None: _page(["a", "b"], True), "b": _page(["c"], True), "c": _page(["d"], False)})
    assert [m.id for m in await p.list_models()] == ["a", "b", "c", "d"]
    assert p.calls == [{"limit": "1000"}, {"limit": "1000", "after_id": "b"}, {"limit": "1000", "after_id": "c"}]


@pytest.mark.anyio
async def test_list_models_stops_on_a_cursor_that_does_not_advance() -> None:
    p = _PagedProvider({None: _page(["a"], True), "a": _page(["a"], True)})
    assert [m.id for m in await p.list_models()] == ["a", "a"]
    assert len(p.calls) == 2


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
