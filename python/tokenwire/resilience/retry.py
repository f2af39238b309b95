"""Retry decisions: which errors to retry, how long to wait, and when to give up.

The rules follow the official OpenAI and Anthropic SDKs, with two deliberate changes:

- **Retryable**: connection errors and timeouts, HTTP 408, 409, 429 and every status
  ``>= 500`` (Anthropic's 529 ``overloaded_error`` included), and errors reported inside
  a stream whose class says the same (:class:`~tokenwire.errors.RateLimitError`,
  :class:`~tokenwire.errors.OverloadedError`, :class:`~tokenwire.errors.ServerError`,
  :class:`~tokenwire.errors.ConflictError`) when they carry no status. A 429 whose
  type or code is ``insufficient_quota`` is *not* retryable (the account is out of
  credit; waiting does not help). The provider's ``x-should-retry: true|false``
  (:attr:`ProviderError.should_retry`) overrides all of this, both ways.
- **Never after the first token**: once any token reached the caller, a retry would
  duplicate output, so nothing is retried (the manager raises instead).
- **Provider-given delay**: ``retry-after-ms``, ``retry-after`` (seconds or HTTP date)
  and Gemini's ``RetryInfo.retryDelay`` are already folded into
  :attr:`ProviderError.retry_after` by the HTTP layer; it is honored when
  ``0 < delay <= max_retry_after`` (60 s, the SDKs' rule), otherwise the backoff applies.
- **Backoff — change 1**: exponential with *full jitter*,
  ``uniform(0, min(max_delay, initial_delay * multiplier ** attempt))`` — the "Full
  Jitter" of the AWS Architecture Blog ("Exponential Backoff And Jitter"). The SDKs
  multiply the capped exponential by ``1 - 0.25 * random()`` (25 % jitter), which keeps
  retries from a burst of failed clients bunched together; full jitter spreads them
  over the whole interval, which matters when hundreds of streams hit one 429 at once.
- **Deadline — change 2**: an optional total budget, in seconds from the first
  attempt: no retry is scheduled whose delay would end at or past it.

``attempt`` is always the number of retries already made (0 when deciding about the
first retry), so ``max_retries=2`` means at most three calls.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Callable, Optional, TypeVar

from tokenwire.errors import (
    APIConnectionError,
    ConflictError,
    OverloadedError,
    ProviderError,
    RateLimitError,
    ServerError,
)
from tokenwire.resilience.clock import Clock, SystemClock

__all__ = ["RetryPolicy", "RetryState", "is_insufficient_quota", "is_retryable"]

T = TypeVar("T")

#: Statuses the SDKs retry besides every 5xx.
RETRYABLE_STATUSES = frozenset({408, 409, 429})

# Classes retried when an error carries no HTTP status (errors inside a stream).
_RETRYABLE_CLASSES = (RateLimitError, OverloadedError, ServerError, ConflictError)


def is_insufficient_quota(error: BaseException) -> bool:
    """Whether ``error`` says the account is out of credit (OpenAI's 429
    ``insufficient_quota``): a rate-limit status that no wait will cure."""
    if not isinstance(error, ProviderError):
        return False
    return "insufficient_quota" in (error.code, error.error_type)


def is_retryable(error: BaseException) -> bool:
    """Whether ``error`` is worth retrying at all (ignoring budgets and streaming).

    See the module docstring for the rules; :class:`~tokenwire.errors.CircuitOpenError`
    and every non-tokenwire exception are not retryable.
    """
    if isinstance(error, ProviderError):
        if error.should_retry is not None:
            return error.should_retry
        if is_insufficient_quota(error):
            return False
        status = error.status
        if status is None:
            return isinstance(error, _RETRYABLE_CLASSES)
        return status in RETRYABLE_STATUSES or status >= 500
    return isinstance(error, APIConnectionError)


@dataclass(frozen=True)
class RetryPolicy:
    """When and how long to retry a failed provider call.

    Attributes (defaults in parentheses):

    - ``max_retries`` (2, as the SDKs): retries after the first call;
    - ``initial_delay`` (0.5 s), ``multiplier`` (2.0), ``max_delay`` (8 s): the
      exponential backoff cap ``min(max_delay, initial_delay * multiplier ** attempt)``,
      from which the delay is drawn uniformly (full jitter);
    - ``max_retry_after`` (60 s): the longest provider-given delay honored;
    - ``deadline`` (``None``): total seconds from the first attempt within which every
      retry's delay must end;
    - ``random``: the :class:`random.Random` the jitter is drawn from (seed it in tests);
    - ``clock``: the :class:`~tokenwire.resilience.Clock` used by :meth:`run` and
      :class:`RetryState` to sleep and measure the deadline.

    The policy is immutable and shared; per-call progress lives in a
    :class:`RetryState` (:meth:`begin`).
    """

    max_retries: int = 2
    initial_delay: float = 0.5
    max_delay: float = 8.0
    multiplier: float = 2.0
    max_retry_after: float = 60.0
    deadline: Optional[float] = None
    random: _random.Random = field(default_factory=_random.Random, compare=False, repr=False)
    clock: Clock = field(default_factory=SystemClock, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {self.max_retries!r}")
        for name in ("initial_delay", "max_delay", "max_retry_after"):
            value: float = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
        if not (math.isfinite(self.multiplier) and self.multiplier >= 1):
            raise ValueError(f"multiplier must be finite and >= 1, got {self.multiplier!r}")
        if self.deadline is not None and not self.deadline > 0:
            raise ValueError(f"deadline must be > 0 seconds or None, got {self.deadline!r}")

    # -- decisions -----------------------------------------------------------------

    def should_retry(self, error: BaseException, attempt: int, *, first_token_delivered: bool = False) -> bool:
        """Whether to retry after ``error``, with ``attempt`` retries already made.

        ``False`` once a token reached the caller, when the retries are used up, or
        when the error is not retryable (:func:`is_retryable`). The deadline is not
        checked here (it depends on the delay): use :meth:`RetryState.next_delay`.
        """
        if first_token_delivered or attempt >= self.max_retries:
            return False
        return is_retryable(error)

    def backoff(self, attempt: int) -> float:
        """A full-jitter backoff delay for retry number ``attempt`` (0-based)."""
        return self.random.uniform(0.0, self.backoff_ceiling(attempt))

    def backoff_ceiling(self, attempt: int) -> float:
        """The upper bound of the backoff for retry ``attempt``:
        ``min(max_delay, initial_delay * multiplier ** attempt)``."""
        try:
            grown = self.initial_delay * self.multiplier ** max(attempt, 0)
        except OverflowError:  # a huge attempt number: the cap applies anyway
            return self.max_delay
        return min(self.max_delay, grown)

    def provider_delay(self, error: BaseException) -> Optional[float]:
        """The provider-requested delay if it is to be honored (``0 < d <= max_retry_after``)."""
        if isinstance(error, ProviderError):
            given = error.retry_after
            if given is not None and 0 < given <= self.max_retry_after:
                return float(given)
        return None

    def delay(self, error: BaseException, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based) after ``error``:
        the provider's delay when honored, else the jittered backoff."""
        given = self.provider_delay(error)
        return given if given is not None else self.backoff(attempt)

    # -- driving calls ---------------------------------------------------------------

    def begin(self) -> RetryState:
        """Start tracking one logical call (its retries and deadline) from now."""
        return RetryState(self)

    async def run(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        on_retry: Optional[Callable[[BaseException, int, float], None]] = None,
    ) -> T:
        """Await ``fn()`` and retry it per this policy; return its result.

        For non-streaming calls (a stream's retry decision depends on whether a token
        was delivered; the manager drives :class:`RetryState` itself). ``on_retry``
        is called with ``(error, attempt, delay)`` before each wait. The last error is
        re-raised when no retry remains; cancellation is never retried.
        """
        state = self.begin()
        while True:
            try:
                return await fn()
            except Exception as error:
                delay = state.next_delay(error)
                if delay is None:
                    raise
                if on_retry is not None:
                    on_retry(error, state.attempt - 1, delay)
                await self.clock.sleep(delay)


