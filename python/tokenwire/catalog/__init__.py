"""The model catalog: limits, features and prices of every model Roo-Code lists, and cost.

The data (``models.json`` next to this module) is generated from Roo-Code's model
tables (``packages/types/src/providers/*.ts`` at the reference commit) by
``scripts/gen_catalog.py``: context window, max output, image / prompt-cache /
reasoning support, prices per million tokens (input, output, cache write, cache read)
and tiered prices (long-context tiers, OpenAI service tiers). It is read on the first
call that needs it, never at ``import tokenwire``.

Catalog names are tokenwire's provider names, plus ``zai-china`` for Z.ai's mainland
China API lines (which Roo prices separately). Providers whose models Roo fetches live
(OpenRouter, Requesty, Glama, Unbound, LiteLLM, DeepInfra, Vercel AI Gateway, LM
Studio, Ollama) are *dynamic*: the catalog holds Roo's default model for them; a few
providers have no Roo table at all (``azure-openai``, ``huggingface``, ``perplexity``)
and are dynamic with no models.

Cost (:func:`cost`, :func:`cost_breakdown`) reproduces Roo-Code's formulas, with the
convention Roo applies to each provider — see :mod:`tokenwire.catalog._cost` and
:func:`pricing_rule`. A cost the provider reported (:attr:`Usage.cost
<tokenwire.types.Usage.cost>`: OpenRouter, Vercel AI Gateway, Glama, Claude Code) is what
:func:`cost` returns, as Roo shows it; :func:`cost_breakdown` always prices the counts.

``merge_models`` fills the gaps of a live model list from the catalog, and
:func:`list_models` is a provider's ``list_models()`` merged with the catalog and cached
for a TTL (:class:`ModelListCache`).
"""

from __future__ import annotations

import json
import sys
import threading
import time
import weakref
from collections.abc import Awaitable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol, Union

from tokenwire.catalog._cost import (
    CONVENTIONS,
    RULES,
    Convention,
    CostBreakdown,
    PricingRule,
    compute,
    pricing_rule,
)
from tokenwire.types import ModelInfo

if TYPE_CHECKING:
    from tokenwire.providers.base import Provider
    from tokenwire.types import Usage

__all__ = [
    "DATA_FILE",
    "RULES",
    "CatalogModel",
    "Convention",
    "CostBreakdown",
    "ModelListCache",
    "PricingRule",
    "PricingTier",
    "ProviderCatalog",
    "catalog_key",
    "cost",
    "cost_breakdown",
    "entry",
    "list_models",
    "merge_models",
    "model_info",
    "models",
    "owner",
    "pricer",
    "pricing_rule",
    "provider_catalog",
    "providers",
    "tiers",
]

_SLOTS: dict[str, bool] = {"slots": True} if sys.version_info >= (3, 10) else {}

DATA_FILE = Path(__file__).resolve().with_name("models.json")
"""The packaged catalog data."""

# Catalog names that are not registry names: the provider they belong to.
_REGISTRY_NAME = {"zai-china": "zai"}
_ZAI_CHINA_REGIONS = frozenset({"china", "china_coding"})


@dataclass(frozen=True, **_SLOTS)
class PricingTier:
    """Prices that replace a model's base prices.

    Unnamed tiers are long-context tiers: Gemini and Vertex pick the first whose
    ``context_window`` holds the prompt (``None``: no upper bound); Anthropic's single
    tier is the 1M-context price. Named tiers are OpenAI service tiers (``flex``,
    ``priority``). A ``None`` price keeps the base price.
    """

    context_window: Optional[int]
    name: Optional[str] = None
    input_price: Optional[float] = None
    output_price: Optional[float] = None
    cache_write_price: Optional[float] = None
    cache_read_price: Optional[float] = None


