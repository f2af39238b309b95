"""The OpenAI-compatible family end to end over real sockets: one test module driven by
``tokenwire.providers.compat.PROFILES``, against ``CompatMockServer`` serving each
profile's own paths and wire style.

For every profile: the exact header set and body of a streamed chat request, a streamed
answer decoded character for character (reasoning, and citations for Perplexity), the
usage, non-streaming chat, and a 401 and a 429 mapped to typed errors with the
provider's message and the request id. Then focused tests for each quirk (R1 merge,
OpenRouter routing/reasoning/usage, Perplexity citations, Groq ``x_groq`` usage,
Mistral's message rules, Cerebras' clamping, think tags, regional base URLs, …), the
model lists, the registry, and the recorded provider streams of
``../shared/fixtures/recorded/vercel-ai`` served through the mock and decoded to their
contents (expected values read from the payloads with plain ``json.loads``).

The expected headers and bodies are written out here from Roo-Code's handlers
(RooCodeInc/Roo-Code at ``9bcd9918``), not derived from the code under test.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
import sys
from collections.abc import AsyncGenerator, Generator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

import anyio
import httpx
import pytest
from tests._stream_helpers import classify_recorded, recorded_lines
from tests.conftest import RECORDED, require_recorded
from tests.integration._streams import Got, consume

from tokenwire import catalog
from tokenwire._http import Timeouts
from tokenwire.errors import (
    APIConnectionError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ProviderError,
    RateLimitError,
    ServerError,
    UnprocessableEntityError,
)
from tokenwire.manager import ProviderManager
from tokenwire.providers import compat
from tokenwire.providers.compat import PROFILES, CompatProvider
from tokenwire.registry import ProviderRegistry
from tokenwire.testing import Answer, CompatMockServer, RecordedRequest, Recording, faults
from tokenwire.types import (
    ChatRequest,
    CompletionRequest,
    Message,
    Tool,
    ToolCall,
    Usage,
    coerce_messages,
)

pytestmark = pytest.mark.anyio

KEY = "sk-compat-test-0123456789abcdefWXYZ"
TIMEOUTS = Timeouts(connect=2.0, read=10.0, write=5.0, pool=5.0, idle=5.0, total=20.0)
PNG = "iVBORw0KGgo="
NAMES = sorted(PROFILES)
TRANSPORT = {"host", "accept-encoding", "connection", "content-length"}
ATTRIBUTION = {"http-referer": "https://pypi.org/project/tokenwire/", "x-title": "tokenwire"}
ANSWER = Answer(
    text='Hello, wörld! Ünïcode 你好 and an emoji 🌍 — then a\nnew line and "quotes".',
    reasoning="The user greets; reply politely. 思考 ✓",
    usage=(11, 22, 3, 0, 5),
    chunk_words=2,
)


# -- what Roo sends, per profile ------------------------------------------------------------
@dataclass(frozen=True)
class Expect:
    """The wire facts of one profile for the standard request (see ``standard_request``)."""

    model: str
    headers: Mapping[str, str]
    body: Mapping[str, Any]
    #: (input, output, cache_read, cache_write, reasoning) decoded from ANSWER, or None.
    usage: Optional[tuple[int, int, int, int, int]] = (11, 22, 3, 0, 5)
    unauthorized: str = "Invalid API key provided"


def _msgs(system: Any = "Be brief.", user: Any = "Hello there") -> list[dict[str, Any]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _cached(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text, "cache_control": {"type": "ephemeral"}}]


STREAM = {"stream": True}
USAGE_OPT = {"stream_options": {"include_usage": True}}

EXPECT: Mapping[str, Expect] = {
    "openrouter": Expect(
        "vendor/model-small",
        ATTRIBUTION,
        {
            "model": "vendor/model-small",
            "temperature": 0,
            "messages": _msgs(),
            **STREAM,
            **USAGE_OPT,
            "max_tokens": 100,
            "transforms": ["middle-out"],
            "usage": {"include": True},
        },
        unauthorized="User not found.",
    ),
    "requesty": Expect(
        "coding/claude-4-sonnet",
        ATTRIBUTION,
        {
            "model": "coding/claude-4-sonnet",
            "temperature": 0,
            "messages": _msgs(),
            **STREAM,
            **USAGE_OPT,
            "max_tokens": 100,
            "requesty": {"extra": {}},
        },
    ),
    "glama": Expect(
        "openai/gpt-4o",
        {**ATTRIBUTION, "x-glama-metadata": '{"labels":[{"key":"app","value":"tokenwire"}]}'},
        {"model": "openai/gpt-4o", "temperature": 0, "messages": _msgs(), **STREAM, "max_tokens": 100},
        # Not in the stream: looked up after it (Glama's completion-request record).
        usage=(11, 22, 3, 0, 0),
    ),
    "unbound": Expect(
        "openai/gpt-4o-mini",
        {**ATTRIBUTION, "x-unbound-metadata": '{"labels":[{"key":"app","value":"tokenwire"}]}'},
        {
            "model": "gpt-4o-mini",
            "temperature": 0,
            "messages": _msgs(),
            **STREAM,
            "max_tokens": 100,
            "unbound_metadata": {"originApp": "tokenwire"},
        },
    ),
    "litellm": Expect(
        "claude-3-7-sonnet-20250219",
        ATTRIBUTION,
        {
            "model": "claude-3-7-sonnet-20250219",
            "temperature": 0,
            "messages": _msgs(),
            **STREAM,
            **USAGE_OPT,
            "max_tokens": 100,
        },
    ),
    "roo": Expect(
        "xai/grok-code-fast-1",
        ATTRIBUTION,
        {
            "model": "xai/grok-code-fast-1",
            "temperature": 0.7,
            "messages": _msgs(),
            **STREAM,
            **USAGE_OPT,
            "max_tokens": 100,
        },
    ),
    "deepseek": Expect(
        "deepseek-chat",
        ATTRIBUTION,
        {
            "model": "deepseek-chat",
            "temperature": 0,
            # Roo's OpenAI handler marks the system prompt and the last two user messages.
            "messages": _msgs(_cached("Be brief."), _cached("Hello there")),
            **STREAM,
            **USAGE_OPT,
            "max_completion_tokens": 100,
        },
        unauthorized="Authentication Fails, Your api key: ****WXYZ is invalid",
    ),
    "moonshot": Expect(
        "kimi-k2-0905-preview",
        ATTRIBUTION,
        {
            "model": "kimi-k2-0905-preview",
            "temperature": 0,
            "messages": _msgs(_cached("Be brief."), _cached("Hello there")),
            **STREAM,
            **USAGE_OPT,
            "max_tokens": 100,
        },
        usage=(11, 22, 3, 0, 0),
    ),
    "xai": Expect(
        "grok-code-fast-1",
        ATTRIBUTION,
        {"model": "grok-code-fast-1", "temperature": 0, "messages": _msgs(), **STREAM, **USAGE_OPT, "max_tokens": 100},
    ),
    "groq": Expect(
        "llama-3.3-70b-versatile",
        ATTRIBUTION,
        {
            "model": "llama-3.3-70b-versatile",
            "temperature": 0.5,
            "messages": _msgs(),
            **STREAM,
            **USAGE_OPT,
            "max_tokens": 100,
        },
        usage=(11, 22, 0, 0, 0),
        unauthorized="Invalid API Key",
    ),
    "mistral": Expect(
        "mistral-small-latest",
        {},
        {"model": "mistral-small-latest", "temperature": 0, "messages": _msgs(), **STREAM, "max_tokens": 100},
        unauthorized="Unauthorized",
    ),
    "cerebras": Expect(
        "gpt-oss-120b",
        ATTRIBUTION,
        # Roo sends no temperature equal to Cerebras' default (0).
        {"model": "gpt-oss-120b", "messages": _msgs(), **STREAM, "max_completion_tokens": 100},
    ),
    "chutes": Expect(
        "moonshotai/Kimi-K2-Instruct-75k",
        ATTRIBUTION,
        {
            "model": "moonshotai/Kimi-K2-Instruct-75k",
            "temperature": 0.5,
            "messages": _msgs(),
            **STREAM,
            **USAGE_OPT,
            "max_tokens": 100,
        },
    ),
    "deepinfra": Expect(
        "Qwen/Qwen3-Coder-480B-A35B-Instruct-Turbo",
        {**ATTRIBUTION, "x-deepinfra-source": "tokenwire", "x-deepinfra-version": "2025-08-25"},
        {
            "model": "Qwen/Qwen3-Coder-480B-A35B-Instruct-Turbo",
            "temperature": 0,
            "messages": _msgs(),
            **STREAM,
            **USAGE_OPT,
            "max_completion_tokens": 100,
        },
    ),
    "doubao": Expect(
        "doubao-seed-1-6-250615",
        ATTRIBUTION,
        {
            "model": "doubao-seed-1-6-250615",
            "temperature": 0,
            "messages": _msgs(),
            **STREAM,
            **USAGE_OPT,
            "max_completion_tokens": 100,
        },
    ),
    "featherless": Expect(
        "moonshotai/Kimi-K2-Instruct",
        ATTRIBUTION,
        {
            "model": "moonshotai/Kimi-K2-Instruct",
            "temperature": 0.5,
            "messages": _msgs(),
            **STREAM,
            **USAGE_OPT,
            "max_tokens": 100,
        },
    ),
    "fireworks": Expect(
        "accounts/fireworks/models/kimi-k2-instruct-0905",
        ATTRIBUTION,
        {
            "model": "accounts/fireworks/models/kimi-k2-instruct-0905",
            "temperature": 0.5,
            "messages": _msgs(),
            **STREAM,
            **USAGE_OPT,
            "max_tokens": 100,
        },
    ),
    "huggingface": Expect(
        "meta-llama/Llama-3.3-70B-Instruct",
        ATTRIBUTION,
        {
            "model": "meta-llama/Llama-3.3-70B-Instruct",
            "temperature": 0.7,
            "messages": _msgs(),
            **STREAM,
            **USAGE_OPT,
            "max_tokens": 100,
        },
    ),
    "io-intelligence": Expect(
        "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        ATTRIBUTION,
        {
            "model": "meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
            "temperature": 0.7,
            "messages": _msgs(),
            **STREAM,
            **USAGE_OPT,
            "max_tokens": 100,
        },
    ),
    "sambanova": Expect(
        "Meta-Llama-3.3-70B-Instruct",
        ATTRIBUTION,
        {
            "model": "Meta-Llama-3.3-70B-Instruct",
            "temperature": 0.7,
            "messages": _msgs(),
            **STREAM,
            **USAGE_OPT,
            "max_tokens": 100,
        },
    ),
    "zai": Expect(
        "glm-4.5",
        ATTRIBUTION,
        {"model": "glm-4.5", "temperature": 0, "messages": _msgs(), **STREAM, **USAGE_OPT, "max_tokens": 100},
    ),
    "perplexity": Expect(
        "sonar",
        {},
        {"model": "sonar", "messages": _msgs(), **STREAM, "max_tokens": 100},
    ),
    "lmstudio": Expect(
        "qwen/qwen3-8b",
        {},
        {"model": "qwen/qwen3-8b", "temperature": 0, "messages": _msgs(), **STREAM, "max_tokens": 100},
        usage=None,
    ),
    "vercel-ai-gateway": Expect(
        "anthropic/claude-sonnet-4",
        ATTRIBUTION,
        {
            "model": "anthropic/claude-sonnet-4",
            "temperature": 0.7,
            # Roo's Vercel caching: message-level cache_control on the system message.
            "messages": [
                {"role": "system", "content": "Be brief.", "cache_control": {"type": "ephemeral"}},
                {"role": "user", "content": _cached("Hello there")},
            ],
            **STREAM,
            "max_completion_tokens": 100,
        },
    ),
}


def standard_request(name: str, **kwargs: Any) -> ChatRequest:
    return ChatRequest(
        model=EXPECT[name].model,
        system="Be brief.",
        messages=coerce_messages([{"role": "user", "content": "Hello there"}]),
        max_tokens=100,
        **kwargs,
    )


def req(model: str, *messages: Any, **kwargs: Any) -> ChatRequest:
    return ChatRequest(
        model=model, messages=coerce_messages(messages or ({"role": "user", "content": "Hi"},)), **kwargs
    )


# -- fixtures and helpers ----------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for profile in PROFILES.values():
        for name in (*profile.api_key_env, *profile.base_url_env):
            monkeypatch.delenv(name, raising=False)


@contextlib.contextmanager
def serving(name: str, **options: Any) -> Generator[CompatMockServer, None, None]:
    with CompatMockServer(name, **options) as server:
        yield server


@contextlib.asynccontextmanager
async def client(name: str, server: CompatMockServer, **options: Any) -> AsyncGenerator[CompatProvider, None]:
    options.setdefault("api_key", KEY)
    async with compat.create(name, base_url=server.base_url, timeouts=TIMEOUTS, **options) as provider:
        yield provider


def chat_request(server: CompatMockServer) -> RecordedRequest:
    """The latest generation request (Glama's usage lookup may have followed it)."""
    return next(r for r in reversed(server.requests) if r.path.endswith("/chat/completions"))


def wire_headers(server: CompatMockServer) -> dict[str, str]:
    return {name.lower(): value for name, value in chat_request(server).headers}


def usage_tuple(usage: Optional[Usage]) -> Optional[tuple[int, int, int, int, int]]:
    if usage is None:
        return None
    return (
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_read_tokens,
        usage.cache_write_tokens,
        usage.reasoning_tokens,
    )


# -- one parametrized test per profile ------------------------------------------------------------
def test_every_profile_has_expectations() -> None:
    assert set(EXPECT) == set(PROFILES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("split", [None, faults.Drip(bytes_per_write=7)], ids=["whole", "drip7"])
async def test_profile_stream_on_the_wire(name: str, split: Optional[faults.Drip]) -> None:
    expect = EXPECT[name]
    profile = PROFILES[name]
    with serving(name) as server:
        server.scripts.push(ANSWER)
        if split is not None:
            server.faults.push(split)
        async with client(name, server) as provider:
            got = await consume(provider.chat_stream(standard_request(name)))
        sent = chat_request(server)
        # Exact path, header set and body.
        assert (sent.method, sent.path, dict(sent.query)) == ("POST", f"{server.base_path}/chat/completions", {})
        headers = wire_headers(server)
        wanted = {
            "authorization": f"Bearer {KEY}",
            "user-agent": "tokenwire/0.1.0",
            "accept": "text/event-stream",
            "content-type": "application/json",
            **expect.headers,
        }
        assert set(headers) == set(wanted) | TRANSPORT
        assert {k: headers[k] for k in wanted} == wanted
        assert sent.json() == expect.body
    # The answer, character for character.
    assert got.text == ANSWER.text
    assert got.reasoning == ANSWER.reasoning
    assert got.finish == ["stop"]
    assert got.usage_tuple() == expect.usage
    if name == "perplexity":
        assert got.citations == list(server.citations)
    else:
        assert got.citations == []
    assert profile.name == provider.name == name


@pytest.mark.parametrize("name", NAMES)
async def test_profile_non_streaming_chat(name: str) -> None:
    expect = EXPECT[name]
    with serving(name) as server:
        server.scripts.push(ANSWER)
        async with client(name, server) as provider:
            reply = await provider.chat(standard_request(name))
        body = chat_request(server).json()
    assert "stream" not in body and "stream_options" not in body
    assert reply.text == ANSWER.text
    assert reply.reasoning == ANSWER.reasoning
    assert reply.provider == name and reply.model == expect.model
    assert reply.request_id is not None
    assert reply.finish_reason == "stop"
    # A non-streaming body always carries usage (the mock renders it in each style).
    wanted = expect.usage or (11, 22, 3, 0, 5)
    if name == "groq":
        wanted = (11, 22, 0, 0, 0)
    if name == "moonshot":
        wanted = (11, 22, 3, 0, 0)
    assert usage_tuple(reply.usage) == wanted
    if name == "perplexity":
        assert [(c.url, c.title) for c in reply.citations] == list(server.citations)


@pytest.mark.parametrize("name", NAMES)
async def test_profile_401_and_429_are_typed(name: str) -> None:
    expect = EXPECT[name]
    wrong = "sk-wrong-key-0000000000000000WXYZ"
    with serving(name, api_key=KEY) as server:
        async with client(name, server, api_key=wrong) as provider:
            with pytest.raises(AuthenticationError) as auth:
                await consume(provider.chat_stream(standard_request(name)))
        error = auth.value
        assert (error.status, error.provider, error.model) == (401, name, expect.model)
        assert error.message == expect.unauthorized
        assert error.request_id is not None
        assert wrong not in str(error) and wrong not in repr(error)
        server.faults.push(faults.RateLimit(retry_after=2))
        async with client(name, server) as provider:
            with pytest.raises(RateLimitError) as limited:
                await consume(provider.chat_stream(standard_request(name)))
        error = limited.value
        assert (error.status, error.provider, error.retry_after) == (429, name, 2.0)
        assert error.request_id is not None
        assert error.message


# -- OpenRouter ------------------------------------------------------------------------------------
async def test_openrouter_routing_reasoning_and_usage_include() -> None:
    with serving("openrouter") as server:
        async with client("openrouter", server, provider_routing="DeepInfra") as provider:
            await provider.chat(req("openai/gpt-4o", reasoning_effort="high"))
            body = server.last_request.json()
            assert body["provider"] == {"order": ["DeepInfra"], "only": ["DeepInfra"], "allow_fallbacks": False}
            assert body["reasoning"] == {"effort": "high"}
            assert body["usage"] == {"include": True} and body["transforms"] == ["middle-out"]
            # A thinking budget is OpenRouter's reasoning.max_tokens, at temperature 1.0 (Roo).
            await provider.chat(req("anthropic/claude-3.7-sonnet:thinking", thinking_budget=4096))
            body = server.last_request.json()
            assert body["reasoning"] == {"max_tokens": 4096} and body["temperature"] == 1.0
            # Gemini 2.5 Pro streams reasoning unless excluded (Roo's default).
            await provider.chat(req("google/gemini-2.5-pro"))
            assert server.last_request.json()["reasoning"] == {"exclude": True}
            await provider.chat(
                req("google/gemini-2.5-pro", options={"reasoning": {"effort": "low", "exclude": False}})
            )
            assert server.last_request.json()["reasoning"] == {"effort": "low", "exclude": False}
            # o1-pro takes no temperature.
            await provider.chat(req("openai/o1-pro", temperature=0.3))
            body = server.last_request.json()
            assert "temperature" not in body and "top_p" not in body
        routing = {"order": ["a", "b"], "allow_fallbacks": True}
        async with client("openrouter", server, provider_routing=routing, middle_out=False, usage_include=False) as p:
            await p.chat(req("openai/gpt-4o"))
            body = server.last_request.json()
            assert body["provider"] == routing
            assert "transforms" not in body and "usage" not in body


async def test_openrouter_r1_models_use_r1_format_and_sampling() -> None:
    with serving("openrouter") as server:
        async with client("openrouter", server) as provider:
            request = req(
                "deepseek/deepseek-r1-0528",
                {"role": "user", "content": "one"},
                {"role": "user", "content": "two"},
                system="sys",
            )
            await provider.chat(request)
    body = server.last_request.json()
    assert body["messages"] == [{"role": "user", "content": "sys\none\ntwo"}]
    assert (body["temperature"], body["top_p"]) == (0.6, 0.95)


async def test_openrouter_cache_breakpoints_for_roos_model_lists() -> None:
    with serving("openrouter") as server:
        async with client("openrouter", server) as provider:
            turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": f"m{i}"} for i in range(5)]
            await provider.chat(req("anthropic/claude-sonnet-4", *turns, system="sys"))
            messages = server.last_request.json()["messages"]
            assert messages[0] == {"role": "system", "content": _cached("sys")}
            # Every user message becomes parts; the last two get the breakpoint.
            assert messages[1] == {"role": "user", "content": [{"type": "text", "text": "m0"}]}
            assert messages[3] == {"role": "user", "content": _cached("m2")}
            assert messages[5] == {"role": "user", "content": _cached("m4")}
            assert messages[2] == {"role": "assistant", "content": "m1"}
            # Gemini models: a breakpoint on every 10th user message.
            many = [{"role": "user", "content": f"u{i}"} for i in range(11)]
            await provider.chat(req("google/gemini-2.5-flash", *many, system="sys"))
            messages = server.last_request.json()["messages"]
            marked = [i for i, m in enumerate(messages) if "cache_control" in json.dumps(m)]
            assert marked == [0, 10]
            await provider.chat(req("openai/gpt-4o", system="sys"))
            assert "cache_control" not in json.dumps(server.last_request.json())


async def test_openrouter_processing_comments_reasoning_field_and_stream_error() -> None:
    with serving("openrouter") as server:
        async with client("openrouter", server) as provider:
            server.scripts.push(ANSWER)
            got = await consume(provider.chat_stream(standard_request("openrouter")))
            assert (got.text, got.reasoning) == (ANSWER.text, ANSWER.reasoning)
            # An error reported inside the stream, after some tokens, is typed.
            server.scripts.push(ANSWER)
            server.faults.push(faults.ErrorEvent(after_events=4, error_type="server_error", message="Upstream failed"))
            got = Got()
            with pytest.raises(ServerError) as info:
                await consume(provider.chat_stream(standard_request("openrouter")), got)
            assert info.value.message == "Upstream failed" and info.value.provider == "openrouter"
            assert got.reasoning, "tokens before the error are delivered"


# -- reported cost (OpenRouter, Vercel AI Gateway) ------------------------------------------------------
def usage_lines(usage: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        {"id": "gen-1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Billed."}}]},
        {"id": "gen-1", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"id": "gen-1", "choices": [], "usage": dict(usage)},
    ]


