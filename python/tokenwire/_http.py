"""HTTP plumbing shared by every provider: one SSL context per process, client
construction, timeouts, request ids, retry hints and error mapping.

Building an ``httpx.AsyncClient`` loads the CA bundle into a new SSL context unless one
is passed in: 34 providers built naively cost ~0.5 s and ~30 MB. Every client here
shares one lazily created context instead.

Per request, the endpoint URL string is parsed once and remembered (:func:`parsed_url`),
and the clients built here keep no cookies from responses, as Roo-Code's fetch-based
clients keep none (:class:`Cookies`).
"""

from __future__ import annotations

import email.utils
import json
import ssl
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Optional

import anyio
import httpx

from tokenwire.errors import (
    AuthenticationError,
    OverloadedError,
    ProviderError,
    RateLimitError,
    ServerError,
    error_class_for_status,
    error_class_for_type,
)

__all__ = [
    "DEFAULT_LIMITS",
    "REQUEST_ID_HEADERS",
    "ConnectionGate",
    "Cookies",
    "PoolStats",
    "Slot",
    "Timeouts",
    "error_from_response",
    "new_async_client",
    "hold_slot",
    "parse_retry_after",
    "parsed_url",
    "pool_limit",
    "redact",
    "request_id_from",
    "shared_ssl_context",
    "use_own_cookies",
]

_ssl_lock = threading.Lock()
_ssl_context: Optional[ssl.SSLContext] = None


def shared_ssl_context() -> ssl.SSLContext:
    """The process-wide SSL context (created on first use; thread-safe)."""
    global _ssl_context
    if _ssl_context is None:
        with _ssl_lock:
            if _ssl_context is None:
                _ssl_context = httpx.create_ssl_context()
    return _ssl_context


@dataclass(frozen=True)
class Timeouts:
    """Timeouts in seconds.

    - ``connect``: establishing the connection;
    - ``read``: waiting for response bytes of a non-streaming response;
    - ``write``: sending the request; ``pool``: waiting for a pooled connection (behind
      the other requests of the provider when all its connections are busy);
    - ``idle``: the longest silence allowed between two chunks of a stream;
    - ``total``: the whole request, the wait for a connection and the stream included
      (``None``: no limit).

    The defaults follow the official SDKs (10 minutes to read; 5 s to connect).
    """

    connect: float = 5.0
    read: float = 600.0
    write: float = 600.0
    pool: float = 600.0
    idle: float = 300.0
    total: Optional[float] = None

    def httpx_timeout(self, *, stream: bool = False) -> httpx.Timeout:
        # Asked for on every request: built once per instance (the fields are frozen)
        # and kept outside the dataclass fields, so eq/hash/repr are unchanged.
        name = "_httpx_stream" if stream else "_httpx_plain"
        cached: Optional[httpx.Timeout] = self.__dict__.get(name)
        if cached is None:
            read = min(self.read, self.idle) if stream else self.read
            cached = httpx.Timeout(connect=self.connect, read=read, write=self.write, pool=self.pool)
            object.__setattr__(self, name, cached)
        return cached


DEFAULT_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=200, keepalive_expiry=30.0)


class Cookies(httpx.Cookies):
    """The cookie store of the clients tokenwire creates: it keeps the cookies set on it
    explicitly and ignores ``Set-Cookie`` from responses.

    Roo-Code's provider SDKs run on ``fetch``, which keeps no cookies: a provider's
    ``Set-Cookie`` (Cloudflare's ``__cf_bm`` in front of most hosted APIs) is never sent
    back, and tokenwire's requests carry no ``Cookie`` header either. It is also cheaper:
    for every response httpx would otherwise wrap the request and the response in
    ``urllib`` compatibility objects and parse the headers into an
    ``email.message.Message`` (~30 µs in place), and add the cookies to every request.
    Pass an ``http_client`` of your own to keep cookies (sticky sessions behind a load
    balancer, say).
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


def use_own_cookies(client: httpx.AsyncClient) -> bool:
    """Give ``client`` a :class:`Cookies` store (with its current cookies) if it still
    has httpx's own; ``False`` when this httpx keeps its store where this cannot reach."""
    current = getattr(client, "_cookies", None)
    if type(current) is not httpx.Cookies:
        return isinstance(current, Cookies)
    client._cookies = Cookies(current.jar)  # type: ignore[attr-defined]  # the store httpx consults per response
    return True


_URLS: dict[str, httpx.URL] = {}
_URLS_MAX = 512


def parsed_url(url: str) -> httpx.URL:
    """``httpx.URL(url)``, remembered: a provider sends to a handful of endpoint URLs,
    and parsing one costs ~8 µs, twice per request when httpx is given the string.
    (``httpx.URL`` is immutable; the cache is cleared when it fills up.)"""
    found = _URLS.get(url)
    if found is None:
        if len(_URLS) >= _URLS_MAX:
            _URLS.clear()
        found = _URLS[url] = httpx.URL(url)
    return found


