"""The ProviderManager over real sockets: loopback OpenAI and Anthropic servers with
injected faults, driven through ``AsyncClient`` / ``Client``.

Covered: failover between providers before the first token; a stream cut before its
first token retried with no token duplicated; a cut after the first token raised after
the tokens, never retried; 429 ``retry-after`` honored (on a FakeClock: no real wait);
rate-limit headers of non-streaming and streaming successes teaching the limiter;
a breaker opening on 5xx answers and recovering through a half-open probe; health
checks marking, restoring and timing out; concurrent streams across a failing target;
the sync client. After every test no request is left active in any provider's
connection pool and no task is left running.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest

from tokenwire._http import Timeouts
from tokenwire.client import AsyncClient, Client
from tokenwire.errors import APIConnectionError, CircuitOpenError, ServerError
from tokenwire.manager import ProviderManager, Target
from tokenwire.resilience import BreakerConfig, FakeClock, RetryPolicy
from tokenwire.testing import Answer, AnthropicMockServer, OpenAIMockServer, RateLimits, faults, synth

OPENAI_KEY = "sk-mgr-openai-000000000000"
ANTHROPIC_KEY = "sk-ant-mgr-00000000000000"
OPENAI = "openai/gpt-4o-mini"
ANTHROPIC = "anthropic/claude-sonnet-4-5"
TIMEOUTS = Timeouts(connect=2.0, read=10.0, write=5.0, pool=5.0, idle=5.0, total=20.0)
QUICK_RETRY = RetryPolicy(max_retries=2, initial_delay=0.01, max_delay=0.05)
MESSAGES = [{"role": "user", "content": "ping"}]


@pytest.fixture
def openai_server() -> Iterator[OpenAIMockServer]:
    with OpenAIMockServer(api_key=OPENAI_KEY) as server:
        yield server


@pytest.fixture
def anthropic_server() -> Iterator[AnthropicMockServer]:
    with AnthropicMockServer(api_key=ANTHROPIC_KEY) as server:
        yield server


def provider_options(openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer) -> dict[str, Any]:
    return {
        "openai": {"api_key": OPENAI_KEY, "base_url": openai_server.base_url},
        "anthropic": {"api_key": ANTHROPIC_KEY, "base_url": anthropic_server.base_url},
    }


def assert_pools_idle(manager: ProviderManager) -> None:
    """No request is still holding a connection in any provider's httpx pool."""
    for name in manager.known_providers():
        client = manager.provider(name)._client
        if client is None:
            continue
        pool: Any = client._transport._pool  # type: ignore[attr-defined]
        assert not pool._requests, f"{name}: {len(pool._requests)} request(s) still active"


def open_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if not t.done() and t is not asyncio.current_task()}


@pytest.fixture
async def client(openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer) -> AsyncIterator[AsyncClient]:
    before = open_tasks()
    async with AsyncClient(
        providers=provider_options(openai_server, anthropic_server), timeouts=TIMEOUTS, retry=QUICK_RETRY
    ) as client:
        yield client
        assert_pools_idle(client.manager)
    # httpx nests async generators; those a stream closed early leaves suspended are
    # finalized by asyncio as short-lived tasks (with or without tokenwire): let them run.
    gc.collect()
    with anyio.move_on_after(2):
        while leaked_tasks(before):
            await asyncio.sleep(0.005)
    leaked = leaked_tasks(before)
    assert not leaked, leaked


