"""The provider interface and the machinery every adapter shares.

A provider turns provider-neutral requests (:mod:`tokenwire.types`) into HTTP calls
(:class:`HttpCall`) and responses back into tokens and :class:`ChatResponse` objects.
Subclasses implement the ``build_*``/``parse_*`` hooks; this module owns the HTTP
client (one pooled ``httpx.AsyncClient`` per provider instance, created on first use
and sharing the process SSL context), timeouts, request-id capture, error mapping and
the streaming loop that feeds raw socket bytes to the native ``StreamProcessor``.

Credentials are resolved lazily: a provider can be created without a key and without
network; a missing key is a :class:`~tokenwire.errors.ConfigurationError` at the first
request. Keys never appear in ``repr``, logs or exceptions.
"""

from __future__ import annotations

import abc
import os
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import AsyncGeneratorType, TracebackType
from typing import Any, ClassVar, Optional, TypeVar, cast

import anyio
import httpx

from tokenwire._backend import impl as _impl
from tokenwire._deadline import fail_at
from tokenwire._http import (
    DEFAULT_LIMITS,
    ConnectionGate,
    PoolStats,
    Slot,
    Timeouts,
    error_from_response,
    hold_slot,
    new_async_client,
    parsed_url,
    pool_limit,
    redact,
    request_id_from,
)
from tokenwire.errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    ProviderError,
    TokenwireError,
)
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    Citation,
    CompletionRequest,
    CompletionResponse,
    HealthStatus,
    ModelInfo,
    ProviderCapabilities,
    StreamToken,
    ToolCall,
    Usage,
)

__all__ = ["ChatStream", "HttpCall", "Provider", "ResponseAccumulator", "drop_none", "merge_headers", "stop_list"]

_S = TypeVar("_S", bound="ChatStream")
# Delivered tokens are folded into the accumulator once this many have gathered.
_FOLD_EVERY = 64
_P = TypeVar("_P", bound="Provider")


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request a provider wants sent.

    ``dialect`` names the ``StreamProcessor`` dialect for streaming calls and
    ``stream_options`` its dialect options; ``model`` is the model id for error reports;
    ``timeout`` overrides the total timeout.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    json: Any = None
    params: Mapping[str, str] = field(default_factory=dict)
    dialect: Optional[str] = None
    model: Optional[str] = None
    timeout: Optional[float] = None
    #: Extra keyword options for the ``StreamProcessor`` (dialect stream options).
    stream_options: Mapping[str, Any] = field(default_factory=dict)
    #: The exact body bytes, when the provider serialized the body itself (a signed
    #: request must carry the bytes that were signed); used instead of ``json``.
    content: Optional[bytes] = None


class ResponseAccumulator:
    """Collects stream tokens into a :class:`ChatResponse` (text, reasoning, tool calls
    assembled by index, usage, finish reason, citations)."""

    __slots__ = ("_calls", "_reasoning", "_text", "citations", "finish_reason", "usage")

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, list[Any]] = {}
        self.usage: Optional[Usage] = None
        self.finish_reason: Optional[str] = None
        self.citations: list[Citation] = []

    def add(self, token: StreamToken) -> None:
        kind = token.kind
        if kind == "text":
            self._text.append(token.text)  # type: ignore[union-attr]
        elif kind == "reasoning":
            self._reasoning.append(token.text)  # type: ignore[union-attr]
        elif kind == "tool_call":
            call = self._calls.setdefault(token.index, [None, None, []])  # type: ignore[union-attr]
            if token.id and call[0] is None:  # type: ignore[union-attr]
                call[0] = token.id  # type: ignore[union-attr]
            if token.name and call[1] is None:  # type: ignore[union-attr]
                call[1] = token.name  # type: ignore[union-attr]
            call[2].append(token.arguments)  # type: ignore[union-attr]
        elif kind == "usage":
            self.usage = token  # type: ignore[assignment]
        elif kind == "finish":
            self.finish_reason = token.reason  # type: ignore[union-attr]
        elif kind == "citation":
            self.citations.append(token)  # type: ignore[arg-type]

    def extend(self, tokens: Iterable[StreamToken]) -> None:
        """:meth:`add` every token of ``tokens`` (text, the common case, inline)."""
        text = self._text.append
        add = self.add
        for token in tokens:
            if token.kind == "text":
                text(token.text)  # type: ignore[union-attr]
            else:
                add(token)

    @property
    def text(self) -> str:
        return "".join(self._text)

    @property
    def reasoning(self) -> str:
        return "".join(self._reasoning)

    def tool_calls(self) -> tuple[ToolCall, ...]:
        out = []
        for index, (call_id, name, parts) in sorted(self._calls.items()):
            out.append(ToolCall(id=call_id or f"call_{index}", name=name or "", arguments="".join(parts)))
        return tuple(out)

    def response(self, *, model: str, provider: str, request_id: Optional[str]) -> ChatResponse:
        return ChatResponse(
            text=self.text,
            model=model,
            provider=provider,
            reasoning=self.reasoning,
            tool_calls=self.tool_calls(),
            usage=self.usage,
            finish_reason=self.finish_reason,
            citations=tuple(self.citations),
            request_id=request_id,
        )


