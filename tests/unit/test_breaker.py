"""CircuitBreaker: every state transition and timing rule, on a FakeClock.

The breaker is synchronous, so these tests move the fake clock with ``advance`` and
never await anything.
"""

from __future__ import annotations

import logging
from typing import Any, Optional

import pytest

from tokenwire._http import error_from_response
from tokenwire.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    NotFoundError,
    OverloadedError,
    ProviderError,
    RateLimitError,
    ServerError,
    StreamDecodeError,
    stream_error,
)
from tokenwire.resilience import (
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    FakeClock,
    default_counts_as_failure,
    is_rate_limit,
)

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN
FAIL = ServerError("boom", status=500)


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, BreakerState, BreakerState, float]] = []

    def __call__(self, key: str, old: BreakerState, new: BreakerState, at: float) -> None:
        self.events.append((key, old, new, at))


def make(clock: Optional[FakeClock] = None, **config: Any) -> CircuitBreaker:
    return CircuitBreaker("openai/gpt-4o", BreakerConfig(**config), clock=clock or FakeClock())


def succeed(breaker: CircuitBreaker, n: int = 1, duration: Optional[float] = None) -> None:
    for _ in range(n):
        breaker.acquire().record_success(duration)


def fail(breaker: CircuitBreaker, n: int = 1, error: BaseException = FAIL) -> None:
    for _ in range(n):
        breaker.acquire().record_failure(error)


def open_breaker(breaker: CircuitBreaker) -> None:
    config = breaker.config
    fail(breaker, config.minimum_calls)
    assert breaker.state is OPEN


# ---------------------------------------------------------------------------
# Closed: the sliding window
# ---------------------------------------------------------------------------


def test_defaults() -> None:
    config = BreakerConfig()
    assert (config.window_size, config.minimum_calls, config.failure_rate_threshold) == (20, 10, 0.5)
    assert (config.open_duration, config.open_multiplier, config.max_open_duration) == (5.0, 2.0, 120.0)
    assert (config.half_open_calls, config.half_open_success_ratio, config.slow_call_duration) == (3, 1.0, None)
    breaker = CircuitBreaker()
    assert breaker.state is CLOSED
    assert breaker.retry_at is None
    assert repr(breaker) == "CircuitBreaker(key='', state='closed')"


def test_successes_keep_it_closed() -> None:
    breaker = make()
    succeed(breaker, 100)
    stats = breaker.stats()
    assert stats.state is CLOSED
    assert (stats.calls, stats.failures, stats.failure_rate) == (20, 0, 0.0)


def test_no_judgement_before_minimum_calls() -> None:
    breaker = make(window_size=20, minimum_calls=10)
    fail(breaker, 9)
    assert breaker.state is CLOSED
    assert breaker.stats().failure_rate == 1.0
    fail(breaker, 1)
    assert breaker.state is OPEN


def test_threshold_is_inclusive() -> None:
    breaker = make(window_size=10, minimum_calls=10, failure_rate_threshold=0.5)
    succeed(breaker, 5)
    fail(breaker, 4)
    assert breaker.state is CLOSED  # 4/9, and fewer than 10 calls anyway
    fail(breaker, 1)
    assert breaker.state is OPEN  # 5/10 = 50 %


def test_threshold_that_is_not_a_binary_fraction() -> None:
    breaker = make(window_size=10, minimum_calls=10, failure_rate_threshold=0.3)
    succeed(breaker, 7)
    fail(breaker, 2)
    assert breaker.state is CLOSED
    fail(breaker, 1)
    assert breaker.state is OPEN  # 3/10 >= 0.3 despite 0.3 * 10 != 3.0 in floats


def test_window_slides_and_evicts_the_oldest() -> None:
    breaker = make(window_size=4, minimum_calls=4, failure_rate_threshold=0.75)
    fail(breaker, 2)
    succeed(breaker, 2)
    assert breaker.stats().failure_rate == 0.5  # [F F S S]
    fail(breaker)
    assert (breaker.stats().calls, breaker.stats().failure_rate) == (4, 0.5)  # [F S S F]
    fail(breaker)
    assert breaker.stats().failure_rate == 0.5  # [S S F F]
    assert breaker.state is CLOSED
    fail(breaker)  # [S F F F]
    assert breaker.state is OPEN


