"""A circuit breaker per provider+model: closed, open, half-open, driven by a clock.

Model (after resilience4j's count-based breaker, with defaults chosen for LLM calls):

- **Closed**: every finished call is recorded in a sliding window of the last
  ``window_size`` outcomes. Once the window holds at least ``minimum_calls`` outcomes
  and the failure rate reaches ``failure_rate_threshold``, the breaker opens.
- **Slow calls**: with ``slow_call_duration`` set, a call that took longer counts as a
  failure even if it succeeded.
- **Open**: calls are refused at once with :class:`~tokenwire.errors.CircuitOpenError`
  carrying ``retry_at`` (clock time) until the open interval ends. The interval grows
  while the provider keeps failing: ``min(max_open_duration, open_duration *
  open_multiplier ** (n - 1))`` for the ``n``-th consecutive opening; a recovery (back
  to closed) resets ``n``.
- **Half-open**: after the interval, up to ``half_open_calls`` probe calls are let
  through (others are refused immediately). The breaker closes once
  ``ceil(half_open_success_ratio * half_open_calls)`` probes succeeded, and opens again
  (with a longer interval) as soon as that can no longer happen — with the default
  ratio 1.0, on the first probe failure.

The open → half-open transition happens when time is observed (any call to
:meth:`CircuitBreaker.acquire`, :attr:`~CircuitBreaker.state` or
:meth:`~CircuitBreaker.stats`), stamped with the time it was observed.

Which outcomes count: an error is first offered to ``ignore_error`` (default
:func:`is_rate_limit`): an ignored error is neither a failure nor a success — it is not
recorded in the window, and an ignored half-open probe frees its slot without deciding
anything (resilience4j's ``ignoreExceptions``). Otherwise ``counts_as_failure`` (default
:func:`default_counts_as_failure`) decides: connection errors and timeouts, 408, 409,
5xx, 529/overloaded and malformed streams are failures; client errors (400, 401, 403,
404, 422) are successes — the provider answered. Cancellation is never recorded.

Rate limits (429, :class:`~tokenwire.errors.RateLimitError` in a stream, Bedrock
throttling, ``insufficient_quota``) are ignored by default: a 429 says the provider is
up and metering this account, and the :class:`~tokenwire.resilience.AdaptiveRateLimiter`
already answers it (it pauses for ``retry-after`` and cuts its rate), while the retry
policy fails over to the next target. Counting them would let a burst of 429s — routine
when many workers share one quota — open the breaker for seconds to minutes, longer
than the provider asked to wait, and for every process sharing the breaker's state.
Nor are they successes: a window that counted them as such would hide a real outage
behind a 429 storm. Generic HTTP pipelines treat 429 as a transient failure (.NET's
``HttpClientResiliencePredicates.IsTransient`` does); to get that here, pass
``BreakerConfig(ignore_error=None)`` — a 429 then counts, as it is retryable.

Defaults, and why they differ from resilience4j's (window 100, minimum 100, 60 s):
LLM calls take seconds and traffic per provider+model is often a few calls a minute,
so a 100-call window would take many minutes to notice an outage. ``window_size=20``,
``minimum_calls=10`` and a 50 % threshold trip after a handful of failures in a row
while tolerating scattered ones; the open interval starts at 5 s (Polly's
BreakDuration) and doubles up to 2 minutes, the scale of real provider incidents;
3 probes must all succeed to close. ``slow_call_duration`` is off by default because
an LLM call's duration mostly reflects how much it generated.

Results are attributed through the :class:`BreakerPermit` a call got: a result whose
permit predates the last state change is ignored, so a slow call started before the
breaker opened cannot close it again.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Callable, Optional

from tokenwire.errors import CircuitOpenError, ProviderError, RateLimitError, StreamDecodeError
from tokenwire.resilience.clock import Clock, SystemClock
from tokenwire.resilience.retry import is_retryable

__all__ = [
    "BreakerConfig",
    "BreakerPermit",
    "BreakerState",
    "BreakerStats",
    "CircuitBreaker",
    "StateListener",
    "default_counts_as_failure",
    "is_rate_limit",
]

logger = logging.getLogger("tokenwire.resilience")


class BreakerState(str, Enum):
    """The breaker's state (a ``str``: compares equal to ``"closed"`` etc.)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __str__(self) -> str:
        return self.value


