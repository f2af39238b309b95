"""The connection gate: more callers than the pool has connections, through
``AsyncClient`` against the loopback servers.

Each provider lets at most its pool's ``max_connections`` requests in at once; the rest
wait in the gate (FIFO), never inside httpcore, whose queue is quadratic. A stream holds
its slot until it is closed. Checked here: every stream completes when the pool is far
smaller than the crowd; the slot comes back after an early exit, a cancellation (while
streaming or while waiting), an HTTP error, a mid-stream failure, a timeout, and across
the manager's retries; a wait longer than the pool timeout or the request's total
timeout ends in :class:`~tokenwire.errors.APITimeoutError`. Pools are tiny (1-3
connections) wherever a leaked slot must show up as a failure rather than go unnoticed.
"""

from __future__ import annotations

import random
from collections.abc import AsyncGenerator, Awaitable
from contextlib import asynccontextmanager
from typing import Any, Callable, Optional

import anyio
import httpx
import pytest
from tests.chaos._support import (
    ANTHROPIC,
    ANTHROPIC_KEY,
    OPENAI,
    OPENAI_KEY,
    Outcome,
    Tally,
    assert_pools_idle,
    expected_text,
    no_leaked_tasks,
    run_one,
)

from tokenwire._http import PoolStats, Timeouts
from tokenwire.client import AsyncClient
from tokenwire.errors import (
    APIConnectionError,
    APITimeoutError,
    ProviderError,
    ServerError,
    StreamDecodeError,
    TokenwireError,
)
from tokenwire.resilience import RetryPolicy
from tokenwire.testing import AnthropicMockServer, OpenAIMockServer, faults
from tokenwire.testing.faults import Fault
from tokenwire.types import ChatRequest, coerce_messages

IDLE = 0.3
TIMEOUTS = Timeouts(connect=5.0, read=IDLE, write=5.0, pool=20.0, idle=IDLE, total=20.0)
# Past the first text delta of the scripted OpenAI (Responses API) stream, short of its end.
MID_STREAM = 3500


def fast_retries(max_retries: int = 2) -> RetryPolicy:
    return RetryPolicy(max_retries=max_retries, initial_delay=0.01, max_delay=0.05, random=random.Random(7))