def usage_body(usage: Mapping[str, Any]) -> bytes:
    message = {"role": "assistant", "content": "Billed."}
    choice = {"index": 0, "message": message, "finish_reason": "stop"}
    return json.dumps({"id": "gen-1", "object": "chat.completion", "choices": [choice], "usage": dict(usage)}).encode()


OPENROUTER_BYOK = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1000},
    "completion_tokens_details": {"reasoning_tokens": 100},
    "cost": 0.0012,
    "is_byok": True,
    "cost_details": {"upstream_inference_cost": 0.0204},
}
VERCEL_USAGE = {
    "prompt_tokens": 1200,
    "completion_tokens": 300,
    "total_tokens": 1500,
    "prompt_tokens_details": {"cached_tokens": 1000},
    "cache_creation_input_tokens": 50,
    "cost": 0.0031,
}


@pytest.mark.parametrize(
    ("name", "usage", "expected"),
    [
        # Roo's openrouter.ts: totalCost = upstream_inference_cost + cost.
        ("openrouter", OPENROUTER_BYOK, Usage(1200, 300, 1000, 0, 100, cost=0.0012 + 0.0204)),
        (
            "openrouter",
            {**OPENROUTER_BYOK, "cost_details": {"upstream_inference_cost": None}},
            Usage(1200, 300, 1000, 0, 100, cost=0.0012),
        ),
        ("openrouter", {**OPENROUTER_BYOK, "cost": 0}, Usage(1200, 300, 1000, 0, 100, cost=0.0204)),
        # Roo's vercel-ai-gateway.ts: totalCost = usage.cost.
        ("vercel-ai-gateway", VERCEL_USAGE, Usage(1200, 300, 1000, 50, 0, cost=0.0031)),
        ("vercel-ai-gateway", {**VERCEL_USAGE, "cost": None}, Usage(1200, 300, 1000, 50, 0)),
    ],
    ids=["openrouter-byok", "openrouter-no-upstream", "openrouter-zero", "vercel", "vercel-no-cost"],
)
async def test_reported_cost_streamed_and_not(name: str, usage: Mapping[str, Any], expected: Usage) -> None:
    with serving(name) as server:
        async with client(name, server) as provider:
            server.scripts.push(Recording.from_lines(usage_lines(usage)))
            stream = provider.chat_stream(req("anthropic/claude-sonnet-4"))
            got = await consume(stream)
            server.scripts.push(Recording.raw(usage_body(usage)))
            reply = await provider.chat(req("anthropic/claude-sonnet-4"))
    # The stream's Usage token and the non-streaming reply carry the same reported cost.
    assert got.usage == [expected] and stream.accumulator.usage == expected
    assert reply.usage == expected and (reply.usage.cost is None or type(reply.usage.cost) is float)
    # It is what tokenwire.catalog.cost reports, for a model the catalog may not know.
    if expected.cost is not None:
        assert catalog.cost(reply.usage, name, "anthropic/claude-sonnet-4") == expected.cost
        assert catalog.cost(reply.usage, name, "vendor/unknown-model") == expected.cost


