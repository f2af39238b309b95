"""GeminiProvider end to end over real sockets against the loopback Gemini server.

Covers the exact headers and bodies the server receives, streaming parity (synthesized
answers and every recorded ``streamGenerateContent`` stream, whole, dripped and cut at
many points), the CRLF framing on the wire, disconnects, every error status in Google's
shapes plus the in-stream error object, safety blocks, grounding citations, the
non-streaming calls, model paging, token counting, and that the key never leaks.
Every test is bounded by short timeouts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, Optional

import anyio
import httpx
import pytest
from tests._stream_helpers import classify_recorded
from tests.conftest import require_recorded
from tests.integration._streams import HTTPX_HEADERS, TIMEOUTS, chat_request, collect, error_texts
from tests.integration._streams import summary as summarize

from tokenwire._http import Timeouts
from tokenwire.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from tokenwire.providers.gemini import GeminiProvider, SafetyBlockedError
from tokenwire.testing import Answer, GeminiMockServer, Recording, faults, synth_gemini
from tokenwire.testing.gemini import estimate_gemini_tokens
from tokenwire.types import (
    ChatRequest,
    Citation,
    CompletionRequest,
    Finish,
    ImagePart,
    Message,
    ReasoningDelta,
    StreamToken,
    TextDelta,
    TextPart,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    coerce_messages,
)

pytestmark = pytest.mark.anyio

KEY = "AIzaSy-integration-secret-0123456789abc"
ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GEMINI_BASE_URL", "GOOGLE_GEMINI_BASE_URL")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def server() -> Iterator[GeminiMockServer]:
    with GeminiMockServer(api_key=KEY) as mock:
        yield mock


@pytest.fixture
async def provider(server: GeminiMockServer) -> AsyncIterator[GeminiProvider]:
    async with GeminiProvider(api_key=KEY, base_url=server.base_url, timeouts=TIMEOUTS) as p:
        yield p


def req(model: str = "gemini-2.0-flash-001", content: str = "hello there", **fields: Any) -> ChatRequest:
    return chat_request(model, content, **fields)


def summary(tokens: Sequence[StreamToken]) -> dict[str, Any]:
    """The stream's summary with tool-call arguments parsed as JSON."""
    return summarize(tokens, parse_args=True)


# -- an oracle for recorded payloads, with plain dict access -------------------------------


def _keys(path: str) -> list[Any]:
    keys: list[Any] = []
    for piece in path[1:].replace("[", ".[").split("."):
        if piece:
            keys.append(int(piece[1:-1]) if piece.startswith("[") else piece)
    return keys


def _apply_partial(state: dict[str, Any], item: dict[str, Any]) -> None:
    """One ``partialArgs`` item applied to the argument value being rebuilt."""
    path = item["jsonPath"]
    keys = _keys(path)
    if "stringValue" in item:
        value: Any = item["stringValue"]
        if state.get("open") == path:
            holder: Any = state["root"]
            for key in keys:
                holder = holder[key]
            value = holder + value
        state["open"] = path if item.get("willContinue") else None
    else:
        state["open"] = None
        value = item.get("numberValue", item.get("boolValue"))
    state.setdefault("root", [] if isinstance(keys[0], int) else {})
    container: Any = state["root"]
    for key, following in zip(keys, keys[1:]):
        fresh: Any = [] if isinstance(following, int) else {}
        if isinstance(key, int):
            while len(container) <= key:
                container.append(None)
            if container[key] is None:
                container[key] = fresh
        elif key not in container:
            container[key] = fresh
        container = container[key]
    if isinstance(keys[-1], int):
        while len(container) <= keys[-1]:
            container.append(None)
    container[keys[-1]] = value


