"""Google Cloud credentials for Vertex AI: OAuth access tokens, cached and refreshed.

Vertex AI requests carry ``Authorization: Bearer <access token>``. This module finds a
credential, turns it into access tokens and keeps one cached until shortly before it
expires. ``google-auth`` is an optional dependency (``pip install tokenwire[vertex]``):
it signs the service-account JWT (RS256 through ``cryptography``; no hand-rolled RSA) and
drives Application Default Credentials. A static access token needs nothing extra.

Where the credential comes from (first match wins; :func:`resolve_token_source`)
    1. ``access_token=`` — a ready OAuth access token (e.g. ``gcloud auth
       print-access-token``), used as is, never refreshed;
    2. ``credentials=`` — a credentials JSON document (``service_account`` or
       ``authorized_user``): a file path, the JSON text itself, or the parsed mapping;
    3. ``GOOGLE_CLOUD_ACCESS_TOKEN``, then ``GOOGLE_OAUTH_ACCESS_TOKEN`` (the name the
       Terraform Google provider reads) — a static access token from the environment;
    4. ``GOOGLE_APPLICATION_CREDENTIALS`` — the path of a credentials JSON file (what the
       official SDKs read): a service account is exchanged here, any other type goes
       through ``google.auth.default()``;
    5. Application Default Credentials through ``google.auth.default()`` — the gcloud
       user credentials file, the GCE/Cloud Run metadata server, workload identity …

Service accounts (``"type": "service_account"``)
    Exchanged here, asynchronously on the provider's own pooled ``httpx`` client: a JWT
    (header ``{"alg": "RS256", "typ": "JWT", "kid": private_key_id}``; claims ``iss`` =
    ``client_email``, ``scope`` = ``https://www.googleapis.com/auth/cloud-platform``,
    ``aud`` = the document's ``token_uri`` (default ``https://oauth2.googleapis.com/token``),
    ``iat`` = now, ``exp`` = now + 3600 — the maximum Google accepts) is signed with the
    document's private key and POSTed as a form (``grant_type=urn:ietf:params:oauth:
    grant-type:jwt-bearer``, ``assertion=<jwt>``) to ``token_uri``; the answer is
    ``{"access_token", "expires_in", "token_type"}``. ``authorized_user`` credentials and
    whatever ADC finds (``external_account``, the metadata server, …) are refreshed by
    ``google-auth`` itself, in a worker thread, over a small ``httpx`` transport sharing
    the process SSL context.

Caching (:class:`TokenCache`)
    A token is reused until ``refresh_margin`` seconds (default 300) before it expires
    (for short-lived tokens, until half of their lifetime), then replaced. Concurrent
    requests share one refresh: the first caller refreshes under a lock, the others
    wait for it and reuse its token. The clock is injectable (``clock=``), so tests
    move time instead of sleeping.

Errors
    A missing ``google-auth`` where it is needed, an unreadable or malformed credentials
    document and missing ADC are :class:`~tokenwire.errors.ConfigurationError`; a token
    endpoint refusal (``{"error": "invalid_grant", "error_description": …}``) is an
    :class:`~tokenwire.errors.AuthenticationError` carrying the endpoint's description
    verbatim; network failures are :class:`~tokenwire.errors.APIConnectionError`.
    Private keys and tokens never appear in a ``repr``, a message or a log line.
"""

from __future__ import annotations

import abc
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import anyio
import httpx

from tokenwire._http import redact, shared_ssl_context
from tokenwire._threads import to_thread
from tokenwire.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    ProviderError,
    error_class_for_status,
)

if TYPE_CHECKING:
    import google.auth.credentials

