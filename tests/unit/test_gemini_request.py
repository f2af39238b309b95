"""Gemini request building and response parsing, without network.

Expected bodies are written out in full: Roo-Code's Gemini handler (gemini.ts,
gemini-format.ts, model-params.ts at 9bcd9918) as the @google/genai SDK puts it on the
wire, in tokenwire's request model.
"""

from __future__ import annotations

import json
import pickle
from typing import Any

import pytest

from tokenwire.errors import BadRequestError, ConfigurationError, OverloadedError, ProviderError
from tokenwire.providers.gemini import (
    GEMINI_MODELS,
    GeminiProvider,
    SafetyBlockedError,
    convert_contents,
    convert_tool_choice,
    function_declaration,
    gemini_params,
    parse_generate_content,
)
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

KEY = "AIzaSy-unit-test-key-0123456789abcdef"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(var, raising=False)


def provider(**options: Any) -> GeminiProvider:
    options.setdefault("api_key", KEY)
    return GeminiProvider(**options)


def req(model: str = "gemini-2.0-flash-001", messages: Any = None, **fields: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=coerce_messages(messages or [{"role": "user", "content": "hi"}]), **fields)


def body(request: ChatRequest, **options: Any) -> dict[str, Any]:
    return provider(**options).build_chat_call(request, stream=False).json  # type: ignore[no-any-return]


def config(request: ChatRequest, **options: Any) -> dict[str, Any]:
    return body(request, **options).get("generationConfig", {})  # type: ignore[no-any-return]


# -- URLs, headers, registry --------------------------------------------------------------------


def test_calls_urls_and_headers() -> None:
    p = provider()
    stream = p.build_chat_call(req(), stream=True)
    assert (stream.method, stream.url, dict(stream.params), stream.dialect) == (
        "POST",
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.0-flash-001:streamGenerateContent",
        {"alt": "sse"},
        "gemini",
    )
    assert stream.headers == {"x-goog-api-key": KEY, "content-type": "application/json"}
    plain = p.build_chat_call(req(), stream=False)
    assert (plain.url.rsplit(":", 1)[1], dict(plain.params), plain.dialect) == ("generateContent", {}, None)
    models = p.build_models_call(page_token="tok")
    assert (models.method, models.url, dict(models.params)) == (
        "GET",
        "https://generativelanguage.googleapis.com/v1beta/models",
        {"pageSize": "1000", "pageToken": "tok"},
    )
    assert models.headers == {"x-goog-api-key": KEY}


@pytest.mark.parametrize(
    ("model", "path"),
    [
        ("models/gemini-2.5-pro", "v1beta/models/gemini-2.5-pro"),
        ("tunedModels/my-tune", "v1beta/tunedModels/my-tune"),
        ("gemini-2.5-flash-preview-04-17:thinking", "v1beta/models/gemini-2.5-flash-preview-04-17"),
    ],
)
def test_model_paths(model: str, path: str) -> None:
    assert provider().build_chat_call(req(model), stream=False).url == (
        f"https://generativelanguage.googleapis.com/{path}:generateContent"
    )


def test_extra_headers_api_version_and_base_url() -> None:
    p = provider(base_url="http://proxy.local/gemini/", api_version="v1", headers={"x-goog-user-project": "p"})
    call = p.build_chat_call(req(extra_headers={"X-Trace": "1"}), stream=False)
    assert call.url == "http://proxy.local/gemini/v1/models/gemini-2.0-flash-001:generateContent"
    assert call.headers == {
        "x-goog-api-key": KEY,
        "content-type": "application/json",
        "x-goog-user-project": "p",
        "X-Trace": "1",
    }
    with pytest.raises(ConfigurationError):
        provider(api_version="v1/beta")


def test_env_vars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", "from-google-api-key")
    assert GeminiProvider().api_key == "from-google-api-key"
    monkeypatch.setenv("GEMINI_API_KEY", "from-gemini-api-key")
    assert GeminiProvider().api_key == "from-gemini-api-key"
    monkeypatch.setenv("GEMINI_BASE_URL", "http://b.local")
    assert GeminiProvider().base_url == "http://b.local"
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://a.local/")
    assert GeminiProvider().base_url == "http://a.local"
    assert GeminiProvider(api_key="arg", base_url="http://c.local").api_key == "arg"


