"""``ProviderManager``: providers, routes, and the resilience around every call.

The manager holds provider instances (built lazily from a
:class:`~tokenwire.registry.ProviderRegistry`, or registered ready-made), named
:class:`~tokenwire.manager.routing.Route`\\ s, and per target the resilience parts of
:mod:`tokenwire.resilience`. A request names its destination in ``request.model`` —
``"provider/model"``, ``"route:NAME"``, a bare route name, or a bare model of the
default provider (see :mod:`tokenwire.manager.routing`).

**One attempt** on target ``provider/model``:

1. the target's :class:`~tokenwire.resilience.CircuitBreaker` (key ``provider/model``)
   is consulted first: an open breaker refuses at once with
   :class:`~tokenwire.errors.CircuitOpenError` (nothing is queued or sent);
2. ``limiter.acquire(estimate)`` on the target's
   :class:`~tokenwire.resilience.AdaptiveRateLimiter` waits its fair turn, the
   estimate being the prompt's local token estimate plus ``max_tokens`` (computed only
   while the limiter meters tokens);
3. ``breaker.acquire()`` takes the call's permit (a half-open probe slot, maybe);
4. the provider call. A success reports to the breaker, settles the limiter permit
   with the real usage, feeds the response's rate-limit headers to the limiter (a
   stream's as soon as it starts; a non-streaming response's through an httpx response
   hook scoped to the call with a context variable), and records latency, metrics and
   the span. A failure reports to the breaker (which decides whether it counts), gives
   the unused token estimate back, and on a 429 cuts the limiter's rate and pauses it
   for the provider's ``retry-after``.

**Retries and failover.** The targets of a request are ordered by the route's
strategy; unhealthy providers' targets are skipped (unless all are), and targets
whose breaker is open or whose limiter would make the request wait move behind the
ready ones. A *round* tries them in that order: an error that is retryable
(:func:`~tokenwire.resilience.is_retryable`: 408/409/429/5xx/529, connection errors,
timeouts) or a :class:`~tokenwire.errors.CircuitOpenError` moves the request to the
next target at once (a *failover*); any other error (400, 401, 404, out of credit…)
is raised at once. When a round is exhausted the :class:`~tokenwire.resilience.RetryPolicy`
decides: it waits (the provider's ``retry-after`` if given, else full-jitter backoff)
and starts a new round, or gives up and raises the round's most informative error
(a retryable one rather than a breaker refusal). With a single target this is the
plain retry loop of the official SDKs. A stream is retried and failed over until its
first token is ready and never after (:mod:`tokenwire.manager.stream`).

**Rate-limit scope.** One limiter per ``provider/model`` by default: OpenAI, Azure
(per deployment), Anthropic, Gemini, Groq and most others meter each model separately,
and the rate-limit headers of a response describe that model's bucket. Providers with
one account-wide quota take ``limiter_scope={"name": "provider"}`` (or
``limiter_scope="provider"`` for all).

**Health.** :meth:`ProviderManager.run_health_monitor` runs a
:class:`~tokenwire.manager.health.HealthMonitor` in a task group for the duration of
an ``async with`` block (``async with ProviderManager(health_interval=30)`` does the
same for the manager's lifetime).

**Shared state.** With ``shared_state=`` a :class:`~tokenwire.resilience.SharedState`
(Redis), every limiter keeps its buckets there and every breaker is bound to it, so
all the processes configured alike share one quota per limiter key and see each
other's breaker openings: step 1 above first syncs the target's breaker (a read cached
for a fraction of a second), and ``async with manager`` also runs a background task
keeping every breaker in step. ``aclose`` writes what is queued and closes the Redis
connections (see :mod:`tokenwire.resilience.shared`).

Not thread-safe: a manager belongs to one event loop (the sync
:class:`~tokenwire.Client` runs its manager on its own loop thread).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncGenerator, Awaitable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Callable, Optional, TypeVar, Union

import anyio
import httpx

from tokenwire._http import Timeouts
from tokenwire.errors import CircuitOpenError, ConfigurationError
from tokenwire.manager._attempt import (
    AnyRequest,
    Attempt,
    Call,
    EventKind,
    Lease,
    ManagerEvent,
    Operation,
    meters_tokens,
)
from tokenwire.manager.health import HealthMonitor, HealthState, HealthTable
from tokenwire.manager.metrics import ProviderMetrics
from tokenwire.manager.prices import CatalogPrices
from tokenwire.manager.routing import (
    ROUTE_PREFIX,
    LatencyTracker,
    PriceLookup,
    Route,
    Target,
    split_model,
)
from tokenwire.manager.stream import ManagedStream, StreamFactory
from tokenwire.manager.telemetry import Tracing
from tokenwire.providers.base import ChatStream, Provider
from tokenwire.registry import ProviderRegistry
from tokenwire.resilience.breaker import BreakerConfig, BreakerPermit, BreakerState, CircuitBreaker
from tokenwire.resilience.clock import Clock
from tokenwire.resilience.limiter import AdaptiveRateLimiter, LimiterConfig, Permit
from tokenwire.resilience.retry import RetryPolicy, RetryState, is_retryable
from tokenwire.resilience.shared import SharedState
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    CompletionResponse,
    HealthStatus,
    ModelInfo,
    StreamToken,
    Usage,
)

__all__ = ["BreakerFactory", "EventListener", "LimiterFactory", "ProviderManager"]

_T = TypeVar("_T")
_M = TypeVar("_M", bound="ProviderManager")
# Stands in for a span context when tracing is off (reusable: it holds nothing).
_NO_SPAN: contextlib.nullcontext[None] = contextlib.nullcontext()

logger = logging.getLogger("tokenwire.manager")

# How many "provider/model" addresses ProviderManager._resolve remembers.
_DIRECT_CACHE_SIZE = 1024

#: Called with every :class:`ManagerEvent`.
EventListener = Callable[[ManagerEvent], None]

#: Builds the breaker of one target: ``(key, config, clock) -> CircuitBreaker``.
BreakerFactory = Callable[[str, BreakerConfig, Clock], CircuitBreaker]

#: Builds one limiter: ``(key, config, clock) -> AdaptiveRateLimiter``.
LimiterFactory = Callable[[str, LimiterConfig, Clock], AdaptiveRateLimiter]

LimiterScope = str  # "model" | "provider"

# The headers of the last HTTP response of a non-streaming call, captured by an httpx
# response hook. A context variable keeps concurrent calls on one client apart.
_response_headers: ContextVar[Optional[list[httpx.Headers]]] = ContextVar(
    "tokenwire_manager_response_headers", default=None
)


async def _capture_headers(response: httpx.Response) -> None:
    sink = _response_headers.get()
    if sink is not None:
        sink.append(response.headers)


def _install_header_hook(provider: Provider) -> None:
    hooks = provider.http_client.event_hooks["response"]
    if _capture_headers not in hooks:
        hooks.append(_capture_headers)


def _is_failover_error(error: BaseException) -> bool:
    return isinstance(error, CircuitOpenError) or is_retryable(error)


class ProviderManager:
    """Providers, routes, health and metrics, with limiter + breaker + retry per target.

    See the module docstring for the request flow. Arguments:

    - ``registry``: where provider names come from (default: the process registry);
    - ``providers``: constructor options per provider name (``{"openai": {"api_key":
      …}}``); names not listed are built with defaults (credentials from the
      environment); ``default_provider`` lets bare model names through; ``timeouts``
      applies to providers built here;
    - ``retry``: the :class:`~tokenwire.resilience.RetryPolicy` (default: 2 retries,
      full jitter, provider delays honored);
    - ``breaker_config`` and ``breaker_configs`` (per ``"provider/model"`` or provider
      name): :class:`~tokenwire.resilience.BreakerConfig`\\ s;
    - ``limiter_config`` and ``limiter_configs`` (per limiter key — ``"provider/model"``
      or provider name): :class:`~tokenwire.resilience.LimiterConfig`\\ s;
      ``limiter_scope``: ``"model"`` (default) or ``"provider"``, or a mapping from
      provider name to either;
    - ``breaker_factory`` / ``limiter_factory``: build the breakers and limiters
      (``(key, config, clock) -> instance``) — e.g. ones whose state lives in a shared
      store; default: the in-process classes;
    - ``shared_state``: a :class:`~tokenwire.resilience.SharedState` (Redis) holding
      every limiter's buckets and every breaker's openings, shared by all processes
      using it (see the module docstring); not combined with ``limiter_factory``
      (breakers from ``breaker_factory`` are bound to it);
    - ``clock``: the :class:`~tokenwire.resilience.Clock` of every breaker, limiter,
      retry wait, latency measurement and health interval (the retry policy is rebound
      to it; default: the policy's clock, a :class:`~tokenwire.resilience.SystemClock`);
    - ``price_lookup``: ``(provider, model) -> (input, output) USD per million tokens |
      None`` — used by the ``cheapest`` strategy (unpriced targets rank last) and for
      cost metrics (input and output at those prices); default: the packaged catalog
      (:class:`~tokenwire.manager.prices.CatalogPrices`), whose cost metrics follow
      Roo-Code's formula per provider (cache tokens and tiers included); see also
      :func:`~tokenwire.manager.routing.prices_from_models`;
    - ``metrics``: the :class:`~tokenwire.manager.metrics.ProviderMetrics` to record into;
    - ``tracer``: OpenTelemetry — ``None`` automatic, ``True``, ``False`` or a tracer
      (see :mod:`tokenwire.manager.telemetry`);
    - ``latency_alpha``: EWMA weight of the ``least_latency`` strategy (0.3);
    - ``health_interval`` / ``health_timeout``: run the health monitor while the
      manager is used as ``async with`` (off by default).

    ``async with manager`` runs the background work (:meth:`run_background`); leaving
    it, or :meth:`aclose`, stops it and closes connections.
    """

    def __init__(
        self,
        registry: Optional[ProviderRegistry] = None,
        *,
        providers: Optional[Mapping[str, Mapping[str, Any]]] = None,
        default_provider: Optional[str] = None,
        timeouts: Optional[Timeouts] = None,
        retry: Optional[RetryPolicy] = None,
        breaker_config: Optional[BreakerConfig] = None,
        breaker_configs: Optional[Mapping[str, BreakerConfig]] = None,
        limiter_config: Optional[LimiterConfig] = None,
        limiter_configs: Optional[Mapping[str, LimiterConfig]] = None,
        limiter_scope: Union[LimiterScope, Mapping[str, LimiterScope]] = "model",
        breaker_factory: Optional[BreakerFactory] = None,
        limiter_factory: Optional[LimiterFactory] = None,
        shared_state: Optional[SharedState] = None,
        clock: Optional[Clock] = None,
        price_lookup: Optional[PriceLookup] = None,
        metrics: Optional[ProviderMetrics] = None,
        tracer: Union[bool, Any, None] = None,
        latency_alpha: float = 0.3,
        health_interval: Optional[float] = None,
        health_timeout: float = 10.0,
    ) -> None:
        self._registry = registry if registry is not None else ProviderRegistry.default()
        policy = retry if retry is not None else RetryPolicy()
        self.clock: Clock = clock if clock is not None else policy.clock
        if policy.clock is not self.clock:
            policy = dataclasses.replace(policy, clock=self.clock)
        self.retry: RetryPolicy = policy
        self.breaker_config = breaker_config if breaker_config is not None else BreakerConfig()
        self.breaker_configs: dict[str, BreakerConfig] = dict(breaker_configs or {})
        self.limiter_config = limiter_config if limiter_config is not None else LimiterConfig()
        self.limiter_configs: dict[str, LimiterConfig] = dict(limiter_configs or {})
        scopes = [limiter_scope] if isinstance(limiter_scope, str) else list(limiter_scope.values())
        for scope in scopes:
            if scope not in ("model", "provider"):
                raise ValueError(f"limiter_scope must be 'model' or 'provider', got {scope!r}")
        self._limiter_scope = limiter_scope
        self._breaker_factory = breaker_factory
        self._limiter_factory = limiter_factory
        if shared_state is not None and limiter_factory is not None:
            raise ValueError(
                "shared_state builds the limiters on its shared buckets: pass shared_state or limiter_factory"
            )
        #: Where limits and breaker state are shared across processes (``None``: nowhere).
        self.shared_state = shared_state
        # Default: the packaged catalog (loaded on first use), with Roo's cost formulas.
        self.price_lookup: PriceLookup = price_lookup if price_lookup is not None else CatalogPrices()
        self.metrics = metrics if metrics is not None else ProviderMetrics()
        self.tracing = Tracing(tracer)
        self.latency = LatencyTracker(latency_alpha)
        self.health_table = HealthTable()
        self.health_table.add_listener(self._on_health_change)
        self._timeouts = timeouts
        # name -> (registry name, options) for providers built lazily.
        self._sources: dict[str, tuple[str, dict[str, Any]]] = {}
        self._providers: dict[str, Provider] = {}
        self._retired: list[Provider] = []
        self._routes: dict[str, Route] = {}
        # "provider/model" address -> its Target (see _resolve).
        self._direct: dict[str, Target] = {}
        self._breakers: dict[str, CircuitBreaker] = {}
        self._limiters: dict[str, AdaptiveRateLimiter] = {}
        self._listeners: list[EventListener] = []
        self._default_provider: Optional[str] = None
        self._health_interval = health_interval
        self._health_timeout = health_timeout
        self._stack: Optional[contextlib.AsyncExitStack] = None
        for name, options in (providers or {}).items():
            self.register(name, options=options)
        if default_provider is not None:
            self.default_provider = default_provider
        if shared_state is not None:
            # Last: a constructor that fails above must not leave the state reserved.
            shared_state._claim(self)

    def __repr__(self) -> str:
        return (
            f"<ProviderManager providers={sorted(self.known_providers())} routes={sorted(self._routes)} "
            f"default={self._default_provider!r}>"
        )

    # -- providers ---------------------------------------------------------------------

    def register(
        self,
        provider: Union[str, Provider],
        *,
        name: Optional[str] = None,
        options: Optional[Mapping[str, Any]] = None,
        default: bool = False,
    ) -> str:
        """Add a provider and return the name it is addressed by.

        ``provider`` is a ready :class:`~tokenwire.providers.base.Provider` instance
        (addressed as ``name`` or its own ``.name``), or a registry name whose instance
        is built on first use with ``options`` — under ``name`` if given, so one
        provider can be registered twice with different accounts
        (``register("openai", name="openai-eu", options={...})``). ``default=True``
        makes it the default provider. Registering a name again replaces it (an
        instance already built is closed with the manager).
        """
        if isinstance(provider, Provider):
            if options:
                raise TypeError("options apply to providers built from the registry, not to an instance")
            key = name or provider.name
            _check_provider_name(key)
            self._retire(key)
            self._sources.pop(key, None)
            self._providers[key] = provider
        else:
            key = name or provider
            _check_provider_name(key)
            if provider not in self._registry:
                raise ConfigurationError(
                    f"unknown provider {provider!r}; registered providers: {', '.join(self._registry.names())}"
                )
            self._retire(key)
            self._sources[key] = (provider, dict(options or {}))
        if default:
            self._default_provider = key
        return key

    def _retire(self, name: str) -> None:
        old = self._providers.pop(name, None)
        if old is not None:
            self._retired.append(old)

    async def unregister(self, name: str, *, close: bool = True) -> None:
        """Remove provider ``name`` (and its breakers, limiters and health record);
        close its connection pool unless ``close=False``. Routes naming it keep their
        targets (they fail with ``ConfigurationError`` until it is registered again)."""
        known = name in self._providers or name in self._sources
        if not known:
            raise KeyError(name)
        provider = self._providers.pop(name, None)
        self._sources.pop(name, None)
        prefix = f"{name}/"
        if self.shared_state is not None:
            for key, breaker in self._breakers.items():
                if key.startswith(prefix):
                    self.shared_state.unbind(breaker)  # a later breaker for this key binds again
        for table in (self._breakers, self._limiters):
            for key in [k for k in table if k == name or k.startswith(prefix)]:
                del table[key]
        self.health_table.forget(name)
        if self._default_provider == name:
            self._default_provider = None
        if provider is not None and close:
            await provider.aclose()

    def provider(self, name: str) -> Provider:
        """The provider instance for ``name`` (built on first use, then reused).

        Names not registered explicitly are looked up in the registry and built with
        defaults (credentials from the environment); unknown names raise
        :class:`~tokenwire.errors.ConfigurationError`.
        """
        provider = self._providers.get(name)
        if provider is not None:
            return provider
        source = self._sources.get(name)
        if source is None:
            if name not in self._registry:
                raise ConfigurationError(
                    f"unknown provider {name!r}; registered providers: {', '.join(self.provider_names())}"
                )
            source = (name, {})
        registry_name, options = source
        options = dict(options)
        if self._timeouts is not None:
            options.setdefault("timeouts", self._timeouts)
        provider = self._registry.create(registry_name, **options)
        self._providers[name] = provider
        return provider

    def provider_names(self) -> list[str]:
        """Every name a provider can be addressed by: registered here or in the registry."""
        return sorted({*self._registry.names(), *self._sources, *self._providers})

    def known_providers(self) -> list[str]:
        """Providers this manager uses: built, registered, or named by a route."""
        names = {*self._providers, *self._sources}
        for route in self._routes.values():
            names.update(t.provider for t in route.targets)
        return sorted(names)

    @property
    def default_provider(self) -> Optional[str]:
        """The provider of bare model names (``None``: they are an error)."""
        return self._default_provider

    @default_provider.setter
    def default_provider(self, name: Optional[str]) -> None:
        if name is not None:
            _check_provider_name(name)
            if name not in self._providers and name not in self._sources and name not in self._registry:
                raise ConfigurationError(f"unknown provider {name!r}")
        self._default_provider = name

    # -- routes ------------------------------------------------------------------------

    def add_route(
        self,
        name: str,
        targets: Iterable[Union[str, Target]],
        strategy: str = "priority",
        *,
        weights: Optional[Sequence[float]] = None,
        replace: bool = False,
    ) -> Route:
        """Define route ``name`` over ``"provider/model"`` targets (see
        :mod:`tokenwire.manager.routing` for the strategies); address it as
        ``"route:NAME"`` or ``"NAME"``."""
        route = Route(name, targets, strategy, weights=weights)
        if name in self._routes and not replace:
            raise ValueError(f"route {name!r} already exists (pass replace=True to redefine it)")
        self._routes[name] = route
        return route

    def remove_route(self, name: str) -> None:
        """Delete route ``name`` (``KeyError`` if unknown)."""
        del self._routes[name]

    def route(self, name: str) -> Route:
        """Route ``name`` (``KeyError`` if unknown)."""
        return self._routes[name]

    @property
    def routes(self) -> dict[str, Route]:
        """Every route, by name (a copy)."""
        return dict(self._routes)

    def resolve(self, address: str) -> tuple[Optional[Route], list[Target]]:
        """``(route or None, its targets in route order)`` for a request address."""
        route, target = self._resolve(address)
        if route is not None:
            return route, list(route.targets)
        assert target is not None
        return None, [target]

    def _resolve(self, address: str) -> tuple[Optional[Route], Optional[Target]]:
        if address.startswith(ROUTE_PREFIX):
            name = address[len(ROUTE_PREFIX) :]
            route = self._routes.get(name)
            if route is None:
                known = ", ".join(sorted(self._routes)) or "none defined"
                raise ConfigurationError(f"unknown route {name!r} (routes: {known})")
            return route, None
        if "/" not in address:
            route = self._routes.get(address)
            if route is not None:
                return route, None
        target = self._direct.get(address)
        if target is None:
            provider, model = split_model(address, self._default_provider)
            target = Target(provider, model)
            if "/" in address:
                # "provider/model" means that target whatever the routes and the default
                # provider are: remember it (bounded: addresses come from callers).
                if len(self._direct) >= _DIRECT_CACHE_SIZE:
                    self._direct.clear()
                self._direct[address] = target
        return None, target

    # -- per-target resilience -------------------------------------------------------------

    def breaker(self, target: Union[str, Target]) -> CircuitBreaker:
        """The circuit breaker of ``target`` (``"provider/model"``), created on first use."""
        key = target.key if isinstance(target, Target) else target
        breaker = self._breakers.get(key)
        if breaker is None:
            provider = key.partition("/")[0]
            config = self.breaker_configs.get(key) or self.breaker_configs.get(provider) or self.breaker_config
            if self._breaker_factory is not None:
                breaker = self._breaker_factory(key, config, self.clock)
                breaker.add_listener(self._on_breaker_change)
            else:
                breaker = CircuitBreaker(key, config, clock=self.clock, listeners=(self._on_breaker_change,))
            if self.shared_state is not None:
                self.shared_state.bind(breaker)
            self._breakers[key] = breaker
        return breaker

    def limiter_key(self, target: Union[str, Target]) -> str:
        """The key of the limiter serving ``target``: ``"provider/model"`` or ``"provider"``."""
        resolved = target if isinstance(target, Target) else Target.parse(target)
        scope = self._limiter_scope
        if not isinstance(scope, str):
            scope = scope.get(resolved.provider, "model")
        return resolved.key if scope == "model" else resolved.provider

    def limiter(self, target: Union[str, Target]) -> AdaptiveRateLimiter:
        """The rate limiter serving ``target``, created on first use."""
        key = self.limiter_key(target)
        limiter = self._limiters.get(key)
        if limiter is None:
            provider = key.partition("/")[0]
            config = self.limiter_configs.get(key) or self.limiter_configs.get(provider) or self.limiter_config
            if self._limiter_factory is not None:
                limiter = self._limiter_factory(key, config, self.clock)
            elif self.shared_state is not None:
                limiter = self.shared_state.limiter(key, config, clock=self.clock)
            else:
                limiter = AdaptiveRateLimiter(key, config, clock=self.clock)
            self._limiters[key] = limiter
        return limiter

    def cost_of(self, target: Target, usage: Optional[Usage]) -> Optional[float]:
        """USD for ``usage`` on ``target``: the cost the provider reported with it
        (``usage.cost``: OpenRouter, Vercel AI Gateway, Glama, Claude Code), else the
        counts at the price lookup's prices (``None``: unknown)."""
        if usage is None:
            return None
        if usage.cost is not None:
            return float(usage.cost)
        lookup = self.price_lookup
        if isinstance(lookup, CatalogPrices):
            # The catalog prices a provider instance (Z.ai's regions differ) by its catalog name.
            provider = self._providers.get(target.provider)
            return lookup.cost(provider if provider is not None else target.provider, target.model, usage)
        prices = lookup(target.provider, target.model)
        if prices is None:
            return None
        return (prices[0] * usage.input_tokens + prices[1] * usage.output_tokens) / 1e6

    # -- health ------------------------------------------------------------------------

    def is_healthy(self, target: Union[str, Target]) -> bool:
        """Whether ``target``'s provider is considered healthy."""
        provider = target.provider if isinstance(target, Target) else target.partition("/")[0]
        return self.health_table.is_healthy(provider)

    def mark_unhealthy(self, provider: str, error: str = "marked unhealthy") -> None:
        """Take ``provider``'s targets out of routing until it is marked healthy again
        (by :meth:`mark_healthy` or passing health checks)."""
        status = HealthStatus(provider=provider, healthy=False, error=error)
        self.health_table.mark(provider, False, self.clock.now(), status)

    def mark_healthy(self, provider: str) -> None:
        """Put ``provider``'s targets back into routing."""
        self.health_table.mark(provider, True, self.clock.now())

    def health(self) -> dict[str, HealthState]:
        """What is known about each checked provider's health."""
        return self.health_table.snapshot()

    def health_monitor(self, **options: Any) -> HealthMonitor:
        """A :class:`~tokenwire.manager.health.HealthMonitor` over this manager (not started)."""
        return HealthMonitor(self, **options)

    @contextlib.asynccontextmanager
    async def run_health_monitor(
        self,
        interval: float = 30.0,
        *,
        timeout: float = 10.0,
        failure_threshold: int = 2,
        success_threshold: int = 1,
        providers: Optional[Iterable[str]] = None,
    ) -> AsyncGenerator[HealthMonitor, None]:
        """Run health checks every ``interval`` seconds while the block runs (the first
        round starts at once); the background task ends with the block."""
        monitor = HealthMonitor(
            self,
            interval=interval,
            timeout=timeout,
            failure_threshold=failure_threshold,
            success_threshold=success_threshold,
            providers=providers,
        )
        async with anyio.create_task_group() as group:
            await group.start(monitor.run)
            try:
                yield monitor
            finally:
                group.cancel_scope.cancel()

    async def check_health(self, *, timeout: float = 10.0) -> Mapping[str, HealthStatus]:
        """Run one round of health checks now (thresholds 1: one result decides)."""
        monitor = HealthMonitor(self, timeout=timeout, failure_threshold=1, success_threshold=1)
        return await monitor.check_now()

    # -- events ------------------------------------------------------------------------

    def add_listener(self, listener: EventListener) -> None:
        """Call ``listener(event)`` for every :class:`ManagerEvent` (retries, failovers,
        429s, breaker and health changes). Listeners run inline and must be quick; an
        exception from one is logged (``tokenwire.manager``) and otherwise ignored."""
        self._listeners.append(listener)

    def remove_listener(self, listener: EventListener) -> None:
        self._listeners.remove(listener)

    def emit(self, kind: EventKind, target: str, **fields: Any) -> None:
        """Send a :class:`ManagerEvent` to the listeners."""
        if not self._listeners:
            return
        event = ManagerEvent(kind, target, self.clock.now(), **fields)
        for listener in tuple(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not break requests or the monitor
                logger.exception("provider manager listener %r failed", listener)

    def _on_breaker_change(self, key: str, old: BreakerState, new: BreakerState, at: float) -> None:
        provider, _, model = key.partition("/")
        self.metrics.record_breaker_state(provider, model, new.value)
        self.emit("breaker", key, state=new.value, previous=old.value)

    def _on_health_change(self, provider: str, healthy: bool, status: Optional[HealthStatus]) -> None:
        self.emit("health", provider, state="healthy" if healthy else "unhealthy")

    # -- planning ------------------------------------------------------------------------

    def _order(self, call: Call) -> list[Target]:
        """The strategy's order for this request (advances round-robin)."""
        route = call.route
        if route is None:
            assert call.target is not None
            return [call.target]
        return route.order(latency=lambda t: self.latency.get(t.key), cost=lambda t: self._cost_rank(call, t))

    def _arrange(self, call: Call, order: list[Target]) -> list[Target]:
        """``order`` without unhealthy targets (unless all are), refusing or waiting
        targets moved behind the ready ones."""
        if len(order) == 1:
            return order
        table = self.health_table
        healthy = [t for t in order if table.is_healthy(t.provider)]
        if healthy:
            order = healthy
        if len(order) > 1:
            ready: list[Target] = []
            later: list[Target] = []
            for target in order:
                (later if self._blocked(call, target) else ready).append(target)
            order = ready + later
        return order

    def _cost_rank(self, call: Call, target: Target) -> Optional[float]:
        prices = self.price_lookup(target.provider, target.model)
        return None if prices is None else call.cost_estimate(prices)

    def _blocked(self, call: Call, target: Target) -> bool:
        """Whether ``target`` would refuse (open breaker) or make the request wait."""
        breaker = self._breakers.get(target.key)
        if breaker is not None and breaker.retry_at is not None:
            return True
        limiter = self._limiters.get(self.limiter_key(target))
        if limiter is None:
            return False
        tokens = call.token_estimate() if meters_tokens(limiter) else 0
        return limiter.estimate_wait(tokens) > 0.0

    # -- attempts --------------------------------------------------------------------------

    def _lease_now(self, call: Call, target: Target, *, retry: bool, index: int) -> Optional[Lease]:
        """The lease when nothing has to be awaited for it (the usual case): no shared
        state to sync, a breaker that lets the call through and a limiter that grants at
        once. Otherwise ``None``, with nothing taken: :meth:`_lease` does it in full."""
        if self.shared_state is not None:
            return None
        breaker = self.breaker(target)
        breaker_permit = breaker.allow()
        if breaker_permit is None:
            return None
        limiter = self.limiter(target)
        permit = limiter.try_acquire(call.token_estimate() if meters_tokens(limiter) else 0)
        if permit is None:
            breaker_permit.release()
            return None
        return self._granted(call, target, limiter, permit, breaker_permit, retry=retry, index=index)

    async def _lease(self, call: Call, target: Target, *, retry: bool, index: int) -> Lease:
        breaker = self.breaker(target)
        if self.shared_state is not None:
            # Adopt what other processes decided (cached: at most one read per cache_ttl).
            await self.shared_state.sync(breaker)
        if breaker.retry_at is not None:
            # Open: refuse before queueing in the limiter for a call that cannot be made.
            self.metrics.record_rejected(target.provider, target.model)
            breaker.acquire()
        limiter = self.limiter(target)
        permit = await limiter.acquire(call.token_estimate() if meters_tokens(limiter) else 0)
        try:
            breaker_permit = breaker.acquire()
        except CircuitOpenError:
            permit.cancel()
            self.metrics.record_rejected(target.provider, target.model)
            raise
        return self._granted(call, target, limiter, permit, breaker_permit, retry=retry, index=index)

    def _granted(
        self,
        call: Call,
        target: Target,
        limiter: AdaptiveRateLimiter,
        permit: Permit,
        breaker_permit: BreakerPermit,
        *,
        retry: bool,
        index: int,
    ) -> Lease:
        self.metrics.record_request(target.provider, target.model, retry=retry)
        span = None
        if self.tracing.enabled:
            span = self.tracing.start(
                call.operation,
                target.provider,
                target.model,
                call.request,
                base_url=self._base_url(target.provider),
                attempt=index,
                route=call.route.name if call.route is not None else None,
            )
        return Lease(self, call, target, limiter, permit, breaker_permit, span, self.clock.now(), index)

    def _base_url(self, provider: str) -> Optional[str]:
        if not self.tracing.enabled:
            return None
        try:
            return self.provider(provider).base_url
        except Exception:  # a provider whose base URL needs configuration it lacks
            return None

    async def _dispatch(
        self,
        call: Call,
        attempt: Callable[[Target, Lease], Awaitable[_T]],
        record: list[Attempt],
    ) -> _T:
        """Run ``attempt`` over the plan with failover and retries (module docstring).

        ``attempt`` reports success to the lease itself (a stream does so at its end);
        failures and cancellations are finished here.
        """
        if call.route is None:
            assert call.target is not None
            order = plan = [call.target]
        else:
            order = self._order(call)
            plan = self._arrange(call, order)
        policy = self.retry
        clock = self.clock
        # The retry budget counts from here (on the manager's clock: the first attempt's start).
        began = clock.now() if policy.clock is clock else policy.clock.now()
        # Made at the first failure: most requests succeed at once.
        state: Optional[RetryState] = None
        position = 0
        index = 0
        retry = False
        round_error: Optional[Exception] = None
        while True:
            target = plan[position]
            started = began if index == 0 and policy.clock is clock else clock.now()
            lease: Optional[Lease] = None
            try:
                lease = self._lease_now(call, target, retry=retry, index=index) or await self._lease(
                    call, target, retry=retry, index=index
                )
                result = await attempt(target, lease)
            except Exception as error:
                if lease is not None:
                    lease.fail(error)
                record.append(Attempt(target, error, started, clock.now() - started, retry))
                if not _is_failover_error(error):
                    raise
                if round_error is None or is_retryable(error):
                    round_error = error
                index += 1
                if position + 1 < len(plan):
                    next_target = plan[position + 1]
                    self.metrics.record_failover(target.provider, target.model)
                    self.emit("failover", target.key, error=error, next_target=next_target.key)
                    position += 1
                    retry = False
                    continue
                if state is None:
                    state = RetryState(policy, started_at=began)
                delay = state.next_delay(round_error)
                if delay is None:
                    if round_error is error:
                        raise
                    raise round_error from None
                self.emit("retry", plan[0].key, error=round_error, delay=delay)
                await clock.sleep(delay)
                # Breakers and limits changed during the round: arrange the order again.
                plan = self._arrange(call, order)
                position = 0
                retry = True
                round_error = None
                continue
            except BaseException:
                if lease is not None:
                    lease.abandon()
                raise
            record.append(Attempt(target, None, started, clock.now() - started, retry))
            return result

    def _call(self, request: AnyRequest, operation: Operation) -> Call:
        route, target = self._resolve(request.model)
        return Call(request.model, operation, request, route, target)

    async def _send(self, call: Call, send: Callable[[Provider, Any], Awaitable[_T]]) -> _T:
        async def attempt(target: Target, lease: Lease) -> _T:
            provider = self.provider(target.provider)
            _install_header_hook(provider)
            sink: list[httpx.Headers] = []
            token = _response_headers.set(sink)
            try:
                if lease.span is not None:
                    with self.tracing.use(lease.span):
                        result = await send(provider, call.request_for(target))
                else:
                    result = await send(provider, call.request_for(target))
            finally:
                _response_headers.reset(token)
            lease.succeed(
                usage=getattr(result, "usage", None),
                finish_reason=getattr(result, "finish_reason", None),
                request_id=getattr(result, "request_id", None),
                headers=sink[-1] if sink else None,
            )
            return result

        return await self._dispatch(call, attempt, [])

    def _dispatch_stream(
        self, call: Call, factory: StreamFactory, record: list[Attempt]
    ) -> Awaitable[tuple[ChatStream, list[StreamToken], Lease]]:
        # Not a coroutine itself: the caller awaits _dispatch's directly, one frame
        # fewer for each of the stream's start-up wake-ups to pass through.
        clock = self.clock

        async def attempt(target: Target, lease: Lease) -> tuple[ChatStream, list[StreamToken], Lease]:
            provider = self.provider(target.provider)
            stream = factory(provider, call.request_for(target))
            try:
                with self.tracing.use(lease.span) if lease.span is not None else _NO_SPAN:
                    # Open it and read up to its first token, through the stream's own
                    # iterator (the rest of the stream continues in it).
                    await stream.start()
                    lease.observe_headers(stream.headers)
                    try:
                        batch = [await stream.__anext__()]
                    except StopAsyncIteration:
                        batch = []  # an empty stream
            except BaseException:
                # Release the connection even when the caller is being cancelled.
                with anyio.CancelScope(shield=True):
                    await stream.aclose()
                raise
            lease.first_token_at = clock.now()
            return stream, batch, lease

        return self._dispatch(call, attempt, record)

    # -- the public calls ----------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> ChatResponse:
        """Send a chat to ``request.model`` (an address) and return the whole answer,
        with retries and failover."""
        return await self._chat_at(self._call(request, "chat"))

    def chat_stream(self, request: ChatRequest) -> ManagedStream:
        """Stream a chat from ``request.model`` (an address): ``async with
        manager.chat_stream(req) as stream: async for token in stream``. Addresses are
        resolved now (a bad one raises here); the request is sent by ``start()``."""
        return self._chat_stream_at(self._call(request, "chat"))

    # The clients build each request for its destination at once: a request addressed to
    # one target carries that target's model id (nothing to rebuild per attempt).

    def _addressed(self, address: str) -> tuple[Optional[Route], Optional[Target], str]:
        """``address`` resolved, and the model id a request to it should carry."""
        route, target = self._resolve(address)
        return route, target, target.model if target is not None else address

    async def _chat_at(self, call: Call) -> ChatResponse:
        return await self._send(call, _provider_chat)

    def _chat_stream_at(self, call: Call) -> ManagedStream:
        return ManagedStream(self, call, _provider_chat_stream)

    async def _complete_at(self, call: Call) -> CompletionResponse:
        return await self._send(call, _provider_complete)

    def _complete_stream_at(self, call: Call) -> ManagedStream:
        return ManagedStream(self, call, _provider_complete_stream)

    async def complete(self, request: CompletionRequest) -> CompletionResponse:
        """Complete a plain prompt at ``request.model`` (an address)."""
        return await self._complete_at(self._call(request, "text_completion"))

    def complete_stream(self, request: CompletionRequest) -> ManagedStream:
        """Stream the completion of a plain prompt (see :meth:`chat_stream`)."""
        return self._complete_stream_at(self._call(request, "text_completion"))

    async def count_tokens(self, request: ChatRequest) -> int:
        """Input tokens of ``request`` as its target's provider counts them (a route
        counts with its first healthy target). No retries: counting is advisory."""
        return await self._count_tokens_at(self._call(request, "chat"))

    async def _count_tokens_at(self, call: Call) -> int:
        if call.route is not None:
            targets = call.route.targets
            target = next((t for t in targets if self.health_table.is_healthy(t.provider)), targets[0])
        else:
            assert call.target is not None
            target = call.target
        return await self.provider(target.provider).count_tokens(call.request_for(target))

    async def list_models(self, provider: str, *, refresh: bool = False) -> list[ModelInfo]:
        """The models ``provider`` offers, merged with the packaged catalog (which fills
        context windows and prices the endpoint leaves out) and cached for ten minutes;
        ``refresh=True`` bypasses the cache."""
        from tokenwire import catalog

        return await catalog.list_models(self.provider(provider), refresh=refresh)

    # -- introspection -------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """Plain data about everything: metrics, breakers, limiters, health, latency."""
        breakers = {}
        for key, breaker in sorted(self._breakers.items()):
            stats = breaker.stats()
            breakers[key] = {
                "state": stats.state.value,
                "failure_rate": stats.failure_rate,
                "calls": stats.calls,
                "failures": stats.failures,
                "opened_count": stats.opened_count,
                "retry_at": stats.retry_at,
            }
        limiters = {}
        for key, limiter in sorted(self._limiters.items()):
            lstats = limiter.stats()
            limiters[key] = {
                "requests_limit": lstats.requests.limit,
                "requests_available": lstats.requests.available,
                "tokens_limit": lstats.tokens.limit,
                "tokens_available": lstats.tokens.available,
                "waiters": lstats.waiters,
                "paused_until": lstats.paused_until,
                "granted": lstats.granted,
                "rate_limited": lstats.rate_limited,
            }
        health = {
            name: {
                "healthy": state.healthy,
                "consecutive_failures": state.consecutive_failures,
                "checks": state.checks,
                "error": state.last_status.error if state.last_status is not None else None,
            }
            for name, state in sorted(self.health_table.snapshot().items())
        }
        return {
            "metrics": self.metrics.snapshot(),
            "breakers": breakers,
            "limiters": limiters,
            "health": health,
            "latency_ewma": self.latency.snapshot(),
        }

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def has_background_work(self) -> bool:
        """Whether :meth:`run_background` has anything to run."""
        return self._health_interval is not None or self.shared_state is not None

    @contextlib.asynccontextmanager
    async def run_background(self) -> AsyncGenerator[None, None]:
        """Run the manager's background tasks while the block runs: the health monitor
        (with ``health_interval``) and the shared-state sync (with ``shared_state``).
        ``async with manager`` does this for the manager's lifetime."""
        async with contextlib.AsyncExitStack() as stack:
            if self._health_interval is not None:
                await stack.enter_async_context(
                    self.run_health_monitor(self._health_interval, timeout=self._health_timeout)
                )
            if self.shared_state is not None:
                await stack.enter_async_context(self.shared_state.syncing())
            yield

    async def __aenter__(self: _M) -> _M:
        if self.has_background_work:
            stack = contextlib.AsyncExitStack()
            await stack.__aenter__()
            try:
                await stack.enter_async_context(self.run_background())
            except BaseException:
                await stack.aclose()
                raise
            self._stack = stack
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the background tasks (if ``async with`` started them), close every
        provider's connection pool, and write what the shared state still has queued
        and close its connections. Idempotent; the manager stays usable (providers
        are built again on their next request, Redis is reconnected)."""
        stack, self._stack = self._stack, None
        try:
            if stack is not None:
                await stack.aclose()
        finally:
            # Instances stay registered: a provider builds a new pool on its next request.
            providers = [*self._providers.values(), *self._retired]
            self._retired = []
            try:
                for provider in providers:
                    with anyio.CancelScope(shield=True):
                        await provider.aclose()
            finally:
                if self.shared_state is not None:
                    with anyio.CancelScope(shield=True):
                        await self.shared_state.aclose()


def _check_provider_name(name: str) -> None:
    if not name or "/" in name or name.startswith(ROUTE_PREFIX):
        raise ValueError(f"invalid provider name {name!r} (non-empty, no '/', not starting with 'route:')")


async def _provider_chat(provider: Provider, request: ChatRequest) -> ChatResponse:
    return await provider.chat(request)


async def _provider_complete(provider: Provider, request: CompletionRequest) -> CompletionResponse:
    return await provider.complete(request)


def _provider_chat_stream(provider: Provider, request: Any) -> ChatStream:
    return provider.chat_stream(request)


def _provider_complete_stream(provider: Provider, request: Any) -> ChatStream:
    return provider.complete_stream(request)