__all__ = [
    "ACCESS_TOKEN_ENV",
    "CLOUD_PLATFORM_SCOPE",
    "CREDENTIALS_ENV",
    "DEFAULT_TOKEN_URI",
    "INSTALL_HINT",
    "JWT_BEARER_GRANT",
    "AccessToken",
    "ApplicationDefaultTokenSource",
    "Clock",
    "CredentialsLike",
    "GoogleAuthTokenSource",
    "ServiceAccountTokenSource",
    "StaticTokenSource",
    "TokenCache",
    "TokenSource",
    "adc_file",
    "env_access_token",
    "load_credentials_info",
    "resolve_token_source",
    "source_from_info",
    "token_endpoint_error",
]

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: Environment variables holding a ready access token, in order.
ACCESS_TOKEN_ENV: tuple[str, ...] = ("GOOGLE_CLOUD_ACCESS_TOKEN", "GOOGLE_OAUTH_ACCESS_TOKEN")
#: The path of a credentials JSON file (the official SDKs' variable).
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
INSTALL_HINT = "install the Vertex extra: pip install tokenwire[vertex]"
#: Google refuses service-account assertions valid for longer than an hour.
MAX_ASSERTION_LIFETIME = 3600
_DEFAULT_EXPIRES_IN = 3600

Clock = Callable[[], float]
CredentialsLike = Union[str, "os.PathLike[str]", Mapping[str, Any]]


@dataclass(frozen=True)
class AccessToken:
    """An OAuth access token and the clock time it expires at (``None``: unknown/never)."""

    token: str
    expires_at: Optional[float] = None

    def __repr__(self) -> str:
        return f"AccessToken(token=<{len(self.token)} chars>, expires_at={self.expires_at!r})"


class TokenSource(abc.ABC):
    """Something that can produce a fresh access token."""

    #: Short name for reprs and messages (``"access-token"``, ``"service-account"``, …).
    kind: str = "token"

    @abc.abstractmethod
    async def fetch(self, client: httpx.AsyncClient, *, timeout: httpx.Timeout) -> AccessToken:
        """A new access token (network where needed)."""

    @property
    def project_id(self) -> Optional[str]:
        """The project the credential belongs to, when the credential says so."""
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind}>"


class StaticTokenSource(TokenSource):
    """A ready access token; it cannot be refreshed (its expiry is unknown)."""

    kind = "access-token"

    def __init__(self, token: str) -> None:
        if not token or not token.strip():
            raise ConfigurationError("vertex: the access token is empty")
        self._token = token.strip()

    async def fetch(self, client: httpx.AsyncClient, *, timeout: httpx.Timeout) -> AccessToken:
        return AccessToken(self._token, None)


def _require_google_auth(what: str) -> None:
    try:
        import google.auth  # noqa: F401  # pyright: ignore[reportUnusedImport]
    except ImportError:
        raise ConfigurationError(f"vertex: {what} needs google-auth; {INSTALL_HINT}") from None