def test_missing_key_names_the_env_vars() -> None:
    with pytest.raises(ConfigurationError, match=r"pass api_key=\.\.\. or set GEMINI_API_KEY / GOOGLE_API_KEY"):
        GeminiProvider().build_chat_call(req(), stream=True)


def test_registry_and_repr() -> None:
    p = ProviderRegistry.default().create("gemini", api_key=KEY)
    assert isinstance(p, GeminiProvider)
    assert KEY not in repr(p) and "api_key=set" in repr(p)
    assert p.capabilities.count_tokens_endpoint and p.capabilities.images


# -- parameters (Roo's getModelParams, gemini format) ---------------------------------------------


@pytest.mark.parametrize(
    ("model", "fields", "expected"),
    [
        # Plain models: the table's max output capped at 20% of the context window; temperature 0.
        ("gemini-2.0-flash-001", {}, {"temperature": 0.0, "maxOutputTokens": 8192}),
        ("gemini-2.0-flash-thinking-exp-1219", {}, {"temperature": 0.0, "maxOutputTokens": 6554}),
        # A budget-capable model thinks only when asked.
        ("gemini-2.5-flash", {}, {"temperature": 0.0, "maxOutputTokens": 64000}),
        (
            "gemini-2.5-flash",
            {"options": {"thinking": True}},
            {
                "temperature": 0.0,
                "maxOutputTokens": 16384,
                "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True},
            },
        ),
        # The budget is capped at 80% of max output and raised to 1024.
        (
            "gemini-2.5-flash",
            {"thinking_budget": 50_000, "max_tokens": 10_000},
            {
                "temperature": 0.0,
                "maxOutputTokens": 10000,
                "thinkingConfig": {"thinkingBudget": 8000, "includeThoughts": True},
            },
        ),
        (
            "gemini-2.5-flash-lite-preview-06-17",
            {"thinking_budget": 10},
            {
                "temperature": 0.0,
                "maxOutputTokens": 16384,
                "thinkingConfig": {"thinkingBudget": 1024, "includeThoughts": True},
            },
        ),
        # Gemini 2.5 Pro requires thinking; its default and floor are 128.
        (
            "gemini-2.5-pro",
            {"thinking_budget": 64},
            {
                "temperature": 0.0,
                "maxOutputTokens": 16384,
                "thinkingConfig": {"thinkingBudget": 128, "includeThoughts": True},
            },
        ),
        # The ":thinking" entries always think, even when asked not to.
        (
            "gemini-2.5-flash-preview-04-17:thinking",
            {"options": {"thinking": False}, "temperature": 0.3},
            {
                "temperature": 0.3,
                "maxOutputTokens": 16384,
                "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True},
            },
        ),
        # Models without a budget ignore the request for one.
        ("gemini-2.0-flash-001", {"thinking_budget": 4000}, {"temperature": 0.0, "maxOutputTokens": 8192}),
        # Unknown models: no max output unless asked; thinking when asked.
        ("gemini-9-ultra", {}, {"temperature": 0.0}),
        (
            "gemini-9-ultra",
            {"thinking_budget": 3000, "options": {"include_thoughts": False}},
            {
                "temperature": 0.0,
                "maxOutputTokens": 16384,
                "thinkingConfig": {"thinkingBudget": 3000, "includeThoughts": False},
            },
        ),
        # Explicit 0 / -1 budgets are sent as given (off / dynamic).
        (
            "gemini-2.5-flash",
            {"thinking_budget": 0},
            {
                "temperature": 0.0,
                "maxOutputTokens": 16384,
                "thinkingConfig": {"thinkingBudget": 0, "includeThoughts": False},
            },
        ),
        (
            "gemini-2.5-flash",
            {"thinking_budget": -1},
            {
                "temperature": 0.0,
                "maxOutputTokens": 16384,
                "thinkingConfig": {"thinkingBudget": -1, "includeThoughts": True},
            },
        ),
        # Sampling parameters and stop sequences.
        (
            "gemini-2.0-flash-001",
            {"temperature": 0.9, "top_p": 0.5, "stop": ("a", "b"), "max_tokens": 77, "options": {"top_k": 40}},
            {"temperature": 0.9, "topP": 0.5, "topK": 40, "maxOutputTokens": 77, "stopSequences": ["a", "b"]},
        ),
    ],
)
def test_generation_config(model: str, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    assert config(req(model, **fields)) == expected


def test_default_temperature_option() -> None:
    assert config(req(), default_temperature=None) == {"maxOutputTokens": 8192}
    assert config(req(), default_temperature=1.0) == {"temperature": 1.0, "maxOutputTokens": 8192}


def test_params_function_and_table() -> None:
    params = gemini_params(req("gemini-2.5-flash-preview-05-20:thinking"))
    assert (params.wire_model, params.max_output_tokens, params.thinking_budget) == (
        "gemini-2.5-flash-preview-05-20",
        16384,
        8192,
    )
    assert len(GEMINI_MODELS) == 23
    assert GEMINI_MODELS["gemini-2.5-pro"].requires_reasoning_budget


def test_response_format() -> None:
    assert config(req(response_format={"type": "json_object"}))["responseMimeType"] == "application/json"
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    got = config(req(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}))
    assert (got["responseMimeType"], got["responseSchema"]) == ("application/json", schema)
    assert "responseMimeType" not in config(req(response_format={"type": "text"}))
    with pytest.raises(ConfigurationError, match="unsupported response_format"):
        body(req(response_format={"type": "xml"}))