def expected_from_payloads(payloads: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the caller must receive for Gemini payloads (Roo's mapping; the native
    dialect's documented rules for function calls and usage)."""
    out: dict[str, Any] = {"text": "", "reasoning": "", "usage": None, "finish": None, "citations": []}
    calls: dict[int, list[Any]] = {}
    streaming: Optional[int] = None
    state: dict[str, Any] = {}
    grounding: Optional[dict[str, Any]] = None

    def close() -> None:
        nonlocal streaming
        if streaming is not None:
            calls[streaming][2] = state.get("root", {})
        streaming = None

    for payload in payloads:
        candidate = (payload.get("candidates") or [{}])[0]
        for part in (candidate.get("content") or {}).get("parts") or []:
            text = part.get("text") or ""
            out["reasoning" if part.get("thought") is True else "text"] += text
            call = part.get("functionCall")
            if call is None:
                continue
            if call.get("name"):
                close()
                index = len(calls)
                if "args" in call:
                    calls[index] = [call.get("id"), call["name"], call["args"]]
                else:
                    calls[index] = [call.get("id"), call["name"], {}]
                    if call.get("willContinue") is True:
                        streaming, state = index, {}
            elif streaming is not None:
                for item in call.get("partialArgs") or []:
                    _apply_partial(state, item)
                if call.get("willContinue") is not True:
                    close()
        if candidate.get("finishReason"):
            close()
            out["finish"] = out["finish"] or candidate["finishReason"]
        if "groundingMetadata" in candidate:
            grounding = candidate["groundingMetadata"]
        usage = payload.get("usageMetadata") or {}
        names = ("promptTokenCount", "candidatesTokenCount", "cachedContentTokenCount", "thoughtsTokenCount")
        if any(name in usage for name in names):
            prompt, candidates, cached, thoughts = (usage.get(name, 0) for name in names)
            out["usage"] = Usage(prompt, candidates, cache_read_tokens=cached, reasoning_tokens=thoughts)
    close()
    for chunk in (grounding or {}).get("groundingChunks") or []:
        web = chunk.get("web") or {}
        if web.get("uri"):
            out["citations"].append((web["uri"], web.get("title") or web["uri"]))
    out["calls"] = {index: tuple(call) for index, call in calls.items()}
    return out


def recorded_streams() -> list[Path]:
    folder = require_recorded() / "vercel-ai" / "google"
    return [p for p in sorted(folder.glob("*.chunks.txt")) if classify_recorded(p)[0] == "gemini"]


def payload_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- headers and bodies on the wire ---------------------------------------------------------


TOOLS = (Tool("weather", "Weather by city", {"type": "object", "properties": {"city": {"type": "string"}}}),)


async def test_exact_headers_and_body_received(provider: GeminiProvider, server: GeminiMockServer) -> None:
    messages = (
        Message("user", "What is in this picture, and the weather in Paris?"),
        Message(
            "assistant",
            "Let me check.",
            tool_calls=(ToolCall("call-1", "weather", '{"city": "Paris"}'),),
        ),
        Message("tool", "18C and sunny", tool_call_id="call-1"),
        Message("user", (TextPart("And this one?"), ImagePart(data="aGVsbG8=", media_type="image/jpeg"))),
    )
    request = ChatRequest(
        model="gemini-2.5-flash",
        system="You are terse.",
        messages=messages,
        tools=TOOLS,
        tool_choice="auto",
        stop=("END",),
        thinking_budget=2000,
        max_tokens=4000,
    )
    await collect(provider, request)
    received = server.last_request
    assert (received.method, received.path) == ("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent")
    assert received.query_items == (("alt", "sse"),)
    assert {name.lower() for name in received.headers.names()} == HTTPX_HEADERS | {"x-goog-api-key", "content-type"}
    assert received.header("x-goog-api-key") == KEY
    assert received.header("content-type") == "application/json"
    assert received.json() == {
        "contents": [
            {"role": "user", "parts": [{"text": "What is in this picture, and the weather in Paris?"}]},
            {
                "role": "model",
                "parts": [{"text": "Let me check."}, {"functionCall": {"name": "weather", "args": {"city": "Paris"}}}],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "name": "weather",
                            "response": {"name": "weather", "content": "18C and sunny"},
                        }
                    },
                    {"text": "And this one?"},
                    {"inlineData": {"mimeType": "image/jpeg", "data": "aGVsbG8="}},
                ],
            },
        ],
        "systemInstruction": {"role": "user", "parts": [{"text": "You are terse."}]},
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "weather",
                        "description": "Weather by city",
                        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                    }
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {
            "temperature": 0.0,
            "maxOutputTokens": 4000,
            "stopSequences": ["END"],
            "thinkingConfig": {"thinkingBudget": 2000, "includeThoughts": True},
        },
    }


async def test_non_streaming_call_and_roo_defaults(provider: GeminiProvider, server: GeminiMockServer) -> None:
    with anyio.fail_after(5):
        answer = await provider.chat(req("gemini-2.5-pro"))
    assert answer.text == "You said: hello there"
    received = server.last_request
    assert (received.path, received.query_items) == ("/v1beta/models/gemini-2.5-pro:generateContent", ())
    # gemini-2.5-pro requires a budget: Roo's 2.5 Pro default of 128 with 16384 output tokens.
    assert received.json() == {
        "contents": [{"role": "user", "parts": [{"text": "hello there"}]}],
        "generationConfig": {
            "temperature": 0.0,
            "maxOutputTokens": 16384,
            "thinkingConfig": {"thinkingBudget": 128, "includeThoughts": True},
        },
    }


