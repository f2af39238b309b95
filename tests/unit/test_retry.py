"""RetryPolicy: the decision table, delays, budgets and the run() helper — on a FakeClock.

Nothing here sleeps for real: every wait goes through ``FakeClock`` and the tests
check the exact fake times at which calls were made.
"""

from __future__ import annotations

import json
import random
from typing import Any, Optional

import anyio
import pytest

from tokenwire._http import error_from_response
from tokenwire.errors import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CircuitOpenError,
    ConflictError,
    JSONStreamError,
    NotFoundError,
    OverloadedError,
    PermissionDeniedError,
    ProviderError,
    RateLimitError,
    ServerError,
    StreamDecodeError,
    UnprocessableEntityError,
    stream_error,
)
from tokenwire.resilience import FakeClock, RetryPolicy, RetryState, is_insufficient_quota, is_retryable

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def http_error(status: int, body: Any = None, headers: Optional[dict[str, str]] = None) -> ProviderError:
    raw = json.dumps(body).encode() if body is not None else b""
    return error_from_response(status, headers or {}, raw, provider="p", model="m")


def policy(clock: Optional[FakeClock] = None, seed: int = 7, **kwargs: Any) -> RetryPolicy:
    return RetryPolicy(random=random.Random(seed), clock=clock or FakeClock(), **kwargs)


# ---------------------------------------------------------------------------
# The decision table
# ---------------------------------------------------------------------------

RETRYABLE_STATUSES = [408, 409, 429, 500, 502, 503, 504, 520, 529, 599]
NOT_RETRYABLE_STATUSES = [400, 401, 402, 403, 404, 405, 410, 413, 418, 422, 451]


@pytest.mark.parametrize("status", RETRYABLE_STATUSES)
def test_retryable_statuses(status: int) -> None:
    assert is_retryable(http_error(status, {"error": {"message": "x"}}))


@pytest.mark.parametrize("status", NOT_RETRYABLE_STATUSES)
def test_client_errors_are_not_retried(status: int) -> None:
    assert not is_retryable(http_error(status, {"error": {"message": "x"}}))


def test_error_classes_from_the_http_layer() -> None:
    assert isinstance(http_error(529, {"type": "error", "error": {"type": "overloaded_error"}}), OverloadedError)
    assert isinstance(http_error(409, {}), ConflictError)


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": None}},
        {"error": {"message": "You exceeded your current quota", "type": "requests", "code": "insufficient_quota"}},
    ],
)
def test_insufficient_quota_429_is_not_retryable(body: dict[str, Any]) -> None:
    error = http_error(429, body)
    assert isinstance(error, RateLimitError)
    assert is_insufficient_quota(error)
    assert not is_retryable(error)


def test_ordinary_429_is_retryable() -> None:
    error = http_error(429, {"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}})
    assert not is_insufficient_quota(error)
    assert is_retryable(error)
    assert not is_insufficient_quota(ValueError("insufficient_quota"))


@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [
        (400, "true", True),  # the provider overrides the status rule...
        (503, "false", False),  # ...both ways
        (429, "TRUE", True),
        (500, " false ", False),
    ],
)
def test_x_should_retry_overrides_the_status(status: int, header: str, expected: bool) -> None:
    error = http_error(status, {"error": {"message": "x"}}, {"x-should-retry": header})
    assert error.should_retry is expected
    assert is_retryable(error) is expected


def test_x_should_retry_true_overrides_insufficient_quota() -> None:
    error = http_error(429, {"error": {"type": "insufficient_quota"}}, {"x-should-retry": "true"})
    assert is_retryable(error)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (APIConnectionError("reset by peer"), True),
        (APITimeoutError("read timeout"), True),
        # Errors inside a stream carry no status: the class decides.
        (stream_error("Overloaded", "overloaded_error"), True),
        (stream_error("slow down", "rate_limit_error"), True),
        (stream_error("oops", "api_error"), True),
        (ServerError("oops"), True),
        (ConflictError("conflict"), True),
        (stream_error("bad", "invalid_request_error"), False),
        (stream_error("out of credit", "insufficient_quota"), False),
        (AuthenticationError("no"), False),
        (PermissionDeniedError("no"), False),
        (NotFoundError("no"), False),
        (BadRequestError("no"), False),
        (UnprocessableEntityError("no"), False),
        (ProviderError("unknown"), False),
        (CircuitOpenError("open", retry_at=3.0), False),
        (StreamDecodeError("bad frame", 10), False),
        (JSONStreamError("bad json", 3), False),
        (ValueError("not ours"), False),
        (KeyboardInterrupt(), False),
    ],
)
def test_non_http_errors(error: BaseException, expected: bool) -> None:
    assert is_retryable(error) is expected