@pytest.mark.parametrize("name", ["openrouter", "vercel-ai-gateway"])
async def test_mock_gateways_bill_their_usage(name: str) -> None:
    # The mock's own wire style reports a cost ($3 / $15 per million tokens) on every answer.
    with serving(name) as server:
        async with client(name, server) as provider:
            server.scripts.push(Answer("Billed.", usage=(1000, 200)))
            got = await consume(provider.chat_stream(req("vendor/model-small")))
            server.scripts.push(Answer("Billed.", usage=(1000, 200)))
            reply = await provider.chat(req("vendor/model-small"))
    cost = round((1000 * 3 + 200 * 15) / 1_000_000, 9)
    assert [u.cost for u in got.usage] == [cost] and reply.usage is not None and reply.usage.cost == cost


@pytest.mark.parametrize("name", ["openrouter", "glama"])
async def test_manager_cost_metrics_use_the_reported_cost(name: str) -> None:
    with serving(name) as server:
        provider = compat.create(name, api_key=KEY, base_url=server.base_url, timeouts=TIMEOUTS)
        # The price lookup's formula would give another figure: the provider's bill wins.
        manager = ProviderManager(price_lookup=lambda p, m: (1000.0, 1000.0))
        manager.register(provider)
        address = f"{name}/vendor/model-small"
        try:
            server.scripts.push(Answer("Billed.", usage=(1000, 200)))
            reply = await manager.chat(req(address))
            server.scripts.push(Answer("Billed.", usage=(1000, 200)))
            async with manager.chat_stream(req(address)) as stream:
                tokens = [token async for token in stream]
        finally:
            await manager.aclose()
    usage = tokens[-1]
    assert isinstance(usage, Usage) and usage.cost is not None
    assert reply.usage is not None and reply.usage.cost == usage.cost
    assert manager.metrics.target(address)["cost_usd"] == pytest.approx(2 * usage.cost, rel=1e-12)


