"""Chaos: seeded random fault schedules against the loopback OpenAI and Anthropic
servers, through ``AsyncClient`` and its ``ProviderManager``, with routes over both
providers and the health monitor running.

Faults: disconnects before/after the first token and mid-event (graceful and RST),
short and long stalls (around a small idle timeout), byte drips, 429 storms with the
providers' rate-limit headers (injected, and enforced by ``RateLimits``), 5xx, 529,
in-stream error events, malformed frames, and slow health checks.

For every request: a complete answer (the scripted text exactly — nothing lost or
duplicated across retries and failover) or a typed ``TokenwireError`` with only a prefix
of the answer before it; never a raw httpx/anyio exception, never a hang (deadlines
everywhere). After every test: no request holding a pooled connection, every pooled
connection idle or closed, no task left running. Breakers only make legal moves, open
under failures and recover once the faults stop.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any, Optional

import anyio
import pytest
from tests.chaos._support import (
    ANTHROPIC,
    OPENAI,
    Tally,
    assert_breaker_moves_legal,
    assert_pools_idle,
    breaker_transitions,
    expected_text,
    no_leaked_tasks,
    provider_options,
    run_one,
)

from tokenwire._http import Timeouts
from tokenwire.client import AsyncClient
from tokenwire.errors import APIConnectionError, APITimeoutError
from tokenwire.manager import ManagerEvent
from tokenwire.resilience import BreakerConfig, LimiterConfig, RetryPolicy
from tokenwire.testing import AnthropicMockServer, OpenAIMockServer, RateLimits, faults
from tokenwire.testing.faults import Fault

IDLE = 0.25
TIMEOUTS = Timeouts(connect=2.0, read=IDLE, write=2.0, pool=10.0, idle=IDLE, total=10.0)
SHORT_STALL = 0.02
LONG_STALL = 0.5  # > IDLE: the client's read times out
LIMITER = LimiterConfig(default_pause=0.02, max_pause=0.2)
BREAKER = BreakerConfig(
    window_size=20,
    minimum_calls=10,
    failure_rate_threshold=0.7,
    open_duration=0.1,
    max_open_duration=0.4,
    half_open_calls=2,
)
SEEDS = [11, 23, 47]


def retry_policy(seed: int, max_retries: int = 2) -> RetryPolicy:
    return RetryPolicy(
        max_retries=max_retries, initial_delay=0.02, max_delay=0.2, max_retry_after=1.0, random=random.Random(seed)
    )


def random_fault(rng: random.Random) -> list[Fault]:
    """One request's faults (empty: a clean answer)."""
    if rng.random() < 0.4:
        return []
    kind = rng.randrange(11)
    cut = rng.randint(0, 7000)  # OpenAI (Responses API) streams are ~6.7 KB, Anthropic's ~2.3 KB
    if kind == 0:
        return [faults.Disconnect(after_bytes=cut, reset=rng.random() < 0.3)]
    if kind == 1:
        return [faults.Drip(bytes_per_write=rng.randint(1, 64)), faults.Disconnect(after_bytes=cut)]
    if kind == 2:
        return [faults.Drip(bytes_per_write=rng.randint(1, 64))]
    if kind == 3:
        return [faults.Stall(seconds=SHORT_STALL, after_bytes=rng.randint(0, 4000))]
    if kind == 4:
        return [faults.Stall(seconds=LONG_STALL, after_bytes=rng.randint(0, 4000), before_headers=rng.random() < 0.3)]
    if kind == 5:
        limit = rng.choice([600, 5000])
        return [faults.RateLimit(retry_after=rng.choice([None, 0.0, 1.0]), limit=limit, kind="requests")]
    if kind == 6:
        return [faults.ServerFault(rng.choice([500, 502, 503]))]
    if kind == 7:
        return [faults.Overloaded()]
    if kind == 8:
        return [faults.ErrorEvent(after_events=rng.randint(0, 12))]
    if kind == 9:
        return [faults.Malformed(after_events=rng.randint(0, 12))]
    return [faults.Drip(bytes_per_write=rng.randint(8, 128)), faults.Stall(seconds=SHORT_STALL, after_bytes=cut)]


@pytest.fixture
async def leak_checked() -> AsyncIterator[None]:
    async with no_leaked_tasks():
        yield


def make_client(
    openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer, seed: int = 0, **options: Any
) -> AsyncClient:
    settings: dict[str, Any] = {
        "timeouts": TIMEOUTS,
        "retry": retry_policy(seed),
        "limiter_config": LIMITER,
        "breaker_config": BREAKER,
    }
    settings.update(options)
    return AsyncClient(providers=provider_options(openai_server.base_url, anthropic_server.base_url), **settings)


