"""Resilience for provider calls: retries, circuit breakers, adaptive rate limits.

- :class:`RetryPolicy` — which errors to retry and how long to wait (the official
  SDKs' rules, full-jitter backoff, provider-given delays, a total deadline, never
  after the first token);
- :class:`CircuitBreaker` — closed / open / half-open per provider+model, with a
  count-based failure-rate window, slow calls, growing open intervals and probes;
- :class:`AdaptiveRateLimiter` — requests- and tokens-per-minute buckets per provider
  learned from rate-limit headers and 429s (AIMD), with fair FIFO waiting;
- :class:`Clock` — the time source they all use: :class:`SystemClock` in production,
  :class:`FakeClock` in tests (no real sleeping);
- :class:`SharedState` — limits and breaker state shared by every process of a
  deployment, in Redis (the ``redis`` extra; :mod:`tokenwire.resilience.shared`).

The :class:`~tokenwire.manager.ProviderManager` composes one of each per target.
"""

from __future__ import annotations

from tokenwire.resilience.breaker import (
    BreakerConfig,
    BreakerPermit,
    BreakerState,
    BreakerStats,
    CircuitBreaker,
    StateListener,
    default_counts_as_failure,
    is_rate_limit,
)
from tokenwire.resilience.clock import Clock, FakeClock, SystemClock
from tokenwire.resilience.headers import (
    RateLimitHeaders,
    RateLimitWindow,
    parse_go_duration,
    parse_rate_limit_headers,
    parse_reset,
    parse_rfc3339,
)
from tokenwire.resilience.limiter import AdaptiveRateLimiter, LimiterConfig, LimiterStats, Permit, QuotaStats
from tokenwire.resilience.retry import RetryPolicy, RetryState, is_insufficient_quota, is_retryable
from tokenwire.resilience.shared import SharedState

__all__ = [
    "AdaptiveRateLimiter",
    "BreakerConfig",
    "BreakerPermit",
    "BreakerState",
    "BreakerStats",
    "CircuitBreaker",
    "Clock",
    "FakeClock",
    "LimiterConfig",
    "LimiterStats",
    "Permit",
    "QuotaStats",
    "RateLimitHeaders",
    "RateLimitWindow",
    "RetryPolicy",
    "RetryState",
    "SharedState",
    "StateListener",
    "SystemClock",
    "default_counts_as_failure",
    "is_insufficient_quota",
    "is_rate_limit",
    "is_retryable",
    "parse_go_duration",
    "parse_rate_limit_headers",
    "parse_reset",
    "parse_rfc3339",
]
