"""AnthropicProvider end to end over real sockets against the loopback Anthropic server.

Covers the exact headers and bodies the server receives, streaming parity (synthesized
answers and every recorded Anthropic stream, whole and dripped), disconnects, stalls,
every error status plus the in-stream error event, the non-streaming calls, and that no
secret leaks into reprs, errors or logs. Every test is bounded by short timeouts.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any, Optional

import anyio
import pytest
from tests.conftest import require_recorded
from tests.integration._streams import HTTPX_HEADERS, TIMEOUTS, chat_request, collect, error_texts, summary

from tokenwire._http import Timeouts
from tokenwire.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from tokenwire.providers.anthropic import AnthropicProvider
from tokenwire.testing import Answer, AnthropicMockServer, Recording, estimate_request_tokens, faults, synth
from tokenwire.testing.anthropic import DEFAULT_MODELS
from tokenwire.types import (
    ChatRequest,
    CompletionRequest,
    StreamToken,
    TextDelta,
    Tool,
    Usage,
    coerce_messages,
)

pytestmark = pytest.mark.anyio

KEY = "sk-ant-integration-secret-0123456789"
EPH = {"type": "ephemeral"}


@pytest.fixture
def server() -> Iterator[AnthropicMockServer]:
    with AnthropicMockServer(api_key=KEY) as mock:
        yield mock


@pytest.fixture
async def provider(server: AnthropicMockServer, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[AnthropicProvider]:
    for var in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(var, raising=False)
    async with AnthropicProvider(api_key=KEY, base_url=server.base_url, timeouts=TIMEOUTS) as p:
        yield p


def req(model: str = "claude-sonnet-4-5", content: str = "hello there", **fields: Any) -> ChatRequest:
    return chat_request(model, content, **fields)


def _count(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def expected_from_payloads(payloads: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the caller must receive for recorded payloads, derived with plain dict access:
    Roo's mapping (a "\\n" before text/thinking blocks with index > 0), tool calls by
    ordinal, usage from message_start with message_delta's cumulative values replacing it,
    and the web citations of ``citations_delta`` events."""
    text, reasoning = "", ""
    calls: dict[int, list[Any]] = {}
    block_call: dict[int, int] = {}
    usage: Optional[list[int]] = None
    finish: Optional[str] = None
    citations: list[tuple[str, Optional[str]]] = []
    for payload in payloads:
        kind = payload.get("type")
        if kind == "message_start":
            raw = payload["message"].get("usage") or {}
            usage = [
                _count(raw.get(name)) or 0
                for name in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
            ]
        elif kind == "content_block_start":
            index, block = payload["index"], payload["content_block"]
            if block["type"] == "text":
                text += ("\n" if index > 0 else "") + (block.get("text") or "")
            elif block["type"] == "thinking":
                reasoning += ("\n" if index > 0 else "") + (block.get("thinking") or "")
            elif block["type"] == "tool_use":
                block_call[index] = len(calls)
                calls[len(calls)] = [block.get("id") or None, block.get("name") or None, ""]
        elif kind == "content_block_delta":
            delta = payload["delta"]
            if delta["type"] == "text_delta":
                text += delta["text"]
            elif delta["type"] == "thinking_delta":
                reasoning += delta["thinking"]
            elif delta["type"] == "input_json_delta" and payload["index"] in block_call:
                calls[block_call[payload["index"]]][2] += delta["partial_json"]
            elif delta["type"] == "citations_delta":
                cited = delta.get("citation") or {}
                if cited.get("url"):
                    citations.append((cited["url"], cited.get("title") or None))
        elif kind == "message_delta":
            stop = payload.get("delta", {}).get("stop_reason")
            if finish is None and isinstance(stop, str) and stop:
                finish = stop
            raw = payload.get("usage") or {}
            usage = usage or [0, 0, 0, 0]
            for slot, name in enumerate(
                ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
            ):
                if _count(raw.get(name)) is not None:
                    usage[slot] = raw[name]
        elif kind == "message_stop":
            break
    return {
        "text": text,
        "reasoning": reasoning,
        "usage": Usage(*usage) if usage is not None else None,
        "finish": finish,
        "citations": citations,
        "calls": {index: tuple(call) for index, call in calls.items()},
    }