async def test_thinking_suffix_is_stripped(provider: GeminiProvider, server: GeminiMockServer) -> None:
    server.scripts.push(Answer("Fine.", reasoning="Let me think."))
    got = summary(await collect(provider, req("gemini-2.5-flash-preview-05-20:thinking")))
    assert (got["reasoning"], got["text"]) == ("Let me think.", "Fine.")
    received = server.last_request
    assert received.path == "/v1beta/models/gemini-2.5-flash-preview-05-20:streamGenerateContent"
    assert received.json()["generationConfig"] == {
        "temperature": 0.0,
        "maxOutputTokens": 16384,
        "thinkingConfig": {"thinkingBudget": 8192, "includeThoughts": True},
    }


async def test_key_and_base_url_from_the_environment(server: GeminiMockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.base_url)
    monkeypatch.setenv("GEMINI_BASE_URL", "http://127.0.0.1:9")  # the SDK's variable wins
    async with GeminiProvider(timeouts=TIMEOUTS) as p:
        assert (await p.chat(req())).text == "You said: hello there"
        assert server.last_request.header("x-goog-api-key") == KEY
        monkeypatch.setenv("GEMINI_API_KEY", "AIza-wrong-but-first-000000")
        with anyio.fail_after(5), pytest.raises(AuthenticationError):
            await p.chat(req())
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.delenv("GOOGLE_API_KEY")
    async with GeminiProvider(timeouts=TIMEOUTS) as p:
        with pytest.raises(ConfigurationError, match="GEMINI_API_KEY / GOOGLE_API_KEY"):
            await p.chat(req())


async def test_sse_is_framed_with_crlf_on_the_wire(server: GeminiMockServer) -> None:
    server.scripts.push(Answer("one two three"))
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.post(
            f"{server.base_url}/v1beta/models/gemini-2.5-flash:streamGenerateContent",
            params={"alt": "sse"},
            headers={"x-goog-api-key": KEY},
            json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        )
    assert response.headers["content-type"] == "text/event-stream"
    raw = response.content
    assert raw.startswith(b"data: {") and raw.endswith(b"\r\n\r\n")
    assert raw.count(b"\r\n\r\n") == 3
    assert b"\n\n" not in raw.replace(b"\r\n\r\n", b"")


# -- streaming parity -----------------------------------------------------------------------


ANSWER = Answer(
    text="Paris is sunny — 18°C, light wind.",
    reasoning="The user wants the weather; call the tool, then answer.",
    tool_calls=[("weather", '{"city": "Paris", "units": "metric"}'), ("clock", "{}")],
    usage=(21, 34, 5, 0, 13),
    chunk_words=1,
)
ANSWER_EXPECTED = {
    "text": ANSWER.text,
    "reasoning": ANSWER.reasoning,
    "usage": Usage(21, 34, cache_read_tokens=5, reasoning_tokens=13),
    "finish": "STOP",
    "calls": {0: (None, "weather", {"city": "Paris", "units": "metric"}), 1: (None, "clock", {})},
    "citations": [],
}


@pytest.mark.parametrize("drip", [None, 1, 3, 17])
async def test_stream_synthesized_answer(
    provider: GeminiProvider, server: GeminiMockServer, drip: Optional[int]
) -> None:
    server.scripts.push(ANSWER)
    if drip is not None:
        server.faults.push(faults.Drip(bytes_per_write=drip))
    assert summary(await collect(provider, req())) == ANSWER_EXPECTED


async def test_stream_tokens_in_order(provider: GeminiProvider, server: GeminiMockServer) -> None:
    server.scripts.push(Answer("A b", reasoning="r s", tool_calls=[("f", '{"x":1.50}')], usage=(3, 4)))
    tokens = await collect(provider, req())
    assert tokens == [
        ReasoningDelta("r"),
        ReasoningDelta(" s"),
        TextDelta("A"),
        TextDelta(" b"),
        ToolCallDelta(0, None, "f", '{"x":1.5}'),
        Finish("STOP"),
        Usage(3, 4),
    ]


async def test_stream_and_chat_agree(provider: GeminiProvider, server: GeminiMockServer) -> None:
    server.scripts.push(ANSWER, times=2)
    with anyio.fail_after(10):
        async with provider.chat_stream(req()) as stream:
            streamed = await stream.get_final_response()
        answer = await provider.chat(req())
    assert answer.text == streamed.text == ANSWER.text
    assert answer.reasoning == streamed.reasoning == ANSWER.reasoning
    assert [(c.name, c.parsed_arguments()) for c in answer.tool_calls] == [
        (c.name, c.parsed_arguments()) for c in streamed.tool_calls
    ]
    assert [c.id for c in answer.tool_calls] == [c.id for c in streamed.tool_calls] == ["call_0", "call_1"]
    assert answer.usage == streamed.usage == ANSWER_EXPECTED["usage"]
    assert answer.finish_reason == streamed.finish_reason == "STOP"
    assert answer.request_id is None and streamed.request_id is None  # Gemini sends no request id


