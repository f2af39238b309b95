"""``ManagedStream``: a provider stream chosen, retried and failed over by the manager.

It has the API of :class:`~tokenwire.providers.base.ChatStream` (async iterator of
stream tokens, async context manager, ``next_batch``, ``get_final_response``,
``headers``, ``request_id``, ``accumulator``, ``ttft``) plus what the manager decided:
``target``, ``attempts``.

**Where failover stops.** :meth:`ManagedStream.start` (run by ``async with`` or the
first ``async for`` step) sends the request *and reads until the first batch of tokens
has been decoded*, all inside the manager's retry and failover loop: an error status,
a refused connection, a stream that breaks or reports an error before its first token
— each is retried or failed over like any other error. Only then does a token reach
the caller, and from then on nothing is retried: a later error is raised to the
caller after every token decoded before it, so no token is ever duplicated or lost.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Awaitable
from types import TracebackType
from typing import TYPE_CHECKING, Callable, Optional, TypeVar

import anyio
import httpx

from tokenwire.manager._attempt import AnyRequest, Attempt, Call, Lease
from tokenwire.manager.routing import Target
from tokenwire.providers.base import ChatStream, Provider, ResponseAccumulator
from tokenwire.types import ChatResponse, StreamToken

if TYPE_CHECKING:
    from tokenwire.manager.manager import ProviderManager

__all__ = ["ManagedStream"]

_S = TypeVar("_S", bound="ManagedStream")

#: Builds one attempt's provider stream: ``(provider, request for the target) -> ChatStream``.
StreamFactory = Callable[[Provider, AnyRequest], ChatStream]


class ManagedStream:
    """A streaming answer routed by a :class:`~tokenwire.manager.ProviderManager`
    (see the module docstring). Leaving the ``async with`` block, or :meth:`aclose`,
    closes the connection."""

    def __init__(self, manager: ProviderManager, call: Call, factory: StreamFactory) -> None:
        self._manager = manager
        self._call = call
        self._factory = factory
        self._inner: Optional[ChatStream] = None
        self._lease: Optional[Lease] = None
        self._pending: deque[StreamToken] = deque()
        self._done = False
        self._closed = False
        self._starting = False
        # Once started: steps go straight to the provider stream's own iterator, which
        # reports its end to _inner_ended (no coroutine of ours per token).
        self._direct = False
        self._empty: Optional[ResponseAccumulator] = None
        #: Every try so far: target, error (``None`` for the one that succeeded), timing.
        self.attempts: list[Attempt] = []
        #: Seconds from :meth:`start` until the first token was ready, retries and
        #: failovers included (what the caller waited); see :attr:`attempt_ttft`.
        self.ttft: Optional[float] = None

    def __repr__(self) -> str:
        where = self.target.key if self.target is not None else self._call.address
        return f"<ManagedStream {where} attempts={len(self.attempts)} closed={self._closed}>"

    # -- what was chosen ---------------------------------------------------------------

    @property
    def target(self) -> Optional[Target]:
        """The target serving the stream (``None`` before :meth:`start`)."""
        return self._lease.target if self._lease is not None else None

    @property
    def model(self) -> Optional[str]:
        """The serving model id; before :meth:`start`, the addressed model (``None`` for
        a route with several targets)."""
        if self._lease is not None:
            return self._lease.target.model
        target = self._call.target
        if target is not None:
            return target.model
        route = self._call.route
        return route.targets[0].model if route is not None and len(route.targets) == 1 else None

    @property
    def provider(self) -> Optional[Provider]:
        """The serving provider instance (``None`` before :meth:`start`)."""
        return self._inner.provider if self._inner is not None else None

    @property
    def stream(self) -> Optional[ChatStream]:
        """The provider stream of the successful attempt (``None`` before :meth:`start`)."""
        return self._inner

    @property
    def attempt_ttft(self) -> Optional[float]:
        """Seconds from sending the successful attempt to its first token."""
        return self._lease.ttft if self._lease is not None else None

    @property
    def headers(self) -> httpx.Headers:
        """Response headers of the serving attempt (empty before :meth:`start`)."""
        return self._inner.headers if self._inner is not None else httpx.Headers()

    @property
    def request_id(self) -> Optional[str]:
        return self._inner.request_id if self._inner is not None else None

    @property
    def accumulator(self) -> ResponseAccumulator:
        """Everything delivered so far, assembled (text, tool calls, usage, finish)."""
        if self._inner is not None:
            return self._inner.accumulator
        if self._empty is None:
            self._empty = ResponseAccumulator()
        return self._empty

    @property
    def closed(self) -> bool:
        return self._closed

    # -- protocol ----------------------------------------------------------------------

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
        inner = self._inner
        if self._direct and inner is not None:
            # Started: ``async for`` steps the provider stream's generator itself.
            pending = self._pending
            while pending:
                inner._unread(pending.pop())
            return inner._generator()
        return self

    async def start(self) -> None:
        """Choose a target and open the stream up to its first tokens, retrying and
        failing over as the manager's policy says (idempotent)."""
        if self._inner is not None or self._closed:
            return
        if self._starting:
            raise RuntimeError("this stream is already being started by another task")
        self._starting = True
        manager = self._manager
        began = manager.clock.now()
        try:
            inner, batch, lease = await manager._dispatch_stream(self._call, self._factory, self.attempts)
        finally:
            self._starting = False
        self._inner = inner
        self._lease = lease
        self._pending.extend(batch)
        self.ttft = manager.clock.now() - began
        if not batch:
            # The provider answered with an empty stream: a success with nothing in it.
            self._finish(None)
        elif inner._iterates:
            inner._on_end = self._inner_ended
            self._direct = True

    def __anext__(self) -> Awaitable[StreamToken]:
        inner = self._inner
        if self._direct and not self._pending and inner is not None:
            return inner.__anext__()
        return self._next()

    async def _next(self) -> StreamToken:
        if self._pending:
            return self._pending.popleft()
        if self._inner is None:
            if self._closed:
                raise StopAsyncIteration
            await self.start()
            if self._pending:
                return self._pending.popleft()
        if self._done or self._inner is None:
            raise StopAsyncIteration
        try:
            return await self._inner.__anext__()
        except StopAsyncIteration:
            self._finish(None)
            raise
        except Exception as error:
            self._finish(error)
            raise
        except BaseException:
            self._abandon()
            raise

    async def next_batch(self) -> list[StreamToken]:
        """All tokens decoded from the next network chunk(s); ``[]`` at the end."""
        if self._inner is None:
            if self._closed:
                return []
            await self.start()
        if self._pending:
            batch = list(self._pending)
            self._pending.clear()
            if self._inner is not None:
                # The rest of what the first read decoded.
                batch.extend(self._inner._take_decoded())
            return batch
        if self._done or self._inner is None:
            return []
        try:
            batch = await self._inner.next_batch()
        except Exception as error:
            self._finish(error)
            raise
        except BaseException:
            self._abandon()
            raise
        if not batch:
            self._finish(None)
        return batch

    async def get_final_response(self) -> ChatResponse:
        """Consume the rest of the stream and return the assembled answer."""
        async for _ in self:
            pass
        inner = self._inner
        if inner is None:
            raise RuntimeError("the stream was closed before it started")
        target = self.target
        return inner.accumulator.response(
            model=target.model if target is not None else (inner.model or ""),
            provider=inner.provider.name,
            request_id=inner.request_id,
        )

    async def aclose(self) -> None:
        """Close the connection (idempotent). A stream closed early after its first
        tokens counts as a success: the provider did answer."""
        if self._closed:
            return
        self._closed = True
        inner = self._inner
        if inner is not None:
            if not inner.closed:
                # Also when the caller is being cancelled: the connection must be released.
                with anyio.CancelScope(shield=True):
                    await inner.aclose()
            else:
                # Read to its end already, but its iterator may be suspended (no I/O left).
                await inner.aclose()
            if not self._done:
                self._finish(None)

    # -- outcome -----------------------------------------------------------------------

    def _inner_ended(self, error: Optional[BaseException]) -> None:
        if error is None or isinstance(error, Exception):
            self._finish(error)
        else:
            self._abandon()

    def _finish(self, error: Optional[BaseException]) -> None:
        if self._done:
            return
        self._done = True
        self._direct = False
        lease = self._lease
        inner = self._inner
        if lease is None or inner is None:
            return
        usage, finish_reason = inner._outcome()
        if error is None:
            lease.succeed(
                usage=usage,
                finish_reason=finish_reason,
                # Only the span records it, and finding it scans the response headers.
                request_id=inner.request_id if lease.span is not None else None,
            )
        else:
            lease.fail(error, usage=usage)

    def _abandon(self) -> None:
        if self._done:
            return
        self._done = True
        self._direct = False
        if self._lease is not None:
            self._lease.abandon()