def test_scattered_failures_in_a_long_run_never_trip() -> None:
    breaker = make()
    for i in range(500):
        if i % 3 == 0:
            fail(breaker)
        else:
            succeed(breaker)
    assert breaker.state is CLOSED
    assert breaker.stats().opened_count == 0


# ---------------------------------------------------------------------------
# Which outcomes count
# ---------------------------------------------------------------------------


def http(status: int, body: bytes = b"{}") -> Any:
    return error_from_response(status, {}, body, provider="p", model="m")


@pytest.mark.parametrize(
    "error",
    [
        FAIL,
        http(500),
        http(502),
        http(503),
        http(529),
        http(408),
        http(409),
        OverloadedError("overloaded"),
        stream_error("Overloaded", error_type="overloaded_error"),
        APIConnectionError("reset"),
        APITimeoutError("timeout"),
        StreamDecodeError("bad CRC", 12),
    ],
)
def test_counting_errors(error: BaseException) -> None:
    assert default_counts_as_failure(error) and not is_rate_limit(error)
    breaker = make(window_size=2, minimum_calls=2, failure_rate_threshold=1.0)
    fail(breaker, 2, error)
    assert breaker.state is OPEN


@pytest.mark.parametrize(
    "error",
    [
        http(400),
        http(401),
        http(403),
        http(404),
        http(422),
        BadRequestError("bad"),
        AuthenticationError("bad key"),
        NotFoundError("no model"),
        CircuitOpenError("open"),
        ValueError("a bug of ours"),
    ],
)
def test_client_errors_count_as_successes(error: BaseException) -> None:
    assert not default_counts_as_failure(error)
    breaker = make(window_size=2, minimum_calls=2, failure_rate_threshold=0.5)
    fail(breaker, 5, error)
    stats = breaker.stats()
    assert stats.state is CLOSED
    assert (stats.calls, stats.failures) == (2, 0)


RATE_LIMITS = [
    http(429),
    http(429, b'{"error": {"type": "insufficient_quota", "message": "no credit"}}'),
    RateLimitError("slow down"),  # in a stream: no status
    stream_error("Rate limit reached", code="rate_limit_exceeded"),
    stream_error("Too many tokens, please wait", error_type="throttlingException"),  # Bedrock
    stream_error("Resource exhausted", error_type="RESOURCE_EXHAUSTED"),  # Gemini
    ProviderError("429 from a gateway", status=429),
]


@pytest.mark.parametrize("error", RATE_LIMITS)
def test_rate_limits_are_ignored_by_default(error: BaseException) -> None:
    assert is_rate_limit(error)
    recorder = Recorder()
    breaker = CircuitBreaker("k", BreakerConfig(window_size=2, minimum_calls=2), listeners=(recorder,))
    fail(breaker, 50, error)  # a 429 storm
    stats = breaker.stats()
    assert stats.state is CLOSED and recorder.events == []
    assert (stats.calls, stats.failures) == (0, 0)  # neither failures nor successes


def test_ignored_errors_do_not_dilute_the_failure_rate() -> None:
    breaker = make(window_size=4, minimum_calls=4, failure_rate_threshold=1.0)
    for _ in range(2):
        fail(breaker, 1)
        fail(breaker, 3, http(429))
    assert (breaker.stats().calls, breaker.stats().failures) == (2, 2)
    fail(breaker, 2)  # four real failures in a row: had the 429s been successes, 4/7 < 100 %
    assert breaker.state is OPEN