async def test_recorded_streams_parity(provider: GeminiProvider, server: GeminiMockServer) -> None:
    paths = recorded_streams()
    assert len(paths) >= 9
    for path in paths:
        server.scripts.push(Recording.from_file(path))
        got = summary(await collect(provider, req()))
        assert got == expected_from_payloads(payload_lines(path)), path.name


@pytest.mark.parametrize("bytes_per_write", [1, 2, 7, 61, 509])
async def test_recorded_streams_dripped(
    provider: GeminiProvider, server: GeminiMockServer, bytes_per_write: int
) -> None:
    # 1-2 byte writes split the stream at every byte (recordings up to 7 KB); larger
    # writes put the split points elsewhere in every recording.
    paths = recorded_streams()
    chosen = [p for p in paths if bytes_per_write > 2 or p.stat().st_size <= 7000]
    assert chosen
    for path in chosen:
        server.scripts.push(Recording.from_file(path))
        server.faults.push(faults.Drip(bytes_per_write=bytes_per_write))
        got = summary(await collect(provider, req()))
        assert got == expected_from_payloads(payload_lines(path)), (path.name, bytes_per_write)


async def test_recorded_stream_cut_at_every_event_boundary_and_mid_event(
    provider: GeminiProvider, server: GeminiMockServer
) -> None:
    # A disconnect after k complete events delivers exactly the tokens of those events
    # (citations and usage come only at a clean end), then APIConnectionError.
    path = require_recorded() / "vercel-ai" / "google" / "google-reasoning.chunks.txt"
    payloads = payload_lines(path)
    events = synth_gemini.frame(path.read_text(encoding="utf-8").splitlines())
    for cut_event in range(1, len(events)):
        for offset in (0, len(events[cut_event]) // 2):
            server.scripts.push(Recording.from_file(path))
            server.faults.push(faults.Disconnect(after_bytes=sum(len(e) for e in events[:cut_event]) + offset))
            tokens: list[StreamToken] = []
            with anyio.fail_after(10), pytest.raises(APIConnectionError) as info:
                async with provider.chat_stream(req()) as stream:
                    async for token in stream:
                        tokens.append(token)
            assert not isinstance(info.value, APITimeoutError)
            got, want = summary(tokens), expected_from_payloads(payloads[:cut_event])
            assert (got["text"], got["reasoning"], got["usage"]) == (want["text"], want["reasoning"], None)


@pytest.mark.parametrize("reset", [False, True])
async def test_disconnect_mid_event_delivers_tokens_then_raises(
    provider: GeminiProvider, server: GeminiMockServer, reset: bool
) -> None:
    server.scripts.push(Answer("alpha beta gamma delta epsilon"))
    events = synth_gemini.stream_events(Answer("alpha beta gamma delta epsilon"), model="gemini-2.0-flash-001")
    cut = sum(len(e) for e in events[:3]) + len(events[3]) // 2
    server.faults.push(faults.Disconnect(after_bytes=cut, reset=reset))
    tokens: list[StreamToken] = []
    with anyio.fail_after(10), pytest.raises(APIConnectionError) as info:
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                tokens.append(token)
    assert not isinstance(info.value, APITimeoutError)
    assert KEY not in str(info.value)
    got = summary(tokens)
    if reset:
        assert "alpha beta gamma".startswith(got["text"])
    else:
        assert got["text"] == "alpha beta gamma"
    assert got["usage"] is None and got["finish"] is None


async def test_idle_timeout_mid_stream(server: GeminiMockServer) -> None:
    events = synth_gemini.stream_events(Answer("one two three four"), model="gemini-2.0-flash-001")
    server.scripts.push(Answer("one two three four"))
    server.faults.push(faults.Stall(seconds=3.0, after_bytes=sum(len(e) for e in events[:2])))
    quick = Timeouts(connect=2.0, read=5.0, write=5.0, pool=5.0, idle=0.3, total=10.0)
    tokens: list[StreamToken] = []
    async with GeminiProvider(api_key=KEY, base_url=server.base_url, timeouts=quick) as p:
        with anyio.fail_after(5), pytest.raises(APITimeoutError):
            async with p.chat_stream(req()) as stream:
                async for token in stream:
                    tokens.append(token)
    assert summary(tokens)["text"] == "one two"


async def test_stopping_early_releases_the_connection(provider: GeminiProvider, server: GeminiMockServer) -> None:
    server.scripts.push(Answer("word " * 400))
    server.faults.push(faults.Stall(seconds=5.0, after_bytes=1500))
    with anyio.fail_after(3):
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                if isinstance(token, TextDelta):
                    break
    assert stream.closed
    pool = provider.http_client._transport._pool  # type: ignore[attr-defined]
    assert all(conn.is_idle() or conn.is_closed() for conn in pool.connections)
    with anyio.fail_after(5):
        assert (await provider.chat(req(content="again"))).text == "You said: again"


# -- grounding --------------------------------------------------------------------------------


GROUNDED = [
    {"candidates": [{"content": {"role": "model", "parts": [{"text": "Tokyo leads "}]}, "index": 0}]},
    {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "the ranking."}]},
                "finishReason": "STOP",
                "index": 0,
                "groundingMetadata": {
                    "webSearchQueries": ["largest city"],
                    "groundingChunks": [
                        {"web": {"uri": "https://example.org/a", "title": "example.org"}},
                        {"web": {"uri": "https://example.org/b"}},
                        {"retrievedContext": {"uri": "gs://bucket/doc"}},
                    ],
                },
            }
        ],
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 5, "totalTokenCount": 12},
    },
]


