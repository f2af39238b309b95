"""Shared rate limits and breaker state in a real redis-server (tokenwire.resilience.redis).

The server comes from ``TOKENWIRE_REDIS_URL`` (``scripts/redis-test-server.sh run`` starts
one on a free loopback port; the Makefile and .ci/run do that). Without it these tests
skip with the reason — except under ``CI=true`` or ``TOKENWIRE_REQUIRE_REDIS=1``, where a
missing Redis is a failure.

What is shown:

- the Lua bucket is the local :class:`~tokenwire.TokenBucket`, bit for bit, on fixed and
  generated sequences of operations (explicit times), and keeps time on the server's
  clock otherwise;
- several OS processes hammering one shared limit never exceed it, counted at the
  loopback mock server over a bounded window (and do use it: the count reaches the burst);
- a breaker opened in one process is open in another, and a reset travels back;
- Redis failures are :class:`SharedStateError` (fail closed) or fall back to the local
  state (fail open), as configured;
- ``ProviderManager(shared_state=SharedState.from_url(…))`` wires it all: manager
  processes share one RPM quota (counted at the loopback server), and failures in one
  process open the breaker in the other, which then refuses without a request of its
  own; a recovery travels back the same way.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.integration._redis import free_port, redis_async, redis_sync, unavailable

import tokenwire
from tokenwire.errors import APIConnectionError, CircuitOpenError, ConfigurationError, ServerError
from tokenwire.manager import ManagerEvent, ProviderManager
from tokenwire.resilience import (
    AdaptiveRateLimiter,
    BreakerConfig,
    BreakerState,
    CircuitBreaker,
    FakeClock,
    LimiterConfig,
    RetryPolicy,
    SharedState,
    default_counts_as_failure,
    is_retryable,
)
from tokenwire.resilience.limiter import RateBucket
from tokenwire.resilience.redis import RedisBreakerStore, RedisBucketStore, SharedStateError
from tokenwire.testing import Answer, OpenAIMockServer, RecordedRequest, faults
from tokenwire.types import ChatRequest, Message

WORKER = Path(__file__).with_name("_redis_worker.py")


def _unavailable(reason: str) -> None:
    unavailable(reason, "run under scripts/redis-test-server.sh run … (or set TOKENWIRE_REDIS_URL)")


@pytest.fixture(scope="module")
def redis_url() -> str:
    url = os.environ.get("TOKENWIRE_REDIS_URL")
    if not url:
        _unavailable("TOKENWIRE_REDIS_URL is not set")
        raise AssertionError("unreachable")
    client = redis_sync.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except redis_sync.RedisError as exc:
        _unavailable(f"Redis at {url} does not answer ({exc})")
    finally:
        client.close()
    return url


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    name = f"tw-test-{uuid.uuid4().hex[:12]}"
    yield name
    client = redis_sync.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{name}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _dead_url() -> str:
    """A loopback URL where nothing listens (connection refused at once)."""
    return f"redis://127.0.0.1:{free_port()}/0"


# ---------------------------------------------------------------------------
# The Lua bucket is the local bucket
# ---------------------------------------------------------------------------

# (op, args…) with explicit times; "acquire" compares waits, "available" levels.
Op = tuple[Any, ...]

FIXED_SEQUENCES: list[tuple[float, float, list[Op]]] = [
    # rate, burst, operations
    (2.0, 5.0, [("acquire", 3, 100.0), ("acquire", 3, 100.1), ("acquire", 1, 100.2), ("acquire", 2, 101.0)]),
    (
        10.0,
        100.0,
        [
            ("acquire", 90, 0.0),
            ("drain", 5.0, 30.0, 1.0),
            ("available", 10.0),
            ("acquire", 50, 10.0),
            ("acquire", 50, 20.0),
            ("refund", 7.5, 21.0),
            ("available", 31.0),
            ("acquire", 100, 31.0),
        ],
    ),
    (
        1.0,
        3.0,
        [
            ("acquire", 3, 5.0),
            ("set_rate", 0.25, 5.5, None),
            ("acquire", 1, 6.0),
            ("set_rate", 4.0, 7.0, 2.0),
            ("available", 7.1),
            ("drain", 0.0, 6.0, 8.0),  # reset already past: tokens set, configured rate
            ("acquire", 2, 8.0),
            ("acquire", 0.5, 7.0),  # a stale time counts as no elapsed time
        ],
    ),
    (0.0, 4.0, [("acquire", 4, 1.0), ("acquire", 1, 2.0), ("refund", 1.0, 3.0), ("acquire", 1, 3.0)]),
]


async def _run_parity(url: str, prefix: str, rate: float, burst: float, ops: list[Op]) -> None:
    """Run ``ops`` on a local bucket and a Lua one (explicit times) and compare every answer."""
    local = tokenwire.TokenBucket(rate, burst, 0.0)
    async with RedisBucketStore.from_url(url, prefix=prefix, time_source="caller", drain_raises=True) as store:
        shared = store.bucket(uuid.uuid4().hex, "", rate, burst, 0.0)
        last = 0.0
        for op in ops:
            kind = op[0]
            if kind == "acquire":
                _, tokens, now = op
                expected = local.try_acquire(tokens, now)
                assert await shared.acquire(tokens, now) == expected, op
            elif kind == "available":
                _, now = op
                assert await shared.level(now) == local.available(now), op
            elif kind == "drain":
                _, remaining, reset_at, now = op
                local.drain(remaining, reset_at, now)
                shared.drain(remaining, reset_at, now)
            elif kind == "refund":
                _, tokens, now = op
                local.refund(tokens, now)
                shared.refund(tokens, now)
            else:
                _, new_rate, now, new_burst = op
                local.set_rate(new_rate, now, new_burst)
                shared.set_rate(new_rate, now, new_burst)
            last = max(last, now)
        # Whatever is still queued is applied too: the final levels agree.
        assert await shared.level(last + 1.0) == local.available(last + 1.0)


@pytest.mark.parametrize(("rate", "burst", "ops"), FIXED_SEQUENCES)
def test_lua_bucket_matches_the_local_bucket(
    redis_url: str, prefix: str, rate: float, burst: float, ops: list[Op]
) -> None:
    asyncio.run(_run_parity(redis_url, prefix, rate, burst, ops))


@st.composite
def _sequences(draw: st.DrawFn) -> tuple[float, float, list[Op]]:
    rate = draw(st.sampled_from([0.0, 0.5, 1.0, 3.0, 40.0]))
    initial_burst = burst = draw(st.sampled_from([1.0, 2.5, 10.0, 1000.0]))
    now = 0.0
    ops: list[Op] = []
    for _ in range(draw(st.integers(1, 14))):
        now += draw(st.sampled_from([0.0, 0.001, 0.1, 0.5, 2.0, 7.3]))
        amount = st.floats(min_value=0.0, max_value=burst, allow_nan=False)
        kind = draw(st.sampled_from(["acquire", "acquire", "acquire", "available", "drain", "refund", "set_rate"]))
        if kind == "acquire":
            ops.append(("acquire", draw(amount), now))
        elif kind == "available":
            ops.append(("available", now))
        elif kind == "drain":
            remaining = draw(st.floats(min_value=-5.0, max_value=burst * 1.5, allow_nan=False))
            ops.append(("drain", remaining, now + draw(st.floats(-1.0, 60.0, allow_nan=False)), now))
        elif kind == "refund":
            ops.append(("refund", draw(amount), now))
        else:
            new_burst = draw(st.sampled_from([None, None, 0.5, 4.0, 2000.0]))
            ops.append(("set_rate", draw(st.sampled_from([0.0, 0.2, 2.0, 80.0])), now, new_burst))
            burst = new_burst if new_burst is not None else burst
    return rate, initial_burst, ops


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=_sequences())
def test_lua_bucket_matches_the_local_bucket_on_generated_sequences(
    redis_url: str, prefix: str, case: tuple[float, float, list[Op]]
) -> None:
    asyncio.run(_run_parity(redis_url, prefix, *case))


# ---------------------------------------------------------------------------
# Server time, sharing, settings
# ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_buckets_keep_time_on_the_redis_server_clock(redis_url: str, prefix: str) -> None:
    async with (
        RedisBucketStore.from_url(redis_url, prefix=prefix) as one,
        RedisBucketStore.from_url(redis_url, prefix=prefix) as two,
    ):
        a = one.bucket("openai", "requests", 2.0, 3.0)
        b = two.bucket("openai", "requests", 2.0, 3.0)  # another client: the same Redis key
        assert a.key == b.key == f"{prefix}:bucket:{{openai}}:requests"
        assert [await a.acquire(1) for _ in range(3)] == [0.0, 0.0, 0.0]
        wait = await b.acquire(1)
        assert 0.0 < wait <= 1 / 2.0 + 1e-6  # the other client sees the empty bucket
        assert await b.level() < 1.0
        await anyio.sleep(wait)
        assert await b.acquire(1) == 0.0
        # The local view follows Redis after a round trip.
        assert b.available(time.monotonic()) < 1.0
        assert await a.acquire(3.0) > 0.0


@pytest.mark.anyio
async def test_queued_changes_reach_the_other_processes(redis_url: str, prefix: str) -> None:
    async with (
        RedisBucketStore.from_url(redis_url, prefix=prefix) as one,
        RedisBucketStore.from_url(redis_url, prefix=prefix) as two,
    ):
        a = one.bucket("k", "tokens", 0.01, 100.0)
        b = two.bucket("k", "tokens", 0.01, 100.0)
        assert await a.acquire(100.0) == 0.0
        now = time.monotonic()
        a.refund(40.0, now)  # synchronous: queued, and flushed in the background at once
        assert a.available(now) == pytest.approx(40.0, abs=0.1)
        with anyio.fail_after(2):
            while await b.level() < 40.0:
                await anyio.sleep(0.01)
        # A rate change written by one process governs the shared refill.
        b.set_rate(0.0, time.monotonic())
        await b.flush()
        level = await a.level()
        await anyio.sleep(0.05)
        assert await a.level() == level  # rate 0: no refill any more
        assert a.rate == 0.01 and b.rate == 0.0  # each reports what it set


@pytest.mark.anyio
async def test_header_drains_lower_but_never_raise_the_shared_level_by_default(redis_url: str, prefix: str) -> None:
    async with (
        RedisBucketStore.from_url(redis_url, prefix=prefix) as lowering,
        RedisBucketStore.from_url(redis_url, prefix=prefix, drain_raises=True) as raising,
    ):
        bucket = lowering.bucket("p", "requests", 0.001, 10.0)
        assert await bucket.acquire(8.0) == 0.0
        now = time.monotonic()
        bucket.drain(9.0, now + 100.0, now)  # the provider saw fewer calls than were granted
        assert await bucket.level() == pytest.approx(2.0, abs=0.01)
        bucket.drain(1.0, now + 100.0, now)
        assert await bucket.level() == pytest.approx(1.0, abs=0.01)
        exact = raising.bucket("p", "requests", 0.001, 10.0)
        exact.drain(9.0, now + 100.0, now)
        assert await exact.level() == pytest.approx(9.0, abs=0.01)


@pytest.mark.anyio
async def test_scripts_are_reloaded_after_a_script_flush(redis_url: str, prefix: str) -> None:
    async with RedisBucketStore.from_url(redis_url, prefix=prefix) as store:
        bucket = store.bucket("reload", "", 0.001, 5.0)
        assert await bucket.acquire(1) == 0.0
        admin = redis_sync.Redis.from_url(redis_url)
        try:
            admin.script_flush()  # what a Redis restart or failover does to the script cache
        finally:
            admin.close()
        assert await bucket.acquire(1) == 0.0  # NOSCRIPT → SCRIPT LOAD → EVALSHA
        assert await bucket.level() == pytest.approx(3.0, abs=0.01)


@pytest.mark.anyio
async def test_bucket_keys_expire_when_idle_but_not_before_they_are_full(redis_url: str, prefix: str) -> None:
    async with RedisBucketStore.from_url(redis_url, prefix=prefix, ttl=30.0) as store:
        slow = store.bucket("ttl", "slow", 0.01, 5.0)
        fast = store.bucket("ttl", "fast", 100.0, 5.0)
        assert await store.take([(slow, 1.0), (fast, 1.0)], time.monotonic()) == 0.0
        admin = redis_sync.Redis.from_url(redis_url)
        try:
            assert 29 <= admin.ttl(fast.key) <= 30
            # One token at 0.01/s is 100 s: recreating it full earlier would hand out more.
            assert 99 <= admin.ttl(slow.key) <= 100
        finally:
            admin.close()


# ---------------------------------------------------------------------------
# The limiter on shared buckets
# ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_limiters_on_one_shared_quota(redis_url: str, prefix: str) -> None:
    config = LimiterConfig(requests_per_minute=6, tokens_per_minute=1000)
    async with (
        RedisBucketStore.from_url(redis_url, prefix=prefix) as one,
        RedisBucketStore.from_url(redis_url, prefix=prefix) as two,
    ):
        first = AdaptiveRateLimiter("openai", config, buckets=one)
        second = AdaptiveRateLimiter("openai", config, buckets=two)
        permits = [await first.acquire(100) for _ in range(3)] + [await second.acquire(100) for _ in range(3)]
        assert all(p.waited < 0.5 for p in permits)
        # Six requests a minute, all taken between the two: the next one must wait ~10 s.
        assert second.estimate_wait() > 0.0 or first.estimate_wait() > 0.0
        with anyio.move_on_after(0.3) as scope:
            await second.acquire(100)
        assert scope.cancelled_caught
        assert second.waiters == 0
        # A cancelled permit gives its request back to both processes.
        permits[0].cancel()
        await one.flush()
        with anyio.fail_after(2):
            permit = await second.acquire(100)
        # Tokens: 600 of 1000 taken; settling below the estimate refunds the difference.
        permit.settle(10)
        with anyio.fail_after(2):
            while (await one.bucket("openai", "tokens", 0, 1).level()) < 1000 - 600 + 90 - 1:
                await anyio.sleep(0.01)
        stats = second.stats()
        assert stats.requests.limit == 6 and stats.tokens.limit == 1000


@pytest.mark.anyio
async def test_a_rate_cut_after_a_429_is_shared(redis_url: str, prefix: str) -> None:
    config = LimiterConfig(requests_per_minute=600)
    async with (
        RedisBucketStore.from_url(redis_url, prefix=prefix) as one,
        RedisBucketStore.from_url(redis_url, prefix=prefix) as two,
    ):
        first = AdaptiveRateLimiter("groq", config, buckets=one)
        second = AdaptiveRateLimiter("groq", config, buckets=two)
        await second.acquire()
        first.record_rate_limited(retry_after=0.01, kind="requests")
        await one.flush()
        shared = two.bucket("groq", "requests", 0, 1)
        await shared.flush()
        state = redis_sync.Redis.from_url(redis_url)
        try:
            rate = state.hget(shared.key, "r")
            assert rate is not None and float(rate) == pytest.approx(600 / 60 * 0.5)
        finally:
            state.close()


# ---------------------------------------------------------------------------
# Several OS processes
# ---------------------------------------------------------------------------


class _Worker:
    """One ``_redis_worker.py`` process, driven by lines on stdin/stdout."""

    def __init__(self, process: Process) -> None:
        self.process = process
        assert process.stdout is not None and process.stdin is not None
        self._out = BufferedByteReceiveStream(process.stdout)

    async def line(self) -> str:
        try:
            return (await self._out.receive_until(b"\n", 65536)).decode()
        except (anyio.EndOfStream, anyio.IncompleteRead):
            stderr = b""
            if self.process.stderr is not None:
                with anyio.move_on_after(1):
                    async for chunk in self.process.stderr:
                        stderr += chunk
            raise AssertionError(f"worker exited early:\n{stderr.decode(errors='replace')[-3000:]}") from None

    async def answer(self) -> dict[str, Any]:
        return json.loads(await self.line())

    async def send(self, command: str) -> None:
        assert self.process.stdin is not None
        await self.process.stdin.send(command.encode() + b"\n")


@pytest.fixture
async def spawn() -> AsyncIterator[Any]:
    """Start workers (``await spawn(role, config)``); all are ended after the test."""
    workers: list[_Worker] = []

    async def start(role: str, config: dict[str, Any]) -> _Worker:
        process = await anyio.open_process(
            [sys.executable, str(WORKER), role, json.dumps(config)], env={**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        worker = _Worker(process)
        workers.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            if worker.process.returncode is None:
                worker.process.kill()
            with anyio.move_on_after(5):
                await worker.process.wait()
            await worker.process.aclose()


@pytest.fixture
def counting_server() -> Iterator[tuple[OpenAIMockServer, list[float]]]:
    """The loopback OpenAI server, recording when each generation request arrived."""
    arrivals: list[float] = []

    def answer(request: RecordedRequest) -> Answer:
        arrivals.append(time.monotonic())
        return Answer("ok")

    with OpenAIMockServer(api_key="sk-test", script=answer) as server:
        yield server, arrivals


async def _hammer(spawn: Any, role: str, configs: list[dict[str, Any]]) -> tuple[list[int], float]:
    """Start one worker per config, release them together, collect what each sent and
    how long the whole run took (from the release to the last answer)."""
    workers = [await spawn(role, config) for config in configs]
    with anyio.fail_after(60):  # start-up of fresh interpreters on a loaded 2-core machine
        for worker in workers:
            assert await worker.line() == "ready"
    started = time.monotonic()
    for worker in workers:
        await worker.send("go")
    with anyio.fail_after(30):
        sent = [int((await worker.answer())["sent"]) for worker in workers]
    return sent, time.monotonic() - started


@pytest.mark.anyio
async def test_processes_sharing_a_limiter_never_exceed_its_quota(
    redis_url: str, prefix: str, spawn: Any, counting_server: tuple[OpenAIMockServer, list[float]]
) -> None:
    server, arrivals = counting_server
    rpm = 30  # a bucket of 30 requests, refilled at 0.5 per second
    config = {
        "url": redis_url,
        "prefix": prefix,
        "key": "openai/gpt-4o-mini",
        "rpm": rpm,
        "tpm": 30_000,
        "cost": 200,  # and 30 000 tokens a minute at 200 a request: 150 requests, never the limit
        "base_url": server.base_url,
        "duration": 2.5,
        "tasks": 4,
    }
    sent, elapsed = await _hammer(spawn, "limiter", [config] * 3)
    allowed = rpm + rpm / 60 * elapsed
    assert len(arrivals) == sum(sent)
    # Never over the quota, counted at the server...
    assert len(arrivals) <= math.floor(allowed), (sent, elapsed)
    # ...and the quota is used (each process alone would have sent as much).
    assert len(arrivals) >= rpm, sent
    assert all(n > 0 for n in sent), sent


@pytest.mark.anyio
async def test_processes_sharing_a_fast_bucket_keep_its_rate(
    redis_url: str, prefix: str, spawn: Any, counting_server: tuple[OpenAIMockServer, list[float]]
) -> None:
    server, arrivals = counting_server
    rate, burst, duration = 40.0, 4.0, 2.0
    config = {
        "url": redis_url,
        "prefix": prefix,
        "key": "shared",
        "rate": rate,
        "burst": burst,
        "base_url": server.base_url,
        "duration": duration,
        "tasks": 3,
    }
    sent, elapsed = await _hammer(spawn, "bucket", [config] * 3)
    assert len(arrivals) == sum(sent)
    # Refill on the server's one clock: burst + rate * time, never more...
    assert len(arrivals) <= math.floor(burst + rate * elapsed), (sent, elapsed)
    # ...and close to it (three uncoordinated processes do not starve each other).
    assert len(arrivals) >= 0.5 * rate * duration, (sent, elapsed)
    # No second of the run saw more than the burst and a second of refill, wherever the
    # second starts — give or take the delay between a grant and its arrival (bounded
    # generously: a loaded machine delays some requests more than others).
    window, jitter = 1.0, 0.25
    arrivals.sort()
    heaviest = max(sum(1 for t in arrivals if start <= t < start + window) for start in arrivals)
    assert heaviest <= burst + rate * (window + jitter), heaviest


@pytest.mark.anyio
async def test_a_breaker_opened_in_one_process_is_open_in_another(redis_url: str, prefix: str, spawn: Any) -> None:
    key = "anthropic/claude-sonnet-4"
    other = await spawn("breaker", {"url": redis_url, "prefix": prefix, "key": key})
    with anyio.fail_after(60):
        assert await other.line() == "ready"
    async with RedisBreakerStore.from_url(redis_url, prefix=prefix, cache_ttl=0.0) as store:
        breaker = CircuitBreaker(key, BreakerConfig(open_duration=30.0))
        store.bind(breaker)
        changes: list[tuple[BreakerState, BreakerState]] = []
        breaker.add_listener(lambda _k, old, new, _at: changes.append((old, new)))
        (await store.acquire(breaker)).record_success()

        with anyio.fail_after(10):
            await other.send("trip")  # a plain CircuitBreaker.trip() over there
            there = await other.answer()
        assert there["state"] == "open"

        with pytest.raises(CircuitOpenError) as raised:
            await store.acquire(breaker)
        assert breaker.state is BreakerState.OPEN
        assert changes == [(BreakerState.CLOSED, BreakerState.OPEN)]  # listeners and metrics see it
        retry_at = raised.value.retry_at
        assert retry_at is not None
        # The interval the other process chose (30 s), on this process's clock.
        assert 25.0 < retry_at - breaker.clock.now() <= 30.0
        record = await store.read(key)
        assert record is not None and record.writer == there["writer"]
        assert record.state is BreakerState.OPEN and record.opened_count == 1 and record.consecutive_opens == 1

        # Recovery travels back: a reset here closes the breaker there.
        breaker.reset()
        await store.flush()
        with anyio.fail_after(10):
            await other.send("sync")
            assert (await other.answer())["state"] == "closed"

        # An opening by failures (not trip) is shared the same way.
        with anyio.fail_after(10):
            await other.send("fail")
            assert (await other.answer())["state"] == "open"
        await store.sync(breaker, force=True)
        assert breaker.state is BreakerState.OPEN
        record = await store.read(key)
        assert record is not None and record.opened_count == 2
        await other.send("exit")


# ---------------------------------------------------------------------------
# Breaker records, in one process with two stores (as two processes would)
# ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_breaker_records_adopt_newer_state_only(redis_url: str, prefix: str) -> None:
    async with (
        RedisBreakerStore.from_url(redis_url, prefix=prefix) as here,
        RedisBreakerStore.from_url(redis_url, prefix=prefix, cache_ttl=60.0) as there,
    ):
        mine = CircuitBreaker("m", BreakerConfig(open_duration=10.0))
        theirs = CircuitBreaker("m", BreakerConfig(open_duration=10.0))
        here.bind(mine)
        there.bind(theirs)
        with pytest.raises(ValueError, match="already bound"):
            here.bind(CircuitBreaker("m"))
        await there.sync(theirs)  # read once: cached for 60 s from now on

        mine.trip()  # the listener writes it in the background, no explicit flush
        with anyio.fail_after(2):
            while (record := await here.read("m")) is None:
                await anyio.sleep(0.01)
        assert record.state is BreakerState.OPEN and 9.0 < (record.open_for or 0) <= 10.0

        await there.sync(theirs)
        assert theirs.state is BreakerState.CLOSED  # the cached read is still fresh
        await there.sync(theirs, force=True)
        assert theirs.state is BreakerState.OPEN
        assert theirs.stats().consecutive_opens == 1
        # Adopting wrote nothing back: the record is still the one written here.
        again = await here.read("m")
        assert again is not None and again.version == record.version and again.writer == here.writer

        # A second opening in a row grows the interval everywhere.
        mine.reset()
        mine.trip()
        mine.trip()
        await here.flush()
        await there.sync(theirs, force=True)
        assert theirs.stats().consecutive_opens == mine.stats().consecutive_opens
        retry_in = (theirs.retry_at or 0) - theirs.clock.now()
        assert retry_in == pytest.approx((mine.retry_at or 0) - mine.clock.now(), abs=0.5)

        # Reset here → closed there; our own writes are never adopted back.
        mine.reset()
        await here.flush()
        await there.sync(theirs, force=True)
        assert theirs.state is BreakerState.CLOSED
        await here.sync(mine, force=True)
        assert mine.state is BreakerState.CLOSED

        here.unbind(mine)
        with pytest.raises(ValueError, match="not bound"):
            await here.sync(mine)


@pytest.mark.anyio
async def test_an_expired_opening_is_left_to_each_process(redis_url: str, prefix: str) -> None:
    async with (
        RedisBreakerStore.from_url(redis_url, prefix=prefix, cache_ttl=0.0) as here,
        RedisBreakerStore.from_url(redis_url, prefix=prefix, cache_ttl=0.0) as there,
    ):
        short = BreakerConfig(open_duration=0.05, max_open_duration=0.05)
        mine, theirs = CircuitBreaker("x", short), CircuitBreaker("x", short)
        here.bind(mine)
        there.bind(theirs)
        mine.trip()
        await here.flush()
        await anyio.sleep(0.1)
        await there.sync(theirs)
        assert theirs.state is BreakerState.CLOSED  # the interval ended: nothing to adopt
        assert mine.state is BreakerState.HALF_OPEN  # probes are per process


# ---------------------------------------------------------------------------
# When Redis fails
# ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_unreachable_redis_fails_closed_with_a_typed_error() -> None:
    url = _dead_url()
    async with RedisBucketStore.from_url(url, timeout=1.0) as buckets:
        limiter = AdaptiveRateLimiter("p", LimiterConfig(requests_per_minute=60), buckets=buckets)
        with anyio.fail_after(5), pytest.raises(SharedStateError) as raised:
            await limiter.acquire()
        error = raised.value
        assert isinstance(error, ConfigurationError)
        assert "127.0.0.1" in str(error) and isinstance(error.__cause__, redis_sync.RedisError)
        # Not a provider failure: neither retried nor counted by a breaker.
        assert not is_retryable(error) and not default_counts_as_failure(error)
        assert limiter.waiters == 0
    async with RedisBreakerStore.from_url(url, timeout=1.0) as breakers:
        breaker = CircuitBreaker("p")
        breakers.bind(breaker)
        with anyio.fail_after(5), pytest.raises(SharedStateError):
            await breakers.acquire(breaker)


@pytest.mark.anyio
async def test_unreachable_redis_fails_open_to_local_state_when_configured(caplog: pytest.LogCaptureFixture) -> None:
    url = _dead_url()
    async with RedisBucketStore.from_url(url, timeout=1.0, on_error="local") as buckets:
        limiter = AdaptiveRateLimiter("p", LimiterConfig(requests_per_minute=2), buckets=buckets)
        with anyio.fail_after(5):
            first = await limiter.acquire()
            await limiter.acquire()
        assert first.waited < 1.0
        # The local view enforces the limit meanwhile: the third must wait ~30 s.
        with anyio.move_on_after(0.3) as scope:
            await limiter.acquire()
        assert scope.cancelled_caught
        assert any("fall back" in r.getMessage() for r in caplog.records)
    async with RedisBreakerStore.from_url(url, timeout=1.0, on_error="local") as breakers:
        breaker = CircuitBreaker("p")
        breakers.bind(breaker)
        with anyio.fail_after(5):
            (await breakers.acquire(breaker)).record_failure(APIConnectionError("refused"))
        assert breaker.state is BreakerState.CLOSED


@pytest.mark.anyio
async def test_changes_made_while_redis_was_down_are_applied_once_it_is_back(redis_url: str, prefix: str) -> None:
    async with RedisBucketStore.from_url(redis_url, prefix=prefix, on_error="local", fallback_seconds=0.0) as store:
        bucket = store.bucket("outage", "", 0.001, 10.0)
        assert await store.take([(bucket, 1.0)], time.monotonic()) == 0.0
        real = store._runner.client
        store._runner.client = redis_async.Redis.from_url(_dead_url(), socket_connect_timeout=1.0)
        try:
            for _ in range(3):  # granted from the local view, queued for Redis
                assert await store.take([(bucket, 1.0)], time.monotonic()) == 0.0
        finally:
            await store._runner.client.aclose()
            store._runner.client = real
        assert await bucket.level() == pytest.approx(6.0, abs=0.01)


# ---------------------------------------------------------------------------
# The extension points in the limiter and the breaker (no Redis needed)
# ---------------------------------------------------------------------------


def test_trip_can_adopt_an_interval_and_a_count_decided_elsewhere() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker("k", BreakerConfig(open_duration=1.0, open_multiplier=2.0, half_open_calls=1), clock=clock)
    breaker.trip(until=7.0, consecutive_opens=3)
    assert breaker.state is BreakerState.OPEN and breaker.retry_at == 7.0
    assert breaker.stats().consecutive_opens == 3 and breaker.stats().opened_count == 1
    clock.advance(7.0)
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.acquire().record_failure(APIConnectionError("still down"))
    assert breaker.retry_at == 7.0 + 8.0  # the 4th opening in a row: 1 s * 2**3
    with pytest.raises(ValueError):
        breaker.trip(until=math.inf)
    with pytest.raises(ValueError):
        breaker.trip(consecutive_opens=0)


class _InFlightBackend:
    """A BucketBackend on local buckets whose take stays in flight until released."""

    def __init__(self) -> None:
        self.started = anyio.Event()
        self.release = anyio.Event()
        self.made: list[tokenwire.TokenBucket] = []

    def bucket(self, key: str, quota: str, rate: float, burst: float, now: float) -> tokenwire.TokenBucket:
        bucket = tokenwire.TokenBucket(rate, burst, now)
        self.made.append(bucket)
        return bucket

    async def take(self, grants: Sequence[tuple[RateBucket, float]], now: float) -> float:
        self.started.set()
        await self.release.wait()
        if all(bucket.available(now) >= amount for bucket, amount in grants):
            for bucket, amount in grants:
                assert bucket.try_acquire(amount, now) == 0.0
            return 0.0
        return 1.0


@pytest.mark.anyio
async def test_a_grant_cancelled_in_flight_is_given_back() -> None:
    clock = FakeClock()
    backend = _InFlightBackend()
    limiter = AdaptiveRateLimiter(
        "k", LimiterConfig(requests_per_minute=10, tokens_per_minute=500), clock=clock, buckets=backend
    )
    requests, tokens = backend.made
    async with anyio.create_task_group() as group:
        group.start_soon(limiter.acquire, 200)
        await backend.started.wait()
        group.cancel_scope.cancel()  # while the take is in flight (shielded)
        backend.release.set()
    # The take went through, then the cancellation gave both amounts back.
    assert requests.available(clock.now()) == 10.0 and tokens.available(clock.now()) == 500.0
    assert limiter.waiters == 0
    backend.started, backend.release = anyio.Event(), anyio.Event()
    backend.release.set()
    permit = await limiter.acquire(200)  # shared buckets always go through the backend
    assert permit.charged_tokens == 200 and tokens.available(clock.now()) == 300.0


# ---------------------------------------------------------------------------
# The manager on shared state
# ---------------------------------------------------------------------------

BROKEN = "openai/gpt-4o"  # the target whose breaker the tests open
QUOTA = "openai/gpt-4o-mini"  # the target with a shared RPM quota


def _sent_to(server: OpenAIMockServer, target: str) -> int:
    """Generation requests for ``target``'s model that reached ``server``."""
    model = target.partition("/")[2]
    return sum(1 for r in server.requests if r.method == "POST" and r.json().get("model") == model)