def test_an_ignored_probe_frees_its_slot_without_deciding() -> None:
    clock = FakeClock()
    breaker = half_open(clock, half_open_calls=2)
    first, second = breaker.acquire(), breaker.acquire()
    assert breaker.allow() is None  # both slots taken
    first.record_failure(http(429))
    stats = breaker.stats()
    assert stats.state is HALF_OPEN
    assert (stats.half_open_in_flight, stats.half_open_successes) == (1, 0)
    second.record_success()
    assert breaker.state is HALF_OPEN  # two successes are needed; the 429 was not one
    breaker.acquire().record_success()
    assert breaker.state is CLOSED


def test_an_ignored_error_is_not_a_slow_call_either() -> None:
    clock = FakeClock()
    breaker = make(clock, window_size=2, minimum_calls=2, slow_call_duration=1.0)
    for _ in range(3):
        permit = breaker.acquire()
        clock.advance(30.0)  # waited out a long retry-after, then 429 again
        permit.record_failure(http(429))
    assert (breaker.stats().calls, breaker.stats().slow_calls) == (0, 0)


def test_a_stale_ignored_result_changes_nothing() -> None:
    clock = FakeClock()
    breaker = make(clock)
    stale = breaker.acquire()
    open_breaker(breaker)
    clock.set_time(breaker.retry_at or 0.0)
    probe = breaker.acquire()
    stale.record_failure(http(429))
    assert breaker.stats().half_open_in_flight == 1
    probe.record_failure(http(429))
    assert breaker.stats().half_open_in_flight == 0


def test_rate_limits_count_when_nothing_is_ignored() -> None:
    config = {"window_size": 4, "minimum_calls": 4, "ignore_error": None}
    breaker = make(**config)
    fail(breaker, 4, http(429))
    assert breaker.state is OPEN  # retryable, so default_counts_as_failure counts it
    assert default_counts_as_failure(http(429))
    out_of_credit = make(**config)
    fail(out_of_credit, 4, http(429, b'{"error": {"type": "insufficient_quota", "message": "no credit"}}'))
    stats = out_of_credit.stats()
    assert (stats.state, stats.calls, stats.failures) == (CLOSED, 4, 0)  # not retryable: a success


def test_custom_ignore_predicate_replaces_the_default() -> None:
    breaker = make(
        window_size=2,
        minimum_calls=2,
        failure_rate_threshold=1.0,
        ignore_error=lambda e: isinstance(e, APITimeoutError),
    )
    fail(breaker, 5, APITimeoutError("read timeout"))
    assert breaker.stats().calls == 0
    fail(breaker, 2, http(429))  # no longer ignored: counted (retryable)
    assert breaker.state is OPEN


def test_custom_predicate() -> None:
    breaker = make(
        window_size=2, minimum_calls=2, failure_rate_threshold=1.0, counts_as_failure=lambda e: isinstance(e, KeyError)
    )
    fail(breaker, 2, FAIL)
    assert breaker.state is CLOSED
    fail(breaker, 2, KeyError("x"))
    assert breaker.state is OPEN


def test_slow_calls_count_as_failures() -> None:
    clock = FakeClock()
    breaker = make(clock, window_size=4, minimum_calls=4, failure_rate_threshold=0.5, slow_call_duration=2.0)
    succeed(breaker, 1, duration=2.0)  # exactly at the limit: not slow
    succeed(breaker, 1, duration=2.5)
    stats = breaker.stats()
    assert (stats.failures, stats.slow_calls) == (1, 1)
    # Without an explicit duration the permit measures it on the clock.
    permit = breaker.acquire()
    clock.advance(3.0)
    permit.record_success()
    assert breaker.stats().slow_calls == 2
    assert breaker.state is CLOSED  # 3 calls < minimum
    permit = breaker.acquire()
    clock.advance(0.5)
    permit.record_failure(http(400))  # fast, non-counting
    assert breaker.state is OPEN  # 2 slow of 4 = 50 %


def test_slow_rule_is_off_by_default() -> None:
    breaker = make(window_size=2, minimum_calls=2)
    succeed(breaker, 5, duration=3600.0)
    assert breaker.stats().failures == 0


# ---------------------------------------------------------------------------
# Open, and the growing open interval
# ---------------------------------------------------------------------------