# -- contents --------------------------------------------------------------------------------------


def test_system_prompt_and_system_messages() -> None:
    request = req(system="Base.", messages=[{"role": "system", "content": "Extra."}, {"role": "user", "content": "hi"}])
    assert body(request) == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "systemInstruction": {"role": "user", "parts": [{"text": "Base.\n\nExtra."}]},
        "generationConfig": {"temperature": 0.0, "maxOutputTokens": 8192},
    }


def test_images_inline_and_by_uri() -> None:
    message = Message(
        "user",
        (
            TextPart("look"),
            ImagePart(data="AAAA", media_type="image/webp"),
            ImagePart(url="gs://bucket/cat.png"),
            ImagePart.from_url("data:image/gif;base64,R0lG"),
        ),
    )
    assert convert_contents([message]) == [
        {
            "role": "user",
            "parts": [
                {"text": "look"},
                {"inlineData": {"mimeType": "image/webp", "data": "AAAA"}},
                {"fileData": {"mimeType": "image/png", "fileUri": "gs://bucket/cat.png"}},
                {"inlineData": {"mimeType": "image/gif", "data": "R0lG"}},
            ],
        }
    ]


def test_tool_history_names_and_merging() -> None:
    messages = [
        Message("user", "go"),
        Message(
            "assistant",
            "",
            tool_calls=(ToolCall("call_1", "weather", '{"city":"Oslo"}'), ToolCall("calc-42", "calc", "")),
        ),
        # Resolved from the assistant's call, from the message name, and by Roo's fallback.
        Message("tool", "3C", tool_call_id="call_1"),
        Message("tool", (TextPart("4"), TextPart("exact"), ImagePart(data="QQ==")), tool_call_id="calc-42"),
        Message("tool", "", tool_call_id="search-9", name="web_search"),
        Message("tool", "x", tool_call_id="lookup-7"),
        Message("user", "thanks"),
    ]
    assert convert_contents(messages) == [
        {"role": "user", "parts": [{"text": "go"}]},
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "weather", "args": {"city": "Oslo"}}},
                {"functionCall": {"name": "calc", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "weather", "response": {"name": "weather", "content": "3C"}}},
                {
                    "functionResponse": {
                        "name": "calc",
                        "response": {"name": "calc", "content": "4\n\nexact\n\n(See next part for image)"},
                    }
                },
                {"inlineData": {"mimeType": "image/png", "data": "QQ=="}},
                {"functionResponse": {"name": "web_search", "response": {"name": "web_search", "content": ""}}},
                {"functionResponse": {"name": "lookup", "response": {"name": "lookup", "content": "x"}}},
                {"text": "thanks"},
            ],
        },
    ]


def test_empty_messages_are_skipped_and_bad_arguments_rejected() -> None:
    assert convert_contents([Message("user", "a"), Message("assistant", ""), Message("user", "b")]) == [
        {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}
    ]
    with pytest.raises(ValueError, match="not JSON"):
        convert_contents([Message("assistant", "", tool_calls=(ToolCall("c", "f", "{oops"),))])
    with pytest.raises(ConfigurationError, match="no message content"):
        body(req(messages=[{"role": "system", "content": "only system"}]))


