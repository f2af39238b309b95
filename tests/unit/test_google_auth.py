"""tokenwire.google without a server: credential resolution, the token cache on an
injected clock (no sleeping), one refresh under concurrency, the service-account JWT
checked with an independent RS256 verifier, error mapping and secret hygiene.

The token exchange over a real socket (a mock token endpoint that verifies the
signature) is in tests/integration/test_vertex_provider.py.
"""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path
from typing import Any, Optional

import anyio
import httpx
import pytest

from tokenwire.errors import AuthenticationError, ConfigurationError, ServerError
from tokenwire.google import (
    CLOUD_PLATFORM_SCOPE,
    DEFAULT_TOKEN_URI,
    AccessToken,
    ApplicationDefaultTokenSource,
    GoogleAuthTokenSource,
    ServiceAccountTokenSource,
    StaticTokenSource,
    TokenCache,
    TokenSource,
    load_credentials_info,
    resolve_token_source,
    token_endpoint_error,
)

pytestmark = pytest.mark.anyio
google_auth = pytest.importorskip("google.auth", reason="the tokenwire[vertex] extra (google-auth) is not installed")

ENV = ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_ACCESS_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))


@pytest.fixture(scope="module")
def account() -> dict[str, Any]:
    from tokenwire.testing import make_service_account

    return make_service_account("https://oauth2.example.test/token", project_id="unit-proj")