#: A state-change listener: ``(key, old_state, new_state, at)`` with ``at`` clock time.
StateListener = Callable[[str, BreakerState, BreakerState, float], None]


def default_counts_as_failure(error: BaseException) -> bool:
    """The default rule for which errors count against a provider (see module doc):
    retryable errors and malformed streams. It is asked only about errors that
    ``ignore_error`` did not ignore — on its own it counts a 429 (retryable)."""
    if isinstance(error, CircuitOpenError):
        return False
    if isinstance(error, StreamDecodeError):
        return True
    return is_retryable(error)


def is_rate_limit(error: BaseException) -> bool:
    """Whether ``error`` is the provider refusing for rate or quota: HTTP 429 or a
    :class:`~tokenwire.errors.RateLimitError` (also in a stream, Bedrock's
    ``ThrottlingException``, OpenAI's ``insufficient_quota``). The default
    ``ignore_error`` of :class:`BreakerConfig` (see the module docstring)."""
    return isinstance(error, RateLimitError) or (isinstance(error, ProviderError) and error.status == 429)


@dataclass(frozen=True)
class BreakerConfig:
    """Circuit-breaker settings (see the module docstring for the model and defaults).

    - ``window_size`` (20): outcomes kept in the count-based sliding window;
    - ``minimum_calls`` (10): outcomes needed before the failure rate is judged;
    - ``failure_rate_threshold`` (0.5): failure fraction at which the breaker opens;
    - ``slow_call_duration`` (``None``): seconds past which a call counts as failed;
    - ``open_duration`` (5 s), ``open_multiplier`` (2.0), ``max_open_duration`` (120 s):
      the open interval, growing with consecutive openings;
    - ``half_open_calls`` (3): probe calls let through when half-open;
    - ``half_open_success_ratio`` (1.0): fraction of probes that must succeed to close;
    - ``ignore_error`` (:func:`is_rate_limit`): errors that are neither failures nor
      successes (not recorded; ``None``: none are);
    - ``counts_as_failure`` (:func:`default_counts_as_failure`): which of the other
      errors count as failures.
    """

    window_size: int = 20
    minimum_calls: int = 10
    failure_rate_threshold: float = 0.5
    slow_call_duration: Optional[float] = None
    open_duration: float = 5.0
    open_multiplier: float = 2.0
    max_open_duration: float = 120.0
    half_open_calls: int = 3
    half_open_success_ratio: float = 1.0
    counts_as_failure: Callable[[BaseException], bool] = default_counts_as_failure
    ignore_error: Optional[Callable[[BaseException], bool]] = is_rate_limit

    def __post_init__(self) -> None:
        if self.window_size < 1:
            raise ValueError(f"window_size must be >= 1, got {self.window_size!r}")
        if not 1 <= self.minimum_calls <= self.window_size:
            raise ValueError(f"minimum_calls must be in [1, window_size], got {self.minimum_calls!r}")
        if not 0 < self.failure_rate_threshold <= 1:
            raise ValueError(f"failure_rate_threshold must be in (0, 1], got {self.failure_rate_threshold!r}")
        if self.slow_call_duration is not None and not self.slow_call_duration > 0:
            raise ValueError(f"slow_call_duration must be > 0 or None, got {self.slow_call_duration!r}")
        if not (math.isfinite(self.open_duration) and self.open_duration > 0):
            raise ValueError(f"open_duration must be finite and > 0, got {self.open_duration!r}")
        if not (math.isfinite(self.open_multiplier) and self.open_multiplier >= 1):
            raise ValueError(f"open_multiplier must be finite and >= 1, got {self.open_multiplier!r}")
        if not (math.isfinite(self.max_open_duration) and self.max_open_duration >= self.open_duration):
            raise ValueError("max_open_duration must be finite and >= open_duration")
        if self.half_open_calls < 1:
            raise ValueError(f"half_open_calls must be >= 1, got {self.half_open_calls!r}")
        if not 0 < self.half_open_success_ratio <= 1:
            raise ValueError(f"half_open_success_ratio must be in (0, 1], got {self.half_open_success_ratio!r}")

    def open_interval(self, consecutive_opens: int) -> float:
        """The open interval for the ``consecutive_opens``-th opening in a row (1-based)."""
        try:
            grown = self.open_duration * self.open_multiplier ** max(consecutive_opens - 1, 0)
        except OverflowError:
            return self.max_open_duration
        return min(self.max_open_duration, grown)

    @property
    def half_open_successes_needed(self) -> int:
        """Successful probes needed to close from half-open."""
        return max(1, math.ceil(self.half_open_success_ratio * self.half_open_calls - 1e-9))


