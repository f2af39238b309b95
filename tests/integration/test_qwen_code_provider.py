"""QwenCodeProvider end to end over real sockets: the Qwen Code credentials file, Qwen's
token endpoint (rotating refresh tokens) and the OpenAI-compatible chat endpoint named by
the credentials' ``resource_url``, all on the loopback ``QwenMockServer``.

Covered: refresh and write-back, a 401 answered by one refresh and retry, refusals, the
endpoint taken from the credentials, exact headers and bodies, streams decoded char for
char (synthesized, ``<think>`` splitting, recorded OpenAI-compatible streams, dripped and
cut), errors, and that no token leaks.
"""

from __future__ import annotations

import json
import logging
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from tests._stream_helpers import frame_recorded, token_tuple
from tests.conftest import require_recorded
from tests.integration._streams import WallClock

import tokenwire
from tokenwire import __version__
from tokenwire._http import Timeouts
from tokenwire.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    RateLimitError,
    ServerError,
)
from tokenwire.providers.qwen_code import DEFAULT_BASE_URL, QWEN_OAUTH, QwenCodeProvider
from tokenwire.testing import Answer, Recording, faults
from tokenwire.testing.oauth import QwenMockServer
from tokenwire.types import (
    ChatRequest,
    CompletionRequest,
    Finish,
    ReasoningDelta,
    StreamToken,
    TextDelta,
    Usage,
    coerce_messages,
)

pytestmark = pytest.mark.anyio