def test_open_refuses_with_retry_at() -> None:
    clock = FakeClock(1000.0)
    breaker = make(clock)
    open_breaker(breaker)
    clock.advance(1.5)
    with pytest.raises(CircuitOpenError) as caught:
        breaker.acquire()
    assert caught.value.retry_at == 1005.0
    message = str(caught.value)
    assert "openai/gpt-4o" in message and "open" in message and "3.5s" in message
    assert breaker.allow() is None
    assert breaker.retry_at == 1005.0
    stats = breaker.stats()
    assert (stats.state, stats.retry_at, stats.opened_count, stats.consecutive_opens) == (OPEN, 1005.0, 1, 1)
    assert (stats.calls, stats.failures) == (0, 0)  # the window restarts


def test_open_turns_half_open_exactly_at_retry_at() -> None:
    clock = FakeClock()
    breaker = make(clock)
    open_breaker(breaker)
    clock.advance(4.999)
    assert breaker.state is OPEN
    clock.advance(0.001)
    assert breaker.state is HALF_OPEN
    assert breaker.retry_at is None


def test_open_interval_grows_while_failing_and_resets_on_recovery() -> None:
    clock = FakeClock()
    breaker = make(clock)
    open_breaker(breaker)
    intervals: list[float] = []
    for _ in range(7):
        retry_at = breaker.retry_at
        assert retry_at is not None
        intervals.append(retry_at - clock.now())
        clock.set_time(retry_at)
        breaker.acquire().record_failure(FAIL)  # the probe fails: open again, longer
        assert breaker.state is OPEN
    assert intervals == [5.0, 10.0, 20.0, 40.0, 80.0, 120.0, 120.0]
    assert breaker.stats().consecutive_opens == 8
    # Recovery resets the growth.
    clock.set_time(breaker.retry_at or 0.0)
    succeed(breaker, 3)
    assert breaker.state is CLOSED
    assert breaker.stats().consecutive_opens == 0
    open_breaker(breaker)
    assert breaker.retry_at == clock.now() + 5.0
    assert breaker.stats().opened_count == 9


def test_open_interval_formula() -> None:
    config = BreakerConfig(open_duration=2.0, open_multiplier=3.0, max_open_duration=100.0)
    assert [config.open_interval(n) for n in range(1, 7)] == [2.0, 6.0, 18.0, 54.0, 100.0, 100.0]
    assert config.open_interval(10_000) == 100.0
    assert BreakerConfig(open_multiplier=1.0).open_interval(50) == 5.0


# ---------------------------------------------------------------------------
# Half-open probes
# ---------------------------------------------------------------------------


def half_open(clock: FakeClock, **config: Any) -> CircuitBreaker:
    breaker = make(clock, **config)
    open_breaker(breaker)
    clock.set_time(breaker.retry_at or 0.0)
    assert breaker.state is HALF_OPEN
    return breaker


def test_half_open_admits_a_limited_number_of_probes() -> None:
    clock = FakeClock()
    breaker = half_open(clock)
    probes = [breaker.acquire() for _ in range(3)]
    assert all(p.probe for p in probes)
    with pytest.raises(CircuitOpenError) as caught:
        breaker.acquire()
    assert caught.value.retry_at is None
    assert "probe" in str(caught.value)
    assert breaker.stats().half_open_in_flight == 3
    probes[0].release()  # a cancelled probe frees its slot
    extra = breaker.acquire()
    assert extra.probe
    assert breaker.allow() is None


def test_all_probes_must_succeed_to_close() -> None:
    clock = FakeClock()
    breaker = half_open(clock)
    probes = [breaker.acquire() for _ in range(3)]
    probes[0].record_success()
    probes[1].record_success()
    assert breaker.state is HALF_OPEN
    assert breaker.stats().half_open_successes == 2
    assert breaker.allow() is None  # all three slots used (two decided, one in flight)
    probes[2].record_success()
    assert breaker.state is CLOSED
    assert breaker.acquire().probe is False


