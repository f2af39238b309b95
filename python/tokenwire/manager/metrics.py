"""``ProviderMetrics``: what the manager counts per ``provider/model``, and its exports.

Per target (``provider``, ``model``), updated by the :class:`ProviderManager
<tokenwire.manager.ProviderManager>` for every attempt it makes:

- ``requests`` — attempts sent to the provider; each ends as one of ``successes``,
  ``errors`` (by exception class name: ``RateLimitError``, ``APITimeoutError``, …) or
  ``cancelled`` (the caller went away), or is still ``in_flight``;
- ``rejected`` — attempts refused by the target's open circuit breaker (never sent,
  so not in ``requests``);
- ``retries`` — attempts made after a backoff (a new round of the retry policy);
  ``failovers`` — times a request moved on from this target to the next one;
- ``input_tokens``, ``output_tokens``, ``cache_read_tokens``, ``cache_write_tokens``
  from the usage the provider reported, and ``cost_usd``: the cost the provider
  reported (``Usage.cost``), else the manager's price source (by default the catalog,
  with Roo-Code's formula per provider) where it knows the model;
- ``latency`` — seconds from sending to the end of the answer (a stream's last token),
  and ``ttft`` — seconds to the first token (streams only), as histograms with fixed
  buckets (:data:`LATENCY_BUCKETS`, :data:`TTFT_BUCKETS`);
- ``breaker_state`` and ``breaker_transitions`` (by new state) from the target's
  circuit breaker.

:meth:`ProviderMetrics.snapshot` returns all of it as plain data (dicts, lists,
numbers, strings: ``json.dumps``-able). With the ``prometheus`` extra,
:meth:`ProviderMetrics.to_prometheus` registers a collector exposing it as
``tokenwire_*`` series; :meth:`ProviderMetrics.prometheus_text` renders the exposition
text directly. ``prometheus-client`` is imported only by those two methods.

Updates come from the event loop; a lock keeps a snapshot taken from another thread
(a metrics endpoint, the sync client's caller) consistent.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Optional

from tokenwire.types import Usage

__all__ = ["LATENCY_BUCKETS", "TTFT_BUCKETS", "Histogram", "PrometheusCollector", "ProviderMetrics"]

LATENCY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
"""Upper bounds (seconds) of the request-duration histogram; ``+Inf`` is implicit."""

TTFT_BUCKETS: tuple[float, ...] = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the time-to-first-token histogram; ``+Inf`` is implicit."""


