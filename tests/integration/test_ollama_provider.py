"""The Ollama adapter end to end over real sockets against ``OllamaMockServer``: exact
headers and ``/api/chat`` bodies, the NDJSON stream decoded character for character
(thinking, text, tool calls, usage), whole and dripped byte by byte, non-streaming chat,
models from ``/api/tags`` + ``/api/show``, typed errors (401, 404, 429, 503, an error
line mid-stream, a malformed line, a cut connection) and Roo's "not running" message.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import AsyncGenerator, Generator
from typing import Any, Optional

import pytest
from tests.integration._streams import Got, check_broken_streams, consume

from tokenwire._http import Timeouts
from tokenwire.errors import (
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    NotFoundError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from tokenwire.providers.ollama import OllamaProvider
from tokenwire.testing import Answer, OllamaMockServer, Recording, faults
from tokenwire.types import (
    ChatRequest,
    CompletionRequest,
    ImagePart,
    Message,
    TextPart,
    Tool,
    ToolCall,
    coerce_messages,
)

pytestmark = pytest.mark.anyio

TIMEOUTS = Timeouts(connect=2.0, read=10.0, write=5.0, pool=5.0, idle=5.0, total=20.0)
PNG = "iVBORw0KGgo="
ANSWER = Answer(
    text='Bonjour, wörld 你好 🌍 — "quoted"\nsecond line.',
    reasoning="Thinking about greetings 思考.",
    tool_calls=[("get_weather", '{"city":"Paris","days":2,"ratio":1.25}')],
    usage=(17, 29),
)
TRANSPORT = {"host", "accept-encoding", "connection", "content-length"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OLLAMA_HOST", "OLLAMA_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@contextlib.contextmanager
def serving(**options: Any) -> Generator[OllamaMockServer, None, None]:
    with OllamaMockServer(**options) as server:
        yield server


@contextlib.asynccontextmanager
async def client(server: OllamaMockServer, **options: Any) -> AsyncGenerator[OllamaProvider, None]:
    async with OllamaProvider(base_url=server.base_url, timeouts=TIMEOUTS, **options) as provider:
        yield provider


def req(model: str = "llama3.2:latest", *messages: Any, **kwargs: Any) -> ChatRequest:
    return ChatRequest(
        model=model, messages=coerce_messages(messages or ({"role": "user", "content": "Hi"},)), **kwargs
    )


# -- the wire --------------------------------------------------------------------------------------
async def test_chat_stream_exact_headers_and_body() -> None:
    request = ChatRequest(
        model="qwen2.5vl:7b",
        system="Be brief.",
        messages=(
            Message("user", (TextPart("What is in"), TextPart("this image?"), ImagePart(data=PNG))),
            Message("assistant", "", tool_calls=(ToolCall("call_1", "get_weather", '{"city":"Paris"}'),)),
            Message("tool", "sunny", tool_call_id="call_1"),
        ),
        tools=(
            Tool("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}}}),
        ),
        max_tokens=64,
        top_p=0.9,
        stop=("END",),
        response_format={"type": "json_object"},
        options={"keep_alive": "5m", "think": True},
    )
    with serving() as server:
        server.scripts.push(ANSWER)
        async with client(server, num_ctx=8192) as provider:
            await consume(provider.chat_stream(request))
        sent = server.last_request
    assert (sent.method, sent.path) == ("POST", "/api/chat")
    headers = {k.lower(): v for k, v in sent.headers}
    assert set(headers) == {"user-agent", "accept", "content-type"} | TRANSPORT
    assert (headers["accept"], headers["content-type"], headers["user-agent"]) == (
        "application/x-ndjson",
        "application/json",
        "tokenwire/0.1.0",
    )
    assert sent.json() == {
        "model": "qwen2.5vl:7b",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "What is in\nthis image?", "images": [PNG]},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
            },
            {"role": "tool", "content": "sunny"},
        ],
        "stream": True,
        "options": {"temperature": 0.0, "num_ctx": 8192, "num_predict": 64, "top_p": 0.9, "stop": ["END"]},
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                },
            }
        ],
        "format": "json",
        "keep_alive": "5m",
        "think": True,
    }


async def test_temperature_defaults_and_key() -> None:
    with serving(api_key="ollama-secret-key") as server:
        async with client(server, api_key="ollama-secret-key") as provider:
            await provider.chat(req("deepseek-r1:8b"))
            assert server.last_request.json()["options"] == {"temperature": 0.6}
            assert server.last_request.header("authorization") == "Bearer ollama-secret-key"
            await provider.chat(req("llama3.2:latest", temperature=0.3))
            assert server.last_request.json()["options"] == {"temperature": 0.3}
            schema = {"type": "object", "properties": {"a": {"type": "string"}}}
            await provider.chat(
                req(response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
            )
            assert server.last_request.json()["format"] == schema
        async with client(server, api_key="ollama-secret-key", default_temperature=None) as provider:
            await provider.chat(req())
            assert server.last_request.json()["options"] == {}


@pytest.mark.parametrize("split", [None, faults.Drip(bytes_per_write=1), faults.Drip(bytes_per_write=5)])
async def test_stream_decodes_char_for_char(split: Optional[faults.Drip]) -> None:
    with serving() as server:
        server.scripts.push(ANSWER)
        if split is not None:
            server.faults.push(split)
        async with client(server) as provider:
            got = await consume(provider.chat_stream(req()))
    assert got.text == ANSWER.text
    assert got.reasoning == ANSWER.reasoning
    # Ollama sends arguments as an object; the dialect re-serializes it compactly.
    assert got.calls == {0: [got.calls[0][0], "get_weather", '{"city":"Paris","days":2,"ratio":1.25}']}
    assert got.calls[0][0] is not None and got.calls[0][0].startswith("call_")
    assert got.finish == ["stop"]
    assert [(u.input_tokens, u.output_tokens) for u in got.usage] == [(17, 29)]


async def test_non_streaming_chat_and_complete() -> None:
    with serving() as server:
        async with client(server) as provider:
            server.scripts.push(ANSWER)
            reply = await provider.chat(req())
            assert server.last_request.json()["stream"] is False
            assert (reply.text, reply.reasoning, reply.finish_reason) == (ANSWER.text, ANSWER.reasoning, "stop")
            assert [(c.name, json.loads(c.arguments)) for c in reply.tool_calls] == [
                ("get_weather", {"city": "Paris", "days": 2, "ratio": 1.25})
            ]
            assert reply.usage is not None and (reply.usage.input_tokens, reply.usage.output_tokens) == (17, 29)
            completion = await provider.complete(CompletionRequest(model="llama3.2:latest", prompt="Say hi"))
            assert completion.text == "You said: Say hi"
            assert server.last_request.json()["messages"] == [{"role": "user", "content": "Say hi"}]
            server.scripts.push(Answer("streamed"))
            got = await consume(provider.complete_stream(CompletionRequest(model="llama3.2:latest", prompt="go")))
            assert got.text == "streamed"


async def test_recorded_lines_are_replayed() -> None:
    lines = [
        {
            "model": "m",
            "created_at": "t",
            "message": {"role": "assistant", "content": "", "thinking": "hmm "},
            "done": False,
        },
        {"model": "m", "created_at": "t", "message": {"role": "assistant", "content": "Hi"}, "done": False},
        {
            "model": "m",
            "created_at": "t",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "length",
            "prompt_eval_count": 3,
            "eval_count": 1,
        },
    ]
    with serving() as server:
        server.scripts.push(Recording.from_lines(lines))
        async with client(server) as provider:
            got = await consume(provider.chat_stream(req()))
    assert (got.reasoning, got.text, got.finish) == ("hmm ", "Hi", ["length"])


# -- models ----------------------------------------------------------------------------------------
async def test_list_models_reads_tags_and_show() -> None:
    with serving() as server:
        async with client(server) as provider:
            models = await provider.list_models()
            health = await provider.health_check()
        paths = [(r.method, r.path) for r in server.requests]
    assert paths[:4] == [("GET", "/api/tags"), ("POST", "/api/show"), ("POST", "/api/show"), ("POST", "/api/show")]
    assert [(m.id, m.context_window, m.max_output_tokens, m.supports_images) for m in models] == [
        ("llama3.2:latest", 131_072, 131_072, False),
        ("qwen2.5vl:7b", 128_000, 128_000, True),
        ("deepseek-r1:8b", 131_072, 131_072, False),
    ]
    assert models[2].supports_reasoning and all(m.supports_prompt_cache and m.provider == "ollama" for m in models)
    assert health.healthy


# -- errors ----------------------------------------------------------------------------------------
async def test_errors_are_typed() -> None:
    with serving(models=["llama3.2:latest"], api_key="k-ollama") as server:
        async with client(server) as provider:
            with pytest.raises(AuthenticationError) as auth:
                await consume(provider.chat_stream(req()))
            assert (auth.value.status, auth.value.message) == (401, "unauthorized")
        async with client(server, api_key="k-ollama") as provider:
            with pytest.raises(NotFoundError) as missing:
                await consume(provider.chat_stream(req("nope:1b")))
            assert missing.value.message == 'model "nope:1b" not found, try pulling it first'
            assert missing.value.provider == "ollama" and missing.value.model == "nope:1b"
            server.faults.push(faults.RateLimit(retry_after=3))
            with pytest.raises(RateLimitError) as limited:
                await consume(provider.chat_stream(req()))
            assert (limited.value.status, limited.value.retry_after) == (429, 3.0)
            server.faults.push(faults.Overloaded())
            with pytest.raises(ServerError) as busy:
                await provider.chat(req())
            assert busy.value.status == 503 and "maximum pending requests exceeded" in busy.value.message
            server.faults.push(faults.ServerFault(500, "llama runner process has terminated"))
            with pytest.raises(ServerError) as crashed:
                await provider.chat(req())
            assert crashed.value.message == "llama runner process has terminated"


async def test_stream_error_line_malformed_line_and_cut() -> None:
    with serving() as server:
        async with client(server) as provider:
            server.scripts.push(ANSWER)
            server.faults.push(faults.ErrorEvent(after_events=3, message="out of memory"))
            got = Got()
            with pytest.raises(ProviderError) as failed:
                await consume(provider.chat_stream(req()), got)
            assert failed.value.message == "out of memory" and failed.value.provider == "ollama"
            assert got.reasoning, "tokens before the error line are delivered"
            await check_broken_streams(provider, server, req(), ANSWER, cut_after=200)


async def test_not_running_message() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with OllamaProvider(base_url=f"127.0.0.1:{port}", timeouts=TIMEOUTS) as provider:
        assert provider.base_url == f"http://127.0.0.1:{port}"
        with pytest.raises(APIConnectionError) as info:
            await consume(provider.chat_stream(req()))
    assert str(info.value).startswith(
        f"Ollama service is not running at http://127.0.0.1:{port}. Please start Ollama first."
    )


def test_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = OllamaProvider()
    assert provider.base_url == "http://localhost:11434" and provider.has_credentials()
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:11500")
    assert OllamaProvider().base_url == "http://0.0.0.0:11500"
    monkeypatch.setenv("OLLAMA_API_KEY", "env-key-123456")
    assert "env-key-123456" not in repr(OllamaProvider())
    with pytest.raises(ConfigurationError, match="num_ctx must be positive"):
        OllamaProvider(num_ctx=0)
    with pytest.raises(ConfigurationError, match="inline base64"):
        OllamaProvider().build_chat_body(req("m", Message("user", (ImagePart(url="https://x/y.png"),))), stream=True)
    with pytest.raises(ConfigurationError, match="'think'"):
        OllamaProvider().build_chat_body(req(options={"think": "max"}), stream=True)