def _manager(server: OpenAIMockServer, shared: SharedState, **options: Any) -> ProviderManager:
    options.setdefault("retry", RetryPolicy(max_retries=0))
    options.setdefault(
        "breaker_config",
        BreakerConfig(window_size=4, minimum_calls=4, open_duration=0.3, max_open_duration=0.3, half_open_calls=1),
    )
    return ProviderManager(
        providers={"openai": {"api_key": "sk-test", "base_url": server.base_url}}, shared_state=shared, **options
    )


def _ask(target: str) -> ChatRequest:
    return ChatRequest(model=target, messages=(Message("user", "hi"),))


@pytest.mark.anyio
async def test_manager_processes_share_one_quota_and_one_breaker(
    redis_url: str, prefix: str, spawn: Any, counting_server: tuple[OpenAIMockServer, list[float]]
) -> None:
    server, _ = counting_server
    rpm, open_duration = 30, 2.0
    config = {
        "url": redis_url,
        "prefix": prefix,
        "base_url": server.base_url,
        "open_duration": open_duration,
        "quota_target": QUOTA,
        "rpm": rpm,
    }
    first, second = await spawn("manager", config), await spawn("manager", config)
    with anyio.fail_after(60):  # start-up of fresh interpreters on a loaded 2-core machine
        assert await first.line() == "ready"
        assert await second.line() == "ready"

    async def command(worker: _Worker, **fields: Any) -> dict[str, Any]:
        await worker.send(json.dumps(fields))
        return await worker.answer()

    # 1. Failures in the first process open its breaker (4 of 4 calls failed).
    server.set_default_fault(faults.ServerFault(500))
    with anyio.fail_after(20):
        opened = await command(first, do="until_open", target=BROKEN)
    assert opened["outcomes"] == ["ServerError"] * 4 and opened["state"] == "open"
    assert _sent_to(server, BROKEN) == 4

    # 2. The second process refuses at once, having seen no failure and sent nothing.
    with anyio.fail_after(20):
        refused = await command(second, do="chat", target=BROKEN)
    assert refused["error"] == "CircuitOpenError" and refused["state"] == "open", refused
    assert 0.0 < refused["retry_in"] <= open_duration  # the interval the first process chose
    assert (refused["requests"], refused["rejected"], refused["errors"]) == (0, 1, {})
    assert _sent_to(server, BROKEN) == 4
    server.set_default_fault(None)

    # 3. Both hammer another target for longer than that interval: one RPM quota between them.
    started = time.monotonic()
    for worker in (first, second):
        await worker.send(json.dumps({"do": "hammer", "target": QUOTA, "duration": 2.5, "tasks": 4}))
    with anyio.fail_after(30):
        sent = [int((await worker.answer())["sent"]) for worker in (first, second)]
    elapsed = time.monotonic() - started
    arrived = _sent_to(server, QUOTA)
    assert arrived >= sum(sent)  # (a caller cut off at the deadline may have sent one more)
    assert arrived <= math.floor(rpm + rpm / 60 * elapsed), (sent, elapsed)  # never over it...
    assert arrived >= rpm and all(n > 0 for n in sent), sent  # ...and used by both

    # 4. Recovery: the second process's probe succeeds and closes the breaker; the first
    # adopts that through its background sync, without a probe of its own.
    with anyio.fail_after(20):
        recovered = await command(second, do="chat", target=BROKEN)
        assert recovered["ok"] and recovered["state"] == "closed", recovered
        probes = _sent_to(server, BROKEN)
        assert probes == 5
        while (await command(first, do="state", target=BROKEN))["state"] != "closed":
            await anyio.sleep(0.02)
        assert _sent_to(server, BROKEN) == probes
        again = await command(first, do="chat", target=BROKEN)
    assert again["ok"] and again["state"] == "closed" and again["errors"] == {"ServerError": 4}
    for worker in (first, second):
        await worker.send("exit")


