"""GeminiCLIProvider request building and Code Assist stream unwrapping, without network."""

from __future__ import annotations

import json
from typing import Any

import pytest

import tokenwire
from tokenwire.errors import ConfigurationError, ServerError, StreamDecodeError
from tokenwire.providers.gemini_cli import GeminiCLIProvider, unwrap_response
from tokenwire.types import ChatRequest, CompletionRequest, Message, Tool, ToolCall

TOKEN = "ya29.static-access-token"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_CLI_OAUTH_PATH", "GEMINI_CLI_PROJECT_ID", "CODE_ASSIST_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)


def provider(**options: Any) -> GeminiCLIProvider:
    options.setdefault("api_key", TOKEN)
    options.setdefault("project_id", "proj-1")
    return GeminiCLIProvider(**options)


def req(model: str = "gemini-2.0-flash-001", **fields: Any) -> ChatRequest:
    fields.setdefault("messages", (Message("user", "hi"),))
    return ChatRequest(model=model, **fields)


def inner(model: str = "gemini-2.0-flash-001", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = provider().build_chat_call(req(model, **fields), stream=False).json["request"]
    return body


@pytest.mark.parametrize("stream", [True, False])
def test_call_shape(stream: bool) -> None:
    call = provider().build_chat_call(req(system="Be nice.", temperature=None), stream=stream)
    method = "streamGenerateContent" if stream else "generateContent"
    assert (call.method, call.url) == ("POST", f"https://cloudcode-pa.googleapis.com/v1internal:{method}")
    assert dict(call.params) == ({"alt": "sse"} if stream else {})
    assert dict(call.headers) == {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    assert call.json == {
        "model": "gemini-2.0-flash-001",
        "project": "proj-1",
        "request": {
            "contents": [
                {"role": "user", "parts": [{"text": "Be nice."}]},
                {"role": "user", "parts": [{"text": "hi"}]},
            ],
            "generationConfig": {"temperature": 0.7, "maxOutputTokens": 8192},
        },
    }
    assert call.dialect == ("gemini" if stream else None)
    assert dict(call.stream_options) == ({"envelope": "response"} if stream else {})


def test_endpoint_and_project_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODE_ASSIST_ENDPOINT", "https://proxy.example/")
    monkeypatch.setenv("GEMINI_CLI_PROJECT_ID", "env-project")
    call = GeminiCLIProvider(api_key=TOKEN).build_chat_call(req(), stream=True)
    assert call.url == "https://proxy.example/v1internal:streamGenerateContent"
    assert call.json["project"] == "env-project"


def test_project_is_required_before_discovery() -> None:
    with pytest.raises(ConfigurationError, match="project is not known yet"):
        GeminiCLIProvider(api_key=TOKEN).build_chat_call(req(), stream=True)


def test_parameters_follow_roos_gemini_cli_rules() -> None:
    # Requires a budget: default budget and the hybrid max output; Roo keeps 0.7.
    assert inner("gemini-2.5-pro")["generationConfig"] == {
        "temperature": 0.7,
        "maxOutputTokens": 16384,
        "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True},
    }
    # Supports one: only when asked; else the model's max output (no 20% cap here).
    assert inner("gemini-2.5-flash")["generationConfig"] == {"temperature": 0.7, "maxOutputTokens": 64000}
    assert inner("gemini-2.5-flash", thinking_budget=4000, max_tokens=2000)["generationConfig"] == {
        "temperature": 0.7,
        "maxOutputTokens": 2000,
        "thinkingConfig": {"thinkingBudget": 1600, "includeThoughts": True},
    }
    assert inner("gemini-2.5-flash", thinking_budget=100)["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 1024,
        "includeThoughts": True,
    }
    assert inner("gemini-2.5-flash", thinking_budget=0)["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 0,
        "includeThoughts": False,
    }
    assert inner("gemini-2.5-flash", options={"thinking": True})["generationConfig"]["thinkingConfig"] == {
        "thinkingBudget": 8192,
        "includeThoughts": True,
    }
    # Without a table entry: sent as given, 8192 tokens, thinking only when asked.
    unknown = provider().build_chat_call(req("gemini-3-pro-preview", temperature=0.2, max_tokens=None), stream=False)
    assert unknown.json["model"] == "gemini-3-pro-preview"
    assert unknown.json["request"]["generationConfig"] == {"temperature": 0.2, "maxOutputTokens": 8192}
    suffixed = provider().build_chat_call(req("gemini-2.5-flash:thinking"), stream=False)
    assert suffixed.json["model"] == "gemini-2.5-flash"
    assert "thinkingConfig" not in suffixed.json["request"]["generationConfig"]
    assert inner(max_tokens=100, top_p=0.5, stop=("END",))["generationConfig"] == {
        "temperature": 0.7,
        "topP": 0.5,
        "maxOutputTokens": 100,
        "stopSequences": ["END"],
    }
    assert (
        "temperature"
        not in GeminiCLIProvider(api_key=TOKEN, project_id="p", default_temperature=None)
        .build_chat_call(req(), stream=False)
        .json["request"]["generationConfig"]
    )


def test_tools_and_tool_results_use_the_gemini_shapes() -> None:
    body = inner(
        messages=(
            Message("user", "weather?"),
            Message("assistant", "", tool_calls=(ToolCall("c1", "get_weather", '{"city": "Paris"}'),)),
            Message("tool", "sunny", tool_call_id="c1"),
        ),
        tools=(Tool("get_weather", "Weather.", {"type": "object", "properties": {"city": {"type": "string"}}}),),
        tool_choice="auto",
    )
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"name": "get_weather", "content": "sunny"}}}
            ],
        },
    ]
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather.",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                }
            ]
        }
    ]
    assert body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}