class Histogram:
    """A cumulative histogram with fixed upper bounds (Prometheus semantics)."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        ordered = tuple(float(b) for b in bounds)
        if not ordered or any(b <= a for a, b in zip(ordered, ordered[1:])) or not all(map(math.isfinite, ordered)):
            raise ValueError("histogram bounds must be finite and strictly increasing")
        self.bounds = ordered
        self.counts = [0] * (len(ordered) + 1)  # the last slot is +Inf
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Add one observation (NaN is ignored)."""
        if math.isnan(value):
            return
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value

    def cumulative(self) -> list[tuple[float, int]]:
        """``(upper bound, observations <= bound)`` pairs, ending with ``(inf, count)``."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, math.inf), self.counts):
            running += n
            out.append((bound, running))
        return out

    def snapshot(self) -> dict[str, Any]:
        """``{"count", "sum", "buckets": [[le, cumulative count], …]}`` (``le`` of the
        last bucket is the string ``"+Inf"``)."""
        buckets: list[list[Any]] = [[bound if math.isfinite(bound) else "+Inf", n] for bound, n in self.cumulative()]
        return {"count": self.count, "sum": self.sum, "buckets": buckets}


class _TargetMetrics:
    __slots__ = (
        "breaker_state",
        "breaker_transitions",
        "cache_read_tokens",
        "cache_write_tokens",
        "cancelled",
        "cost_usd",
        "errors",
        "failovers",
        "in_flight",
        "input_tokens",
        "latency",
        "model",
        "output_tokens",
        "provider",
        "rejected",
        "requests",
        "retries",
        "successes",
        "ttft",
    )

    def __init__(self, provider: str, model: str, latency: Sequence[float], ttft: Sequence[float]) -> None:
        self.provider = provider
        self.model = model
        self.requests = 0
        self.successes = 0
        self.cancelled = 0
        self.in_flight = 0
        self.errors: dict[str, int] = {}
        self.rejected = 0
        self.retries = 0
        self.failovers = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_read_tokens = 0
        self.cache_write_tokens = 0
        self.cost_usd = 0.0
        self.latency = Histogram(latency)
        self.ttft = Histogram(ttft)
        self.breaker_state = "closed"
        self.breaker_transitions: dict[str, int] = {}

    def snapshot(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "requests": self.requests,
            "successes": self.successes,
            "errors": dict(self.errors),
            "cancelled": self.cancelled,
            "in_flight": self.in_flight,
            "rejected": self.rejected,
            "retries": self.retries,
            "failovers": self.failovers,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cache_read_tokens": self.cache_read_tokens,
            "cache_write_tokens": self.cache_write_tokens,
            "cost_usd": self.cost_usd,
            "latency": self.latency.snapshot(),
            "ttft": self.ttft.snapshot(),
            "breaker_state": self.breaker_state,
            "breaker_transitions": dict(self.breaker_transitions),
        }


class ProviderMetrics:
    """Counters and histograms per ``provider/model`` (see the module docstring).

    One instance may be shared by several managers (their counts add up). The
    ``record_*`` methods are what the manager calls; they are public so custom
    dispatchers can feed the same metrics.
    """

    def __init__(
        self,
        *,
        latency_buckets: Sequence[float] = LATENCY_BUCKETS,
        ttft_buckets: Sequence[float] = TTFT_BUCKETS,
    ) -> None:
        # Validate once, here, rather than on each target's first use.
        Histogram(latency_buckets)
        Histogram(ttft_buckets)
        self._latency_buckets = tuple(latency_buckets)
        self._ttft_buckets = tuple(ttft_buckets)
        self._targets: dict[tuple[str, str], _TargetMetrics] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ProviderMetrics targets={len(self._targets)}>"

    def _get(self, provider: str, model: str) -> _TargetMetrics:
        entry = self._targets.get((provider, model))
        if entry is None:
            entry = _TargetMetrics(provider, model, self._latency_buckets, self._ttft_buckets)
            self._targets[(provider, model)] = entry
        return entry

    # -- recording -------------------------------------------------------------------

    def record_request(self, provider: str, model: str, *, retry: bool = False) -> None:
        """An attempt was sent (``retry``: after a backoff)."""
        with self._lock:
            entry = self._targets.get((provider, model))
            if entry is None:
                entry = self._get(provider, model)
            entry.requests += 1
            entry.in_flight += 1
            if retry:
                entry.retries += 1

    def record_success(
        self,
        provider: str,
        model: str,
        *,
        latency: Optional[float] = None,
        ttft: Optional[float] = None,
        usage: Optional[Usage] = None,
        cost: Optional[float] = None,
    ) -> None:
        """An attempt succeeded (a stream: it ended cleanly or the caller stopped reading)."""
        with self._lock:
            entry = self._targets.get((provider, model))
            if entry is None:
                entry = self._get(provider, model)
            entry.successes += 1
            in_flight = entry.in_flight - 1
            entry.in_flight = in_flight if in_flight > 0 else 0
            if latency is not None:
                entry.latency.observe(latency)
            if ttft is not None:
                entry.ttft.observe(ttft)
            if usage is not None:
                self._add_usage(entry, usage)
            if cost is not None:
                entry.cost_usd += cost

    def record_error(
        self,
        provider: str,
        model: str,
        error: BaseException,
        *,
        latency: Optional[float] = None,
        usage: Optional[Usage] = None,
        cost: Optional[float] = None,
    ) -> None:
        """An attempt failed with ``error`` (a stream may have delivered tokens first:
        their ``usage`` still counts)."""
        name = type(error).__name__
        with self._lock:
            entry = self._get(provider, model)
            entry.errors[name] = entry.errors.get(name, 0) + 1
            entry.in_flight = max(0, entry.in_flight - 1)
            if latency is not None:
                entry.latency.observe(latency)
            if usage is not None:
                self._add_usage(entry, usage)
            if cost is not None:
                entry.cost_usd += cost

    def record_cancelled(self, provider: str, model: str) -> None:
        """An attempt was abandoned by its caller (cancellation) before an outcome."""
        with self._lock:
            entry = self._get(provider, model)
            entry.cancelled += 1
            entry.in_flight = max(0, entry.in_flight - 1)

    def record_rejected(self, provider: str, model: str) -> None:
        """An attempt was refused by the target's open circuit breaker (never sent)."""
        with self._lock:
            self._get(provider, model).rejected += 1

    def record_failover(self, provider: str, model: str) -> None:
        """A request moved on from this target to the next one."""
        with self._lock:
            self._get(provider, model).failovers += 1

    def record_breaker_state(self, provider: str, model: str, state: str) -> None:
        """The target's circuit breaker changed to ``state``."""
        with self._lock:
            entry = self._get(provider, model)
            entry.breaker_state = state
            entry.breaker_transitions[state] = entry.breaker_transitions.get(state, 0) + 1

    @staticmethod
    def _add_usage(entry: _TargetMetrics, usage: Usage) -> None:
        entry.input_tokens += usage.input_tokens
        entry.output_tokens += usage.output_tokens
        entry.cache_read_tokens += usage.cache_read_tokens
        entry.cache_write_tokens += usage.cache_write_tokens

    # -- reading -------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Every target's counters as plain data: ``{"targets": {"provider/model": {…}}}``."""
        with self._lock:
            targets = {f"{p}/{m}": entry.snapshot() for (p, m), entry in sorted(self._targets.items())}
        return {"targets": targets}

    def target(self, key: str) -> dict[str, Any]:
        """One target's counters (``"provider/model"``); zeros if never seen."""
        provider, _, model = key.partition("/")
        with self._lock:
            entry = self._targets.get((provider, model))
            if entry is None:
                entry = _TargetMetrics(provider, model, self._latency_buckets, self._ttft_buckets)
            return entry.snapshot()

    def reset(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self._targets.clear()

    # -- Prometheus ----------------------------------------------------------------------

    def to_prometheus(self, registry: Any = None) -> PrometheusCollector:
        """Register a collector of these metrics with a ``prometheus_client`` registry
        (the default ``REGISTRY`` when ``None``) and return it.

        Series (labels ``provider``, ``model``): ``tokenwire_requests_total``,
        ``tokenwire_successes_total``, ``tokenwire_errors_total`` (+ ``error``),
        ``tokenwire_cancelled_total``, ``tokenwire_rejected_total``,
        ``tokenwire_retries_total``, ``tokenwire_failovers_total``,
        ``tokenwire_tokens_total`` (+ ``kind``: input, output, cache_read,
        cache_write), ``tokenwire_cost_usd_total``, ``tokenwire_in_flight``,
        ``tokenwire_request_duration_seconds`` and
        ``tokenwire_time_to_first_token_seconds`` (histograms), and
        ``tokenwire_breaker_state`` (+ ``state``; 1 for the current one).
        Needs the ``prometheus`` extra (``pip install tokenwire[prometheus]``).
        """
        collector = _collector(self)
        target = registry if registry is not None else _prometheus().REGISTRY
        target.register(collector)
        return collector

    def prometheus_text(self) -> str:
        """The Prometheus text exposition of these metrics alone (for a ``/metrics``
        handler or a log line). Needs the ``prometheus`` extra."""
        prom = _prometheus()
        registry = prom.CollectorRegistry(auto_describe=False)
        registry.register(_collector(self))
        text: bytes = prom.generate_latest(registry)
        return text.decode("utf-8")


def _prometheus() -> Any:
    try:
        import prometheus_client
    except ImportError as exc:  # pragma: no cover - exercised without the extra
        from tokenwire.errors import ConfigurationError

        raise ConfigurationError(
            "Prometheus export needs prometheus-client: pip install 'tokenwire[prometheus]'"
        ) from exc
    return prometheus_client


def _collector(metrics: ProviderMetrics) -> PrometheusCollector:
    _prometheus()  # fail early, with the install hint, when the extra is missing
    return PrometheusCollector(metrics)


class PrometheusCollector:
    """A ``prometheus_client`` custom collector reading a :class:`ProviderMetrics`
    snapshot at every scrape (see :meth:`ProviderMetrics.to_prometheus`)."""

    def __init__(self, source: ProviderMetrics) -> None:
        self.source = source

    def describe(self) -> Iterator[Any]:
        # Label values are dynamic: describing nothing means registering never scrapes.
        return iter(())

    def collect(self) -> Iterator[Any]:
        """The metric families of the current snapshot."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        targets: dict[str, dict[str, Any]] = self.source.snapshot()["targets"]
        rows = list(targets.values())
        labels = ["provider", "model"]

        for name, doc, field in (
            ("tokenwire_requests", "Attempts sent to the provider.", "requests"),
            ("tokenwire_successes", "Attempts that succeeded.", "successes"),
            ("tokenwire_cancelled", "Attempts abandoned by the caller.", "cancelled"),
            ("tokenwire_rejected", "Attempts refused by an open circuit breaker.", "rejected"),
            ("tokenwire_retries", "Attempts made after a backoff.", "retries"),
            ("tokenwire_failovers", "Requests that moved on to the next target.", "failovers"),
            ("tokenwire_cost_usd", "Cost of the reported usage, in USD.", "cost_usd"),
        ):
            family = CounterMetricFamily(name, doc, labels=labels)
            for t in rows:
                family.add_metric([t["provider"], t["model"]], t[field])
            yield family

        errors = CounterMetricFamily("tokenwire_errors", "Failed attempts by error class.", labels=[*labels, "error"])
        for t in rows:
            for error, n in sorted(t["errors"].items()):
                errors.add_metric([t["provider"], t["model"], error], n)
        yield errors

        tokens = CounterMetricFamily("tokenwire_tokens", "Tokens reported by the provider.", labels=[*labels, "kind"])
        for t in rows:
            for kind in ("input", "output", "cache_read", "cache_write"):
                tokens.add_metric([t["provider"], t["model"], kind], t[f"{kind}_tokens"])
        yield tokens

        in_flight = GaugeMetricFamily("tokenwire_in_flight", "Attempts in progress.", labels=labels)
        for t in rows:
            in_flight.add_metric([t["provider"], t["model"]], t["in_flight"])
        yield in_flight

        breaker = GaugeMetricFamily(
            "tokenwire_breaker_state", "Circuit breaker state (1 = current).", labels=[*labels, "state"]
        )
        for t in rows:
            for state in ("closed", "open", "half_open"):
                breaker.add_metric([t["provider"], t["model"], state], 1.0 if t["breaker_state"] == state else 0.0)
        yield breaker

        for name, doc, field in (
            ("tokenwire_request_duration_seconds", "Seconds from sending to the end of the answer.", "latency"),
            ("tokenwire_time_to_first_token_seconds", "Seconds from sending to the first token.", "ttft"),
        ):
            histogram = HistogramMetricFamily(name, doc, labels=labels)
            for t in rows:
                hist = t[field]
                buckets = [(_le(le), n) for le, n in hist["buckets"]]
                histogram.add_metric([t["provider"], t["model"]], buckets, hist["sum"])
            yield histogram


def _le(bound: Any) -> str:
    return "+Inf" if bound == "+Inf" else repr(float(bound))