# -- DeepSeek and the R1 format ---------------------------------------------------------------------
async def test_deepseek_reasoner_merges_same_roles_and_uses_0_6() -> None:
    with serving("deepseek") as server:
        async with client("deepseek", server) as provider:
            request = req(
                "deepseek-reasoner",
                {"role": "user", "content": "first"},
                {"role": "user", "content": [{"type": "text", "text": "second"}, {"type": "text", "text": "third"}]},
                {"role": "assistant", "content": "answer"},
                {"role": "assistant", "content": "more"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "look"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                    ],
                },
                system="rules",
            )
            server.scripts.push(Answer("ok", reasoning="because", usage=(5, 6, 2, 0, 1)))
            got = await consume(provider.chat_stream(request))
    body = server.last_request.json()
    assert body["temperature"] == 0.6 and "max_completion_tokens" not in body
    assert body["messages"] == [
        {"role": "user", "content": "rules\nfirst\nsecond\nthird"},
        {"role": "assistant", "content": "answer\nmore"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        },
    ]
    assert (got.text, got.reasoning) == ("ok", "because")
    # DeepSeek reports cache hits as prompt_cache_hit_tokens (the mock sends that style).
    assert got.usage_tuple() == (5, 6, 2, 0, 1)


async def test_deepseek_reasoner_rejects_successive_roles_without_the_merge() -> None:
    # The mock enforces DeepSeek's rule, so the merge above is what makes the request valid.
    with serving("deepseek") as server:
        async with client("deepseek", server) as provider:
            request = req(
                "deepseek-reasoner",
                {"role": "user", "content": "a"},
                {"role": "user", "content": "b"},
                extra_body={"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},
            )
            with pytest.raises(BadRequestError) as info:
                await provider.chat(request)
    assert info.value.message.startswith("deepseek-reasoner does not support successive user or assistant messages")


async def test_chutes_and_featherless_r1_models() -> None:
    for name in ("chutes", "featherless"):
        with serving(name) as server:
            async with client(name, server) as provider:
                call = provider.build_chat_call(req("deepseek-ai/DeepSeek-R1-0528", system="s"), stream=True)
                assert call.stream_options == {"think_tags": True}
                await provider.chat(req("deepseek-ai/DeepSeek-R1-0528", system="s"))
                body = server.last_request.json()
                assert body["messages"] == [{"role": "user", "content": "s\nHi"}]
                assert body["temperature"] == 0.6
                await provider.chat(req("Qwen/Qwen3-Coder", system="s"))
                body = server.last_request.json()
                assert body["messages"][0] == {"role": "system", "content": "s"} and body["temperature"] == 0.5


# -- Perplexity ------------------------------------------------------------------------------------
async def test_perplexity_citations_and_alternating_roles() -> None:
    citations = [("https://example.org/a", "A title"), ("https://example.org/b", None)]
    with serving("perplexity", citations=citations) as server:
        async with client("perplexity", server) as provider:
            server.scripts.push(Answer("Cited [1][2].", usage=(4, 5)))
            request = req(
                "sonar-pro",
                {"role": "user", "content": "q1"},
                {"role": "user", "content": "q2"},
                {"role": "assistant", "content": "a"},
                {"role": "user", "content": "q3"},
            )
            got = await consume(provider.chat_stream(request))
    assert got.citations == citations
    assert got.text == "Cited [1][2]."
    # Consecutive user turns are merged, as Perplexity requires alternation.
    assert server.last_request.json()["messages"] == [
        {"role": "user", "content": "q1\nq2"},
        {"role": "assistant", "content": "a"},
        {"role": "user", "content": "q3"},
    ]


# -- Groq -------------------------------------------------------------------------------------------
async def test_groq_usage_under_x_groq() -> None:
    with serving("groq") as server:
        async with client("groq", server) as provider:
            server.scripts.push(Answer("fast", usage=(30, 40)))
            got = await consume(provider.chat_stream(req("llama-3.3-70b-versatile")))
    assert got.usage_tuple() == (30, 40, 0, 0, 0)


# -- Glama: usage and cost looked up after the answer -----------------------------------------------
GLAMA_ANSWER = Answer("Priced.", usage=(120, 30, 40, 6, 7))


def lookups(server: CompatMockServer) -> list[RecordedRequest]:
    return [r for r in server.requests if "/completion-requests/" in r.path]


def glama_usage(server: CompatMockServer, record: str) -> Usage:
    """The usage of the record the mock handed out, read from its JSON (Roo's fields)."""
    found = server.completion_requests[record]
    tokens = found["tokenUsage"]
    return Usage(
        tokens["promptTokens"],
        tokens["completionTokens"],
        tokens["cacheReadInputTokens"],
        tokens["cacheCreationInputTokens"],
        0,
        cost=float(found["totalCostUsd"]),
    )


@pytest.mark.parametrize("split", [None, faults.Drip(bytes_per_write=5)], ids=["whole", "drip5"])
async def test_glama_usage_and_cost_come_from_the_completion_request(split: Optional[faults.Drip]) -> None:
    with serving("glama", api_key=KEY) as server:
        async with client("glama", server) as provider:
            server.scripts.push(GLAMA_ANSWER)
            if split is not None:
                server.faults.push(split)
            stream = provider.chat_stream(req("openai/gpt-4o"))
            got = await consume(stream)
    record = stream.headers["x-completion-request-id"]
    assert list(server.completion_requests) == [record]
    # The stream carried no usage (Roo sends no stream_options); the Usage token comes
    # last, after the stream's own tokens, from the lookup of the id the response named.
    assert [t.kind for t in got.tokens] == ["text", "finish", "usage"]
    assert got.text == "Priced." and got.usage == [glama_usage(server, record)]
    usage = got.usage[0]
    assert (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens) == (
        120,
        30,
        40,
        6,
    )
    assert usage.cost == pytest.approx((120 * 1.0 + 30 * 2.0 + 40 * 0.1 + 6 * 1.25) / 1e6)
    assert stream.accumulator.usage == usage
    (lookup,) = lookups(server)
    assert (lookup.method, lookup.path) == ("GET", f"/api/gateway/v1/completion-requests/{record}")
    assert lookup.header("authorization") == f"Bearer {KEY}"
    assert lookup.body == b""


async def test_glama_chat_and_complete_look_the_usage_up_too() -> None:
    with serving("glama") as server:
        async with client("glama", server) as provider:
            server.scripts.push(GLAMA_ANSWER)
            reply = await provider.chat(req("openai/gpt-4o"))
            (record,) = server.completion_requests
            # The body's own usage (with its reasoning count) is replaced by the record's.
            assert reply.text == "Priced." and reply.usage == glama_usage(server, record)
            server.scripts.push(GLAMA_ANSWER)
            completion = await provider.complete(CompletionRequest(model="openai/gpt-4o", prompt="Price it"))
            assert chat_request(server).json()["messages"] == [{"role": "user", "content": "Price it"}]
            second = list(server.completion_requests)[-1]
            assert second != record and completion.usage == glama_usage(server, second)
            async with provider.complete_stream(CompletionRequest(model="openai/gpt-4o", prompt="x")) as stream:
                tokens = [token async for token in stream]
            assert tokens[-1] == glama_usage(server, list(server.completion_requests)[-1])
    assert len(lookups(server)) == 3


async def test_glama_lookup_waits_for_the_record_to_settle() -> None:
    with serving("glama") as server:
        server.usage_pending = 2  # still processing upstream: no tokenUsage / totalCostUsd yet
        async with client("glama", server) as provider:
            server.scripts.push(GLAMA_ANSWER)
            got = await consume(provider.chat_stream(req("openai/gpt-4o")))
    (record,) = server.completion_requests
    assert got.usage == [glama_usage(server, record)]
    assert len(lookups(server)) == 3


# The stream asks for usage here, so a failed lookup visibly leaves the stream's own.
OWN_USAGE = {"stream_options": {"include_usage": True}}


@pytest.mark.parametrize(
    "failure",
    [
        Recording.raw(b'{"error":{"message":"boom","type":"server_error"}}', status=500),
        Recording.raw(b'{"error":{"message":"Not found"}}', status=404),
        Recording.raw(b"<html>gateway</html>", content_type="text/html"),
    ],
    ids=["500", "404", "not-json"],
)
async def test_glama_lookup_failure_keeps_the_streams_own_usage(
    failure: Recording, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tokenwire.providers.compat")
    with serving("glama") as server:
        async with client("glama", server) as provider:
            server.lookups.push(failure)
            server.scripts.push(GLAMA_ANSWER)
            got = await consume(provider.chat_stream(req("openai/gpt-4o", extra_body=OWN_USAGE)))
            assert [t.kind for t in got.tokens] == ["text", "finish", "usage"]
            assert got.usage == [Usage(120, 30, 40, 0, 7)]
            assert len(lookups(server)) == 1
            assert "usage lookup" in caplog.text and KEY not in caplog.text
            # Without a usage of its own the stream just ends; nothing is raised.
            server.lookups.push(failure)
            server.scripts.push(GLAMA_ANSWER)
            got = await consume(provider.chat_stream(req("openai/gpt-4o")))
            assert [t.kind for t in got.tokens] == ["text", "finish"]
            # And chat() keeps the body's usage.
            server.lookups.push(failure)
            server.scripts.push(GLAMA_ANSWER)
            reply = await provider.chat(req("openai/gpt-4o"))
            assert reply.usage == Usage(120, 30, 40, 0, 7)
    assert len(lookups(server)) == 3


async def test_glama_lookup_success_replaces_the_streams_own_usage() -> None:
    with serving("glama") as server:
        async with client("glama", server) as provider:
            server.scripts.push(GLAMA_ANSWER)
            got = await consume(provider.chat_stream(req("openai/gpt-4o", extra_body=OWN_USAGE)))
    (record,) = server.completion_requests
    assert got.usage == [glama_usage(server, record)]
    assert [t.kind for t in got.tokens] == ["text", "finish", "usage"]


async def test_glama_lookup_is_bounded_by_the_request_timeout(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tokenwire.providers.compat")
    with serving("glama") as server:
        async with client("glama", server) as provider:
            server.scripts.push(GLAMA_ANSWER)
            server.faults.push(faults.Headers())  # the generation request: untouched
            server.faults.push(faults.Stall(seconds=30.0, before_headers=True))  # the lookup
            with anyio.fail_after(10):
                got = await consume(provider.chat_stream(req("openai/gpt-4o", extra_body=OWN_USAGE, timeout=0.5)))
    assert got.usage == [Usage(120, 30, 40, 0, 7)]
    assert "usage lookup" in caplog.text


async def test_glama_lookup_gives_up_after_its_attempts(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="tokenwire.providers.compat")
    quick = replace(PROFILES["glama"], usage_lookup=replace(compat.GLAMA_USAGE, attempts=3, delay=0.01))
    with CompatMockServer(quick) as server:
        server.usage_pending = 10
        async with CompatProvider(quick, api_key=KEY, base_url=server.base_url, timeouts=TIMEOUTS) as provider:
            server.scripts.push(GLAMA_ANSWER)
            got = await consume(provider.chat_stream(req("openai/gpt-4o", extra_body=OWN_USAGE)))
    assert got.usage == [Usage(120, 30, 40, 0, 7)]
    assert len(lookups(server)) == 3
    assert "not settled after 3 lookups" in caplog.text


async def test_glama_usage_held_back_is_delivered_before_a_late_failure() -> None:
    with serving("glama") as server:
        async with client("glama", server) as provider:
            server.scripts.push(GLAMA_ANSWER)
            # The whole stream ([DONE] included) arrives, then the connection is cut
            # before the end of the HTTP message.
            server.faults.push(faults.Disconnect(after_bytes=1 << 30))
            got = Got()
            with pytest.raises(APIConnectionError):
                await consume(provider.chat_stream(req("openai/gpt-4o", extra_body=OWN_USAGE)), got)
    assert got.text == "Priced." and got.usage == [Usage(120, 30, 40, 0, 7)]
    assert lookups(server) == []


def test_glama_mock_checks_auth_and_the_ids_it_handed_out() -> None:
    with serving("glama", api_key=KEY) as server:
        server.scripts.push(GLAMA_ANSWER)
        answer = httpx.post(
            f"{server.base_url}/chat/completions",
            headers={"Authorization": f"Bearer {KEY}"},
            json={"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        )
        record = answer.headers["x-completion-request-id"]
        url = f"{server.url}/api/gateway/v1/completion-requests/{record}"
        assert server.lookup_path(record) == f"/api/gateway/v1/completion-requests/{record}"
        found = httpx.get(url, headers={"Authorization": f"Bearer {KEY}"})
        assert found.status_code == 200 and found.json() == server.completion_requests[record]
        assert found.json()["tokenUsage"]["promptTokens"] == 120 and isinstance(found.json()["totalCostUsd"], str)
        assert httpx.get(url).status_code == 401
        assert httpx.get(url, headers={"Authorization": "Bearer sk-wrong-0000"}).status_code == 401
        other = f"{server.url}/api/gateway/v1/completion-requests/not-{record}"
        assert httpx.get(other, headers={"Authorization": f"Bearer {KEY}"}).status_code == 404
        assert httpx.post(url, headers={"Authorization": f"Bearer {KEY}"}).status_code == 405


# -- Mistral ----------------------------------------------------------------------------------------
async def test_mistral_message_constraints_are_met() -> None:
    history = [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_abc_123_long", "function": {"name": "weather", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_abc_123_long", "content": "sunny"},
        {"role": "assistant", "content": ""},
        {"role": "user", "content": "and tomorrow?"},
        {"role": "assistant", "content": "Tomorrow will be"},
    ]
    with serving("mistral") as server:
        async with client("mistral", server) as provider:
            server.scripts.push(Answer(" rainy.", usage=(9, 2)))
            got = await consume(provider.chat_stream(req("mistral-large-latest", *history)))
    messages = server.last_request.json()["messages"]
    call_id = messages[1]["tool_calls"][0]["id"]
    assert len(call_id) == 9 and call_id.isalnum()
    assert messages[2] == {"role": "tool", "tool_call_id": call_id, "content": "sunny"}
    # The empty assistant turn is dropped; the trailing assistant turn is a prefix.
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "user", "assistant"]
    assert messages[-1] == {"role": "assistant", "content": "Tomorrow will be", "prefix": True}
    assert got.text == " rainy." and got.usage_tuple() == (9, 2, 0, 0, 0)


async def test_mistral_errors_in_its_own_shape() -> None:
    with serving("mistral") as server:
        async with client("mistral", server) as provider:
            with pytest.raises(UnprocessableEntityError) as info:
                await provider.chat(req("mistral-small-latest", extra_body={"stream_options": {"include_usage": True}}))
            assert "extra_forbidden" in info.value.message and info.value.status == 422
            with pytest.raises(BadRequestError) as bad:
                await provider.chat(
                    req("mistral-small-latest", extra_body={"messages": [{"role": "assistant", "content": "x"}]})
                )
            assert bad.value.message.startswith("Expected last role User or Tool")


def test_mistral_codestral_models_use_the_codestral_line() -> None:
    provider = compat.create("mistral", api_key=KEY)
    assert provider.build_chat_call(req("codestral-latest"), stream=True).url == (
        "https://codestral.mistral.ai/v1/chat/completions"
    )
    assert provider.build_chat_call(req("mistral-large-latest"), stream=True).url == (
        "https://api.mistral.ai/v1/chat/completions"
    )
    pinned = compat.create("mistral", api_key=KEY, base_url="https://eu.example/v1")
    assert pinned.build_chat_call(req("codestral-latest"), stream=True).url == "https://eu.example/v1/chat/completions"


# -- Cerebras ---------------------------------------------------------------------------------------
async def test_cerebras_flattening_think_stripping_and_clamping() -> None:
    history = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "see"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
            ],
        },
        {"role": "assistant", "content": "<think>private\nthoughts</think>  The answer."},
        {"role": "assistant", "content": "<think>only thinking</think>"},
        {"role": "user", "content": "next"},
    ]
    with serving("cerebras") as server:
        async with client("cerebras", server) as provider:
            await provider.chat(req("qwen-3-coder-480b-free", *history, temperature=2.0, max_tokens=40_000))
            body = server.last_request.json()
            assert body["model"] == "qwen-3-coder-480b"
            assert body["messages"] == [
                {"role": "user", "content": "see\n[Image]"},
                {"role": "assistant", "content": "The answer."},
                {"role": "user", "content": "next"},
            ]
            assert body["temperature"] == 1.5
            assert "max_completion_tokens" not in body  # over Cerebras' 32768: left out, as Roo
            for given, sent in ((-1.0, 0.0), (0.7, 0.7)):
                await provider.chat(req("gpt-oss-120b", temperature=given, max_tokens=32_768))
                body = server.last_request.json()
                assert body["temperature"] == sent and body["max_completion_tokens"] == 32_768
            await provider.chat(req("gpt-oss-120b", temperature=0.0))
            assert "temperature" not in server.last_request.json()