def leaked_tasks(before: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    return {t for t in open_tasks() - before if "TestRunner" not in repr(t.get_coro())}


async def stream_text(client: AsyncClient, model: str, **params: Any) -> tuple[str, Any]:
    parts: list[str] = []
    async with client.chat_stream(model, MESSAGES, max_tokens=256, **params) as stream:
        async for token in stream:
            if token.kind == "text":
                parts.append(token.text)  # type: ignore[union-attr]
    return "".join(parts), stream


@pytest.mark.anyio
async def test_route_fails_over_to_another_provider_before_the_first_token(
    client: AsyncClient, openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer
) -> None:
    client.add_route("resilient", [OPENAI, ANTHROPIC])
    openai_server.faults.push(faults.Overloaded())
    with anyio.fail_after(10):
        text, stream = await stream_text(client, "route:resilient")
    assert text == "You said: ping"
    assert stream.target == Target("anthropic", "claude-sonnet-4-5")
    assert [type(a.error).__name__ if a.error else None for a in stream.attempts] == ["ServerError", None]
    assert (len(openai_server.requests), len(anthropic_server.requests)) == (1, 1)
    # Non-streaming: the same route, an Anthropic 529 on the primary this time.
    client.add_route("reverse", [ANTHROPIC, OPENAI])
    anthropic_server.faults.push(faults.Overloaded())
    with anyio.fail_after(10):
        reply = await client.chat("reverse", MESSAGES, max_tokens=64)
    assert reply.provider == "openai" and reply.text == "You said: ping"
    snapshot = client.metrics.snapshot()["targets"]
    assert snapshot[ANTHROPIC]["errors"] == {"OverloadedError": 1}
    assert snapshot[OPENAI]["failovers"] == 1 and snapshot[ANTHROPIC]["failovers"] == 1


@pytest.mark.anyio
async def test_stream_cut_before_the_first_token_is_retried_without_duplicates(
    client: AsyncClient, anthropic_server: AnthropicMockServer
) -> None:
    answer = Answer("alpha beta gamma delta epsilon", chunk_words=1)
    events = synth.stream_events(answer, "anthropic", model="claude-sonnet-4-5", input_tokens=5)
    # Cut inside the first text delta (events: message_start, block start, ping, text…).
    first_text = next(i for i, e in enumerate(events) if b"text_delta" in e)
    cut = sum(len(e) for e in events[:first_text]) + len(events[first_text]) // 2
    anthropic_server.scripts.push(answer, times=2)
    anthropic_server.faults.push(faults.Disconnect(after_bytes=cut))
    with anyio.fail_after(10):
        text, stream = await stream_text(client, ANTHROPIC)
    assert text == "alpha beta gamma delta epsilon"
    assert len(anthropic_server.requests) == 2
    assert [a.ok for a in stream.attempts] == [False, True]
    assert isinstance(stream.attempts[0].error, APIConnectionError)


@pytest.mark.anyio
async def test_stream_cut_after_the_first_token_raises_after_the_tokens(
    client: AsyncClient, anthropic_server: AnthropicMockServer, openai_server: OpenAIMockServer
) -> None:
    client.add_route("r", [ANTHROPIC, OPENAI])
    answer = Answer("alpha beta gamma delta epsilon zeta", chunk_words=1)
    events = synth.stream_events(answer, "anthropic", model="claude-sonnet-4-5", input_tokens=5)
    texts = [i for i, e in enumerate(events) if b"text_delta" in e]
    cut = sum(len(e) for e in events[: texts[3]]) + len(events[texts[3]]) // 2
    anthropic_server.scripts.push(answer)
    # A graceful close: every byte before the cut reaches the client.
    anthropic_server.faults.push(faults.Disconnect(after_bytes=cut))
    parts: list[str] = []
    with anyio.fail_after(10), pytest.raises(APIConnectionError):
        async with client.chat_stream("r", MESSAGES, max_tokens=64) as stream:
            async for token in stream:
                if token.kind == "text":
                    parts.append(token.text)  # type: ignore[union-attr]
    # Exactly the tokens before the cut, once; the second target was never asked.
    assert "".join(parts) == "alpha beta gamma"
    assert len(anthropic_server.requests) == 1 and openai_server.requests == []
    assert client.metrics.target(ANTHROPIC)["errors"] == {"APIConnectionError": 1}


@pytest.mark.anyio
async def test_retry_after_is_honored_and_teaches_the_limiter(openai_server: OpenAIMockServer) -> None:
    clock = FakeClock()
    openai_server.faults.push(faults.RateLimit(retry_after=3.0, limit=50))
    options = {"openai": {"api_key": OPENAI_KEY, "base_url": openai_server.base_url}}
    async with AsyncClient(providers=options, timeouts=TIMEOUTS, clock=clock) as client:
        async with clock.autojump():
            with anyio.fail_after(10):
                reply = await client.chat(OPENAI, MESSAGES, max_tokens=32)
        assert_pools_idle(client.manager)
    assert reply.text == "You said: ping"
    assert clock.now() == 3.0  # slept exactly the provider's retry-after, on the fake clock
    assert len(openai_server.requests) == 2
    stats = client.manager.limiter(OPENAI).stats()
    assert stats.rate_limited == 1 and stats.requests.learned == 50
    assert client.metrics.target(OPENAI)["retries"] == 1


@pytest.mark.anyio
async def test_success_headers_teach_the_limiter_streaming_or_not(
    openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer
) -> None:
    openai_server.rate_limits = RateLimits(requests=120, tokens=50_000)
    openai_server.reset()
    anthropic_server.rate_limits = RateLimits(requests=60, tokens=80_000)
    anthropic_server.reset()
    async with AsyncClient(providers=provider_options(openai_server, anthropic_server), timeouts=TIMEOUTS) as client:
        with anyio.fail_after(10):
            await client.chat(OPENAI, MESSAGES, max_tokens=32)  # non-streaming: via the response hook
            await stream_text(client, ANTHROPIC)
        openai_stats = client.manager.limiter(OPENAI).stats()
        anthropic_stats = client.manager.limiter(ANTHROPIC).stats()
        assert_pools_idle(client.manager)
    assert (openai_stats.requests.learned, openai_stats.tokens.learned) == (120, 50_000)
    assert (anthropic_stats.requests.learned, anthropic_stats.tokens.learned) == (60, 80_000)
    # The token estimate was settled with the real usage, not left at max_tokens.
    assert openai_stats.tokens.available is not None and openai_stats.tokens.available > 50_000 - 100


@pytest.mark.anyio
async def test_breaker_opens_on_5xx_and_recovers_through_a_half_open_probe(openai_server: OpenAIMockServer) -> None:
    clock = FakeClock()
    config = BreakerConfig(window_size=4, minimum_calls=4, open_duration=30.0, half_open_calls=1)
    options = {"openai": {"api_key": OPENAI_KEY, "base_url": openai_server.base_url}}
    openai_server.faults.push(faults.ServerFault(500), times=4)
    async with AsyncClient(
        providers=options, timeouts=TIMEOUTS, clock=clock, breaker_config=config, retry=RetryPolicy(max_retries=0)
    ) as client:
        with anyio.fail_after(10):
            for _ in range(4):
                with pytest.raises(ServerError):
                    await client.chat(OPENAI, MESSAGES, max_tokens=16)
            with pytest.raises(CircuitOpenError) as refused:
                await client.chat(OPENAI, MESSAGES, max_tokens=16)
            assert refused.value.retry_at == 30.0
            assert len(openai_server.requests) == 4  # refused without a request
            clock.advance(30.0)
            text, _ = await stream_text(client, OPENAI)
        assert text == "You said: ping"
        assert client.manager.breaker(OPENAI).state == "closed"
        assert_pools_idle(client.manager)
    m = client.metrics.target(OPENAI)
    assert m["breaker_transitions"] == {"open": 1, "half_open": 1, "closed": 1}


@pytest.mark.anyio
async def test_health_checks_mark_restore_and_time_out(
    client: AsyncClient, openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer
) -> None:
    client.add_route("r", [OPENAI, ANTHROPIC])
    manager = client.manager
    openai_server.faults.push(faults.ServerFault(503))  # the /v1/models probe fails
    with anyio.fail_after(10):
        results = await manager.check_health(timeout=5.0)
        assert not results["openai"].healthy and results["anthropic"].healthy
        assert not manager.is_healthy(OPENAI)
        reply = await client.chat("r", MESSAGES, max_tokens=16)
        assert reply.provider == "anthropic"  # the unhealthy primary is skipped
        assert [r.path for r in openai_server.requests] == ["/v1/models"]
        await manager.check_health()
        assert manager.is_healthy(OPENAI)
        # A probe that hangs is cut off by the timeout (its connection is released).
        openai_server.faults.push(faults.Stall(seconds=1.0, before_headers=True))
        started = time.perf_counter()
        results = await manager.check_health(timeout=0.2)
        assert time.perf_counter() - started < 0.9
    assert results["openai"].error == "health check timed out after 0.2s"
    assert not manager.is_healthy(OPENAI) and manager.is_healthy(ANTHROPIC)


@pytest.mark.anyio
async def test_health_monitor_runs_in_the_background(
    client: AsyncClient, openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer
) -> None:
    client.add_route("r", [OPENAI, ANTHROPIC])
    openai_server.faults.push(faults.ServerFault(500))
    with anyio.fail_after(10):
        async with client.manager.run_health_monitor(0.05, timeout=2.0, failure_threshold=1) as monitor:
            while monitor.rounds < 3:
                await anyio.sleep(0.01)
    state = client.manager.health()["openai"]
    assert state.healthy and state.checks >= 3 and state.changed_at is not None  # marked, then restored


@pytest.mark.anyio
async def test_concurrent_streams_across_a_failing_target_all_complete(
    client: AsyncClient, openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer
) -> None:
    client.add_route("r", [OPENAI, ANTHROPIC], "round_robin")
    openai_server.faults.push(faults.Overloaded(), times=6)
    openai_server.set_default_fault(faults.Drip(bytes_per_write=16))
    results: dict[int, str] = {}

    async def one(i: int) -> None:
        async with client.chat_stream("r", [{"role": "user", "content": f"n{i}"}], max_tokens=32) as stream:
            results[i] = "".join([t.text async for t in stream if t.kind == "text"])  # type: ignore[union-attr]

    with anyio.fail_after(20):
        async with anyio.create_task_group() as group:
            for i in range(40):
                group.start_soon(one, i)
    assert results == {i: f"You said: n{i}" for i in range(40)}
    targets = client.metrics.snapshot()["targets"]
    assert sum(t["successes"] for t in targets.values()) == 40
    assert targets[OPENAI]["errors"] == {"ServerError": 6}


def test_sync_client_goes_through_the_manager(
    openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer
) -> None:
    with Client(providers=provider_options(openai_server, anthropic_server), timeouts=TIMEOUTS) as client:
        client.add_route("r", [OPENAI, ANTHROPIC])
        openai_server.faults.push(faults.Overloaded())
        assert client.chat("r", MESSAGES, max_tokens=16).provider == "anthropic"
        openai_server.faults.push(faults.Overloaded())
        with client.chat_stream("r", MESSAGES, max_tokens=16) as stream:
            text = "".join(t.text for t in stream if t.kind == "text")  # type: ignore[union-attr]
        assert text == "You said: ping" and stream.stream.target == Target("anthropic", "claude-sonnet-4-5")
        assert client.manager.metrics.target(OPENAI)["failovers"] == 2
        manager = client.manager
    # Closing the client closed the pools (a new one would be built on the next request).
    assert all(manager.provider(n)._client is None for n in ("openai", "anthropic"))


def test_sync_client_runs_the_health_monitor(
    openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer
) -> None:
    with Client(
        providers=provider_options(openai_server, anthropic_server), timeouts=TIMEOUTS, health_interval=0.05
    ) as client:
        client.add_route("r", [OPENAI, ANTHROPIC])
        deadline = time.monotonic() + 5
        while len([r for r in openai_server.requests if r.path == "/v1/models"]) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    assert client.manager.health()["openai"].healthy


@pytest.mark.anyio
async def test_a_started_stream_reports_its_end_once_however_it_is_read(
    client: AsyncClient, openai_server: OpenAIMockServer
) -> None:
    # After its first token a managed stream steps the provider stream's own iterator;
    # the outcome still reaches the metrics exactly once, before the caller sees the end.
    words = "one two three four five six seven eight"
    openai_server.scripts.push(Answer(words, chunk_words=2), times=3)
    async with client.chat_stream(OPENAI, MESSAGES) as stream:
        first = await stream.next_batch()
        assert text_of(first) == "one two"
        rest = [token async for token in stream]
        assert client.metrics.target(OPENAI)["successes"] == 1
    assert text_of(first + rest) == words
    assert client.metrics.target(OPENAI)["successes"] == 1
    # Mixed the other way: a token by iteration, then batches.
    async with client.chat_stream(OPENAI, MESSAGES) as stream:
        tokens = [await stream.__anext__()]
        while batch := await stream.next_batch():
            tokens.extend(batch)
    assert text_of(tokens) == words
    assert client.metrics.target(OPENAI)["successes"] == 2
    # Closed after the first token: a success, not an error, counted once.
    async with client.chat_stream(OPENAI, MESSAGES) as stream:
        await stream.__anext__()
    metrics = client.metrics.target(OPENAI)
    assert (metrics["successes"], metrics["errors"], metrics["cancelled"]) == (3, {}, 0)


@pytest.mark.anyio
async def test_a_stream_cancelled_between_tokens_counts_as_cancelled(
    client: AsyncClient, openai_server: OpenAIMockServer
) -> None:
    openai_server.scripts.push(Answer("alpha beta gamma delta epsilon zeta eta theta", chunk_words=1))
    # Written in small pieces with pauses: every next piece is a wait for the network.
    openai_server.faults.push(faults.Drip(bytes_per_write=200, delay=0.005))
    seen: list[str] = []
    with anyio.CancelScope() as scope:
        async with client.chat_stream(OPENAI, MESSAGES) as stream:
            async for token in stream:
                if token.kind == "text":
                    seen.append(token.text)  # type: ignore[union-attr]
                    # The reader goes away: the next wait for the network is cancelled.
                    scope.cancel()
    assert scope.cancelled_caught
    assert seen == ["alpha"]
    metrics = client.metrics.target(OPENAI)
    assert (metrics["successes"], metrics["errors"], metrics["cancelled"], metrics["in_flight"]) == (0, {}, 1, 0)
    assert client.manager.breaker(OPENAI).stats().calls == 0


def text_of(tokens: list[Any]) -> str:
    return "".join(t.text for t in tokens if t.kind == "text")
