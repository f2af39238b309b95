"""``tokenwire.manager``: routing, failover and resilience over every provider.

- :class:`ProviderManager` — providers, routes (priority, weighted round-robin,
  least-latency, cheapest), per-target circuit breaker + rate limiter + retry policy,
  failover before the first token (:mod:`tokenwire.manager.manager`);
- :class:`ManagedStream` — what ``chat_stream`` returns (:mod:`tokenwire.manager.stream`);
- :class:`HealthMonitor` — background health checks (:mod:`tokenwire.manager.health`);
- :class:`ProviderMetrics` — counters and histograms per provider/model, Prometheus
  export (:mod:`tokenwire.manager.metrics`); OpenTelemetry spans
  (:mod:`tokenwire.manager.telemetry`).

:class:`tokenwire.AsyncClient` and :class:`tokenwire.Client` own a manager
(``client.manager``).
"""

from __future__ import annotations

from tokenwire.manager._attempt import Attempt, ManagerEvent
from tokenwire.manager.health import HealthMonitor, HealthState, HealthTable
from tokenwire.manager.manager import BreakerFactory, EventListener, LimiterFactory, ProviderManager
from tokenwire.manager.metrics import LATENCY_BUCKETS, TTFT_BUCKETS, Histogram, PrometheusCollector, ProviderMetrics
from tokenwire.manager.prices import CatalogPrices
from tokenwire.manager.routing import (
    DEFAULT_OUTPUT_ESTIMATE,
    ROUTE_PREFIX,
    STRATEGIES,
    LatencyTracker,
    PriceLookup,
    Route,
    Target,
    prices_from_models,
    split_model,
)
from tokenwire.manager.stream import ManagedStream
from tokenwire.manager.telemetry import Tracing

__all__ = [
    "DEFAULT_OUTPUT_ESTIMATE",
    "LATENCY_BUCKETS",
    "ROUTE_PREFIX",
    "STRATEGIES",
    "TTFT_BUCKETS",
    "Attempt",
    "BreakerFactory",
    "CatalogPrices",
    "EventListener",
    "HealthMonitor",
    "HealthState",
    "HealthTable",
    "Histogram",
    "LatencyTracker",
    "LimiterFactory",
    "ManagedStream",
    "ManagerEvent",
    "PriceLookup",
    "PrometheusCollector",
    "ProviderManager",
    "ProviderMetrics",
    "Route",
    "Target",
    "Tracing",
    "prices_from_models",
    "split_model",
]