class ChatStream:
    """A streaming answer: an async iterator of stream tokens and an async context manager.

    Leaving the ``async with`` block (or calling :meth:`aclose`) closes the HTTP
    response, so stopping early releases the connection. Tokens decoded before an error
    are always delivered first; a connection cut mid-stream then raises
    :class:`~tokenwire.errors.APIConnectionError`, an error event raises the matching
    :class:`~tokenwire.errors.ProviderError`.

    Subclasses that reshape the token sequence override :meth:`_fill` (which tops up
    ``_pending`` from the network, raising ``StopAsyncIteration`` at the end).
    """

    #: Whether ``__anext__`` runs on one async generator (the fast path). Only when
    #: :meth:`aclose` is this class's, which closes that generator: one left suspended
    #: would be finalized by the GC as a stray task on the loop.
    _iterates: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._iterates = cls.aclose is ChatStream.aclose

    def __init__(self, provider: Provider, call: HttpCall, *, coalesce: bool = True) -> None:
        if call.dialect is None:
            raise ValueError("a streaming HttpCall needs a dialect")
        self._provider = provider
        self._call = call
        self._coalesce = coalesce
        self._response: Optional[httpx.Response] = None
        self._raw: Optional[AsyncIterator[bytes]] = None
        self._processor: Any = None
        # Decoded, not yet handed out. A list, not a deque: batches are a few tokens (the
        # front pop is cheap) and an empty deque costs ~0.8 KB, times every open stream.
        self._pending: list[StreamToken] = []
        # Delivered tokens not yet folded into the accumulator: appending here is much
        # cheaper per token than ResponseAccumulator.add; they are folded in batches.
        self._delivered: list[StreamToken] = []
        self._accumulator = ResponseAccumulator()
        # The async generator behind __anext__ (created on the first step).
        self._tokens: Optional[AsyncGeneratorType[StreamToken, None]] = None
        # Told how the iteration ended (None: the stream's end), once; see _iterate.
        self._on_end: Optional[Callable[[Optional[BaseException]], None]] = None
        self._finished = False
        self._closed = False
        self._started_at = 0.0
        self._deadline: Optional[float] = None
        # httpx's limit on each socket read of this stream (see _next_chunk_by_deadline).
        self._read_limit = 0.0
        self._bytes = 0
        #: Seconds from sending the request to the first token, once known.
        self.ttft: Optional[float] = None

    # -- context manager / iterator protocol -------------------------------------------------
    async def __aenter__(self: _S) -> _S:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    def __aiter__(self) -> AsyncIterator[StreamToken]:
        # ``async for`` steps the generator itself: no call of ours per token.
        return self._generator() if self._iterates else self

    def __anext__(self) -> Awaitable[StreamToken]:
        # One async generator does the whole iteration: per token that is one generator
        # step instead of a chain of coroutines (this is the per-event hot path).
        if not self._iterates:
            return self._next_filled()
        return (self._tokens or self._generator()).__anext__()

    def _generator(self) -> AsyncGeneratorType[StreamToken, None]:
        tokens = self._tokens
        if tokens is None:
            tokens = self._tokens = cast("AsyncGeneratorType[StreamToken, None]", self._iterate())
        return tokens

    def _outcome(self) -> tuple[Optional[Usage], Optional[str]]:
        """``(accumulator.usage, accumulator.finish_reason)`` without folding the
        delivered tokens in (the last of each wins, as in the accumulator)."""
        usage: Optional[Usage] = None
        finish: Optional[str] = None
        for token in reversed(self._delivered):
            kind = token.kind
            if kind == "usage":
                if usage is None:
                    usage = token  # type: ignore[assignment]
                    if finish is not None:
                        break
            elif kind == "finish" and finish is None:
                finish = token.reason  # type: ignore[union-attr]
                if usage is not None:
                    break
        accumulator = self._accumulator
        return (
            usage if usage is not None else accumulator.usage,
            finish if finish is not None else accumulator.finish_reason,
        )

    def _unread(self, token: StreamToken) -> None:
        """Put back ``token``, the last one handed out: the iteration hands it out again
        (and it is delivered once)."""
        delivered = self._delivered
        if not delivered or delivered[-1] is not token:
            # Folded into the accumulator already, or not the last one: it cannot go back.
            raise RuntimeError("only the last token handed out can be put back")
        delivered.pop()
        self._pending.insert(0, token)

    async def _next_filled(self) -> StreamToken:
        """One step without the generator (for subclasses with an aclose of their own)."""
        pending = self._pending
        if not pending:
            await self._fill()
            if len(self._delivered) >= _FOLD_EVERY:
                self._fold()
        token = pending.pop(0)
        self._delivered.append(token)
        return token

    @property
    def model(self) -> Optional[str]:
        return self._call.model

    @property
    def provider(self) -> Provider:
        return self._provider

    @property
    def headers(self) -> httpx.Headers:
        """Response headers (empty before the response arrives)."""
        return self._response.headers if self._response is not None else httpx.Headers()

    @property
    def request_id(self) -> Optional[str]:
        return request_id_from(self.headers)

    @property
    def accumulator(self) -> ResponseAccumulator:
        """Every token delivered so far, assembled (text, tool calls, usage, finish)."""
        if self._delivered:
            self._fold()
        return self._accumulator

    async def start(self) -> None:
        """Send the request and check the status (idempotent)."""
        if self._response is not None or self._closed:
            return
        provider = self._provider
        self._started_at = time.perf_counter()
        total = self._call.timeout if self._call.timeout is not None else provider.timeouts.total
        self._deadline = None if total is None else self._started_at + total
        self._read_limit = provider.timeouts.httpx_timeout(stream=True).read or 0.0
        self._processor = _impl.StreamProcessor(
            self._call.dialect, coalesce=self._coalesce, **self._call.stream_options
        )
        response = await provider._open(self._call, deadline=self._deadline)
        self._response = response
        self._raw = response.aiter_raw()

    async def _iterate(self) -> AsyncGenerator[StreamToken, None]:
        # The end (normal, an error, or the task cancelled) is reported to _on_end, once:
        # a manager finishes its attempt there without a coroutine of its own per token.
        # (GeneratorExit is aclose: the owner of the stream closed it and knows.)
        try:
            pending = self._pending
            deliver = self._delivered.append
            if type(self)._fill is not ChatStream._fill:
                # A subclass makes or reshapes the tokens in its _fill (which also starts it).
                fill = self._fill
                delivered = self._delivered
                while True:
                    while pending:
                        token = pending.pop(0)
                        deliver(token)
                        yield token
                    try:
                        await fill()
                    except StopAsyncIteration:
                        self._ended(None)
                        return
                    if len(delivered) >= _FOLD_EVERY:
                        self._fold()
            if self._response is None:
                await self.start()
                if self._raw is None:  # closed before it started
                    self._ended(None)
                    return
            # _read inlined: waiting for the next chunk suspends (and resumes) through one
            # frame of ours instead of several; this loop is the per-event hot path.
            assert self._raw is not None
            next_chunk = self._raw.__anext__
            feed = self._processor.feed
            delivered = self._delivered
            deadline = self._deadline
            read_limit = self._read_limit
            while True:
                while pending:
                    token = pending.pop(0)
                    deliver(token)
                    yield token
                if self._finished:
                    self._ended(None)
                    return
                try:
                    if deadline is not None and deadline - time.perf_counter() < read_limit:
                        chunk = await self._next_chunk_by_deadline()
                    else:
                        chunk = await next_chunk()
                except StopAsyncIteration:
                    pending.extend(await self._end())
                    continue
                except (TimeoutError, httpx.TransportError) as exc:
                    raise await self._lost(exc) from exc
                self._bytes += len(chunk)
                try:
                    tokens = feed(chunk)
                except TokenwireError as exc:
                    await self._close()
                    raise self._annotate(exc) from None
                if not tokens:
                    continue
                if self.ttft is None:
                    self.ttft = time.perf_counter() - self._started_at
                if len(delivered) >= _FOLD_EVERY:
                    self._fold()
                if len(tokens) == 1:
                    # Mostly one token per chunk: hand it out without the queue.
                    token = tokens[0]
                    deliver(token)
                    yield token
                else:
                    pending.extend(tokens)
        except Exception as exc:
            self._ended(exc)
            raise
        except BaseException as exc:
            if not isinstance(exc, GeneratorExit):
                self._ended(exc)
            raise

    def _ended(self, error: Optional[BaseException]) -> None:
        hook = self._on_end
        if hook is not None:
            self._on_end = None
            hook(error)

    async def next_batch(self) -> list[StreamToken]:
        """All tokens decoded from the next network chunk(s); ``[]`` at the end of the stream.

        The sync facade uses this to cross threads once per batch instead of per token.
        """
        if not self._pending:
            try:
                await self._fill()
            except StopAsyncIteration:
                return []
        return self._take_decoded()

    def _take_decoded(self) -> list[StreamToken]:
        """Hand out every token decoded and not yet handed out (no reading)."""
        batch = self._pending[:]
        self._pending.clear()  # the same list: the iteration holds on to it
        if len(self._delivered) >= _FOLD_EVERY:
            self._fold()
        self._delivered.extend(batch)
        return batch

    async def _fill(self) -> None:
        """Top up ``_pending`` with at least one token; ``StopAsyncIteration`` at the end."""
        if self._response is None:
            await self.start()
            if self._raw is None:  # closed before it started
                raise StopAsyncIteration
        while not self._pending:
            if self._finished:
                raise StopAsyncIteration
            self._pending.extend(await self._read())

    async def _read(self) -> Sequence[StreamToken]:
        """Read the next network chunk and decode it; at the end of the body, the
        processor's last tokens (and the stream is closed). Errors close the stream."""
        raw = self._raw
        assert raw is not None
        deadline = self._deadline
        try:
            if deadline is not None and deadline - time.perf_counter() < self._read_limit:
                chunk = await self._next_chunk_by_deadline()
            else:
                chunk = await raw.__anext__()
        except StopAsyncIteration:
            return await self._end()
        except (TimeoutError, httpx.TransportError) as exc:
            raise await self._lost(exc) from exc
        self._bytes += len(chunk)
        try:
            tokens: Sequence[StreamToken] = self._processor.feed(chunk)
        except TokenwireError as exc:
            await self._close()
            raise self._annotate(exc) from None
        if tokens:
            if self.ttft is None:
                self.ttft = time.perf_counter() - self._started_at
            if len(self._delivered) >= _FOLD_EVERY:
                self._fold()
        return tokens

    async def _next_chunk_by_deadline(self) -> bytes:
        """The next chunk, cut off at the total deadline (``TimeoutError``).

        Only reads that start within one read timeout of the deadline need this: httpx
        ends every socket read after the read timeout, so a read that starts earlier
        finishes (or fails) before the deadline on its own, and the deadline is checked
        again before the next one. (The cancel scope costs a timer per chunk.)
        """
        assert self._raw is not None and self._deadline is not None
        remaining = self._deadline - time.perf_counter()
        if remaining <= 0:
            raise TimeoutError
        with anyio.fail_after(remaining):
            return await self._raw.__anext__()

    async def _end(self) -> Sequence[StreamToken]:
        """The body ended: the processor's last tokens; the stream is closed."""
        self._finished = True
        try:
            tokens: Sequence[StreamToken] = self._processor.finish()
        except TokenwireError as exc:
            await self._close()
            raise self._annotate(exc) from None
        await self._close()
        if tokens and self.ttft is None:
            self.ttft = time.perf_counter() - self._started_at
        return tokens

    async def _lost(self, exc: BaseException) -> TokenwireError:
        """Close the stream after a failed read; the typed error to raise for ``exc``."""
        await self._close()
        provider = self._provider
        if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
            total = self._call.timeout if self._call.timeout is not None else provider.timeouts.total
            return APITimeoutError(
                f"{provider.name}: stream timed out after {self._bytes} bytes "
                f"(idle limit {provider.timeouts.idle}s, total limit {total}s)"
            )
        return APIConnectionError(
            f"{provider.name}: connection lost mid-stream after {self._bytes} bytes: "
            f"{redact(str(exc) or type(exc).__name__, provider._secrets())}"
        )

    def _fold(self) -> None:
        # Delivered tokens are folded in batches: a long stream must not keep them all.
        delivered = self._delivered
        self._accumulator.extend(delivered)
        delivered.clear()

    def _annotate(self, exc: TokenwireError) -> TokenwireError:
        if isinstance(exc, ProviderError):
            exc.provider = exc.provider or self._provider.name
            exc.model = exc.model or self._call.model
            exc.request_id = exc.request_id or self.request_id
        return exc

    async def aclose(self) -> None:
        """Close the HTTP response (releasing its connection). Idempotent."""
        tokens = self._tokens
        if tokens is not None and tokens.ag_frame is not None and not tokens.ag_running:
            # Suspended between two tokens: end it now rather than leave it to the GC,
            # which would finalize it as a stray task on the loop.
            await tokens.aclose()
        await self._close()

    async def _close(self) -> None:
        """Close the response (from inside the iteration too: no generator close)."""
        if self._closed:
            return
        self._closed = True
        try:
            # ``aiter_raw`` is an async generator: close it here, or a stream ended early
            # leaves it to the GC, which schedules its cleanup as a stray task on the loop.
            close_raw = getattr(self._raw, "aclose", None)
            if close_raw is not None:
                await close_raw()
        finally:
            # Also when cancelled above: the response holds the connection (and its slot).
            if self._response is not None:
                await self._response.aclose()

    async def get_final_response(self) -> ChatResponse:
        """Consume the rest of the stream and return the assembled answer."""
        async for _ in self:
            pass
        return self.accumulator.response(
            model=self._call.model or "", provider=self._provider.name, request_id=self.request_id
        )

    @property
    def closed(self) -> bool:
        return self._closed