# -- think tags -------------------------------------------------------------------------------------
THINK_PROFILES = ["deepseek", "moonshot", "doubao", "cerebras", "lmstudio"]


@pytest.mark.parametrize("name", THINK_PROFILES)
def test_think_tags_are_requested_from_the_dialect(name: str) -> None:
    provider = compat.create(name, api_key=KEY)
    call = provider.build_chat_call(req("model"), stream=True)
    assert call.stream_options == {"think_tags": True}
    assert compat.create("groq", api_key=KEY).build_chat_call(req("m"), stream=True).stream_options == {}


@pytest.mark.parametrize("name", THINK_PROFILES)
async def test_think_tags_split_natively_in_the_stream(name: str) -> None:
    lines = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "content": "<thi"}}]},
        {"choices": [{"index": 0, "delta": {"content": "nk>Let me"}}]},
        {"choices": [{"index": 0, "delta": {"content": " think</th"}}]},
        {"choices": [{"index": 0, "delta": {"content": "ink>The answer"}}]},
        {"choices": [{"index": 0, "delta": {"content": " is 4."}, "finish_reason": "stop"}]},
    ]
    with serving(name) as server:
        server.scripts.push(Recording.from_lines(lines))
        async with client(name, server) as provider:
            got = await consume(provider.chat_stream(req("model")))
    assert (got.reasoning, got.text) == ("Let me think", "The answer is 4.")