def test_should_retry_respects_max_retries_and_the_first_token() -> None:
    p = policy(max_retries=2)
    error = http_error(500)
    assert p.should_retry(error, 0)
    assert p.should_retry(error, 1)
    assert not p.should_retry(error, 2)
    assert not p.should_retry(error, 0, first_token_delivered=True)
    assert not p.should_retry(http_error(400), 0)
    assert not policy(max_retries=0).should_retry(error, 0)


def test_defaults_follow_the_sdks() -> None:
    p = RetryPolicy()
    assert (p.max_retries, p.initial_delay, p.max_delay, p.multiplier, p.max_retry_after, p.deadline) == (
        2,
        0.5,
        8.0,
        2.0,
        60.0,
        None,
    )


# ---------------------------------------------------------------------------
# Delays
# ---------------------------------------------------------------------------


def test_backoff_ceiling_grows_exponentially_and_caps() -> None:
    p = policy()
    assert [p.backoff_ceiling(n) for n in range(7)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert p.backoff_ceiling(10_000) == 8.0  # no overflow
    assert policy(multiplier=3.0, max_delay=100.0).backoff_ceiling(5000) == 100.0


def test_backoff_is_full_jitter_from_the_injected_random() -> None:
    p = policy(seed=42)
    reference = random.Random(42)
    for attempt in range(8):
        expected = reference.uniform(0.0, min(8.0, 0.5 * 2**attempt))
        assert p.backoff(attempt) == expected


def test_full_jitter_spans_the_whole_interval() -> None:
    # The SDKs' 25 % jitter never goes below 0.75 x the ceiling; full jitter does.
    p = policy(seed=1)
    draws = [p.backoff(4) for _ in range(2000)]
    assert all(0.0 <= d <= 8.0 for d in draws)
    assert min(draws) < 0.2
    assert max(draws) > 7.8
    assert 3.5 < sum(draws) / len(draws) < 4.5


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "60"}, 60.0),  # the limit itself is honored
        ({"retry-after-ms": "250", "retry-after": "30"}, 0.25),  # ms wins, as in the SDKs
    ],
)
def test_provider_delay_is_honored(headers: dict[str, str], expected: float) -> None:
    p = policy()
    error = http_error(429, {"error": {"message": "x"}}, headers)
    assert p.provider_delay(error) == expected
    assert p.delay(error, 0) == expected
    assert p.delay(error, 5) == expected


@pytest.mark.parametrize("headers", [{"retry-after": "0"}, {"retry-after": "61"}, {"retry-after-ms": "0"}, {}])
def test_out_of_range_provider_delay_falls_back_to_backoff(headers: dict[str, str]) -> None:
    p = policy(seed=3)
    error = http_error(503, {"error": {"message": "x"}}, headers)
    assert p.provider_delay(error) is None
    expected = random.Random(3).uniform(0.0, 2.0)
    assert p.delay(error, 2) == expected


def test_max_retry_after_is_configurable() -> None:
    error = http_error(429, {}, {"retry-after": "90"})
    assert policy(max_retry_after=120.0).delay(error, 0) == 90.0


def test_http_date_retry_after() -> None:
    import email.utils
    import time

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    error = http_error(429, {}, {"retry-after": when})
    delay = policy().delay(error, 0)
    assert 28.0 <= delay <= 30.0