@pytest.mark.anyio
async def test_managers_adopt_each_others_openings_and_recoveries(redis_url: str, prefix: str) -> None:
    with OpenAIMockServer(api_key="sk-test") as server:
        one = _manager(server, SharedState.from_url(redis_url, prefix=prefix))
        two = _manager(server, SharedState.from_url(redis_url, prefix=prefix))
        seen: list[ManagerEvent] = []
        two.add_listener(seen.append)
        with anyio.fail_after(20):
            async with one, two:
                server.set_default_fault(faults.ServerFault(503))
                for _ in range(4):
                    with pytest.raises(ServerError):
                        await one.chat(_ask(BROKEN))
                assert one.breaker(BROKEN).state is BreakerState.OPEN
                # The opening is written at once in the background; flushing makes
                # "at once" deterministic for the test.
                assert one.shared_state is not None
                await one.shared_state.flush()
                with pytest.raises(CircuitOpenError) as refused:
                    await two.chat(_ask(BROKEN))
                assert refused.value.retry_at is not None
                assert 0.0 < refused.value.retry_at - two.clock.now() <= 0.3
                assert _sent_to(server, BROKEN) == 4
                target = two.metrics.target(BROKEN)
                assert (target["requests"], target["rejected"], target["errors"]) == (0, 1, {})
                assert target["breaker_state"] == "open"  # two's listeners and metrics saw it

                server.set_default_fault(None)
                await anyio.sleep(0.35)  # the open interval ends (real time: two processes' clocks)
                assert (await two.chat(_ask(BROKEN))).text  # two's own half-open probe
                assert two.breaker(BROKEN).state is BreakerState.CLOSED
                probes = _sent_to(server, BROKEN)
                while one.breaker(BROKEN).state is not BreakerState.CLOSED:  # the background sync
                    await anyio.sleep(0.01)
                assert _sent_to(server, BROKEN) == probes
            breaker_moves = [(e.previous, e.state) for e in seen if e.kind == "breaker"]
            assert breaker_moves == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]

            # Closed and still usable: the next call reconnects to Redis.
            assert (await one.chat(_ask(BROKEN))).text
            await one.aclose()


