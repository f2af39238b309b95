"""An adaptive, fair rate limiter per provider (or provider+model).

Two native :class:`~tokenwire.TokenBucket`\\ s meter one provider quota each:

- **requests**: one per call; **tokens**: the call's estimated cost (prompt tokens from
  ``count_tokens`` plus ``max_tokens``), corrected from the usage afterwards with
  :meth:`Permit.settle` (a refund, or a debt the next callers pay off).

Where the limits come from:

- **configured**: ``requests_per_minute`` / ``tokens_per_minute`` in
  :class:`LimiterConfig` (a self-imposed cap, or the known tier);
- **learned**: every response's rate-limit headers (:meth:`observe_headers`, formats in
  :mod:`tokenwire.resilience.headers`). The header ``limit`` becomes the bucket size
  and ``limit / window`` its refill rate (``window`` is 60 s unless the headers name
  it or the config says otherwise — Groq's request limit is per day:
  ``request_window=86400``); ``remaining`` and ``reset`` are adopted with
  :meth:`TokenBucket.drain`: the bucket holds what the provider says remains and
  refills to full exactly at the provider's reset time. When both are known the lower
  one applies. With neither, that quantity is not limited.

Adopting ``remaining`` naively would forget the calls this limiter let through after
the reporting request: the provider had not seen them yet. A :class:`Permit` remembers
how much had been issued when it was granted, and :meth:`Permit.observe_headers`
subtracts what was issued since from the reported ``remaining``.

**AIMD** on top of the limits: a 429 (:meth:`~AdaptiveRateLimiter.record_rate_limited`)
multiplies the refill rate of the quota it names (``type``/``code`` ``requests`` or
``tokens``; both when unknown) by ``decrease_factor`` (0.5), at most once per
``decrease_cooldown`` (1 s — one congestion event yields a burst of 429s, not one
each), down to ``min_rate_fraction`` (10 %) of the limit; it also pauses every
acquisition for the provider's ``retry-after`` (else ``default_pause``, 1 s; at most
``max_pause``, 300 s). Every successful response (:meth:`record_success`) adds
``increase_step`` (5 %) of the limit back, so one halving is recovered after 10
successes. Bucket *sizes* are not scaled, only refill rates. An ``insufficient_quota``
429 is not a rate signal and changes nothing but the learned headers.

**Fairness**: callers wait in one FIFO queue. Only the head of the queue takes from
the buckets; it sleeps (on the injected clock, without blocking the event loop) for
exactly the time the buckets say, then hands the turn to the next. A large early
request is therefore never starved by later small ones (they wait behind it), and
changes that could shorten the wait (new headers, a refund, a rate increase) wake the
head early to recompute. Cancelling a waiting caller removes it from the queue. A
request larger than a whole bucket waits for a full bucket and takes all of it.

**Where the buckets live**: by default in this process (native
:class:`~tokenwire.TokenBucket`\\ s). Pass ``buckets=`` a :class:`BucketBackend` to keep
them elsewhere — :class:`tokenwire.resilience.redis.RedisBucketStore` shares them
between processes, so N workers share one provider quota. Grants then go through the
backend's atomic :meth:`BucketBackend.take` (one call for both buckets, all or
nothing); everything else (learning, AIMD, settling, stats) uses the
:class:`RateBucket` interface, which the native bucket and the backend's buckets both
implement. FIFO fairness holds within a process; across processes the first to retry
after a refill wins.

Not thread-safe: one limiter belongs to one event loop.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Optional, Protocol

import anyio
import anyio.lowlevel

from tokenwire.errors import ProviderError
from tokenwire.resilience.clock import Clock, SystemClock
from tokenwire.resilience.headers import (
    RateLimitHeaders,
    RateLimitWindow,
    parse_named_rate_limit_headers,
    rate_limit_names,
)
from tokenwire.resilience.retry import is_insufficient_quota

if TYPE_CHECKING:
    from tokenwire._native import TokenBucket
else:
    from tokenwire import TokenBucket

__all__ = [
    "AdaptiveRateLimiter",
    "BucketBackend",
    "LimiterConfig",
    "LimiterStats",
    "Permit",
    "QuotaStats",
    "RateBucket",
]


class RateBucket(Protocol):
    """What the limiter needs from a bucket: the interface of :class:`~tokenwire.TokenBucket`
    (see it for the semantics). ``now`` is the limiter's clock time."""

    @property
    def rate(self) -> float: ...
    @property
    def burst(self) -> float: ...
    def try_acquire(self, tokens: float, now: float) -> float: ...
    def set_rate(self, rate: float, now: float, burst: Optional[float] = None) -> None: ...
    def drain(self, remaining: float, reset_at: float, now: float) -> None: ...
    def refund(self, tokens: float, now: float) -> None: ...
    def available(self, now: float) -> float: ...