def recorded_streams() -> list[Path]:
    folder = require_recorded() / "vercel-ai" / "anthropic"
    return sorted(folder.glob("*.chunks.txt"))


def payload_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# -- headers and bodies on the wire -------------------------------------------------------


async def test_exact_headers_and_body_received(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    request = ChatRequest(
        model="claude-sonnet-4-5",
        system="You are terse.",
        messages=coerce_messages(
            [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": "second"},
            ]
        ),
        tools=(Tool("weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}),),
        tool_choice="auto",
    )
    await collect(provider, request)
    received = server.last_request
    assert (received.method, received.path) == ("POST", "/v1/messages")
    assert {name.lower() for name in received.headers.names()} == HTTPX_HEADERS | {
        "x-api-key",
        "anthropic-version",
        "content-type",
        "anthropic-beta",
    }
    assert received.header("x-api-key") == KEY
    assert received.header("anthropic-version") == "2023-06-01"
    assert received.header("content-type") == "application/json"
    assert received.header("anthropic-beta") == "prompt-caching-2024-07-31"
    assert received.json() == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 8192,
        "temperature": 0.0,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": EPH}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "first", "cache_control": EPH}]},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "second", "cache_control": EPH}]},
        ],
        "tools": [
            {
                "name": "weather",
                "description": "Weather",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
        "tool_choice": {"type": "auto"},
        "stream": True,
    }


async def test_auth_token_mode_over_the_wire(server: AnthropicMockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", KEY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.base_url)
    async with AnthropicProvider(timeouts=TIMEOUTS) as p:
        answer = await p.chat(req("claude-opus-4-5"))
    assert answer.text == "You said: hello there"
    received = server.last_request
    assert received.header("authorization") == f"Bearer {KEY}"
    assert "x-api-key" not in received.headers
    assert "anthropic-beta" not in received.headers
    assert "stream" not in received.json()


@pytest.mark.parametrize(
    ("model", "fields", "beta", "sent"),
    [
        ("claude-3-7-sonnet-20250219:thinking", {}, "output-128k-2025-02-19,prompt-caching-2024-07-31", (16384, 8192)),
        ("claude-sonnet-4-5", {"thinking_budget": 3000, "options": {"context_1m": True}}, None, (16384, 3000)),
        ("claude-opus-4-20250514", {"options": {"thinking": True}, "max_tokens": 2000}, None, (2000, 1600)),
    ],
)
async def test_thinking_requests_pass_the_server_validation(
    provider: AnthropicProvider,
    server: AnthropicMockServer,
    model: str,
    fields: dict[str, Any],
    beta: Optional[str],
    sent: tuple[int, int],
) -> None:
    server.scripts.push(Answer("Answer.", reasoning="Because.", usage=(10, 5)))
    got = summary(await collect(provider, req(model, **fields)))
    assert (got["reasoning"], got["text"]) == ("Because.", "\nAnswer.")
    body = server.last_request.json()
    assert (body["max_tokens"], body["thinking"]["budget_tokens"], body["temperature"]) == (*sent, 1.0)
    if beta is not None:
        assert server.last_request.header("anthropic-beta") == beta
    elif model == "claude-sonnet-4-5":
        assert server.last_request.header("anthropic-beta") == "context-1m-2025-08-07,prompt-caching-2024-07-31"


# -- streaming parity -----------------------------------------------------------------------


ANSWER = Answer(
    text="Paris is sunny — 18°C, light wind.",
    reasoning="The user wants the weather; call the tool, then answer.",
    tool_calls=[("weather", '{"city": "Paris", "units": "metric"}'), ("clock", "{}")],
    usage=(21, 34, 5, 8),
    chunk_words=1,
    args_chunk_chars=5,
)
ANSWER_EXPECTED = {
    "reasoning": ANSWER.reasoning,
    # The text block is the second block: Roo's "\n" comes first.
    "text": "\n" + ANSWER.text,
    "usage": Usage(21, 34, cache_read_tokens=5, cache_write_tokens=8),
    "finish": "tool_use",
}


@pytest.mark.parametrize("drip", [None, 1, 3, 17])
async def test_stream_synthesized_answer(
    provider: AnthropicProvider, server: AnthropicMockServer, drip: Optional[int]
) -> None:
    server.scripts.push(ANSWER)
    if drip is not None:
        server.faults.push(faults.Drip(bytes_per_write=drip))
    got = summary(await collect(provider, req()))
    assert {key: got[key] for key in ANSWER_EXPECTED} == ANSWER_EXPECTED
    assert [(name, args) for _, name, args in got["calls"].values()] == [
        ("weather", '{"city": "Paris", "units": "metric"}'),
        ("clock", "{}"),
    ]
    assert all(call_id and call_id.startswith("toolu_01") for call_id, _, _ in got["calls"].values())


async def test_stream_and_chat_agree(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    server.scripts.push(ANSWER, times=2)
    with anyio.fail_after(10):
        async with provider.chat_stream(req()) as stream:
            streamed = await stream.get_final_response()
        answer = await provider.chat(req())
    assert answer.text == streamed.text == ANSWER_EXPECTED["text"]
    assert answer.reasoning == streamed.reasoning == ANSWER.reasoning
    assert [(c.name, c.parsed_arguments()) for c in answer.tool_calls] == [
        (c.name, c.parsed_arguments()) for c in streamed.tool_calls
    ]
    assert answer.usage == streamed.usage == ANSWER_EXPECTED["usage"]
    assert answer.finish_reason == streamed.finish_reason == "tool_use"
    assert answer.request_id is not None and answer.request_id.startswith("req_011C")
    assert streamed.request_id is not None and streamed.request_id.startswith("req_011C")
    assert answer.request_id != streamed.request_id


async def test_recorded_streams_parity(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    paths = recorded_streams()
    assert len(paths) >= 30
    for path in paths:
        server.scripts.push(Recording.from_file(path))
        got = summary(await collect(provider, req()))
        assert got == expected_from_payloads(payload_lines(path)), path.name


@pytest.mark.parametrize("bytes_per_write", [1, 2, 7, 61, 509])
async def test_recorded_streams_dripped(
    provider: AnthropicProvider, server: AnthropicMockServer, bytes_per_write: int
) -> None:
    # Every split point for the small recordings (1-byte writes); strided split points
    # (other write sizes) for the rest, bounded to keep the suite fast.
    paths = recorded_streams()
    budget = 4096 if bytes_per_write <= 2 else 15_000 if bytes_per_write < 61 else None
    chosen = [p for p in paths if budget is None or p.stat().st_size <= budget]
    assert chosen
    for path in chosen:
        server.scripts.push(Recording.from_file(path))
        server.faults.push(faults.Drip(bytes_per_write=bytes_per_write))
        got = summary(await collect(provider, req()))
        assert got == expected_from_payloads(payload_lines(path)), (path.name, bytes_per_write)


def _cut_inside_event(events: Sequence[bytes], index: int) -> int:
    """A byte offset in the middle of ``events[index]``."""
    return sum(len(e) for e in events[:index]) + len(events[index]) // 2


@pytest.mark.parametrize("reset", [False, True])
async def test_disconnect_mid_event_delivers_tokens_then_raises(
    provider: AnthropicProvider, server: AnthropicMockServer, reset: bool
) -> None:
    path = require_recorded() / "vercel-ai" / "anthropic" / "anthropic-text.chunks.txt"
    payloads = payload_lines(path)
    events = synth.frame(payloads, "anthropic")
    cut_event = 6  # message_start, block start, ping, three text deltas complete before it
    server.scripts.push(Recording.from_file(path))
    server.faults.push(faults.Disconnect(after_bytes=_cut_inside_event(events, cut_event), reset=reset))
    tokens: list[StreamToken] = []
    with anyio.fail_after(10), pytest.raises(APIConnectionError) as info:
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                tokens.append(token)
    assert not isinstance(info.value, APITimeoutError)
    assert KEY not in str(info.value)
    got = summary(tokens)
    expected = expected_from_payloads(payloads[:cut_event])
    if reset:
        # An RST may discard bytes the client had not read yet: a prefix, never more.
        assert expected["text"].startswith(got["text"])
    else:
        assert got["text"] == expected["text"] == "Hello! I'm doing well, thank you for asking"
    assert got["usage"] is None and got["finish"] is None


async def test_idle_timeout_mid_stream(server: AnthropicMockServer) -> None:
    path = require_recorded() / "vercel-ai" / "anthropic" / "anthropic-text.chunks.txt"
    payloads = payload_lines(path)
    events = synth.frame(payloads, "anthropic")
    server.scripts.push(Recording.from_file(path))
    # Silence after the first two text deltas (events 0-4), longer than the idle limit.
    server.faults.push(faults.Stall(seconds=3.0, after_bytes=sum(len(e) for e in events[:5])))
    tokens: list[StreamToken] = []
    quick = Timeouts(connect=2.0, read=5.0, write=5.0, pool=5.0, idle=0.3, total=10.0)
    async with AnthropicProvider(api_key=KEY, base_url=server.base_url, timeouts=quick) as p:
        with anyio.fail_after(5), pytest.raises(APITimeoutError):
            async with p.chat_stream(req()) as stream:
                async for token in stream:
                    tokens.append(token)
    assert summary(tokens)["text"] == expected_from_payloads(payloads[:5])["text"] == "Hello! I"


async def test_stopping_early_releases_the_connection(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
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
    # The provider keeps working afterwards.
    with anyio.fail_after(5):
        assert (await provider.chat(req(content="again"))).text == "You said: again"


# -- errors ------------------------------------------------------------------------------------


async def _stream_error(provider: AnthropicProvider, request: ChatRequest) -> tuple[list[StreamToken], ProviderError]:
    tokens: list[StreamToken] = []
    with anyio.fail_after(10), pytest.raises(ProviderError) as info:
        async with provider.chat_stream(request) as stream:
            async for token in stream:
                tokens.append(token)
    return tokens, info.value


def _check_error(error: ProviderError, cls: type[ProviderError], status: int, error_type: str, message: str) -> None:
    assert type(error) is cls
    assert (error.status, error.error_type, error.message) == (status, error_type, message)
    assert (error.provider, error.model) == ("anthropic", "claude-sonnet-4-5")
    assert error.request_id is not None and error.request_id.startswith("req_011C")
    for text in (str(error), repr(error)):
        assert KEY not in text


async def test_401_wrong_key(server: AnthropicMockServer) -> None:
    wrong = "sk-ant-wrong-key-999999999"
    async with AnthropicProvider(api_key=wrong, base_url=server.base_url, timeouts=TIMEOUTS) as p:
        _, error = await _stream_error(p, req())
        with anyio.fail_after(5), pytest.raises(AuthenticationError) as info:
            await p.chat(req())
    for err in (error, info.value):
        _check_error(err, AuthenticationError, 401, "authentication_error", "invalid x-api-key")
        assert wrong not in str(err) and wrong not in repr(err)
        assert err.body["error"] == {"type": "authentication_error", "message": "invalid x-api-key"}


async def test_400_thinking_budget_over_max_tokens(provider: AnthropicProvider) -> None:
    # Roo's clamp raises the budget to 1024, which is not below max_tokens=1000.
    request = req(thinking_budget=5000, max_tokens=1000)
    _, error = await _stream_error(provider, request)
    message = "`max_tokens` must be greater than `thinking.budget_tokens`."
    _check_error(error, BadRequestError, 400, "invalid_request_error", message)


async def test_403_permission_error(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    document: dict[str, Any] = {
        "type": "error",
        "error": {
            "type": "permission_error",
            "message": "Your API key does not have permission to use the specified resource.",
        },
        "request_id": "req_011Cpermission",
    }
    server.scripts.push(Recording.raw(json.dumps(document).encode(), status=403))
    with anyio.fail_after(5), pytest.raises(PermissionDeniedError) as info:
        await provider.chat(req())
    _check_error(info.value, PermissionDeniedError, 403, "permission_error", document["error"]["message"])


async def test_404_unknown_model(server: AnthropicMockServer) -> None:
    with AnthropicMockServer(api_key=KEY, models=list(DEFAULT_MODELS)) as strict:
        async with AnthropicProvider(api_key=KEY, base_url=strict.base_url, timeouts=TIMEOUTS) as p:
            _, error = await _stream_error(p, req())
    _check_error(error, NotFoundError, 404, "not_found_error", "model: claude-sonnet-4-5")


async def test_429_rate_limit(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    server.faults.push(faults.RateLimit(retry_after=7, kind="input_tokens", limit=30_000))
    _, error = await _stream_error(provider, req())
    assert isinstance(error, RateLimitError)
    assert error.retry_after == 7.0
    assert "of 30,000 input tokens per minute" in error.message
    _check_error(error, RateLimitError, 429, "rate_limit_error", error.message)


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx(provider: AnthropicProvider, server: AnthropicMockServer, status: int) -> None:
    server.faults.push(faults.ServerFault(status=status))
    with anyio.fail_after(5), pytest.raises(ServerError) as info:
        await provider.chat(req())
    _check_error(info.value, ServerError, status, "api_error", "Internal server error")


async def test_529_overloaded(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    server.faults.push(faults.Overloaded())
    _, error = await _stream_error(provider, req())
    _check_error(error, OverloadedError, 529, "overloaded_error", "Overloaded")


async def test_error_event_mid_stream(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    server.scripts.push(Answer("alpha beta gamma delta"))
    # message_start, block start, ping, "alpha", " beta" — then the error event.
    server.faults.push(faults.ErrorEvent(after_events=5, error_type="overloaded_error", message="Overloaded"))
    tokens, error = await _stream_error(provider, req())
    assert summary(tokens)["text"] == "alpha beta"
    assert type(error) is OverloadedError
    assert (error.message, error.error_type, error.provider, error.model) == (
        "Overloaded",
        "overloaded_error",
        "anthropic",
        "claude-sonnet-4-5",
    )
    assert error.request_id is not None and error.request_id.startswith("req_011C")


async def test_error_event_other_type(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    server.faults.push(faults.ErrorEvent(after_events=1, error_type="api_error", message="Internal server error"))
    tokens, error = await _stream_error(provider, req())
    assert summary(tokens)["text"] == ""
    assert type(error) is ServerError
    assert error.message == "Internal server error"


# -- non-streaming calls -------------------------------------------------------------------


async def test_chat_non_streaming(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    server.scripts.push(Answer("Sure.", tool_calls=[("lookup", '{"q": "tokenwire"}')], usage=(9, 4, 2, 1)))
    with anyio.fail_after(5):
        answer = await provider.chat(req("claude-opus-4-5", top_p=0.5))
    assert answer.text == "Sure."
    assert len(answer.tool_calls) == 1
    call = answer.tool_calls[0]
    assert (call.name, call.parsed_arguments()) == ("lookup", {"q": "tokenwire"})
    assert call.id.startswith("toolu_01")
    assert answer.usage == Usage(9, 4, cache_read_tokens=2, cache_write_tokens=1)
    assert (answer.finish_reason, answer.provider, answer.model) == ("tool_use", "anthropic", "claude-opus-4-5")
    assert server.last_request.json() == {
        "model": "claude-opus-4-5",
        "max_tokens": 8192,
        "messages": [{"role": "user", "content": "hello there"}],
        "top_p": 0.5,
    }


async def test_tool_round_trip(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    messages = coerce_messages(
        [
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"id": "toolu_1", "function": {"name": "weather", "arguments": '{"city":"Rome"}'}}],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "21C and sunny"},
        ]
    )
    request = ChatRequest(model="claude-3-5-haiku-20241022", messages=messages, tools=(Tool("weather"),))
    with anyio.fail_after(5):
        answer = await provider.chat(request)
    assert answer.text == "The tool returned: 21C and sunny"
    assert server.last_request.json()["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Rome"}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "21C and sunny", "cache_control": EPH}
            ],
        },
    ]


async def test_complete_and_complete_stream(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    with anyio.fail_after(10):
        done = await provider.complete(CompletionRequest(model="claude-3-haiku-20240307", prompt="ping"))
        assert (done.text, done.provider, done.finish_reason) == ("You said: ping", "anthropic", "end_turn")
        assert done.request_id is not None
        body = server.last_request.json()
        assert body["messages"] == [
            {"role": "user", "content": [{"type": "text", "text": "ping", "cache_control": EPH}]}
        ]
        assert body["max_tokens"] == 4096
        async with provider.complete_stream(CompletionRequest(model="claude-3-haiku-20240307", prompt="pong")) as s:
            streamed = await s.get_final_response()
    assert streamed.text == "You said: pong"
    assert server.last_request.json()["stream"] is True


async def test_list_models(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    with anyio.fail_after(5):
        models = await provider.list_models()
    assert [m.id for m in models] == list(DEFAULT_MODELS)
    assert [m.display_name for m in models] == list(DEFAULT_MODELS.values())
    opus = next(m for m in models if m.id == "claude-opus-4-1-20250805")
    assert (opus.max_output_tokens, opus.context_window, opus.supports_reasoning) == (8192, 200_000, True)
    received = server.last_request
    assert (received.method, received.path, dict(received.query)) == ("GET", "/v1/models", {"limit": "1000"})
    assert "content-type" not in received.headers
    assert received.header("x-api-key") == KEY


async def test_count_tokens(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    request = req(system="Count me.", tools=(Tool("f", "A tool"),), max_tokens=50, stop=("x",))
    with anyio.fail_after(5):
        count = await provider.count_tokens(request)
    received = server.last_request
    assert received.path == "/v1/messages/count_tokens"
    body = received.json()
    assert not {"max_tokens", "stream", "temperature", "stop_sequences"} & set(body)
    assert count == estimate_request_tokens(body) > 0


async def test_count_tokens_falls_back_to_the_local_estimate(
    provider: AnthropicProvider, server: AnthropicMockServer
) -> None:
    from tokenwire.tokens import estimate_input_tokens

    request = req(system="Count me locally.")
    server.faults.push(faults.ServerFault(status=500))
    with anyio.fail_after(5):
        count = await provider.count_tokens(request)
    assert count == estimate_input_tokens(request) > 0
    server.faults.push(faults.ServerFault(status=500))
    with pytest.raises(ServerError), anyio.fail_after(5):
        await provider.count_tokens(request, local_fallback=False)


async def test_health_check(provider: AnthropicProvider, server: AnthropicMockServer) -> None:
    with anyio.fail_after(5):
        healthy = await provider.health_check()
    assert healthy.healthy and healthy.error is None
    async with AnthropicProvider(api_key="sk-ant-bad-000000", base_url=server.base_url, timeouts=TIMEOUTS) as bad:
        with anyio.fail_after(5):
            sick = await bad.health_check()
    assert not sick.healthy
    assert sick.error is not None and "invalid x-api-key" in sick.error
    assert "sk-ant-bad-000000" not in sick.error


async def test_secrets_never_in_repr_errors_or_logs(
    server: AnthropicMockServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with AnthropicProvider(api_key=KEY, base_url=server.base_url, timeouts=TIMEOUTS) as p:
        texts.append(repr(p))
        await collect(p, req())
        await p.chat(req())
        await p.count_tokens(req())
        await p.list_models()
        texts += await error_texts(p, server, req())
    async with AnthropicProvider(auth_token=KEY, base_url=server.base_url, timeouts=TIMEOUTS) as bearer:
        texts.append(repr(bearer))
        await bearer.chat(req())
    assert caplog.records, "expected httpx/httpcore debug logs"
    for text in [*texts, caplog.text]:
        assert KEY not in text