@pytest.mark.anyio
async def test_manager_limiters_share_a_quota_in_one_process_too(redis_url: str, prefix: str) -> None:
    limits = {"limiter_configs": {QUOTA: LimiterConfig(requests_per_minute=3)}}
    with OpenAIMockServer(api_key="sk-test") as server:
        one = _manager(server, SharedState.from_url(redis_url, prefix=prefix), **limits)
        two = _manager(server, SharedState.from_url(redis_url, prefix=prefix), **limits)
        async with one, two:
            with anyio.fail_after(10):
                for manager in (one, two, one):
                    assert (await manager.chat(_ask(QUOTA))).text
                with anyio.move_on_after(0.3) as waiting:  # the fourth would wait 20 s
                    await two.chat(_ask(QUOTA))
        assert waiting.cancelled_caught
        assert _sent_to(server, QUOTA) == 3


@pytest.mark.anyio
async def test_a_manager_fails_closed_when_redis_is_down(caplog: pytest.LogCaptureFixture) -> None:
    with OpenAIMockServer(api_key="sk-test") as server:
        closed = _manager(server, SharedState.from_url(_dead_url(), timeout=1.0))
        with anyio.fail_after(10), pytest.raises(SharedStateError) as raised:
            await closed.chat(_ask(BROKEN))
        assert isinstance(raised.value, ConfigurationError)
        assert server.requests == []  # nothing sent without the shared state
        assert closed.breaker(BROKEN).stats().calls == 0  # and nothing counted against the provider
        await closed.aclose()

        opened = _manager(server, SharedState.from_url(_dead_url(), timeout=1.0, on_error="local"))
        with anyio.fail_after(10):
            assert (await opened.chat(_ask(BROKEN))).text
        assert any("fall back" in r.getMessage() for r in caplog.records)
        await opened.aclose()