@dataclass(frozen=True)
class BreakerStats:
    """A snapshot of a breaker, for metrics and ``/health`` pages.

    ``failure_rate`` is over the outcomes in the window (0.0 when empty);
    ``retry_at`` is when an open breaker lets probes through (``None`` otherwise).
    """

    key: str
    state: BreakerState
    failure_rate: float
    calls: int
    failures: int
    slow_calls: int
    opened_count: int
    consecutive_opens: int
    retry_at: Optional[float]
    half_open_in_flight: int
    half_open_successes: int
    last_change_at: float


class BreakerPermit:
    """Permission for one call, from :meth:`CircuitBreaker.acquire`.

    Report the outcome exactly once with :meth:`record_success` or
    :meth:`record_failure`, or give the permission back unused with :meth:`release`
    (cancelled call, request never sent). Durations default to the clock time since
    the permit was issued. Also a context manager: an exception leaving the block is
    recorded as a failure (cancellation and other ``BaseException``\\ s release), a
    clean exit as a success, unless an outcome was reported inside.
    """

    __slots__ = ("_breaker", "_done", "generation", "probe", "started_at")

    def __init__(self, breaker: CircuitBreaker, generation: int, probe: bool, started_at: float) -> None:
        self._breaker = breaker
        self.generation = generation
        #: Whether this call is a half-open probe.
        self.probe = probe
        self.started_at = started_at
        self._done = False

    def __repr__(self) -> str:
        return f"BreakerPermit(key={self._breaker.key!r}, probe={self.probe}, done={self._done})"

    @property
    def done(self) -> bool:
        """Whether an outcome was reported (or the permit released)."""
        return self._done

    def _finish(self) -> None:
        if self._done:
            raise RuntimeError("this breaker permit was already used")
        self._done = True

    def record_success(self, duration: Optional[float] = None) -> None:
        """The call succeeded (counts as a failure if slower than ``slow_call_duration``)."""
        self._finish()
        self._breaker._on_result(self, None, duration)

    def record_failure(self, error: BaseException, duration: Optional[float] = None) -> None:
        """The call failed with ``error``: ignored, a failure or a success as the config's
        ``ignore_error`` and ``counts_as_failure`` decide."""
        self._finish()
        self._breaker._on_result(self, error, duration)

    def release(self) -> None:
        """Give the permission back without an outcome (idempotent)."""
        if not self._done:
            self._done = True
            self._breaker._on_release(self)

    def __enter__(self) -> BreakerPermit:
        return self

    def __exit__(self, exc_type: object, exc: Optional[BaseException], tb: object) -> None:
        if self._done:
            return
        if exc is None:
            self.record_success()
        elif isinstance(exc, Exception):
            self.record_failure(exc)
        else:
            self.release()