class ServiceAccountTokenSource(TokenSource):
    """Access tokens for a service account through the JWT-bearer grant (see the module doc).

    ``info`` is the service-account JSON document. ``clock`` gives the ``iat``/``exp``
    of the assertions and the expiry of the tokens; ``lifetime`` (≤ 3600 s) the
    assertion's validity.
    """

    kind = "service-account"

    def __init__(
        self,
        info: Mapping[str, Any],
        *,
        scopes: Sequence[str] = (CLOUD_PLATFORM_SCOPE,),
        clock: Clock = time.time,
        lifetime: int = MAX_ASSERTION_LIFETIME,
    ) -> None:
        if info.get("type") not in (None, "service_account"):
            raise ConfigurationError(f"vertex: credentials of type {info.get('type')!r} are not a service account")
        missing = [k for k in ("client_email", "private_key") if not isinstance(info.get(k), str) or not info.get(k)]
        if missing:
            raise ConfigurationError(f"vertex: the service account JSON lacks {', '.join(missing)}")
        if not 0 < lifetime <= MAX_ASSERTION_LIFETIME:
            raise ValueError(f"lifetime must be in 1..{MAX_ASSERTION_LIFETIME} seconds, got {lifetime!r}")
        self._info = dict(info)
        self.client_email: str = info["client_email"]
        self.private_key_id: Optional[str] = info.get("private_key_id") or None
        token_uri = info.get("token_uri")
        self.token_uri: str = token_uri if isinstance(token_uri, str) and token_uri else DEFAULT_TOKEN_URI
        self.scopes: tuple[str, ...] = tuple(scopes)
        self._clock = clock
        self.lifetime = lifetime
        self._signer: Any = None

    @property
    def project_id(self) -> Optional[str]:
        value = self._info.get("project_id")
        return value if isinstance(value, str) and value else None

    def __repr__(self) -> str:
        return f"<ServiceAccountTokenSource {self.client_email!r}>"

    def _get_signer(self) -> Any:
        if self._signer is None:
            _require_google_auth("a service account")
            from google.auth import crypt

            # google-auth's signer API is untyped; keep it behind Any.
            load_signer: Any = crypt.RSASigner.from_service_account_info
            try:
                self._signer = load_signer(self._info)
            except (ValueError, TypeError):
                # The exception text may quote the key material: say what, not how.
                raise ConfigurationError(
                    f"vertex: the private key of service account {self.client_email!r} could not be loaded"
                ) from None
        return self._signer

    def assertion(self, now: Optional[float] = None) -> str:
        """The signed JWT (``header.claims.signature``) for the token request at ``now``."""
        signer = self._get_signer()
        from google.auth import jwt

        encode: Any = jwt.encode
        issued = int(self._clock() if now is None else now)
        claims = {
            "iss": self.client_email,
            "scope": " ".join(self.scopes),
            "aud": self.token_uri,
            "iat": issued,
            "exp": issued + self.lifetime,
        }
        token: bytes = encode(signer, claims)
        return token.decode("ascii")

    async def fetch(self, client: httpx.AsyncClient, *, timeout: httpx.Timeout) -> AccessToken:
        now = self._clock()
        form = {"grant_type": JWT_BEARER_GRANT, "assertion": self.assertion(now)}
        try:
            response = await client.post(
                self.token_uri,
                data=form,
                headers={"accept": "application/json"},
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            raise APITimeoutError(f"vertex: the token endpoint timed out ({type(exc).__name__})") from None
        except httpx.TransportError as exc:
            host = self.token_uri.split("?", 1)[0]
            raise APIConnectionError(f"vertex: could not reach the token endpoint {host} ({exc})") from None
        secrets = (form["assertion"],)
        if response.status_code >= 400:
            raise token_endpoint_error(response.status_code, response.headers, response.content, secrets=secrets)
        try:
            data = response.json()
        except ValueError:
            data = None
        return _access_token_from(data, now, status=response.status_code)


def _access_token_from(data: Any, now: float, *, status: int) -> AccessToken:
    token = data.get("access_token") if isinstance(data, Mapping) else None
    if not isinstance(token, str) or not token:
        raise ProviderError(
            "vertex: the token endpoint answered without an access_token", provider="vertex", status=status
        )
    expires_in = data.get("expires_in")
    if isinstance(expires_in, str) and expires_in.isdigit():
        expires_in = int(expires_in)
    if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or expires_in <= 0:
        expires_in = _DEFAULT_EXPIRES_IN
    return AccessToken(token, now + float(expires_in))


def token_endpoint_error(
    status: int, headers: Mapping[str, str], body: bytes, *, secrets: Sequence[Optional[str]] = ()
) -> ProviderError:
    """An OAuth token endpoint error (``{"error", "error_description"}``) as a typed error.

    400/401/403 answers (``invalid_grant``, ``invalid_client``, …) are
    :class:`AuthenticationError`: the credential is what is wrong. The endpoint's
    description is kept verbatim (secrets redacted).
    """
    text = body.decode("utf-8", errors="replace")
    parsed: Any = None
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = None
    error_type: Optional[str] = None
    message = text.strip() or f"HTTP {status}"
    if isinstance(parsed, Mapping):
        raw_type = parsed.get("error")
        description = parsed.get("error_description")
        if isinstance(raw_type, Mapping):  # Google's JSON error shape, from a proxy
            inner_message = raw_type.get("message")
            inner_status = raw_type.get("status")
            message = inner_message if isinstance(inner_message, str) else message
            error_type = inner_status if isinstance(inner_status, str) else None
        else:
            error_type = raw_type if isinstance(raw_type, str) else None
            if isinstance(description, str) and description:
                message = description
            elif error_type:
                message = error_type
    cls = AuthenticationError if status in (400, 401, 403) else error_class_for_status(status)
    return cls(
        redact(f"token endpoint: {message}", secrets),
        provider="vertex",
        status=status,
        error_type=error_type,
        body=parsed if parsed is not None else redact(text, secrets),
        headers=headers,
    )


def _transport_request(timeout: float) -> Any:
    """google-auth's transport interface over a synchronous ``httpx.Client`` (called in a
    worker thread, for the credential types google-auth refreshes itself)."""
    from google.auth import exceptions, transport

    class _Response(transport.Response):
        def __init__(self, response: httpx.Response) -> None:
            self._response = response

        @property
        def status(self) -> int:  # pyright: ignore[reportIncompatibleVariableOverride]
            return self._response.status_code

        @property
        def headers(self) -> Mapping[str, str]:  # pyright: ignore[reportIncompatibleVariableOverride]
            return dict(self._response.headers)

        @property
        def data(self) -> bytes:  # pyright: ignore[reportIncompatibleVariableOverride]
            return self._response.content

    class _Request(transport.Request):
        def __call__(
            self,
            url: str,
            method: str = "GET",
            body: Optional[bytes] = None,
            headers: Optional[Mapping[str, str]] = None,
            timeout: Optional[float] = None,
            **kwargs: Any,
        ) -> _Response:
            try:
                with httpx.Client(verify=shared_ssl_context(), timeout=timeout or default_timeout) as client:
                    response = client.request(method, url, content=body, headers=dict(headers or {}))
            except httpx.HTTPError as exc:
                transport_error: Any = exceptions.TransportError
                raise transport_error(f"{type(exc).__name__}: {exc}") from exc
            return _Response(response)

    default_timeout = timeout
    return _Request()


def _expiry_timestamp(expiry: Optional[datetime]) -> Optional[float]:
    if expiry is None:
        return None
    # google-auth keeps naive UTC datetimes.
    if expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=timezone.utc)
    return expiry.timestamp()