async def test_think_tags_in_a_non_streaming_answer() -> None:
    body = {
        "id": "x",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "<think>hmm</think>Four."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
    with serving("lmstudio") as server:
        server.scripts.push(Recording.raw(json.dumps(body).encode()))
        async with client("lmstudio", server) as provider:
            reply = await provider.chat(req("qwen/qwen3-8b"))
    assert (reply.reasoning, reply.text) == ("hmm", "Four.")


THINK_TEXTS = [
    "<think>at the start</think>The answer.",
    "Mid-text <think>a thought</think> then the answer.",
    "\n\n<think>after blank lines</think>\nAnswer",
    "<think>one</think>A<think>two</think>B<think>three</think>",
    "<think>never closed, all reasoning",
    "no blocks at all, a stray </think> and a partial <thi",
    "<think>x<think>y</think>z</think>rest",
]


@pytest.mark.parametrize("text", THINK_TEXTS)
async def test_think_tags_stream_equals_non_streaming(text: str) -> None:
    # chat() splits the content exactly as the stream does, whatever the delta cuts.
    body = {
        "id": "x",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4},
    }
    with serving("deepseek") as server:
        async with client("deepseek", server) as provider:
            server.scripts.push(Recording.raw(json.dumps(body).encode()))
            reply = await provider.chat(req("deepseek-chat"))
            # Tags are consumed exactly when a block opens.
            assert (reply.reasoning + reply.text == text) == ("<think>" not in text)
            for size in (1, 3, 7, len(text)):
                pieces = [text[i : i + size] for i in range(0, len(text), size)]
                lines = [{"choices": [{"index": 0, "delta": {"content": piece}}]} for piece in pieces]
                lines.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                server.scripts.push(Recording.from_lines(lines))
                got = await consume(provider.chat_stream(req("deepseek-chat")))
                assert (got.reasoning, got.text) == (reply.reasoning, reply.text), size


# -- regional base URLs ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "region", "url"),
    [
        ("zai", None, "https://api.z.ai/api/coding/paas/v4"),
        ("zai", "international_coding", "https://api.z.ai/api/coding/paas/v4"),
        ("zai", "international", "https://api.z.ai/api/paas/v4"),
        ("zai", "china_coding", "https://open.bigmodel.cn/api/coding/paas/v4"),
        ("zai", "china", "https://open.bigmodel.cn/api/paas/v4"),
        ("moonshot", None, "https://api.moonshot.ai/v1"),
        ("moonshot", "china", "https://api.moonshot.cn/v1"),
        ("doubao", None, "https://ark.cn-beijing.volces.com/api/v3"),
        ("doubao", "byteplus", "https://ark.ap-southeast.bytepluses.com/api/v3"),
        ("mistral", "codestral", "https://codestral.mistral.ai/v1"),
    ],
)
def test_regional_base_urls(name: str, region: Optional[str], url: str) -> None:
    provider = compat.create(name, api_key=KEY, region=region)
    assert provider.build_chat_call(req("m"), stream=False).url == f"{url}/chat/completions"


def test_region_precedence_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError, match="unknown region 'mars'; known regions: china, china_coding"):
        compat.create("zai", region="mars")
    with pytest.raises(ConfigurationError, match="unknown region 'eu'; known regions: none"):
        compat.create("groq", region="eu")
    explicit = compat.create("zai", api_key=KEY, region="china", base_url="https://proxy.example/v4")
    assert explicit.base_url == "https://proxy.example/v4"
    monkeypatch.setenv("ZAI_BASE_URL", "https://env.example/v4")
    assert compat.create("zai", api_key=KEY).base_url == "https://env.example/v4"
    assert compat.create("zai", api_key=KEY, region="china").base_url == "https://open.bigmodel.cn/api/paas/v4"