@pytest.mark.anyio
@pytest.mark.parametrize("seed", SEEDS)
async def test_random_fault_schedule_every_request_completes_or_fails_typed(
    seed: int, openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer, leak_checked: None
) -> None:
    rng = random.Random(seed)
    for server in (openai_server, anthropic_server):
        for _ in range(70):
            server.faults.push(random_fault(rng))
    events: list[ManagerEvent] = []
    tally = Tally()
    addresses = ["route:chaos", "route:spread", OPENAI, ANTHROPIC]
    plan = [(rng.choice(addresses), rng.random() < 0.8) for _ in range(90)]
    with anyio.fail_after(25):
        async with make_client(openai_server, anthropic_server, seed) as client:
            client.add_route("chaos", [OPENAI, ANTHROPIC])
            client.add_route("spread", [ANTHROPIC, OPENAI], "round_robin")
            client.manager.add_listener(events.append)
            gate = anyio.CapacityLimiter(12)

            async def one(i: int, address: str, stream: bool) -> None:
                async with gate:
                    tally.add(await run_one(client, address, f"s{seed}r{i}", stream=stream))

            monitor = client.manager.run_health_monitor(0.05, timeout=0.2, failure_threshold=1)
            async with monitor, anyio.create_task_group() as group:
                for i, (address, stream) in enumerate(plan):
                    group.start_soon(one, i, address, stream)
            assert_pools_idle(client.manager)
            # The faults are over: wait out any open breaker, then every target answers.
            for server in (openai_server, anthropic_server):
                server.faults.clear()
            await anyio.sleep(BREAKER.max_open_duration + 0.05)
            for i, address in enumerate([OPENAI, ANTHROPIC] * 3):
                tally.add(await run_one(client, address, f"s{seed}after{i}"))
                assert tally.outcomes[-1].ok, tally.outcomes[-1]
            for key in (OPENAI, ANTHROPIC):
                assert client.manager.breaker(key).state == "closed"
            snapshot = client.metrics.snapshot()["targets"]
            assert_pools_idle(client.manager)
    assert len(tally.outcomes) == len(plan) + 6
    # The chaos did bite, and most requests still got through.
    assert tally.errors() or any(o.attempts > 1 for o in tally.outcomes)
    assert tally.successes >= len(plan) // 2, tally.errors()
    assert sum(t["successes"] for t in snapshot.values()) == tally.successes
    assert_breaker_moves_legal(events)


@pytest.mark.anyio
@pytest.mark.parametrize("reset", [False, True])
async def test_disconnects_before_the_first_token_retry_after_it_raise(
    reset: bool, openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer, leak_checked: None
) -> None:
    with anyio.fail_after(10):
        async with make_client(openai_server, anthropic_server) as client:
            client.add_route("r", [ANTHROPIC, OPENAI])
            # Cut at every offset band of the Anthropic stream: before the first text
            # delta the request fails over (no token lost or doubled); after it the
            # caller gets a typed error after exactly the tokens that arrived.
            for offset in range(0, 3000, 97):
                anthropic_server.faults.push(faults.Disconnect(after_bytes=offset, reset=reset))
                outcome = await run_one(client, "route:r", f"cut{offset}")
                expected = expected_text(f"cut{offset}")
                if outcome.ok:
                    assert outcome.text == expected
                else:
                    assert isinstance(outcome.error, APIConnectionError), outcome.error
                    assert outcome.text and expected.startswith(outcome.text)
            assert_pools_idle(client.manager)


@pytest.mark.anyio
async def test_stalls_short_pass_long_time_out_and_fail_over(
    openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer, leak_checked: None
) -> None:
    with anyio.fail_after(10):
        async with make_client(openai_server, anthropic_server, retry=retry_policy(0, max_retries=0)) as client:
            client.add_route("r", [OPENAI, ANTHROPIC])
            openai_server.faults.push(faults.Stall(seconds=SHORT_STALL, after_bytes=400))
            short = await run_one(client, "route:r", "short")
            assert short.ok and short.attempts == 1
            openai_server.faults.push(faults.Stall(seconds=LONG_STALL, before_headers=True))
            long_before = await run_one(client, "route:r", "long-before")
            assert long_before.ok and long_before.attempts == 2  # timed out, failed over
            openai_server.faults.push(faults.Stall(seconds=LONG_STALL, after_bytes=3500))
            long_after = await run_one(client, OPENAI, "long-after")
            assert isinstance(long_after.error, APITimeoutError), long_after.error
            assert long_after.text and expected_text("long-after").startswith(long_after.text)
            assert_pools_idle(client.manager)


@pytest.mark.anyio
async def test_429_storm_with_enforced_limits_never_breaks_a_stream(
    openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer, leak_checked: None
) -> None:
    openai_server.rate_limits = RateLimits(requests=20, tokens=1_000_000, enforce=True, window=2.0)
    openai_server.reset()
    openai_server.default_script = anthropic_server.default_script
    tally = Tally()
    with anyio.fail_after(25):
        async with make_client(openai_server, anthropic_server, retry=retry_policy(5, max_retries=4)) as client:
            client.add_route("r", [OPENAI, ANTHROPIC])

            async def one(i: int, address: str) -> None:
                tally.add(await run_one(client, address, f"storm{i}"))

            async with anyio.create_task_group() as group:
                for i in range(60):
                    group.start_soon(one, i, OPENAI if i % 2 else "route:r")
            stats = client.manager.limiter(OPENAI).stats()
            assert_pools_idle(client.manager)
    # Direct requests may run out of retries; 429s never open a breaker (they are ignored).
    assert set(tally.errors()) <= {"RateLimitError"}, tally.errors()
    assert tally.successes >= 30
    # The storm happened, and the limiter learned the server's limit from its headers.
    assert len(openai_server.requests) > 20
    assert stats.rate_limited >= 1 and stats.requests.learned == 20
    # Every request through the route got its answer (failover to Anthropic).
    routed = [o for o in tally.outcomes if int(o.content[5:]) % 2 == 0]
    assert all(o.ok for o in routed), [o.error for o in routed if not o.ok]