def _timeout_seconds(timeout: httpx.Timeout) -> float:
    values = [v for v in (timeout.connect, timeout.read, timeout.write) if v is not None]
    return max(values) if values else 60.0


class GoogleAuthTokenSource(TokenSource):
    """Tokens from a ``google.auth`` credentials object (refreshed in a worker thread)."""

    kind = "google-auth"

    def __init__(self, credentials: google.auth.credentials.Credentials, project_id: Optional[str] = None) -> None:
        self._credentials = credentials
        self._project_id = project_id

    @property
    def credentials(self) -> google.auth.credentials.Credentials:
        return self._credentials

    @property
    def project_id(self) -> Optional[str]:
        if self._project_id:
            return self._project_id
        quota = getattr(self._credentials, "quota_project_id", None)
        return quota if isinstance(quota, str) and quota else None

    async def fetch(self, client: httpx.AsyncClient, *, timeout: httpx.Timeout) -> AccessToken:
        credentials = self._credentials
        request = _transport_request(_timeout_seconds(timeout))
        await _refresh_in_thread(credentials, request)
        token: Any = getattr(credentials, "token", None)
        if not isinstance(token, str) or not token:
            raise AuthenticationError("vertex: google-auth refreshed the credentials but returned no token")
        return AccessToken(token, _expiry_timestamp(getattr(credentials, "expiry", None)))


async def _refresh_in_thread(credentials: Any, request: Any) -> None:
    from google.auth import exceptions

    try:
        await to_thread(credentials.refresh, request)
    except exceptions.RefreshError as exc:
        raise AuthenticationError(
            f"vertex: could not refresh the Google credentials: {exc}", provider="vertex"
        ) from None
    except exceptions.TransportError as exc:
        raise APIConnectionError(f"vertex: could not reach Google's token service: {exc}") from None


