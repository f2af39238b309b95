"""FakeClock and SystemClock: the time sources of tokenwire.resilience.

The FakeClock is what makes every other resilience test deterministic, so its own
semantics are pinned here: wake order, exact wake times, cancellation, autojump.
"""

from __future__ import annotations

import math
import time

import anyio
import pytest

from tokenwire.resilience import Clock, FakeClock, SystemClock

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def test_protocol() -> None:
    assert isinstance(SystemClock(), Clock)
    assert isinstance(FakeClock(), Clock)
    assert repr(SystemClock()) == "SystemClock()"


def test_system_clock_reads_the_real_clocks() -> None:
    clock = SystemClock()
    before = time.monotonic()
    assert before <= clock.now() <= time.monotonic()
    assert abs(clock.wall() - time.time()) < 5.0


async def test_system_clock_zero_and_negative_sleeps_just_yield() -> None:
    clock = SystemClock()
    await clock.sleep(0)
    await clock.sleep(-3)
    await clock.sleep(float("nan"))


async def test_system_clock_infinite_sleep_is_cancellable() -> None:
    with anyio.CancelScope() as scope:
        scope.cancel()
        await SystemClock().sleep(math.inf)
    assert scope.cancelled_caught


def test_fake_time_and_wall() -> None:
    clock = FakeClock(10.0, wall_start=1000.0)
    assert (clock.now(), clock.wall()) == (10.0, 1000.0)
    clock.advance(2.5)
    assert (clock.now(), clock.wall()) == (12.5, 1002.5)
    clock.set_time(20.0)
    assert clock.now() == 20.0
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(ValueError):
            clock.advance(bad)
    with pytest.raises(ValueError):
        clock.set_time(19.0)  # time never goes back
    with pytest.raises(ValueError):
        FakeClock(math.nan)
    assert "now=20.0" in repr(clock)


async def test_sleepers_wake_in_deadline_order() -> None:
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.now()))

    async with anyio.create_task_group() as tg:
        for name, seconds in (("c", 3.0), ("a", 1.0), ("b", 2.0), ("a2", 1.0)):
            tg.start_soon(sleeper, name, seconds)
        await clock.run_until_idle()
        assert clock.sleepers == 4
        assert clock.next_deadline() == 1.0
        assert clock.advance(0.5) == 0
        assert clock.advance(1.0) == 2  # both 1 s sleepers, in the order they slept
        await clock.run_until_idle()
        assert woke == [("a", 1.5), ("a2", 1.5)]
        await clock.step(10.0)
    assert woke == [("a", 1.5), ("a2", 1.5), ("b", 2.0), ("c", 3.0)]
    assert clock.now() == 11.5
    assert clock.next_deadline() is None


async def test_step_stops_at_every_deadline() -> None:
    clock = FakeClock()
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(5):
            await clock.sleep(1.0)
            ticks.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        await clock.step(3.5)  # a task re-sleeping inside the span is woken again
        assert ticks == [1.0, 2.0, 3.0]
        await clock.step(10.0)
    assert ticks == [1.0, 2.0, 3.0, 4.0, 5.0]


async def test_zero_and_nan_sleeps_only_yield() -> None:
    clock = FakeClock()
    await clock.sleep(0)
    await clock.sleep(-1)
    await clock.sleep(math.nan)
    assert clock.sleepers == 0


async def test_cancelled_sleeper_is_forgotten() -> None:
    clock = FakeClock()
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.sleep, 5.0)
        tg.start_soon(clock.sleep, 7.0)
        await clock.run_until_idle()
        assert clock.sleepers == 2
        tg.cancel_scope.cancel()
    assert clock.sleepers == 0


async def test_infinite_sleep_has_no_deadline() -> None:
    clock = FakeClock()
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(clock.sleep, math.inf)
            await clock.run_until_idle()
            assert clock.next_deadline() is None
            scope.cancel()
    assert scope.cancelled_caught


async def test_autojump_runs_sleeping_code_in_zero_real_time() -> None:
    clock = FakeClock()
    start = time.monotonic()
    async with clock.autojump():
        for _ in range(100):
            await clock.sleep(3600.0)
        await clock.sleep(0.25)
    assert clock.now() == 360_000.25
    assert time.monotonic() - start < 5.0  # nothing slept for real


async def test_autojump_with_concurrent_sleepers() -> None:
    clock = FakeClock()
    woke: list[tuple[int, float]] = []

    async def sleeper(i: int) -> None:
        await clock.sleep(float(i))
        woke.append((i, clock.now()))

    async with clock.autojump(), anyio.create_task_group() as tg:
        for i in (3, 1, 2):
            tg.start_soon(sleeper, i)
    assert woke == [(1, 1.0), (2, 2.0), (3, 3.0)]


async def test_run_until_idle_lets_chains_of_wakeups_finish() -> None:
    clock = FakeClock()
    events = [anyio.Event() for _ in range(50)]
    done: list[int] = []

    async def link(i: int) -> None:
        await events[i].wait()
        done.append(i)
        if i + 1 < len(events):
            events[i + 1].set()

    async with anyio.create_task_group() as tg:
        for i in range(len(events)):
            tg.start_soon(link, i)
        await clock.run_until_idle()
        events[0].set()
        await clock.run_until_idle()
        assert done == list(range(50))


async def test_run_until_idle_inside_autojump_does_not_livelock() -> None:
    # Two tasks waiting for idleness at once must not keep each other "busy".
    clock = FakeClock()
    start = time.monotonic()
    async with clock.autojump():
        for _ in range(20):
            await clock.run_until_idle()
        await clock.sleep(1.0)
    assert clock.now() == 1.0
    assert time.monotonic() - start < 2.0