@pytest.mark.anyio
async def test_injected_429s_with_headers_fail_over_and_pause_the_limiter(
    openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer, leak_checked: None
) -> None:
    openai_server.faults.push(faults.RateLimit(retry_after=1.0, limit=5000), times=30)
    tally = Tally()
    with anyio.fail_after(10):
        async with make_client(openai_server, anthropic_server) as client:
            client.add_route("r", [OPENAI, ANTHROPIC])
            async with anyio.create_task_group() as group:
                for i in range(30):
                    group.start_soon(lambda i=i: _add(tally, client, "route:r", f"q{i}"))
            stats = client.manager.limiter(OPENAI).stats()
            rate_limited = client.metrics.target(OPENAI)
            assert_pools_idle(client.manager)
    assert tally.successes == 30, tally.errors()
    assert stats.rate_limited >= 1 and stats.requests.learned == 5000
    assert rate_limited["errors"].get("RateLimitError", 0) >= 1


async def _add(tally: Tally, client: AsyncClient, address: str, content: str) -> None:
    tally.add(await run_one(client, address, content))


@pytest.mark.anyio
@pytest.mark.parametrize("fault", [faults.ServerFault(503), faults.Overloaded()], ids=["5xx", "overloaded"])
async def test_breaker_opens_grows_and_recovers_through_probes(
    fault: Fault, openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer, leak_checked: None
) -> None:
    config = BreakerConfig(window_size=4, minimum_calls=4, open_duration=0.2, max_open_duration=1.0, half_open_calls=1)
    events: list[ManagerEvent] = []
    with anyio.fail_after(10):
        async with make_client(
            openai_server, anthropic_server, breaker_config=config, retry=retry_policy(0, max_retries=0)
        ) as client:
            client.add_route("r", [OPENAI, ANTHROPIC])
            client.manager.add_listener(events.append)
            openai_server.set_default_fault(fault)
            for i in range(8):
                outcome = await run_one(client, "route:r", f"b{i}")
                assert outcome.ok and outcome.text == expected_text(f"b{i}")
            breaker = client.manager.breaker(OPENAI)
            assert breaker.state == "open"
            assert len(openai_server.requests) == 4  # refused without a request once open
            # The probe fails: open again, for twice as long.
            await anyio.sleep(config.open_duration + 0.02)
            assert (await run_one(client, OPENAI, "probe1")).error is not None
            assert breaker.state == "open"
            retry_at: Optional[float] = breaker.retry_at
            assert retry_at is not None
            assert retry_at - client.manager.clock.now() == pytest.approx(0.4, abs=0.05)
            # The provider recovers: the next probe closes the breaker.
            openai_server.set_default_fault(None)
            await anyio.sleep(0.42)
            assert (await run_one(client, "route:r", "probe2")).ok
            assert breaker.state == "closed"
            assert_pools_idle(client.manager)
    moves = breaker_transitions(events)[OPENAI]
    assert moves == [
        ("closed", "open"),
        ("open", "half_open"),
        ("half_open", "open"),
        ("open", "half_open"),
        ("half_open", "closed"),
    ]
    assert ANTHROPIC not in breaker_transitions(events)


@pytest.mark.anyio
async def test_slow_health_checks_mark_unhealthy_and_restore_while_serving(
    openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer, leak_checked: None
) -> None:
    events: list[ManagerEvent] = []
    tally = Tally()
    with anyio.fail_after(15):
        async with make_client(openai_server, anthropic_server, retry=retry_policy(0, max_retries=0)) as client:
            client.add_route("r", [OPENAI, ANTHROPIC])
            client.manager.add_listener(events.append)
            # Everything on OpenAI hangs before its headers: probes time out, requests
            # time out and fail over.
            openai_server.set_default_fault(faults.Stall(seconds=LONG_STALL, before_headers=True))
            async with client.manager.run_health_monitor(0.05, timeout=0.1, failure_threshold=1):
                for i in range(10):
                    tally.add(await run_one(client, "route:r", f"h{i}"))
                    if i == 4:
                        assert not client.manager.is_healthy(OPENAI)
                openai_server.set_default_fault(None)
                with anyio.fail_after(5):
                    while not client.manager.is_healthy(OPENAI):
                        await anyio.sleep(0.02)
                tally.add(await run_one(client, OPENAI, "h-after"))
            assert_pools_idle(client.manager)
    assert tally.successes == 11, tally.errors()
    health = [(e.target, e.state) for e in events if e.kind == "health"]
    assert ("openai", "unhealthy") in health and health[-1] == ("openai", "healthy")
    assert ("anthropic", "unhealthy") not in health
