"""Property tests for tokenwire.resilience, against simple reference models.

- Go durations: parsing what the mock servers print gives back the duration.
- CircuitBreaker (closed state): opens exactly at the first outcome where a naive
  recount of the last ``window_size`` outcomes crosses the threshold.
- AdaptiveRateLimiter: for arbitrary arrival times and costs, callers are served in
  arrival order and the grants never exceed what the buckets allow.
- RetryPolicy: delays stay within the documented bounds.

Everything runs on a FakeClock; nothing sleeps.
"""

from __future__ import annotations

import random
from typing import Optional

import anyio
from hypothesis import given
from hypothesis import strategies as st

from tokenwire.errors import ServerError
from tokenwire.resilience import (
    AdaptiveRateLimiter,
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    FakeClock,
    LimiterConfig,
    RetryPolicy,
    parse_go_duration,
)
from tokenwire.testing._ratelimit import go_duration


@given(st.floats(min_value=0.0, max_value=10 * 86400.0, allow_nan=False))
def test_go_duration_round_trip(seconds: float) -> None:
    text = go_duration(seconds)
    parsed = parse_go_duration(text)
    assert parsed is not None
    # go_duration rounds to whole nanoseconds.
    assert abs(parsed - round(seconds * 1e9) / 1e9) <= 1e-9 * max(1.0, seconds) * 1e-3 + 1e-12


@given(
    st.integers(min_value=1, max_value=30).flatmap(
        lambda window: st.tuples(
            st.just(window),
            st.integers(min_value=1, max_value=window),
            st.sampled_from([0.1, 0.25, 0.3, 0.5, 2 / 3, 0.75, 1.0]),
            st.lists(st.booleans(), max_size=120),
        )
    )
)
def test_breaker_opens_exactly_when_the_window_says_so(case: tuple[int, int, float, list[bool]]) -> None:
    window, minimum, threshold, outcomes = case
    breaker = CircuitBreaker(
        "k",
        BreakerConfig(window_size=window, minimum_calls=minimum, failure_rate_threshold=threshold),
        clock=FakeClock(),
    )
    seen: list[bool] = []
    for failed in outcomes:
        permit = breaker.acquire()
        if failed:
            permit.record_failure(ServerError("x", status=500))
        else:
            permit.record_success()
        seen.append(failed)
        recent = seen[-window:]
        should_open = len(recent) >= minimum and sum(recent) / len(recent) >= threshold
        if should_open:
            assert breaker.state is BreakerState.OPEN
            return
        assert breaker.state is BreakerState.CLOSED
        stats = breaker.stats()
        assert (stats.calls, stats.failures) == (len(recent), sum(recent))


@given(
    rpm=st.sampled_from([3.0, 10.0, 60.0]),
    tpm=st.sampled_from([100.0, 1000.0, 5000.0]),
    arrivals=st.lists(
        st.tuples(st.floats(min_value=0.0, max_value=20.0), st.integers(min_value=0, max_value=6000)),
        min_size=1,
        max_size=25,
    ),
)
def test_limiter_is_fifo_and_within_limits(rpm: float, tpm: float, arrivals: list[tuple[float, int]]) -> None:
    grants: list[tuple[int, float, float]] = []

    async def main() -> None:
        clock = FakeClock()
        limiter = AdaptiveRateLimiter("p", LimiterConfig(requests_per_minute=rpm, tokens_per_minute=tpm), clock=clock)

        async def caller(index: int, cost: float) -> None:
            permit = await limiter.acquire(cost)
            grants.append((index, clock.now(), permit.charged_tokens))

        async with anyio.create_task_group() as tg:
            # Callers arrive at the given gaps, in order, while earlier ones wait.
            for index, (gap, cost) in enumerate(arrivals):
                await clock.step(gap)
                tg.start_soon(caller, index, float(cost))
                await clock.run_until_idle()
            while len(grants) < len(arrivals):
                deadline = clock.next_deadline()
                assert deadline is not None  # someone waits, so someone sleeps
                await clock.step(deadline - clock.now())

    anyio.run(main)
    assert [index for index, _, _ in grants] == list(range(len(arrivals)))
    assert all(charged == min(float(cost), tpm) for (_, _, charged), (_, cost) in zip(grants, arrivals))
    used_tokens = 0.0
    for count, (_, at, charged) in enumerate(grants, start=1):
        used_tokens += charged
        assert count <= rpm + rpm / 60.0 * at + 1e-6
        assert used_tokens <= tpm + tpm / 60.0 * at + 1e-6


@given(
    seed=st.integers(min_value=0, max_value=2**32),
    attempt=st.integers(min_value=0, max_value=200),
    retry_after=st.one_of(st.none(), st.floats(min_value=-5.0, max_value=500.0)),
)
def test_retry_delay_bounds(seed: int, attempt: int, retry_after: Optional[float]) -> None:
    policy = RetryPolicy(random=random.Random(seed), clock=FakeClock())
    error = ServerError("x", status=503, retry_after=retry_after)
    delay = policy.delay(error, attempt)
    if retry_after is not None and 0 < retry_after <= 60.0:
        assert delay == retry_after
    else:
        assert 0.0 <= delay <= min(8.0, 0.5 * 2.0 ** min(attempt, 10))