# -- per-provider extras ------------------------------------------------------------------------
async def test_task_and_mode_options() -> None:
    options = {"task_id": "task-42", "mode": "code"}
    with serving("roo") as server:
        async with client("roo", server) as provider:
            await provider.chat(req("xai/grok-code-fast-1", options=options))
        assert server.last_request.header("X-Roo-Task-ID") == "task-42"
    with serving("requesty") as server:
        async with client("requesty", server) as provider:
            await provider.chat(req("coding/claude-4-sonnet", options=options, reasoning_effort="low"))
            body = server.last_request.json()
            assert body["requesty"] == {"trace_id": "task-42", "extra": {"mode": "code"}}
            assert body["reasoning_effort"] == "low"
            await provider.chat(req("coding/claude-4-sonnet", thinking_budget=2048, reasoning_effort="minimal"))
            body = server.last_request.json()
            assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048} and body["temperature"] == 1.0
            assert "reasoning_effort" not in body
    with serving("deepinfra") as server:
        async with client("deepinfra", server) as provider:
            await provider.chat(req("deepseek-ai/DeepSeek-V3", options=options, reasoning_effort="high"))
        body = server.last_request.json()
        assert body["prompt_cache_key"] == "task-42" and body["reasoning_effort"] == "high"
    with serving("unbound") as server:
        async with client("unbound", server, app_title="my-app") as provider:
            await provider.chat(req("anthropic/claude-3-7-sonnet-20250219", options=options, system="s"))
        body = server.last_request.json()
        assert body["model"] == "claude-3-7-sonnet-20250219"
        assert body["unbound_metadata"] == {"originApp": "my-app", "taskId": "task-42", "mode": "code"}
        assert body["messages"][0] == {"role": "system", "content": _cached("s")}
        assert server.last_request.header("X-Unbound-Metadata") == '{"labels":[{"key":"app","value":"my-app"}]}'
        assert server.last_request.header("X-Title") == "my-app"


async def test_local_servers_need_no_key() -> None:
    with serving("lmstudio") as server:
        async with client("lmstudio", server, api_key=None, draft_model="qwen/qwen3-0.6b") as provider:
            assert provider.has_credentials()
            await provider.chat(req("qwen/qwen3-8b"))
        assert server.last_request.header("authorization") == "Bearer noop"
        assert server.last_request.json()["draft_model"] == "qwen/qwen3-0.6b"
    with serving("litellm") as server:
        async with client("litellm", server, api_key=None, prompt_cache=True) as provider:
            await provider.chat(
                req(
                    "gpt-5-mini",
                    {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                    system="s",
                    max_tokens=10,
                )
            )
            body = server.last_request.json()
            assert server.last_request.header("authorization") == "Bearer dummy-key"
            assert body["max_completion_tokens"] == 10 and "max_tokens" not in body
            assert body["messages"] == [
                {"role": "system", "content": _cached("s")},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "a"},
                        {"type": "text", "text": "b", "cache_control": {"type": "ephemeral"}},
                    ],
                },
            ]
            await provider.chat(req("gpt-50-preview", max_tokens=10))
            assert server.last_request.json()["max_tokens"] == 10


async def test_huggingface_inference_provider_suffix() -> None:
    with serving("huggingface") as server:
        async with client("huggingface", server, inference_provider="together") as provider:
            await provider.chat(req("meta-llama/Llama-3.3-70B-Instruct"))
            assert server.last_request.json()["model"] == "meta-llama/Llama-3.3-70B-Instruct:together"
            await provider.chat(req("meta-llama/Llama-3.3-70B-Instruct:novita"))
            assert server.last_request.json()["model"] == "meta-llama/Llama-3.3-70B-Instruct:novita"


def test_options_must_apply_to_the_profile() -> None:
    with pytest.raises(ConfigurationError, match="deepseek: option 'provider_routing' does not apply"):
        compat.create("deepseek", provider_routing="x")
    with pytest.raises(ConfigurationError, match="groq: option 'draft_model' does not apply"):
        compat.create("groq", draft_model="x")
    with pytest.raises(ConfigurationError, match="mistral: option 'app_title' does not apply"):
        compat.create("mistral", app_title="x")
    with pytest.raises(ConfigurationError, match="only Chat Completions"):
        compat.create("groq", api_key=KEY).build_chat_call(req("m", options={"api": "responses"}), stream=False)


def test_default_temperature_override_beats_rules() -> None:
    provider = compat.create("deepseek", api_key=KEY, default_temperature=0.2)
    assert provider.build_chat_body(req("deepseek-reasoner"), stream=False)["temperature"] == 0.2
    silent = compat.create("groq", api_key=KEY, default_temperature=None)
    assert "temperature" not in silent.build_chat_body(req("m"), stream=False)


# -- completions, tools, models -------------------------------------------------------------------
async def test_complete_is_a_one_message_chat() -> None:
    with serving("fireworks") as server:
        async with client("fireworks", server) as provider:
            server.scripts.push(Answer("done", usage=(2, 1)))
            reply = await provider.complete(
                CompletionRequest(model="accounts/fireworks/models/x", prompt="Say done", max_tokens=5)
            )
            assert reply.text == "done" and usage_tuple(reply.usage) == (2, 1, 0, 0, 0)
            assert server.last_request.json()["messages"] == [{"role": "user", "content": "Say done"}]
            server.scripts.push(Answer("streamed"))
            got = await consume(
                provider.complete_stream(CompletionRequest(model="accounts/fireworks/models/x", prompt="go"))
            )
            assert got.text == "streamed"


async def test_tool_calls_round_trip() -> None:
    calls = [("get_weather", '{"city":"Paris"}'), ("get_time", '{"tz":"Europe/Paris"}')]
    with serving("groq") as server:
        async with client("groq", server) as provider:
            server.scripts.push(Answer("", tool_calls=calls, args_chunk_chars=4))
            got = await consume(
                provider.chat_stream(req("m", tools=(Tool("get_weather", parameters={"type": "object"}),)))
            )
            assert [(c[1], c[2]) for _, c in sorted(got.calls.items())] == calls
            assert got.finish == ["tool_calls"]
            history = [
                Message("user", "weather?"),
                Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),)),
                Message("tool", "sunny", tool_call_id="call_1"),
            ]
            await provider.chat(ChatRequest(model="m", messages=tuple(history)))
            assert server.last_request.json()["messages"][1:] == [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ]


MODEL_LISTS = [name for name in NAMES if PROFILES[name].models is not None]


@pytest.mark.parametrize("name", MODEL_LISTS)
async def test_list_models(name: str) -> None:
    with serving(name, models=["org/alpha", "org/beta"]) as server:
        async with client(name, server) as provider:
            models = await provider.list_models()
            health = await provider.health_check()
        assert server.last_request.path == server.models_path
        assert server.last_request.header("authorization") == f"Bearer {KEY}"
    ids = [m.id for m in models]
    if name == "huggingface":
        assert ids == ["org/alpha", "org/alpha:together", "org/beta", "org/beta:together"]
    else:
        assert ids == ["org/alpha", "org/beta"]
    assert all(m.provider == name for m in models)
    assert health.healthy and health.error is None


async def test_model_list_details() -> None:
    with serving("openrouter", models=["anthropic/claude-sonnet-4"]) as server:
        async with client("openrouter", server) as provider:
            (model,) = await provider.list_models()
    assert server.last_request.path == "/api/v1/models"
    assert (model.context_window, model.max_output_tokens) == (131_072, 8192)
    assert model.input_price == pytest.approx(1.0) and model.output_price == pytest.approx(2.0)
    assert model.cache_read_price == pytest.approx(0.1) and model.cache_write_price is None
    assert model.supports_images and model.supports_prompt_cache and model.supports_reasoning
    with serving("litellm", models=["claude"]) as server:
        async with client("litellm", server) as provider:
            (model,) = await provider.list_models()
    assert server.last_request.path == "/v1/model/info"
    assert (model.id, model.context_window, model.max_output_tokens, model.supports_images) == (
        "claude",
        131_072,
        8192,
        True,
    )
    with serving("glama", models=["anthropic/claude-3-7-sonnet"]) as server:
        async with client("glama", server) as provider:
            (model,) = await provider.list_models()
    assert server.last_request.path == "/api/gateway/v1/models"
    assert model.supports_prompt_cache and model.input_price == pytest.approx(1.0)
    with serving("unbound", models=["anthropic/claude-3-7-sonnet-20250219"]) as server:
        async with client("unbound", server) as provider:
            (model,) = await provider.list_models()
    assert server.last_request.path == "/models"
    assert (model.max_output_tokens, model.input_price, model.output_price) == (8192, 1.0, 2.0)


def test_profiles_without_a_model_endpoint() -> None:
    for name in ("doubao", "zai", "perplexity"):
        provider = compat.create(name, api_key=KEY)
        assert provider.build_models_call() is None
        assert not provider.capabilities.list_models