class ApplicationDefaultTokenSource(TokenSource):
    """Application Default Credentials (``google.auth.default()``), resolved on first use
    in a worker thread (it may probe the metadata server)."""

    kind = "adc"

    def __init__(self, scopes: Sequence[str] = (CLOUD_PLATFORM_SCOPE,)) -> None:
        _require_google_auth("Application Default Credentials")
        self.scopes = tuple(scopes)
        self._inner: Optional[GoogleAuthTokenSource] = None

    @property
    def project_id(self) -> Optional[str]:
        if self._inner is not None:
            return self._inner.project_id
        # Before resolution (which may need the network), gcloud's ADC file may name a project.
        path = adc_file()
        if path is None:
            return None
        try:
            quota = json.loads(path.read_text(encoding="utf-8")).get("quota_project_id")
        except (OSError, ValueError, AttributeError):
            return None
        return quota if isinstance(quota, str) and quota else None

    async def _resolve(self) -> GoogleAuthTokenSource:
        if self._inner is None:
            import google.auth
            from google.auth import exceptions

            def load() -> tuple[Any, Optional[str]]:
                return google.auth.default(scopes=list(self.scopes))

            try:
                credentials, project = await to_thread(load)
            except exceptions.DefaultCredentialsError as exc:
                raise ConfigurationError(
                    "vertex: no Google credentials found; pass access_token=... or credentials=..., set "
                    f"{' / '.join(ACCESS_TOKEN_ENV)} or {CREDENTIALS_ENV}, or run "
                    f"`gcloud auth application-default login` ({exc})"
                ) from None
            self._inner = GoogleAuthTokenSource(credentials, project)
        return self._inner

    async def fetch(self, client: httpx.AsyncClient, *, timeout: httpx.Timeout) -> AccessToken:
        inner = await self._resolve()
        return await inner.fetch(client, timeout=timeout)


class TokenCache:
    """Caches the access token of a :class:`TokenSource` and refreshes it before it expires.

    ``refresh_margin`` seconds before expiry (at most half of the token's lifetime) the
    next :meth:`get` fetches a new token; concurrent callers share that one refresh.
    ``clock`` is the time function (``time.time`` by default; tests inject a fake).
    """

    def __init__(self, source: TokenSource, *, clock: Clock = time.time, refresh_margin: float = 300.0) -> None:
        if refresh_margin < 0:
            raise ValueError("refresh_margin must be >= 0")
        self.source = source
        self._clock = clock
        self.refresh_margin = refresh_margin
        self._token: Optional[AccessToken] = None
        self._refresh_at: Optional[float] = None
        self._lock: Optional[anyio.Lock] = None
        self._seen: list[str] = []
        #: How many tokens were fetched (for diagnostics and tests).
        self.refreshes = 0

    def __repr__(self) -> str:
        state = "empty" if self._token is None else f"refresh_at={self._refresh_at!r}"
        return f"<TokenCache {self.source!r} {state}>"

    def cached(self) -> Optional[str]:
        """The cached token if it is not due for refresh, else ``None``."""
        token = self._token
        if token is None:
            return None
        if self._refresh_at is not None and self._clock() >= self._refresh_at:
            return None
        return token.token

    def invalidate(self) -> None:
        """Forget the cached token (the next :meth:`get` fetches a new one)."""
        self._token = None
        self._refresh_at = None

    def secrets(self) -> tuple[str, ...]:
        """Every token handed out so far (for redaction)."""
        return tuple(self._seen)

    async def get(self, client: httpx.AsyncClient, *, timeout: Optional[httpx.Timeout] = None) -> str:
        """A valid access token: the cached one, or a fresh one (one refresh at a time)."""
        token = self.cached()
        if token is not None:
            return token
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            # Another task may have refreshed while this one waited.
            token = self.cached()
            if token is not None:
                return token
            fresh = await self.source.fetch(client, timeout=timeout or httpx.Timeout(30.0))
            self._store(fresh)
            return fresh.token

    def _store(self, fresh: AccessToken) -> None:
        self.refreshes += 1
        now = self._clock()
        self._token = fresh
        if fresh.token not in self._seen:
            self._seen.append(fresh.token)
            del self._seen[:-8]
        if fresh.expires_at is None:
            self._refresh_at = None
        else:
            lifetime = max(0.0, fresh.expires_at - now)
            self._refresh_at = fresh.expires_at - min(self.refresh_margin, lifetime / 2.0)