async def test_grounding_metadata_becomes_citations(provider: GeminiProvider, server: GeminiMockServer) -> None:
    server.scripts.push(Recording.from_lines(GROUNDED))
    tokens = await collect(provider, req(options={"grounding": True}))
    assert server.last_request.json()["tools"] == [{"googleSearch": {}}]
    assert tokens[-3:] == [
        Citation("https://example.org/a", "example.org"),
        Citation("https://example.org/b", "https://example.org/b"),
        Usage(7, 5),
    ]
    assert summary(tokens)["text"] == "Tokyo leads the ranking."
    body = json.dumps(
        {
            **GROUNDED[1],
            "candidates": [
                {
                    **GROUNDED[1]["candidates"][0],
                    "content": {"role": "model", "parts": [{"text": "Tokyo leads the ranking."}]},
                }
            ],
        }
    ).encode()
    server.scripts.push(Recording.raw(body))
    with anyio.fail_after(5):
        answer = await provider.chat(req())
    assert answer.citations == tuple(tokens[-3:-1])
    assert answer.text == "Tokyo leads the ranking."


# -- safety blocks ------------------------------------------------------------------------------


async def test_safety_block_in_a_stream(provider: GeminiProvider, server: GeminiMockServer) -> None:
    server.scripts.push(Answer("Here is how to", finish_reason="SAFETY", usage=(12, 4)))
    tokens: list[StreamToken] = []
    with anyio.fail_after(10), pytest.raises(SafetyBlockedError) as info:
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                tokens.append(token)
    assert summary(tokens)["text"] == "Here is how to"
    assert not any(isinstance(t, (Finish, Usage)) for t in tokens)
    error = info.value
    assert isinstance(error, BadRequestError)
    assert (error.reason, error.error_type, error.status) == ("SAFETY", "SAFETY", None)
    assert error.usage == Usage(12, 4)
    assert (error.provider, error.model) == ("gemini", "gemini-2.0-flash-001")
    assert error.message == "the request was blocked (SAFETY)"
    assert stream.closed


async def test_safety_block_non_streaming(provider: GeminiProvider, server: GeminiMockServer) -> None:
    server.scripts.push(Answer("", finish_reason="PROHIBITED_CONTENT", usage=(3, 0)))
    with anyio.fail_after(5), pytest.raises(SafetyBlockedError) as info:
        await provider.chat(req())
    assert info.value.reason == "PROHIBITED_CONTENT"
    assert info.value.message == "the response was blocked (finishReason PROHIBITED_CONTENT)"
    assert info.value.usage == Usage(3, 0)


BLOCKED_PROMPT = {
    "promptFeedback": {
        "blockReason": "SAFETY",
        "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}],
    },
    "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
    "modelVersion": "gemini-2.0-flash-001",
}


async def test_blocked_prompt(provider: GeminiProvider, server: GeminiMockServer) -> None:
    server.scripts.push(Recording.from_lines([BLOCKED_PROMPT]))
    with anyio.fail_after(5), pytest.raises(SafetyBlockedError) as info:
        await collect(provider, req())
    assert (info.value.reason, info.value.usage) == ("SAFETY", Usage(9, 0))
    server.scripts.push(Recording.raw(json.dumps(BLOCKED_PROMPT).encode()))
    with anyio.fail_after(5), pytest.raises(SafetyBlockedError) as blocked:
        await provider.chat(req())
    assert blocked.value.message == "the prompt was blocked (blockReason SAFETY)"
    assert blocked.value.body["promptFeedback"]["safetyRatings"][0]["blocked"] is True


async def test_blocks_reported_as_finish_when_asked(provider: GeminiProvider, server: GeminiMockServer) -> None:
    server.scripts.push(Answer("partial", finish_reason="SAFETY", usage=(2, 1)))
    tokens = await collect(provider, req(options={"raise_on_block": False}))
    assert tokens[-2:] == [Finish("SAFETY"), Usage(2, 1)]
    server.scripts.push(Recording.raw(json.dumps(BLOCKED_PROMPT).encode()))
    with anyio.fail_after(5):
        answer = await provider.chat(req(options={"raise_on_block": False}))
    assert (answer.text, answer.finish_reason, answer.usage) == ("", "SAFETY", Usage(9, 0))