# -- transport behaviour shared by the family ---------------------------------------------------------
async def test_disconnect_mid_event_delivers_tokens_then_raises() -> None:
    with serving("xai") as server:
        async with client("xai", server) as provider:
            server.scripts.push(ANSWER)
            server.faults.push(faults.Disconnect(after_bytes=900))
            got = Got()
            with pytest.raises(APIConnectionError):
                await consume(provider.chat_stream(standard_request("xai")), got)
    assert got.reasoning and ANSWER.reasoning.startswith(got.reasoning)


async def test_stopping_early_releases_the_connection() -> None:
    http = httpx.AsyncClient(limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
    short = Timeouts(connect=2.0, read=5.0, pool=1.0, idle=5.0, total=10.0)
    try:
        with serving("sambanova") as server:
            provider = compat.create(
                "sambanova", api_key=KEY, base_url=server.base_url, timeouts=short, http_client=http
            )
            server.scripts.push(Answer(" ".join(f"w{i}" for i in range(200))))
            server.faults.push(faults.Stall(seconds=30.0, after_bytes=2000))
            with anyio.fail_after(3.0):
                stream = provider.chat_stream(req("m"))
                async with stream:
                    async for token in stream:
                        if token.kind == "text":
                            break
            assert stream.closed
            with anyio.fail_after(3.0):
                reply = await provider.chat(req("m", {"role": "user", "content": "again"}))
            assert reply.text == "You said: again"
    finally:
        await http.aclose()


async def test_keys_never_leak(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[BaseException] = []
    for name in NAMES:
        provider = compat.create(name, api_key=KEY)
        assert KEY not in repr(provider) and KEY not in str(vars(type(provider)))
    with serving("openrouter", api_key="sk-other-accepted-key-000000") as server:
        async with client("openrouter", server) as provider:
            with pytest.raises(AuthenticationError) as info:
                await provider.chat(req("m"))
            errors.append(info.value)
            server.faults.push(faults.ServerFault(500))
            with pytest.raises(ProviderError) as fault:
                await provider.chat(req("m"))
            errors.append(fault.value)
    for error in errors:
        for text in (str(error), repr(error), str(getattr(error, "body", ""))):
            assert KEY not in text
    assert KEY not in caplog.text


# -- registry ------------------------------------------------------------------------------------
def test_registry_has_every_profile_and_each_builds_offline() -> None:
    registry = ProviderRegistry.default()
    names = set(registry.names())
    assert set(PROFILES) | {"ollama"} <= names
    for name in [*PROFILES, "ollama"]:
        provider = registry.create(name)
        assert provider.name == name
        if isinstance(provider, CompatProvider):
            assert type(provider).profile is PROFILES[name]
            assert provider.has_credentials() == (name in ("litellm", "lmstudio"))
    with pytest.raises(
        ConfigurationError, match=re.escape("openrouter: no API key; pass api_key=... or set OPENROUTER_API_KEY")
    ):
        registry.create("openrouter").build_chat_call(req("m"), stream=True)


def test_compat_provider_binding() -> None:
    direct = CompatProvider("groq", api_key=KEY)
    assert type(direct) is CompatProvider.bind("groq") and type(direct).__name__ == "GroqProvider"
    assert compat.get_profile("lite-llm") is PROFILES["litellm"]
    assert compat.get_profile("lm-studio") is PROFILES["lmstudio"]
    with pytest.raises(TypeError, match="needs a profile"):
        CompatProvider()
    with pytest.raises(ConfigurationError, match="unknown OpenAI-compatible profile 'nope'"):
        CompatProvider("nope")


def test_import_tokenwire_loads_no_provider_module() -> None:
    code = "import sys, tokenwire; print(sorted(m for m in sys.modules if m.startswith('tokenwire.providers.')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert "tokenwire.providers.compat" not in proc.stdout and "tokenwire.providers.ollama" not in proc.stdout


# -- recorded streams ------------------------------------------------------------------------------
_RECORDED_PROFILE = {
    "deepseek": "deepseek",
    "groq": "groq",
    "xai": "xai",
    "mistral": "mistral",
    "perplexity": "perplexity",
    "moonshotai": "moonshot",
    "openai-compatible": "fireworks",
}
_RECORDED_FILES = sorted(
    path
    for folder in _RECORDED_PROFILE
    for path in (RECORDED / "vercel-ai" / folder).glob("*.chunks.txt")
    if RECORDED.is_dir() and classify_recorded(path)[0] == "openai-chat"
)


@dataclass
class Oracle:
    text: str = ""
    reasoning: str = ""
    calls: dict[int, list[Any]] = field(default_factory=dict)
    usage: Optional[tuple[int, int, int, int, int]] = None
    finish: Optional[str] = None
    citations: list[tuple[str, Optional[str]]] = field(default_factory=list)
    content_parts: bool = False


def _n(value: Any) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def first(*values: Optional[int]) -> int:
    return next((v for v in values if v is not None), 0)


def _usage(raw: dict[str, Any]) -> tuple[int, int, int, int, int]:
    details = raw.get("prompt_tokens_details") or {}
    completion = raw.get("completion_tokens_details") or {}
    return (
        first(_n(raw.get("prompt_tokens"))),
        first(_n(raw.get("completion_tokens"))),
        first(_n(details.get("cached_tokens")), _n(raw.get("prompt_cache_hit_tokens")), _n(raw.get("cached_tokens"))),
        first(_n(details.get("cache_write_tokens")), _n(raw.get("cache_creation_input_tokens"))),
        first(_n(completion.get("reasoning_tokens"))),
    )


def read_payloads(path: Path) -> Oracle:
    """The stream's contents, read with json.loads by the Chat Completions field rules."""
    out = Oracle()
    top_usage = False
    cited: set[str] = set()
    for line in recorded_lines(path):
        payload = json.loads(line)
        for choice in payload.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            reasoning = delta.get("reasoning_content") or delta.get("reasoning")
            if isinstance(reasoning, str):
                out.reasoning += reasoning
            content = delta.get("content")
            if isinstance(content, str):
                out.text += content
            elif isinstance(content, list):
                # Mistral's content chunks, read as Roo's mistral.ts does.
                out.content_parts = True
                for part in content:
                    if part.get("type") == "text":
                        out.text += part.get("text") or ""
                    elif part.get("type") == "thinking":
                        out.reasoning += "".join(p.get("text") or "" for p in part.get("thinking") or [])
            for position, item in enumerate(delta.get("tool_calls") or []):
                index = item.get("index", position)
                call = out.calls.setdefault(index, [None, None, ""])
                fn = item.get("function") or {}
                call[0] = call[0] or item.get("id") or None
                call[1] = call[1] or fn.get("name") or None
                call[2] += fn.get("arguments") or ""
            if choice.get("finish_reason") and out.finish is None:
                out.finish = choice["finish_reason"]
        if isinstance(payload.get("usage"), dict):
            top_usage = True
            out.usage = _usage(payload["usage"])
        elif not top_usage and isinstance((payload.get("x_groq") or {}).get("usage"), dict):
            out.usage = _usage(payload["x_groq"]["usage"])
        for result in payload.get("search_results") or []:
            url = result.get("url")
            if url and url not in cited:
                cited.add(url)
                out.citations.append((url, result.get("title") or None))
        for url in payload.get("citations") or []:
            if url not in cited:
                cited.add(url)
                out.citations.append((url, None))
    return out


@pytest.mark.parametrize("path", _RECORDED_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
async def test_recorded_streams_decode_to_their_contents(path: Path) -> None:
    require_recorded()
    name = _RECORDED_PROFILE[path.parent.name]
    expected = read_payloads(path)
    with serving(name) as server:
        server.scripts.push(Recording.from_file(path))
        async with client(name, server) as provider:
            got = await consume(provider.chat_stream(req("recorded-model")))
    assert got.text == expected.text
    assert got.reasoning == expected.reasoning
    assert {i: (c[0], c[1], c[2]) for i, c in got.calls.items()} == {i: tuple(c) for i, c in expected.calls.items()}
    assert got.usage_tuple() == expected.usage
    assert got.finish == ([expected.finish] if expected.finish else [])
    assert got.citations == expected.citations


def test_recorded_stream_inventory() -> None:
    require_recorded()
    # Every folder the brief names contributes Chat Completions streams (the xAI
    # Responses-API recordings are not this family's wire and are left out).
    folders = {path.parent.name for path in _RECORDED_FILES}
    assert folders == set(_RECORDED_PROFILE)
    assert len(_RECORDED_FILES) >= 17