def test_a_probe_failure_reopens_at_once_and_late_probes_are_ignored() -> None:
    clock = FakeClock()
    breaker = half_open(clock)
    probes = [breaker.acquire() for _ in range(3)]
    probes[0].record_success()
    clock.advance(1.0)
    probes[1].record_failure(APITimeoutError("timeout"))
    assert breaker.state is OPEN
    assert breaker.retry_at == clock.now() + 10.0
    probes[2].record_success()  # stale: issued before the re-open
    assert breaker.state is OPEN


def test_success_ratio_below_one() -> None:
    clock = FakeClock()
    breaker = half_open(clock, half_open_calls=3, half_open_success_ratio=2 / 3)
    assert breaker.config.half_open_successes_needed == 2
    first, second, third = (breaker.acquire() for _ in range(3))
    first.record_failure(FAIL)
    assert breaker.state is HALF_OPEN  # two successes can still close it
    second.record_success()
    third.record_success()
    assert breaker.state is CLOSED

    breaker = half_open(clock, half_open_calls=3, half_open_success_ratio=2 / 3)
    first, second, _ = (breaker.acquire() for _ in range(3))
    first.record_failure(FAIL)
    second.record_failure(FAIL)
    assert breaker.state is OPEN  # only one probe left: the ratio cannot be met


def test_non_counting_probe_error_is_a_success() -> None:
    clock = FakeClock()
    breaker = half_open(clock, half_open_calls=1)
    breaker.acquire().record_failure(http(400))
    assert breaker.state is CLOSED


def test_slow_probe_is_a_failure() -> None:
    clock = FakeClock()
    breaker = half_open(clock, half_open_calls=1, slow_call_duration=1.0)
    breaker.acquire().record_success(duration=1.5)
    assert breaker.state is OPEN


def test_released_probe_after_reopen_changes_nothing() -> None:
    clock = FakeClock()
    breaker = half_open(clock, half_open_calls=2)
    a, b = breaker.acquire(), breaker.acquire()
    a.record_failure(FAIL)
    b.release()
    assert breaker.state is OPEN
    clock.set_time(breaker.retry_at or 0.0)
    assert breaker.state is HALF_OPEN
    assert breaker.stats().half_open_in_flight == 0
    assert len([breaker.acquire() for _ in range(2)]) == 2


# ---------------------------------------------------------------------------
# Permits
# ---------------------------------------------------------------------------


def test_stale_closed_permit_cannot_affect_a_later_state() -> None:
    clock = FakeClock()
    breaker = make(clock)
    slow = breaker.acquire()  # started while closed
    open_breaker(breaker)
    clock.set_time(breaker.retry_at or 0.0)
    assert breaker.state is HALF_OPEN
    slow.record_success()
    assert breaker.state is HALF_OPEN
    assert breaker.stats().half_open_successes == 0


def test_permit_is_single_use() -> None:
    breaker = make()
    permit = breaker.acquire()
    assert not permit.done
    permit.record_success()
    assert permit.done
    with pytest.raises(RuntimeError, match="already used"):
        permit.record_success()
    with pytest.raises(RuntimeError):
        permit.record_failure(FAIL)
    permit.release()  # harmless
    assert "done=True" in repr(permit)


def test_permit_context_manager() -> None:
    breaker = make(window_size=4, minimum_calls=4)
    with breaker.acquire():
        pass
    with pytest.raises(ServerError), breaker.acquire():
        raise FAIL
    with breaker.acquire() as permit:
        permit.record_failure(FAIL)  # reported inside: not recorded twice
    stats = breaker.stats()
    assert (stats.calls, stats.failures) == (3, 2)
    with pytest.raises(KeyboardInterrupt), breaker.acquire():
        raise KeyboardInterrupt  # not an outcome: released
    assert breaker.stats().calls == 3


def test_context_manager_releases_a_cancelled_probe() -> None:
    clock = FakeClock()
    breaker = half_open(clock, half_open_calls=1)

    class Cancelled(BaseException):
        pass

    with pytest.raises(Cancelled), breaker.acquire():
        raise Cancelled
    assert breaker.state is HALF_OPEN
    assert breaker.acquire().probe


