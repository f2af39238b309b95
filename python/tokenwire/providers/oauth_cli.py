"""Providers that borrow the OAuth login of a coding-assistant CLI.

The Gemini CLI (``gemini``) and Qwen Code (``qwen``) sign their users in with OAuth and
keep the result in a JSON file in the user's home directory. Roo-Code's ``gemini-cli`` and
``qwen-code`` handlers reuse those files; so do :mod:`tokenwire.providers.gemini_cli` and
:mod:`tokenwire.providers.qwen_code`, on the machinery of this module.

The credentials file
    ``{"access_token", "refresh_token", "token_type", "expiry_date", …}`` with
    ``expiry_date`` in milliseconds since the epoch (Qwen Code adds ``resource_url``,
    Google's client library ``scope`` and ``id_token``). Where it is: the provider's
    ``oauth_path=`` argument, else its environment variable, else the CLI's default
    (``~/.gemini/oauth_creds.json``, ``~/.qwen/oauth_creds.json``); ``~`` is expanded.
    Nothing is read when a provider is created: the file is read on the first request
    (in a worker thread), and re-read whenever the cached token is due for a refresh,
    so a token the CLI refreshed in the meantime is picked up instead of refreshing again
    (Qwen Code rotates refresh tokens, so two refreshes from one token would log one of
    the two programs out). A missing or unreadable file is a
    :class:`~tokenwire.errors.ConfigurationError` naming the CLI's login command.

Refreshing
    A token is used until ``refresh_margin`` seconds before its ``expiry_date`` (Qwen: 30 s,
    Roo's buffer; Google: 300 s, the eager-refresh threshold of Google's client library
    that Roo's handler relies on); a token without ``expiry_date`` is refreshed first.
    The refresh is a form-encoded ``POST`` to the CLI's token endpoint
    (``grant_type=refresh_token``, ``refresh_token``, ``client_id`` and, for Google,
    ``client_secret``; values percent-encoded like JavaScript's ``encodeURIComponent``)
    with ``Content-Type: application/x-www-form-urlencoded`` and ``Accept:
    application/json``. The answer's ``access_token``, ``token_type``, ``refresh_token``,
    ``id_token``, ``scope`` and ``resource_url`` replace the stored ones (a refresh token
    is kept when none is returned), ``expiry_date`` becomes now + ``expires_in`` (3600 s
    when absent), every other field of the file is kept, and the file is rewritten.
    Roo rewrites it in place with ``fs.writeFile`` and keeps only four fields for Gemini;
    here it is replaced atomically (a temporary file in the same folder, ``fsync``,
    ``os.replace``) with mode ``0600`` — what the Gemini CLI itself uses — and nothing
    is dropped. A failed write is logged and the fresh token is used anyway, as in Roo.
    Concurrent requests share one refresh.

    A refusal by the token endpoint (400/401/403, ``invalid_grant`` …, or a 200 carrying an
    ``error``) is an :class:`~tokenwire.errors.AuthenticationError` with the endpoint's
    description and the login hint; 429 and 5xx keep their classes
    (:class:`~tokenwire.errors.RateLimitError`, :class:`~tokenwire.errors.ServerError`)
    since signing in again would not help; network failures are
    :class:`~tokenwire.errors.APIConnectionError`.

    When the API answers 401, the token is marked refused, a new one is obtained (from
    the file if the CLI refreshed it, else from the token endpoint) and the request is
    sent once more — Roo's ``callApiWithRetry`` (Qwen) and ``retryAuth`` (Gemini). A
    refused token is never reused.

Static tokens
    ``api_key=`` passes a ready access token instead: no file, no refresh, no retry.

Streams
    ``chat_stream()`` must return at once, but the request can only be built after the
    credentials are loaded (the Qwen endpoint comes from the file, the Gemini project is
    discovered over the network): :class:`DeferredChatStream` authenticates and builds
    the request when the stream starts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Optional, Union
from urllib.parse import quote

import httpx

from tokenwire._http import redact
from tokenwire._threads import to_thread
from tokenwire.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    ProviderError,
)
from tokenwire.google import AccessToken, Clock, TokenCache, TokenSource, token_endpoint_error
from tokenwire.providers.base import ChatStream, HttpCall, Provider, merge_headers
from tokenwire.types import ChatRequest, ChatResponse, CompletionRequest, CompletionResponse

__all__ = [
    "CLIOAuth",
    "CredentialsFileSource",
    "DeferredChatStream",
    "OAuthCLIProvider",
    "form_encode",
    "read_credentials",
    "write_credentials",
]

_log = logging.getLogger("tokenwire.providers.oauth_cli")

#: Characters ``encodeURIComponent`` leaves as they are (besides letters and digits).
_URI_SAFE = "-_.!~*'()"
_DEFAULT_EXPIRES_IN = 3600
#: Fields of a token endpoint answer that replace the stored ones.
_TOKEN_FIELDS = ("access_token", "token_type", "refresh_token", "id_token", "scope", "resource_url")

RefreshForm = Callable[[str], Mapping[str, str]]


@dataclass(frozen=True)
class CLIOAuth:
    """How one CLI's OAuth login works: where its credentials file lives, its token
    endpoint and client, and what to tell a user who is not signed in."""

    #: Display name (``"Gemini CLI"``).
    cli: str
    #: The credentials file the CLI writes (``~`` is expanded).
    default_path: str
    #: Environment variable overriding the path.
    path_env: str
    #: The OAuth token endpoint.
    token_url: str
    #: The CLI's public OAuth client id (and secret: installed apps ship theirs).
    client_id: str
    client_secret: Optional[str]
    #: Seconds before expiry at which a token is refreshed.
    refresh_margin: float
    #: How to sign in (``"run `gemini` and choose “Login with Google”"``).
    login_hint: str


def form_encode(form: Mapping[str, str]) -> bytes:
    """``key=value&…`` with JavaScript ``encodeURIComponent`` escaping, in ``form``'s order."""
    return "&".join(f"{quote(k, safe=_URI_SAFE)}={quote(v, safe=_URI_SAFE)}" for k, v in form.items()).encode("ascii")


