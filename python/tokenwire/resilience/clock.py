"""Clocks for the resilience layer: the real one and a fake one for tests.

Everything in :mod:`tokenwire.resilience` reads time and sleeps through a
:class:`Clock`, never through :func:`time.monotonic` or :func:`anyio.sleep` directly,
so every timing rule (backoff, open intervals, bucket refills) can be tested on a
:class:`FakeClock` with no real sleeping.

A clock has two time scales:

- :meth:`Clock.now` — monotonic seconds, the scale of every deadline, ``retry_at`` and
  bucket computation;
- :meth:`Clock.wall` — wall-clock seconds since the Unix epoch, needed only to turn the
  absolute instants some providers send (Anthropic's RFC 3339 ``…-reset`` headers, an
  HTTP-date ``retry-after``) into durations.
"""

from __future__ import annotations

import asyncio
import heapq
import importlib
import itertools
import math
import time
import weakref
from collections.abc import AsyncGenerator
from contextlib import asynccontextmanager
from typing import Any, Optional, Protocol, runtime_checkable

import anyio
import anyio.lowlevel

__all__ = ["Clock", "FakeClock", "SystemClock"]

# Tasks currently yielding in FakeClock.run_until_idle, per event loop: each of them
# always has exactly one step in the loop's ready queue, which is not "work".
_idle_waiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, int] = weakref.WeakKeyDictionary()


