"""The connection gate in front of each provider's httpx pool (``tokenwire._http``):
slots, FIFO waiting, timeouts, cancellation, release on response close, and sizing from
the pool. The end-to-end behaviour (thousands of streams, faults, the manager's
retries) is in ``tests/chaos/test_pool_gate.py``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import anyio.lowlevel
import httpx
import pytest

from tokenwire._http import DEFAULT_LIMITS, ConnectionGate, PoolStats, Slot, hold_slot, pool_limit
from tokenwire.providers.openai import OpenAIProvider

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_a_gate_needs_at_least_one_slot() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        ConnectionGate(0)


async def test_slots_are_counted_and_released_once() -> None:
    gate = ConnectionGate(2)
    assert gate.stats() == PoolStats(2, 0, 0)
    first = await gate.acquire(None)
    second = await gate.acquire(0.0)  # a free slot needs no wait, even with no time left
    assert gate.stats() == PoolStats(2, 2, 0)
    first.release()
    first.release()  # idempotent: a second release must not free someone else's slot
    assert first.released and not second.released
    assert gate.stats() == PoolStats(2, 1, 0)
    second.release()
    assert gate.stats() == PoolStats(2, 0, 0)


async def test_waiters_are_served_first_come_first_served() -> None:
    gate = ConnectionGate(1)
    held = await gate.acquire(None)
    order: list[int] = []

    async def waiter(index: int) -> None:
        slot = await gate.acquire(None)
        order.append(index)
        await anyio.lowlevel.checkpoint()
        slot.release()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            for index in range(6):
                group.start_soon(waiter, index)
                await anyio.wait_all_tasks_blocked()  # queued in exactly this order
            assert gate.stats() == PoolStats(1, 1, 6)
            held.release()
    assert order == list(range(6))
    assert gate.stats() == PoolStats(1, 0, 0)


async def test_a_wait_that_runs_out_raises_timeout_error_and_takes_no_slot() -> None:
    gate = ConnectionGate(1)
    held = await gate.acquire(None)
    with anyio.fail_after(5):
        with pytest.raises(TimeoutError):
            await gate.acquire(0.01)
        with pytest.raises(TimeoutError):
            await gate.acquire(-1.0)  # a deadline already past
    assert gate.stats() == PoolStats(1, 1, 0)
    held.release()
    slot = await gate.acquire(0.0)
    assert gate.stats() == PoolStats(1, 1, 0)
    slot.release()


async def test_cancelling_a_waiter_takes_no_slot_and_keeps_the_queue_moving() -> None:
    gate = ConnectionGate(1)
    held = await gate.acquire(None)
    got: list[Slot] = []

    async def wait_for_one() -> None:
        got.append(await gate.acquire(None))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(wait_for_one)
            await anyio.wait_all_tasks_blocked()
            with anyio.CancelScope() as scope:
                scope.cancel()
                await gate.acquire(None)  # cancelled while queued behind the first waiter
            assert gate.stats() == PoolStats(1, 1, 1)
            held.release()  # goes to the first waiter, not the cancelled one
        assert len(got) == 1 and gate.stats() == PoolStats(1, 1, 0)
        got[0].release()
    assert gate.stats() == PoolStats(1, 0, 0)


async def test_a_cancellation_racing_the_hand_off_loses_no_slot() -> None:
    gate = ConnectionGate(1)
    held = await gate.acquire(None)
    doomed_scope = anyio.CancelScope()
    got: list[str] = []

    async def wait_for_one(name: str, scope: anyio.CancelScope) -> None:
        with scope:
            slot = await gate.acquire(None)
            try:
                got.append(name)
                await anyio.lowlevel.checkpoint()  # the cancellation lands here at the latest
            finally:
                slot.release()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(wait_for_one, "doomed", doomed_scope)
            await anyio.wait_all_tasks_blocked()
            group.start_soon(wait_for_one, "next", anyio.CancelScope())
            await anyio.wait_all_tasks_blocked()
            assert gate.stats() == PoolStats(1, 1, 2)
            # The slot goes to the first waiter, cancelled in the same step: whether it
            # still runs with the slot or passes it on, the second waiter is served.
            held.release()
            doomed_scope.cancel()
    assert got[-1] == "next"
    assert gate.stats() == PoolStats(1, 0, 0)


def _streaming_client() -> httpx.AsyncClient:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"data: x\n\n"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())  # streamed: not read up front

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


@pytest.mark.parametrize("how", ["aclose", "read_to_the_end", "aiter_raw_to_the_end"])
async def test_closing_the_response_releases_its_slot(how: str) -> None:
    gate = ConnectionGate(1)
    async with _streaming_client() as client:
        response = await client.send(client.build_request("GET", "http://test/"), stream=True)
        hold_slot(response, await gate.acquire(None))
        assert gate.stats().in_use == 1
        if how == "aclose":
            await response.aclose()
        elif how == "read_to_the_end":
            assert await response.aread() == b"data: x\n\n" * 4
        else:
            assert b"".join([chunk async for chunk in response.aiter_raw()]) == b"data: x\n\n" * 4
        assert response.is_closed
        assert gate.stats() == PoolStats(1, 0, 0)
        await response.aclose()  # closing again releases nothing more
        assert gate.stats() == PoolStats(1, 0, 0)


def test_pool_limit_reads_the_pool_size_of_the_default_transport() -> None:
    assert pool_limit(httpx.AsyncClient(limits=httpx.Limits(max_connections=7))) == 7
    assert pool_limit(httpx.AsyncClient()) == 100  # httpx's default limits
    # Unlimited, or a transport whose pool cannot be seen: no size, no gate.
    assert pool_limit(httpx.AsyncClient(limits=httpx.Limits(max_connections=None))) is None
    assert pool_limit(httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(200)))) is None


async def test_a_provider_gates_at_its_pool_size() -> None:
    owned = OpenAIProvider(api_key="sk-test")
    assert owned.pool_stats() == PoolStats(DEFAULT_LIMITS.max_connections, 0, 0)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=3)) as client:
        assert OpenAIProvider(api_key="sk-test", http_client=client).pool_stats() == PoolStats(3, 0, 0)
    async with _streaming_client() as client:
        assert OpenAIProvider(api_key="sk-test", http_client=client).pool_stats() == PoolStats(None, 0, 0)
