"""The OpenAI adapters end to end over real sockets, against the loopback OpenAI server.

Covered: the exact headers and bodies the server receives per mode (Chat Completions,
Responses, legacy Completions, models, Azure); streaming parity character by character
for synthesized answers and for the recorded provider streams (text, reasoning, tool
calls, usage, citations), whole and byte-split (drip); a disconnect mid-event; HTTP
errors and in-stream errors mapped to typed errors with the provider's message and the
request id; non-streaming chat and completions; model listing and health checks; the
API key never leaking; stopping a stream early releasing its connection.

Expected stream contents are derived from the recorded payloads with plain
``json.loads`` (see ``expected_chat`` / ``expected_responses``), never from the code
under test. Every request is bounded by the provider's short timeouts.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import anyio
import httpx
import pytest
from tests.conftest import require_recorded
from tests.integration._streams import Got, consume

from tokenwire._http import Timeouts
from tokenwire.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
    StreamDecodeError,
    TokenwireError,
)
from tokenwire.providers.base import ChatStream
from tokenwire.providers.openai import AzureOpenAIProvider, OpenAIProvider
from tokenwire.registry import ProviderRegistry
from tokenwire.testing import Answer, OpenAIMockServer, Recording, faults, synth
from tokenwire.types import (
    ChatRequest,
    CompletionRequest,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    Usage,
    coerce_messages,
)

pytestmark = pytest.mark.anyio

KEY = "sk-test-openai-0123456789abcdefXYZ"
TIMEOUTS = Timeouts(connect=2.0, read=10.0, write=5.0, pool=5.0, idle=5.0, total=20.0)
PNG = "iVBORw0KGgo="
REQUEST_ID = re.compile(r"^req_[0-9a-f]{32}$")
WEATHER = Tool("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}})
ANSWER = Answer(
    text='Hello, wörld! Ünïcode 你好 and an emoji 🌍 — then a\nnew line and "quotes".',
    reasoning="The user greets; reply politely. 思考 ✓",
    tool_calls=[("get_weather", '{"city":"Paris","units":"métric"}'), ("get_time", '{"tz":"Europe/Paris"}')],
    usage=(11, 22, 3, 0, 5),
    chunk_words=2,
    args_chunk_chars=5,
)


# -- fixtures and helpers ------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID", "OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server() -> Iterator[OpenAIMockServer]:
    with OpenAIMockServer(api_key=KEY) as mock:
        yield mock


@pytest.fixture
async def provider(server: OpenAIMockServer) -> AsyncIterator[OpenAIProvider]:
    async with OpenAIProvider(api_key=KEY, base_url=server.base_url, timeouts=TIMEOUTS) as p:
        yield p


def req(model: str = "gpt-3.5-turbo", *messages: Any, **kwargs: Any) -> ChatRequest:
    return ChatRequest(
        model=model, messages=coerce_messages(messages or ({"role": "user", "content": "Hi"},)), **kwargs
    )


CHAT = {"api": "chat"}
RESPONSES = {"api": "responses"}


async def consume_until_error(stream: ChatStream) -> tuple[Got, TokenwireError]:
    got = Got()
    with pytest.raises(TokenwireError) as info:
        await consume(stream, got)
    return got, info.value


def wire_headers(server: OpenAIMockServer) -> dict[str, str]:
    return {name.lower(): value for name, value in server.last_request.headers}


def answer_calls(answer: Answer) -> list[tuple[str, str]]:
    return [(name, arguments) for name, arguments in answer.tool_calls]


def got_calls(got: Got) -> list[tuple[str, str]]:
    return [(call[1], call[2]) for _, call in sorted(got.calls.items())]


# -- expected contents of recorded streams (plain json.loads, per the dialect rules) ---------
@dataclass
class Expected:
    text: str = ""
    reasoning: str = ""
    calls: dict[int, list[Any]] = field(default_factory=dict)
    usage: Optional[Usage] = None
    finish: Optional[str] = None
    citations: list[tuple[str, Optional[str]]] = field(default_factory=list)


def _int(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _first_int(*values: Any) -> int:
    return next((v for v in map(_int, values) if v is not None), 0)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _chat_usage(raw: dict[str, Any]) -> Usage:
    prompt = _dict(raw.get("prompt_tokens_details"))
    completion = _dict(raw.get("completion_tokens_details"))
    return Usage(
        _first_int(raw.get("prompt_tokens")),
        _first_int(raw.get("completion_tokens")),
        _first_int(prompt.get("cached_tokens"), raw.get("prompt_cache_hit_tokens"), raw.get("cached_tokens")),
        _first_int(prompt.get("cache_write_tokens"), raw.get("cache_creation_input_tokens")),
        _first_int(completion.get("reasoning_tokens")),
    )


def _nonempty(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def expected_chat(lines: Sequence[str]) -> Expected:
    out = Expected()
    top_usage = False
    for line in lines:
        event = json.loads(line)
        for choice in event.get("choices") or []:
            if choice.get("index", 0) not in (0, None):
                continue
            delta = choice.get("delta") or {}
            out.reasoning += _nonempty(delta.get("reasoning_content")) or _nonempty(delta.get("reasoning")) or ""
            out.text += _nonempty(delta.get("content")) or ""
            for position, item in enumerate(delta.get("tool_calls") or []):
                index = _int(item.get("index"))
                fn = item.get("function") or {}
                call = out.calls.setdefault(position if index is None else index, [None, None, ""])
                call[0] = call[0] or _nonempty(item.get("id"))
                call[1] = call[1] or _nonempty(fn.get("name"))
                call[2] += fn.get("arguments") if isinstance(fn.get("arguments"), str) else ""
            if out.finish is None:
                out.finish = _nonempty(choice.get("finish_reason"))
        if isinstance(event.get("usage"), dict):
            top_usage = True
            out.usage = _chat_usage(event["usage"])
        elif not top_usage and isinstance((event.get("x_groq") or {}).get("usage"), dict):
            out.usage = _chat_usage(event["x_groq"]["usage"])
    out.calls = {k: v for k, v in out.calls.items() if v != [None, None, ""]}
    return out


def expected_responses(lines: Sequence[str]) -> Expected:
    out = Expected()
    by_item: dict[str, int] = {}
    by_output: dict[int, int] = {}
    for line in lines:
        event = json.loads(line)
        kind = event.get("type")
        if kind == "response.output_text.delta":
            out.text += _nonempty(event.get("delta")) or ""
        elif kind in ("response.reasoning_summary_text.delta", "response.reasoning_text.delta"):
            out.reasoning += _nonempty(event.get("delta")) or ""
        elif kind == "response.output_item.added" and (event.get("item") or {}).get("type") == "function_call":
            item = event["item"]
            n = len(out.calls)
            if isinstance(item.get("id"), str):
                by_item[item["id"]] = n
            if _int(event.get("output_index")) is not None:
                by_output[event["output_index"]] = n
            arguments = item.get("arguments") if isinstance(item.get("arguments"), str) else ""
            out.calls[n] = [_nonempty(item.get("call_id")), _nonempty(item.get("name")), arguments]
        elif kind == "response.function_call_arguments.delta":
            n = by_item.get(event.get("item_id"), by_output.get(event.get("output_index")))  # type: ignore[arg-type]
            if n is not None:
                out.calls[n][2] += event.get("delta") or ""
        elif kind == "response.output_text.annotation.added":
            note = event.get("annotation") or {}
            if note.get("type") == "url_citation" and _nonempty(note.get("url")):
                out.citations.append((note["url"], _nonempty(note.get("title"))))
        elif kind in ("response.completed", "response.incomplete"):
            response = event.get("response") or {}
            raw = response.get("usage")
            if isinstance(raw, dict):
                out.usage = Usage(
                    _first_int(raw.get("input_tokens")),
                    _first_int(raw.get("output_tokens")),
                    _first_int((raw.get("input_tokens_details") or {}).get("cached_tokens")),
                    0,
                    _first_int((raw.get("output_tokens_details") or {}).get("reasoning_tokens")),
                )
            out.finish = (
                _nonempty((response.get("incomplete_details") or {}).get("reason"))
                or _nonempty(response.get("status"))
                or kind[len("response.") :]
            )
            break
    out.calls = {k: v for k, v in out.calls.items() if v != [None, None, ""]}
    return out


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


CHAT_FIXTURES = [
    "openai/openai-text.chunks.txt",
    "openai/azure-model-router.1.chunks.txt",
    "openai-compatible/xai-text.chunks.txt",
    "openai-compatible/xai-tool-call.chunks.txt",
    "groq/groq-text.chunks.txt",
    "groq/groq-reasoning.chunks.txt",
    "groq/groq-tool-call.chunks.txt",
    "deepseek/deepseek-text.chunks.txt",
    "deepseek/deepseek-reasoning.chunks.txt",
    "deepseek/deepseek-tool-call.chunks.txt",
    "xai/xai-text.chunks.txt",
    "xai/xai-tool-call.chunks.txt",
]
# Responses recordings: every openai/ file of "response.*" events except the error one
# (tested below) and parallel-tool-call-wrapper.1, whose first and last lines are not
# valid JSON in the recording itself; plus xAI's Responses recordings.
RESPONSES_FIXTURES = [
    "openai/github-copilot-id-rotation.1.chunks.txt",
    "openai/openai-apply-patch-tool-delete.1.chunks.txt",
    "openai/openai-apply-patch-tool.1.chunks.txt",
    "openai/openai-client-tool-search.1.chunks.txt",
    "openai/openai-client-tool-search.2.chunks.txt",
    "openai/openai-code-interpreter-tool.1.chunks.txt",
    "openai/openai-compaction.1.chunks.txt",
    "openai/openai-custom-tool.1.chunks.txt",
    "openai/openai-file-search-tool.1.chunks.txt",
    "openai/openai-file-search-tool.2.chunks.txt",
    "openai/openai-image-generation-tool.1.chunks.txt",
    "openai/openai-local-shell-tool.1.chunks.txt",
    "openai/openai-mcp-tool-approval.1.chunks.txt",
    "openai/openai-mcp-tool-approval.2.chunks.txt",
    "openai/openai-mcp-tool-approval.3.chunks.txt",
    "openai/openai-mcp-tool-approval.4.chunks.txt",
    "openai/openai-mcp-tool.1.chunks.txt",
    "openai/openai-phase.1.chunks.txt",
    "openai/openai-reasoning-encrypted-content.1.chunks.txt",
    "openai/openai-shell-container-multiturn.1.chunks.txt",
    "openai/openai-shell-container.1.chunks.txt",
    "openai/openai-shell-local-multiturn.1.chunks.txt",
    "openai/openai-shell-skills.1.chunks.txt",
    "openai/openai-shell-tool.1.chunks.txt",
    "openai/openai-tool-search.1.chunks.txt",
    "openai/openai-web-search-tool.1.chunks.txt",
    "openai/programmatic-tool-calling.1.chunks.txt",
    "openai/programmatic-tool-calling.2.chunks.txt",
    "openai/programmatic-tool-calling.3.chunks.txt",
    "xai/xai-image-generation-tool.1.chunks.txt",
    "xai/xai-text-streaming.1.chunks.txt",
    "xai/xai-text-with-reasoning-streaming-store-false.1.chunks.txt",
    "xai/xai-text-with-reasoning-streaming.1.chunks.txt",
    "xai/xai-web-search-tool.1.chunks.txt",
    "xai/xai-x-search-tool.chunks.txt",
]


def _drip_for(size: int) -> faults.Drip:
    # One byte per write for small streams; larger ones split at odd offsets (bounded
    # to ~600 writes so the whole suite stays fast).
    if size <= 4096:
        return faults.Drip(bytes_per_write=1)
    return faults.Drip(bytes_per_write=(size // 600) | 1)


# -- headers and bodies on the wire --------------------------------------------------------------
async def test_chat_stream_exact_headers_and_body(server: OpenAIMockServer, provider: OpenAIProvider) -> None:
    request = ChatRequest(
        model="gpt-3.5-turbo",
        system="Be brief.",
        messages=(Message("user", (TextPart("What is this?"), ImagePart(data=PNG))),),
        tools=(WEATHER,),
        tool_choice="auto",
        max_tokens=64,
    )
    await consume(provider.chat_stream(request))
    sent = server.last_request
    assert (sent.method, sent.path, dict(sent.query)) == ("POST", "/v1/chat/completions", {})
    headers = wire_headers(server)
    assert set(headers) == {
        "host",
        "accept",
        "accept-encoding",
        "connection",
        "user-agent",
        "authorization",
        "content-type",
        "content-length",
    }
    assert headers["authorization"] == f"Bearer {KEY}"
    assert headers["accept"] == "text/event-stream"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"] == "tokenwire/0.1.0"
    assert sent.json() == {
        "model": "gpt-3.5-turbo",
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                ],
            },
        ],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_completion_tokens": 64,
        "tools": [{"type": "function", "function": {"name": "get_weather", **_weather_fn()}}],
        "tool_choice": "auto",
    }


def _weather_fn() -> dict[str, Any]:
    return {
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    }


async def test_organization_and_project_headers(server: OpenAIMockServer) -> None:
    async with OpenAIProvider(
        api_key=KEY, base_url=server.base_url, organization="org-42", project="proj_7", timeouts=TIMEOUTS
    ) as p:
        await p.chat(req(options=CHAT))
    headers = wire_headers(server)
    assert headers["openai-organization"] == "org-42"
    assert headers["openai-project"] == "proj_7"
    assert headers["accept"] == "application/json"


async def test_responses_exact_body_and_dialect(server: OpenAIMockServer, provider: OpenAIProvider) -> None:
    messages = (
        Message("user", "What's the weather?"),
        Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),)),
        Message("tool", "18C", tool_call_id="call_1"),
    )
    request = ChatRequest(model="gpt-5-mini", messages=messages, system="Sys", tools=(WEATHER,))
    stream = provider.chat_stream(request)
    got = await consume(stream)
    assert stream.request_id is not None and REQUEST_ID.match(stream.request_id)
    sent = server.last_request
    assert sent.path == "/v1/responses"
    assert wire_headers(server)["accept"] == "text/event-stream"
    assert sent.json() == {
        "model": "gpt-5-mini",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "What's the weather?"}]},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": '{"city":"Paris"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "18C"},
        ],
        "stream": True,
        "store": True,
        "instructions": "Sys",
        "reasoning": {"effort": "medium", "summary": "auto"},
        "max_output_tokens": 128000,
        "text": {"verbosity": "medium"},
        "tools": [{"type": "function", "name": "get_weather", **_weather_fn(), "strict": False}],
    }
    # The mock echoes the tool output: the Responses stream reached the caller.
    assert got.text == "The tool returned: 18C"
    assert got.finish == ["completed"] and len(got.usage) == 1


async def test_models_call_headers(server: OpenAIMockServer, provider: OpenAIProvider) -> None:
    models = await provider.list_models()
    sent = server.last_request
    assert (sent.method, sent.path, sent.body) == ("GET", "/v1/models", b"")
    headers = wire_headers(server)
    assert set(headers) == {"host", "accept", "accept-encoding", "connection", "user-agent", "authorization"}
    ids = [m.id for m in models]
    assert ids == ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "o3-mini", "o4-mini", "gpt-3.5-turbo-instruct"]
    gpt4o = models[0]
    assert (gpt4o.provider, gpt4o.context_window, gpt4o.max_output_tokens, gpt4o.input_price) == (
        "openai",
        128_000,
        16_384,
        2.5,
    )


async def test_azure_exact_headers_path_query_and_body(server: OpenAIMockServer) -> None:
    async with AzureOpenAIProvider(
        api_key=KEY, endpoint=server.azure_endpoint, deployment="prod-4o", timeouts=TIMEOUTS
    ) as azure:
        got = await consume(azure.chat_stream(req("gpt-4o", system="Sys")))
        reply = await azure.chat(req("gpt-4o"))
    sent = server.requests[0]
    assert sent.path == "/openai/deployments/prod-4o/chat/completions"
    assert dict(sent.query) == {"api-version": "2024-08-01-preview"}
    headers = {name.lower(): value for name, value in sent.headers}
    assert set(headers) == {
        "host",
        "accept",
        "accept-encoding",
        "connection",
        "user-agent",
        "api-key",
        "content-type",
        "content-length",
    }
    assert headers["api-key"] == KEY and "authorization" not in headers
    assert sent.json() == {
        "model": "gpt-4o",
        "temperature": 0,
        "messages": [{"role": "system", "content": "Sys"}, {"role": "user", "content": "Hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    # Azure's leading prompt-filter chunk carries no content: the answer is intact.
    assert got.text == "You said: Hi" and len(got.usage) == 1
    assert reply.text == "You said: Hi" and reply.provider == "azure-openai"


async def test_azure_wrong_key_is_an_authentication_error(server: OpenAIMockServer) -> None:
    async with AzureOpenAIProvider(
        api_key="wrong-key-123456", endpoint=server.azure_endpoint, timeouts=TIMEOUTS
    ) as azure:
        with pytest.raises(AuthenticationError) as info:
            await azure.chat(req("gpt-4o"))
    assert info.value.message.startswith("Access denied due to invalid subscription key")
    assert info.value.status == 401 and info.value.provider == "azure-openai" and info.value.request_id


async def test_registry_and_env_variables(server: OpenAIMockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    provider = ProviderRegistry.default().create("openai", timeouts=TIMEOUTS)
    async with provider:
        got = await consume(provider.chat_stream(req("gpt-4o-mini", {"role": "user", "content": "env"})))
    assert got.text == "You said: env"
    assert server.last_request.path == "/v1/responses"


# -- streaming parity: synthesized answers -----------------------------------------------------------
SPLITS = [None, faults.Drip(bytes_per_write=1), faults.Drip(bytes_per_write=3), faults.Drip(bytes_per_write=64)]


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("split", SPLITS, ids=["whole", "drip1", "drip3", "drip64"])
async def test_stream_parity_synthesized(
    server: OpenAIMockServer, provider: OpenAIProvider, api: str, split: Optional[faults.Drip]
) -> None:
    server.scripts.push(ANSWER)
    if split is not None:
        server.faults.push(split)
    stream = provider.chat_stream(req("gpt-4o-mini", options={"api": api}))
    got = await consume(stream)
    assert got.text == ANSWER.text
    assert got.reasoning == ANSWER.reasoning
    assert got_calls(got) == answer_calls(ANSWER)
    ids = [call[0] for _, call in sorted(got.calls.items())]
    assert all(ids) and len(set(ids)) == len(ids)
    assert got.usage == [Usage(11, 22, 3, 0, 5)]
    assert got.finish == (["tool_calls"] if api == "chat" else ["completed"])
    assert got.tokens[-1].kind == "usage"
    final = await stream.get_final_response()
    assert (final.text, final.reasoning) == (ANSWER.text, ANSWER.reasoning)
    assert [(c.name, c.arguments) for c in final.tool_calls] == answer_calls(ANSWER)
    assert final.request_id is not None and REQUEST_ID.match(final.request_id)


async def test_uncoalesced_stream_yields_one_token_per_event(server: OpenAIMockServer) -> None:
    async with OpenAIProvider(api_key=KEY, base_url=server.base_url, timeouts=TIMEOUTS, coalesce=False) as p:
        server.scripts.push(Answer("one two three four", chunk_words=1, usage=(1, 4)))
        got = await consume(p.chat_stream(req(options=CHAT)))
    assert [t.text for t in got.tokens if t.kind == "text"] == ["one", " two", " three", " four"]  # type: ignore[union-attr]


async def test_legacy_completion_stream(server: OpenAIMockServer, provider: OpenAIProvider) -> None:
    server.scripts.push(Answer("Once upon a time", usage=(4, 5)))
    request = CompletionRequest(model="gpt-3.5-turbo-instruct", prompt="Tell a story", max_tokens=16)
    got = await consume(provider.complete_stream(request))
    sent = server.last_request
    assert sent.path == "/v1/completions"
    assert sent.json() == {
        "model": "gpt-3.5-turbo-instruct",
        "prompt": "Tell a story",
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": 16,
    }
    assert got.text == "Once upon a time"
    assert got.usage == [Usage(4, 5, 0, 0, 0)]


async def test_complete_stream_on_the_responses_api(server: OpenAIMockServer, provider: OpenAIProvider) -> None:
    server.scripts.push(Answer("Done.", usage=(3, 2)))
    got = await consume(provider.complete_stream(CompletionRequest(model="gpt-4o", prompt="Finish this")))
    sent = server.last_request
    assert sent.path == "/v1/responses"
    assert sent.json()["store"] is False and "instructions" not in sent.json()
    assert got.text == "Done." and got.usage == [Usage(3, 2, 0, 0, 0)]


# -- streaming parity: recorded streams ------------------------------------------------------------
@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
@pytest.mark.parametrize("fixture", CHAT_FIXTURES)
async def test_recorded_chat_stream_parity(
    server: OpenAIMockServer, provider: OpenAIProvider, fixture: str, split: bool
) -> None:
    path = require_recorded() / "vercel-ai" / fixture
    lines = _lines(path)
    recording = Recording.from_lines(lines)
    server.scripts.push(recording)
    if split:
        server.faults.push(_drip_for(sum(len(c) for c in recording.chunks("openai-chat"))))
    got = await consume(provider.chat_stream(req(options=CHAT)))
    expected = expected_chat(lines)
    assert got.text == expected.text
    assert got.reasoning == expected.reasoning
    assert got.calls == expected.calls
    assert got.usage == ([expected.usage] if expected.usage is not None else [])
    assert got.finish == ([expected.finish] if expected.finish else [])


@pytest.mark.parametrize("split", [False, True], ids=["whole", "split"])
@pytest.mark.parametrize("fixture", RESPONSES_FIXTURES)
async def test_recorded_responses_stream_parity(
    server: OpenAIMockServer, provider: OpenAIProvider, fixture: str, split: bool
) -> None:
    path = require_recorded() / "vercel-ai" / fixture
    lines = _lines(path)
    recording = Recording.from_lines(lines)
    server.scripts.push(recording)
    if split:
        server.faults.push(_drip_for(sum(len(c) for c in recording.chunks("openai-responses"))))
    got = await consume(provider.chat_stream(req("gpt-5", options=RESPONSES)))
    expected = expected_responses(lines)
    assert got.text == expected.text
    assert got.reasoning == expected.reasoning
    assert got.calls == expected.calls
    assert got.citations == expected.citations
    assert got.usage == ([expected.usage] if expected.usage is not None else [])
    assert got.finish == ([expected.finish] if expected.finish else [])


async def test_recorded_responses_error_stream(server: OpenAIMockServer, provider: OpenAIProvider) -> None:
    lines = _lines(require_recorded() / "vercel-ai" / "openai" / "openai-error.1.chunks.txt")
    server.scripts.push(Recording.from_lines(lines))
    stream = provider.chat_stream(req("gpt-5", options=RESPONSES))
    got, error = await consume_until_error(stream)
    assert got.tokens == []
    assert isinstance(error, RateLimitError)
    assert error.message == json.loads(lines[2])["error"]["message"]
    assert error.code == "insufficient_quota" and error.error_type == "insufficient_quota"
    assert error.provider == "openai" and error.model == "gpt-5"
    assert error.request_id is not None and REQUEST_ID.match(error.request_id)
    assert stream.closed


# -- disconnects, stalls, malformed frames ---------------------------------------------------------
def _event_text(event: bytes, api: str) -> str:
    data = "\n".join(line[len("data: ") :] for line in event.decode().splitlines() if line.startswith("data: "))
    if data == "[DONE]":
        return ""
    payload = json.loads(data)
    if api == "chat":
        choices = payload.get("choices") or [{}]
        return (choices[0].get("delta") or {}).get("content") or ""
    return payload.get("delta", "") if payload.get("type") == "response.output_text.delta" else ""


@pytest.mark.parametrize("api", ["chat", "responses"])
@pytest.mark.parametrize("nth_text_event", [2, 6])
async def test_disconnect_mid_event_delivers_tokens_then_raises(
    server: OpenAIMockServer, provider: OpenAIProvider, api: str, nth_text_event: int
) -> None:
    protocol = "openai-chat" if api == "chat" else "openai-responses"
    answer = Answer("alpha beta gamma delta epsilon zeta eta theta iota kappa", usage=(2, 10))
    events = synth.stream_events(answer, protocol, model="gpt-4o-mini", response_id="cut-test")  # type: ignore[arg-type]
    server.scripts.push(Recording.raw(b"".join(events)))
    # Cut in the middle of the n-th event that carries text.
    cut_event = [i for i, e in enumerate(events) if _event_text(e, api)][nth_text_event]
    offset = sum(len(e) for e in events[:cut_event]) + len(events[cut_event]) // 2
    server.faults.push(faults.Disconnect(after_bytes=offset))
    stream = provider.chat_stream(req("gpt-4o-mini", options={"api": api}))
    got, error = await consume_until_error(stream)
    assert type(error) is APIConnectionError
    assert "connection lost mid-stream" in str(error)
    # Exactly the text of the complete events before the cut: nothing lost, nothing extra.
    assert got.text == "".join(_event_text(e, api) for e in events[:cut_event])
    assert got.text and got.usage == [] and got.finish == []
    assert stream.closed


async def test_disconnect_with_drip(server: OpenAIMockServer, provider: OpenAIProvider) -> None:
    answer = Answer("one two three four five six", usage=(1, 6))
    events = synth.stream_events(answer, "openai-chat", model="gpt-4o-mini", response_id="drip-cut")
    server.scripts.push(Recording.raw(b"".join(events)))
    offset = sum(len(e) for e in events[:4]) + 10
    server.faults.push([faults.Drip(bytes_per_write=1), faults.Disconnect(after_bytes=offset)])
    got, error = await consume_until_error(provider.chat_stream(req(options=CHAT)))
    assert type(error) is APIConnectionError
    assert got.text == "".join(_event_text(e, "chat") for e in events[:4])


async def test_idle_stall_is_a_timeout(server: OpenAIMockServer) -> None:
    quick = Timeouts(connect=2.0, read=5.0, idle=0.3, total=10.0)
    async with OpenAIProvider(api_key=KEY, base_url=server.base_url, timeouts=quick) as p:
        server.scripts.push(Answer("never mind the stall", usage=(1, 4)))
        server.faults.push(faults.Stall(seconds=5.0, after_bytes=40))
        started = time.perf_counter()
        got, error = await consume_until_error(p.chat_stream(req(options=CHAT)))
    assert isinstance(error, APITimeoutError)
    assert time.perf_counter() - started < 3.0
    assert got.text == ""


async def test_malformed_event_is_a_stream_decode_error_after_earlier_tokens(
    server: OpenAIMockServer, provider: OpenAIProvider
) -> None:
    server.scripts.push(Answer("first second third", usage=(1, 3)))
    server.faults.push(faults.Malformed(after_events=3))
    got, error = await consume_until_error(provider.chat_stream(req(options=CHAT)))
    assert isinstance(error, StreamDecodeError)
    assert got.text == "first second"


# -- errors ------------------------------------------------------------------------------------
async def _fail(provider: OpenAIProvider, request: ChatRequest, *, stream: bool) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        if stream:
            await consume(provider.chat_stream(request))
        else:
            await provider.chat(request)
    return info.value


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "chat"])
async def test_http_errors_map_to_typed_errors(
    server: OpenAIMockServer, provider: OpenAIProvider, stream: bool
) -> None:
    # 400: the server's own validation (an empty messages array forced via extra_body).
    error = await _fail(provider, req(options=CHAT, extra_body={"messages": []}), stream=stream)
    assert type(error) is BadRequestError and error.status == 400 and error.code == "empty_array"
    assert error.message == (
        "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead."
    )
    assert error.request_id is not None and REQUEST_ID.match(error.request_id)
    assert error.provider == "openai" and error.model == "gpt-3.5-turbo"

    # 403: a recorded-shape refusal.
    forbidden = {
        "error": {
            "code": "unsupported_country_region_territory",
            "message": "Country, region, or territory not supported",
            "param": None,
            "type": "request_forbidden",
        }
    }
    server.scripts.push(Recording.raw(json.dumps(forbidden).encode(), status=403))
    error = await _fail(provider, req(options=CHAT), stream=stream)
    assert type(error) is PermissionDeniedError and error.status == 403
    assert error.message == "Country, region, or territory not supported"
    assert error.request_id is not None

    # 429 with the rate-limit headers.
    server.faults.push(faults.RateLimit(retry_after=2, kind="tokens", limit=1000, requested=50))
    error = await _fail(provider, req(options=CHAT), stream=stream)
    assert type(error) is RateLimitError and error.status == 429 and error.retry_after == 2.0
    assert error.message.startswith("Rate limit reached for gpt-3.5-turbo in organization ")
    assert error.error_type == "tokens" and error.code == "rate_limit_exceeded"

    server.faults.push(faults.QuotaExceeded())
    error = await _fail(provider, req(options=CHAT), stream=stream)
    assert type(error) is RateLimitError and error.code == "insufficient_quota"

    # 500, 502, 503.
    server.faults.push(faults.ServerFault(500))
    error = await _fail(provider, req(options=CHAT), stream=stream)
    assert type(error) is ServerError and error.status == 500
    assert error.message.startswith("The server had an error processing your request.")
    assert error.request_id is not None and error.request_id in error.message
    server.faults.push(faults.ServerFault(502, message="Bad gateway."))
    error = await _fail(provider, req(options=CHAT), stream=stream)
    assert type(error) is ServerError and error.status == 502 and error.message == "Bad gateway."
    server.faults.push(faults.Overloaded())
    error = await _fail(provider, req(options=CHAT), stream=stream)
    assert type(error) is ServerError and error.status == 503
    assert error.message.startswith("That model is currently overloaded")


async def test_401_and_404(server: OpenAIMockServer) -> None:
    wrong = "sk-wrong-key-000000000000000000000"
    async with OpenAIProvider(api_key=wrong, base_url=server.base_url, timeouts=TIMEOUTS) as p:
        for stream in (True, False):
            error = await _fail(p, req(options=CHAT), stream=stream)
            assert type(error) is AuthenticationError and error.status == 401 and error.code == "invalid_api_key"
            assert error.message.startswith("Incorrect API key provided: sk-wrong")
            assert wrong not in str(error) and wrong not in repr(error)
    with OpenAIMockServer(api_key=KEY, models=["gpt-4o-mini"]) as strict:
        async with OpenAIProvider(api_key=KEY, base_url=strict.base_url, timeouts=TIMEOUTS) as p:
            for stream in (True, False):
                error = await _fail(p, req("gpt-nope", options=CHAT), stream=stream)
                assert type(error) is NotFoundError and error.status == 404 and error.code == "model_not_found"
                assert error.message == "The model `gpt-nope` does not exist or you do not have access to it."
                error = await _fail(p, req("gpt-nope", options=RESPONSES), stream=stream)
                assert type(error) is NotFoundError


@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_error_event_mid_stream(server: OpenAIMockServer, provider: OpenAIProvider, api: str) -> None:
    server.scripts.push(Answer("one two three four five", usage=(1, 5)))
    # After a few text events (the Responses stream opens with four structural events).
    after = 4 if api == "chat" else 7
    server.faults.push(faults.ErrorEvent(after_events=after, error_type="server_error", message="Mid-stream failure."))
    stream = provider.chat_stream(req("gpt-4o-mini", options={"api": api}))
    got, error = await consume_until_error(stream)
    assert type(error) is ServerError
    assert error.message == "Mid-stream failure."
    assert error.provider == "openai" and error.model == "gpt-4o-mini"
    assert error.request_id is not None and error.request_id == stream.request_id
    assert got.text and "one two three four five".startswith(got.text)
    assert got.usage == [] and stream.closed


async def test_rate_limit_error_event_in_chat_stream(server: OpenAIMockServer, provider: OpenAIProvider) -> None:
    server.scripts.push(Answer("a b c", usage=(1, 3)))
    server.faults.push(faults.ErrorEvent(after_events=2, error_type="rate_limit_exceeded", message="Slow down."))
    got, error = await consume_until_error(provider.chat_stream(req(options=CHAT)))
    assert type(error) is RateLimitError and error.message == "Slow down."
    assert got.text == "a"


# -- non-streaming and completions --------------------------------------------------------------
@pytest.mark.parametrize("api", ["chat", "responses"])
async def test_non_streaming_chat(server: OpenAIMockServer, provider: OpenAIProvider, api: str) -> None:
    server.scripts.push(ANSWER)
    reply = await provider.chat(req("gpt-4o-mini", options={"api": api}))
    assert (
        server.last_request.json()["stream"] is False
        if api == "responses"
        else "stream" not in server.last_request.json()
    )
    assert reply.text == ANSWER.text and reply.reasoning == ANSWER.reasoning
    assert [(c.name, c.arguments) for c in reply.tool_calls] == answer_calls(ANSWER)
    assert reply.usage == Usage(11, 22, 3, 0, 5)
    assert reply.finish_reason == ("tool_calls" if api == "chat" else "completed")
    assert reply.request_id is not None and REQUEST_ID.match(reply.request_id)
    assert (reply.provider, reply.model) == ("openai", "gpt-4o-mini")


async def test_chat_and_stream_agree(server: OpenAIMockServer, provider: OpenAIProvider) -> None:
    for api in ("chat", "responses"):
        server.scripts.push(ANSWER, times=2)
        streamed = await provider.chat_stream(req("gpt-4o-mini", options={"api": api})).get_final_response()
        whole = await provider.chat(req("gpt-4o-mini", options={"api": api}))
        assert (streamed.text, streamed.reasoning, streamed.usage, streamed.finish_reason) == (
            whole.text,
            whole.reasoning,
            whole.usage,
            whole.finish_reason,
        )
        # (Call ids differ: the mock derives them from the request number.)
        assert [(c.name, c.arguments) for c in streamed.tool_calls] == [(c.name, c.arguments) for c in whole.tool_calls]


async def test_complete_legacy_chat_and_responses(server: OpenAIMockServer, provider: OpenAIProvider) -> None:
    server.scripts.push(Answer("legacy text", usage=(3, 2)))
    legacy = await provider.complete(CompletionRequest(model="gpt-3.5-turbo-instruct", prompt="p1", temperature=0.5))
    assert server.last_request.path == "/v1/completions"
    assert server.last_request.json() == {"model": "gpt-3.5-turbo-instruct", "prompt": "p1", "temperature": 0.5}
    assert (legacy.text, legacy.usage, legacy.finish_reason) == ("legacy text", Usage(3, 2, 0, 0, 0), "stop")
    assert legacy.request_id is not None

    chat = await provider.complete(CompletionRequest(model="gpt-3.5-turbo", prompt="p2"))
    assert server.last_request.path == "/v1/chat/completions"
    assert server.last_request.json() == {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "p2"}]}
    assert chat.text == "You said: p2" and chat.provider == "openai"

    responses = await provider.complete(CompletionRequest(model="o4-mini", prompt="p3"))
    assert server.last_request.path == "/v1/responses"
    assert server.last_request.json() == {
        "model": "o4-mini",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "p3"}]}],
        "stream": False,
        "store": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "max_output_tokens": 40000,
    }
    assert responses.text == "You said: p3" and responses.finish_reason == "completed"


async def test_health_check(server: OpenAIMockServer, provider: OpenAIProvider) -> None:
    healthy = await provider.health_check()
    assert healthy.healthy and healthy.provider == "openai" and healthy.error is None
    assert server.last_request.path == "/v1/models"
    wrong = "sk-another-wrong-key-0000000000000"
    async with OpenAIProvider(api_key=wrong, base_url=server.base_url, timeouts=TIMEOUTS) as p:
        sick = await p.health_check()
    assert not sick.healthy and sick.error is not None
    assert sick.error.startswith("AuthenticationError") and wrong not in sick.error


# -- secrets ---------------------------------------------------------------------------------------
async def test_key_never_in_repr_errors_or_logs(
    server: OpenAIMockServer, provider: OpenAIProvider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert KEY not in repr(provider)
    server.scripts.push(ANSWER)
    await consume(provider.chat_stream(req(options=CHAT)))
    errors: list[BaseException] = []
    for fault in (faults.ServerFault(500), faults.RateLimit(), faults.ErrorEvent(after_events=1)):
        server.faults.push(fault)
        with pytest.raises(ProviderError) as info:
            await consume(provider.chat_stream(req(options=CHAT)))
        errors.append(info.value)
    server.faults.push(faults.Disconnect(after_bytes=30))
    with pytest.raises(APIConnectionError) as cut:
        await consume(provider.chat_stream(req(options=CHAT)))
    errors.append(cut.value)
    # The server echoes a (masked) wrong key; a key that reaches an error is redacted.
    wrong = "sk-echoed-key-0000000000000000000"
    async with OpenAIProvider(api_key=wrong, base_url=server.base_url, timeouts=TIMEOUTS) as p:
        with pytest.raises(AuthenticationError) as auth:
            await p.chat(req(options=CHAT))
        errors.append(auth.value)
        assert wrong not in repr(p)
    for error in errors:
        for text in (str(error), repr(error), str(getattr(error, "body", ""))):
            assert KEY not in text and wrong not in text
    assert caplog.records, "expected httpx debug logging"
    assert KEY not in caplog.text and wrong not in caplog.text


# -- connections -------------------------------------------------------------------------------
async def test_stopping_early_releases_the_connection(server: OpenAIMockServer) -> None:
    # One connection in the pool and a short pool timeout: the second request only gets
    # a connection if leaving the first stream early closed it.
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
    short = Timeouts(connect=2.0, read=5.0, pool=1.0, idle=5.0, total=10.0)
    try:
        async with OpenAIProvider(api_key=KEY, base_url=server.base_url, timeouts=short, http_client=client) as p:
            words = " ".join(f"w{i}" for i in range(200))
            server.scripts.push(Answer(words, usage=(1, 200)))
            # The server would stall for 30 s after the first events: only closing ends it.
            server.faults.push(faults.Stall(seconds=30.0, after_bytes=2000))
            with anyio.fail_after(3.0):
                stream = p.chat_stream(req(options=CHAT))
                async with stream:
                    async for token in stream:
                        if token.kind == "text":
                            break
            assert stream.closed
            with anyio.fail_after(3.0):
                reply = await p.chat(req("gpt-3.5-turbo", {"role": "user", "content": "again"}, options=CHAT))
            assert reply.text == "You said: again"
            # And a pooled keep-alive connection is reused after a full stream.
            await consume(p.chat_stream(req(options=CHAT)))
            await consume(p.chat_stream(req(options=CHAT)))
    finally:
        await client.aclose()