@runtime_checkable
class Clock(Protocol):
    """What the resilience classes need from time."""

    def now(self) -> float:
        """Monotonic seconds (arbitrary epoch); never goes backwards."""
        ...

    def wall(self) -> float:
        """Wall-clock seconds since the Unix epoch (for providers' absolute reset times)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds`` of this clock's time (``<= 0``: just yield)."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic`, :func:`time.time` and :func:`anyio.sleep`."""

    __slots__ = ()

    def now(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        if seconds == math.inf:
            await anyio.sleep_forever()
        else:
            await anyio.sleep(seconds if seconds > 0 else 0.0)

    def __repr__(self) -> str:
        return "SystemClock()"


class _Sleeper:
    __slots__ = ("deadline", "event", "seq")

    def __init__(self, deadline: float, seq: int) -> None:
        self.deadline = deadline
        self.seq = seq
        self.event = anyio.Event()

    def __lt__(self, other: _Sleeper) -> bool:
        return (self.deadline, self.seq) < (other.deadline, other.seq)


class FakeClock:
    """A manually driven clock for deterministic tests: time moves only when told.

    :meth:`sleep` parks the caller on an :class:`anyio.Event` until the fake time
    reaches its deadline; nothing ever sleeps for real. Drive it with:

    - :meth:`advance` (synchronous): move time forward and wake every sleeper whose
      deadline has passed, in deadline order (ties in the order they went to sleep);
    - :meth:`step` (async): move forward deadline by deadline, letting the woken tasks
      run at each one (so a task woken at ``t=1`` sees ``now() == 1`` and can go back to
      sleep before ``t=2`` is reached), then settle;
    - :meth:`run_until_idle` (async): let every runnable task run until all are blocked;
    - :meth:`autojump` (async context manager): a background task that jumps straight to
      the next deadline whenever every task is blocked — handy for code that just awaits.

    ``now()`` starts at ``start``; ``wall()`` is ``wall_start`` plus the fake time elapsed.
    """

    def __init__(self, start: float = 0.0, *, wall_start: float = 1_750_000_000.0) -> None:
        if not math.isfinite(start) or not math.isfinite(wall_start):
            raise ValueError("start and wall_start must be finite")
        self._now = float(start)
        self._wall_offset = float(wall_start) - float(start)
        self._sleepers: list[_Sleeper] = []
        self._seq = itertools.count()
        self._new_sleeper: Optional[anyio.Event] = None

    def __repr__(self) -> str:
        return f"FakeClock(now={self._now!r}, sleepers={len(self._sleepers)})"

    # -- the Clock protocol ------------------------------------------------------

    def now(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    async def sleep(self, seconds: float) -> None:
        if not seconds > 0:  # also NaN
            await anyio.lowlevel.checkpoint()
            return
        if seconds == math.inf:
            # No deadline to reach: only cancellation ends it (autojump must not jump to inf).
            await anyio.sleep_forever()
        sleeper = _Sleeper(self._now + seconds, next(self._seq))
        heapq.heappush(self._sleepers, sleeper)
        if self._new_sleeper is not None:
            self._new_sleeper.set()
        try:
            await sleeper.event.wait()
        finally:
            if not sleeper.event.is_set():
                # Cancelled: forget the sleeper so it does not count as pending.
                self._sleepers.remove(sleeper)
                heapq.heapify(self._sleepers)

    # -- driving it ----------------------------------------------------------------

    @property
    def sleepers(self) -> int:
        """How many tasks are parked in :meth:`sleep`."""
        return len(self._sleepers)

    def next_deadline(self) -> Optional[float]:
        """The earliest pending sleep deadline, or ``None``."""
        return self._sleepers[0].deadline if self._sleepers else None

    def _wake_due(self) -> int:
        woken = 0
        while self._sleepers and self._sleepers[0].deadline <= self._now:
            heapq.heappop(self._sleepers).event.set()
            woken += 1
        return woken

    def advance(self, seconds: float) -> int:
        """Move time forward by ``seconds`` and wake the sleepers now due.

        Returns how many were woken. The woken tasks run at the caller's next
        checkpoint (``await clock.run_until_idle()``) and all see the final time.
        """
        if not seconds >= 0 or math.isinf(seconds):
            raise ValueError(f"can only advance by a finite, non-negative time, got {seconds!r}")
        self._now += seconds
        return self._wake_due()

    def set_time(self, now: float) -> int:
        """Move time forward to ``now`` (see :meth:`advance`)."""
        return self.advance(now - self._now)

    async def step(self, seconds: float = 0.0) -> None:
        """Advance by ``seconds``, stopping at every sleep deadline on the way.

        At each deadline the due sleepers wake and every task runs until blocked
        again (tasks that go back to sleep within the span are woken in turn). Ends at
        exactly ``now() + seconds`` with everything settled.
        """
        if not seconds >= 0 or math.isinf(seconds):
            raise ValueError(f"can only step by a finite, non-negative time, got {seconds!r}")
        target = self._now + seconds
        await self.run_until_idle()
        while self._sleepers and self._sleepers[0].deadline <= target:
            self._now = max(self._now, self._sleepers[0].deadline)
            self._wake_due()
            await self.run_until_idle()
        self._now = target
        await self.run_until_idle()

    async def run_until_idle(self, max_rounds: int = 10_000) -> None:
        """Let every runnable task run until all of them are blocked.

        On asyncio this yields until the loop's ready queue is empty (exact: no real
        time passes); on trio it uses ``trio.testing.wait_all_tasks_blocked``. On an
        asyncio loop without a ready queue (uvloop) it yields a fixed 100 times.
        ``max_rounds`` bounds a task that never blocks.
        """
        try:
            loop: Optional[asyncio.AbstractEventLoop] = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            trio_testing: Any = importlib.import_module("trio.testing")
            await trio_testing.wait_all_tasks_blocked()
            return
        # The ready queue holds the callbacks (task steps) runnable on the next loop
        # iteration. When our own step finds nothing there but the steps of other tasks
        # doing this same wait, every other task is blocked.
        ready: Any = getattr(loop, "_ready", None)
        if ready is None:
            for _ in range(min(max_rounds, 100)):
                await anyio.lowlevel.checkpoint()
            return
        _idle_waiters[loop] = _idle_waiters.get(loop, 0) + 1
        try:
            for _ in range(max_rounds):
                await anyio.lowlevel.checkpoint()
                if len(ready) <= _idle_waiters[loop] - 1:
                    return
        finally:
            _idle_waiters[loop] -= 1

    @asynccontextmanager
    async def autojump(self) -> AsyncGenerator[FakeClock, None]:
        """Within the block, jump to the next sleep deadline whenever all tasks block.

        Like trio's autojump clock: code that only awaits (``await policy.run(fn)``)
        runs to completion in zero real time, with ``now()`` advancing exactly through
        the deadlines it slept to.
        """
        async with anyio.create_task_group() as group:
            group.start_soon(self._autojump_loop)
            try:
                yield self
            finally:
                group.cancel_scope.cancel()

    async def _autojump_loop(self) -> None:
        while True:
            await self.run_until_idle()
            if self._sleepers:
                self._now = max(self._now, self._sleepers[0].deadline)
                self._wake_due()
            else:
                self._new_sleeper = anyio.Event()
                try:
                    await self._new_sleeper.wait()
                finally:
                    self._new_sleeper = None
