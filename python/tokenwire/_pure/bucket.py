"""Pure-Python twin of the native ``TokenBucket``: a token bucket over an injected clock.

The bucket never reads a clock and never sleeps: every call passes ``now`` (seconds,
any epoch) and the caller does the waiting. Decisions (identical in the Rust core,
``tokenwire-core/src/bucket.rs``):

- A ``now`` earlier than the last settlement counts as no elapsed time (callers may
  pass slightly stale times); the bucket never refills negatively and never moves its
  own clock backwards.
- ``drain(remaining, reset_at, now)`` adopts a provider's rate-limit headers. Until
  ``reset_at`` the refill runs at ``(burst - remaining) / (reset_at - now)``, then the
  configured rate applies again; a refill spanning ``reset_at`` is computed piecewise.
  During the window the level is kept as a line anchored at ``reset_at``
  (``burst - debt - (reset_at - t) * drain_rate``, where ``debt`` is what was taken
  since, net of refunds), so an untouched bucket is full at ``reset_at`` exactly.
- A denied ``try_acquire`` returns the analytic wait nudged up by a few ulps where
  rounding requires it, so a call at exactly ``now + wait`` succeeds; the refill is
  monotone in time, so any later call does too. A denial never returns ``0.0``.

Every float operation happens in the same order as in Rust (no fused multiply-add),
so both backends return bit-identical results.
"""

from __future__ import annotations

import math
from typing import Optional, SupportsFloat, SupportsIndex, Union

__all__ = ["TokenBucket"]

_Real = Union[SupportsFloat, SupportsIndex]


def _float(name: str, value: _Real) -> float:
    # Match PyO3's f64 extraction: real numbers (and __float__/__index__) only, no str.
    if type(value) is float:
        return value
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    return float(value)


def _check_now(now: float) -> None:
    if not math.isfinite(now):
        raise ValueError(f"now must be finite, got {now!r}")


def _check_rate(rate: float) -> None:
    if not (math.isfinite(rate) and rate >= 0.0):
        raise ValueError(f"rate must be finite and >= 0, got {rate!r}")


def _check_burst(burst: float) -> None:
    if not (math.isfinite(burst) and burst > 0.0):
        raise ValueError(f"burst must be finite and > 0, got {burst!r}")