# -- tools ------------------------------------------------------------------------------------------


def test_function_declarations() -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    assert function_declaration(Tool("search", "Search the web", schema)) == {
        "name": "search",
        "description": "Search the web",
        "parameters": schema,
    }
    # Gemini rejects an object schema without properties: the parameters are left out.
    assert function_declaration(Tool("now")) == {"name": "now"}
    assert function_declaration(Tool("now", parameters={"type": "object", "properties": {}, "required": []})) == {
        "name": "now"
    }
    array = {"type": "array", "items": {"type": "string"}}
    assert function_declaration(Tool("list", "", array)) == {"name": "list", "parameters": array}


def test_tools_grounding_and_url_context() -> None:
    tools = (Tool("f", "F", {"type": "object", "properties": {"a": {"type": "integer"}}}),)
    got = body(req(tools=tools), grounding=True, url_context=True)["tools"]
    assert got == [
        {
            "functionDeclarations": [
                {
                    "name": "f",
                    "description": "F",
                    "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}},
                }
            ]
        },
        {"urlContext": {}},
        {"googleSearch": {}},
    ]
    assert "tools" not in body(req(options={"grounding": False}), grounding=True)
    assert body(req(options={"url_context": True}))["tools"] == [{"urlContext": {}}]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"functionCallingConfig": {"mode": "AUTO"}}),
        ("required", {"functionCallingConfig": {"mode": "ANY"}}),
        ("any", {"functionCallingConfig": {"mode": "ANY"}}),
        ("none", {"functionCallingConfig": {"mode": "NONE"}}),
        ("weather", {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}}),
        (
            {"type": "function", "function": {"name": "weather"}},
            {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["weather"]}},
        ),
        ({"functionCallingConfig": {"mode": "VALIDATED"}}, {"functionCallingConfig": {"mode": "VALIDATED"}}),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    assert convert_tool_choice(choice) == expected


def test_bad_tool_choice() -> None:
    with pytest.raises(ConfigurationError):
        convert_tool_choice("")
    with pytest.raises(ConfigurationError):
        convert_tool_choice({"type": "nonsense"})


# -- options and extra_body -----------------------------------------------------------------------


def test_options_and_extra_body() -> None:
    safety = [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}]
    request = req(
        options={
            "safety_settings": safety,
            "generation_config": {"seed": 7, "temperature": 0.2},
            "cached_content": "cachedContents/abc",
        },
        extra_body={"labels": {"team": "x"}, "generationConfig": None},
    )
    assert body(request) == {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "safetySettings": safety,
        "cachedContent": "cachedContents/abc",
        "labels": {"team": "x"},
    }
    provider_wide = body(req(), safety_settings=safety)
    assert provider_wide["safetySettings"] == safety
    assert config(req(options={"generation_config": {"seed": 7, "temperature": 0.2}})) == {
        "temperature": 0.2,
        "maxOutputTokens": 8192,
        "seed": 7,
    }


@pytest.mark.parametrize(
    "options",
    [
        {"thinking": "yes"},
        {"top_k": 1.5},
        {"safety_settings": "BLOCK_NONE"},
        {"generation_config": [1]},
        {"cached_content": ""},
        {"grounding": 1},
    ],
)
def test_bad_options(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        body(req(options=options))


def test_count_tokens_call_shapes() -> None:
    p = provider()
    plain = p.build_count_tokens_call(req())
    assert plain.url.endswith("/v1beta/models/gemini-2.0-flash-001:countTokens")
    assert plain.json == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    rich = p.build_count_tokens_call(req("gemini-2.5-pro", system="S", tool_choice="auto", tools=(Tool("f"),)))
    assert rich.json == {
        "generateContentRequest": {
            "model": "models/gemini-2.5-pro",
            "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
            "systemInstruction": {"role": "user", "parts": [{"text": "S"}]},
            "tools": [{"functionDeclarations": [{"name": "f"}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        }
    }


# -- parsing ---------------------------------------------------------------------------------------


def parse(data: Any, **options: Any) -> Any:
    return parse_generate_content(data, provider="gemini", model="m", request_id=None, **options)


def test_parse_full_answer() -> None:
    data = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "plan", "thought": True},
                        {"text": "Hello "},
                        {"text": "", "thoughtSignature": "sig"},
                        {"text": "world"},
                        {"functionCall": {"name": "f", "args": {"x": [1, 2.5, "é"]}, "id": "fc-1"}},
                        {"functionCall": {"name": "g"}},
                    ],
                },
                "finishReason": "STOP",
                "groundingMetadata": {"groundingChunks": [{"web": {"uri": "https://a.b", "title": "A"}}]},
            },
            {"content": {"parts": [{"text": "second candidate is ignored"}]}},
        ],
        "usageMetadata": {
            "promptTokenCount": 10,
            "candidatesTokenCount": 5,
            "cachedContentTokenCount": 4,
            "thoughtsTokenCount": 3,
            "totalTokenCount": 18,
        },
    }
    answer = parse(data)
    assert (answer.text, answer.reasoning, answer.finish_reason) == ("Hello world", "plan", "STOP")
    assert answer.tool_calls == (
        ToolCall("fc-1", "f", '{"x":[1,2.5,"é"]}'),
        ToolCall("call_1", "g", "{}"),
    )
    assert answer.usage == Usage(10, 5, cache_read_tokens=4, reasoning_tokens=3)
    assert answer.citations == (Citation("https://a.b", "A"),)


