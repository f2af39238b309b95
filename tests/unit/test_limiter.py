"""AdaptiveRateLimiter on a FakeClock: limits, learning from headers, AIMD, fairness.

No test sleeps for real: waiting callers park on the fake clock, and the tests move
it with ``step`` (deadline by deadline) or ``autojump``. Runs on both bucket backends
(native, and the pure twin with ``TOKENWIRE_PURE_PYTHON=1``).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any, Optional

import anyio
import pytest

import tokenwire
from tokenwire._http import error_from_response
from tokenwire.errors import ProviderError, RateLimitError
from tokenwire.resilience import AdaptiveRateLimiter, FakeClock, LimiterConfig, Permit

pytestmark = pytest.mark.anyio

WALL = 1_755_780_060.0  # 2025-08-21T12:41:00Z


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def make(clock: FakeClock, **config: Any) -> AdaptiveRateLimiter:
    return AdaptiveRateLimiter("openai", LimiterConfig(**config), clock=clock)


def openai_headers(
    requests: tuple[int, int, str] = (500, 499, "120ms"), tokens: tuple[int, int, str] = (30000, 30000, "0s")
) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(requests[0]),
        "x-ratelimit-remaining-requests": str(requests[1]),
        "x-ratelimit-reset-requests": requests[2],
        "x-ratelimit-limit-tokens": str(tokens[0]),
        "x-ratelimit-remaining-tokens": str(tokens[1]),
        "x-ratelimit-reset-tokens": tokens[2],
    }


def rate_limited(body: dict[str, Any], headers: Optional[dict[str, str]] = None) -> ProviderError:
    import json

    return error_from_response(429, headers or {}, json.dumps(body).encode(), provider="openai", model="m")


class Grants:
    """Runs acquirers as tasks and records (name, time, permit) as they are granted."""

    def __init__(self, limiter: AdaptiveRateLimiter, clock: FakeClock) -> None:
        self.limiter = limiter
        self.clock = clock
        self.log: list[tuple[str, float, Permit]] = []

    async def acquire(self, name: str, tokens: float = 0) -> None:
        permit = await self.limiter.acquire(tokens)
        self.log.append((name, self.clock.now(), permit))

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.log]

    @property
    def times(self) -> dict[str, float]:
        return {name: at for name, at, _ in self.log}


# ---------------------------------------------------------------------------
# Configured limits
# ---------------------------------------------------------------------------


async def test_unlimited_when_nothing_is_known() -> None:
    clock = FakeClock()
    limiter = make(clock)
    for _ in range(1000):
        permit = await limiter.acquire(1_000_000)
        assert (permit.waited, permit.charged_tokens, permit.estimated_tokens) == (0.0, 0.0, 1_000_000.0)
    stats = limiter.stats()
    assert stats.requests.limit is None and stats.tokens.limit is None
    assert stats.requests.available is None
    assert stats.granted == 1000


async def test_buckets_come_from_the_backend() -> None:
    limiter = make(FakeClock(), requests_per_minute=60, tokens_per_minute=1000)
    assert type(limiter._requests.bucket) is tokenwire.TokenBucket
    assert type(limiter._tokens.bucket) is tokenwire.TokenBucket


async def test_requests_per_minute_spaces_requests() -> None:
    clock = FakeClock()
    limiter = make(clock, requests_per_minute=6)  # burst 6, then one every 10 s
    grants = Grants(limiter, clock)
    async with anyio.create_task_group() as tg:
        for i in range(9):
            tg.start_soon(grants.acquire, f"r{i}")
        await clock.run_until_idle()
        assert len(grants.log) == 6
        assert limiter.waiters == 3
        assert limiter.stats().waiters == 3
        await clock.step(30.0)
    assert [grants.times[f"r{i}"] for i in range(9)] == [0.0] * 6 + [10.0, 20.0, 30.0]
    assert [p.waited for _, _, p in grants.log[6:]] == [10.0, 20.0, 30.0]
    assert limiter.waiters == 0


async def test_try_acquire_grants_only_what_fits_now_and_never_jumps_the_queue() -> None:
    clock = FakeClock()
    limiter = make(clock, requests_per_minute=2, tokens_per_minute=600)
    first = limiter.try_acquire(100)
    assert first is not None and first.charged_tokens == 100.0 and first.waited == 0.0
    # Too many tokens for what is left: nothing taken (the next request still fits).
    assert limiter.try_acquire(600) is None
    second = limiter.try_acquire(100)
    assert second is not None
    # Out of requests now: None, and the bucket is as it was.
    assert limiter.try_acquire(0) is None
    before = limiter.stats()
    assert limiter.try_acquire(0) is None
    assert limiter.stats() == before
    grants = Grants(limiter, clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(grants.acquire, "queued")
        await clock.run_until_idle()
        assert limiter.waiters == 1
        await clock.step(30.0)  # a request is free again, and it is the queued caller's
        assert grants.names == ["queued"]
        assert limiter.try_acquire(0) is None
    with pytest.raises(ValueError, match="estimated_tokens"):
        limiter.try_acquire(-1)


async def test_tokens_per_minute() -> None:
    clock = FakeClock()
    limiter = make(clock, tokens_per_minute=600)  # 10 tokens/s
    first = await limiter.acquire(600)
    assert first.charged_tokens == 600.0
    grants = Grants(limiter, clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(grants.acquire, "next", 100)
        await clock.step(9.999)
        assert grants.log == []
        await clock.step(0.001)
        assert grants.times == {"next": 10.0}


async def test_a_request_larger_than_the_bucket_takes_a_full_bucket() -> None:
    clock = FakeClock()
    limiter = make(clock, tokens_per_minute=100)
    await limiter.acquire(30)
    grants = Grants(limiter, clock)
    async with clock.autojump():
        await grants.acquire("huge", 500)
    _, at, permit = grants.log[0]
    assert permit.charged_tokens == 100.0
    assert permit.estimated_tokens == 500.0
    assert at == pytest.approx(18.0)  # 30 tokens back at 100/60 per second


# ---------------------------------------------------------------------------
# Fairness
# ---------------------------------------------------------------------------


async def test_a_large_early_request_is_not_starved_by_later_small_ones() -> None:
    clock = FakeClock()
    limiter = make(clock, tokens_per_minute=600)  # 10 tokens/s
    await limiter.acquire(600)  # empty the bucket
    grants = Grants(limiter, clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(grants.acquire, "big", 500)
        await clock.run_until_idle()
        for i in range(5):
            tg.start_soon(grants.acquire, f"small{i}", 10)
        await clock.run_until_idle()
        assert limiter.waiters == 6
        await clock.step(20.0)
        # 200 tokens are there now, but a newcomer queues behind the big request too.
        assert limiter.stats().tokens.available == pytest.approx(200.0)
        tg.start_soon(grants.acquire, "late", 10)
        await clock.run_until_idle()
        assert limiter.waiters == 7
        await clock.step(29.0)
        assert grants.log == []  # small ones would have fitted since t=1: they wait their turn
        await clock.step(20.0)
    assert grants.names == ["big", "small0", "small1", "small2", "small3", "small4", "late"]
    assert [grants.times[n] for n in grants.names] == pytest.approx([50.0, 51.0, 52.0, 53.0, 54.0, 55.0, 56.0])


async def test_many_concurrent_acquirers_are_served_fifo_within_the_limits() -> None:
    clock = FakeClock()
    rpm, tpm = 20.0, 3000.0
    limiter = make(clock, requests_per_minute=rpm, tokens_per_minute=tpm)
    rng = random.Random(1234)
    costs = {f"c{i:02d}": float(rng.randrange(0, 1500)) for i in range(60)}
    grants = Grants(limiter, clock)
    async with clock.autojump(), anyio.create_task_group() as tg:
        for name, cost in costs.items():
            tg.start_soon(grants.acquire, name, cost)
    assert grants.names == list(costs)  # FIFO
    # Never more than the bucket allows: burst plus refill since the start.
    used_tokens = 0.0
    for used_requests, (name, at, _) in enumerate(grants.log, start=1):
        used_tokens += costs[name]
        assert used_requests <= rpm + rpm / 60.0 * at + 1e-9
        assert used_tokens <= tpm + tpm / 60.0 * at + 1e-6
    # And no lost wake-ups or extra delays: the grant times are exactly those of a
    # sequential model that serves the queue in order on two plain buckets.
    requests, tokens = tokenwire.TokenBucket(rpm / 60, rpm), tokenwire.TokenBucket(tpm / 60, tpm)
    now = 0.0
    expected: list[float] = []
    for cost in costs.values():
        while True:
            wait = requests.try_acquire(1.0, now)
            if wait == 0.0:
                wait = tokens.try_acquire(cost, now)
                if wait == 0.0:
                    break
                requests.refund(1.0, now)
            now += wait
        expected.append(now)
    assert [at for _, at, _ in grants.log] == expected


async def test_cancelled_waiters_leave_the_queue() -> None:
    clock = FakeClock()
    limiter = make(clock, requests_per_minute=1)  # one per minute
    await limiter.acquire()
    grants = Grants(limiter, clock)
    scopes: dict[str, anyio.CancelScope] = {}

    async def cancellable(name: str) -> None:
        with anyio.CancelScope() as scope:
            scopes[name] = scope
            await grants.acquire(name)

    async with anyio.create_task_group() as tg:
        for name in ("a", "b", "c", "d"):
            tg.start_soon(cancellable, name)
        await clock.run_until_idle()
        assert limiter.waiters == 4
        scopes["b"].cancel()  # in the middle of the queue
        await clock.run_until_idle()
        assert limiter.waiters == 3
        await clock.step(30.0)
        scopes["a"].cancel()  # the head, while it sleeps: the turn passes on
        await clock.run_until_idle()
        assert limiter.waiters == 2
        await clock.step(90.0)
    assert grants.names == ["c", "d"]
    assert grants.times == {"c": 60.0, "d": 120.0}
    assert clock.sleepers == 0


async def test_invalid_estimates() -> None:
    limiter = make(FakeClock())
    for bad in (-1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="estimated_tokens"):
            await limiter.acquire(bad)


# ---------------------------------------------------------------------------
# Settling and cancelling permits
# ---------------------------------------------------------------------------


async def test_settle_refund_wakes_the_queue() -> None:
    clock = FakeClock()
    limiter = make(clock, tokens_per_minute=600)
    permit = await limiter.acquire(600)
    grants = Grants(limiter, clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(grants.acquire, "next", 400)
        await clock.step(1.0)
        assert grants.log == []
        permit.settle(150)  # 450 come back
        await clock.run_until_idle()
        assert grants.times == {"next": 1.0}
    assert permit.settled
    assert limiter.stats().tokens.available == pytest.approx(60.0)


async def test_settle_beyond_the_estimate_creates_a_debt() -> None:
    clock = FakeClock()
    limiter = make(clock, tokens_per_minute=600)
    permit = await limiter.acquire(100)
    permit.settle(1000)  # 900 more: 500 available now, 400 owed
    stats = limiter.stats()
    assert stats.token_debt == 400.0
    assert stats.tokens.available == 0.0
    grants = Grants(limiter, clock)
    async with clock.autojump():
        await grants.acquire("payer", 0)
    assert grants.times["payer"] == pytest.approx(40.0)  # pays the 400 first
    assert limiter.stats().token_debt == 0.0


async def test_cancel_gives_everything_back() -> None:
    clock = FakeClock()
    limiter = make(clock, requests_per_minute=2, tokens_per_minute=100)
    permit = await limiter.acquire(80)
    assert limiter.stats().requests.available == 1.0
    permit.cancel()
    permit.cancel()  # idempotent
    stats = limiter.stats()
    assert (stats.requests.available, stats.tokens.available) == (2.0, 100.0)
    with pytest.raises(RuntimeError, match="already settled or cancelled"):
        permit.settle(10)


async def test_settle_validation_and_single_use() -> None:
    limiter = make(FakeClock(), tokens_per_minute=100)
    permit = await limiter.acquire(10)
    with pytest.raises(ValueError):
        permit.settle(-1)
    permit.settle(10)
    with pytest.raises(RuntimeError):
        permit.settle(10)
    permit.cancel()  # after settle: nothing happens
    assert limiter.stats().tokens.available == 90.0
    assert "settled=True" in repr(permit)


async def test_settle_after_limits_were_learned_does_not_touch_the_new_bucket() -> None:
    clock = FakeClock()
    limiter = make(clock)
    permit = await limiter.acquire(5000)  # no token limit known yet
    limiter.observe_headers(openai_headers(tokens=(10000, 4000, "36s")))
    permit.settle(100)  # the provider's remaining already counts it
    assert limiter.stats().tokens.available == 4000.0


# ---------------------------------------------------------------------------
# Learning from headers
# ---------------------------------------------------------------------------


async def test_openai_headers_set_limits_and_drain() -> None:
    clock = FakeClock()
    limiter = make(clock)
    info = limiter.observe_headers(openai_headers(requests=(10, 0, "6s"), tokens=(1000, 1000, "0s")))
    assert info.requests is not None and info.requests.limit == 10.0
    stats = limiter.stats()
    assert (stats.requests.learned, stats.requests.limit, stats.requests.rate_per_minute) == (10.0, 10.0, 10.0)
    assert (stats.tokens.learned, stats.tokens.available) == (1000.0, 1000.0)
    assert stats.last_headers["x-ratelimit-reset-requests"] == "6s"
    assert stats.last_headers_at == 0.0
    grants = Grants(limiter, clock)
    async with clock.autojump():
        await grants.acquire("first")
    # The provider's bucket refills 10 requests over the 6 s reset: one per 0.6 s.
    assert grants.times["first"] == pytest.approx(0.6)


async def test_anthropic_rfc3339_resets_use_the_wall_clock() -> None:
    clock = FakeClock(500.0, wall_start=WALL)
    limiter = AdaptiveRateLimiter("anthropic", clock=clock)
    reset = datetime.fromtimestamp(WALL + 30, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    limiter.observe_headers(
        {
            "anthropic-ratelimit-requests-limit": "60",
            "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": reset,
            "anthropic-ratelimit-tokens-limit": "96000",
            "anthropic-ratelimit-tokens-remaining": "48000",
            "anthropic-ratelimit-tokens-reset": reset,
            "anthropic-ratelimit-input-tokens-limit": "80000",
        }
    )
    stats = limiter.stats()
    assert (stats.requests.learned, stats.tokens.learned) == (60.0, 96000.0)
    assert stats.tokens.available == 48000.0
    grants = Grants(limiter, clock)
    async with clock.autojump():
        await grants.acquire("a", 1000)
    assert grants.times["a"] == pytest.approx(500.5)  # 60 requests over 30 s
    clock.advance(29.5)
    assert limiter.stats().tokens.available == pytest.approx(96000.0 - 1000.0)


async def test_anthropic_input_token_limit_when_no_combined_view() -> None:
    limiter = AdaptiveRateLimiter("anthropic", clock=FakeClock(wall_start=WALL))
    limiter.observe_headers({"anthropic-ratelimit-input-tokens-limit": "80000"})
    assert limiter.stats().tokens.learned == 80000.0


async def test_permit_headers_discount_later_grants() -> None:
    clock = FakeClock()
    limiter = make(clock)
    limiter.observe_headers(openai_headers(requests=(100, 100, "0s"), tokens=(10000, 10000, "0s")))
    first = await limiter.acquire(1000)
    for _ in range(3):
        await limiter.acquire(500)
    # The provider answered the first call before it saw the three later ones.
    first.observe_headers(openai_headers(requests=(100, 99, "0s"), tokens=(10000, 9000, "0s")))
    stats = limiter.stats()
    assert stats.requests.available == 96.0
    assert stats.tokens.available == 7500.0
    # Without the permit the report is taken as is.
    limiter.observe_headers(openai_headers(requests=(100, 99, "0s"), tokens=(10000, 9000, "0s")))
    assert limiter.stats().requests.available == 99.0


async def test_new_headers_wake_a_sleeping_head() -> None:
    clock = FakeClock()
    limiter = make(clock)
    limiter.observe_headers(openai_headers(requests=(2, 0, "60s")))  # next request in 30 s
    grants = Grants(limiter, clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(grants.acquire, "waiting")
        await clock.step(5.0)
        assert grants.log == []
        limiter.observe_headers(openai_headers(requests=(100, 50, "30s")))
        await clock.run_until_idle()
        assert grants.times == {"waiting": 5.0}


async def test_configured_cap_and_learned_limit_the_lower_wins() -> None:
    clock = FakeClock()
    limiter = make(clock, requests_per_minute=30)
    limiter.observe_headers(openai_headers(requests=(100, 100, "0s")))
    assert limiter.stats().requests.limit == 30.0
    assert limiter.stats().requests.rate_per_minute == pytest.approx(30.0)
    limiter.observe_headers(openai_headers(requests=(10, 10, "0s")))
    assert limiter.stats().requests.limit == 10.0
    assert limiter.stats().requests.rate_per_minute == pytest.approx(10.0)


async def test_request_window_for_per_day_limits() -> None:
    clock = FakeClock()
    limiter = make(clock, request_window=86400.0)  # Groq: requests per day
    limiter.observe_headers(openai_headers(requests=(14400, 14370, "2m59.56s"), tokens=(18000, 18000, "0s")))
    stats = limiter.stats()
    assert stats.requests.window == 86400.0
    assert stats.requests.rate == pytest.approx(14400 / 86400)
    assert stats.tokens.window == 60.0


async def test_window_named_by_the_header_wins() -> None:
    limiter = make(FakeClock())
    limiter.observe_headers({"x-ratelimit-limit-requests-day": "1440", "x-ratelimit-remaining-requests-day": "1440"})
    stats = limiter.stats()
    assert (stats.requests.window, stats.requests.rate) == (86400.0, pytest.approx(1440 / 86400))


async def test_garbage_headers_change_nothing() -> None:
    clock = FakeClock()
    limiter = make(clock, requests_per_minute=60)
    before = limiter.stats()
    for headers in (
        {"x-ratelimit-limit-requests": "abc", "x-ratelimit-remaining-requests": "?"},
        {"x-ratelimit-limit-requests": "0.5"},  # a request limit below one: garbage
        {"x-ratelimit-limit-tokens": "-7"},
        {"content-type": "text/plain"},
        {},
    ):
        limiter.observe_headers(headers)
    after = limiter.stats()
    assert after.requests == before.requests
    assert after.tokens == before.tokens


async def test_learning_can_be_turned_off() -> None:
    limiter = make(FakeClock(), learn_from_headers=False)
    limiter.observe_headers(openai_headers())
    stats = limiter.stats()
    assert stats.requests.limit is None and stats.tokens.limit is None
    assert stats.last_headers  # still shown


async def test_remaining_without_reset_sets_the_level() -> None:
    limiter = make(FakeClock(), requests_per_minute=60)
    limiter.observe_headers({"x-ratelimit-remaining-requests": "12"})
    assert limiter.stats().requests.available == 12.0


# ---------------------------------------------------------------------------
# AIMD on 429s
# ---------------------------------------------------------------------------


async def test_429_cuts_the_named_quota_and_successes_restore_it() -> None:
    clock = FakeClock()
    limiter = make(clock, requests_per_minute=60, tokens_per_minute=600)
    limiter.record_rate_limited(rate_limited({"error": {"message": "slow", "type": "tokens"}}))
    stats = limiter.stats()
    assert stats.tokens.rate_per_minute == pytest.approx(300.0)
    assert stats.tokens.scale == 0.5
    assert stats.requests.rate_per_minute == pytest.approx(60.0)
    assert stats.rate_limited == 1
    # Within the cooldown a burst of 429s is one congestion event.
    clock.advance(0.5)
    limiter.record_rate_limited(rate_limited({"error": {"type": "tokens"}}))
    assert limiter.stats().tokens.scale == 0.5
    for _ in range(5):
        clock.advance(1.0)
        limiter.record_rate_limited(rate_limited({"error": {"type": "tokens"}}))
    assert limiter.stats().tokens.scale == 0.1  # the floor
    assert limiter.stats().tokens.rate_per_minute == pytest.approx(60.0)
    # Additive increase: 5 % of the limit per success.
    for expected in (0.15, 0.2, 0.25):
        limiter.record_success()
        assert limiter.stats().tokens.scale == pytest.approx(expected)
    for _ in range(30):
        limiter.record_success()
    assert limiter.stats().tokens.scale == 1.0
    assert limiter.stats().tokens.rate_per_minute == pytest.approx(600.0)


async def test_429_of_unknown_kind_cuts_both() -> None:
    limiter = make(FakeClock(), requests_per_minute=60, tokens_per_minute=600)
    limiter.record_rate_limited(rate_limited({"type": "error", "error": {"type": "rate_limit_error"}}))
    stats = limiter.stats()
    assert (stats.requests.scale, stats.tokens.scale) == (0.5, 0.5)


async def test_429_explicit_kind() -> None:
    limiter = make(FakeClock(), requests_per_minute=60, tokens_per_minute=600)
    limiter.record_rate_limited(kind="requests")
    stats = limiter.stats()
    assert (stats.requests.scale, stats.tokens.scale) == (0.5, 1.0)


async def test_429_pauses_for_retry_after() -> None:
    clock = FakeClock()
    limiter = make(clock, requests_per_minute=600)
    limiter.record_rate_limited(rate_limited({"error": {"type": "requests"}}, {"retry-after": "5"}))
    assert limiter.stats().paused_until == 5.0
    assert limiter.estimate_wait() == 5.0
    grants = Grants(limiter, clock)
    async with clock.autojump():
        await grants.acquire("after")
    assert grants.times["after"] == 5.0
    assert limiter.stats().paused_until is None


async def test_429_pause_defaults_and_cap() -> None:
    clock = FakeClock()
    limiter = make(clock, default_pause=2.0, max_pause=30.0)
    limiter.record_rate_limited(RateLimitError("slow down", status=429))
    assert limiter.stats().paused_until == 2.0
    limiter.record_rate_limited(retry_after=3600.0)
    assert limiter.stats().paused_until == 30.0


async def test_429_headers_are_learned() -> None:
    clock = FakeClock()
    limiter = make(clock)
    error = rate_limited(
        {"error": {"message": "Rate limit reached", "type": "tokens", "code": "rate_limit_exceeded"}},
        {**openai_headers(requests=(500, 480, "2.4s"), tokens=(30000, 0, "20s")), "retry-after": "1"},
    )
    limiter.record_rate_limited(error)
    stats = limiter.stats()
    assert stats.tokens.learned == 30000.0
    assert stats.tokens.available == 0.0
    assert stats.tokens.scale == 0.5
    assert stats.requests.scale == 1.0
    assert stats.paused_until == 1.0


async def test_insufficient_quota_is_not_a_rate_signal() -> None:
    limiter = make(FakeClock(), requests_per_minute=60, tokens_per_minute=600)
    limiter.record_rate_limited(
        rate_limited(
            {"error": {"type": "insufficient_quota", "message": "no credit"}}, {"x-ratelimit-limit-tokens": "500"}
        )
    )
    stats = limiter.stats()
    assert (stats.requests.scale, stats.tokens.scale, stats.paused_until) == (1.0, 1.0, None)
    assert stats.tokens.limit == 500.0  # its headers still count
    assert stats.rate_limited == 1


async def test_decrease_waits_for_limits_to_apply() -> None:
    # With no limits known, a 429 can only pause.
    limiter = make(FakeClock())
    limiter.record_rate_limited()
    stats = limiter.stats()
    assert stats.requests.rate is None and stats.paused_until == 1.0


async def test_rate_increase_wakes_the_head() -> None:
    clock = FakeClock()
    limiter = make(clock, requests_per_minute=60, decrease_cooldown=0.0)
    for _ in range(3):
        limiter.record_rate_limited(kind="requests")
    assert limiter.stats().requests.scale == 0.125
    clock.advance(1.0)  # past the pause
    limiter.observe_headers({"x-ratelimit-remaining-requests": "0"})  # and nothing left
    grants = Grants(limiter, clock)
    async with anyio.create_task_group() as tg:
        tg.start_soon(grants.acquire, "x")
        await clock.run_until_idle()
        assert clock.next_deadline() == 9.0  # one request at 1/8 of 1 per second
        for _ in range(20):
            limiter.record_success()  # full rate again: the head recomputes
        await clock.run_until_idle()
        assert clock.next_deadline() == 2.0
        await clock.step(1.0)
    assert grants.times["x"] == 2.0


# ---------------------------------------------------------------------------
# Introspection and config
# ---------------------------------------------------------------------------


async def test_estimate_wait_takes_nothing() -> None:
    clock = FakeClock()
    limiter = make(clock, requests_per_minute=60, tokens_per_minute=600)
    assert limiter.estimate_wait(600) == 0.0
    await limiter.acquire(300)
    assert limiter.estimate_wait(600) == pytest.approx(30.0)
    assert limiter.estimate_wait(10_000) == pytest.approx(30.0)  # capped at the bucket
    assert limiter.stats().tokens.available == 300.0


async def test_stats_snapshot() -> None:
    clock = FakeClock(10.0)
    limiter = make(clock, requests_per_minute=120, tokens_per_minute=6000)
    await limiter.acquire(1000)
    stats = limiter.stats()
    assert stats.key == "openai"
    assert stats.requests.configured == 120.0
    assert stats.requests.rate == pytest.approx(2.0)
    assert stats.requests.available == 119.0
    assert stats.tokens.available == 5000.0
    assert (stats.waiters, stats.paused_until, stats.token_debt, stats.granted, stats.rate_limited) == (
        0,
        None,
        0.0,
        1,
        0,
    )
    assert stats.last_headers == {} and stats.last_headers_at is None
    assert "openai" in repr(limiter)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"requests_per_minute": 0.5},
        {"requests_per_minute": float("inf")},
        {"tokens_per_minute": 0},
        {"request_window": 0},
        {"token_window": float("nan")},
        {"decrease_factor": 1.0},
        {"decrease_factor": 0.0},
        {"min_rate_fraction": 0.0},
        {"increase_step": 2.0},
        {"default_pause": -1.0},
        {"max_pause": float("inf")},
    ],
)
def test_invalid_config(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LimiterConfig(**kwargs)


def test_timedelta_sanity() -> None:
    # The Anthropic test builds its reset from WALL; make sure WALL is what it claims.
    assert datetime.fromtimestamp(WALL, timezone.utc) == datetime(2025, 8, 21, 12, 41, tzinfo=timezone.utc)
    assert timedelta(seconds=30).total_seconds() == 30.0
