"""Rate limits and circuit breakers shared by every process of a deployment, in Redis.

One argument turns a :class:`~tokenwire.manager.ProviderManager` (or an
:class:`~tokenwire.AsyncClient` / :class:`~tokenwire.Client`, which pass it on) into one
member of a fleet::

    from tokenwire import AsyncClient
    from tokenwire.resilience import LimiterConfig, SharedState

    shared = SharedState.from_url("redis://redis.internal:6379/0", prefix="myapp")
    async with AsyncClient(shared_state=shared, limiter_config=LimiterConfig(requests_per_minute=500)) as client:
        reply = await client.chat("openai/gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])

Every process built this way with the same Redis and ``prefix`` (web workers, task
workers, pods):

- **shares each quota**: the manager builds every
  :class:`~tokenwire.resilience.AdaptiveRateLimiter` on a
  :class:`~tokenwire.resilience.redis.RedisBucketStore`, so a limit — configured, or
  learned from the provider's headers — holds for all processes together, not for
  each one (grants are atomic in Redis, on the server's clock);
- **shares breaker openings**: every :class:`~tokenwire.resilience.CircuitBreaker` is
  bound to a :class:`~tokenwire.resilience.redis.RedisBreakerStore`. An opening is
  written at once; before each attempt the manager syncs that target's breaker — a
  read cached for ``cache_ttl`` (0.25 s), so a busy target costs at most one Redis
  round trip per ``cache_ttl`` — and while the manager runs (``async with``), a
  background task syncs every breaker each ``sync_interval`` (``cache_ttl / 2``: the
  reads before attempts then hit the cache). A breaker opened by failures in one
  process therefore refuses calls in all of them within ``cache_ttl``, without each
  having to see the failures; a recovery (closed again) travels the same way.
  Half-open probing stays per process: each sends its own probes once the open
  interval ends.

Breaker keys are ``provider/model`` and limiter keys ``provider/model`` or ``provider``
(the manager's ``limiter_scope``): two deployments that must not share a quota (other
accounts) need different prefixes or provider names.

**When Redis fails** (``on_error``): ``"raise"`` (default, fail closed) — the request
that needed Redis fails with :class:`~tokenwire.resilience.redis.SharedStateError`, a
:class:`~tokenwire.errors.ConfigurationError` that is neither retried nor counted by a
breaker, and nothing is sent to the provider: an outage of the shared state must not
silently multiply the quota by the number of processes. ``"local"`` (fail open) — log
a warning and go on with each process's own view of its limits and breakers, retrying
Redis after ``fallback_seconds``; changes made meanwhile are applied once it answers.

**Lifecycle**: the manager claims the shared state (one manager per ``SharedState``:
two would bind two breakers under one key), runs the sync task while it is used as
``async with``, and on ``aclose`` writes what is still queued and closes the Redis
connections. The shared state stays usable afterwards, as the manager does: the next
call reconnects.

Needs the ``redis`` extra (``pip install 'tokenwire[redis]'``) and asyncio (the
``redis.asyncio`` client). This module imports neither until :meth:`SharedState.from_url`
is called.
"""

from __future__ import annotations

import contextlib
import math
import weakref
from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Optional

import anyio

from tokenwire.resilience.breaker import CircuitBreaker
from tokenwire.resilience.clock import Clock
from tokenwire.resilience.limiter import AdaptiveRateLimiter, LimiterConfig

if TYPE_CHECKING:
    import redis.asyncio as redis_asyncio

    from tokenwire.resilience.redis import OnError, RedisBreakerStore, RedisBucketStore

__all__ = ["SharedState"]