class CircuitBreaker:
    """A circuit breaker for one provider+model key (see the module docstring).

    Not thread-safe: use it from one event loop (every method is synchronous and
    quick). The manager owns one per key.
    """

    def __init__(
        self,
        key: str = "",
        config: Optional[BreakerConfig] = None,
        *,
        clock: Optional[Clock] = None,
        listeners: tuple[StateListener, ...] = (),
    ) -> None:
        self.key = key
        self.config = config if config is not None else BreakerConfig()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self._listeners: list[StateListener] = list(listeners)
        self._state = BreakerState.CLOSED
        self._generation = 0
        # Closed-state window: True = failure. Counters mirror it for O(1) rates.
        self._window: deque[tuple[bool, bool]] = deque()
        self._failures = 0
        self._slow = 0
        # Open state.
        self._retry_at: Optional[float] = None
        self._consecutive_opens = 0
        self._opened_count = 0
        # Half-open state.
        self._probes_in_flight = 0
        self._probe_successes = 0
        self._probe_failures = 0
        self._last_change_at = self.clock.now()

    def __repr__(self) -> str:
        return f"CircuitBreaker(key={self.key!r}, state={self._state.value!r})"

    # -- listeners -----------------------------------------------------------------

    def add_listener(self, listener: StateListener) -> None:
        """Call ``listener(key, old, new, at)`` on every state change."""
        self._listeners.append(listener)

    def remove_listener(self, listener: StateListener) -> None:
        """Stop calling ``listener`` (``ValueError`` if it was not added)."""
        self._listeners.remove(listener)

    # -- state -----------------------------------------------------------------------

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker whose interval ended turns half-open)."""
        self._poll(self.clock.now())
        return self._state

    @property
    def retry_at(self) -> Optional[float]:
        """When an open breaker lets probes through (clock time), else ``None``."""
        self._poll(self.clock.now())
        return self._retry_at if self._state is BreakerState.OPEN else None

    def _poll(self, now: float) -> None:
        if self._state is BreakerState.OPEN and self._retry_at is not None and now >= self._retry_at:
            self._probes_in_flight = 0
            self._probe_successes = 0
            self._probe_failures = 0
            self._transition(BreakerState.HALF_OPEN, now)

    def _transition(self, new: BreakerState, now: float) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        self._last_change_at = now
        for listener in tuple(self._listeners):
            try:
                listener(self.key, old, new, now)
            except Exception:  # a broken listener must not break the breaker
                logger.exception("circuit breaker listener %r failed", listener)

    def _open(self, now: float, until: Optional[float] = None) -> None:
        self._consecutive_opens += 1
        self._opened_count += 1
        self._retry_at = until if until is not None else now + self.config.open_interval(self._consecutive_opens)
        self._clear_window()
        self._transition(BreakerState.OPEN, now)

    def _close(self, now: float) -> None:
        self._consecutive_opens = 0
        self._retry_at = None
        self._clear_window()
        self._transition(BreakerState.CLOSED, now)

    def _clear_window(self) -> None:
        self._window.clear()
        self._failures = 0
        self._slow = 0

    # -- calls -----------------------------------------------------------------------

    def allow(self) -> Optional[BreakerPermit]:
        """A permit for one call now, or ``None`` if the breaker refuses it."""
        now = self.clock.now()
        self._poll(now)
        if self._state is BreakerState.CLOSED:
            return BreakerPermit(self, self._generation, False, now)
        if self._state is BreakerState.HALF_OPEN:
            decided = self._probe_successes + self._probe_failures
            if decided + self._probes_in_flight < self.config.half_open_calls:
                self._probes_in_flight += 1
                return BreakerPermit(self, self._generation, True, now)
        return None

    def acquire(self) -> BreakerPermit:
        """A permit for one call now; raises :class:`~tokenwire.errors.CircuitOpenError`
        when the breaker is open (``retry_at`` = when it will let probes through) or
        half-open with every probe slot taken (``retry_at`` = ``None``)."""
        permit = self.allow()
        if permit is not None:
            return permit
        now = self.clock.now()
        label = self.key or "circuit"
        if self._state is BreakerState.OPEN and self._retry_at is not None:
            wait = self._retry_at - now
            raise CircuitOpenError(
                f"{label}: circuit breaker is open after repeated failures; next probe in {wait:.1f}s "
                f"(at t={self._retry_at:.3f})",
                retry_at=self._retry_at,
            )
        raise CircuitOpenError(
            f"{label}: circuit breaker is half-open and its {self.config.half_open_calls} probe call(s) are "
            "in flight; retry once they finish",
            retry_at=None,
        )

    def _on_release(self, permit: BreakerPermit) -> None:
        if permit.probe and permit.generation == self._generation and self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight -= 1

    def _on_result(self, permit: BreakerPermit, error: Optional[BaseException], duration: Optional[float]) -> None:
        now = self.clock.now()
        self._poll(now)
        if permit.generation != self._generation:
            return  # issued before the last state change: stale
        config = self.config
        if error is not None and config.ignore_error is not None and config.ignore_error(error):
            # Neither outcome: nothing recorded; a probe gives its slot back undecided.
            self._on_release(permit)
            return
        if duration is None:
            duration = now - permit.started_at
        slow = config.slow_call_duration is not None and duration > config.slow_call_duration
        failed = slow or (error is not None and config.counts_as_failure(error))
        if self._state is BreakerState.CLOSED:
            self._record(failed, slow)
            calls = len(self._window)
            if calls >= config.minimum_calls and self._failures / calls >= config.failure_rate_threshold:
                self._open(now)
        elif self._state is BreakerState.HALF_OPEN and permit.probe:
            self._probes_in_flight -= 1
            if failed:
                self._probe_failures += 1
            else:
                self._probe_successes += 1
            needed = config.half_open_successes_needed
            if self._probe_successes >= needed:
                self._close(now)
            elif config.half_open_calls - self._probe_failures < needed:
                self._open(now)

    def _record(self, failed: bool, slow: bool) -> None:
        window = self._window
        if len(window) == self.config.window_size:
            old_failed, old_slow = window.popleft()
            self._failures -= old_failed
            self._slow -= old_slow
        window.append((failed, slow))
        self._failures += failed
        self._slow += slow

    # -- control -----------------------------------------------------------------------

    def reset(self) -> None:
        """Force the breaker closed with an empty window (e.g. an operator override or a
        health check that found the provider well again)."""
        now = self.clock.now()
        self._consecutive_opens = 0
        self._retry_at = None
        self._clear_window()
        if self._state is not BreakerState.CLOSED:
            self._transition(BreakerState.CLOSED, now)

    def trip(self, *, until: Optional[float] = None, consecutive_opens: Optional[int] = None) -> None:
        """Force the breaker open now, as if it had just failed (the interval grows).

        For adopting an opening decided elsewhere (another process, through a shared
        store such as :class:`tokenwire.resilience.redis.RedisBreakerStore`): ``until``
        (clock time) ends the open interval then instead, and ``consecutive_opens`` sets
        the count of openings in a row (the next interval grows from it).
        """
        if until is not None and not math.isfinite(until):
            raise ValueError(f"until must be finite, got {until!r}")
        if consecutive_opens is not None and consecutive_opens < 1:
            raise ValueError(f"consecutive_opens must be >= 1, got {consecutive_opens!r}")
        now = self.clock.now()
        self._poll(now)
        if consecutive_opens is not None:
            self._consecutive_opens = consecutive_opens - 1  # _open counts this one
        self._open(now, until)

    def stats(self) -> BreakerStats:
        """A snapshot of the state and counters."""
        now = self.clock.now()
        self._poll(now)
        calls = len(self._window)
        return BreakerStats(
            key=self.key,
            state=self._state,
            failure_rate=self._failures / calls if calls else 0.0,
            calls=calls,
            failures=self._failures,
            slow_calls=self._slow,
            opened_count=self._opened_count,
            consecutive_opens=self._consecutive_opens,
            retry_at=self._retry_at if self._state is BreakerState.OPEN else None,
            half_open_in_flight=self._probes_in_flight if self._state is BreakerState.HALF_OPEN else 0,
            half_open_successes=self._probe_successes if self._state is BreakerState.HALF_OPEN else 0,
            last_change_at=self._last_change_at,
        )