# -- errors ------------------------------------------------------------------------------------


async def _stream_error(provider: GeminiProvider, request: ChatRequest) -> tuple[list[StreamToken], ProviderError]:
    tokens: list[StreamToken] = []
    with anyio.fail_after(10), pytest.raises(ProviderError) as info:
        async with provider.chat_stream(request) as stream:
            async for token in stream:
                tokens.append(token)
    return tokens, info.value


def _check_error(error: ProviderError, cls: type[ProviderError], status: int, error_type: str, message: str) -> None:
    assert type(error) is cls
    assert (error.status, error.error_type, error.message) == (status, error_type, message)
    assert error.code == str(status)
    assert (error.provider, error.model) == ("gemini", "gemini-2.0-flash-001")
    assert error.request_id is None  # Gemini sends none
    for text in (str(error), repr(error), repr(error.body)):
        assert KEY not in text


async def test_400_invalid_key(server: GeminiMockServer) -> None:
    # Google answers a bad key with 400 INVALID_ARGUMENT + reason API_KEY_INVALID: an auth error.
    wrong = "AIzaSy-wrong-key-99999999999999999"
    async with GeminiProvider(api_key=wrong, base_url=server.base_url, timeouts=TIMEOUTS) as p:
        _, error = await _stream_error(p, req())
        with anyio.fail_after(5), pytest.raises(AuthenticationError) as info:
            await p.chat(req())
    for err in (error, info.value):
        _check_error(
            err, AuthenticationError, 400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key."
        )
        assert err.body["error"]["details"][0]["reason"] == "API_KEY_INVALID"
        assert wrong not in str(err) and wrong not in repr(err)


async def test_400_unknown_field(provider: GeminiProvider) -> None:
    _, error = await _stream_error(provider, req(extra_body={"candidate_cnt": 2}))
    message = 'Invalid JSON payload received. Unknown name "candidate_cnt": Cannot find field.'
    _check_error(error, BadRequestError, 400, "INVALID_ARGUMENT", message)


async def test_403_without_a_key(provider: GeminiProvider) -> None:
    # An empty header reaches the server as "no key".
    _, error = await _stream_error(provider, req(extra_headers={"x-goog-api-key": ""}))
    message = (
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or "
        "other form of API consumer identity to call this API."
    )
    _check_error(error, PermissionDeniedError, 403, "PERMISSION_DENIED", message)


async def test_404_unknown_model() -> None:
    with GeminiMockServer(api_key=KEY, models=["gemini-2.5-flash"]) as strict:
        async with GeminiProvider(api_key=KEY, base_url=strict.base_url, timeouts=TIMEOUTS) as p:
            _, error = await _stream_error(p, req())
    message = (
        "models/gemini-2.0-flash-001 is not found for API version v1beta, or is not supported for "
        "streamGenerateContent. Call ListModels to see the list of available models and their supported methods."
    )
    _check_error(error, NotFoundError, 404, "NOT_FOUND", message)


async def test_429_with_retry_delay(provider: GeminiProvider, server: GeminiMockServer) -> None:
    server.faults.push(faults.RateLimit(retry_after=34.4, limit=10))
    _, error = await _stream_error(provider, req())
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 34.4
    assert error.message.endswith("limit: 10, model: gemini-2.0-flash-001\nPlease retry in 34.4s.")
    _check_error(error, RateLimitError, 429, "RESOURCE_EXHAUSTED", error.message)
    kinds = [d["@type"].rsplit(".", 1)[-1] for d in error.body["error"]["details"]]
    assert kinds == ["QuotaFailure", "Help", "RetryInfo"]


async def test_429_recorded_body(provider: GeminiProvider, server: GeminiMockServer) -> None:
    path = require_recorded() / "vercel-ai" / "google" / "google-429-retry-info.json"
    server.scripts.push(Recording.raw(path.read_bytes(), status=429))
    with anyio.fail_after(5), pytest.raises(RateLimitError) as info:
        await provider.chat(req())
    _check_error(
        info.value,
        RateLimitError,
        429,
        "RESOURCE_EXHAUSTED",
        "You exceeded your current quota, please check your plan.",
    )
    assert info.value.retry_after == 34.4


