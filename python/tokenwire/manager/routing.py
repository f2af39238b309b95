"""Addresses, targets and routes: which ``provider/model`` serves a request, in which order.

**Addresses.** A request names what should serve it in its ``model`` field:

- ``"provider/model"`` — one target (``"anthropic/claude-sonnet-4-5"``). Only the first
  ``/`` separates the provider, so gateway model ids with slashes pass through
  (``"openrouter/anthropic/claude-3.5-sonnet"``).
- ``"route:NAME"`` — a named route, always.
- ``"NAME"`` — a bare name is the route of that name when one exists, otherwise a
  model of the default provider. Route names may contain neither ``/`` nor ``:``, so
  they never collide with a ``provider/model`` address.

**Strategies** order a route's targets for one request; the first is tried first and
the rest are the failover order:

- ``"priority"`` (alias ``"failover"``): the targets in the order given.
- ``"round_robin"``: smooth weighted round-robin (the nginx algorithm: every target
  gains its weight, the richest is chosen and pays the total), so with weights 3:1 the
  choices interleave A A B A, never A A A B in bursts; failover continues around the
  ring from the chosen target.
- ``"least_latency"``: ascending exponentially weighted moving average of each
  target's time to first token (a non-streaming call's TTFT is its whole latency:
  that is when its first token reaches the caller). Targets never measured go first,
  in route order, so each gets measured.
- ``"cheapest"``: ascending estimated cost of *this* request, ``input_price *
  input_tokens + output_price * output_tokens`` with the prices of the manager's
  ``price_lookup`` (USD per million tokens) and the output estimated as the request's
  ``max_tokens`` (else :data:`DEFAULT_OUTPUT_ESTIMATE`). Targets whose price is
  unknown rank last, in route order. Ties keep route order.

Hyphenated spellings (``"round-robin"``, ``"least-latency"``) are accepted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Callable, Optional, Union

from tokenwire.errors import ConfigurationError
from tokenwire.types import ModelInfo

__all__ = [
    "DEFAULT_OUTPUT_ESTIMATE",
    "ROUTE_PREFIX",
    "STRATEGIES",
    "LatencyTracker",
    "PriceLookup",
    "Route",
    "Target",
    "prices_from_models",
    "split_model",
]

ROUTE_PREFIX = "route:"
"""The prefix that always names a route: ``"route:fast"``."""

STRATEGIES = ("priority", "round_robin", "least_latency", "cheapest")
"""The routing strategies (see the module docstring)."""

_ALIASES = {"failover": "priority"}

DEFAULT_OUTPUT_ESTIMATE = 1024
"""Output tokens assumed by the ``cheapest`` strategy when a request sets no ``max_tokens``."""

PriceLookup = Callable[[str, str], Optional[tuple[float, float]]]
"""``(provider, model) -> (input USD per million tokens, output USD per million tokens)``, or
``None`` when unknown."""


def split_model(target: str, default_provider: Optional[str] = None) -> tuple[str, str]:
    """``"provider/model"`` → ``(provider, model)``; a bare model uses ``default_provider``."""
    provider, sep, model = target.partition("/")
    if sep and provider and model:
        return provider, model
    if not sep and target and default_provider:
        return default_provider, target
    raise ConfigurationError(
        f"model {target!r} must be written 'provider/model' (e.g. 'openai/gpt-4o-mini')"
        + ("" if default_provider else " or a default provider must be set")
    )


@dataclass(frozen=True)
class Target:
    """One ``provider/model`` a request can be sent to."""

    provider: str
    model: str

    @classmethod
    def parse(cls, address: str) -> Target:
        """``"provider/model"`` → :class:`Target` (``ConfigurationError`` otherwise)."""
        provider, model = split_model(address)
        return cls(provider, model)

    # Cached (in the instance dict, which a frozen dataclass still lets it write): the
    # manager reads it several times per attempt.
    @cached_property
    def key(self) -> str:
        """``"provider/model"``: the key of its breaker, metrics and latency record."""
        return f"{self.provider}/{self.model}"

    def __str__(self) -> str:
        return self.key


def check_route_name(name: str) -> str:
    """``name`` if it is a valid route name (non-empty, no ``/`` or ``:``)."""
    if not name or "/" in name or ":" in name:
        raise ValueError(f"invalid route name {name!r} (non-empty, without '/' or ':')")
    return name


def normalize_strategy(strategy: str) -> str:
    """The canonical strategy name (``ValueError`` for an unknown one)."""
    name = strategy.replace("-", "_")
    name = _ALIASES.get(name, name)
    if name not in STRATEGIES:
        raise ValueError(f"unknown routing strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    return name


class Route:
    """A named set of targets and the strategy that orders them per request.

    Build it with :meth:`ProviderManager.add_route
    <tokenwire.manager.ProviderManager.add_route>`. ``weights`` (round-robin only)
    are positive numbers, one per target; default all 1.
    """

    __slots__ = ("_current", "name", "strategy", "targets", "weights")

    def __init__(
        self,
        name: str,
        targets: Iterable[Union[str, Target]],
        strategy: str = "priority",
        *,
        weights: Optional[Sequence[float]] = None,
    ) -> None:
        self.name = check_route_name(name)
        resolved = tuple(t if isinstance(t, Target) else Target.parse(t) for t in targets)
        if not resolved:
            raise ValueError(f"route {name!r} needs at least one target")
        if len(set(resolved)) != len(resolved):
            raise ValueError(f"route {name!r} lists a target twice")
        self.targets: tuple[Target, ...] = resolved
        self.strategy = normalize_strategy(strategy)
        if weights is not None:
            if self.strategy != "round_robin":
                raise ValueError("weights apply to the 'round_robin' strategy only")
            if len(weights) != len(resolved):
                raise ValueError(f"route {name!r}: {len(weights)} weights for {len(resolved)} targets")
            for weight in weights:
                if not (math.isfinite(weight) and weight > 0):
                    raise ValueError(f"route {name!r}: weights must be finite and > 0, got {weight!r}")
        self.weights: tuple[float, ...] = (
            tuple(float(w) for w in weights) if weights is not None else (1.0,) * len(resolved)
        )
        self._current = [0.0] * len(resolved)

    def __repr__(self) -> str:
        targets = ", ".join(t.key for t in self.targets)
        return f"Route({self.name!r}, [{targets}], strategy={self.strategy!r})"

    def order(
        self,
        *,
        latency: Callable[[Target], Optional[float]],
        cost: Callable[[Target], Optional[float]],
    ) -> list[Target]:
        """The targets in the order to try them for one request (advances round-robin).

        ``latency`` and ``cost`` give a target's EWMA TTFT and this request's estimated
        cost (``None`` when unknown); each is called only by the strategy that needs it.
        """
        targets = self.targets
        strategy = self.strategy
        if strategy == "priority" or len(targets) == 1:
            return list(targets)
        if strategy == "round_robin":
            chosen = self._next_round_robin()
            return list(targets[chosen:] + targets[:chosen])
        if strategy == "least_latency":
            known: list[tuple[float, int, Target]] = []
            unknown: list[Target] = []
            for index, target in enumerate(targets):
                value = latency(target)
                if value is None:
                    unknown.append(target)
                else:
                    known.append((value, index, target))
            known.sort(key=lambda item: (item[0], item[1]))
            return unknown + [t for _, _, t in known]
        # cheapest
        priced: list[tuple[float, int, Target]] = []
        unpriced: list[Target] = []
        for index, target in enumerate(targets):
            value = cost(target)
            if value is None:
                unpriced.append(target)
            else:
                priced.append((value, index, target))
        priced.sort(key=lambda item: (item[0], item[1]))
        return [t for _, _, t in priced] + unpriced

    def _next_round_robin(self) -> int:
        current = self._current
        weights = self.weights
        best = 0
        for index, weight in enumerate(weights):
            current[index] += weight
            if current[index] > current[best]:
                best = index
        current[best] -= sum(weights)
        return best


class LatencyTracker:
    """Exponentially weighted moving averages of time to first token, per target key.

    ``alpha`` (0.3) is the weight of each new sample: a target that turns slow
    overtakes a steady one after a few requests, and one slow outlier fades as fast.
    """

    __slots__ = ("_values", "alpha")

    def __init__(self, alpha: float = 0.3) -> None:
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
        self.alpha = alpha
        self._values: dict[str, float] = {}

    def observe(self, key: str, seconds: float) -> None:
        """Fold one TTFT sample (seconds) into ``key``'s average."""
        if not (math.isfinite(seconds) and seconds >= 0):
            return
        old = self._values.get(key)
        self._values[key] = seconds if old is None else old + self.alpha * (seconds - old)

    def get(self, key: str) -> Optional[float]:
        """The current average for ``key`` (``None`` before its first sample)."""
        return self._values.get(key)

    def snapshot(self) -> dict[str, float]:
        """Every average, by target key."""
        return dict(self._values)

    def forget(self, key: str) -> None:
        """Drop ``key``'s average (it will be explored again)."""
        self._values.pop(key, None)


def prices_from_models(models: Iterable[ModelInfo]) -> PriceLookup:
    """A :data:`PriceLookup` over :class:`~tokenwire.types.ModelInfo` records (for
    example from ``await manager.list_models(name)``): a model is priced when both its
    ``input_price`` and ``output_price`` are known."""
    table: Mapping[tuple[str, str], tuple[float, float]] = {
        (m.provider, m.id): (float(m.input_price), float(m.output_price))
        for m in models
        if m.input_price is not None and m.output_price is not None
    }

    def lookup(provider: str, model: str) -> Optional[tuple[float, float]]:
        return table.get((provider, model))

    return lookup