class SharedState:
    """Limiter buckets and breaker state shared across processes through Redis (see the
    module docstring); pass it to :class:`~tokenwire.manager.ProviderManager` as
    ``shared_state``.

    Usually made with :meth:`from_url`. From ready stores (for options
    :meth:`from_url` does not expose, e.g. ``time_source`` or ``drain_raises``)::

        client = redis.asyncio.Redis.from_url(url)
        shared = SharedState(RedisBucketStore(client), RedisBreakerStore(client))

    (:meth:`aclose` then closes ``client`` only if a store owns it: ``owns_client=True``.)

    ``sync_interval``: seconds between background syncs of every bound breaker
    (default: half the breaker store's ``cache_ttl``, at least 0.05 s).
    """

    def __init__(
        self,
        buckets: RedisBucketStore,
        breakers: RedisBreakerStore,
        *,
        sync_interval: Optional[float] = None,
    ) -> None:
        if sync_interval is None:
            sync_interval = max(breakers.cache_ttl / 2, 0.05)
        if not (math.isfinite(sync_interval) and sync_interval > 0):
            raise ValueError(f"sync_interval must be finite and > 0, got {sync_interval!r}")
        #: Where the limiters' buckets live.
        self.buckets = buckets
        #: Where the breakers' openings and recoveries are shared.
        self.breakers = breakers
        self.sync_interval = sync_interval
        # The client both stores use when made by from_url (closed by aclose).
        self._client: Optional[redis_asyncio.Redis] = None
        self._owner: Optional[weakref.ref[object]] = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = "tokenwire",
        on_error: OnError = "raise",
        fallback_seconds: float = 1.0,
        timeout: float = 2.0,
        ttl: float = 3600.0,
        cache_ttl: float = 0.25,
        sync_interval: Optional[float] = None,
    ) -> SharedState:
        """Shared state in the Redis at ``url`` (``redis://[:password@]host:port/db``,
        ``rediss://…``, ``unix://…``), over one client that it owns. No connection is
        made until the first call that needs one.

        - ``prefix`` (``"tokenwire"``): the key prefix; processes share state only
          under the same one;
        - ``on_error`` (``"raise"``) and ``fallback_seconds`` (1 s): fail closed or
          open (module docstring);
        - ``timeout`` (2 s): bounds connecting and every command;
        - ``ttl`` (3600 s): idle lifetime of the keys;
        - ``cache_ttl`` (0.25 s): how stale a breaker's state may be before an attempt
          reads it again; ``sync_interval``: see the class docstring.
        """
        from tokenwire.resilience.redis import RedisBreakerStore, RedisBucketStore, _client_from_url

        client = _client_from_url(url, timeout)
        buckets = RedisBucketStore(client, prefix=prefix, ttl=ttl, on_error=on_error, fallback_seconds=fallback_seconds)
        breakers = RedisBreakerStore(
            client, prefix=prefix, ttl=ttl, cache_ttl=cache_ttl, on_error=on_error, fallback_seconds=fallback_seconds
        )
        state = cls(buckets, breakers, sync_interval=sync_interval)
        state._client = client
        return state

    def __repr__(self) -> str:
        return f"SharedState({self.buckets!r}, {self.breakers!r})"

    @property
    def on_error(self) -> OnError:
        """What the breaker store does when Redis fails: ``"raise"`` or ``"local"``."""
        return self.breakers.on_error

    def _claim(self, owner: object) -> None:
        """Reserve this shared state for ``owner`` (a manager)."""
        current = self._owner() if self._owner is not None else None
        if current is not None and current is not owner:
            raise ValueError(
                "this SharedState is already used by another ProviderManager; give each manager its own "
                "(processes share state through Redis, not through the object)"
            )
        self._owner = weakref.ref(owner)

    # -- what the manager uses -------------------------------------------------------

    def limiter(self, key: str, config: LimiterConfig, *, clock: Optional[Clock] = None) -> AdaptiveRateLimiter:
        """An :class:`~tokenwire.resilience.AdaptiveRateLimiter` whose buckets are the
        shared ones of ``key``."""
        return AdaptiveRateLimiter(key, config, clock=clock, buckets=self.buckets)

    def bind(self, breaker: CircuitBreaker) -> None:
        """Share ``breaker``'s openings and recoveries under its key."""
        self.breakers.bind(breaker)

    def unbind(self, breaker: CircuitBreaker) -> None:
        """Stop sharing ``breaker``."""
        self.breakers.unbind(breaker)

    async def sync(self, breaker: CircuitBreaker) -> None:
        """Bring ``breaker`` in step with Redis (a cached read; see the module docstring).
        Raises :class:`~tokenwire.resilience.redis.SharedStateError` when Redis fails
        and ``on_error="raise"``."""
        await self.breakers.sync(breaker)

    async def flush(self) -> None:
        """Write every queued breaker transition and bucket change to Redis now
        (they are also written in the background as they happen)."""
        await self.breakers.flush()
        await self.buckets.flush()

    async def run(self) -> None:
        """Sync every bound breaker each ``sync_interval`` until cancelled (Redis
        failures are logged, never raised). :meth:`syncing` runs it in a task group."""
        await self.breakers.run(self.sync_interval)

    @contextlib.asynccontextmanager
    async def syncing(self) -> AsyncGenerator[SharedState, None]:
        """Run :meth:`run` in the background while the block runs."""
        async with anyio.create_task_group() as group:
            group.start_soon(self.run)
            try:
                yield self
            finally:
                group.cancel_scope.cancel()

    # -- lifecycle -------------------------------------------------------------------

    async def aclose(self) -> None:
        """Write what is still queued (failures are logged) and close the Redis
        connections; breakers stay bound and the next call reconnects."""
        try:
            await self.breakers.disconnect()
        finally:
            try:
                await self.buckets.aclose()
            finally:
                if self._client is not None:
                    await self._client.aclose()

    async def __aenter__(self) -> SharedState:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
