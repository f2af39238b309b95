"""Provider health: a table the router reads and a monitor that keeps it current.

Health is per *provider* (``Provider.health_check`` probes the provider — its model
list or a minimal request — not one model), so every target of an unhealthy provider
is unhealthy. The router skips unhealthy targets unless every target of a request is
unhealthy; then it tries them all rather than fail without trying. A provider never
checked is healthy.

:class:`HealthMonitor` runs every known provider's ``health_check`` concurrently once
per ``interval`` in an anyio task group, each bounded by ``timeout`` (a slow check is
cancelled and counts as a failure). ``failure_threshold`` consecutive failed checks
mark a provider unhealthy (2 by default: one lost probe is not an outage),
``success_threshold`` consecutive good ones restore it (1). Time — the interval and the
timeout — runs on the manager's :class:`~tokenwire.resilience.Clock`, so tests drive it
with a :class:`~tokenwire.resilience.FakeClock`.

Providers that cannot be probed (no ``health_check``/probe override and no model-list
endpoint) are not checked: "no probe endpoint" is not an outage.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Optional

import anyio
import anyio.abc

from tokenwire.providers.base import Provider
from tokenwire.resilience.clock import Clock
from tokenwire.types import HealthStatus

if TYPE_CHECKING:
    from tokenwire.manager.manager import ProviderManager

__all__ = ["HealthMonitor", "HealthState", "HealthTable", "can_probe"]


@dataclass(frozen=True)
class HealthState:
    """What is known about one provider's health.

    ``checked_at`` and ``changed_at`` are clock times (the manager's clock);
    ``last_status`` is the last :class:`~tokenwire.types.HealthStatus` seen.
    """

    provider: str
    healthy: bool
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    checks: int = 0
    last_status: Optional[HealthStatus] = None
    checked_at: Optional[float] = None
    changed_at: Optional[float] = None


#: ``(provider, healthy, status)`` — called when a provider's health changes.
HealthListener = Callable[[str, bool, Optional[HealthStatus]], None]


class HealthTable:
    """Health per provider name (see the module docstring). Unknown means healthy."""

    __slots__ = ("_listeners", "_states")

    def __init__(self) -> None:
        self._states: dict[str, HealthState] = {}
        self._listeners: list[HealthListener] = []

    def add_listener(self, listener: HealthListener) -> None:
        """Call ``listener(provider, healthy, status)`` on every change."""
        self._listeners.append(listener)

    def is_healthy(self, provider: str) -> bool:
        """Whether ``provider`` is currently considered healthy."""
        state = self._states.get(provider)
        return state is None or state.healthy

    def get(self, provider: str) -> HealthState:
        """The state of ``provider`` (a fresh healthy state if never checked)."""
        return self._states.get(provider) or HealthState(provider, True)

    def snapshot(self) -> dict[str, HealthState]:
        """Every provider's state, by name."""
        return dict(self._states)

    def mark(self, provider: str, healthy: bool, now: float, status: Optional[HealthStatus] = None) -> bool:
        """Force ``provider`` healthy or unhealthy (an operator, or a custom probe).
        Returns whether that changed it."""
        old = self.get(provider)
        changed = old.healthy != healthy
        self._states[provider] = HealthState(
            provider,
            healthy,
            consecutive_failures=0 if healthy else max(1, old.consecutive_failures),
            consecutive_successes=max(1, old.consecutive_successes) if healthy else 0,
            checks=old.checks,
            last_status=status if status is not None else old.last_status,
            checked_at=old.checked_at,
            changed_at=now if changed else old.changed_at,
        )
        if changed:
            self._notify(provider, healthy, status)
        return changed

    def record(self, status: HealthStatus, now: float, *, failure_threshold: int, success_threshold: int) -> bool:
        """Fold in one check result; returns whether the provider's health changed."""
        old = self.get(status.provider)
        failures = 0 if status.healthy else old.consecutive_failures + 1
        successes = old.consecutive_successes + 1 if status.healthy else 0
        healthy = old.healthy
        if healthy and failures >= failure_threshold:
            healthy = False
        elif not healthy and successes >= success_threshold:
            healthy = True
        changed = healthy != old.healthy
        self._states[status.provider] = HealthState(
            status.provider,
            healthy,
            consecutive_failures=failures,
            consecutive_successes=successes,
            checks=old.checks + 1,
            last_status=status,
            checked_at=now,
            changed_at=now if changed else old.changed_at,
        )
        if changed:
            self._notify(status.provider, healthy, status)
        return changed

    def forget(self, provider: str) -> None:
        """Drop what is known about ``provider`` (it reads healthy again)."""
        self._states.pop(provider, None)

    def _notify(self, provider: str, healthy: bool, status: Optional[HealthStatus]) -> None:
        for listener in tuple(self._listeners):
            listener(provider, healthy, status)


def can_probe(provider: Provider) -> bool:
    """Whether ``provider`` has a health probe of its own (class-level check, no I/O)."""
    cls = type(provider)
    return (
        cls.health_check is not Provider.health_check
        or cls._probe is not Provider._probe
        or cls.build_models_call is not Provider.build_models_call
    )


class HealthMonitor:
    """Runs health checks periodically and records them in the manager's health table.

    Use it through :meth:`ProviderManager.run_health_monitor
    <tokenwire.manager.ProviderManager.run_health_monitor>`, or start :meth:`run` in a
    task group of your own (``await group.start(monitor.run)``). :meth:`check_now`
    runs one round on demand.

    ``providers`` limits the check to those names (default: every provider the
    manager has created or that a route names).
    """

    def __init__(
        self,
        manager: ProviderManager,
        *,
        interval: float = 30.0,
        timeout: float = 10.0,
        failure_threshold: int = 2,
        success_threshold: int = 1,
        providers: Optional[Iterable[str]] = None,
    ) -> None:
        if not (math.isfinite(interval) and interval > 0):
            raise ValueError(f"interval must be finite and > 0, got {interval!r}")
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be finite and > 0, got {timeout!r}")
        if failure_threshold < 1 or success_threshold < 1:
            raise ValueError("failure_threshold and success_threshold must be >= 1")
        self.manager = manager
        self.interval = float(interval)
        self.timeout = float(timeout)
        self.failure_threshold = failure_threshold
        self.success_threshold = success_threshold
        self.providers: Optional[tuple[str, ...]] = tuple(providers) if providers is not None else None
        self.rounds = 0

    def __repr__(self) -> str:
        return f"<HealthMonitor interval={self.interval}s timeout={self.timeout}s rounds={self.rounds}>"

    @property
    def clock(self) -> Clock:
        return self.manager.clock

    def _targets(self, results: dict[str, HealthStatus]) -> dict[str, Provider]:
        names = self.providers if self.providers is not None else self.manager.known_providers()
        out: dict[str, Provider] = {}
        for name in names:
            try:
                provider = self.manager.provider(name)
            except Exception as exc:  # e.g. a route naming a provider that is not registered
                results[name] = HealthStatus(provider=name, healthy=False, error=f"{type(exc).__name__}: {exc}")
                continue
            if can_probe(provider):
                out[name] = provider
        return out

    async def check_now(self) -> Mapping[str, HealthStatus]:
        """Check every provider once, concurrently, each bounded by ``timeout``; record
        the results and return them by provider name. A provider that cannot even be
        built (unknown name, bad options) is recorded unhealthy with the reason."""
        results: dict[str, HealthStatus] = {}
        providers = self._targets(results)
        if providers:
            async with anyio.create_task_group() as group:
                for name, provider in providers.items():
                    group.start_soon(self._check_one, name, provider, results)
        now = self.clock.now()
        table = self.manager.health_table
        for status in results.values():
            table.record(
                status,
                now,
                failure_threshold=self.failure_threshold,
                success_threshold=self.success_threshold,
            )
        self.rounds += 1
        return results

    async def _check_one(self, name: str, provider: Provider, results: dict[str, HealthStatus]) -> None:
        clock = self.clock
        started = clock.now()
        outcome: list[HealthStatus] = []

        async with anyio.create_task_group() as race:

            async def probe() -> None:
                try:
                    status = await provider.health_check()
                except Exception as exc:  # a custom health_check that raises is unhealthy, not fatal
                    status = HealthStatus(provider=name, healthy=False, error=f"{type(exc).__name__}: {exc}")
                outcome.append(status)
                race.cancel_scope.cancel()

            async def timer() -> None:
                await clock.sleep(self.timeout)
                race.cancel_scope.cancel()

            race.start_soon(probe)
            race.start_soon(timer)
        if outcome:
            status = outcome[0]
            # The provider reports itself by its class name; the table is keyed by ours.
            if status.provider != name:
                status = HealthStatus(
                    provider=name,
                    healthy=status.healthy,
                    latency_ms=status.latency_ms,
                    error=status.error,
                    checked_at=status.checked_at,
                )
        else:
            status = HealthStatus(
                provider=name,
                healthy=False,
                latency_ms=(clock.now() - started) * 1000.0,
                error=f"health check timed out after {self.timeout:g}s",
            )
        results[name] = status

    async def run(self, *, task_status: anyio.abc.TaskStatus[Any] = anyio.TASK_STATUS_IGNORED) -> None:
        """Check now, then every ``interval`` seconds, until cancelled."""
        task_status.started()
        while True:
            await self.check_now()
            await self.clock.sleep(self.interval)