class FakeClock:
    def __init__(self, now: float = 1_750_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class CountingSource(TokenSource):
    """Hands out token-1, token-2, … each valid for ``lifetime`` seconds of ``clock``."""

    kind = "counting"

    def __init__(self, clock: FakeClock, lifetime: Optional[float] = 3600.0, gate: Optional[anyio.Event] = None):
        self.clock = clock
        self.lifetime = lifetime
        self.calls = 0
        self.gate = gate

    async def fetch(self, client: httpx.AsyncClient, *, timeout: httpx.Timeout) -> AccessToken:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        expires = None if self.lifetime is None else self.clock() + self.lifetime
        return AccessToken(f"token-{self.calls}", expires)


# -- the cache -----------------------------------------------------------------------------


async def test_cache_reuses_then_refreshes_five_minutes_early() -> None:
    clock = FakeClock()
    source = CountingSource(clock)
    cache = TokenCache(source, clock=clock)
    async with httpx.AsyncClient() as client:
        assert await cache.get(client) == "token-1"
        clock.now += 3600 - 301
        assert await cache.get(client) == "token-1"
        clock.now += 1  # exactly 300 s before expiry
        assert await cache.get(client) == "token-2"
        assert (source.calls, cache.refreshes) == (2, 2)
        cache.invalidate()
        assert cache.cached() is None
        assert await cache.get(client) == "token-3"
    assert cache.secrets() == ("token-1", "token-2", "token-3")
    assert "token-" not in repr(cache)


async def test_short_lived_tokens_refresh_at_half_life_and_static_never() -> None:
    clock = FakeClock()
    cache = TokenCache(CountingSource(clock, lifetime=60.0), clock=clock)
    async with httpx.AsyncClient() as client:
        await cache.get(client)
        clock.now += 29
        assert await cache.get(client) == "token-1"
        clock.now += 1
        assert await cache.get(client) == "token-2"
        static = TokenCache(CountingSource(clock, lifetime=None), clock=clock)
        await static.get(client)
        clock.now += 10**9
        assert await static.get(client) == "token-1"


async def test_concurrent_callers_share_one_refresh() -> None:
    clock = FakeClock()
    gate = anyio.Event()
    source = CountingSource(clock, gate=gate)
    cache = TokenCache(source, clock=clock)
    got: list[str] = []

    async def caller(client: httpx.AsyncClient) -> None:
        got.append(await cache.get(client))

    async with httpx.AsyncClient() as client:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as group:
                for _ in range(20):
                    group.start_soon(caller, client)
                await anyio.sleep(0)  # let every caller reach the lock
                gate.set()
    assert got == ["token-1"] * 20
    assert source.calls == 1


def test_bad_margin() -> None:
    with pytest.raises(ValueError, match="refresh_margin"):
        TokenCache(StaticTokenSource("t"), refresh_margin=-1)


# -- service accounts ------------------------------------------------------------------------


def _verify(assertion: str, public_pem: bytes) -> tuple[dict[str, Any], dict[str, Any]]:
    """An independent RS256 check (cryptography directly, not google-auth)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    def segment(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    header, claims, signature = assertion.split(".")
    key = serialization.load_pem_public_key(public_pem)
    key.verify(segment(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg]
    return json.loads(segment(header)), json.loads(segment(claims))


def _public_pem(info: dict[str, Any]) -> bytes:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(info["private_key"].encode(), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_assertion_is_a_valid_rs256_jwt(account: dict[str, Any]) -> None:
    clock = FakeClock(1_800_000_000.5)
    source = ServiceAccountTokenSource(account, clock=clock)
    header, claims = _verify(source.assertion(), _public_pem(account))
    assert header == {"alg": "RS256", "typ": "JWT", "kid": account["private_key_id"]}
    assert claims == {
        "iss": account["client_email"],
        "scope": CLOUD_PLATFORM_SCOPE,
        "aud": "https://oauth2.example.test/token",
        "iat": 1_800_000_000,
        "exp": 1_800_003_600,
    }
    assert source.project_id == "unit-proj"
    assert account["private_key"] not in repr(source)


def test_assertion_tampering_is_detected(account: dict[str, Any]) -> None:
    from cryptography.exceptions import InvalidSignature

    header, _claims, signature = ServiceAccountTokenSource(account).assertion().split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"iss": "evil"}).encode()).decode().rstrip("=")
    with pytest.raises(InvalidSignature):
        _verify(f"{header}.{forged}.{signature}", _public_pem(account))


def test_service_account_validation(account: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError, match="lacks client_email"):
        ServiceAccountTokenSource({"type": "service_account", "private_key": "x"})
    with pytest.raises(ConfigurationError, match="not a service account"):
        ServiceAccountTokenSource({**account, "type": "authorized_user"})
    with pytest.raises(ValueError, match="lifetime"):
        ServiceAccountTokenSource(account, lifetime=7200)
    broken = ServiceAccountTokenSource({**account, "private_key": "-----BEGIN PRIVATE KEY-----\nnope\n"})
    with pytest.raises(ConfigurationError, match="could not be loaded") as info:
        broken.assertion()
    assert "nope" not in str(info.value)
    default = ServiceAccountTokenSource({k: v for k, v in account.items() if k != "token_uri"})
    assert default.token_uri == DEFAULT_TOKEN_URI


async def test_token_exchange_over_a_mock_transport(account: dict[str, Any]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(200, json={"access_token": "ya29.one", "expires_in": 1800, "token_type": "Bearer"})
        return httpx.Response(400, json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."})

    clock = FakeClock()
    source = ServiceAccountTokenSource(account, clock=clock)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        token = await source.fetch(client, timeout=httpx.Timeout(5))
        assert token == AccessToken("ya29.one", clock.now + 1800)
        with pytest.raises(AuthenticationError) as info:
            await source.fetch(client, timeout=httpx.Timeout(5))
    form = dict(pair.split("=", 1) for pair in seen[0].content.decode().split("&"))
    assert form["grant_type"] == "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"
    assert str(seen[0].url) == "https://oauth2.example.test/token"
    error = info.value
    assert (error.status, error.error_type, error.message, error.provider) == (
        400,
        "invalid_grant",
        "token endpoint: Invalid JWT Signature.",
        "vertex",
    )
    assert "ya29.one" not in repr(token)


def test_token_endpoint_error_shapes() -> None:
    error = token_endpoint_error(503, {}, b"upstream down", secrets=())
    assert type(error) is ServerError and error.message == "token endpoint: upstream down"
    google = token_endpoint_error(
        401, {}, json.dumps({"error": {"code": 401, "message": "bad", "status": "UNAUTHENTICATED"}}).encode()
    )
    assert (type(google), google.error_type, google.message) == (
        AuthenticationError,
        "UNAUTHENTICATED",
        "token endpoint: bad",
    )
    echoed = token_endpoint_error(
        400, {}, b'{"error": "invalid_grant", "error_description": "bad jwt eyJabc.def"}', secrets=("eyJabc.def",)
    )
    assert "eyJabc.def" not in echoed.message


async def test_bad_token_endpoint_answers(account: dict[str, Any]) -> None:
    answers = iter([httpx.Response(200, text="not json"), httpx.Response(200, json={"access_token": "t"})])
    source = ServiceAccountTokenSource(account, clock=FakeClock())
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda _: next(answers))) as client:
        with pytest.raises(Exception, match="without an access_token"):
            await source.fetch(client, timeout=httpx.Timeout(5))
        token = await source.fetch(client, timeout=httpx.Timeout(5))
    assert token.expires_at == FakeClock().now + 3600  # expires_in missing: an hour


# -- loading and resolution ------------------------------------------------------------------------


def test_load_credentials_info(account: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(account))
    assert load_credentials_info(str(path)) == account
    assert load_credentials_info(path) == account
    assert load_credentials_info(json.dumps(account)) == account
    assert load_credentials_info(account) == account
    with pytest.raises(ConfigurationError, match="cannot read the credentials file"):
        load_credentials_info(str(tmp_path / "missing.json"))
    secret_text = json.dumps(account)[:-1]  # truncated: invalid JSON holding a key
    with pytest.raises(ConfigurationError, match="not valid JSON") as info:
        load_credentials_info(secret_text)
    assert "PRIVATE KEY" not in str(info.value)
    (tmp_path / "list.json").write_text("[1]")
    with pytest.raises(ConfigurationError, match="not a JSON object"):
        load_credentials_info(str(tmp_path / "list.json"))


def test_resolution_order(account: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "key.json"
    key_file.write_text(json.dumps(account))
    assert isinstance(resolve_token_source(access_token="ya29.arg"), StaticTokenSource)
    assert isinstance(resolve_token_source(credentials=account), ServiceAccountTokenSource)
    assert isinstance(resolve_token_source(), ApplicationDefaultTokenSource)
    user_file = tmp_path / "user.json"
    user_file.write_text(json.dumps({"type": "external_account", "audience": "x"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(user_file))
    assert isinstance(resolve_token_source(), ApplicationDefaultTokenSource)  # google.auth.default() reads it
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    assert isinstance(resolve_token_source(), ServiceAccountTokenSource)
    monkeypatch.setenv("GOOGLE_OAUTH_ACCESS_TOKEN", "ya29.terraform")
    assert isinstance(resolve_token_source(), StaticTokenSource)
    monkeypatch.setenv("GOOGLE_CLOUD_ACCESS_TOKEN", "ya29.env")
    source = resolve_token_source()
    assert isinstance(source, StaticTokenSource)
    # Explicit arguments beat the environment.
    assert isinstance(resolve_token_source(credentials=str(key_file)), ServiceAccountTokenSource)
    with pytest.raises(ConfigurationError, match="empty"):
        StaticTokenSource("  ")


def test_other_credential_types_go_through_google_auth() -> None:
    info = {
        "type": "authorized_user",
        "client_id": "id.apps.googleusercontent.com",
        "client_secret": "secret",
        "refresh_token": "1//refresh",
        "quota_project_id": "user-proj",
    }
    source = resolve_token_source(credentials=info)
    assert isinstance(source, GoogleAuthTokenSource)
    assert source.project_id == "user-proj"
    with pytest.raises(ConfigurationError, match="invalid authorized_user"):
        resolve_token_source(credentials={"type": "authorized_user"})
    with pytest.raises(ConfigurationError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        resolve_token_source(credentials={"type": "external_account"})


async def test_google_auth_refresh_runs_in_a_thread() -> None:
    import datetime

    class Creds:
        token: Optional[str] = None
        expiry: Optional[datetime.datetime] = None
        quota_project_id = None

        def refresh(self, request: Any) -> None:
            from google.auth import transport

            assert isinstance(request, transport.Request)
            self.token = "ya29.refreshed"
            self.expiry = datetime.datetime(2030, 1, 1)

    source = GoogleAuthTokenSource(Creds(), "p")  # type: ignore[arg-type]
    async with httpx.AsyncClient() as client:
        token = await source.fetch(client, timeout=httpx.Timeout(5))
    assert token == AccessToken(
        "ya29.refreshed", datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc).timestamp()
    )
    assert source.project_id == "p"


async def test_refresh_errors_are_typed() -> None:
    from google.auth import exceptions

    class Broken:
        token = None
        expiry = None

        def refresh(self, request: Any) -> None:
            raise exceptions.RefreshError("invalid_grant: Token has been expired or revoked.")

    with pytest.raises(AuthenticationError, match="expired or revoked"):
        async with httpx.AsyncClient() as client:
            await GoogleAuthTokenSource(Broken()).fetch(client, timeout=httpx.Timeout(5))  # type: ignore[arg-type]


def test_adc_project_from_the_gcloud_file(tmp_path: Path) -> None:
    source = ApplicationDefaultTokenSource()
    assert source.project_id is None
    adc = tmp_path / "gcloud" / "application_default_credentials.json"
    adc.parent.mkdir()
    adc.write_text(json.dumps({"type": "authorized_user", "quota_project_id": "from-adc"}))
    assert source.project_id == "from-adc"


def test_missing_google_auth_is_a_configuration_error(account: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulate an install without the extra: importing google.auth fails.
    monkeypatch.setitem(sys.modules, "google.auth", None)
    source = ServiceAccountTokenSource(account)
    with pytest.raises(ConfigurationError, match=r"pip install tokenwire\[vertex\]"):
        source.assertion()
    with pytest.raises(ConfigurationError, match=r"pip install tokenwire\[vertex\]"):
        resolve_token_source()
    # A static token needs nothing extra.
    assert isinstance(resolve_token_source(access_token="ya29.x"), StaticTokenSource)
    assert google_auth is not None