@dataclass(frozen=True, **_SLOTS)
class CatalogModel:
    """A catalog entry: the :class:`~tokenwire.types.ModelInfo` plus Roo's tier and
    reasoning facts."""

    info: ModelInfo
    tiers: tuple[PricingTier, ...] = ()
    #: Takes a thinking-token budget (Anthropic / Gemini style).
    reasoning_budget: bool = False
    #: The budget must be on (Roo's ``:thinking`` variants).
    reasoning_budget_required: bool = False
    #: Takes a reasoning effort (OpenAI / xAI style).
    reasoning_effort: bool = False
    #: The effort Roo sends by default (``"low"``, ``"medium"``, ``"high"``).
    default_reasoning_effort: Optional[str] = None
    #: Largest thinking budget Roo allows.
    max_thinking_tokens: Optional[int] = None

    @property
    def id(self) -> str:
        return self.info.id


@dataclass(frozen=True)
class ProviderCatalog:
    """Everything the catalog knows about one provider."""

    name: str
    #: The Roo-Code module the facts come from (``None`` when Roo has none).
    source: Optional[str]
    #: Roo's default model id for the provider.
    default_model: Optional[str]
    #: Models are fetched from the provider; the catalog has at most Roo's default.
    dynamic: bool
    models: Mapping[str, CatalogModel] = field(default_factory=lambda: {})
    #: Model-id prefixes stripped before lookup (Bedrock's cross-region profiles).
    strip_prefixes: tuple[str, ...] = ()
    #: Why a dynamic provider has no table.
    note: Optional[str] = None
    #: The Roo-Code commit the facts were read at.
    commit: str = ""

    def lookup(self, model: str) -> Optional[CatalogModel]:
        """The entry for ``model`` (an exact id, or one with a stripped prefix)."""
        found = self.models.get(model)
        if found is None:
            for prefix in self.strip_prefixes:
                if model.startswith(prefix):
                    return self.models.get(model[len(prefix) :])
        return found


# -- loading ----------------------------------------------------------------------------------
_catalog: Optional[dict[str, ProviderCatalog]] = None
_lock = threading.Lock()


def _price(record: Mapping[str, Any], key: str) -> Optional[float]:
    value = record.get(key)
    return None if value is None else float(value)


def _entry(provider: str, model_id: str, record: Mapping[str, Any]) -> CatalogModel:
    budget = record.get("budget")
    effort_default = record.get("effort_default")
    info = ModelInfo(
        id=model_id,
        provider=provider,
        context_window=record.get("ctx"),
        max_output_tokens=record.get("max"),
        supports_images=bool(record.get("img")),
        supports_prompt_cache=bool(record.get("cache")),
        supports_reasoning=bool(budget or record.get("effort") or effort_default or record.get("thinking")),
        input_price=_price(record, "in"),
        output_price=_price(record, "out"),
        cache_write_price=_price(record, "cw"),
        cache_read_price=_price(record, "cr"),
    )
    tiers = tuple(
        PricingTier(
            context_window=tier.get("ctx"),
            name=tier.get("name"),
            input_price=_price(tier, "in"),
            output_price=_price(tier, "out"),
            cache_write_price=_price(tier, "cw"),
            cache_read_price=_price(tier, "cr"),
        )
        for tier in record.get("tiers", ())
    )
    return CatalogModel(
        info=info,
        tiers=tiers,
        reasoning_budget=bool(budget),
        reasoning_budget_required=budget == "required",
        reasoning_effort=bool(record.get("effort")),
        default_reasoning_effort=effort_default,
        max_thinking_tokens=record.get("thinking"),
    )


def _load() -> dict[str, ProviderCatalog]:
    global _catalog
    if _catalog is None:
        with _lock:
            if _catalog is None:
                raw = json.loads(DATA_FILE.read_text(encoding="utf-8"))
                commit: str = raw["commit"]
                loaded: dict[str, ProviderCatalog] = {}
                for name, data in raw["providers"].items():
                    registry_name = owner(name)
                    loaded[name] = ProviderCatalog(
                        name=name,
                        source=data.get("source"),
                        default_model=data.get("default"),
                        dynamic=bool(data.get("dynamic")),
                        models={mid: _entry(registry_name, mid, rec) for mid, rec in data["models"].items()},
                        strip_prefixes=tuple(data.get("strip_prefixes", ())),
                        note=data.get("note"),
                        commit=data.get("commit", commit),
                    )
                _catalog = loaded
    return _catalog