def test_gemini_retry_delay() -> None:
    body = {
        "error": {
            "code": 429,
            "status": "RESOURCE_EXHAUSTED",
            "message": "Quota exceeded",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "20s"},
            ],
        }
    }
    error = http_error(429, body)
    assert is_retryable(error)
    assert policy().delay(error, 0) == 20.0


def test_connection_errors_use_backoff() -> None:
    p = policy(seed=9)
    assert p.delay(APITimeoutError("t"), 1) == random.Random(9).uniform(0.0, 1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_retries": -1},
        {"initial_delay": -0.1},
        {"max_delay": float("inf")},
        {"max_retry_after": float("nan")},
        {"multiplier": 0.5},
        {"deadline": 0.0},
        {"deadline": -5.0},
    ],
)
def test_invalid_config(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)


# ---------------------------------------------------------------------------
# RetryState: attempts and the deadline budget
# ---------------------------------------------------------------------------


def test_state_counts_attempts() -> None:
    clock = FakeClock(100.0)
    state = policy(clock, max_retries=2).begin()
    assert (state.attempt, state.started_at, state.deadline_at, state.remaining()) == (0, 100.0, None, None)
    error = http_error(429, {}, {"retry-after": "2"})
    assert state.next_delay(error) == 2.0
    assert state.next_delay(error) == 2.0
    assert state.next_delay(error) is None
    assert state.attempt == 2


def test_state_refuses_after_the_first_token_without_consuming() -> None:
    state = policy().begin()
    assert state.next_delay(http_error(500), first_token_delivered=True) is None
    assert state.attempt == 0


def test_deadline_budget() -> None:
    clock = FakeClock()
    state = policy(clock, max_retries=10, deadline=10.0).begin()
    error = http_error(429, {}, {"retry-after": "4"})
    assert state.deadline_at == 10.0
    assert state.next_delay(error) == 4.0  # 0 + 4 < 10
    clock.advance(5.0)  # the attempt took 1 s after the wait
    assert state.remaining() == 5.0
    assert state.next_delay(error) == 4.0  # 5 + 4 = 9 < 10
    clock.advance(2.0)
    assert state.next_delay(error) is None  # 7 + 4 = 11 > 10
    assert state.attempt == 2
    clock.advance(10.0)
    assert state.remaining() == -7.0


def test_deadline_boundary_is_exclusive() -> None:
    clock = FakeClock()
    state = policy(clock, max_retries=10, deadline=10.0).begin()
    error = http_error(429, {}, {"retry-after": "4"})
    clock.advance(5.999)
    assert state.next_delay(error) == 4.0  # ends at 9.999
    clock.advance(0.001)  # now 6.0: a 4 s wait would end exactly at the deadline
    assert state.next_delay(error) is None
    assert state.attempt == 1


def test_deadline_applies_to_backoff_draws() -> None:
    clock = FakeClock()
    p = policy(clock, seed=5, max_retries=50, deadline=3.0, initial_delay=1.0, max_delay=1.0)
    state = p.begin()
    reference = random.Random(5)
    while True:
        expected = reference.uniform(0.0, 1.0)
        delay = state.next_delay(APIConnectionError("down"))
        if clock.now() + expected >= 3.0:
            assert delay is None
            break
        assert delay == expected
        clock.advance(delay)
    assert clock.now() < 3.0


async def test_state_backoff_sleeps_on_the_clock() -> None:
    clock = FakeClock()
    state = policy(clock).begin()
    error = http_error(503, {}, {"retry-after": "3"})
    done: list[float] = []

    async def retrying() -> None:
        assert await state.backoff(error)
        done.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(retrying)
        await clock.step(2.999)
        assert done == []
        await clock.step(0.001)
        assert done == [3.0]
    assert not await state.backoff(http_error(400))  # gives up without sleeping
    assert clock.sleepers == 0


# ---------------------------------------------------------------------------
# run(): the non-streaming helper
# ---------------------------------------------------------------------------


class Flaky:
    """Fails with the given errors in turn, then returns "ok"; records call times."""

    def __init__(self, clock: FakeClock, errors: list[BaseException]) -> None:
        self.clock = clock
        self.errors = list(errors)
        self.calls: list[float] = []

    async def __call__(self) -> str:
        self.calls.append(self.clock.now())
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