@pytest.mark.parametrize(
    ("fault", "cls", "status", "error_type", "message"),
    [
        (
            faults.ServerFault(500),
            ServerError,
            500,
            "INTERNAL",
            "An internal error has occurred. Please retry or report in "
            "https://developers.generativeai.google/guide/troubleshooting",
        ),
        (
            faults.ServerFault(503),
            OverloadedError,
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        ),
        (faults.Overloaded(), OverloadedError, 503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        (
            faults.ServerFault(504),
            ServerError,
            504,
            "DEADLINE_EXCEEDED",
            "Deadline expired before operation could complete.",
        ),
    ],
)
async def test_5xx(
    provider: GeminiProvider,
    server: GeminiMockServer,
    fault: faults.Fault,
    cls: type[ProviderError],
    status: int,
    error_type: str,
    message: str,
) -> None:
    server.faults.push(fault)
    with anyio.fail_after(5), pytest.raises(ProviderError) as info:
        await provider.chat(req())
    _check_error(info.value, cls, status, error_type, message)


async def test_error_object_mid_stream(provider: GeminiProvider, server: GeminiMockServer) -> None:
    server.scripts.push(Answer("alpha beta gamma delta"))
    server.faults.push(faults.ErrorEvent(after_events=2))
    tokens, error = await _stream_error(provider, req())
    assert summary(tokens)["text"] == "alpha beta"
    _check_error(error, OverloadedError, 503, "UNAVAILABLE", "The model is overloaded. Please try again later.")


async def test_rate_limit_error_mid_stream(provider: GeminiProvider, server: GeminiMockServer) -> None:
    server.faults.push(faults.ErrorEvent(after_events=0, error_type="RESOURCE_EXHAUSTED", message="Quota hit."))
    tokens, error = await _stream_error(provider, req())
    assert tokens == []
    _check_error(error, RateLimitError, 429, "RESOURCE_EXHAUSTED", "Quota hit.")


async def test_malformed_event(provider: GeminiProvider, server: GeminiMockServer) -> None:
    from tokenwire.errors import StreamDecodeError

    server.faults.push(faults.Malformed(after_events=1))
    tokens: list[StreamToken] = []
    with anyio.fail_after(5), pytest.raises(StreamDecodeError, match="invalid JSON in gemini event"):
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                tokens.append(token)
    assert summary(tokens)["text"] == "You"


# -- non-streaming calls -------------------------------------------------------------------


async def test_chat_non_streaming(provider: GeminiProvider, server: GeminiMockServer) -> None:
    server.scripts.push(Answer("Sure.", reasoning="ok", tool_calls=[("lookup", '{"q": "tokenwire"}')], usage=(9, 4, 2)))
    with anyio.fail_after(5):
        answer = await provider.chat(req(top_p=0.5, temperature=0.7))
    assert (answer.text, answer.reasoning) == ("Sure.", "ok")
    assert [(c.id, c.name, c.parsed_arguments()) for c in answer.tool_calls] == [
        ("call_0", "lookup", {"q": "tokenwire"})
    ]
    assert answer.usage == Usage(9, 4, cache_read_tokens=2)
    assert (answer.finish_reason, answer.provider, answer.model) == ("STOP", "gemini", "gemini-2.0-flash-001")
    assert server.last_request.json()["generationConfig"] == {"temperature": 0.7, "topP": 0.5, "maxOutputTokens": 8192}


async def test_tool_round_trip(provider: GeminiProvider, server: GeminiMockServer) -> None:
    messages = coerce_messages(
        [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "call_0", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}],
            },
            {"role": "tool", "tool_call_id": "call_0", "content": "21C and sunny"},
        ]
    )
    with anyio.fail_after(5):
        answer = await provider.chat(ChatRequest(model="gemini-2.5-flash", messages=messages, tools=TOOLS))
    assert answer.text == "The tool returned: 21C and sunny"
    assert server.last_request.json()["contents"][1:] == [
        {"role": "model", "parts": [{"functionCall": {"name": "weather", "args": {"city": "Rome"}}}]},
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "weather", "response": {"name": "weather", "content": "21C and sunny"}}}
            ],
        },
    ]


async def test_complete_and_complete_stream(provider: GeminiProvider, server: GeminiMockServer) -> None:
    with anyio.fail_after(10):
        done = await provider.complete(CompletionRequest(model="gemini-2.0-flash-001", prompt="ping"))
        assert (done.text, done.provider, done.finish_reason) == ("You said: ping", "gemini", "STOP")
        assert server.last_request.json() == {
            "contents": [{"role": "user", "parts": [{"text": "ping"}]}],
            "generationConfig": {"temperature": 0.0, "maxOutputTokens": 8192},
        }
        async with provider.complete_stream(CompletionRequest(model="gemini-2.0-flash-001", prompt="pong")) as s:
            streamed = await s.get_final_response()
    assert streamed.text == "You said: pong"
    assert server.last_request.query["alt"] == "sse"