# -- lookup -----------------------------------------------------------------------------------
ProviderRef = Union[str, "Provider"]
"""A catalog name, a registry name, or a provider instance."""


def catalog_key(provider: ProviderRef) -> str:
    """The catalog name for ``provider``.

    A string is used as given. For a provider instance it is the provider's ``name``,
    except for Z.ai on a mainland-China API line (``region="china"`` /
    ``"china_coding"`` or an ``open.bigmodel.cn`` base URL), whose prices live under
    ``zai-china`` as in Roo. A provider may also set a ``catalog_name`` attribute.
    """
    if isinstance(provider, str):
        return provider
    explicit = getattr(provider, "catalog_name", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    name = provider.name
    if name == "zai":
        region = getattr(provider, "region", None)
        if region in _ZAI_CHINA_REGIONS or "bigmodel.cn" in provider.base_url:
            return "zai-china"
    return name


def providers() -> list[str]:
    """Catalog names, sorted."""
    return sorted(_load())


def owner(name: str) -> str:
    """The registry name a catalog name belongs to (``zai-china`` -> ``zai``)."""
    return _REGISTRY_NAME.get(name, name)


def provider_catalog(provider: ProviderRef) -> Optional[ProviderCatalog]:
    """What the catalog knows about ``provider``, or ``None`` if it is not in the catalog."""
    return _load().get(catalog_key(provider))


def entry(provider: ProviderRef, model: str) -> Optional[CatalogModel]:
    """The full catalog entry of ``model`` (with tiers and reasoning facts), or ``None``."""
    found = provider_catalog(provider)
    return found.lookup(model) if found is not None else None


def model_info(provider: ProviderRef, model: str) -> Optional[ModelInfo]:
    """The catalog's :class:`~tokenwire.types.ModelInfo` for ``model``, or ``None``."""
    found = entry(provider, model)
    return found.info if found is not None else None


def models(provider: ProviderRef) -> list[ModelInfo]:
    """Every catalog model of ``provider``, in Roo's order (empty if unknown)."""
    found = provider_catalog(provider)
    return [m.info for m in found.models.values()] if found is not None else []


def tiers(provider: ProviderRef, model: str) -> tuple[PricingTier, ...]:
    """The pricing tiers of ``model`` (empty if none or unknown)."""
    found = entry(provider, model)
    return found.tiers if found is not None else ()


# -- cost -------------------------------------------------------------------------------------
ModelRef = Union[str, ModelInfo, CatalogModel]


def cost_breakdown(
    usage: Usage,
    provider: ProviderRef,
    model: ModelRef,
    *,
    service_tier: Optional[str] = None,
    context_1m: bool = False,
    convention: Optional[Convention] = None,
) -> Optional[CostBreakdown]:
    """The priced parts of ``usage`` for ``model`` on ``provider``: the formula applied to
    the token counts (arguments as for :func:`cost`).

    Unlike :func:`cost` this ignores a cost the provider reported (``usage.cost``): it is
    the catalog's estimate — for a provider that bills itself, what the counts cost at
    the listed prices, which may differ from the bill (routing, discounts, BYOK fees).
    """
    found = _pricing(provider, model, service_tier=service_tier, context_1m=context_1m, convention=convention)
    return None if found is None else found.breakdown(usage)


def pricer(
    provider: ProviderRef,
    model: ModelRef,
    *,
    service_tier: Optional[str] = None,
    context_1m: bool = False,
    convention: Optional[Convention] = None,
) -> Optional[Callable[[Usage], float]]:
    """A function pricing usages of ``model`` on ``provider`` (arguments as for
    :func:`cost`), or ``None`` when the catalog cannot price it.

    ``pricer(p, m)(usage)`` equals ``cost_breakdown(usage, p, m).total`` to the bit; the
    lookups, rules and tiers are resolved once, so pricing each of many usages of one
    model (the manager's ``cost_usd`` metric) is a little arithmetic. It ignores
    ``usage.cost`` as :func:`cost_breakdown` does.
    """
    found = _pricing(provider, model, service_tier=service_tier, context_1m=context_1m, convention=convention)
    return None if found is None else found.total_of()


@dataclass(frozen=True)
class _Pricing:
    """Everything :func:`compute` needs but the token counts."""

    provider: str
    model: str
    rule: PricingRule
    convention: Convention
    prices: tuple[Optional[float], Optional[float], Optional[float], Optional[float]]
    gemini_tiers: tuple[tuple[Optional[int], Optional[float], Optional[float], Optional[float]], ...]
    tier: Optional[str]

    def breakdown(self, usage: Usage) -> CostBreakdown:
        counts = (
            _count(usage.input_tokens),
            _count(usage.output_tokens),
            _count(usage.cache_write_tokens),
            _count(usage.cache_read_tokens),
        )
        return compute(
            provider=self.provider,
            model=self.model,
            rule=self.rule,
            convention=self.convention,
            prices=self.prices,
            gemini_tiers=self.gemini_tiers,
            counts=counts,
            tier=self.tier,
        )

    def total_of(self) -> Callable[[Usage], float]:
        convention = self.convention
        if convention == "free":
            return lambda usage: 0.0
        if convention == "gemini":
            # Context-size tiers and fallbacks: the general path.
            return lambda usage: self.breakdown(usage).total
        # The _internal formula: (price / 1e6) * tokens per part, summed as cache writes +
        # cache reads + input + output (the same float operations in the same order).
        input_rate, output_rate, write_rate, read_rate = ((p or 0.0) / 1_000_000 for p in self.prices)
        if convention == "input-output":

            def input_output(usage: Usage) -> float:
                return (
                    write_rate * 0
                    + read_rate * 0
                    + input_rate * _count(usage.input_tokens)
                    + output_rate * _count(usage.output_tokens)
                )

            return input_output
        anthropic = convention == "anthropic"

        def priced(usage: Usage) -> float:
            input_tokens = _count(usage.input_tokens)
            write_tokens = _count(usage.cache_write_tokens)
            read_tokens = _count(usage.cache_read_tokens)
            if not anthropic:  # openai: the cached tokens are inside the input count
                input_tokens = max(0, input_tokens - write_tokens - read_tokens)
            return (
                write_rate * write_tokens
                + read_rate * read_tokens
                + input_rate * input_tokens
                + output_rate * _count(usage.output_tokens)
            )

        return priced


def _pricing(
    provider: ProviderRef,
    model: ModelRef,
    *,
    service_tier: Optional[str],
    context_1m: bool,
    convention: Optional[Convention],
) -> Optional[_Pricing]:
    key = catalog_key(provider)
    if isinstance(model, CatalogModel):
        found: Optional[CatalogModel] = model
    elif isinstance(model, ModelInfo):
        known = entry(key, model.id)
        # A fetched ModelInfo's prices win; the catalog fills its gaps and adds its tiers.
        merged = merge_models(key, [model])[0]
        found = CatalogModel(info=merged, tiers=known.tiers if known is not None else ())
    else:
        found = entry(key, model)
    if found is None:
        return None
    info = found.info
    if info.input_price is None and info.output_price is None and not found.tiers:
        return None  # no price facts at all (Roo would show $0.00)
    rule = pricing_rule(key, info.id)
    chosen = rule.convention if convention is None else convention
    if chosen not in CONVENTIONS:
        raise ValueError(f"unknown cost convention {chosen!r}; expected one of {', '.join(CONVENTIONS)}")
    prices = (info.input_price, info.output_price, info.cache_write_price, info.cache_read_price)
    tier_name: Optional[str] = None
    if service_tier is not None and service_tier != "default":
        # OpenAI service tiers (Roo's applyServiceTierPricing): a tier price, else the base one.
        named = next((t for t in found.tiers if t.name == service_tier), None)
        if named is not None:
            prices = (
                _or(named.input_price, prices[0]),
                _or(named.output_price, prices[1]),
                _or(named.cache_write_price, prices[2]),
                _or(named.cache_read_price, prices[3]),
            )
            tier_name = service_tier
    if context_1m and key == "anthropic":
        long_context = next((t for t in found.tiers if t.name is None), None)
        if long_context is not None:
            # Roo's AnthropicHandler.getModel replaces the prices with the tier's outright.
            prices = (
                long_context.input_price,
                long_context.output_price,
                long_context.cache_write_price,
                long_context.cache_read_price,
            )
            tier_name = "1m-context"
    gemini_tiers = tuple(
        (t.context_window, t.input_price, t.output_price, t.cache_read_price) for t in found.tiers if t.name is None
    )
    return _Pricing(
        provider=owner(key),
        model=info.id,
        rule=rule,
        convention=chosen,
        prices=prices,
        gemini_tiers=gemini_tiers,
        tier=tier_name,
    )


def cost(
    usage: Usage,
    provider: ProviderRef,
    model: ModelRef,
    *,
    service_tier: Optional[str] = None,
    context_1m: bool = False,
    convention: Optional[Convention] = None,
) -> Optional[float]:
    """The cost of ``usage`` in USD, as Roo-Code shows it.

    A cost the provider reported (``usage.cost`` is not ``None``: OpenRouter, Vercel AI
    Gateway, Glama, Claude Code) is returned as it stands — the provider's own bill wins,
    for any provider and any model, in the catalog or not, and the pricing options below
    do not apply to it. Otherwise the catalog prices the token counts with the
    provider's formula (:func:`cost_breakdown`), and the result is ``None`` when the model
    is unknown to the catalog or has no prices.

    Args:
        usage: the response's :class:`~tokenwire.types.Usage` (the counts as tokenwire's
            dialects report them: input, output, cache read, cache write; and the
            reported cost, if any).
        provider: the provider (name or instance; see :func:`catalog_key`).
        model: a model id looked up in the catalog, or a :class:`ModelInfo` (e.g. from a
            live model list) whose prices are used.
        service_tier: an OpenAI service tier (``"flex"``, ``"priority"``); a model
            without that tier keeps its base prices, as in Roo.
        context_1m: Anthropic's 1M-context beta is on: Claude Sonnet 4 / 4.5 use their
            long-context prices (Roo prices the whole request at the tier). Other
            providers' prices do not change with it.
        convention: override the provider's convention (``"anthropic"``, ``"openai"``,
            ``"gemini"``, ``"input-output"``, ``"free"``).
    """
    if usage.cost is not None:
        return float(usage.cost)
    found = cost_breakdown(
        usage, provider, model, service_tier=service_tier, context_1m=context_1m, convention=convention
    )
    return found.total if found is not None else None


def _or(value: Optional[float], default: Optional[float]) -> Optional[float]:
    return value if value is not None else default


def _count(value: Any) -> int:
    return int(value) if value else 0


# -- merging live model lists -------------------------------------------------------------------
_FILLED = tuple(f.name for f in fields(ModelInfo) if f.name not in ("id", "provider"))


def merge_models(provider: ProviderRef, fetched: Iterable[ModelInfo]) -> list[ModelInfo]:
    """``fetched`` (a live model list) with gaps filled from the catalog.

    For each fetched model the catalog knows, every field the fetched entry leaves
    ``None`` takes the catalog's value, and feature flags are OR-ed (a ``ModelInfo``
    cannot tell "no" from "unknown", and list endpoints rarely report features). Fetched
    values win everywhere else. Models the catalog has but the provider did not list
    are not added: the live list says what is available. Order is preserved.
    """
    found = provider_catalog(provider)
    out: list[ModelInfo] = []
    for model in fetched:
        known = found.lookup(model.id) if found is not None else None
        if known is None:
            out.append(model)
            continue
        changes: dict[str, Any] = {}
        for name in _FILLED:
            mine = getattr(model, name)
            theirs = getattr(known.info, name)
            if isinstance(mine, bool):
                if not mine and theirs:
                    changes[name] = True
            elif mine is None and theirs is not None:
                changes[name] = theirs
        out.append(replace(model, **changes) if changes else model)
    return out


# -- TTL cache for model lists --------------------------------------------------------------------
class _Clock(Protocol):
    def now(self) -> float: ...


ClockLike = Union[_Clock, Callable[[], float]]
"""A :class:`tokenwire.resilience.Clock` (its ``now()``) or a function returning seconds."""


class ModelListCache:
    """Model lists cached per key for ``ttl`` seconds (``ttl=0`` disables caching).

    :meth:`get_or_fetch` runs one fetch per key at a time: concurrent callers of an
    expired key wait for the same fetch instead of each calling the provider. A fetch
    that raises caches nothing. Lists are copied in and out, so callers may mutate them.
    Like a provider's pooled HTTP client, one cache serves one event loop.
    """

    def __init__(self, ttl: float = 600.0, *, clock: Optional[ClockLike] = None) -> None:
        if ttl < 0:
            raise ValueError("ttl must be >= 0 seconds")
        self.ttl = ttl
        if clock is None:
            self._now: Callable[[], float] = time.monotonic
        elif callable(clock):
            self._now = clock
        else:
            self._now = clock.now
        self._entries: dict[Hashable, tuple[float, list[ModelInfo]]] = {}
        self._locks: dict[Hashable, Any] = {}
        self._generations: dict[Hashable, int] = {}

    def __repr__(self) -> str:
        return f"<ModelListCache ttl={self.ttl}s entries={len(self._entries)}>"

    def get(self, key: Hashable = None) -> Optional[list[ModelInfo]]:
        """The cached list for ``key`` if it has not expired, else ``None``."""
        hit = self._entries.get(key)
        if hit is None:
            return None
        stored_at, models = hit
        if self._now() - stored_at >= self.ttl:
            del self._entries[key]
            return None
        return list(models)

    def put(self, key: Hashable, models: Iterable[ModelInfo]) -> None:
        """Cache ``models`` under ``key`` (a no-op when ``ttl`` is 0)."""
        if self.ttl > 0:
            self._entries[key] = (self._now(), list(models))

    def invalidate(self, key: Hashable = None, *, everything: bool = False) -> None:
        """Forget ``key`` (or every key with ``everything=True``)."""
        if everything:
            self._entries.clear()
        else:
            self._entries.pop(key, None)

    async def get_or_fetch(
        self, key: Hashable, fetch: Callable[[], Awaitable[list[ModelInfo]]], *, refresh: bool = False
    ) -> list[ModelInfo]:
        """The cached list for ``key``, or ``await fetch()`` (cached) when missing,
        expired or ``refresh`` is set."""
        import anyio

        if not refresh:
            hit = self.get(key)
            if hit is not None:
                return hit
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = anyio.Lock()
        generation = self._generations.get(key, 0)
        async with lock:
            if self._generations.get(key, 0) != generation:
                # Another caller fetched while we waited: its list is as fresh as ours would be.
                hit = self.get(key)
                if hit is not None:
                    return hit
            models = list(await fetch())
            self._generations[key] = self._generations.get(key, 0) + 1
            self.put(key, models)
            return list(models)


_caches: weakref.WeakKeyDictionary[Provider, ModelListCache] = weakref.WeakKeyDictionary()

DEFAULT_TTL = 600.0
"""Seconds a provider's merged model list stays cached by :func:`list_models`."""


async def list_models(
    provider: Provider, *, refresh: bool = False, cache: Optional[ModelListCache] = None
) -> list[ModelInfo]:
    """``provider.list_models()`` merged with the catalog (:func:`merge_models`) and
    cached for :data:`DEFAULT_TTL` seconds per provider instance.

    A provider without a model-list endpoint (``capabilities.list_models`` false) gets
    the catalog's models instead. Pass ``refresh=True`` to bypass the cache, or your
    own ``cache`` (e.g. ``ModelListCache(ttl=0)`` to disable caching); errors of the
    live call propagate and are not cached.
    """
    if cache is None:
        cache = _caches.get(provider)
        if cache is None:
            cache = _caches[provider] = ModelListCache(DEFAULT_TTL)

    async def fetch() -> list[ModelInfo]:
        if not provider.capabilities.list_models:
            return [replace(m, provider=provider.name) for m in models(provider)]
        return merge_models(provider, await provider.list_models())

    return await cache.get_or_fetch(provider, fetch, refresh=refresh)
