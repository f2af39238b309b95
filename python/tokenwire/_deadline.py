"""``fail_at(deadline)``: cut a block off at a ``time.perf_counter()`` deadline with
``TimeoutError``, cheaply.

Every request with a total timeout needs one such limit around its send. On asyncio an
``anyio.CancelScope`` with a deadline costs a timer handle in the loop's heap plus
anyio's task bookkeeping, ~12 µs per request in place; this module keeps one timer per
event loop for all in-flight deadlines instead (armed for the earliest one), so a
request pays a set insertion and removal. Expiry is delivered the way
``asyncio.timeout`` delivers it — ``task.cancel()``, then ``uncancel()`` and
``TimeoutError`` on the way out — so a cancellation from outside (an anyio cancel
scope, ``task.cancel()``) still propagates as a cancellation.

That needs ``Task.uncancel`` (Python 3.11+) and an asyncio loop; elsewhere (older
Pythons, trio) ``fail_at`` is ``anyio.fail_after`` for the remaining time.
"""

from __future__ import annotations

import sys
import time
import weakref
from contextlib import AbstractContextManager
from types import TracebackType
from typing import TYPE_CHECKING, Optional

import anyio

if TYPE_CHECKING:
    import asyncio

__all__ = ["fail_at"]


def _fallback(deadline: float) -> AbstractContextManager[object]:
    return anyio.fail_after(max(0.0, deadline - time.perf_counter()))


if sys.version_info >= (3, 11):

    class _Limit:
        """One block's deadline (see :func:`fail_at`)."""

        __slots__ = ("cancelling", "fired", "task", "watch", "when")

        def __init__(self, watch: _Watch, task: asyncio.Task[object], when: float) -> None:
            self.watch = watch
            self.task = task
            self.when = when
            self.fired = False
            self.cancelling = 0

        def __enter__(self) -> None:
            task = self.task
            self.cancelling = task.cancelling()
            self.watch.add(self)

        def __exit__(
            self,
            exc_type: Optional[type[BaseException]],
            exc: Optional[BaseException],
            tb: Optional[TracebackType],
        ) -> None:
            self.watch.limits.discard(self)
            if self.fired and self.task.uncancel() <= self.cancelling and exc_type is _cancelled_error():
                # Our cancellation and nobody else's: the deadline passed.
                raise TimeoutError from exc

    class _Watch:
        """The deadlines of one event loop, with one timer armed for the earliest."""

        __slots__ = ("armed_at", "limits", "loop", "timer")

        def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
            # Weak: the watch is the value of a weak-keyed map of loops.
            self.loop = weakref.ref(loop)
            self.limits: set[_Limit] = set()
            # Weak too: a timer handle refers to its loop (the loop's heap keeps it).
            self.timer: Optional[weakref.ref[asyncio.TimerHandle]] = None
            self.armed_at = float("inf")

        def add(self, limit: _Limit) -> None:
            self.limits.add(limit)
            if limit.when < self.armed_at:
                self._arm(limit.when)

        def _arm(self, when: float) -> None:
            timer = self.timer() if self.timer is not None else None
            if timer is not None:
                timer.cancel()
            self.armed_at = when
            loop = self.loop()
            assert loop is not None  # armed from a task running on it
            self.timer = weakref.ref(loop.call_later(max(0.0, when - time.perf_counter()), self._fire))

        def _fire(self) -> None:
            self.timer = None
            self.armed_at = float("inf")
            now = time.perf_counter()
            earliest = float("inf")
            for limit in list(self.limits):
                if limit.when <= now:
                    # Finished blocks leave the set on exit: every limit here is still running.
                    self.limits.discard(limit)
                    limit.fired = True
                    limit.task.cancel()
                elif limit.when < earliest:
                    earliest = limit.when
            if earliest != float("inf"):
                self._arm(earliest)

    def _cancelled_error() -> type[BaseException]:
        return sys.modules["asyncio"].CancelledError  # type: ignore[no-any-return]

    _watches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Watch] = weakref.WeakKeyDictionary()
    # The last loop's watch: one comparison instead of a weak-dict lookup per request.
    _last: Optional[_Watch] = None

    def _watch(loop: asyncio.AbstractEventLoop) -> _Watch:
        global _last
        watch = _last
        if watch is None or watch.loop() is not loop:
            watch = _watches.get(loop)
            if watch is None:
                watch = _watches[loop] = _Watch(loop)
            _last = watch
        return watch

    def fail_at(deadline: float) -> AbstractContextManager[object]:
        """A context manager that raises ``TimeoutError`` if its block is still running
        at ``deadline`` (a ``time.perf_counter()`` time), as ``anyio.fail_after`` does.

        Use it around awaits of the current task only, entered and left in that task.
        """
        # Not imported here: a process that never runs asyncio need not load it (and its
        # subprocess support); one that does has it in sys.modules.
        aio = sys.modules.get("asyncio")
        if aio is None:
            return _fallback(deadline)
        try:
            loop = aio.get_running_loop()
        except RuntimeError:  # not asyncio (trio)
            return _fallback(deadline)
        task = aio.current_task(loop)
        if task is None:
            return _fallback(deadline)
        return _Limit(_watch(loop), task, deadline)

else:
    fail_at = _fallback