async def test_list_models_follows_pages(provider: GeminiProvider) -> None:
    names = [f"gemini-test-{i}" for i in range(5)]
    with GeminiMockServer(api_key=KEY, models=names) as small:
        async with GeminiProvider(api_key=KEY, base_url=small.base_url, timeouts=TIMEOUTS) as p:
            p.models_page_size = 2
            with anyio.fail_after(5):
                models = await p.list_models()
        received = small.requests
    assert [m.id for m in models] == names
    assert [(r.method, r.path) for r in received] == [("GET", "/v1beta/models")] * 3
    assert [dict(r.query).get("pageToken") is None for r in received] == [True, False, False]
    assert all(r.query["pageSize"] == "2" for r in received)
    assert "content-type" not in received[0].headers


async def test_list_models_default_page(provider: GeminiProvider, server: GeminiMockServer) -> None:
    with anyio.fail_after(5):
        models = await provider.list_models()
    assert models[0].id == "gemini-2.5-pro"
    pro = models[0]
    assert (pro.display_name, pro.context_window, pro.max_output_tokens, pro.supports_reasoning) == (
        "Gemini 2.5 Pro",
        1_048_576,
        65_536,
        True,
    )
    assert dict(server.last_request.query) == {"pageSize": "1000"}


async def test_count_tokens(provider: GeminiProvider, server: GeminiMockServer) -> None:
    with anyio.fail_after(5):
        plain = await provider.count_tokens(req())
        assert server.last_request.json() == {"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]}
        assert server.last_request.path == "/v1beta/models/gemini-2.0-flash-001:countTokens"
        rich = await provider.count_tokens(req(system="Count me.", tools=TOOLS))
    body = server.last_request.json()
    assert body == {
        "generateContentRequest": {
            "model": "models/gemini-2.0-flash-001",
            "contents": [{"role": "user", "parts": [{"text": "hello there"}]}],
            "systemInstruction": {"role": "user", "parts": [{"text": "Count me."}]},
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "weather",
                            "description": "Weather by city",
                            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                        }
                    ]
                }
            ],
        }
    }
    assert plain == estimate_gemini_tokens({"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]})
    assert rich == estimate_gemini_tokens(body) > plain


async def test_count_tokens_falls_back_to_the_local_estimate(
    provider: GeminiProvider, server: GeminiMockServer
) -> None:
    from tokenwire.tokens import estimate_input_tokens

    request = req(content="count these words please")
    server.faults.push(faults.ServerFault(500))
    with anyio.fail_after(5):
        assert await provider.count_tokens(request) == estimate_input_tokens(request) > 0
        server.faults.push(faults.ServerFault(500))
        with pytest.raises(ServerError):
            await provider.count_tokens(request, local_fallback=False)
        assert await provider.count_tokens(request, local_fallback=False) == estimate_gemini_tokens(
            {"contents": [{"role": "user", "parts": [{"text": "count these words please"}]}]}
        )


async def test_through_the_clients(server: GeminiMockServer) -> None:
    import tokenwire

    server.scripts.push(ANSWER, times=2)
    options = {"gemini": {"api_key": KEY, "base_url": server.base_url}}
    async with tokenwire.AsyncClient(providers=options, timeouts=TIMEOUTS) as client:
        with anyio.fail_after(10):
            async with client.chat_stream("gemini/gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]) as s:
                tokens = [token async for token in s]
    assert summary(tokens) == ANSWER_EXPECTED

    def sync() -> Any:
        with tokenwire.Client(providers=options, timeouts=TIMEOUTS) as client:
            return client.chat("gemini/gemini-2.5-flash", [{"role": "user", "content": "hi"}])

    with anyio.fail_after(10):
        answer = await anyio.to_thread.run_sync(sync)
    assert (answer.text, answer.usage) == (ANSWER.text, ANSWER_EXPECTED["usage"])


async def test_health_check(provider: GeminiProvider, server: GeminiMockServer) -> None:
    with anyio.fail_after(5):
        healthy = await provider.health_check()
    assert healthy.healthy and healthy.error is None
    async with GeminiProvider(api_key="AIza-bad-00000000", base_url=server.base_url, timeouts=TIMEOUTS) as bad:
        with anyio.fail_after(5):
            sick = await bad.health_check()
    assert not sick.healthy
    assert sick.error is not None and "API key not valid" in sick.error
    assert "AIza-bad-00000000" not in sick.error


async def test_secrets_never_in_repr_errors_or_logs(server: GeminiMockServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with GeminiProvider(api_key=KEY, base_url=server.base_url, timeouts=TIMEOUTS) as p:
        texts.append(repr(p))
        await collect(p, req())
        await p.chat(req())
        await p.count_tokens(req())
        await p.list_models()
        texts += await error_texts(p, server, req())
    assert caplog.records, "expected httpx/httpcore debug logs"
    for text in [*texts, caplog.text]:
        assert KEY not in text