async def test_run_retries_with_provider_delays() -> None:
    clock = FakeClock()
    fn = Flaky(clock, [http_error(429, {}, {"retry-after-ms": "1500"}), http_error(529, {}, {"retry-after": "2"})])
    async with clock.autojump():
        assert await policy(clock).run(fn) == "ok"
    assert fn.calls == [0.0, 1.5, 3.5]


async def test_run_uses_jittered_backoff_on_the_clock() -> None:
    clock = FakeClock()
    fn = Flaky(clock, [APIConnectionError("reset"), APITimeoutError("timeout")])
    async with clock.autojump():
        assert await policy(clock, seed=11).run(fn) == "ok"
    reference = random.Random(11)
    first = reference.uniform(0.0, 0.5)
    second = reference.uniform(0.0, 1.0)
    assert fn.calls == [0.0, first, first + second]


async def test_run_gives_up_after_max_retries() -> None:
    clock = FakeClock()
    errors: list[BaseException] = [http_error(500, {}, {"retry-after": "1"}) for _ in range(5)]
    fn = Flaky(clock, errors)
    async with clock.autojump():
        with pytest.raises(ServerError) as caught:
            await policy(clock, max_retries=2).run(fn)
    assert fn.calls == [0.0, 1.0, 2.0]
    assert caught.value is not None and len(fn.errors) == 2


async def test_run_does_not_retry_client_errors() -> None:
    clock = FakeClock()
    fn = Flaky(clock, [http_error(401, {"error": {"message": "bad key"}})])
    with pytest.raises(AuthenticationError):
        await policy(clock).run(fn)
    assert fn.calls == [0.0]


async def test_run_does_not_retry_foreign_exceptions() -> None:
    clock = FakeClock()
    fn = Flaky(clock, [KeyError("bug")])
    with pytest.raises(KeyError):
        await policy(clock).run(fn)
    assert fn.calls == [0.0]


async def test_run_reports_retries() -> None:
    clock = FakeClock()
    first, second = http_error(429, {}, {"retry-after": "1"}), http_error(503, {}, {"retry-after": "2"})
    fn = Flaky(clock, [first, second])
    seen: list[tuple[BaseException, int, float]] = []
    async with clock.autojump():
        await policy(clock).run(fn, on_retry=lambda e, n, d: seen.append((e, n, d)))
    assert seen == [(first, 0, 1.0), (second, 1, 2.0)]


async def test_run_stops_at_the_deadline() -> None:
    clock = FakeClock()
    errors: list[BaseException] = [http_error(503, {}, {"retry-after": "4"}) for _ in range(5)]
    fn = Flaky(clock, errors)
    async with clock.autojump():
        with pytest.raises(ServerError):
            await policy(clock, max_retries=5, deadline=10.0).run(fn)
    assert fn.calls == [0.0, 4.0, 8.0]  # a third wait would end at 12 > 10


async def test_run_never_retries_cancellation() -> None:
    clock = FakeClock()
    calls = 0

    async def cancelled() -> str:
        nonlocal calls
        calls += 1
        scope.cancel()
        await anyio.lowlevel.checkpoint()
        return "unreachable"

    with anyio.CancelScope() as scope:
        await policy(clock).run(cancelled)
    assert scope.cancelled_caught
    assert calls == 1
    assert clock.sleepers == 0


async def test_run_cancelled_while_waiting_leaves_no_sleeper() -> None:
    clock = FakeClock()
    fn = Flaky(clock, [http_error(503, {}, {"retry-after": "30"})])
    async with anyio.create_task_group() as tg:
        tg.start_soon(policy(clock).run, fn)
        await clock.run_until_idle()
        assert clock.sleepers == 1
        tg.cancel_scope.cancel()
    assert clock.sleepers == 0
    assert fn.calls == [0.0]


def test_state_repr_and_explicit_start() -> None:
    state = RetryState(policy(), started_at=12.5)
    assert state.started_at == 12.5
    assert "attempt=0" in repr(state)
    assert "RetryPolicy(max_retries=2" in repr(RetryPolicy())