class Provider(abc.ABC):
    """Base class of every provider adapter.

    Subclasses set the class attributes and implement :meth:`build_chat_call` and
    :meth:`parse_chat_response` (and optionally the completion, model-list and
    token-count hooks). Everything else is shared.
    """

    #: Registry name (``"openai"``, ``"anthropic"``, …).
    name: ClassVar[str]
    #: What the provider supports.
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities()
    #: Environment variables read for the API key / base URL, in order.
    api_key_env: ClassVar[tuple[str, ...]] = ()
    base_url_env: ClassVar[tuple[str, ...]] = ()
    default_base_url: ClassVar[str] = ""
    #: False for local servers (Ollama, LM Studio) that need no key.
    requires_api_key: ClassVar[bool] = True

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        base_url: Optional[str] = None,
        timeouts: Optional[Timeouts] = None,
        headers: Optional[Mapping[str, str]] = None,
        http_client: Optional[httpx.AsyncClient] = None,
        coalesce: bool = True,
    ) -> None:
        self._api_key_arg = api_key
        self._base_url_arg = base_url
        self.timeouts = timeouts or Timeouts()
        self.extra_headers: dict[str, str] = dict(headers or {})
        self._client = http_client
        self._owns_client = http_client is None
        self.coalesce = coalesce
        # Built with the client (sized to its pool); ``None`` also when the pool's size
        # is unknown, and then excess requests queue inside httpx as before.
        self._gate: Optional[ConnectionGate] = None
        self._gate_ready = False

    # -- credentials and configuration -------------------------------------------------------
    @property
    def api_key(self) -> Optional[str]:
        """The API key from the argument or the environment (``None`` if unset)."""
        if self._api_key_arg:
            return self._api_key_arg
        for var in self.api_key_env:
            value = os.environ.get(var)
            if value:
                return value
        return None

    def require_api_key(self) -> str:
        """The API key, or a :class:`ConfigurationError` that names the env var to set."""
        key = self.api_key
        if not key:
            hint = f" or set {' / '.join(self.api_key_env)}" if self.api_key_env else ""
            raise ConfigurationError(f"{self.name}: no API key; pass api_key=...{hint}")
        return key

    @property
    def base_url(self) -> str:
        """The base URL from the argument, the environment, or the provider default."""
        url = self._base_url_arg
        if not url:
            url = next((os.environ[v] for v in self.base_url_env if os.environ.get(v)), None)
        return (url or self.default_base_url).rstrip("/")

    def has_credentials(self) -> bool:
        """Whether a request could be authenticated without further configuration."""
        return (not self.requires_api_key) or bool(self.api_key)

    def _secrets(self) -> tuple[Optional[str], ...]:
        return (self.api_key,)

    def __repr__(self) -> str:
        key = "set" if self.api_key else "missing"
        return f"<{type(self).__name__} {self.name!r} base_url={self.base_url!r} api_key={key}>"

    # -- HTTP ---------------------------------------------------------------------------------
    @property
    def http_client(self) -> httpx.AsyncClient:
        """This provider's pooled client (created on first use)."""
        if self._client is None:
            self._client = new_async_client(self.timeouts)
        return self._client

    def _connection_gate(self) -> Optional[ConnectionGate]:
        """The gate in front of the pool: as many slots as the pool has connections."""
        if not self._gate_ready:
            limit = DEFAULT_LIMITS.max_connections if self._owns_client else pool_limit(self.http_client)
            self._gate = ConnectionGate(limit) if limit is not None else None
            self._gate_ready = True
        return self._gate

    def pool_stats(self) -> PoolStats:
        """How many requests hold one of the pool's connections, how many wait for one,
        and the limit (``None`` when the pool's size is unknown: a custom transport)."""
        gate = self._connection_gate()
        return gate.stats() if gate is not None else PoolStats(None, 0, 0)

    async def _acquire_slot(self, deadline: Optional[float]) -> Optional[Slot]:
        """Wait for a free pooled connection, at most the pool timeout and never past
        ``deadline``; a wait that runs out is an :class:`APITimeoutError`."""
        gate = self._connection_gate()
        if gate is None:
            return None
        wait = self.timeouts.pool
        if deadline is not None:
            wait = min(wait, deadline - time.perf_counter())
        try:
            return await gate.acquire(wait)
        except TimeoutError:
            raise APITimeoutError(
                f"{self.name}: timed out after {max(0.0, wait):.3g}s waiting for a connection "
                f"(all {gate.limit} of the pool's connections in use)"
            ) from None

    async def aclose(self) -> None:
        """Close the pooled client if this provider created it."""
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None
            # A later request builds a new client, and a gate of its own.
            self._gate = None
            self._gate_ready = False

    async def __aenter__(self: _P) -> _P:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    def _build_request(self, call: HttpCall, *, stream: bool) -> httpx.Request:
        client = self.http_client
        timeout = self.timeouts.httpx_timeout(stream=stream)
        return client.build_request(
            call.method,
            parsed_url(call.url),
            headers=call.headers,
            json=call.json if call.content is None else None,
            content=call.content,
            params=dict(call.params) or None,
            timeout=timeout,
        )

    def _connection_error(self, exc: Exception, call: HttpCall) -> TokenwireError:
        detail = redact(str(exc) or type(exc).__name__, self._secrets())
        if isinstance(exc, (httpx.TimeoutException, TimeoutError)):
            return APITimeoutError(f"{self.name}: request timed out ({detail})")
        return APIConnectionError(f"{self.name}: could not reach {call.url.split('?', 1)[0]} ({detail})")

    async def _error_for(self, response: httpx.Response, call: HttpCall) -> ProviderError:
        body = await response.aread()
        return error_from_response(
            response.status_code,
            response.headers,
            body,
            provider=self.name,
            model=call.model,
            secrets=self._secrets(),
        )

    async def _open(self, call: HttpCall, *, deadline: Optional[float]) -> httpx.Response:
        """Send a streaming request; on an HTTP error read the body and raise it mapped.

        The returned response holds a pool slot until it is closed (read to its end or
        ``aclose``), so a stream keeps its place for its whole lifetime."""
        slot = await self._acquire_slot(deadline)
        try:
            # Built once a connection is free: thousands of waiting callers hold no request.
            request = self._build_request(call, stream=True)
            if deadline is None:
                response = await self.http_client.send(request, stream=True)
            else:
                with fail_at(deadline):
                    response = await self.http_client.send(request, stream=True)
        except BaseException as exc:
            if slot is not None:
                slot.release()
            if isinstance(exc, (httpx.TransportError, TimeoutError)):
                raise self._connection_error(exc, call) from None
            raise
        if slot is not None:
            hold_slot(response, slot)
        if response.status_code >= 400:
            try:
                error = await self._error_for(response, call)
            except (httpx.TransportError, TimeoutError) as exc:
                raise self._connection_error(exc, call) from None
            finally:
                await response.aclose()
            raise error
        return response

    async def send(self, call: HttpCall) -> httpx.Response:
        """Send a non-streaming request and return the (read) response; HTTP errors raise
        the mapped :class:`ProviderError`, transport failures :class:`APIConnectionError`."""
        total = call.timeout if call.timeout is not None else self.timeouts.total
        deadline = None if total is None else time.perf_counter() + total
        slot = await self._acquire_slot(deadline)
        try:
            request = self._build_request(call, stream=False)
            if deadline is None:
                response = await self.http_client.send(request)
            else:
                with fail_at(deadline):
                    response = await self.http_client.send(request)
        except (httpx.TransportError, TimeoutError) as exc:
            raise self._connection_error(exc, call) from None
        finally:
            if slot is not None:
                slot.release()
        if response.status_code >= 400:
            raise error_from_response(
                response.status_code,
                response.headers,
                response.content,
                provider=self.name,
                model=call.model,
                secrets=self._secrets(),
            )
        return response

    async def send_json(self, call: HttpCall) -> Any:
        """:meth:`send` and decode the JSON body (a body that is not JSON is a ProviderError)."""
        return _json_or_error(self, await self.send(call), call)

    # -- hooks for subclasses -----------------------------------------------------------------
    @abc.abstractmethod
    def build_chat_call(self, request: ChatRequest, *, stream: bool) -> HttpCall:
        """The HTTP call for a chat request (streaming calls set ``dialect``)."""

    @abc.abstractmethod
    def parse_chat_response(self, data: Any, *, model: str, request_id: Optional[str]) -> ChatResponse:
        """A non-streaming chat response body → :class:`ChatResponse`."""

    def build_completion_call(self, request: CompletionRequest, *, stream: bool) -> Optional[HttpCall]:
        """The legacy completions call, or ``None`` to answer as a one-message chat."""
        return None

    def parse_completion_response(
        self, data: Any, *, model: str, request_id: Optional[str]
    ) -> CompletionResponse:  # pragma: no cover - only for providers with a completions endpoint
        raise TypeError(f"{self.name} has no legacy completions endpoint")

    def build_models_call(self) -> Optional[HttpCall]:
        """The model-list call, or ``None`` if the provider has no such endpoint."""
        return None

    def parse_models(self, data: Any) -> list[ModelInfo]:
        """A model-list response body → :class:`ModelInfo` list."""
        return []

    # -- the public interface -------------------------------------------------------------------
    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Send a chat request and return the whole answer."""
        call = self.build_chat_call(request, stream=False)
        response = await self.send(call)
        data = _json_or_error(self, response, call)
        return self.parse_chat_response(data, model=request.model, request_id=request_id_from(response.headers))

    def chat_stream(self, request: ChatRequest) -> ChatStream:
        """Stream a chat answer: ``async with provider.chat_stream(req) as stream: async for token in stream``."""
        return ChatStream(self, self.build_chat_call(request, stream=True), coalesce=self.coalesce)

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Complete a plain prompt (as a one-message chat where there is no completions endpoint)."""
        call = self.build_completion_call(request, stream=False)
        if call is None:
            answer = await self.chat(request.as_chat())
            return CompletionResponse.from_chat(answer)
        response = await self.send(call)
        data = _json_or_error(self, response, call)
        return self.parse_completion_response(data, model=request.model, request_id=request_id_from(response.headers))

    def complete_stream(self, request: CompletionRequest) -> ChatStream:
        """Stream a plain-prompt completion (tokens as for :meth:`chat_stream`)."""
        call = self.build_completion_call(request, stream=True)
        if call is None:
            call = self.build_chat_call(request.as_chat(), stream=True)
        return ChatStream(self, call, coalesce=self.coalesce)

    async def list_models(self) -> list[ModelInfo]:
        """The models the provider offers (from its endpoint where it has one)."""
        call = self.build_models_call()
        if call is None:
            return []
        response = await self.send(call)
        return self.parse_models(_json_or_error(self, response, call))

    async def count_tokens(self, request: ChatRequest) -> int:
        """Input tokens of ``request``.

        The default is Roo-Code's local estimate (o200k_base BPE with its 1.5 fudge
        factor, see :func:`tokenwire.tokens.estimate_input_tokens`), computed in a worker
        thread so a long prompt does not stall the event loop. Providers with a counting
        endpoint (Anthropic, Gemini) override this.
        """
        from tokenwire.tokens import estimate_input_tokens

        return await anyio.to_thread.run_sync(estimate_input_tokens, request)

    async def health_check(self) -> HealthStatus:
        """Probe the provider (its model list, or a minimal request); never raises."""
        started = time.perf_counter()
        try:
            await self._probe()
        except (TokenwireError, OSError) as exc:
            return HealthStatus(
                provider=self.name,
                healthy=False,
                latency_ms=(time.perf_counter() - started) * 1000.0,
                error=redact(f"{type(exc).__name__}: {exc}", self._secrets()),
            )
        return HealthStatus(provider=self.name, healthy=True, latency_ms=(time.perf_counter() - started) * 1000.0)

    async def _probe(self) -> None:
        call = self.build_models_call()
        if call is None:
            raise ConfigurationError(f"{self.name}: no health probe endpoint")
        await self.send(call)


def _json_or_error(provider: Provider, response: httpx.Response, call: HttpCall) -> Any:
    try:
        return response.json()
    except ValueError:
        raise ProviderError(
            f"{provider.name}: response is not JSON: {response.text[:200]!r}",
            provider=provider.name,
            model=call.model,
            status=response.status_code,
            request_id=request_id_from(response.headers),
        ) from None


def merge_headers(*layers: Optional[Mapping[str, str]]) -> dict[str, str]:
    """Merge header mappings left to right; later layers win (case-insensitively)."""
    merged: dict[str, str] = {}
    lower: dict[str, str] = {}
    for layer in layers:
        if not layer:
            continue
        for name, value in layer.items():
            folded = name.lower()
            old = lower.get(folded)
            if old is not None:
                merged.pop(old, None)
            merged[name] = value
            lower[folded] = name
    return merged


def drop_none(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` without ``None`` values (request bodies omit unset fields)."""
    return {k: v for k, v in data.items() if v is not None}


def stop_list(stop: Sequence[str]) -> Optional[list[str]]:
    return list(stop) if stop else None