def _not_signed_in(who: str, oauth: CLIOAuth, path: Path, what: str) -> ConfigurationError:
    return ConfigurationError(
        f"{who}: {what} {path}; {oauth.login_hint} to create it, or pass oauth_path=... / set {oauth.path_env}"
    )


def read_credentials(path: Path, oauth: CLIOAuth, who: str) -> dict[str, Any]:
    """The credentials document at ``path`` (blocking; a :class:`ConfigurationError` when
    it is missing, unreadable, not a JSON object, or holds no token at all). Messages
    never quote the file's content."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _not_signed_in(who, oauth, path, f"no {oauth.cli} OAuth credentials at") from None
    except OSError as exc:
        raise ConfigurationError(f"{who}: cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    try:
        data: Any = json.loads(text)
    except ValueError:
        raise _not_signed_in(who, oauth, path, "the credentials are not valid JSON in") from None
    if not isinstance(data, dict):
        raise _not_signed_in(who, oauth, path, "the credentials are not a JSON object in")
    document: dict[str, Any] = data  # pyright: ignore[reportUnknownVariableType]
    if not _nonempty(document.get("access_token")) and not _nonempty(document.get("refresh_token")):
        raise _not_signed_in(who, oauth, path, "no access_token or refresh_token in")
    return document


def write_credentials(path: Path, data: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically with ``data`` (JSON, two-space indent), mode ``0600``."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=str(path.parent))
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(data), handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp already creates 0600 files on POSIX; say it explicitly for the record.
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _nonempty(value: Any) -> Optional[str]:
    return value if isinstance(value, str) and value else None


def _expiry_seconds(data: Mapping[str, Any]) -> Optional[float]:
    raw = data.get("expiry_date")
    if isinstance(raw, bool) or not isinstance(raw, (int, float)) or raw <= 0:
        return None
    return float(raw) / 1000.0


class CredentialsFileSource(TokenSource):
    """Access tokens from a CLI's credentials file, refreshed through the CLI's token
    endpoint and written back (see the module docs). ``credentials`` holds the latest
    document read or refreshed."""

    kind = "oauth-credentials-file"

    def __init__(
        self,
        oauth: CLIOAuth,
        path: Path,
        *,
        token_url: str,
        form: RefreshForm,
        provider: str,
        clock: Clock,
    ) -> None:
        self.oauth = oauth
        self.path = path
        self.token_url = token_url
        self._form = form
        self._who = provider
        self._clock = clock
        self.credentials: Optional[dict[str, Any]] = None
        self._rejected: set[str] = set()
        self._refresh_tokens: list[str] = []
        #: Token endpoint calls made (for diagnostics and tests).
        self.refreshes = 0

    def __repr__(self) -> str:
        return f"<CredentialsFileSource {str(self.path)!r}>"

    def reject(self, token: str) -> None:
        """Never hand out ``token`` again (the API refused it)."""
        self._rejected.add(token)

    def secrets(self) -> tuple[str, ...]:
        """Refresh tokens seen (for redaction)."""
        return tuple(self._refresh_tokens)

    def _remember(self, data: Mapping[str, Any]) -> None:
        refresh = _nonempty(data.get("refresh_token"))
        if refresh is not None and refresh not in self._refresh_tokens:
            self._refresh_tokens.append(refresh)
            del self._refresh_tokens[:-4]

    async def fetch(self, client: httpx.AsyncClient, *, timeout: httpx.Timeout) -> AccessToken:
        data = await to_thread(read_credentials, self.path, self.oauth, self._who)
        self._remember(data)
        self.credentials = data
        token = _nonempty(data.get("access_token"))
        refresh = _nonempty(data.get("refresh_token"))
        expires_at = _expiry_seconds(data)
        if token is not None and token not in self._rejected:
            if expires_at is None and refresh is None:
                return AccessToken(token, None)  # nothing better to offer; the API will judge
            if expires_at is not None and self._clock() < expires_at - self.oauth.refresh_margin:
                return AccessToken(token, expires_at)
        if refresh is None:
            state = "was refused" if token in self._rejected else "has expired"
            raise AuthenticationError(
                f"{self._who}: the {self.oauth.cli} access token {state} and {self.path} holds no refresh_token; "
                f"{self.oauth.login_hint} again",
                provider=self._who,
            )
        return await self._refresh(client, timeout, data, refresh)

    async def _refresh(
        self, client: httpx.AsyncClient, timeout: httpx.Timeout, data: dict[str, Any], refresh: str
    ) -> AccessToken:
        who = self._who
        now = self._clock()
        self.refreshes += 1
        try:
            response = await client.post(
                self.token_url,
                content=form_encode(self._form(refresh)),
                headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            raise APITimeoutError(
                f"{who}: the {self.oauth.cli} token endpoint timed out ({type(exc).__name__})"
            ) from None
        except httpx.TransportError as exc:
            detail = redact(str(exc) or type(exc).__name__, (refresh,))
            raise APIConnectionError(
                f"{who}: could not reach the token endpoint {self.token_url.split('?', 1)[0]} ({detail})"
            ) from None
        secrets = (refresh, _nonempty(data.get("access_token")))
        if response.status_code >= 400:
            raise self._endpoint_error(response.status_code, response.headers, response.content, secrets)
        try:
            answer: Any = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise ProviderError(
                f"{who}: the token endpoint answered {response.status_code} without a JSON object",
                provider=who,
                status=response.status_code,
            )
        fields: dict[str, Any] = answer  # pyright: ignore[reportUnknownVariableType]
        if fields.get("error"):
            # Roo's Qwen handler also treats a 200 carrying "error" as a failed refresh.
            body = json.dumps(fields).encode()
            raise self._endpoint_error(400, response.headers, body, secrets)
        access = _nonempty(fields.get("access_token"))
        if access is None:
            raise ProviderError(
                f"{who}: the token endpoint answered without an access_token", provider=who, status=response.status_code
            )
        expires_in = fields.get("expires_in")
        if isinstance(expires_in, str) and expires_in.isdigit():
            expires_in = int(expires_in)
        if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)) or expires_in <= 0:
            expires_in = _DEFAULT_EXPIRES_IN
        updated = dict(data)
        for name in _TOKEN_FIELDS:
            value = _nonempty(fields.get(name))
            if value is not None:
                updated[name] = value
        expires_at = now + float(expires_in)
        updated["expiry_date"] = int(expires_at * 1000)
        self._remember(updated)
        self.credentials = updated
        try:
            await to_thread(write_credentials, self.path, updated)
        except OSError as exc:
            _log.warning(
                "%s: could not save the refreshed credentials to %s (%s); using them in memory",
                who,
                self.path,
                exc.strerror or type(exc).__name__,
            )
        return AccessToken(access, expires_at)

    def _endpoint_error(
        self, status: int, headers: Mapping[str, str], body: bytes, secrets: tuple[Optional[str], ...]
    ) -> ProviderError:
        parsed = token_endpoint_error(status, headers, body, secrets=secrets)
        detail = parsed.message.removeprefix("token endpoint: ")
        message = f"{self._who}: refreshing the {self.oauth.cli} token failed: {detail}"
        if isinstance(parsed, AuthenticationError):
            message += f"; {self.oauth.login_hint} again"
        return type(parsed)(
            message,
            provider=self._who,
            status=parsed.status,
            error_type=parsed.error_type,
            retry_after=parsed.retry_after,
            body=parsed.body,
            headers=parsed.headers,
        )


class DeferredChatStream(ChatStream):
    """A :class:`ChatStream` whose request is built when it starts, after the provider
    has authenticated (see the module docs). Until then it knows only the model."""

    def __init__(
        self,
        provider: OAuthCLIProvider,
        build: Callable[[], HttpCall],
        *,
        model: str,
        timeout: Optional[float],
        coalesce: bool = True,
        **options: Any,
    ) -> None:
        placeholder = HttpCall(
            method="POST", url="", headers={}, dialect=provider.stream_dialect, model=model, timeout=timeout
        )
        super().__init__(provider, placeholder, coalesce=coalesce, **options)
        self._oauth_provider = provider
        self._build: Optional[Callable[[], HttpCall]] = build
        self._failure: Optional[BaseException] = None

    async def start(self) -> None:
        if self._failure is not None:
            raise self._failure
        build = self._build
        if build is not None and not self.closed:
            self._build = None
            try:
                await self._oauth_provider.authenticate()
                self._call = build()
            except BaseException as exc:
                # Nothing was sent; later calls raise the same error instead of sending
                # the placeholder request.
                self._failure = exc
                raise
        await super().start()


class OAuthCLIProvider(Provider):
    """Base of the providers authenticated by a CLI's credentials file (see the module docs).

    Subclasses set :attr:`oauth` and :attr:`stream_dialect`, call :meth:`_init_oauth`
    from their ``__init__`` and build requests with :attr:`api_key` as the bearer token
    (it holds the current access token once :meth:`authenticate` ran).
    """

    oauth: ClassVar[CLIOAuth]
    #: The StreamProcessor dialect of this provider's streams.
    stream_dialect: ClassVar[str]
    # The key is the OAuth access token, never an environment variable.
    api_key_env: ClassVar[tuple[str, ...]] = ()

    _oauth_path_arg: Optional[str]
    _token_url_arg: Optional[str]
    _clock: Clock
    _source: Optional[CredentialsFileSource]
    _cache: Optional[TokenCache]
    _token: Optional[str]

    def _init_oauth(
        self,
        *,
        oauth_path: Optional[Union[str, os.PathLike[str]]],
        token_url: Optional[str],
        clock: Optional[Clock],
    ) -> None:
        """Record the OAuth settings (no file access)."""
        self._oauth_path_arg = os.fspath(oauth_path) if oauth_path is not None else None
        self._token_url_arg = token_url
        self._clock = clock if clock is not None else time.time
        self._source = None
        self._cache = None
        self._token = None

    # -- configuration --------------------------------------------------------------------------
    @property
    def oauth_path(self) -> Path:
        """The credentials file: ``oauth_path=``, else the environment variable, else the
        CLI's default (``~`` expanded; no file access)."""
        raw = self._oauth_path_arg or os.environ.get(self.oauth.path_env) or self.oauth.default_path
        return Path(os.path.abspath(os.path.expanduser(raw)))

    @property
    def token_url(self) -> str:
        """The OAuth token endpoint (``token_url=`` or the CLI's)."""
        return self._token_url_arg or self.oauth.token_url

    @property
    def api_key(self) -> Optional[str]:
        """The bearer token: ``api_key=`` if given, else the access token loaded from the
        credentials file (``None`` before the first request)."""
        return self._api_key_arg or self._token

    @property
    def credentials(self) -> Optional[Mapping[str, Any]]:
        """The credentials document last read or refreshed (``None`` before the first request)."""
        return self._source.credentials if self._source is not None else None

    def has_credentials(self) -> bool:
        """Whether a static token was given or the credentials file exists (no read)."""
        return bool(self._api_key_arg) or self.oauth_path.is_file()

    def _secrets(self) -> tuple[Optional[str], ...]:
        extra: tuple[str, ...] = ()
        if self._cache is not None:
            extra += self._cache.secrets()
        if self._source is not None:
            extra += self._source.secrets()
        return (self._api_key_arg, self._token, *extra)

    def __repr__(self) -> str:
        if self._api_key_arg:
            state = "static token"
        else:
            state = f"oauth_path={str(self.oauth_path)!r} token={'loaded' if self._token else 'not loaded'}"
        return f"<{type(self).__name__} {self.name!r} {state}>"

    def refresh_form(self, refresh_token: str) -> dict[str, str]:
        """The token endpoint form for ``refresh_token`` (Roo's Qwen order; Gemini overrides it)."""
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.oauth.client_id}
        if self.oauth.client_secret:
            form["client_secret"] = self.oauth.client_secret
        return form

    # -- tokens ---------------------------------------------------------------------------------
    def _token_cache(self) -> tuple[TokenCache, CredentialsFileSource]:
        if self._cache is None or self._source is None:
            self._source = CredentialsFileSource(
                self.oauth,
                self.oauth_path,
                token_url=self.token_url,
                form=self.refresh_form,
                provider=self.name,
                clock=self._clock,
            )
            self._cache = TokenCache(self._source, clock=self._clock, refresh_margin=self.oauth.refresh_margin)
        return self._cache, self._source

    async def access_token(self) -> str:
        """A valid access token (read from the file, or refreshed; see the module docs)."""
        if self._api_key_arg:
            return self._api_key_arg
        cache, _ = self._token_cache()
        token = await cache.get(self.http_client, timeout=self.timeouts.httpx_timeout())
        self._token = token
        return token

    async def authenticate(self) -> None:
        """Load (or refresh) the access token and do the provider's one-time setup."""
        await self.access_token()
        await self._after_authentication()

    async def _after_authentication(self) -> None:
        """Provider setup that needs a token (Gemini's project discovery)."""
        return None

    async def _resign(self, call: HttpCall) -> Optional[HttpCall]:
        """After a 401: ``call`` signed with another token, or ``None`` when there is none."""
        if self._api_key_arg:
            return None
        header = next((v for k, v in call.headers.items() if k.lower() == "authorization"), "")
        refused = header[len("Bearer ") :] if header.startswith("Bearer ") else None
        cache, source = self._token_cache()
        if refused is not None and refused == self._token:
            source.reject(refused)
            cache.invalidate()
        token = await self.access_token()
        if token == refused:
            return None
        return replace(call, headers=merge_headers(call.headers, {"Authorization": f"Bearer {token}"}))

    # -- transport with one re-authentication -------------------------------------------------------
    async def send(self, call: HttpCall) -> httpx.Response:
        try:
            return await super().send(call)
        except AuthenticationError as exc:
            if exc.status != 401:
                raise
            retry = await self._resign(call)
            if retry is None:
                raise
        _log.debug("%s: the access token was refused; retrying with a new one", self.name)
        return await super().send(retry)

    async def _open(self, call: HttpCall, *, deadline: Optional[float]) -> httpx.Response:
        try:
            return await super()._open(call, deadline=deadline)
        except AuthenticationError as exc:
            if exc.status != 401:
                raise
            retry = await self._resign(call)
            if retry is None:
                raise
        _log.debug("%s: the access token was refused; retrying the stream with a new one", self.name)
        return await super()._open(retry, deadline=deadline)

    # -- the public interface: authenticate first ------------------------------------------------
    async def chat(self, request: ChatRequest) -> ChatResponse:
        await self.authenticate()
        return await super().chat(request)

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        await self.authenticate()
        return await super().complete(request)

    def _deferred_stream(self, build: Callable[[], HttpCall], *, model: str, timeout: Optional[float]) -> ChatStream:
        """The stream object for a request built by ``build`` (subclasses may add options)."""
        return DeferredChatStream(self, build, model=model, timeout=timeout, coalesce=self.coalesce)

    def chat_stream(self, request: ChatRequest) -> ChatStream:
        return self._deferred_stream(
            lambda: self.build_chat_call(request, stream=True), model=request.model, timeout=request.timeout
        )

    def complete_stream(self, request: CompletionRequest) -> ChatStream:
        def build() -> HttpCall:
            call = self.build_completion_call(request, stream=True)
            return call if call is not None else self.build_chat_call(request.as_chat(), stream=True)

        return self._deferred_stream(build, model=request.model, timeout=request.timeout)

    async def _probe(self) -> None:
        # Healthy when a valid token can be had (refreshing it if needed) and the
        # provider's setup succeeds; no tokens are spent on a generation.
        await self.authenticate()