def test_parse_edge_cases() -> None:
    assert parse({"candidates": []}).text == ""
    assert parse({"usageMetadata": {"totalTokenCount": 3}}).usage is None
    with pytest.raises(ProviderError, match="unexpected response body"):
        parse([1, 2])
    with pytest.raises(OverloadedError) as info:
        parse({"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
    assert (info.value.status, info.value.code, info.value.message) == (503, "503", "busy")


def test_parse_blocks() -> None:
    blocked = {
        "candidates": [{"content": {"parts": []}, "finishReason": "RECITATION", "finishMessage": "copyrighted"}],
        "usageMetadata": {"promptTokenCount": 2},
    }
    with pytest.raises(SafetyBlockedError) as info:
        parse(blocked)
    error = info.value
    assert isinstance(error, BadRequestError)
    assert (error.reason, error.message, error.usage) == (
        "RECITATION",
        "the response was blocked (finishReason RECITATION): copyrighted",
        Usage(2, 0),
    )
    assert parse(blocked, raise_on_block=False).finish_reason == "RECITATION"
    # OTHER is a finish reason, not a block.
    assert parse({"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": "OTHER"}]}).text == "x"
    prompt = {"promptFeedback": {"blockReason": "BLOCKLIST", "blockReasonMessage": "term"}}
    with pytest.raises(SafetyBlockedError, match=r"the prompt was blocked \(blockReason BLOCKLIST\): term"):
        parse(prompt)


def test_safety_error_pickles() -> None:
    error = SafetyBlockedError("blocked", provider="gemini", error_type="SAFETY", usage=Usage(1, 2))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is SafetyBlockedError
    assert (copy.reason, copy.usage, copy.provider, str(copy)) == ("SAFETY", Usage(1, 2), "gemini", str(error))


def test_total_tokens() -> None:
    from tokenwire.providers.gemini import total_tokens

    assert total_tokens({"totalTokens": 5}, provider="gemini", model="m") == 5
    # proto3 JSON leaves zeros out: absent means "not reported" (the caller decides).
    assert total_tokens({}, provider="gemini", model="m") is None
    with pytest.raises(ProviderError, match="non-integer"):
        total_tokens({"totalTokens": "5"}, provider="gemini", model="m")
    with pytest.raises(ProviderError, match="countTokens answered list"):
        total_tokens([], provider="gemini", model="m")


def test_parse_models() -> None:
    data = {
        "models": [
            {
                "name": "models/gemini-2.5-flash",
                "displayName": "Gemini 2.5 Flash",
                "inputTokenLimit": 1048576,
                "outputTokenLimit": 65536,
                "thinking": True,
            },
            {"name": "models/gemini-2.0-flash-001"},
            {"displayName": "no name"},
        ]
    }
    models = provider().parse_models(data)
    assert [(m.id, m.display_name, m.context_window, m.max_output_tokens, m.supports_reasoning) for m in models] == [
        ("gemini-2.5-flash", "Gemini 2.5 Flash", 1048576, 65536, True),
        ("gemini-2.0-flash-001", None, 1048576, 8192, False),
    ]
    assert json.dumps([m.provider for m in models]) == '["gemini", "gemini"]'
