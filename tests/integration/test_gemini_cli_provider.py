"""GeminiCLIProvider end to end over real sockets: the Gemini CLI's credentials file, Google's
token endpoint and the Code Assist API, all on the loopback ``CodeAssistMockServer``.

The server and the provider share a fake clock, so expiry is decided without sleeping.
Covered: project discovery and onboarding, token refresh (form, file rewrite, refusals,
the CLI refreshing concurrently, one refresh for many requests), a 401 answered by one
refresh and retry, exact headers and bodies, the ``response`` envelope unwrapped char for
char (synthesized and recorded streams, dripped, cut), errors, and that no token leaks.
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
from tests.integration import test_gemini_provider as gemini_cases
from tests.integration._streams import WallClock

from tokenwire._http import Timeouts
from tokenwire.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from tokenwire.providers.gemini import SafetyBlockedError
from tokenwire.providers.gemini_cli import CLIENT_METADATA, GEMINI_CLI_OAUTH, GeminiCLIProvider
from tokenwire.testing import Answer, OpenAIMockServer, Recording, faults, synth_gemini
from tokenwire.testing.oauth import CodeAssistMockServer
from tokenwire.types import ChatRequest, CompletionRequest, StreamToken, TextDelta, Usage, coerce_messages

pytestmark = pytest.mark.anyio

TIMEOUTS = Timeouts(connect=2.0, read=5.0, write=5.0, pool=5.0, idle=5.0, total=15.0)
HTTPX_HEADERS = {"host", "accept", "accept-encoding", "connection", "user-agent", "content-length"}
ENV = ("GEMINI_CLI_OAUTH_PATH", "GEMINI_CLI_PROJECT_ID", "CODE_ASSIST_ENDPOINT")
summary = gemini_cases.summary


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def clock() -> WallClock:
    return WallClock()


@pytest.fixture
def server(clock: WallClock) -> Iterator[CodeAssistMockServer]:
    with CodeAssistMockServer(project="proj-42", clock=clock) as mock:
        yield mock


@pytest.fixture
def creds(tmp_path: Path) -> Path:
    return tmp_path / ".gemini" / "oauth_creds.json"


def write(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")


def make(server: CodeAssistMockServer, path: Path, clock: WallClock, **options: Any) -> GeminiCLIProvider:
    options.setdefault("timeouts", TIMEOUTS)
    options.setdefault("onboard_poll_interval", 0.01)
    return GeminiCLIProvider(oauth_path=path, base_url=server.url, token_url=server.token_url, clock=clock, **options)


@pytest.fixture
async def provider(server: CodeAssistMockServer, creds: Path, clock: WallClock) -> AsyncIterator[GeminiCLIProvider]:
    # Authenticated and with the project discovered, so queued faults and recordings
    # concern the requests of the test.
    write(creds, server.issue_credentials())
    async with make(server, creds, clock) as p:
        await p.authenticate()
        server.reset()
        yield p


def req(content: str = "hello there", model: str = "gemini-2.5-flash", **fields: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=coerce_messages([{"role": "user", "content": content}]), **fields)


async def collect(provider: GeminiCLIProvider, request: ChatRequest) -> list[StreamToken]:
    with anyio.fail_after(20):
        async with provider.chat_stream(request) as stream:
            return [token async for token in stream]


def paths(server: CodeAssistMockServer) -> list[str]:
    return [r.path for r in server.requests]


# -- project discovery --------------------------------------------------------------------------------


async def test_valid_token_discovers_the_project_and_streams(
    server: CodeAssistMockServer, creds: Path, clock: WallClock
) -> None:
    write(creds, server.issue_credentials())
    provider = make(server, creds, clock)
    token = json.loads(creds.read_text(encoding="utf-8"))["access_token"]
    answer = Answer("The answer is 42.", reasoning="Let me count.", tool_calls=[("lookup", '{"q": "x"}')])
    server.scripts.push(answer)
    tokens = await collect(provider, req(system="Be exact.", max_tokens=100))
    got = summary(tokens)
    assert (got["text"], got["reasoning"], got["finish"]) == ("The answer is 42.", "Let me count.", "STOP")
    assert list(got["calls"].values()) == [(None, "lookup", {"q": "x"})]
    assert isinstance(got["usage"], Usage)
    load, generate = server.requests
    assert (load.path, generate.path, generate.query) == (
        "/v1internal:loadCodeAssist",
        "/v1internal:streamGenerateContent",
        {"alt": "sse"},
    )
    assert load.json() == {"cloudaicompanionProject": "default", "metadata": dict(CLIENT_METADATA)}
    for received in (load, generate):
        assert {name.lower() for name in received.headers.names()} == HTTPX_HEADERS | {"authorization", "content-type"}
        assert received.header("authorization") == f"Bearer {token}"
        assert received.header("content-type") == "application/json"
    assert generate.json() == {
        "model": "gemini-2.5-flash",
        "project": "proj-42",
        "request": {
            "contents": [
                {"role": "user", "parts": [{"text": "Be exact."}]},
                {"role": "user", "parts": [{"text": "hello there"}]},
            ],
            "generationConfig": {"temperature": 0.7, "maxOutputTokens": 100},
        },
    }
    assert provider.project_id == "proj-42"
    await collect(provider, req())
    assert paths(server)[2:] == ["/v1internal:streamGenerateContent"]  # discovered once
    await provider.aclose()


async def test_onboarding_is_polled_until_done(creds: Path, clock: WallClock) -> None:
    with CodeAssistMockServer(project="fresh-proj", onboarded=False, onboard_pending=2, clock=clock) as server:
        write(creds, server.issue_credentials())
        async with make(server, creds, clock) as provider:
            answer = await provider.chat(req())
        assert answer.text == "You said: hello there"
        assert paths(server) == [
            "/v1internal:loadCodeAssist",
            "/v1internal:onboardUser",
            "/v1internal:onboardUser",
            "/v1internal:onboardUser",
            "/v1internal:generateContent",
        ]
        assert server.requests[1].json() == {
            "tierId": "free-tier",
            "cloudaicompanionProject": "default",
            "metadata": dict(CLIENT_METADATA),
        }
        assert server.requests[-1].json()["project"] == "fresh-proj"


async def test_onboarding_that_never_finishes(creds: Path, clock: WallClock) -> None:
    with CodeAssistMockServer(onboarded=False, onboard_pending=100, clock=clock) as server:
        write(creds, server.issue_credentials())
        async with make(server, creds, clock, onboard_max_polls=2) as provider:
            with anyio.fail_after(10), pytest.raises(APITimeoutError, match="onboarding did not finish after 2 polls"):
                await provider.chat(req())
        assert paths(server).count("/v1internal:onboardUser") == 3
        assert not server.generation_requests()


async def test_explicit_project_skips_discovery(
    server: CodeAssistMockServer, creds: Path, clock: WallClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(creds, server.issue_credentials())
    async with make(server, creds, clock, project_id="proj-42") as provider:
        await provider.chat(req())
    assert paths(server) == ["/v1internal:generateContent"]
    monkeypatch.setenv("GEMINI_CLI_PROJECT_ID", "someone-else")
    async with make(server, creds, clock) as provider:
        with anyio.fail_after(10), pytest.raises(PermissionDeniedError) as info:
            await provider.chat(req())
    assert "someone-else" in info.value.message and info.value.status == 403


# -- tokens ----------------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
async def test_expired_token_is_refreshed_and_written_back(
    server: CodeAssistMockServer, creds: Path, clock: WallClock
) -> None:
    old = server.issue_credentials(expired=True)
    old["id_token"] = "eyJ.old.id"
    write(creds, old)
    creds.chmod(0o644)
    async with make(server, creds, clock) as provider:
        answer = await provider.chat(req())
    assert answer.text == "You said: hello there"
    refresh, load, generate = server.requests
    assert refresh.path == "/token"
    assert refresh.header("content-type") == "application/x-www-form-urlencoded"
    assert refresh.header("accept") == "application/json"
    client_id = GEMINI_CLI_OAUTH.client_id.replace(".", ".")
    assert refresh.body.decode() == (
        f"refresh_token={old['refresh_token'].replace('/', '%2F')}&client_id={client_id}"
        f"&client_secret={GEMINI_CLI_OAUTH.client_secret}&grant_type=refresh_token"
    )
    saved = json.loads(creds.read_text(encoding="utf-8"))
    fresh = server.oauth.issued[-1]
    assert saved == {
        **old,
        "access_token": fresh.token,
        "token_type": "Bearer",
        "scope": "https://www.googleapis.com/auth/cloud-platform openid",
        "expiry_date": int((clock.now + 3599) * 1000),
    }
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert load.header("authorization") == generate.header("authorization") == f"Bearer {fresh.token}"


async def test_token_close_to_expiry_is_refreshed(server: CodeAssistMockServer, creds: Path, clock: WallClock) -> None:
    write(creds, server.issue_credentials(expires_in=200))  # inside the 300 s margin
    async with make(server, creds, clock, project_id="proj-42") as provider:
        await provider.chat(req())
        await provider.chat(req())
    assert paths(server) == ["/token", "/v1internal:generateContent", "/v1internal:generateContent"]


async def test_refused_refresh_is_an_authentication_error(
    server: CodeAssistMockServer, creds: Path, clock: WallClock, caplog: pytest.LogCaptureFixture
) -> None:
    old = server.issue_credentials(expired=True)
    write(creds, old)
    server.oauth.revoke()
    async with make(server, creds, clock) as provider:
        with caplog.at_level(logging.DEBUG), anyio.fail_after(10), pytest.raises(AuthenticationError) as info:
            await provider.chat(req())
        error = info.value
        assert error.message == (
            "gemini-cli: refreshing the Gemini CLI token failed: Token has been expired or revoked.; "
            'run `gemini` and choose "Login with Google" again'
        )
        assert (error.status, error.error_type, error.provider) == (400, "invalid_grant", "gemini-cli")
        for text in (str(error), repr(error), caplog.text, repr(provider)):
            assert old["refresh_token"] not in text and old["access_token"] not in text
    assert paths(server) == ["/token"]
    assert json.loads(creds.read_text(encoding="utf-8")) == old  # untouched


async def test_token_endpoint_outage_keeps_its_class(creds: Path, clock: WallClock) -> None:
    with CodeAssistMockServer(clock=clock) as server, OpenAIMockServer() as broken:
        broken.set_default_fault(faults.ServerFault(status=503))
        write(creds, server.issue_credentials(expired=True))
        provider = GeminiCLIProvider(
            oauth_path=creds, base_url=server.url, token_url=f"{broken.url}/token", clock=clock, timeouts=TIMEOUTS
        )
        async with provider:
            with anyio.fail_after(10), pytest.raises(ServerError) as info:
                await provider.chat(req())
        assert info.value.status == 503
        assert info.value.message.startswith("gemini-cli: refreshing the Gemini CLI token failed: ")
        unreachable = GeminiCLIProvider(
            oauth_path=creds, base_url=server.url, token_url="http://127.0.0.1:9/token", clock=clock, timeouts=TIMEOUTS
        )
        async with unreachable:
            with anyio.fail_after(10), pytest.raises(APIConnectionError, match="could not reach the token endpoint"):
                await unreachable.chat(req())


async def test_a_401_refreshes_once_and_retries(
    provider: GeminiCLIProvider, server: CodeAssistMockServer, creds: Path
) -> None:
    server.oauth.revoke_access_tokens()  # the token was revoked server-side before its expiry
    answer = await provider.chat(req(content="again"))
    assert answer.text == "You said: again"
    assert paths(server) == ["/v1internal:generateContent", "/token", "/v1internal:generateContent"]
    server.oauth.revoke_access_tokens()
    tokens = await collect(provider, req(content="streamed"))
    assert summary(tokens)["text"] == "You said: streamed"
    assert paths(server)[3:] == ["/v1internal:streamGenerateContent", "/token", "/v1internal:streamGenerateContent"]
    assert json.loads(creds.read_text(encoding="utf-8"))["access_token"] == server.oauth.issued[-1].token


async def test_a_static_token_is_not_retried(server: CodeAssistMockServer) -> None:
    async with GeminiCLIProvider(
        api_key="ya29.not-issued", project_id="proj-42", base_url=server.url, timeouts=TIMEOUTS
    ) as provider:
        with anyio.fail_after(10), pytest.raises(AuthenticationError) as info:
            await provider.chat(req())
    assert info.value.status == 401 and info.value.error_type == "UNAUTHENTICATED"
    assert "Request had invalid authentication credentials." in info.value.message
    assert paths(server) == ["/v1internal:generateContent"]


async def test_token_refreshed_by_the_cli_is_picked_up(
    provider: GeminiCLIProvider, server: CodeAssistMockServer, creds: Path, clock: WallClock
) -> None:
    await provider.chat(req())
    clock.advance(3500)  # our cached token is now due for a refresh…
    write(creds, server.issue_credentials())  # …but the CLI already refreshed the file
    await provider.chat(req())
    assert "/token" not in paths(server)
    assert server.requests[-1].header("authorization") == f"Bearer {server.oauth.issued[-1].token}"


async def test_concurrent_requests_share_one_refresh(
    server: CodeAssistMockServer, creds: Path, clock: WallClock
) -> None:
    write(creds, server.issue_credentials(expired=True))
    async with make(server, creds, clock) as provider:

        async def one(index: int) -> None:
            assert (await provider.chat(req(content=f"n{index}"))).text == f"You said: n{index}"

        with anyio.fail_after(20):
            async with anyio.create_task_group() as group:
                for index in range(6):
                    group.start_soon(one, index)
    assert paths(server).count("/token") == 1
    assert paths(server).count("/v1internal:loadCodeAssist") == 1


async def test_missing_credentials_file(server: CodeAssistMockServer, tmp_path: Path, clock: WallClock) -> None:
    provider = make(server, tmp_path / "absent.json", clock)
    with pytest.raises(ConfigurationError) as info:
        await provider.chat(req())
    assert 'run `gemini` and choose "Login with Google"' in str(info.value)
    with pytest.raises(ConfigurationError):
        async with provider.chat_stream(req()):
            pass
    health = await provider.health_check()
    assert not health.healthy and "Login with Google" in (health.error or "")
    assert server.requests == []
    await provider.aclose()


async def test_path_from_the_environment(
    server: CodeAssistMockServer, creds: Path, clock: WallClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(creds, server.issue_credentials())
    monkeypatch.setenv("GEMINI_CLI_OAUTH_PATH", str(creds))
    async with GeminiCLIProvider(base_url=server.url, token_url=server.token_url, clock=clock) as provider:
        assert (await provider.chat(req())).text == "You said: hello there"


# -- streams ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("drip", [1, 7, 509])
async def test_synthesized_answer_dripped(provider: GeminiCLIProvider, server: CodeAssistMockServer, drip: int) -> None:
    answer = Answer("Grüße — a longer answer, " * 4, reasoning="hmm… ok")
    server.scripts.push(answer)
    server.faults.push(faults.Drip(bytes_per_write=drip))
    got = summary(await collect(provider, req()))
    assert (got["text"], got["reasoning"]) == (answer.text, answer.reasoning)


async def test_recorded_streams_decode_exactly(provider: GeminiCLIProvider, server: CodeAssistMockServer) -> None:
    recordings = gemini_cases.recorded_streams()
    assert recordings
    for path in recordings:
        server.scripts.push(Recording.from_file(path))
        got = summary(await collect(provider, req()))
        assert got == gemini_cases.expected_from_payloads(gemini_cases.payload_lines(path)), path.name
        small = path.stat().st_size <= 7000
        server.scripts.push(Recording.from_file(path))
        server.faults.push(faults.Drip(bytes_per_write=1 if small else 61))
        assert summary(await collect(provider, req())) == got, path.name


async def test_disconnect_mid_event_delivers_tokens_then_raises(
    provider: GeminiCLIProvider, server: CodeAssistMockServer
) -> None:
    text = "alpha beta gamma delta epsilon"
    payloads = synth_gemini.chunks(Answer(text), model="gemini-2.5-flash")
    events = synth_gemini.frame([{"response": p, "traceId": "x" * 16} for p in payloads])
    server.scripts.push(Answer(text))
    server.faults.push(faults.Disconnect(after_bytes=sum(len(e) for e in events[:3]) + len(events[3]) // 2))
    tokens: list[StreamToken] = []
    with anyio.fail_after(10), pytest.raises(APIConnectionError) as info:
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                tokens.append(token)
    assert not isinstance(info.value, APITimeoutError)
    assert summary(tokens)["text"] == "alpha beta gamma"


async def test_error_event_mid_stream(provider: GeminiCLIProvider, server: CodeAssistMockServer) -> None:
    server.scripts.push(Answer("one two three"))
    server.faults.push(faults.ErrorEvent(after_events=2, error_type="RESOURCE_EXHAUSTED", message="slow down"))
    tokens: list[StreamToken] = []
    with anyio.fail_after(10), pytest.raises(RateLimitError) as info:
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                tokens.append(token)
    assert summary(tokens)["text"] == "one two"
    assert (info.value.message, info.value.provider, info.value.model) == (
        "slow down",
        "gemini-cli",
        "gemini-2.5-flash",
    )


async def test_http_errors(provider: GeminiCLIProvider, server: CodeAssistMockServer) -> None:
    server.faults.push(faults.RateLimit(retry_after=2.0))
    with anyio.fail_after(10), pytest.raises(RateLimitError) as limited:
        await provider.chat(req())
    assert (limited.value.status, limited.value.retry_after) == (429, 2.0)
    server.faults.push(faults.ServerFault(status=500))
    with anyio.fail_after(10), pytest.raises(ServerError):
        async with provider.chat_stream(req()) as stream:
            [t async for t in stream]


async def test_safety_block(provider: GeminiCLIProvider, server: CodeAssistMockServer) -> None:
    server.scripts.push(Answer("Here is how to", finish_reason="SAFETY", usage=(12, 4)))
    with anyio.fail_after(10), pytest.raises(SafetyBlockedError) as info:
        await collect(provider, req())
    assert (info.value.reason, info.value.usage) == ("SAFETY", Usage(12, 4))
    server.scripts.push(Answer("Here is how to", finish_reason="SAFETY", usage=(12, 4)))
    tokens = await collect(provider, req(options={"raise_on_block": False}))
    assert summary(tokens)["finish"] == "SAFETY"


async def test_stopping_early_releases_the_connection(
    provider: GeminiCLIProvider, server: CodeAssistMockServer
) -> None:
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


# -- the rest of the interface -----------------------------------------------------------------------------


async def test_chat_complete_and_complete_stream(provider: GeminiCLIProvider, server: CodeAssistMockServer) -> None:
    server.scripts.push(Answer("Fine.", reasoning="thought", usage=(7, 2)))
    answer = await provider.chat(req())
    assert (answer.text, answer.reasoning, answer.usage, answer.finish_reason) == (
        "Fine.",
        "thought",
        Usage(7, 2),
        "STOP",
    )
    assert answer.request_id is not None and len(answer.request_id) == 16  # the traceId
    completion = await provider.complete(CompletionRequest(model="gemini-2.5-pro", prompt="Say hi"))
    assert completion.text == "You said: Say hi"
    assert server.requests[-1].json()["request"] == {
        "contents": [{"role": "user", "parts": [{"text": "Say hi"}]}],
        "generationConfig": {"temperature": 0.7},
    }
    async with provider.complete_stream(CompletionRequest(model="gemini-2.5-pro", prompt="Stream")) as stream:
        tokens = [t async for t in stream]
    assert summary(tokens)["text"] == "You said: Stream"
    assert server.requests[-1].path == "/v1internal:streamGenerateContent"


async def test_models_tokens_and_health(server: CodeAssistMockServer, creds: Path, clock: WallClock) -> None:
    write(creds, server.issue_credentials())
    async with make(server, creds, clock) as provider:
        models = await provider.list_models()
        assert [m.id for m in models][-2:] == ["gemini-2.5-flash", "gemini-2.5-pro"]
        pro = models[-1]
        assert (pro.context_window, pro.max_output_tokens, pro.supports_reasoning, pro.input_price) == (
            1_048_576,
            64_000,
            True,
            0.0,
        )
        assert await provider.count_tokens(req("a few words")) > 0
        assert server.requests == []  # neither needs the network
        health = await provider.health_check()
        assert health.healthy, health.error
        assert paths(server) == ["/v1internal:loadCodeAssist"]


async def test_secrets_never_leak(
    server: CodeAssistMockServer, creds: Path, clock: WallClock, caplog: pytest.LogCaptureFixture
) -> None:
    document = server.issue_credentials(expired=True)
    write(creds, document)
    async with make(server, creds, clock) as provider:
        with caplog.at_level(logging.DEBUG):
            await provider.chat(req())
            server.oauth.revoke()
            server.faults.push(faults.ServerFault(status=500))
            with pytest.raises(ServerError) as info:
                await provider.chat(req())
        fresh = server.oauth.issued  # revoked, but we know what was issued before
        shown = [repr(provider), str(info.value), repr(info.value), caplog.text]
        secrets = [document["access_token"], document["refresh_token"], *(t.token for t in fresh)]
        for text in shown:
            for secret in secrets:
                assert secret not in text