TIMEOUTS = Timeouts(connect=2.0, read=5.0, write=5.0, pool=5.0, idle=5.0, total=15.0)
HTTPX_HEADERS = {"host", "accept-encoding", "connection", "content-length"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("QWEN_CODE_OAUTH_PATH", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


@pytest.fixture
def server(clock: WallClock) -> Iterator[QwenMockServer]:
    with QwenMockServer(clock=clock) as mock:
        yield mock


@pytest.fixture
def creds(tmp_path: Path) -> Path:
    return tmp_path / ".qwen" / "oauth_creds.json"


def write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def make(server: QwenMockServer, path: Path, clock: WallClock, **options: Any) -> QwenCodeProvider:
    options.setdefault("timeouts", TIMEOUTS)
    return QwenCodeProvider(oauth_path=path, token_url=server.token_url, clock=clock, **options)


@pytest.fixture
async def provider(server: QwenMockServer, creds: Path, clock: WallClock) -> AsyncIterator[QwenCodeProvider]:
    write(creds, server.issue_credentials())
    async with make(server, creds, clock) as p:
        yield p


def req(content: str = "hello there", model: str = "qwen3-coder-plus", **fields: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=coerce_messages([{"role": "user", "content": content}]), **fields)


async def collect(provider: QwenCodeProvider, request: ChatRequest) -> list[StreamToken]:
    with anyio.fail_after(20):
        async with provider.chat_stream(request) as stream:
            return [token async for token in stream]


def joined(tokens: list[StreamToken]) -> tuple[str, str, Any, Any]:
    text = "".join(t.text for t in tokens if isinstance(t, TextDelta))
    reasoning = "".join(t.text for t in tokens if isinstance(t, ReasoningDelta))
    usage = [t for t in tokens if isinstance(t, Usage)]
    finish = [t.reason for t in tokens if isinstance(t, Finish)]
    assert len(usage) <= 1 and len(finish) <= 1
    return text, reasoning, usage[0] if usage else None, finish[0] if finish else None


def paths(server: QwenMockServer) -> list[str]:
    return [r.path for r in server.requests]


# -- the endpoint, headers and body -------------------------------------------------------------------


async def test_exact_request_to_the_resource_url(
    provider: QwenCodeProvider, server: QwenMockServer, creds: Path
) -> None:
    token = json.loads(creds.read_text(encoding="utf-8"))["access_token"]
    server.scripts.push(Answer("Sure thing.", usage=(11, 3)))
    tokens = await collect(provider, req(system="Be brief."))
    assert joined(tokens) == ("Sure thing.", "", Usage(11, 3), "stop")
    (received,) = server.requests
    assert (received.method, received.path) == ("POST", "/v1/chat/completions")
    assert {n.lower() for n in received.headers.names()} == HTTPX_HEADERS | {
        "authorization",
        "user-agent",
        "accept",
        "content-type",
    }
    assert received.header("authorization") == f"Bearer {token}"
    assert (received.header("accept"), received.header("user-agent")) == (
        "text/event-stream",
        f"tokenwire/{__version__}",
    )
    assert received.json() == {
        "model": "qwen3-coder-plus",
        "temperature": 0,
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_completion_tokens": 65536,
    }
    assert provider.base_url == f"{server.url}/v1"


async def test_endpoint_defaults_and_overrides(server: QwenMockServer, creds: Path, clock: WallClock) -> None:
    document = server.issue_credentials()
    del document["resource_url"]
    write(creds, document)
    async with make(server, creds, clock) as provider:
        await provider.access_token()  # reads the file, no network
        assert provider.base_url == DEFAULT_BASE_URL
    async with make(server, creds, clock, base_url=server.base_url) as provider:
        assert (await provider.chat(req())).text == "You said: hello there"
    assert paths(server) == ["/v1/chat/completions"]


# -- tokens --------------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
async def test_expired_token_is_refreshed_rotated_and_saved(
    server: QwenMockServer, creds: Path, clock: WallClock
) -> None:
    old = server.issue_credentials(expired=True)
    write(creds, old)
    async with make(server, creds, clock) as provider:
        assert (await provider.chat(req())).text == "You said: hello there"
        refresh, chat = server.requests
        assert refresh.path == "/api/v1/oauth2/token"
        assert refresh.header("content-type") == "application/x-www-form-urlencoded"
        assert refresh.header("accept") == "application/json"
        assert refresh.body.decode() == (
            f"grant_type=refresh_token&refresh_token={old['refresh_token'].replace('/', '%2F')}"
            f"&client_id={QWEN_OAUTH.client_id}"
        )
        saved = json.loads(creds.read_text(encoding="utf-8"))
        fresh = server.oauth.issued[-1]
        assert saved["refresh_token"] != old["refresh_token"]  # Qwen rotates refresh tokens
        assert saved == {
            **old,
            "access_token": fresh.token,
            "refresh_token": saved["refresh_token"],
            "token_type": "Bearer",
            "expiry_date": int((clock.now + 3599) * 1000),
        }
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        assert chat.header("authorization") == f"Bearer {fresh.token}"
        # The next refresh (30 s before expiry) uses the rotated refresh token.
        clock.advance(3599 - 20)
        assert (await provider.chat(req(content="later"))).text == "You said: later"
    assert paths(server) == ["/api/v1/oauth2/token", "/v1/chat/completions"] * 2


async def test_a_401_refreshes_once_and_retries(provider: QwenCodeProvider, server: QwenMockServer) -> None:
    await provider.chat(req())
    server.oauth.revoke_access_tokens()
    assert (await provider.chat(req(content="again"))).text == "You said: again"
    server.oauth.revoke_access_tokens()
    assert joined(await collect(provider, req(content="streamed")))[0] == "You said: streamed"
    retried = ["/v1/chat/completions", "/api/v1/oauth2/token", "/v1/chat/completions"]
    assert paths(server) == ["/v1/chat/completions", *retried, *retried]
    auth = [r.header("authorization") for r in server.requests]
    assert auth[1] == auth[0] != auth[3] == auth[4]
    assert auth[6] == f"Bearer {server.oauth.issued[-1].token}" != auth[3]


async def test_refused_refresh_and_second_401(
    server: QwenMockServer, creds: Path, clock: WallClock, caplog: pytest.LogCaptureFixture
) -> None:
    old = server.issue_credentials(expired=True)
    write(creds, old)
    server.oauth.revoke()
    async with make(server, creds, clock) as provider:
        with caplog.at_level(logging.DEBUG), anyio.fail_after(10), pytest.raises(AuthenticationError) as info:
            async with provider.chat_stream(req()) as stream:
                [t async for t in stream]
        error = info.value
        assert error.message == (
            "qwen-code: refreshing the Qwen Code token failed: Invalid refresh token or refresh token expired; "
            "run `qwen` and sign in with Qwen OAuth (`/auth`) again"
        )
        for text in (str(error), repr(error), caplog.text, repr(provider)):
            assert old["refresh_token"] not in text and old["access_token"] not in text
    assert paths(server) == ["/api/v1/oauth2/token"]
    # Tokens the API never accepts (another server issues them): the 401 is retried once
    # with a refreshed token, then raised.
    with QwenMockServer(clock=clock) as elsewhere:
        write(creds, elsewhere.issue_credentials())
        async with make(elsewhere, creds, clock, base_url=server.base_url) as provider:
            server.reset()
            with anyio.fail_after(10), pytest.raises(AuthenticationError) as second:
                await provider.chat(req())
        assert (second.value.status, second.value.code) == (401, "invalid_api_key")
        assert paths(server) == ["/v1/chat/completions", "/v1/chat/completions"]
        assert paths(elsewhere) == ["/api/v1/oauth2/token"]


async def test_missing_credentials_file(server: QwenMockServer, tmp_path: Path, clock: WallClock) -> None:
    provider = make(server, tmp_path / "none.json", clock)
    with pytest.raises(ConfigurationError) as info:
        await provider.chat(req())
    assert "run `qwen` and sign in with Qwen OAuth" in str(info.value)
    assert "QWEN_CODE_OAUTH_PATH" in str(info.value)
    health = await provider.health_check()
    assert not health.healthy
    assert server.requests == []
    await provider.aclose()


# -- streams --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("drip", [1, 13])
async def test_reasoning_and_text_dripped(provider: QwenCodeProvider, server: QwenMockServer, drip: int) -> None:
    answer = Answer("Plan done — 完成.", reasoning="step one… step two", usage=(9, 8))
    server.scripts.push(answer)
    server.faults.push(faults.Drip(bytes_per_write=drip))
    assert joined(await collect(provider, req())) == (answer.text, answer.reasoning, Usage(9, 8), "stop")


async def test_think_tags_in_the_content(provider: QwenCodeProvider, server: QwenMockServer) -> None:
    server.scripts.push(Answer("<think>Let me see. </think>The answer is 4.", chunk_words=1))
    text, reasoning, _, _ = joined(await collect(provider, req()))
    assert (text, reasoning) == ("The answer is 4.", "Let me see. ")
    server.scripts.push(Answer("<think>x</think>y", chunk_words=1))
    async with make(server, provider.oauth_path, provider._clock, think_tags=False) as plain:  # pyright: ignore[reportPrivateUsage]
        assert joined(await collect(plain, req()))[0] == "<think>x</think>y"


@pytest.mark.parametrize(
    "name", ["deepseek/deepseek-reasoning", "deepseek/deepseek-tool-call", "openai-compatible/xai-text"]
)
async def test_recorded_streams_decode_exactly(provider: QwenCodeProvider, server: QwenMockServer, name: str) -> None:
    path = require_recorded() / "vercel-ai" / f"{name}.chunks.txt"
    oracle = tokenwire.StreamProcessor("openai-chat", coalesce=False, think_tags=True)
    wire = frame_recorded(path, "openai-chat")
    want = oracle.feed(wire) + oracle.finish()
    assert want
    # One byte per write splits at every byte; bigger recordings use 7-byte writes to stay fast.
    for drip in (None, 1 if len(wire) <= 4000 else 7):
        server.scripts.push(Recording.from_file(path))
        if drip:
            server.faults.push(faults.Drip(bytes_per_write=drip))
        async with QwenCodeProvider(
            oauth_path=provider.oauth_path, token_url=server.token_url, coalesce=False, timeouts=TIMEOUTS
        ) as exact:
            got = await collect(exact, req())
        assert [token_tuple(t) for t in got] == [token_tuple(t) for t in want], (name, drip)


async def test_disconnect_and_errors(provider: QwenCodeProvider, server: QwenMockServer) -> None:
    server.scripts.push(Answer("one two three four five six", chunk_words=1))
    server.faults.push(faults.Disconnect(after_bytes=700))
    tokens: list[StreamToken] = []
    with anyio.fail_after(10), pytest.raises(APIConnectionError) as cut:
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                tokens.append(token)
    assert not isinstance(cut.value, APITimeoutError)
    assert "one two three four five six".startswith(joined(tokens)[0])
    server.faults.push(faults.RateLimit(retry_after=3.0))
    with anyio.fail_after(10), pytest.raises(RateLimitError) as limited:
        await provider.chat(req())
    assert (limited.value.status, limited.value.provider, limited.value.request_id is not None) == (
        429,
        "qwen-code",
        True,
    )
    server.faults.push(faults.ServerFault(status=500))
    with anyio.fail_after(10), pytest.raises(ServerError):
        await collect(provider, req())
    server.scripts.push(Answer("partial answer here"))
    server.faults.push(faults.ErrorEvent(after_events=2, error_type="server_error", message="boom"))
    got: list[StreamToken] = []
    with anyio.fail_after(10), pytest.raises(ServerError, match="boom"):
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                got.append(token)
    assert joined(got)[0]


# -- the rest of the interface ----------------------------------------------------------------------------


async def test_chat_and_complete(provider: QwenCodeProvider, server: QwenMockServer) -> None:
    server.scripts.push(Answer("Fine.", reasoning="brief thought", usage=(4, 2)))
    answer = await provider.chat(req())
    assert (answer.text, answer.reasoning, answer.usage, answer.provider) == (
        "Fine.",
        "brief thought",
        Usage(4, 2),
        "qwen-code",
    )
    completion = await provider.complete(CompletionRequest(model="qwen3-coder-flash", prompt="Say hi"))
    assert completion.text == "You said: Say hi"
    assert server.requests[-1].json() == {
        "model": "qwen3-coder-flash",
        "messages": [{"role": "user", "content": "Say hi"}],
        "max_completion_tokens": 65536,
    }
    async with provider.complete_stream(CompletionRequest(model="qwen3-coder-flash", prompt="S")) as stream:
        assert joined([t async for t in stream])[0] == "You said: S"


async def test_models_tokens_and_health(provider: QwenCodeProvider, server: QwenMockServer) -> None:
    models = await provider.list_models()
    assert [(m.id, m.context_window, m.max_output_tokens, m.input_price) for m in models] == [
        ("qwen3-coder-plus", 1_000_000, 65_536, 0.0),
        ("qwen3-coder-flash", 1_000_000, 65_536, 0.0),
    ]
    assert await provider.count_tokens(req("some words here")) > 0
    health = await provider.health_check()
    assert health.healthy, health.error
    assert server.requests == []  # the token in the file is valid: nothing to ask


async def test_stopping_early_releases_the_connection(provider: QwenCodeProvider, server: QwenMockServer) -> None:
    server.scripts.push(Answer("word " * 400, chunk_words=1))
    server.faults.push(faults.Stall(seconds=5.0, after_bytes=1500))
    with anyio.fail_after(3):
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                if isinstance(token, TextDelta):
                    break
    assert stream.closed
    pool = provider.http_client._transport._pool  # type: ignore[attr-defined]
    assert all(conn.is_idle() or conn.is_closed() for conn in pool.connections)