class TokenBucket:
    """A token bucket as a pure state machine over an injected clock (seconds, float).

    ``rate`` tokens per second refill up to ``burst``; the bucket starts full. It
    never reads a clock or sleeps: the caller passes ``now`` and does the waiting.
    """

    __slots__ = ("_burst", "_drain_debt", "_drain_rate", "_drain_until", "_last", "_rate", "_tokens")

    def __init__(self, rate: float, burst: float, now: float = 0.0) -> None:
        rate = _float("rate", rate)
        burst = _float("burst", burst)
        now = _float("now", now)
        _check_rate(rate)
        _check_burst(burst)
        _check_now(now)
        self._rate = rate
        self._burst = burst
        self._tokens = burst
        # Time of the last settlement; refill is computed from here.
        self._last = now
        # Active drain schedule (``_drain_until > _last``) or None: its refill rate, and
        # the tokens taken since it began net of refunds and of refill lost to the cap.
        self._drain_until: Optional[float] = None
        self._drain_rate = 0.0
        self._drain_debt = 0.0

    @property
    def rate(self) -> float:
        """The configured refill rate (tokens per second)."""
        return self._rate

    @property
    def burst(self) -> float:
        """The capacity."""
        return self._burst

    def __repr__(self) -> str:
        return f"TokenBucket(rate={self._rate!r}, burst={self._burst!r})"

    def _settled(self, now: float) -> tuple[float, float, Optional[float], float]:
        """``(tokens, last, drain_until, drain_debt)`` refilled up to ``now``, unapplied."""
        tokens = self._tokens
        last = self._last
        until = self._drain_until
        debt = self._drain_debt
        if now <= last:
            return tokens, last, until, debt
        frm = last
        burst = self._burst
        if until is not None:
            d_rate = self._drain_rate
            # The level on the drain line, never below the stored level: the stored
            # level can sit an ulp above the line, and refill must be monotone in time.
            line = burst - debt - (until - now) * d_rate if now < until else burst - debt
            if line >= burst:
                # Refill beyond the cap is lost; re-anchor so the line is at the cap now.
                debt = -((until - now) * d_rate) if now < until else 0.0
                tokens = burst
            elif line > tokens:
                tokens = line
            if now < until:
                return tokens, now, until, debt
            frm = until
            until = None
        # A zero rate is skipped rather than multiplied (never inf * 0 = nan).
        if self._rate > 0.0:
            tokens = tokens + (now - frm) * self._rate
            if not tokens < burst:
                tokens = burst
        return tokens, now, until, debt

    def _settle(self, now: float) -> None:
        self._tokens, self._last, self._drain_until, self._drain_debt = self._settled(now)

    def _wait_for(self, tokens: float) -> float:
        """Seconds from ``_last`` until ``tokens`` are available (settled state, analytic)."""
        level = self._tokens
        offset = 0.0
        until = self._drain_until
        if until is not None:
            span = until - self._last
            reach = self._burst - self._drain_debt
            if reach >= tokens:
                if self._drain_rate > 0.0:
                    wait = span - (reach - tokens) / self._drain_rate
                    return wait if wait > 0.0 else 0.0
                return 0.0
            level = max(level, reach)
            offset = span
        if self._rate > 0.0:
            return offset + (tokens - level) / self._rate
        return math.inf

    def try_acquire(self, tokens: float, now: float) -> float:
        """Take ``tokens`` if available and return 0.0; otherwise take nothing and
        return the seconds to wait until they will be (``inf`` if never at the current
        rates). A call at ``now + wait`` or later then succeeds, barring other calls
        between. Raises ``ValueError`` if ``tokens`` exceeds ``burst`` (it could never
        be granted), is negative or not finite, or ``now`` is not finite."""
        tokens = _float("tokens", tokens)
        now = _float("now", now)
        if not (math.isfinite(tokens) and tokens >= 0.0 and tokens <= self._burst):
            raise ValueError(f"tokens must be finite and between 0 and burst ({self._burst!r}), got {tokens!r}")
        _check_now(now)
        self._settle(now)
        if self._tokens >= tokens:
            self._tokens -= tokens
            if self._drain_until is not None:
                self._drain_debt += tokens
            return 0.0
        # Measured from the caller's ``now`` (``_last`` differs only if ``now`` was stale).
        wait = self._wait_for(tokens) + (self._last - now)
        # Step up past rounding until the exact sum ``now + wait`` suffices.
        if math.isfinite(wait):
            step = math.ulp(abs(now) if abs(now) > wait else wait)
            while math.isfinite(wait) and self._settled(now + wait)[0] < tokens:
                wait += step
                step *= 2.0
        return wait

    def set_rate(self, rate: float, now: float, burst: Optional[float] = None) -> None:
        """Change the refill rate (and optionally the burst) from ``now`` on.

        The refill up to ``now`` is settled at the old rate first; a lower burst caps
        the current tokens. An active :meth:`drain` schedule keeps its rate until its
        ``reset_at``."""
        rate = _float("rate", rate)
        now = _float("now", now)
        new_burst = None if burst is None else _float("burst", burst)
        _check_rate(rate)
        if new_burst is not None:
            _check_burst(new_burst)
        _check_now(now)
        self._settle(now)
        self._rate = rate
        if new_burst is not None:
            if self._drain_until is not None:
                # Keep the drain line where it is (the new cap still applies to it).
                self._drain_debt += new_burst - self._burst
            self._burst = new_burst
            if not self._tokens < new_burst:
                self._tokens = new_burst

    def drain(self, remaining: float, reset_at: float, now: float) -> None:
        """Adopt the provider's view: ``remaining`` tokens now, full again at ``reset_at``.

        ``remaining`` is clamped to ``[0, burst]``. Until ``reset_at`` the refill rate is
        ``(burst - remaining) / (reset_at - now)``; after it, the configured rate. If
        ``reset_at <= now`` the tokens are set and the configured rate applies. A ``now``
        earlier than the last settlement is taken as the last settlement time."""
        remaining = _float("remaining", remaining)
        reset_at = _float("reset_at", reset_at)
        now = _float("now", now)
        if not math.isfinite(remaining):
            raise ValueError(f"remaining must be finite, got {remaining!r}")
        if not math.isfinite(reset_at):
            raise ValueError(f"reset_at must be finite, got {reset_at!r}")
        _check_now(now)
        self._settle(now)
        if remaining < 0.0:
            self._tokens = 0.0
        else:
            self._tokens = remaining if remaining < self._burst else self._burst
        if reset_at > self._last:
            self._drain_rate = (self._burst - self._tokens) / (reset_at - self._last)
            self._drain_until = reset_at
        else:
            self._drain_rate = 0.0
            self._drain_until = None
        self._drain_debt = 0.0

    def refund(self, tokens: float, now: float) -> None:
        """Give back tokens (an over-estimate corrected from the usage), capped at burst.

        Raises ``ValueError`` if ``tokens`` is negative or not finite."""
        tokens = _float("tokens", tokens)
        now = _float("now", now)
        if not (math.isfinite(tokens) and tokens >= 0.0):
            raise ValueError(f"tokens must be finite and >= 0, got {tokens!r}")
        _check_now(now)
        self._settle(now)
        before = self._tokens
        after = before + tokens
        if not after < self._burst:
            after = self._burst
        self._tokens = after
        if self._drain_until is not None:
            self._drain_debt -= after - before

    def available(self, now: float) -> float:
        """The tokens available at ``now``, without taking any."""
        now = _float("now", now)
        _check_now(now)
        return self._settled(now)[0]