# ---------------------------------------------------------------------------
# Listeners, stats, control
# ---------------------------------------------------------------------------


def test_listeners_see_every_transition_in_order() -> None:
    clock = FakeClock()
    recorder = Recorder()
    breaker = CircuitBreaker("anthropic/claude", BreakerConfig(), clock=clock, listeners=(recorder,))
    open_breaker(breaker)
    clock.advance(7.0)
    assert breaker.state is HALF_OPEN  # observed at t=7
    breaker.acquire().record_failure(FAIL)
    clock.advance(10.0)
    succeed(breaker, 3)
    assert recorder.events == [
        ("anthropic/claude", CLOSED, OPEN, 0.0),
        ("anthropic/claude", OPEN, HALF_OPEN, 7.0),
        ("anthropic/claude", HALF_OPEN, OPEN, 7.0),
        ("anthropic/claude", OPEN, HALF_OPEN, 17.0),
        ("anthropic/claude", HALF_OPEN, CLOSED, 17.0),
    ]


def test_listener_add_remove_and_failures(caplog: pytest.LogCaptureFixture) -> None:
    breaker = make()
    recorder = Recorder()

    def broken(key: str, old: BreakerState, new: BreakerState, at: float) -> None:
        raise RuntimeError("listener bug")

    breaker.add_listener(broken)
    breaker.add_listener(recorder)
    with caplog.at_level(logging.ERROR, logger="tokenwire.resilience"):
        breaker.trip()
    assert breaker.state is OPEN
    assert len(recorder.events) == 1  # the broken one did not stop the next
    assert "listener" in caplog.text
    breaker.remove_listener(recorder)
    breaker.reset()
    assert len(recorder.events) == 1
    with pytest.raises(ValueError):
        breaker.remove_listener(recorder)


def test_reset_and_trip() -> None:
    clock = FakeClock()
    breaker = make(clock)
    fail(breaker, 3)
    breaker.reset()
    assert breaker.stats().calls == 0
    breaker.trip()
    assert breaker.state is OPEN and breaker.retry_at == 5.0
    breaker.trip()
    assert breaker.retry_at == 10.0  # forced openings grow the interval too
    breaker.reset()
    stats = breaker.stats()
    assert (stats.state, stats.consecutive_opens, stats.retry_at, stats.opened_count) == (CLOSED, 0, None, 2)


def test_stats_snapshot() -> None:
    clock = FakeClock(50.0)
    breaker = make(clock, window_size=10, minimum_calls=10, slow_call_duration=1.0)
    succeed(breaker, 3)
    fail(breaker, 2)
    succeed(breaker, 1, duration=2.0)
    stats = breaker.stats()
    assert stats.key == "openai/gpt-4o"
    assert (stats.state, stats.calls, stats.failures, stats.slow_calls) == (CLOSED, 6, 3, 1)
    assert stats.failure_rate == 0.5
    assert (stats.opened_count, stats.retry_at, stats.half_open_in_flight, stats.last_change_at) == (0, None, 0, 50.0)


def test_state_is_a_string() -> None:
    assert BreakerState.HALF_OPEN == "half_open"
    assert str(BreakerState.OPEN) == "open"
    assert f"{BreakerState.CLOSED}" == "closed"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"window_size": 0},
        {"minimum_calls": 0},
        {"window_size": 5, "minimum_calls": 6},
        {"failure_rate_threshold": 0.0},
        {"failure_rate_threshold": 1.5},
        {"slow_call_duration": 0.0},
        {"open_duration": 0.0},
        {"open_duration": float("inf")},
        {"open_multiplier": 0.5},
        {"max_open_duration": 1.0},
        {"half_open_calls": 0},
        {"half_open_success_ratio": 0.0},
        {"half_open_success_ratio": 1.1},
    ],
)
def test_invalid_config(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        BreakerConfig(**kwargs)