class RetryState:
    """Progress of one logical call under a :class:`RetryPolicy`.

    ``started_at`` is the clock time of the first attempt; ``attempt`` counts the
    retries scheduled so far.
    """

    __slots__ = ("attempt", "policy", "started_at")

    def __init__(self, policy: RetryPolicy, *, started_at: Optional[float] = None) -> None:
        self.policy = policy
        self.started_at = policy.clock.now() if started_at is None else started_at
        self.attempt = 0

    def __repr__(self) -> str:
        return f"RetryState(attempt={self.attempt}, started_at={self.started_at!r})"

    @property
    def deadline_at(self) -> Optional[float]:
        """The clock time the total budget ends, or ``None``."""
        deadline = self.policy.deadline
        return None if deadline is None else self.started_at + deadline

    def remaining(self) -> Optional[float]:
        """Seconds left in the total budget (``None`` without a deadline; may be negative)."""
        end = self.deadline_at
        return None if end is None else end - self.policy.clock.now()

    def next_delay(self, error: BaseException, *, first_token_delivered: bool = False) -> Optional[float]:
        """Decide about a retry after ``error``: the delay to wait, or ``None`` to give up.

        A returned delay consumes one retry (``attempt`` goes up by one). ``None`` when
        :meth:`RetryPolicy.should_retry` says no, or when ``now + delay`` would reach
        the deadline.
        """
        policy = self.policy
        if not policy.should_retry(error, self.attempt, first_token_delivered=first_token_delivered):
            return None
        delay = policy.delay(error, self.attempt)
        end = self.deadline_at
        if end is not None and policy.clock.now() + delay >= end:
            return None
        self.attempt += 1
        return delay

    async def backoff(self, error: BaseException, *, first_token_delivered: bool = False) -> bool:
        """:meth:`next_delay`, then sleep that long on the policy's clock.

        Returns ``True`` when the caller should try again, ``False`` when it should give
        up (nothing was slept).
        """
        delay = self.next_delay(error, first_token_delivered=first_token_delivered)
        if delay is None:
            return False
        await self.policy.clock.sleep(delay)
        return True