def new_async_client(
    timeouts: Timeouts,
    *,
    limits: httpx.Limits = DEFAULT_LIMITS,
    http2: bool = False,
) -> httpx.AsyncClient:
    """A pooled ``httpx.AsyncClient`` sharing the process SSL context (keeping no
    response cookies: see :class:`Cookies`)."""
    client = httpx.AsyncClient(
        verify=shared_ssl_context(),
        timeout=timeouts.httpx_timeout(),
        limits=limits,
        http2=http2,
        follow_redirects=False,
        trust_env=True,
    )
    use_own_cookies(client)
    return client


def pool_limit(client: httpx.AsyncClient) -> Optional[int]:
    """The most connections ``client``'s pool opens at once, or ``None`` when that is
    unlimited or cannot be known.

    httpx keeps its ``Limits`` only inside the transport's httpcore pool; this reads the
    default transport's pool and answers ``None`` for anything else (a custom or mocked
    transport), so callers fall back to letting httpx queue.
    """
    transport = getattr(client, "_transport", None)
    if not isinstance(transport, httpx.AsyncHTTPTransport):
        return None
    limit = getattr(getattr(transport, "_pool", None), "_max_connections", None)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1 or limit >= sys.maxsize:
        return None  # ``Limits(max_connections=None)`` reaches httpcore as sys.maxsize
    return limit


@dataclass(frozen=True)
class PoolStats:
    """A :class:`ConnectionGate`'s state: ``limit`` requests at once (``None``: no gate),
    ``in_use`` of them held, ``waiting`` callers queued for one."""

    limit: Optional[int]
    in_use: int
    waiting: int


class Slot:
    """Permission for one request to use a pooled connection; :meth:`release` it once the
    response is closed (releasing again does nothing)."""

    __slots__ = ("_semaphore",)

    def __init__(self, semaphore: anyio.Semaphore) -> None:
        self._semaphore: Optional[anyio.Semaphore] = semaphore

    def release(self) -> None:
        semaphore = self._semaphore
        if semaphore is not None:
            self._semaphore = None
            semaphore.release()

    @property
    def released(self) -> bool:
        return self._semaphore is None


class ConnectionGate:
    """Lets at most ``limit`` requests of one provider at a time into its connection
    pool; the others wait their turn, first come first served.

    Why: httpcore queues requests beyond ``max_connections`` itself, but at every pool
    event (a request sent, a response closed) it matches every queued request against
    every connection, which is quadratic: 2,000 streams over a 100-connection pool spend
    92% of their time there, and 10,000 over 1,000 connections never finish. Waiting
    here instead costs O(1) per request, and the pool never holds a queued request.
    The semaphore is created on first use, inside the event loop that uses it.
    """

    __slots__ = ("_semaphore", "limit")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a connection gate needs a limit >= 1, not {limit}")
        self.limit = limit
        self._semaphore: Optional[anyio.Semaphore] = None

    async def acquire(self, timeout: Optional[float]) -> Slot:
        """Wait (at most ``timeout`` seconds; ``None``: forever) for a slot.

        Raises ``TimeoutError`` when the wait runs out; cancellation while waiting takes
        no slot.
        """
        semaphore = self._semaphore
        if semaphore is None:
            semaphore = self._semaphore = anyio.Semaphore(self.limit)
        if semaphore.value > 0:
            # A free slot means nobody is queued (a release hands its slot straight to
            # the first waiter), so taking it now is fair, and needs no timer.
            semaphore.acquire_nowait()
        elif timeout is None:
            await semaphore.acquire()
        else:
            with anyio.fail_after(max(0.0, timeout)):
                await semaphore.acquire()
        return Slot(semaphore)

    def stats(self) -> PoolStats:
        semaphore = self._semaphore
        if semaphore is None:
            return PoolStats(self.limit, 0, 0)
        return PoolStats(self.limit, self.limit - semaphore.value, semaphore.statistics().tasks_waiting)


class _SlotStream(httpx.AsyncByteStream):
    """A response body stream that releases its request's :class:`Slot` when closed."""

    __slots__ = ("_slot", "_stream")

    def __init__(self, stream: httpx.AsyncByteStream, slot: Slot) -> None:
        self._stream = stream
        self._slot = slot

    def __aiter__(self) -> AsyncIterator[bytes]:
        # The wrapped iterator itself: no extra hop per chunk.
        return self._stream.__aiter__()

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        finally:
            self._slot.release()


def hold_slot(response: httpx.Response, slot: Slot) -> None:
    """Tie ``slot`` to ``response``: closing the response (``aclose``, or reading it to
    the end) releases the slot, whoever closes it."""
    stream = response.stream
    if not isinstance(stream, httpx.AsyncByteStream):  # pragma: no cover - AsyncClient responses are async
        slot.release()
        raise TypeError("hold_slot needs a response of an httpx.AsyncClient")
    if response.is_closed:  # already read (httpx reads a response built from bytes)
        slot.release()
        return
    response.stream = _SlotStream(stream, slot)


_TRANSIENT = (OverloadedError, RateLimitError, ServerError)

REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-amzn-requestid", "x-goog-request-id", "cf-ray")


def request_id_from(headers: Mapping[str, str]) -> Optional[str]:
    """The provider's request id from response headers (OpenAI ``x-request-id``,
    Anthropic ``request-id``, AWS ``x-amzn-requestid``, …)."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def parse_retry_after(headers: Mapping[str, str], *, now: Optional[float] = None) -> Optional[float]:
    """Seconds to wait from ``retry-after-ms`` (ms) or ``retry-after`` (seconds or an
    HTTP date), as the official SDKs read them. ``None`` when absent or unparsable."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            value = float(raw_ms) / 1000.0
            if value >= 0:
                return value
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
        return value if value >= 0 else None
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(raw)
    if parsed is None:
        return None
    when = email.utils.mktime_tz(parsed)
    return max(0.0, when - (time.time() if now is None else now))


def redact(text: str, secrets: Iterable[Optional[str]]) -> str:
    """Replace every occurrence of each secret (API keys, tokens) with ``***``."""
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in text:
            text = text.replace(secret, "***")
    return text


def _google_retry_delay(error: Mapping[str, Any]) -> Optional[float]:
    # Gemini puts RetryInfo in error.details: {"@type": "...RetryInfo", "retryDelay": "20s"}.
    for detail in error.get("details") or ():
        if isinstance(detail, Mapping) and str(detail.get("@type", "")).endswith("RetryInfo"):
            delay = detail.get("retryDelay")
            if isinstance(delay, str) and delay.endswith("s"):
                try:
                    return float(delay[:-1])
                except ValueError:
                    return None
    return None


_GOOGLE_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "ACCESS_TOKEN_EXPIRED"})


def _google_reason(parsed: Any) -> Optional[str]:
    """The ``reason`` of a Google ``ErrorInfo`` detail, if the body has one."""
    err = parsed.get("error") if isinstance(parsed, Mapping) else None
    for detail in (err.get("details") or ()) if isinstance(err, Mapping) else ():
        if isinstance(detail, Mapping) and isinstance(detail.get("reason"), str):
            return str(detail["reason"])
    return None


def error_from_response(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    provider: Optional[str],
    model: Optional[str],
    secrets: Iterable[Optional[str]] = (),
) -> ProviderError:
    """Map an HTTP error response to the matching :class:`ProviderError` subclass.

    Reads the OpenAI (``{"error": {"message", "type", "code"}}``), Anthropic
    (``{"type": "error", "error": {"type", "message"}}``), Google
    (``{"error": {"code", "status", "message", "details"}}``) and AWS
    (``{"message"}`` + ``x-amzn-errortype``) shapes; anything else keeps the body text
    as the message. The provider's message is kept verbatim, except that any secret
    echoed back is redacted.
    """
    secrets = tuple(secrets)
    text = body.decode("utf-8", errors="replace")
    parsed: Any = None
    message: Optional[str] = None
    error_type: Optional[str] = None
    code: Optional[str] = None
    retry_after = parse_retry_after(headers)
    try:
        parsed = json.loads(text) if text.strip() else None
    except ValueError:
        parsed = None
    if isinstance(parsed, Mapping):
        err = parsed.get("error")
        if isinstance(err, Mapping):
            raw_message = err.get("message")
            message = raw_message if isinstance(raw_message, str) else None
            raw_type = err.get("type", err.get("status"))
            error_type = raw_type if isinstance(raw_type, str) else None
            raw_code = err.get("code")
            if isinstance(raw_code, (str, int)) and not isinstance(raw_code, bool):
                code = str(raw_code)
            if retry_after is None:
                retry_after = _google_retry_delay(err)
        elif isinstance(err, str):
            message = err
        else:
            raw_message = parsed.get("message", parsed.get("Message"))
            message = raw_message if isinstance(raw_message, str) else None
    aws_type = headers.get("x-amzn-errortype")
    if aws_type and error_type is None:
        error_type = aws_type.split(":", 1)[0]
    if message is None:
        message = text.strip() or f"HTTP {status}"
    cls = error_class_for_status(status)
    if _google_reason(parsed) in _GOOGLE_AUTH_REASONS:
        # Google answers a bad API key with 400 INVALID_ARGUMENT; the reason says what it is.
        cls = AuthenticationError
    by_type = error_class_for_type(error_type)
    # For 5xx and unmapped statuses the provider's error type is more specific (Anthropic
    # sends overloaded_error with 529, gateways with 500/503; Google UNAVAILABLE with 503).
    if by_type is not None and (cls is ProviderError or (status >= 500 and issubclass(by_type, _TRANSIENT))):
        cls = by_type
    should = headers.get("x-should-retry")
    should_retry = None if should is None else should.strip().lower() == "true"
    return cls(
        redact(message, secrets),
        provider=provider,
        model=model,
        status=status,
        request_id=request_id_from(headers),
        error_type=error_type,
        code=code,
        retry_after=retry_after,
        should_retry=should_retry,
        body=parsed if parsed is not None else redact(text, secrets),
        headers=headers,
    )