def test_completion_is_roos_complete_prompt() -> None:
    call = provider().build_completion_call(CompletionRequest(model="gemini-2.5-pro", prompt="Say hi"), stream=False)
    assert call is not None
    assert call.url == "https://cloudcode-pa.googleapis.com/v1internal:generateContent"
    assert call.json == {
        "model": "gemini-2.5-pro",
        "project": "proj-1",
        "request": {
            "contents": [{"role": "user", "parts": [{"text": "Say hi"}]}],
            "generationConfig": {"temperature": 0.7},
        },
    }
    streamed = provider().build_completion_call(
        CompletionRequest(model="x:thinking", prompt="p", max_tokens=5, stop=("s",), extra_body={"labels": {"a": "b"}}),
        stream=True,
    )
    assert streamed is not None and streamed.dialect == "gemini"
    assert streamed.json["model"] == "x"
    assert streamed.json["request"] == {
        "contents": [{"role": "user", "parts": [{"text": "p"}]}],
        "generationConfig": {"temperature": 0.7, "maxOutputTokens": 5, "stopSequences": ["s"]},
        "labels": {"a": "b"},
    }


def test_refresh_form_is_google_client_librarys() -> None:
    form = GeminiCLIProvider().refresh_form("1//r")
    assert list(form) == ["refresh_token", "client_id", "client_secret", "grant_type"]
    assert form["grant_type"] == "refresh_token"
    assert form["client_id"].endswith(".apps.googleusercontent.com")


def test_unwrap_response() -> None:
    payload = {"candidates": []}
    assert unwrap_response({"response": payload, "traceId": "t"}) is payload
    error = {"error": {"code": 500}}
    assert unwrap_response(error) is error
    assert unwrap_response({"response": "text"}) == {"response": "text"}
    assert unwrap_response([1]) == [1]


# -- stream unwrapping -------------------------------------------------------------------------------------

PAYLOADS: list[dict[str, Any]] = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Thinking é…", "thought": True}]}}]},
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Hello, "}]}}]},
    {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [{"text": "world"}, {"functionCall": {"name": "f", "args": {"a": [1, 2]}}}],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 3, "thoughtsTokenCount": 2},
    },
]


def framed(documents: list[Any], end: str) -> bytes:
    return "".join(f"data: {json.dumps(d)}{end}{end}" for d in documents).encode()


def tokens_of(processor: Any, chunks: list[bytes]) -> list[Any]:
    out: list[Any] = []
    for chunk in chunks:
        out += processor.feed(chunk)
    return out + processor.finish()


def code_assist_processor(coalesce: bool = False) -> Any:
    """The processor a Code Assist stream runs through: the provider's stream call options."""
    call = provider().build_chat_call(req(), stream=True)
    assert call.dialect is not None
    return tokenwire.StreamProcessor(call.dialect, coalesce=coalesce, **call.stream_options)


def expected_tokens() -> list[Any]:
    return tokens_of(tokenwire.StreamProcessor("gemini", coalesce=False), [framed(PAYLOADS, "\n")])


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_unwrapping_at_every_split_point(end: str) -> None:
    wrapped = framed([{"response": p, "traceId": "abc"} for p in PAYLOADS], end)
    want = expected_tokens()
    assert len(want) >= 6
    for point in range(len(wrapped) + 1):
        processor = code_assist_processor()
        assert tokens_of(processor, [wrapped[:point], wrapped[point:]]) == want, (end, point)


def test_unwrapping_byte_by_byte_with_comments_and_fields() -> None:
    pieces = [": keep-alive\n", "event: message\n", "id: 7\n"]
    wrapped = "".join(pieces).encode() + framed([{"response": p} for p in PAYLOADS], "\r\n")
    processor = code_assist_processor()
    assert tokens_of(processor, [wrapped[i : i + 1] for i in range(len(wrapped))]) == expected_tokens()


def test_unwrapped_errors_and_bad_data_reach_the_dialect() -> None:
    error = {"error": {"code": 503, "message": "overloaded", "status": "INTERNAL"}}
    with pytest.raises(ServerError, match="overloaded"):
        tokens_of(code_assist_processor(), [framed([error], "\n")])
    # An error inside the envelope raises too.
    with pytest.raises(ServerError, match="overloaded"):
        tokens_of(code_assist_processor(), [framed([{"response": error, "traceId": "t"}], "\n")])
    bad = b'data: {"response": {"candidates": \n\n'
    with pytest.raises(StreamDecodeError, match="invalid JSON") as info:
        tokens_of(code_assist_processor(), [bad])
    assert info.value.offset == len(bad)  # the bytes as received, envelope included
    with pytest.raises(StreamDecodeError, match="ended inside an event"):
        tokens_of(code_assist_processor(), [framed([{"response": PAYLOADS[1]}], "\n") + b'data: {"response": {'])
    # A trailing CR completes the line only at the end of the stream.
    text = json.dumps({"response": PAYLOADS[1]})
    assert tokens_of(code_assist_processor(), [f"data: {text}\r".encode(), b"\r"]) == tokens_of(
        tokenwire.StreamProcessor("gemini", coalesce=False), [framed([PAYLOADS[1]], "\n")]
    )
    # Events without a response object (trace-only keep-alives) yield nothing.
    assert tokens_of(code_assist_processor(), [framed([{"traceId": "t"}, {"response": None}], "\n")]) == []