def test_the_sync_client_runs_the_shared_state_sync(redis_url: str, prefix: str) -> None:
    with OpenAIMockServer(api_key="sk-test") as server:
        seen: list[ManagerEvent] = []
        with tokenwire.Client(
            providers={"openai": {"api_key": "sk-test", "base_url": server.base_url}},
            shared_state=SharedState.from_url(redis_url, prefix=prefix),
            retry=RetryPolicy(max_retries=0),
        ) as client:
            client.manager.add_listener(seen.append)
            assert client.chat(BROKEN, [{"role": "user", "content": "hi"}]).text  # creates the breaker

            async def trip_elsewhere() -> None:
                async with RedisBreakerStore.from_url(redis_url, prefix=prefix) as store:
                    elsewhere = CircuitBreaker(BROKEN, BreakerConfig(open_duration=30.0))
                    store.bind(elsewhere)
                    elsewhere.trip()
                    await store.flush()

            asyncio.run(trip_elsewhere())
            # No call from here: the background sync (on the client's loop thread) adopts it.
            deadline = time.monotonic() + 10
            while not any(e.kind == "breaker" and e.state == "open" for e in seen):
                assert time.monotonic() < deadline, seen
                time.sleep(0.01)
            with pytest.raises(CircuitOpenError):
                client.chat(BROKEN, [{"role": "user", "content": "hi"}])
        assert _sent_to(server, BROKEN) == 1


def test_the_readme_redis_snippet_runs(
    redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Sharing rate limits and circuit breakers across processes (Redis)", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    assert 'prefix="myapp"' in code
    with OpenAIMockServer(api_key="sk-readme-0000000000") as server:
        monkeypatch.setenv("REDIS_URL", redis_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-readme-0000000000")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        for var in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
            monkeypatch.delenv(var, raising=False)
        exec(compile(code.replace('prefix="myapp"', f"prefix={prefix!r}"), "README-redis", "exec"), {})
    assert "You said: Say hi" in capsys.readouterr().out
    client = redis_sync.Redis.from_url(redis_url)
    try:  # the request was granted from the shared bucket
        assert client.hget(f"{prefix}:bucket:{{{QUOTA}}}:requests", "b") == b"500"
    finally:
        client.close()
