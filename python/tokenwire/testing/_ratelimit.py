"""Rate-limit accounting for the mock servers, and the providers' header formats.

Both providers meter with continuously replenishing buckets: OpenAI's
``x-ratelimit-reset-*`` is the time until the bucket is full again (limit 500 rpm with
one request used reads ``120ms``, as recorded from the real API), Anthropic's
``anthropic-ratelimit-*-reset`` the RFC 3339 instant when it is. The mock keeps one
bucket per metered quantity, refilled at ``limit / window`` per second.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Optional

__all__ = ["LimitState", "RateLimits", "go_duration", "rfc3339_after"]


@dataclass(frozen=True)
class RateLimits:
    """Per-server rate limits, per ``window`` seconds (a minute by default).

    When set on a server, every generation request consumes one request plus its token
    estimate (input estimate + ``max_tokens`` or the output estimate), and every
    generation response carries the provider's rate-limit headers. ``input_tokens`` and
    ``output_tokens`` are Anthropic's separate limits (default: ``tokens``). With
    ``enforce=True`` a request that does not fit gets the provider's 429, with
    ``retry-after`` set to when it would fit.
    """

    requests: int = 500
    tokens: int = 200_000
    input_tokens: Optional[int] = None
    output_tokens: Optional[int] = None
    enforce: bool = False
    window: float = 60.0

    def __post_init__(self) -> None:
        if self.requests < 1 or self.tokens < 1 or self.window <= 0:
            raise ValueError("rate limits must be positive")


@dataclass
class Meter:
    """One metered quantity: its limit, what remains, and seconds until full."""

    limit: int
    remaining: int
    reset: float


class _Bucket:
    __slots__ = ("capacity", "last", "level", "rate")

    def __init__(self, capacity: int, window: float, now: float) -> None:
        self.capacity = capacity
        self.rate = capacity / window
        self.level = float(capacity)
        self.last = now

    def refill(self, now: float) -> None:
        self.level = min(float(self.capacity), self.level + (now - self.last) * self.rate)
        self.last = now

    def wait_for(self, amount: float) -> float:
        missing = min(amount, self.capacity) - self.level
        return 0.0 if missing <= 0 else missing / self.rate

    def meter(self) -> Meter:
        remaining = max(0, math.floor(self.level))
        return Meter(self.capacity, remaining, (self.capacity - self.level) / self.rate)


class LimitState:
    """Thread-safe buckets for one server."""

    def __init__(self, limits: RateLimits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        now = clock()
        self._buckets: dict[str, _Bucket] = {
            "requests": _Bucket(limits.requests, limits.window, now),
            "tokens": _Bucket(limits.tokens, limits.window, now),
            "input_tokens": _Bucket(limits.input_tokens or limits.tokens, limits.window, now),
            "output_tokens": _Bucket(limits.output_tokens or limits.tokens, limits.window, now),
        }
        self._lock = threading.Lock()

    def consume(
        self, *, input_tokens: int, output_tokens: int
    ) -> tuple[dict[str, Meter], Optional[tuple[str, float, Meter, int]]]:
        """Take one request and the tokens. Returns the meters after it, and — when
        enforcing and it does not fit — ``(kind, retry_after, meter, requested)`` of the
        first exhausted quantity (nothing is taken then)."""
        wanted = {
            "requests": 1,
            "tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
        }
        with self._lock:
            now = self._clock()
            for bucket in self._buckets.values():
                bucket.refill(now)
            if self.limits.enforce:
                for kind, amount in wanted.items():
                    wait = self._buckets[kind].wait_for(amount)
                    if wait > 0:
                        meters = {k: b.meter() for k, b in self._buckets.items()}
                        return meters, (kind, wait, meters[kind], amount)
            for kind, amount in wanted.items():
                bucket = self._buckets[kind]
                bucket.level = max(0.0, bucket.level - amount)
            return {k: b.meter() for k, b in self._buckets.items()}, None

    def peek(self) -> dict[str, Meter]:
        """The meters now, without taking anything."""
        with self._lock:
            now = self._clock()
            for bucket in self._buckets.values():
                bucket.refill(now)
            return {k: b.meter() for k, b in self._buckets.items()}


_UNITS = ((3600, "h"), (60, "m"))


def go_duration(seconds: float) -> str:
    """Format like Go's ``time.Duration.String()`` (OpenAI's reset headers):
    ``0s``, ``120ms``, ``1.5s``, ``6m0s``, ``2m59.56s``, ``1h0m0s``. Microseconds are
    written ``us`` (Go writes ``µs``): header values go out as ASCII, and Go's own
    parser takes both spellings."""
    nanos = max(0, round(seconds * 1e9))
    if nanos == 0:
        return "0s"
    if nanos < 1_000_000_000:
        for scale, unit in ((1_000_000, "ms"), (1_000, "us"), (1, "ns")):
            if nanos >= scale:
                return _decimal(nanos, scale) + unit
    out = ""
    whole_seconds, frac_nanos = divmod(nanos, 1_000_000_000)
    for size, unit in _UNITS:
        if whole_seconds >= size or out:
            count, whole_seconds = divmod(whole_seconds, size)
            out += f"{count}{unit}"
    return out + _decimal(whole_seconds * 1_000_000_000 + frac_nanos, 1_000_000_000) + "s"


def _decimal(value: int, scale: int) -> str:
    whole, frac = divmod(value, scale)
    if not frac:
        return str(whole)
    digits = len(str(scale)) - 1
    return f"{whole}.{str(frac).rjust(digits, '0').rstrip('0')}"


def rfc3339_after(seconds: float, now: Optional[datetime] = None) -> str:
    """The UTC instant ``seconds`` from now as RFC 3339 (Anthropic's reset headers),
    rounded up to the second: ``2025-01-01T00:00:20Z``."""
    base = now or datetime.now(timezone.utc)
    instant = base.replace(microsecond=0) + timedelta(seconds=math.ceil(max(0.0, seconds) + base.microsecond / 1e6))
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")