class BucketBackend(Protocol):
    """Where an :class:`AdaptiveRateLimiter` keeps its buckets when they are not local
    (e.g. :class:`tokenwire.resilience.redis.RedisBucketStore`).

    :meth:`bucket` makes the bucket of one quota (``"requests"`` or ``"tokens"``) of the
    limiter ``key``; :meth:`take` grants atomically: either every ``(bucket, amount)``
    is taken and it returns ``0.0``, or nothing is and it returns the seconds to wait
    (``> 0``). The buckets' synchronous methods may act on a local view and apply to
    the shared state later (the limiter uses them to learn and settle, never to grant).
    """

    def bucket(self, key: str, quota: str, rate: float, burst: float, now: float) -> RateBucket: ...

    async def take(self, grants: Sequence[tuple[RateBucket, float]], now: float) -> float: ...


@dataclass(frozen=True)
class LimiterConfig:
    """Settings of an :class:`AdaptiveRateLimiter` (see the module docstring).

    - ``requests_per_minute``, ``tokens_per_minute`` (``None``): configured caps;
    - ``request_window``, ``token_window`` (60 s): the period of a limit learned from
      headers that do not name one;
    - ``learn_from_headers`` (``True``): adopt the providers' rate-limit headers;
    - ``decrease_factor`` (0.5), ``decrease_cooldown`` (1 s), ``min_rate_fraction``
      (0.1), ``increase_step`` (0.05): the AIMD rule;
    - ``default_pause`` (1 s), ``max_pause`` (300 s): the pause after a 429 without /
      with a ``retry-after``.
    """

    requests_per_minute: Optional[float] = None
    tokens_per_minute: Optional[float] = None
    request_window: float = 60.0
    token_window: float = 60.0
    learn_from_headers: bool = True
    decrease_factor: float = 0.5
    decrease_cooldown: float = 1.0
    min_rate_fraction: float = 0.1
    increase_step: float = 0.05
    default_pause: float = 1.0
    max_pause: float = 300.0

    def __post_init__(self) -> None:
        if self.requests_per_minute is not None and not (
            math.isfinite(self.requests_per_minute) and self.requests_per_minute >= 1
        ):
            raise ValueError(f"requests_per_minute must be finite and >= 1, got {self.requests_per_minute!r}")
        if self.tokens_per_minute is not None and not (
            math.isfinite(self.tokens_per_minute) and self.tokens_per_minute > 0
        ):
            raise ValueError(f"tokens_per_minute must be finite and > 0, got {self.tokens_per_minute!r}")
        for name in ("request_window", "token_window"):
            value: float = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be finite and > 0, got {value!r}")
        if not 0 < self.decrease_factor < 1:
            raise ValueError(f"decrease_factor must be in (0, 1), got {self.decrease_factor!r}")
        if not 0 < self.min_rate_fraction <= 1:
            raise ValueError(f"min_rate_fraction must be in (0, 1], got {self.min_rate_fraction!r}")
        if not 0 <= self.increase_step <= 1:
            raise ValueError(f"increase_step must be in [0, 1], got {self.increase_step!r}")
        for name in ("decrease_cooldown", "default_pause", "max_pause"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")


@dataclass(frozen=True)
class QuotaStats:
    """One metered quantity: its limits, current refill rate and level.

    ``limit`` is the bucket size in force (``None``: not limited); ``rate`` the refill
    rate in units per second after AIMD (``rate_per_minute`` the same per minute);
    ``scale`` the AIMD factor (1.0 = full rate); ``available`` the current level.
    """

    limit: Optional[float]
    configured: Optional[float]
    learned: Optional[float]
    window: float
    rate: Optional[float]
    rate_per_minute: Optional[float]
    scale: float
    available: Optional[float]


@dataclass(frozen=True)
class LimiterStats:
    """A snapshot of an :class:`AdaptiveRateLimiter`.

    ``paused_until`` is set while a 429 pause is in force; ``token_debt`` is usage
    beyond the estimates not yet paid back; ``last_headers`` the rate-limit headers of
    the last response observed (at clock time ``last_headers_at``).
    """

    key: str
    requests: QuotaStats
    tokens: QuotaStats
    waiters: int
    paused_until: Optional[float]
    token_debt: float
    granted: int
    rate_limited: int
    last_headers: Mapping[str, str] = field(default_factory=lambda: {})
    last_headers_at: Optional[float] = None


class _Quota:
    """One metered quantity: configured and learned limits, AIMD scale, its bucket."""

    __slots__ = ("bucket", "configured", "default_window", "factory", "learned", "learned_window", "name", "scale")

    def __init__(
        self,
        name: str,
        configured_per_minute: Optional[float],
        default_window: float,
        factory: Callable[[float, float, float], RateBucket],
    ) -> None:
        self.name = name
        self.factory = factory
        self.configured = configured_per_minute
        self.default_window = default_window
        self.learned: Optional[float] = None
        self.learned_window = default_window
        self.scale = 1.0
        self.bucket: Optional[RateBucket] = None

    def limits(self) -> Optional[tuple[float, float]]:
        """``(burst, full refill rate per second)`` in force, or ``None``."""
        bursts: list[float] = []
        rates: list[float] = []
        if self.configured is not None:
            bursts.append(self.configured)
            rates.append(self.configured / 60.0)
        if self.learned is not None:
            bursts.append(self.learned)
            rates.append(self.learned / self.learned_window)
        if not bursts:
            return None
        return min(bursts), min(rates)

    def apply(self, now: float) -> None:
        """Create the bucket, or bring its size and rate in line with the limits."""
        limits = self.limits()
        if limits is None:
            return
        burst, rate = limits
        rate *= self.scale
        bucket = self.bucket
        if bucket is None:
            self.bucket = self.factory(rate, burst, now)
        elif bucket.burst != burst:
            bucket.set_rate(rate, now, burst)
        elif bucket.rate != rate:
            bucket.set_rate(rate, now)

    def stats(self, now: float) -> QuotaStats:
        limits = self.limits()
        bucket = self.bucket
        rate = bucket.rate if bucket is not None else None
        return QuotaStats(
            limit=limits[0] if limits is not None else None,
            configured=self.configured,
            learned=self.learned,
            window=self.learned_window,
            rate=rate,
            rate_per_minute=rate * 60.0 if rate is not None else None,
            scale=self.scale,
            available=bucket.available(now) if bucket is not None else None,
        )


class _Waiter:
    __slots__ = ("turn",)

    def __init__(self) -> None:
        # Set when this waiter reaches the head of the queue.
        self.turn = anyio.Event()


def _checked_cost(estimated_tokens: float) -> float:
    cost = float(estimated_tokens)
    if not (math.isfinite(cost) and cost >= 0):
        raise ValueError(f"estimated_tokens must be finite and >= 0, got {estimated_tokens!r}")
    return cost


class Permit:
    """What :meth:`AdaptiveRateLimiter.acquire` grants: one request and its token estimate.

    After the call, report the real usage with :meth:`settle`; if the request was never
    sent, give everything back with :meth:`cancel`. Feed the response headers through
    :meth:`observe_headers` so the limiter can account for calls issued after this one.
    """

    __slots__ = (
        "_bucket",
        "_done",
        "_issued_requests",
        "_issued_tokens",
        "_limiter",
        "charged_tokens",
        "estimated_tokens",
        "granted_at",
        "waited",
    )

    def __init__(
        self,
        limiter: AdaptiveRateLimiter,
        estimated_tokens: float,
        charged_tokens: float,
        bucket: Optional[RateBucket],
        granted_at: float,
        waited: float,
        issued_requests: int,
        issued_tokens: float,
    ) -> None:
        self._limiter = limiter
        #: The estimate the caller asked for.
        self.estimated_tokens = estimated_tokens
        #: The tokens taken from the bucket for it (capped at the bucket size; 0 when
        #: tokens were not limited at the time).
        self.charged_tokens = charged_tokens
        self._bucket = bucket
        #: Clock time of the grant, and seconds spent waiting for it.
        self.granted_at = granted_at
        self.waited = waited
        self._issued_requests = issued_requests
        self._issued_tokens = issued_tokens
        self._done = False

    def __repr__(self) -> str:
        return (
            f"Permit(estimated_tokens={self.estimated_tokens!r}, charged_tokens={self.charged_tokens!r}, "
            f"waited={self.waited!r}, settled={self._done})"
        )

    @property
    def settled(self) -> bool:
        """Whether :meth:`settle` or :meth:`cancel` was called."""
        return self._done

    def settle(self, actual_tokens: float) -> None:
        """Correct the estimate with the tokens actually used (input + output).

        Less than charged is refunded to the bucket; more is taken now as far as
        available and the rest owed (paid by the next grants). Once per permit.
        """
        if self._done:
            raise RuntimeError("this permit was already settled or cancelled")
        actual = float(actual_tokens)
        if not (math.isfinite(actual) and actual >= 0):
            raise ValueError(f"actual_tokens must be finite and >= 0, got {actual_tokens!r}")
        self._done = True
        self._limiter._settle(self, actual)

    def cancel(self) -> None:
        """The request was never sent: give back the request and its tokens (idempotent
        with itself; not after :meth:`settle`)."""
        if self._done:
            return
        self._done = True
        self._limiter._cancel(self)

    def observe_headers(self, headers: Mapping[str, str]) -> RateLimitHeaders:
        """:meth:`AdaptiveRateLimiter.observe_headers` for this permit's response."""
        return self._limiter.observe_headers(headers, permit=self)


class AdaptiveRateLimiter:
    """Requests-per-minute and tokens-per-minute limits for one provider (or model),
    learned from the provider's headers and 429s, with fair FIFO waiting.

    See the module docstring for the model. ``key`` names it in stats and logs (and,
    with ``buckets``, in the shared state: limiters with the same key share a quota).
    ``buckets`` keeps the buckets in a :class:`BucketBackend` instead of this process.
    """

    def __init__(
        self,
        key: str = "",
        config: Optional[LimiterConfig] = None,
        *,
        clock: Optional[Clock] = None,
        buckets: Optional[BucketBackend] = None,
    ) -> None:
        self.key = key
        self.config = config if config is not None else LimiterConfig()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._backend = buckets
        cfg = self.config
        now = self.clock.now()
        self._requests = _Quota("requests", cfg.requests_per_minute, cfg.request_window, self._factory("requests"))
        self._tokens = _Quota("tokens", cfg.tokens_per_minute, cfg.token_window, self._factory("tokens"))
        self._requests.apply(now)
        self._tokens.apply(now)
        self._waiters: deque[_Waiter] = deque()
        self._head_scope: Optional[anyio.CancelScope] = None
        self._paused_until = -math.inf
        self._debt = 0.0
        # Running totals of what was granted, for Permit.observe_headers.
        self._issued_requests = 0
        self._issued_tokens = 0.0
        self._granted = 0
        self._rate_limited = 0
        self._last_decrease = -math.inf
        self._last_headers: Mapping[str, str] = {}
        self._last_headers_at: Optional[float] = None

    def __repr__(self) -> str:
        return f"AdaptiveRateLimiter(key={self.key!r}, waiters={len(self._waiters)})"

    def _factory(self, quota: str) -> Callable[[float, float, float], RateBucket]:
        backend = self._backend
        if backend is None:
            return TokenBucket
        key = self.key
        return lambda rate, burst, now: backend.bucket(key, quota, rate, burst, now)

    # -- acquiring -------------------------------------------------------------------

    def _take(self, cost: float, now: float) -> tuple[float, float]:
        """Try to take one request and ``cost`` tokens (plus debt) at ``now``.

        Returns ``(0.0, charged)`` when granted, else ``(wait, 0.0)`` with nothing taken.
        """
        if now < self._paused_until:
            return self._paused_until - now, 0.0
        requests = self._requests.bucket
        if requests is not None:
            wait = requests.try_acquire(1.0, now)
            if wait > 0.0:
                return wait, 0.0
        tokens = self._tokens.bucket
        if tokens is None:
            return 0.0, 0.0
        burst = tokens.burst
        charge = min(cost, burst)
        need = min(charge + self._debt, burst)
        if need > 0.0:
            wait = tokens.try_acquire(need, now)
            if wait > 0.0:
                if requests is not None:
                    requests.refund(1.0, now)
                return wait, 0.0
            # Whatever the grant took beyond its own charge paid the debt down.
            self._debt = max(0.0, self._debt - (need - charge))
        return 0.0, charge

    async def _take_shared(self, backend: BucketBackend, cost: float, now: float) -> tuple[float, float]:
        """:meth:`_take` through the backend's atomic ``take`` (both buckets or neither)."""
        if now < self._paused_until:
            return self._paused_until - now, 0.0
        grants: list[tuple[RateBucket, float]] = []
        requests = self._requests.bucket
        if requests is not None:
            grants.append((requests, 1.0))
        tokens = self._tokens.bucket
        charge = need = 0.0
        if tokens is not None:
            burst = tokens.burst
            charge = min(cost, burst)
            need = min(charge + self._debt, burst)
            if need > 0.0:
                grants.append((tokens, need))
        if not grants:
            return 0.0, charge
        # Shielded: a take cancelled in flight may have been applied remotely, and its
        # tokens would be lost to everyone. Cancellation is honoured right after.
        wait = math.inf  # (a shielded scope never swallows; this only informs the type checker)
        with anyio.CancelScope(shield=True):
            wait = await backend.take(grants, now)
        if wait > 0.0:
            return wait, 0.0
        try:
            await anyio.lowlevel.checkpoint_if_cancelled()
        except BaseException:
            later = self.clock.now()
            for bucket, amount in grants:
                bucket.refund(amount, later)
            raise
        if need > 0.0:
            self._debt = max(0.0, self._debt - (need - charge))
        return 0.0, charge

    def _grant(self, cost: float, charged: float, now: float, started: float) -> Permit:
        self._issued_requests += 1
        self._issued_tokens += cost
        self._granted += 1
        return Permit(
            self,
            cost,
            charged,
            self._tokens.bucket,
            now,
            now - started,
            self._issued_requests,
            self._issued_tokens,
        )

    async def acquire(self, estimated_tokens: float = 0) -> Permit:
        """Wait (fairly, FIFO) until one request and ``estimated_tokens`` fit, take them,
        and return the :class:`Permit`.

        Never blocks the event loop; cancellable (a cancelled caller leaves the queue
        and takes nothing). Wrap it in ``anyio.fail_after`` to bound the wait, or ask
        :meth:`estimate_wait` first.
        """
        cost = _checked_cost(estimated_tokens)
        permit = self._take_now(cost)
        if permit is not None:
            return permit
        clock = self.clock
        started = clock.now()
        backend = self._backend
        waiter = _Waiter()
        waiters = self._waiters
        waiters.append(waiter)
        try:
            if waiters[0] is not waiter:
                await waiter.turn.wait()
            while True:
                now = clock.now()
                if backend is None:
                    wait, charged = self._take(cost, now)
                else:
                    wait, charged = await self._take_shared(backend, cost, now)
                if wait == 0.0:
                    break
                with anyio.CancelScope() as scope:
                    self._head_scope = scope
                    try:
                        await clock.sleep(wait)
                    finally:
                        self._head_scope = None
        finally:
            if waiters[0] is waiter:
                waiters.popleft()
                if waiters:
                    waiters[0].turn.set()
            else:
                waiters.remove(waiter)
        return self._grant(cost, charged, now, started)

    def try_acquire(self, estimated_tokens: float = 0) -> Optional[Permit]:
        """:meth:`acquire` without waiting: the permit when one request and
        ``estimated_tokens`` fit now and nobody is queued, else ``None`` with nothing
        taken. Shared buckets always answer ``None`` (their take is a network call)."""
        return self._take_now(_checked_cost(estimated_tokens))

    def _take_now(self, cost: float) -> Optional[Permit]:
        # Shared buckets always queue: the take awaits, and the queue keeps this
        # process's callers FIFO while it does.
        if self._backend is not None or self._waiters:
            return None
        now = self.clock.now()
        wait, charged = self._take(cost, now)
        return self._grant(cost, charged, now, now) if wait == 0.0 else None

    def _poke(self) -> None:
        """Wake the sleeping head of the queue to recompute its wait."""
        if self._head_scope is not None:
            self._head_scope.cancel()

    def estimate_wait(self, estimated_tokens: float = 0) -> float:
        """Seconds a caller arriving now would wait for ``estimated_tokens`` if nobody
        were queued (a lower bound when :attr:`waiters` > 0). Takes nothing."""
        now = self.clock.now()
        wait = self._paused_until - now if now < self._paused_until else 0.0
        requests = self._requests.bucket
        if requests is not None and requests.available(now) < 1.0:
            wait = max(wait, requests.try_acquire(1.0, now))
        tokens = self._tokens.bucket
        if tokens is not None:
            need = min(max(float(estimated_tokens), 0.0) + self._debt, tokens.burst)
            if tokens.available(now) < need:
                wait = max(wait, tokens.try_acquire(need, now))
        return wait

    @property
    def waiters(self) -> int:
        """Callers currently queued in :meth:`acquire`."""
        return len(self._waiters)

    # -- settling ----------------------------------------------------------------------

    def _settle(self, permit: Permit, actual: float) -> None:
        bucket = self._tokens.bucket
        if bucket is None or bucket is not permit._bucket:
            return  # not charged against this bucket (limits learned since): nothing to fix
        now = self.clock.now()
        delta = actual - permit.charged_tokens
        if delta < 0.0:
            bucket.refund(-delta, now)
            self._poke()
        elif delta > 0.0:
            take = min(delta, bucket.available(now))
            if take > 0.0 and bucket.try_acquire(take, now) == 0.0:
                delta -= take
            self._debt += delta

    def _cancel(self, permit: Permit) -> None:
        now = self.clock.now()
        if self._requests.bucket is not None:
            self._requests.bucket.refund(1.0, now)
        bucket = self._tokens.bucket
        if bucket is not None and bucket is permit._bucket and permit.charged_tokens > 0.0:
            bucket.refund(permit.charged_tokens, now)
        # The running totals keep it: over-counting later grants errs on the safe side.
        self._poke()

    # -- learning ----------------------------------------------------------------------

    def observe_headers(self, headers: Mapping[str, str], *, permit: Optional[Permit] = None) -> RateLimitHeaders:
        """Learn from one response's rate-limit headers (any provider's format).

        Sets the learned limits and adopts ``remaining``/``reset`` (less what was
        granted after ``permit``, when given). Returns what was parsed. Bad or missing
        values are ignored.
        """
        names = rate_limit_names(headers)
        if not names:
            # The common case (no rate-limit header at all): no clock reads either.
            return parse_named_rate_limit_headers(headers, names)
        now = self.clock.now()
        info = parse_named_rate_limit_headers(headers, names, wall_now=self.clock.wall())
        if info.empty:
            return info
        self._last_headers = info.raw
        self._last_headers_at = now
        if not self.config.learn_from_headers:
            return info
        later_requests = self._issued_requests - permit._issued_requests if permit is not None else 0
        later_tokens = self._issued_tokens - permit._issued_tokens if permit is not None else 0.0
        self._learn(self._requests, info.requests, now, float(later_requests))
        # Anthropic's combined "tokens" view, else its input-token limit.
        self._learn(self._tokens, info.tokens or info.input_tokens, now, later_tokens)
        self._poke()
        return info

    def _learn(self, quota: _Quota, window: Optional[RateLimitWindow], now: float, issued_since: float) -> None:
        if window is None:
            return
        limit = window.limit
        # A request limit below one could never admit a request: garbage.
        if limit is not None and (quota.name != "requests" or limit >= 1.0):
            quota.learned = limit
            quota.learned_window = window.window if window.window is not None else quota.default_window
            quota.apply(now)
        bucket = quota.bucket
        if bucket is None or window.remaining is None:
            return
        remaining = max(0.0, window.remaining - max(0.0, issued_since))
        reset_after = window.reset_after if window.reset_after is not None else 0.0
        bucket.drain(remaining, now + reset_after, now)

    def record_success(self) -> None:
        """A call succeeded: additive increase of any reduced refill rate."""
        step = self.config.increase_step
        if step <= 0.0:
            return
        requests = self._requests
        tokens = self._tokens
        if not (requests.scale < 1.0 or tokens.scale < 1.0):
            return  # the usual case: nothing reduced (and no clock read)
        now = self.clock.now()
        for quota in (requests, tokens):
            if quota.scale < 1.0:
                quota.scale = min(1.0, quota.scale + step)
                quota.apply(now)
        self._poke()

    def record_rate_limited(
        self,
        error: Optional[BaseException] = None,
        *,
        retry_after: Optional[float] = None,
        kind: Optional[str] = None,
    ) -> None:
        """A call got a 429: learn its headers, cut the rate (AIMD) and pause.

        ``retry_after`` and ``kind`` (``"requests"`` or ``"tokens"``) default to what
        ``error`` (a :class:`~tokenwire.errors.ProviderError`) says.
        """
        now = self.clock.now()
        self._rate_limited += 1
        if isinstance(error, ProviderError):
            if error.headers:
                self.observe_headers(error.headers)
            if retry_after is None:
                retry_after = error.retry_after
            if kind is None:
                kind = _kind_of(error)
        if error is not None and is_insufficient_quota(error):
            return  # out of credit: not a rate signal
        cfg = self.config
        if now - self._last_decrease >= cfg.decrease_cooldown:
            self._last_decrease = now
            for quota in (self._requests, self._tokens):
                if kind is None or kind == quota.name:
                    quota.scale = max(cfg.min_rate_fraction, quota.scale * cfg.decrease_factor)
                    quota.apply(now)
        pause = retry_after if retry_after is not None and retry_after > 0 else cfg.default_pause
        self._paused_until = max(self._paused_until, now + min(pause, cfg.max_pause))
        self._poke()

    # -- introspection ----------------------------------------------------------------

    def stats(self) -> LimiterStats:
        """A snapshot of limits, rates, levels, queue and the last headers seen."""
        now = self.clock.now()
        return LimiterStats(
            key=self.key,
            requests=self._requests.stats(now),
            tokens=self._tokens.stats(now),
            waiters=len(self._waiters),
            paused_until=self._paused_until if now < self._paused_until else None,
            token_debt=self._debt,
            granted=self._granted,
            rate_limited=self._rate_limited,
            last_headers=dict(self._last_headers),
            last_headers_at=self._last_headers_at,
        )


def _kind_of(error: ProviderError) -> Optional[str]:
    # OpenAI and Groq put the exhausted quantity in the error type ("requests" | "tokens").
    for value in (error.error_type, error.code):
        if value in {"requests", "tokens"}:
            return value
    return None
