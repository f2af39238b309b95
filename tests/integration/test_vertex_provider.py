"""VertexProvider end to end over real sockets against the loopback Vertex AI server.

The mock's token endpoint verifies every JWT assertion's RS256 signature with the public
key of a service account generated at test time (never stored), so these tests prove
the whole credential path: signing, the JWT-bearer grant, caching, refresh before
expiry (on an injected clock shared with the server — no sleeping), and a single refresh
under concurrency. Then: exact headers and bodies for Gemini and Claude on Vertex,
streaming parity (synthesized and recorded streams, dripped), errors in Vertex's and
Anthropic's shapes, token counting, and that no token or key leaks.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Optional

import anyio
import pytest
from tests.conftest import require_recorded
from tests.integration import test_anthropic_provider as anthropic_cases
from tests.integration import test_gemini_provider as gemini_cases

from tokenwire._http import Timeouts
from tokenwire.errors import (
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
from tokenwire.google import CLOUD_PLATFORM_SCOPE, JWT_BEARER_GRANT
from tokenwire.providers.gemini import SafetyBlockedError
from tokenwire.providers.vertex import VertexProvider
from tokenwire.testing import Answer, Recording, VertexMockServer, faults, make_service_account
from tokenwire.types import (
    ChatRequest,
    CompletionRequest,
    ImagePart,
    Message,
    StreamToken,
    TextPart,
    Tool,
    ToolCall,
    Usage,
    coerce_messages,
)

pytest.importorskip("google.auth", reason="the tokenwire[vertex] extra (google-auth) is not installed")
from tests.integration._streams import WallClock, error_texts

pytestmark = pytest.mark.anyio

PROJECT = "tokenwire-proj"
REGION = "us-east5"
TIMEOUTS = Timeouts(connect=2.0, read=5.0, write=5.0, pool=5.0, idle=5.0, total=15.0)
HTTPX_HEADERS = {"host", "accept", "accept-encoding", "connection", "user-agent", "content-length"}
EPH = {"type": "ephemeral"}
ENV = (
    "GOOGLE_CLOUD_PROJECT",
    "ANTHROPIC_VERTEX_PROJECT_ID",
    "GOOGLE_CLOUD_LOCATION",
    "CLOUD_ML_REGION",
    "GOOGLE_VERTEX_BASE_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_ACCESS_TOKEN",
    "GOOGLE_OAUTH_ACCESS_TOKEN",
)
summary = gemini_cases.summary


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    # No real gcloud ADC file may leak into these tests.
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))


@pytest.fixture
def clock() -> WallClock:
    return WallClock(float(int(time.time())))


@pytest.fixture
def server(clock: WallClock) -> Iterator[VertexMockServer]:
    with VertexMockServer(project=PROJECT, clock=clock) as mock:
        yield mock


@pytest.fixture(scope="module")
def _key() -> dict[str, Any]:
    # RSA key generation is the slow part: one key for the module, re-pointed at each server.
    return make_service_account("http://unused.invalid/token", project_id=PROJECT)


@pytest.fixture
def account(server: VertexMockServer, _key: dict[str, Any]) -> dict[str, Any]:
    info = {**_key, "token_uri": server.token_url}
    server.trust(info)
    return info


def make_provider(server: VertexMockServer, credentials: Any = None, **options: Any) -> VertexProvider:
    options.setdefault("region", REGION)
    options.setdefault("timeouts", TIMEOUTS)
    return VertexProvider(credentials=credentials, base_url=server.base_url, **options)


@pytest.fixture
async def provider(
    server: VertexMockServer, account: dict[str, Any], clock: WallClock
) -> AsyncIterator[VertexProvider]:
    async with make_provider(server, account, clock=clock) as p:
        yield p


def req(model: str = "gemini-2.5-flash", content: str = "hello there", **fields: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=coerce_messages([{"role": "user", "content": content}]), **fields)


async def collect(provider: VertexProvider, request: ChatRequest) -> list[StreamToken]:
    with anyio.fail_after(20):
        async with provider.chat_stream(request) as stream:
            return [token async for token in stream]


def _segment(text: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _gemini_path(model: str, method: str, region: str = REGION) -> str:
    return f"/v1/projects/{PROJECT}/locations/{region}/publishers/google/models/{model}:{method}"


def _claude_path(model: str, method: str) -> str:
    return f"/v1/projects/{PROJECT}/locations/{REGION}/publishers/anthropic/models/{model}:{method}"


# -- the credential path ------------------------------------------------------------------------


async def test_service_account_grant_then_bearer_on_gemini(
    provider: VertexProvider, server: VertexMockServer, account: dict[str, Any], clock: WallClock
) -> None:
    server.scripts.push(Answer("Hi!", usage=(3, 2)))
    tokens = await collect(provider, req(system="Be brief."))
    assert summary(tokens)["text"] == "Hi!"
    # One token request: a form with the JWT-bearer grant and an RS256 assertion.
    (token_request,) = server.token_requests
    assert token_request.header("content-type") == "application/x-www-form-urlencoded"
    form = dict(pair.split("=", 1) for pair in token_request.body.decode().split("&"))
    assert set(form) == {"grant_type", "assertion"}
    assert form["grant_type"] == JWT_BEARER_GRANT.replace(":", "%3A")
    header, claims, _ = form["assertion"].split(".")
    assert _segment(header) == {"alg": "RS256", "typ": "JWT", "kid": account["private_key_id"]}
    assert _segment(claims) == {
        "iss": account["client_email"],
        "scope": CLOUD_PLATFORM_SCOPE,
        "aud": server.token_url,
        "iat": int(clock.now),
        "exp": int(clock.now) + 3600,
    }
    # The prediction request carries the issued token and nothing Google-foreign.
    (issued,) = server.issued_tokens
    received = server.last_request
    assert (received.method, received.path) == ("POST", _gemini_path("gemini-2.5-flash", "streamGenerateContent"))
    assert received.query_items == (("alt", "sse"),)
    assert {name.lower() for name in received.headers.names()} == HTTPX_HEADERS | {"authorization", "content-type"}
    assert received.header("authorization") == f"Bearer {issued.token}"
    assert received.json() == {
        "contents": [{"role": "user", "parts": [{"text": "hello there"}]}],
        "systemInstruction": {"role": "user", "parts": [{"text": "Be brief."}]},
        "generationConfig": {"temperature": 0.0, "maxOutputTokens": 64000},
    }


@pytest.mark.parametrize("form", ["path", "json-text", "env-path"])
async def test_credentials_as_file_json_text_or_env(
    server: VertexMockServer,
    account: dict[str, Any],
    clock: WallClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    form: str,
) -> None:
    key_file = tmp_path / "sa.json"
    key_file.write_text(json.dumps(account))
    credentials: Optional[str] = None
    if form == "path":
        credentials = str(key_file)
    elif form == "json-text":
        credentials = json.dumps(account)
    else:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    # No project given: the service account's project_id is used.
    async with VertexProvider(
        credentials=credentials, region=REGION, base_url=server.base_url, clock=clock, timeouts=TIMEOUTS
    ) as p:
        assert p.project == PROJECT
        with anyio.fail_after(5):
            answer = await p.chat(req())
    assert answer.text == "You said: hello there"
    assert server.last_request.path == _gemini_path("gemini-2.5-flash", "generateContent")
    assert len(server.token_requests) == 1


async def test_token_is_cached_and_refreshed_before_expiry(
    provider: VertexProvider, server: VertexMockServer, clock: WallClock
) -> None:
    with anyio.fail_after(10):
        for _ in range(3):
            await provider.chat(req())
        assert len(server.token_requests) == 1
        first = server.issued_tokens[0]
        # 5 minutes and 1 second before expiry the cached token is still used…
        clock.advance(first.expires_at - clock.now - 301)
        await provider.chat(req())
        assert len(server.token_requests) == 1
        # …at 5 minutes before expiry it is replaced, before the server would refuse it.
        clock.advance(2)
        await provider.chat(req())
        assert len(server.token_requests) == 2
        second = server.issued_tokens[1]
        assert second.token != first.token
        assert server.last_request.header("authorization") == f"Bearer {second.token}"
        # The new assertion was signed at the new time.
        assertion = dict(p.split("=", 1) for p in server.token_requests[1].body.decode().split("&"))["assertion"]
        assert _segment(assertion.split(".")[1])["iat"] == int(clock.now)
        # Past the first token's expiry everything keeps working on the second.
        clock.advance(600)
        await provider.chat(req())
        assert len(server.token_requests) == 2
    assert provider.token_cache.refreshes == 2


async def test_concurrent_requests_share_one_token_refresh(provider: VertexProvider, server: VertexMockServer) -> None:
    results: list[str] = []

    async def one(i: int) -> None:
        results.append((await provider.chat(req(content=f"n{i}"))).text)

    with anyio.fail_after(10):
        async with anyio.create_task_group() as group:
            for i in range(8):
                group.start_soon(one, i)
    assert sorted(results) == sorted(f"You said: n{i}" for i in range(8))
    assert len(server.token_requests) == 1
    assert len({r.header("authorization") for r in server.prediction_requests}) == 1


async def test_revoked_token_is_refused_then_replaced(provider: VertexProvider, server: VertexMockServer) -> None:
    with anyio.fail_after(10):
        await provider.chat(req())
        server.revoke_tokens()
        with pytest.raises(AuthenticationError) as info:
            await provider.chat(req())
        # The 401 dropped the cached token: the next call fetches a new one.
        assert (await provider.chat(req())).text == "You said: hello there"
    error = info.value
    assert (error.status, error.error_type, error.provider) == (401, "UNAUTHENTICATED", "vertex")
    assert error.message.startswith("Request had invalid authentication credentials.")
    assert error.body["error"]["details"][0]["reason"] == "ACCESS_TOKEN_TYPE_UNSUPPORTED"
    assert len(server.token_requests) == 2


async def test_signature_is_verified_by_the_token_endpoint(
    server: VertexMockServer, account: dict[str, Any], clock: WallClock
) -> None:
    # Same account name, another private key: the server's public key must reject it.
    forged = make_service_account(server.token_url, project_id=PROJECT, client_email=account["client_email"])
    for info in (forged, {k: v for k, v in forged.items() if k != "private_key_id"}):
        async with make_provider(server, info, clock=clock) as p:
            with anyio.fail_after(5), pytest.raises(AuthenticationError) as error:
                await p.chat(req())
        assert (error.value.status, error.value.error_type) == (400, "invalid_grant")
        assert error.value.message == "token endpoint: Invalid JWT Signature."
        assert forged["private_key"] not in repr(error.value.body)
    assert server.issued_tokens == []
    assert server.prediction_requests == []


async def test_unknown_account_and_bad_clock_are_refused(server: VertexMockServer, clock: WallClock) -> None:
    stranger = make_service_account(server.token_url, project_id=PROJECT, client_email="x@y.iam.gserviceaccount.com")
    async with make_provider(server, stranger, clock=clock) as p:
        with anyio.fail_after(5), pytest.raises(AuthenticationError, match="account not found"):
            await p.chat(req())
    skewed = WallClock(float(int(time.time())))
    skewed.advance(2 * 3600)
    info = server.service_account(project_id=PROJECT)
    async with make_provider(server, info, clock=skewed) as p:
        with anyio.fail_after(5), pytest.raises(AuthenticationError, match="short-lived token") as error:
            await p.chat(req())
    assert error.value.error_type == "invalid_grant"


async def test_access_token_modes(server: VertexMockServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.accept_token("ya29.static-token-for-tests-0123456789")
    async with make_provider(server, access_token="ya29.static-token-for-tests-0123456789", project=PROJECT) as p:
        assert (await p.chat(req())).text == "You said: hello there"
    monkeypatch.setenv("GOOGLE_CLOUD_ACCESS_TOKEN", "ya29.static-token-for-tests-0123456789")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", PROJECT)
    async with make_provider(server) as p:
        assert "access-token (env)" in repr(p)
        assert (await p.chat(req())).text == "You said: hello there"
    assert server.token_requests == []
    assert server.last_request.header("authorization") == "Bearer ya29.static-token-for-tests-0123456789"
    async with make_provider(server, access_token="ya29.unknown-token-000000000", project=PROJECT) as p:
        with anyio.fail_after(5), pytest.raises(AuthenticationError) as info:
            await collect(p, req())
    assert info.value.status == 401
    assert "ya29.unknown-token-000000000" not in str(info.value) + repr(info.value)


async def test_missing_project_is_a_configuration_error(server: VertexMockServer) -> None:
    async with make_provider(server, access_token="ya29.x-0000000000") as p:
        with pytest.raises(ConfigurationError, match="GOOGLE_CLOUD_PROJECT / ANTHROPIC_VERTEX_PROJECT_ID"):
            await p.chat(req())


# -- Claude on Vertex ----------------------------------------------------------------------------


async def test_claude_headers_and_body(provider: VertexProvider, server: VertexMockServer) -> None:
    messages = (
        Message("user", "first question"),
        Message("assistant", "", tool_calls=(ToolCall("toolu_1", "weather", '{"city": "Rome"}'),)),
        Message("tool", "21C", tool_call_id="toolu_1"),
        Message("assistant", "It is 21C."),
        Message("user", (TextPart("and this?"), ImagePart(data="aGk=", media_type="image/png"))),
    )
    request = ChatRequest(
        model="claude-sonnet-4-5@20250929",
        system="You are terse.",
        messages=messages,
        tools=(Tool("weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}),),
        tool_choice="auto",
    )
    server.scripts.push(Answer("Sunny.", usage=(10, 2, 4, 6)))
    got = summary(await collect(provider, request))
    assert (got["text"], got["usage"], got["finish"]) == ("Sunny.", Usage(10, 2, 4, 6), "end_turn")
    received = server.last_request
    assert received.path == _claude_path("claude-sonnet-4-5@20250929", "streamRawPredict")
    assert received.query_items == ()
    assert {name.lower() for name in received.headers.names()} == HTTPX_HEADERS | {"authorization", "content-type"}
    assert "anthropic-version" not in received.headers
    assert received.json() == {
        "anthropic_version": "vertex-2023-10-16",
        "max_tokens": 8192,
        "temperature": 0.0,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": EPH}],
        "messages": [
            {"role": "user", "content": "first question"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Rome"}}],
            },
            # Second-to-last user message: only a tool result, no text block — left alone (Roo's rule).
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "21C"}]},
            {"role": "assistant", "content": "It is 21C."},
            # Last user message: the last *text* block is marked, not the image after it.
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "and this?", "cache_control": EPH},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "aGk="}},
                ],
            },
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


async def test_claude_thinking_variant(provider: VertexProvider, server: VertexMockServer) -> None:
    server.scripts.push(Answer("Answer.", reasoning="Because.", usage=(10, 5)))
    got = summary(await collect(provider, req("claude-3-7-sonnet@20250219:thinking")))
    assert (got["reasoning"], got["text"]) == ("Because.", "\nAnswer.")
    received = server.last_request
    assert received.path == _claude_path("claude-3-7-sonnet@20250219", "streamRawPredict")
    body = received.json()
    assert (body["max_tokens"], body["temperature"], body["thinking"]) == (
        16384,
        1.0,
        {"type": "enabled", "budget_tokens": 8192},
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hello there", "cache_control": EPH}]}
    ]


async def test_claude_non_streaming_and_complete(provider: VertexProvider, server: VertexMockServer) -> None:
    server.scripts.push(Answer("Sure.", tool_calls=[("lookup", '{"q": "x"}')], usage=(9, 4, 2, 1)))
    with anyio.fail_after(10):
        answer = await provider.chat(req("claude-3-opus@20240229", top_p=0.5))
        assert server.last_request.path == _claude_path("claude-3-opus@20240229", "rawPredict")
        assert server.last_request.json() == {
            "anthropic_version": "vertex-2023-10-16",
            "max_tokens": 4096,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there", "cache_control": EPH}]}],
            "top_p": 0.5,
        }
        done = await provider.complete(CompletionRequest(model="claude-3-haiku@20240307", prompt="ping"))
    assert (answer.text, answer.provider, answer.finish_reason) == ("Sure.", "vertex", "tool_use")
    assert [(c.name, c.parsed_arguments()) for c in answer.tool_calls] == [("lookup", {"q": "x"})]
    assert answer.usage == Usage(9, 4, cache_read_tokens=2, cache_write_tokens=1)
    assert done.text == "You said: ping"


@pytest.mark.parametrize("drip", [None, 1, 13])
async def test_recorded_anthropic_streams_through_vertex(
    provider: VertexProvider, server: VertexMockServer, drip: Optional[int]
) -> None:
    folder = require_recorded() / "vercel-ai" / "anthropic"
    paths = sorted(folder.glob("*.chunks.txt"))
    # Every split point for the small recordings; strided ones (13-byte writes) up to 15 KB.
    budget = {None: None, 1: 4096, 13: 15_000}[drip]
    paths = [p for p in paths if budget is None or p.stat().st_size <= budget]
    assert paths
    for path in paths:
        server.scripts.push(Recording.from_file(path))
        if drip is not None:
            server.faults.push(faults.Drip(bytes_per_write=drip))
        tokens = await collect(provider, req("claude-sonnet-4@20250514"))
        want = anthropic_cases.expected_from_payloads(anthropic_cases.payload_lines(path))
        assert anthropic_cases.summary(tokens) == want, (path.name, drip)


@pytest.mark.parametrize("drip", [None, 2, 29])
async def test_recorded_gemini_streams_through_vertex(
    provider: VertexProvider, server: VertexMockServer, drip: Optional[int]
) -> None:
    paths = gemini_cases.recorded_streams()
    if drip == 2:
        paths = [p for p in paths if p.stat().st_size <= 4096]
    for path in paths:
        server.scripts.push(Recording.from_file(path))
        if drip is not None:
            server.faults.push(faults.Drip(bytes_per_write=drip))
        got = summary(await collect(provider, req()))
        assert got == gemini_cases.expected_from_payloads(gemini_cases.payload_lines(path)), (path.name, drip)


async def test_synthesized_gemini_answer_through_vertex(provider: VertexProvider, server: VertexMockServer) -> None:
    server.scripts.push(gemini_cases.ANSWER)
    server.faults.push(faults.Drip(bytes_per_write=5))
    assert summary(await collect(provider, req())) == gemini_cases.ANSWER_EXPECTED


async def test_global_region_and_gemini_thinking_table(
    server: VertexMockServer, account: dict[str, Any], clock: WallClock
) -> None:
    async with make_provider(server, account, clock=clock, region="global") as p:
        with anyio.fail_after(5):
            await p.chat(req("gemini-2.0-flash-thinking-exp-01-21", thinking_budget=4000))
    received = server.last_request
    assert received.path == _gemini_path("gemini-2.0-flash-thinking-exp-01-21", "generateContent", region="global")
    # Roo's Vertex table: 8192 max output over a 32768 context → capped at 20% = 6554; no budget support.
    assert received.json()["generationConfig"] == {"temperature": 0.0, "maxOutputTokens": 6554}


# -- errors --------------------------------------------------------------------------------------


async def _error(
    provider: VertexProvider, request: ChatRequest, *, stream: bool = True
) -> tuple[list[StreamToken], ProviderError]:
    tokens: list[StreamToken] = []
    with anyio.fail_after(10), pytest.raises(ProviderError) as info:
        if stream:
            async with provider.chat_stream(request) as s:
                async for token in s:
                    tokens.append(token)
        else:
            await provider.chat(request)
    return tokens, info.value


async def test_403_other_project(server: VertexMockServer, account: dict[str, Any], clock: WallClock) -> None:
    async with make_provider(server, account, clock=clock, project="someone-else") as p:
        _, error = await _error(p, req())
    assert type(error) is PermissionDeniedError
    assert (error.status, error.error_type) == (403, "PERMISSION_DENIED")
    assert error.message == (
        "Permission 'aiplatform.endpoints.predict' denied on resource "
        "'//aiplatform.googleapis.com/projects/someone-else/locations/us-east5/publishers/google/models/"
        "gemini-2.5-flash' (or it may not exist)."
    )


async def test_404_unknown_publisher_model(clock: WallClock) -> None:
    with VertexMockServer(project=PROJECT, clock=clock, models=["gemini-2.5-pro"]) as strict:
        info = strict.service_account(project_id=PROJECT)
        async with make_provider(strict, info, clock=clock) as p:
            _, error = await _error(p, req("claude-opus-4-1@20250805"))
    assert type(error) is NotFoundError
    assert error.message.startswith(
        f"Publisher Model `projects/{PROJECT}/locations/{REGION}/publishers/anthropic/models/claude-opus-4-1@20250805` "
        "was not found or your project does not have access to it."
    )


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "claude-sonnet-4@20250514"])
async def test_429_resource_exhausted(provider: VertexProvider, server: VertexMockServer, model: str) -> None:
    server.faults.push(faults.RateLimit(retry_after=12))
    _, error = await _error(provider, req(model))
    assert type(error) is RateLimitError
    assert (error.status, error.error_type, error.retry_after) == (429, "RESOURCE_EXHAUSTED", 12.0)
    assert error.message.startswith("Resource exhausted. Please try again later.")
    assert len(server.token_requests) == 1  # the token request never takes the queued fault


@pytest.mark.parametrize(
    ("model", "fault", "cls", "status", "error_type", "message"),
    [
        (
            "gemini-2.5-flash",
            faults.ServerFault(500, "Internal error encountered."),
            ServerError,
            500,
            "INTERNAL",
            "Internal error encountered.",
        ),
        (
            "gemini-2.5-flash",
            faults.Overloaded(),
            OverloadedError,
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        ),
        ("claude-sonnet-4@20250514", faults.Overloaded(), OverloadedError, 529, "overloaded_error", "Overloaded"),
        (
            "claude-sonnet-4@20250514",
            faults.ServerFault(503),
            OverloadedError,
            503,
            "UNAVAILABLE",
            "The model is overloaded. Please try again later.",
        ),
    ],
)
async def test_server_errors(
    provider: VertexProvider,
    server: VertexMockServer,
    model: str,
    fault: faults.Fault,
    cls: type[ProviderError],
    status: int,
    error_type: str,
    message: str,
) -> None:
    server.faults.push(fault)
    _, error = await _error(provider, req(model), stream=False)
    assert type(error) is cls
    assert (error.status, error.error_type, error.message, error.provider) == (status, error_type, message, "vertex")


async def test_claude_body_validation(provider: VertexProvider) -> None:
    _, error = await _error(provider, req("claude-sonnet-4@20250514", extra_body={"model": "claude-sonnet-4"}))
    assert type(error) is BadRequestError
    assert (error.status, error.error_type, error.message) == (
        400,
        "invalid_request_error",
        "model: Extra inputs are not permitted",
    )


@pytest.mark.parametrize("model", ["gemini-2.5-flash", "claude-sonnet-4@20250514"])
async def test_error_mid_stream(provider: VertexProvider, server: VertexMockServer, model: str) -> None:
    server.scripts.push(Answer("alpha beta gamma delta"))
    # Gemini: two chunks; Claude: message_start, block start, ping, two deltas.
    after = 2 if model.startswith("gemini") else 5
    server.faults.push(faults.ErrorEvent(after_events=after))
    tokens, error = await _error(provider, req(model))
    assert summary(tokens)["text"] == "alpha beta"
    assert type(error) is OverloadedError
    assert (error.provider, error.model) == ("vertex", model)


async def test_safety_block_on_vertex(provider: VertexProvider, server: VertexMockServer) -> None:
    server.scripts.push(Answer("No.", finish_reason="SAFETY", usage=(4, 1)))
    tokens: list[StreamToken] = []
    with anyio.fail_after(5), pytest.raises(SafetyBlockedError) as info:
        async with provider.chat_stream(req()) as stream:
            async for token in stream:
                tokens.append(token)
    assert summary(tokens)["text"] == "No."
    assert (info.value.provider, info.value.reason, info.value.usage) == ("vertex", "SAFETY", Usage(4, 1))


# -- counting, models, health --------------------------------------------------------------------


async def test_count_tokens(provider: VertexProvider, server: VertexMockServer) -> None:
    with anyio.fail_after(5):
        gemini = await provider.count_tokens(req(system="S"))
        gemini_request = server.last_request
        claude = await provider.count_tokens(req("claude-sonnet-4-5@20250929", max_tokens=10, stop=("x",)))
        claude_request = server.last_request
    assert gemini_request.path == _gemini_path("gemini-2.5-flash", "countTokens")
    assert gemini_request.json() == {
        "contents": [{"role": "user", "parts": [{"text": "hello there"}]}],
        "systemInstruction": {"role": "user", "parts": [{"text": "S"}]},
    }
    assert gemini == 6
    assert claude_request.path == _claude_path("count-tokens", "rawPredict")
    assert claude_request.json() == {
        "anthropic_version": "vertex-2023-10-16",
        "model": "claude-sonnet-4-5@20250929",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello there", "cache_control": EPH}]}],
    }
    assert claude == 6


async def test_count_tokens_fallback(provider: VertexProvider, server: VertexMockServer) -> None:
    from tokenwire.tokens import estimate_input_tokens

    for model in ("gemini-2.5-flash", "claude-sonnet-4@20250514"):
        server.faults.push(faults.ServerFault(500))
        with anyio.fail_after(5):
            assert await provider.count_tokens(req(model)) == estimate_input_tokens(req(model))
        server.faults.push(faults.ServerFault(500))
        with anyio.fail_after(5), pytest.raises(ServerError):
            await provider.count_tokens(req(model), local_fallback=False)


async def test_list_models_without_network(provider: VertexProvider, server: VertexMockServer) -> None:
    models = await provider.list_models()
    ids = [m.id for m in models]
    assert "gemini-2.5-pro" in ids and "claude-sonnet-4-5@20250929" in ids
    assert all(m.provider == "vertex" for m in models)
    assert server.requests == []


async def test_health_check(provider: VertexProvider, server: VertexMockServer, clock: WallClock) -> None:
    with anyio.fail_after(5):
        assert (await provider.health_check()).healthy
    stranger = make_service_account(server.token_url, client_email="nobody@p.iam.gserviceaccount.com")
    async with make_provider(server, stranger, clock=clock) as bad:
        with anyio.fail_after(5):
            sick = await bad.health_check()
    assert not sick.healthy
    assert sick.error is not None and "account not found" in sick.error


async def test_secrets_never_in_repr_errors_or_logs(
    server: VertexMockServer, account: dict[str, Any], clock: WallClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with make_provider(server, account, clock=clock) as p:
        texts.append(repr(p))
        await collect(p, req())
        await p.chat(req("claude-sonnet-4@20250514"))
        await p.count_tokens(req())
        texts.append(repr(p.token_cache))
        texts += await error_texts(p, server, req(), cut_after=50)
        secrets = [t.token for t in server.issued_tokens]
        server.revoke_tokens()
        with pytest.raises(AuthenticationError) as auth:
            await p.chat(req())
        texts += [str(auth.value), repr(auth.value), repr(auth.value.body)]
    assert len(secrets) == 1
    assert caplog.records
    key_body = account["private_key"].splitlines()[1]
    for text in [*texts, caplog.text]:
        for secret in [*secrets, key_body]:
            assert secret not in text