def load_credentials_info(credentials: CredentialsLike) -> dict[str, Any]:
    """A credentials JSON document from a mapping, the JSON text or a file path.

    Errors never quote the document (it holds a private key).
    """
    if isinstance(credentials, Mapping):
        return dict(credentials)
    text = os.fspath(credentials)
    if text.lstrip().startswith("{"):
        try:
            parsed = json.loads(text)
        except ValueError as exc:
            raise ConfigurationError(
                f"vertex: the credentials JSON is not valid JSON (line {getattr(exc, 'lineno', '?')})"
            ) from None
        where = "the credentials JSON"
    else:
        path = Path(text).expanduser()
        try:
            raw = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(
                f"vertex: cannot read the credentials file {str(path)!r}: {exc.strerror}"
            ) from None
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise ConfigurationError(f"vertex: the credentials file {str(path)!r} is not valid JSON") from None
        where = f"the credentials file {str(path)!r}"
    if not isinstance(parsed, dict):
        raise ConfigurationError(f"vertex: {where} is not a JSON object")
    return parsed  # pyright: ignore[reportUnknownVariableType]


def source_from_info(info: Mapping[str, Any], *, clock: Clock = time.time) -> TokenSource:
    """The token source for a parsed credentials document: ``service_account`` (exchanged
    here) or ``authorized_user`` (gcloud user credentials, refreshed by google-auth).

    Other types (``external_account``, impersonation, …) are loaded only through
    Application Default Credentials — point ``GOOGLE_APPLICATION_CREDENTIALS`` at the
    file — where google-auth applies its own checks for those configurations."""
    kind = info.get("type")
    if kind == "service_account":
        return ServiceAccountTokenSource(info, clock=clock)
    if kind == "authorized_user":
        _require_google_auth("authorized_user credentials")
        from google.oauth2 import credentials as user_credentials

        load_user: Any = user_credentials.Credentials.from_authorized_user_info
        try:
            loaded = load_user(dict(info), scopes=[CLOUD_PLATFORM_SCOPE])
        except ValueError as exc:
            raise ConfigurationError(f"vertex: invalid authorized_user credentials: {exc}") from None
        return GoogleAuthTokenSource(loaded)
    raise ConfigurationError(
        f"vertex: credentials of type {kind!r} are not supported here; point {CREDENTIALS_ENV} at the file to use "
        "them through Application Default Credentials"
    )


def adc_file() -> Optional[Path]:
    """gcloud's Application Default Credentials file, if it exists (no network)."""
    config = os.environ.get("CLOUDSDK_CONFIG")
    if config:
        base = Path(config)
    elif sys.platform == "win32":  # pragma: no cover - platform specific
        base = Path(os.environ.get("APPDATA", "~")).expanduser() / "gcloud"
    else:
        base = Path("~/.config/gcloud").expanduser()
    path = base / "application_default_credentials.json"
    return path if path.is_file() else None


def env_access_token() -> Optional[str]:
    """The access token from :data:`ACCESS_TOKEN_ENV`, if set."""
    for name in ACCESS_TOKEN_ENV:
        value = os.environ.get(name)
        if value and value.strip():
            return value.strip()
    return None


def resolve_token_source(
    *,
    access_token: Optional[str] = None,
    credentials: Optional[CredentialsLike] = None,
    clock: Clock = time.time,
) -> TokenSource:
    """The token source by the order of the module docstring (no network)."""
    if access_token:
        return StaticTokenSource(access_token)
    if credentials is not None:
        return source_from_info(load_credentials_info(credentials), clock=clock)
    token = env_access_token()
    if token:
        return StaticTokenSource(token)
    path = os.environ.get(CREDENTIALS_ENV)
    if path:
        info = load_credentials_info(path)
        if info.get("type") == "service_account":
            return ServiceAccountTokenSource(info, clock=clock)
        # Any other type: google.auth.default() reads the same file with its own checks.
    return ApplicationDefaultTokenSource()
