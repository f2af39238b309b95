"""``tokenwire._deadline.fail_at``: one timer per loop for every in-flight deadline."""

from __future__ import annotations

import asyncio
import gc
import sys
import time
import weakref

import anyio
import pytest

from tokenwire import _deadline
from tokenwire._deadline import fail_at

pytestmark = pytest.mark.anyio

native = pytest.mark.skipif(sys.version_info < (3, 11), reason="the shared timer needs Task.uncancel (3.11+)")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _pending(loop: asyncio.AbstractEventLoop | None = None) -> int:
    watch = _deadline._watches.get(loop or asyncio.get_running_loop())  # type: ignore[attr-defined]
    return 0 if watch is None else len(watch.limits)


async def test_a_block_that_ends_in_time_passes_through() -> None:
    with anyio.fail_after(5):
        with fail_at(time.perf_counter() + 5):
            await anyio.sleep(0)
            value = 42
    assert value == 42
    if sys.version_info >= (3, 11):
        assert _pending() == 0


async def test_a_block_still_running_at_the_deadline_raises_timeout() -> None:
    started = time.perf_counter()
    with anyio.fail_after(5):
        with pytest.raises(TimeoutError), fail_at(started + 0.05):
            await anyio.sleep(10)
    elapsed = time.perf_counter() - started
    assert 0.04 <= elapsed < 4
    # The task is usable afterwards: the cancellation was taken back.
    await anyio.sleep(0)
    if sys.version_info >= (3, 11):
        task = asyncio.current_task()
        assert task is not None and task.cancelling() == 0
        assert _pending() == 0


async def test_a_deadline_already_past_raises_at_the_first_await() -> None:
    with anyio.fail_after(5):
        with pytest.raises(TimeoutError), fail_at(time.perf_counter() - 1):
            await anyio.sleep(10)


async def test_an_outer_cancel_scope_still_cancels() -> None:
    with anyio.CancelScope() as outer:
        outer.deadline = anyio.current_time() + 0.05
        with fail_at(time.perf_counter() + 10):
            await anyio.sleep(10)
        pytest.fail("not cancelled")  # pragma: no cover
    assert outer.cancelled_caught
    if sys.version_info >= (3, 11):
        assert _pending() == 0


@native
async def test_an_outer_cancellation_at_the_same_time_leaves_no_cancel_behind() -> None:
    # Both fire at once: either outcome is a fair report (both limits were reached), but
    # the task must be left with no cancellation request pending.
    timed_out = False
    with anyio.CancelScope() as outer:
        outer.deadline = anyio.current_time() + 0.05
        try:
            with fail_at(time.perf_counter() + 0.05):
                await anyio.sleep(10)
        except TimeoutError:
            timed_out = True
    assert timed_out or outer.cancelled_caught
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await anyio.sleep(0.01)


@native
async def test_a_native_task_cancel_propagates() -> None:
    async def victim() -> None:
        with fail_at(time.perf_counter() + 10):
            await asyncio.sleep(10)

    task = asyncio.ensure_future(victim())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _pending() == 0


@native
async def test_concurrent_deadlines_fire_in_their_own_order() -> None:
    fired: list[tuple[str, float]] = []
    base = time.perf_counter()

    async def run(name: str, after: float) -> None:
        try:
            with fail_at(base + after):
                await anyio.sleep(10)
        except TimeoutError:
            fired.append((name, time.perf_counter() - base))

    async def in_time() -> None:
        with fail_at(base + 10):
            await anyio.sleep(0.3)
        fired.append(("in time", time.perf_counter() - base))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            # Registered latest-first and out of order: the timer re-arms for each earlier one.
            group.start_soon(run, "c", 0.25)
            group.start_soon(in_time)
            group.start_soon(run, "a", 0.05)
            group.start_soon(run, "b", 0.15)
    assert [name for name, _ in fired] == ["a", "b", "c", "in time"]
    for (name, at), expected in zip(fired, (0.05, 0.15, 0.25, 0.3)):
        assert at >= expected - 0.01, (name, at)
    assert _pending() == 0


@native
async def test_many_blocks_share_one_timer() -> None:
    loop = asyncio.get_running_loop()
    before = len(loop._scheduled)  # type: ignore[attr-defined]
    base = time.perf_counter()
    for index in range(200):
        with fail_at(base + 60 + index):
            await anyio.sleep(0)
    watch = _deadline._watches[loop]  # type: ignore[attr-defined]
    assert not watch.limits
    # One handle for all of them (armed for the first, still in the heap), not 200.
    assert len(loop._scheduled) - before <= 1  # type: ignore[attr-defined]


def test_the_watch_does_not_keep_its_loop_alive() -> None:
    loop = asyncio.new_event_loop()

    async def use() -> None:
        with fail_at(time.perf_counter() + 60):
            await asyncio.sleep(0)

    loop.run_until_complete(use())
    loop.close()
    ref = weakref.ref(loop)
    del loop
    gc.collect()
    assert ref() is None


async def test_the_fallback_raises_timeout_too(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TimeoutError), _deadline._fallback(time.perf_counter() + 0.02):
        await anyio.sleep(10)
