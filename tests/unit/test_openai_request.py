"""Request building and response parsing of the OpenAI adapters, without a network.

Every expected body is written out in full: these tests pin the exact JSON sent. The
wire rules come from Roo-Code (see tokenwire/providers/openai.py); each test names the
rule it checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.conftest import require_recorded

from tokenwire.errors import AuthenticationError, ConfigurationError, ProviderError, RateLimitError
from tokenwire.providers.openai import (
    AzureOpenAIProvider,
    OpenAIProvider,
    find_model,
    is_legacy_completion_model,
    is_o_family,
    responses_text_format,
)
from tokenwire.registry import ProviderRegistry
from tokenwire.types import (
    ChatRequest,
    Citation,
    CompletionRequest,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    Usage,
    coerce_messages,
)

KEY = "sk-test-0123456789abcdef"
PNG = "iVBORw0KGgo="
ENV_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_ENDPOINT",
    "OPENAI_API_VERSION",
)
WEATHER = Tool(
    "get_weather",
    "Weather for a city",
    {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
)
WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    yield


def provider(**kwargs: Any) -> OpenAIProvider:
    kwargs.setdefault("api_key", KEY)
    return OpenAIProvider(**kwargs)


def req(model: str, *messages: Any, **kwargs: Any) -> ChatRequest:
    msgs = coerce_messages(messages or ({"role": "user", "content": "Hi"},))
    return ChatRequest(model=model, messages=msgs, **kwargs)


def chat_body(request: ChatRequest, *, stream: bool = True, p: OpenAIProvider | None = None) -> Any:
    call = (p or provider()).build_chat_call(request, stream=stream)
    assert call.url.endswith("/chat/completions")
    return call.json


def responses_body(request: ChatRequest, *, stream: bool = True, p: OpenAIProvider | None = None) -> Any:
    call = (p or provider()).build_chat_call(request, stream=stream)
    assert call.url.endswith("/responses")
    return call.json


# -- model table and routing -----------------------------------------------------------------
def test_find_model_exact_dated_and_alias() -> None:
    assert find_model("gpt-4o") is not None and find_model("gpt-4o")[0] == "gpt-4o"  # type: ignore[index]
    # A dated snapshot maps to its model; an undated name to the dated table entry.
    assert find_model("gpt-4o-2024-08-06")[0] == "gpt-4o"  # type: ignore[index]
    assert find_model("o3-2025-04-16")[0] == "o3"  # type: ignore[index]
    assert find_model("gpt-5")[0] == "gpt-5-2025-08-07"  # type: ignore[index]
    assert find_model("gpt-5-mini")[0] == "gpt-5-mini-2025-08-07"  # type: ignore[index]
    assert find_model("gpt-3.5-turbo") is None
    assert find_model("chatgpt-4o-latest") is None
    assert find_model("my-fine-tune") is None


def test_o_family_and_legacy_model_tests() -> None:
    # Roo's test is a substring test on o1 / o3 / o4.
    assert all(is_o_family(m) for m in ("o1", "o1-mini", "o3-mini-high", "o4-mini", "o3"))
    assert not any(is_o_family(m) for m in ("gpt-4o", "gpt-4o-mini-2024-07-18", "gpt-5", "gpt-4.1"))
    assert all(
        is_legacy_completion_model(m)
        for m in ("gpt-3.5-turbo-instruct", "gpt-3.5-turbo-instruct-0914", "davinci-002", "ft:babbage-002:org::x")
    )
    assert not any(is_legacy_completion_model(m) for m in ("gpt-3.5-turbo", "gpt-4o", "davinci"))


@pytest.mark.parametrize(
    ("model", "option", "expected"),
    [
        ("gpt-4o-mini", None, "/responses"),
        ("gpt-5", None, "/responses"),
        ("o3-mini-high", None, "/responses"),
        ("gpt-3.5-turbo", None, "/chat/completions"),
        ("ft:gpt-4o-mini:org::abc", None, "/chat/completions"),
        ("gpt-4o-mini", "chat", "/chat/completions"),
        ("gpt-3.5-turbo", "responses", "/responses"),
        ("gpt-4o", "auto", "/responses"),
    ],
)
def test_api_routing(model: str, option: str | None, expected: str) -> None:
    options = {"api": option} if option else {}
    call = provider().build_chat_call(req(model, options=options), stream=True)
    assert call.url == f"https://api.openai.com/v1{expected}"
    assert call.dialect == ("openai-responses" if expected == "/responses" else "openai-chat")


def test_api_mode_of_the_provider_and_validation() -> None:
    assert provider(api="chat").build_chat_call(req("gpt-5"), stream=False).url.endswith("/chat/completions")
    assert provider(api="responses").build_chat_call(req("x-1"), stream=False).url.endswith("/responses")
    with pytest.raises(ConfigurationError, match="api"):
        OpenAIProvider(api="completions")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="'api'"):
        provider().build_chat_call(req("gpt-4o", options={"api": "legacy"}), stream=True)


# -- headers and URLs ---------------------------------------------------------------------------
def test_headers_exact_streaming_and_not() -> None:
    p = provider()
    stream_call = p.build_chat_call(req("gpt-3.5-turbo"), stream=True)
    assert dict(stream_call.headers) == {
        "Authorization": f"Bearer {KEY}",
        "User-Agent": "tokenwire/0.1.0",
        "Accept": "text/event-stream",
        "Content-Type": "application/json",
    }
    assert stream_call.params == {}
    plain = p.build_chat_call(req("gpt-3.5-turbo"), stream=False)
    assert plain.headers["Accept"] == "application/json"
    assert plain.dialect is None
    models = p.build_models_call()
    assert models is not None
    assert models.method == "GET" and models.url == "https://api.openai.com/v1/models" and models.json is None
    assert dict(models.headers) == {
        "Authorization": f"Bearer {KEY}",
        "User-Agent": "tokenwire/0.1.0",
        "Accept": "application/json",
    }


def test_headers_organization_project_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    p = provider(organization="org-1", project="proj-1", headers={"X-Team": "a"})
    call = p.build_chat_call(req("gpt-3.5-turbo", extra_headers={"X-Trace": "t"}), stream=False)
    assert dict(call.headers) == {
        "Authorization": f"Bearer {KEY}",
        "OpenAI-Organization": "org-1",
        "OpenAI-Project": "proj-1",
        "User-Agent": "tokenwire/0.1.0",
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-Team": "a",
        "X-Trace": "t",
    }
    # The official SDKs' variables.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    env = OpenAIProvider()
    call = env.build_chat_call(req("gpt-3.5-turbo"), stream=False)
    assert call.url == "http://127.0.0.1:9/v1/chat/completions"
    assert call.headers["Authorization"] == "Bearer sk-env"
    assert call.headers["OpenAI-Organization"] == "org-env"
    assert call.headers["OpenAI-Project"] == "proj-env"
    # A request header overrides the provider's (case-insensitively).
    call = env.build_chat_call(req("gpt-3.5-turbo", extra_headers={"user-agent": "mine/1"}), stream=False)
    assert call.headers["user-agent"] == "mine/1" and "User-Agent" not in call.headers


def test_missing_key_is_a_configuration_error_naming_the_variable() -> None:
    p = OpenAIProvider()
    assert "api_key=missing" in repr(p)
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        p.build_chat_call(req("gpt-4o"), stream=True)


def test_key_never_in_repr() -> None:
    p = provider(organization="org-1")
    assert KEY not in repr(p) and "api_key=set" in repr(p)
    a = AzureOpenAIProvider(api_key=KEY, endpoint="https://r.openai.azure.com")
    assert KEY not in repr(a)


def test_registry_builds_both_without_network_or_keys() -> None:
    registry = ProviderRegistry.default()
    assert isinstance(registry.create("openai"), OpenAIProvider)
    azure = registry.create("azure-openai")
    assert isinstance(azure, AzureOpenAIProvider)
    assert azure.name == "azure-openai"


# -- Chat Completions bodies -------------------------------------------------------------------
def test_chat_body_system_prompt_and_stream_options() -> None:
    body = chat_body(req("gpt-3.5-turbo", system="Be brief."))
    assert body == {
        "model": "gpt-3.5-turbo",
        "temperature": 0.0,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    # Not streaming: neither stream nor stream_options.
    assert chat_body(req("gpt-3.5-turbo"), stream=False) == {
        "model": "gpt-3.5-turbo",
        "temperature": 0.0,
        "messages": [{"role": "user", "content": "Hi"}],
    }


def test_chat_body_system_messages_join_the_system_prompt() -> None:
    request = req(
        "gpt-3.5-turbo",
        {"role": "system", "content": "Second."},
        {"role": "user", "content": "Hi"},
        system="First.",
    )
    assert chat_body(request, stream=False)["messages"] == [
        {"role": "system", "content": "First.\n\nSecond."},
        {"role": "user", "content": "Hi"},
    ]


def test_chat_body_o_family_uses_developer_message_and_effort() -> None:
    # openai.ts handleO3FamilyMessage: developer message, reasoning_effort, no temperature,
    # max_completion_tokens.
    body = chat_body(req("o3-mini-high", system="Sys", max_tokens=512, temperature=0.7, options={"api": "chat"}))
    assert body == {
        "model": "o3-mini-high",
        "messages": [
            {"role": "developer", "content": "Formatting re-enabled\nSys"},
            {"role": "user", "content": "Hi"},
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "reasoning_effort": "high",
        "max_completion_tokens": 512,
    }
    # A request effort beats the model's default; unknown o-family ids get none by default.
    assert chat_body(req("o4-mini", reasoning_effort="low", options={"api": "chat"}))["reasoning_effort"] == "low"
    assert "reasoning_effort" not in chat_body(req("o1-pro", system="S"))
    assert chat_body(req("o1-pro", system="S"))["messages"][0]["role"] == "developer"


def test_chat_body_reasoning_effort_rules_outside_the_o_family() -> None:
    chat = {"api": "chat"}
    # GPT-5 on Chat Completions: the model's default effort, no temperature (it rejects one).
    body = chat_body(req("gpt-5", options=chat))
    assert body == {
        "model": "gpt-5",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "reasoning_effort": "medium",
    }
    assert chat_body(req("gpt-5", reasoning_effort="high", options=chat))["reasoning_effort"] == "high"
    # reasoning.ts: "minimal" is never sent on this path.
    assert "reasoning_effort" not in chat_body(req("gpt-5", reasoning_effort="minimal", options=chat))
    # A model without reasoning effort drops the request's (Roo's shouldUseReasoningEffort).
    assert "reasoning_effort" not in chat_body(req("gpt-4o", reasoning_effort="high", options=chat))
    # Unknown models are trusted.
    assert chat_body(req("my-reasoner", reasoning_effort="high"))["reasoning_effort"] == "high"


def test_chat_body_temperature_rules() -> None:
    chat = {"api": "chat"}
    assert chat_body(req("gpt-4o", temperature=0.3, top_p=0.9, options=chat))["temperature"] == 0.3
    assert chat_body(req("gpt-4o", temperature=0.3, top_p=0.9, options=chat))["top_p"] == 0.9
    for model in ("gpt-5", "gpt-5-mini-2025-08-07", "codex-mini-latest", "o1", "gpt-5-pro", "o3"):
        body = chat_body(req(model, temperature=0.3, top_p=0.5, options=chat))
        assert "temperature" not in body and "top_p" not in body, model
    # gpt-5-chat-latest accepts one (the table does not say otherwise).
    assert chat_body(req("gpt-5-chat-latest", options=chat))["temperature"] == 0.0
    # default_temperature=None sends no default; a request value is still sent.
    assert "temperature" not in chat_body(req("gpt-4o", options=chat), p=provider(default_temperature=None))
    assert (
        chat_body(req("gpt-4o", temperature=1.2, options=chat), p=provider(default_temperature=None))["temperature"]
        == 1.2
    )


def test_chat_body_images_tools_and_tool_results() -> None:
    messages = (
        Message("user", (TextPart("What is this?"), ImagePart(data=PNG, media_type="image/png"))),
        Message("assistant", "Let me check.", tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),)),
        Message("tool", "18C and sunny", tool_call_id="call_1"),
        Message("assistant", (), tool_calls=(ToolCall("call_2", "get_weather", '{"city":"Rome"}'),)),
        Message(
            "tool", (TextPart("line 1"), ImagePart(url="https://x/y.png"), TextPart("line 2")), tool_call_id="call_2"
        ),
        Message("user", (ImagePart(url="https://example.com/cat.jpg"),), name="alice"),
    )
    request = ChatRequest(
        model="gpt-4.1-nano",
        messages=messages,
        system="Sys",
        tools=(WEATHER, Tool("noop")),
        tool_choice="get_weather",
        response_format={"type": "json_object"},
        stop=("END",),
        user="u-1",
        max_tokens=100,
        options={"api": "chat"},
    )
    assert chat_body(request, stream=False) == {
        "model": "gpt-4.1-nano",
        "temperature": 0.0,
        "messages": [
            {"role": "system", "content": "Sys"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            },
            {
                "role": "assistant",
                "content": "Let me check.",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C and sunny"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city":"Rome"}'},
                    }
                ],
            },
            # openai-format.ts: a tool result's image becomes a placeholder line.
            {
                "role": "tool",
                "tool_call_id": "call_2",
                "content": "line 1\n(see following user message for image)\nline 2",
            },
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}],
                "name": "alice",
            },
        ],
        "max_completion_tokens": 100,
        "stop": ["END"],
        "tools": [
            {
                "type": "function",
                "function": {"name": "get_weather", "description": "Weather for a city", "parameters": WEATHER_SCHEMA},
            },
            {"type": "function", "function": {"name": "noop", "parameters": {"type": "object", "properties": {}}}},
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        "response_format": {"type": "json_object"},
        "user": "u-1",
    }


def test_chat_body_assistant_parts_are_joined_and_tool_choice_keywords() -> None:
    messages = (
        Message("user", "a"),
        Message("assistant", (TextPart("one"), TextPart("two"))),
        Message("user", "b"),
    )
    body = chat_body(ChatRequest(model="gpt-3.5-turbo", messages=messages, tool_choice="required", tools=(WEATHER,)))
    assert body["messages"][1] == {"role": "assistant", "content": "one\ntwo"}
    assert body["tool_choice"] == "required"
    mapping = {"type": "function", "function": {"name": "get_weather"}}
    assert chat_body(req("gpt-3.5-turbo", tool_choice=mapping))["tool_choice"] == mapping


def test_chat_body_extra_body_merges_last_and_none_removes() -> None:
    body = chat_body(
        req("gpt-3.5-turbo", extra_body={"temperature": None, "seed": 7, "stream_options": {"include_usage": False}})
    )
    assert "temperature" not in body
    assert body["seed"] == 7
    assert body["stream_options"] == {"include_usage": False}


def test_chat_body_no_stream_options_for_xai_hosts() -> None:
    p = provider(base_url="https://api.x.ai/v1")
    body = chat_body(req("grok-3"), p=p)
    assert body["stream"] is True and "stream_options" not in body


# -- Responses bodies ---------------------------------------------------------------------------
def test_responses_body_gpt4o_mini() -> None:
    assert responses_body(req("gpt-4o-mini", system="Be brief.")) == {
        "model": "gpt-4o-mini",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
        "stream": True,
        "store": True,
        "instructions": "Be brief.",
        "temperature": 0.0,
        # Roo's reservation: min(16384, ceil(128000 * 0.2)).
        "max_output_tokens": 16384,
    }


def test_responses_body_gpt5_reasoning_and_verbosity() -> None:
    assert responses_body(req("gpt-5", system="S"), stream=False) == {
        "model": "gpt-5",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
        "stream": False,
        "store": True,
        "instructions": "S",
        "reasoning": {"effort": "medium", "summary": "auto"},
        "max_output_tokens": 128000,
        "text": {"verbosity": "medium"},
    }
    body = responses_body(
        req("gpt-5-mini-2025-08-07", reasoning_effort="minimal", max_tokens=2000, options={"verbosity": "low"})
    )
    assert body["reasoning"] == {"effort": "minimal", "summary": "auto"}
    assert body["max_output_tokens"] == 2000
    assert body["text"] == {"verbosity": "low"}
    assert "reasoning" in responses_body(req("gpt-5", options={"reasoning_summary": "detailed"}))
    assert responses_body(req("gpt-5", options={"reasoning_summary": "detailed"}))["reasoning"]["summary"] == "detailed"
    assert responses_body(req("gpt-5"), p=provider(reasoning_summary=False))["reasoning"] == {"effort": "medium"}
    assert responses_body(req("gpt-5", options={"reasoning_summary": False}))["reasoning"] == {"effort": "medium"}


def test_responses_body_model_rules() -> None:
    # o3: reasoning with the model default; no temperature; max output capped at 20% of 200k.
    o3 = responses_body(req("o3"))
    assert o3["reasoning"] == {"effort": "medium", "summary": "auto"}
    assert "temperature" not in o3 and o3["max_output_tokens"] == 40000
    # o3-mini-high is a setting: the id sent is o3-mini, the effort high.
    mini = responses_body(req("o3-mini-high"))
    assert mini["model"] == "o3-mini" and mini["reasoning"]["effort"] == "high"
    # gpt-5-chat-latest: no reasoning, Roo's GPT-5 default temperature 1.0, verbosity.
    chat_latest = responses_body(req("gpt-5-chat-latest"))
    assert "reasoning" not in chat_latest
    assert chat_latest["temperature"] == 1.0 and chat_latest["text"] == {"verbosity": "medium"}
    assert chat_latest["max_output_tokens"] == 128000
    # gpt-4.1: its max output (32768) is below 20% of its context window.
    assert responses_body(req("gpt-4.1", temperature=0.5))["temperature"] == 0.5
    assert responses_body(req("gpt-4.1"))["max_output_tokens"] == 32768
    # o1 has no default effort; a request effort is sent as asked.
    assert "reasoning" not in responses_body(req("o1"))
    assert responses_body(req("o1", reasoning_effort="high"))["reasoning"]["effort"] == "high"
    # Unknown model forced to Responses: no table facts, so no max_output_tokens default.
    unknown = responses_body(req("gpt-9", options={"api": "responses"}))
    assert "max_output_tokens" not in unknown and unknown["temperature"] == 0.0
    assert "temperature" not in responses_body(req("gpt-5.1", options={"api": "responses"}))


def test_responses_body_store_previous_tier_and_include() -> None:
    messages = (
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": "second"},
    )
    body = responses_body(
        req(
            "o4-mini",
            *messages,
            options={
                "store": False,
                "previous_response_id": "resp_1",
                "service_tier": "flex",
                "include": ["reasoning.encrypted_content"],
            },
        )
    )
    assert body == {
        "model": "o4-mini",
        # Continuation: only what follows the last assistant message.
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "second"}]}],
        "stream": True,
        "store": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "max_output_tokens": 40000,
        "previous_response_id": "resp_1",
        "service_tier": "flex",
        "include": ["reasoning.encrypted_content"],
    }
    # Roo sends a tier only when it is "default" or one the model lists.
    assert "service_tier" not in responses_body(req("gpt-4o", options={"service_tier": "flex"}))
    assert responses_body(req("gpt-4o", options={"service_tier": "default"}))["service_tier"] == "default"
    assert responses_body(req("gpt-4o", options={"service_tier": "priority"}))["service_tier"] == "priority"
    with pytest.raises(ConfigurationError, match="'store'"):
        responses_body(req("gpt-4o", options={"store": "no"}))
    with pytest.raises(ConfigurationError, match="'include'"):
        responses_body(req("gpt-4o", options={"include": "x"}))
    with pytest.raises(ConfigurationError, match="'verbosity'"):
        responses_body(req("gpt-5", options={"verbosity": "loud"}))


def test_responses_body_full_conversation_with_images_tools_and_format() -> None:
    messages = (
        Message("user", (TextPart("Look"), ImagePart(data=PNG, media_type="image/jpeg"))),
        Message("assistant", "Checking.", tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),)),
        Message("tool", "18C", tool_call_id="call_1"),
        Message("assistant", ""),
        Message("user", "Thanks"),
    )
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    request = ChatRequest(
        model="gpt-5-nano",
        messages=messages,
        system="Sys",
        tools=(WEATHER,),
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        response_format={"type": "json_schema", "json_schema": {"name": "out", "schema": schema, "strict": True}},
        top_p=0.5,
        user="u-2",
    )
    assert responses_body(request) == {
        "model": "gpt-5-nano",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "Look"},
                    {"type": "input_image", "image_url": f"data:image/jpeg;base64,{PNG}"},
                ],
            },
            {"role": "assistant", "content": [{"type": "output_text", "text": "Checking."}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
            # The empty assistant message is skipped (Roo skips messages without content).
            {"role": "user", "content": [{"type": "input_text", "text": "Thanks"}]},
        ],
        "stream": True,
        "store": True,
        "instructions": "Sys",
        "reasoning": {"effort": "medium", "summary": "auto"},
        "max_output_tokens": 128000,
        "text": {
            "verbosity": "medium",
            "format": {"type": "json_schema", "name": "out", "schema": schema, "strict": True},
        },
        "tools": [
            {
                "type": "function",
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": WEATHER_SCHEMA,
                "strict": False,
            }
        ],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "user": "u-2",
    }


def test_responses_text_format_and_stop_rejected() -> None:
    assert responses_text_format({"type": "json_object"}) == {"type": "json_object"}
    assert responses_text_format(None) is None
    with pytest.raises(ConfigurationError, match="stop"):
        provider().build_chat_call(req("gpt-4o", stop=("x",)), stream=True)
    body = responses_body(req("gpt-4o", tool_choice="auto", tools=(WEATHER,)))
    assert body["tool_choice"] == "auto"
    assert responses_body(req("gpt-4o", tool_choice="get_weather"))["tool_choice"] == {
        "type": "function",
        "name": "get_weather",
    }


# -- completions ----------------------------------------------------------------------------------
def test_completion_bodies() -> None:
    p = provider()
    legacy = p.build_completion_call(
        CompletionRequest(model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=5, stop=("\n",)), stream=True
    )
    assert legacy is not None
    assert legacy.url == "https://api.openai.com/v1/completions" and legacy.dialect == "openai-chat"
    assert legacy.json == {
        "model": "gpt-3.5-turbo-instruct",
        "prompt": "Say hi",
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 5,
        "stop": ["\n"],
    }
    # Roo's completePrompt on Chat Completions: one user message, no default temperature.
    chat = p.build_completion_call(
        CompletionRequest(model="gpt-3.5-turbo", prompt="Say hi", max_tokens=9), stream=False
    )
    assert chat is not None and chat.url.endswith("/chat/completions")
    assert chat.json == {
        "model": "gpt-3.5-turbo",
        "messages": [{"role": "user", "content": "Say hi"}],
        "max_completion_tokens": 9,
    }
    # ... and on the Responses API: store false, no instructions.
    resp = p.build_completion_call(CompletionRequest(model="gpt-5", prompt="Say hi"), stream=False)
    assert resp is not None and resp.url.endswith("/responses") and resp.dialect is None
    assert resp.json == {
        "model": "gpt-5",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Say hi"}]}],
        "stream": False,
        "store": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "max_output_tokens": 128000,
        "text": {"verbosity": "medium"},
    }
    streamed = p.build_completion_call(CompletionRequest(model="gpt-4o", prompt="x", temperature=0.2), stream=True)
    assert streamed is not None and streamed.dialect == "openai-responses"
    assert streamed.json["temperature"] == 0.2 and streamed.json["stream"] is True


# -- Azure ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("endpoint", "deployment", "expected"),
    [
        (
            "https://res.openai.azure.com",
            None,
            "https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions",
        ),
        (
            "https://res.openai.azure.com/",
            "prod",
            "https://res.openai.azure.com/openai/deployments/prod/chat/completions",
        ),
        (
            "https://res.openai.azure.com/openai",
            None,
            "https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions",
        ),
        (
            "https://res.openai.azure.com/openai/deployments/fixed",
            None,
            "https://res.openai.azure.com/openai/deployments/fixed/chat/completions",
        ),
    ],
)
def test_azure_urls(endpoint: str, deployment: str | None, expected: str) -> None:
    a = AzureOpenAIProvider(api_key=KEY, endpoint=endpoint, deployment=deployment)
    call = a.build_chat_call(req("gpt-4o"), stream=True)
    assert call.url == expected
    assert call.params == {"api-version": "2024-08-01-preview"}
    assert call.dialect == "openai-chat"


def test_azure_headers_body_and_api_version(monkeypatch: pytest.MonkeyPatch) -> None:
    a = AzureOpenAIProvider(api_key=KEY, endpoint="https://res.openai.azure.com")
    call = a.build_chat_call(req("gpt-4o", system="Sys"), stream=True)
    # api-key, and no Authorization header.
    assert dict(call.headers) == {
        "api-key": KEY,
        "User-Agent": "tokenwire/0.1.0",
        "Accept": "text/event-stream",
        "Content-Type": "application/json",
    }
    # Azure always goes to Chat Completions, with Roo's Chat body (model kept, as the SDK does).
    assert call.json == {
        "model": "gpt-4o",
        "temperature": 0.0,
        "messages": [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    assert AzureOpenAIProvider(
        api_key=KEY, endpoint="https://r.openai.azure.com", api_version="2025-01-01"
    ).build_chat_call(req("gpt-4o"), stream=False).params == {"api-version": "2025-01-01"}
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "az-env-key")
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://env.openai.azure.com")
    monkeypatch.setenv("OPENAI_API_VERSION", "2024-10-21")
    env = AzureOpenAIProvider()
    call = env.build_chat_call(req("gpt-4o"), stream=False)
    assert call.url == "https://env.openai.azure.com/openai/deployments/gpt-4o/chat/completions"
    assert call.params == {"api-version": "2024-10-21"} and call.headers["api-key"] == "az-env-key"
    models = env.build_models_call()
    assert models is not None and models.url == "https://env.openai.azure.com/openai/models"
    assert models.params == {"api-version": "2024-10-21"}
    completion = env.build_completion_call(CompletionRequest(model="gpt-35-instruct", prompt="p"), stream=False)
    assert completion is not None and completion.url.endswith("/openai/deployments/gpt-35-instruct/chat/completions")
    legacy = env.build_completion_call(CompletionRequest(model="gpt-3.5-turbo-instruct", prompt="p"), stream=False)
    assert legacy is not None
    assert legacy.url == "https://env.openai.azure.com/openai/deployments/gpt-3.5-turbo-instruct/completions"


def test_azure_ai_inference_and_errors() -> None:
    a = AzureOpenAIProvider(api_key=KEY, endpoint="https://proj.services.ai.azure.com")
    call = a.build_chat_call(req("DeepSeek-R1"), stream=True)
    assert call.url == "https://proj.services.ai.azure.com/models/chat/completions"
    assert call.params == {"api-version": "2024-05-01-preview"}
    assert call.headers["Authorization"] == f"Bearer {KEY}" and "api-key" not in call.headers
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_ENDPOINT"):
        AzureOpenAIProvider(api_key=KEY).build_chat_call(req("gpt-4o"), stream=True)
    with pytest.raises(ConfigurationError, match="AZURE_OPENAI_API_KEY"):
        AzureOpenAIProvider(endpoint="https://r.openai.azure.com").build_chat_call(req("gpt-4o"), stream=True)
    with pytest.raises(ConfigurationError, match="Responses"):
        AzureOpenAIProvider(api_key=KEY, endpoint="https://r.openai.azure.com").build_chat_call(
            req("gpt-4o", options={"api": "responses"}), stream=True
        )
    with pytest.raises(ConfigurationError, match="not both"):
        AzureOpenAIProvider(endpoint="https://a", base_url="https://b")


# -- parsing ---------------------------------------------------------------------------------------
def test_parse_chat_completion_body_with_tools_reasoning_and_usage() -> None:
    data = {
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "reasoning_content": "think",
                    "tool_calls": [
                        {"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {
            "prompt_tokens": 10,
            "completion_tokens": 5,
            "prompt_tokens_details": {"cached_tokens": 3},
            "completion_tokens_details": {"reasoning_tokens": 2},
        },
    }
    answer = provider().parse_chat_response(data, model="m", request_id="req_1")
    assert answer.text == "" and answer.reasoning == "think"
    assert answer.tool_calls == (ToolCall("call_a", "f", '{"x":1}'),)
    assert answer.usage == Usage(10, 5, 3, 0, 2)
    assert answer.finish_reason == "tool_calls" and answer.request_id == "req_1" and answer.provider == "openai"


def test_parse_responses_body() -> None:
    data = {
        "object": "response",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "output": [
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "plan "}, {"type": "summary_text", "text": "more"}],
            },
            {
                "type": "message",
                "content": [
                    {
                        "type": "output_text",
                        "text": "Hello",
                        "annotations": [{"type": "url_citation", "url": "https://a", "title": "A"}],
                    }
                ],
            },
            {"type": "function_call", "call_id": "call_9", "name": "g", "arguments": "{}"},
        ],
        "usage": {
            "input_tokens": 7,
            "output_tokens": 9,
            "input_tokens_details": {"cached_tokens": 4},
            "output_tokens_details": {"reasoning_tokens": 6},
        },
    }
    answer = provider().parse_chat_response(data, model="gpt-5", request_id=None)
    assert (answer.text, answer.reasoning) == ("Hello", "plan more")
    assert answer.tool_calls == (ToolCall("call_9", "g", "{}"),)
    assert answer.citations == (Citation("https://a", "A"),)
    assert answer.usage == Usage(7, 9, 4, 0, 6)
    assert answer.finish_reason == "max_output_tokens"


def test_parse_error_in_a_200_body_raises_typed_error() -> None:
    with pytest.raises(RateLimitError) as info:
        provider().parse_chat_response(
            {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}},
            model="gpt-4o",
            request_id="req_9",
        )
    assert info.value.message == "slow down" and info.value.request_id == "req_9" and info.value.model == "gpt-4o"
    with pytest.raises(AuthenticationError):
        provider().parse_chat_response(
            {"error": {"message": "bad key", "type": "invalid_api_key"}}, model="m", request_id=None
        )
    with pytest.raises(ProviderError, match="unexpected response body"):
        provider().parse_chat_response([1, 2], model="m", request_id=None)


def test_parse_models_dedups_and_enriches() -> None:
    data = {
        "object": "list",
        "data": [
            {"id": "gpt-4o", "object": "model", "owned_by": "system"},
            {"id": "whisper-1", "object": "model"},
            {"id": "gpt-4o", "object": "model"},
            {"object": "model"},
        ],
    }
    models = provider().parse_models(data)
    assert [m.id for m in models] == ["gpt-4o", "whisper-1"]
    gpt4o = models[0]
    assert (gpt4o.context_window, gpt4o.max_output_tokens, gpt4o.input_price, gpt4o.output_price) == (
        128_000,
        16_384,
        2.5,
        10.0,
    )
    assert gpt4o.supports_images and gpt4o.supports_prompt_cache and not gpt4o.supports_reasoning
    assert models[1].context_window is None and models[1].provider == "openai"


# -- recorded non-streaming bodies ------------------------------------------------------------------
def _recorded(path: str) -> Any:
    return json.loads((require_recorded() / "vercel-ai" / path).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "path",
    [
        "openai/openai-text.json",
        "groq/groq-text.json",
        "groq/groq-reasoning.json",
        "groq/groq-tool-call.json",
        "deepseek/deepseek-reasoning.json",
        "deepseek/deepseek-tool-call.json",
        "openai-compatible/xai-tool-call.json",
    ],
)
def test_recorded_chat_completion_bodies(path: str) -> None:
    data = _recorded(path)
    answer = provider().parse_chat_response(data, model="m", request_id=None)
    message = data["choices"][0]["message"]
    assert answer.text == (message.get("content") or "")
    assert answer.reasoning == (message.get("reasoning_content") or message.get("reasoning") or "")
    expected_calls = tuple(
        ToolCall(c["id"], c["function"]["name"], c["function"]["arguments"]) for c in message.get("tool_calls") or ()
    )
    assert answer.tool_calls == expected_calls
    assert answer.usage is not None
    assert answer.usage.input_tokens == data["usage"]["prompt_tokens"]
    assert answer.usage.output_tokens == data["usage"]["completion_tokens"]
    assert answer.finish_reason == data["choices"][0]["finish_reason"]


@pytest.mark.parametrize(
    "path",
    [
        "openai/openai-reasoning-encrypted-content.1.json",
        "openai/openai-web-search-tool.1.json",
        "openai/openai-tool-search.1.json",
        "openai/parallel-tool-call-wrapper.1.json",
        "openai/openai-phase.1.json",
    ],
)
def test_recorded_responses_bodies(path: str) -> None:
    data = _recorded(path)
    answer = provider().parse_chat_response(data, model="m", request_id=None)
    text = "".join(
        part["text"]
        for item in data["output"]
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )
    reasoning = "".join(
        part["text"] for item in data["output"] if item["type"] == "reasoning" for part in item.get("summary") or ()
    )
    calls = tuple(
        ToolCall(item["call_id"], item["name"], item["arguments"])
        for item in data["output"]
        if item["type"] == "function_call"
    )
    urls = [
        note["url"]
        for item in data["output"]
        if item["type"] == "message"
        for part in item["content"]
        for note in part.get("annotations") or ()
        if note.get("type") == "url_citation"
    ]
    assert (answer.text, answer.reasoning, answer.tool_calls) == (text, reasoning, calls)
    assert [c.url for c in answer.citations] == urls
    assert answer.usage is not None and answer.usage.input_tokens == data["usage"]["input_tokens"]
    assert answer.usage.cache_read_tokens == data["usage"]["input_tokens_details"]["cached_tokens"]
    assert answer.usage.reasoning_tokens == data["usage"]["output_tokens_details"]["reasoning_tokens"]
    assert answer.finish_reason == data["status"]


def test_recorded_legacy_completion_body() -> None:
    data = _recorded("openai/openai-completion-text.json")
    answer = provider().parse_completion_response(data, model="gpt-3.5-turbo-instruct", request_id="r")
    assert answer.text == data["choices"][0]["text"]
    assert answer.finish_reason == "length"
    assert answer.usage == Usage(14, 16, 0, 0, 0)
    # A chat body through parse_completion_response gives the same text as chat().
    chat = _recorded("openai/openai-text.json")
    assert (
        provider().parse_completion_response(chat, model="m", request_id=None).text
        == chat["choices"][0]["message"]["content"]
    )


def test_option_edge_cases() -> None:
    # An explicit None means "unset"; a wrong type is a clear error.
    assert responses_body(req("gpt-5", options={"reasoning_summary": None}))["reasoning"] == {
        "effort": "medium",
        "summary": "auto",
    }
    with pytest.raises(ConfigurationError, match="reasoning_summary"):
        responses_body(req("gpt-5", options={"reasoning_summary": 1}))
    with pytest.raises(ConfigurationError, match="previous_response_id"):
        responses_body(req("gpt-5", options={"previous_response_id": ""}))
    # Completions on a reasoning model: no temperature or top_p.
    call = provider().build_completion_call(
        CompletionRequest(model="o3", prompt="x", temperature=0.5, top_p=0.5, options={"api": "chat"}), stream=False
    )
    assert call is not None and call.json == {"model": "o3", "messages": [{"role": "user", "content": "x"}]}
    assert provider().completion_api(CompletionRequest(model="davinci-002", prompt="x")) == "completions"
    # base_url is a synonym of endpoint for Azure.
    azure = AzureOpenAIProvider(api_key=KEY, base_url="https://res.openai.azure.com")
    assert azure.endpoint == "https://res.openai.azure.com" and not azure.is_ai_inference