@asynccontextmanager
async def small_pool_client(
    openai_server: OpenAIMockServer,
    connections: int,
    *,
    anthropic_server: Optional[AnthropicMockServer] = None,
    timeouts: Timeouts = TIMEOUTS,
    **options: Any,
) -> AsyncGenerator[AsyncClient, None]:
    """An ``AsyncClient`` whose providers share nothing and each have a pool of
    ``connections`` connections (their own httpx clients, closed afterwards)."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits) as openai_http, httpx.AsyncClient(limits=limits) as anthropic_http:
        providers: dict[str, dict[str, Any]] = {
            "openai": {"api_key": OPENAI_KEY, "base_url": openai_server.base_url, "http_client": openai_http}
        }
        if anthropic_server is not None:
            providers["anthropic"] = {
                "api_key": ANTHROPIC_KEY,
                "base_url": anthropic_server.base_url,
                "http_client": anthropic_http,
            }
        options.setdefault("retry", fast_retries())
        async with AsyncClient(providers=providers, timeouts=timeouts, **options) as client:
            yield client


def openai_stats(client: AsyncClient) -> PoolStats:
    return client.manager.provider("openai").pool_stats()


def httpcore_pool(client: AsyncClient, provider: str = "openai") -> Any:
    http = client.manager.provider(provider)._client  # pyright: ignore[reportPrivateUsage]
    assert http is not None
    return http._transport._pool  # pyright: ignore[reportAttributeAccessIssue,reportUnknownMemberType]


async def wait_until(predicate: Callable[[], bool]) -> None:
    """Poll ``predicate`` until it holds (the caller's deadline bounds the wait)."""
    while not predicate():
        await anyio.sleep(0.001)


# -- more streams than connections ---------------------------------------------------------------

STREAMS = 500
CONNECTIONS = 20


@pytest.mark.load
@pytest.mark.anyio
async def test_many_more_streams_than_the_pool_holds_all_complete(openai_server: OpenAIMockServer) -> None:
    tally = Tally()
    peak = {"in_use": 0, "waiting": 0, "httpcore_active": 0, "httpcore_queued": 0}
    async with no_leaked_tasks():
        with anyio.fail_after(55):
            async with small_pool_client(openai_server, CONNECTIONS) as client:
                provider = client.manager.provider("openai")

                def observe() -> None:
                    stats = provider.pool_stats()
                    requests = httpcore_pool(client)._requests
                    seen = {
                        "in_use": stats.in_use,
                        "waiting": stats.waiting,
                        "httpcore_active": len(requests),
                        "httpcore_queued": sum(1 for request in requests if request.is_queued()),
                    }
                    for key, value in seen.items():
                        peak[key] = max(peak[key], value)

                async def one(i: int) -> None:
                    content = f"crowd{i}"
                    parts: list[str] = []
                    try:
                        async with client.chat_stream(OPENAI, [{"role": "user", "content": content}]) as stream:
                            observe()  # while this stream holds its slot
                            async for token in stream:
                                if token.kind == "text":
                                    parts.append(token.text)  # type: ignore[union-attr]
                    except TokenwireError as error:
                        tally.add(Outcome(content, "".join(parts), error))
                        return
                    tally.add(Outcome(content, "".join(parts)))

                async with anyio.create_task_group() as group:
                    for i in range(STREAMS):
                        group.start_soon(one, i)
                assert_pools_idle(client.manager)
                assert openai_stats(client) == PoolStats(CONNECTIONS, 0, 0)
    assert tally.errors() == {} and tally.successes == STREAMS
    # The gate held the crowd back; httpcore never had more requests than connections,
    # and never queued one.
    assert 0 < peak["in_use"] <= CONNECTIONS and peak["waiting"] > 0, peak
    assert peak["httpcore_active"] <= CONNECTIONS and peak["httpcore_queued"] == 0, peak


# -- slots come back -------------------------------------------------------------------------------


async def early_exit(client: AsyncClient, server: OpenAIMockServer) -> None:
    async with client.chat_stream(OPENAI, [{"role": "user", "content": "early"}]) as stream:
        async for token in stream:
            if token.kind == "text":
                break


async def closed_unread(client: AsyncClient, server: OpenAIMockServer) -> None:
    async with client.chat_stream(OPENAI, [{"role": "user", "content": "unread"}]):
        pass


async def cancelled_mid_stream(client: AsyncClient, server: OpenAIMockServer) -> None:
    # The rest of the stream is held back, so the loop is waiting on the socket when the
    # cancellation lands (not draining tokens already decoded).
    server.faults.push(faults.Stall(seconds=IDLE / 3, after_bytes=MID_STREAM))
    with anyio.CancelScope() as scope:
        async with client.chat_stream(OPENAI, [{"role": "user", "content": "cancel"}]) as stream:
            async for token in stream:
                if token.kind == "text":
                    scope.cancel()
    assert scope.cancelled_caught


async def cancelled_before_headers(client: AsyncClient, server: OpenAIMockServer) -> None:
    # Cancelled while httpx waits for the status line (the request has reached the server).
    server.faults.push(faults.Stall(seconds=IDLE * 0.8, before_headers=True))
    received = len(server.requests)
    async with anyio.create_task_group() as group:
        group.start_soon(run_one, client, OPENAI, "abandoned")
        await wait_until(lambda: len(server.requests) > received)
        group.cancel_scope.cancel()


async def timed_out_before_headers(client: AsyncClient, server: OpenAIMockServer) -> None:
    # No response at all: the attempt times out inside httpx, then the retry streams.
    server.faults.push(faults.Stall(seconds=IDLE * 2, before_headers=True))
    outcome = await run_one(client, OPENAI, "silent")
    assert outcome.ok and outcome.text == expected_text("silent") and outcome.attempts == 2, outcome


async def timed_out_mid_stream(client: AsyncClient, server: OpenAIMockServer) -> None:
    server.faults.push(faults.Stall(seconds=IDLE * 2, after_bytes=MID_STREAM))
    outcome = await run_one(client, OPENAI, "stall")
    assert isinstance(outcome.error, APITimeoutError) and outcome.text, outcome


async def cut_mid_stream(client: AsyncClient, server: OpenAIMockServer) -> None:
    server.faults.push(faults.Disconnect(after_bytes=MID_STREAM))
    outcome = await run_one(client, OPENAI, "cut")
    assert isinstance(outcome.error, APIConnectionError) and outcome.text, outcome


async def error_event_mid_stream(client: AsyncClient, server: OpenAIMockServer) -> None:
    server.faults.push(faults.ErrorEvent(after_events=12, error_type="server_error"))
    outcome = await run_one(client, OPENAI, "event")
    assert isinstance(outcome.error, ProviderError) and outcome.text, outcome


async def malformed_mid_stream(client: AsyncClient, server: OpenAIMockServer) -> None:
    server.faults.push(faults.Malformed(after_events=12))
    outcome = await run_one(client, OPENAI, "malformed")
    assert isinstance(outcome.error, StreamDecodeError) and outcome.text, outcome


async def retried_until_it_works(client: AsyncClient, server: OpenAIMockServer) -> None:
    # Two 5xx answers, then the stream: with a leaked slot the retry would wait forever.
    server.faults.push(faults.ServerFault(503), times=2)
    outcome = await run_one(client, OPENAI, "retried")
    assert outcome.ok and outcome.text == expected_text("retried") and outcome.attempts == 3, outcome


async def retries_exhausted(client: AsyncClient, server: OpenAIMockServer) -> None:
    server.faults.push(faults.ServerFault(500), times=3)
    outcome = await run_one(client, OPENAI, "exhausted")
    assert isinstance(outcome.error, ServerError) and outcome.attempts == 3, outcome


async def non_stream(client: AsyncClient, server: OpenAIMockServer) -> None:
    outcome = await run_one(client, OPENAI, "whole", stream=False)
    assert outcome.ok and outcome.text == expected_text("whole"), outcome


async def non_stream_retried(client: AsyncClient, server: OpenAIMockServer) -> None:
    server.faults.push(faults.Overloaded(), times=2)
    outcome = await run_one(client, OPENAI, "whole-retried", stream=False)
    assert outcome.ok and outcome.text == expected_text("whole-retried"), outcome


async def refused(client: AsyncClient, server: OpenAIMockServer) -> None:
    server.faults.push(faults.QuotaExceeded())  # not retryable: raised as it is
    outcome = await run_one(client, OPENAI, "refused")
    assert isinstance(outcome.error, ProviderError) and not outcome.text, outcome


SCENARIOS: dict[str, Callable[[AsyncClient, OpenAIMockServer], Awaitable[None]]] = {
    "early-exit": early_exit,
    "closed-unread": closed_unread,
    "cancelled-mid-stream": cancelled_mid_stream,
    "cancelled-before-headers": cancelled_before_headers,
    "timed-out-before-headers": timed_out_before_headers,
    "timed-out-mid-stream": timed_out_mid_stream,
    "cut-mid-stream": cut_mid_stream,
    "error-event-mid-stream": error_event_mid_stream,
    "malformed-mid-stream": malformed_mid_stream,
    "retried-until-it-works": retried_until_it_works,
    "retries-exhausted": retries_exhausted,
    "non-stream": non_stream,
    "non-stream-retried": non_stream_retried,
    "refused": refused,
}


@pytest.mark.anyio
@pytest.mark.parametrize("total", [None, 20.0], ids=["no-total", "total"])  # the stream's two read paths
@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_the_slot_comes_back(scenario: str, total: Optional[float], openai_server: OpenAIMockServer) -> None:
    # One connection: a slot kept by any of these endings would make the next request
    # wait for the pool timeout (short here) and fail.
    timeouts = Timeouts(connect=5.0, read=IDLE, write=5.0, pool=2.0, idle=IDLE, total=total)
    async with no_leaked_tasks():
        with anyio.fail_after(20):
            async with small_pool_client(openai_server, 1, timeouts=timeouts) as client:
                for _ in range(2):
                    await SCENARIOS[scenario](client, openai_server)
                    assert openai_stats(client) == PoolStats(1, 0, 0)
                outcome = await run_one(client, OPENAI, "after")
                assert outcome.ok and outcome.text == expected_text("after"), outcome
                assert_pools_idle(client.manager)


@pytest.mark.anyio
async def test_a_caller_cancelled_while_waiting_for_a_slot_leaves_the_queue(openai_server: OpenAIMockServer) -> None:
    async with no_leaked_tasks():
        with anyio.fail_after(10):
            async with small_pool_client(openai_server, 1) as client:
                async with client.chat_stream(OPENAI, [{"role": "user", "content": "holder"}]) as holder:
                    assert openai_stats(client) == PoolStats(1, 1, 0)
                    async with anyio.create_task_group() as group:
                        for i in range(3):
                            group.start_soon(run_one, client, OPENAI, f"waiter{i}")
                        await wait_until(lambda: openai_stats(client).waiting == 3)
                        group.cancel_scope.cancel()
                    assert openai_stats(client) == PoolStats(1, 1, 0)
                    text = "".join([t.text async for t in holder if t.kind == "text"])  # type: ignore[union-attr]
                    assert text == expected_text("holder")
                assert openai_stats(client) == PoolStats(1, 0, 0)
                outcome = await run_one(client, OPENAI, "after")
                assert outcome.ok and outcome.text == expected_text("after"), outcome
                assert_pools_idle(client.manager)


# -- waiting too long ------------------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("limit", ["pool", "total"])
@pytest.mark.parametrize("stream", [True, False], ids=["stream", "non-stream"])
async def test_a_wait_past_the_timeout_raises_the_typed_timeout(
    limit: str, stream: bool, openai_server: OpenAIMockServer
) -> None:
    pool_timeout = 0.1 if limit == "pool" else 600.0
    timeouts = Timeouts(connect=5.0, read=5.0, write=5.0, pool=pool_timeout, idle=5.0, total=None)
    # The total limit is the request's own (``timeout=``), so the holder is not bound by it.
    params: dict[str, Any] = {"timeout": 0.1} if limit == "total" else {}
    messages = [{"role": "user", "content": "waiter"}]
    async with no_leaked_tasks():
        with anyio.fail_after(10):
            async with small_pool_client(openai_server, 1, timeouts=timeouts, retry=fast_retries(1)) as client:
                async with client.chat_stream(OPENAI, [{"role": "user", "content": "holder"}]) as holder:
                    with pytest.raises(APITimeoutError, match="waiting for a connection"):
                        if stream:
                            async with client.chat_stream(OPENAI, messages, **params) as waiter:
                                async for _ in waiter:
                                    pass
                        else:
                            await client.chat(OPENAI, messages, **params)
                    # Retried once by the manager (a timeout is retryable), timed out again,
                    # and gone from the queue; the holder keeps its slot and its stream.
                    assert openai_stats(client) == PoolStats(1, 1, 0)
                    text = "".join([t.text async for t in holder if t.kind == "text"])  # type: ignore[union-attr]
                    assert text == expected_text("holder")
                errors = client.metrics.target(OPENAI)["errors"]
                assert errors == {"APITimeoutError": 2}, errors
                outcome = await run_one(client, OPENAI, "after")
                assert outcome.ok and outcome.text == expected_text("after"), outcome
                assert_pools_idle(client.manager)


@pytest.mark.anyio
async def test_the_provider_alone_times_out_waiting_for_a_slot(openai_server: OpenAIMockServer) -> None:
    timeouts = Timeouts(connect=5.0, read=5.0, write=5.0, pool=0.1, idle=5.0, total=None)
    request = ChatRequest(model="gpt-4o-mini", messages=coerce_messages([{"role": "user", "content": "x"}]))
    async with no_leaked_tasks():
        with anyio.fail_after(10):
            async with httpx.AsyncClient(limits=httpx.Limits(max_connections=1)) as http:
                from tokenwire.providers.openai import OpenAIProvider

                provider = OpenAIProvider(
                    api_key=OPENAI_KEY, base_url=openai_server.base_url, timeouts=timeouts, http_client=http
                )
                async with provider.chat_stream(request) as holder:
                    with pytest.raises(APITimeoutError, match="all 1 of the pool's connections in use"):
                        async with provider.chat_stream(request):
                            pass
                    with pytest.raises(APITimeoutError):
                        await provider.chat(request)
                    assert provider.pool_stats() == PoolStats(1, 1, 0)
                    assert (await holder.get_final_response()).text == expected_text("x")
                assert provider.pool_stats() == PoolStats(1, 0, 0)
                assert (await provider.chat(request)).text == expected_text("x")


# -- faults through tiny pools ---------------------------------------------------------------------


def random_fault(rng: random.Random) -> list[Fault]:
    kind = rng.randrange(8)
    if kind == 0:
        return [faults.Disconnect(after_bytes=rng.randint(0, 7000), reset=rng.random() < 0.3)]
    if kind == 1:
        return [faults.Stall(seconds=IDLE * 2, after_bytes=rng.randint(0, 4000))]
    if kind == 2:
        return [faults.ServerFault(rng.choice([500, 502, 503]))]
    if kind == 3:
        return [faults.ErrorEvent(after_events=rng.randint(0, 40))]
    if kind == 4:
        return [faults.Malformed(after_events=rng.randint(0, 40))]
    if kind == 5:
        return [faults.Drip(bytes_per_write=rng.randint(16, 256))]
    return []


@pytest.mark.anyio
async def test_random_faults_through_tiny_pools_return_every_slot(
    openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer
) -> None:
    rng = random.Random(2024)
    for server in (openai_server, anthropic_server):
        for _ in range(40):
            server.faults.push(random_fault(rng))
    tally = Tally()
    plan = [(rng.choice(["route:both", OPENAI, ANTHROPIC]), rng.random() < 0.8) for _ in range(80)]
    async with no_leaked_tasks():
        with anyio.fail_after(30):
            async with small_pool_client(openai_server, 3, anthropic_server=anthropic_server) as client:
                client.add_route("both", [OPENAI, ANTHROPIC])

                async def one(i: int, address: str, stream: bool) -> None:
                    tally.add(await run_one(client, address, f"tiny{i}", stream=stream))

                # Everything at once: most callers wait for one of the three slots.
                async with anyio.create_task_group() as group:
                    for i, (address, stream) in enumerate(plan):
                        group.start_soon(one, i, address, stream)
                assert_pools_idle(client.manager)
                for name in ("openai", "anthropic"):
                    assert client.manager.provider(name).pool_stats() == PoolStats(3, 0, 0)
                    assert httpcore_pool(client, name)._requests == []
    assert len(tally.outcomes) == len(plan)
    assert tally.successes >= len(plan) // 2, tally.errors()
