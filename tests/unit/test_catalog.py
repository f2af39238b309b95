"""tokenwire.catalog: Roo-Code's model facts, its cost formulas per provider, merging, caching."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tokenwire import Usage, catalog
from tokenwire.catalog import ModelListCache, PricingTier
from tokenwire.catalog._cost import RULES
from tokenwire.registry import ProviderRegistry
from tokenwire.resilience.clock import FakeClock
from tokenwire.types import ModelInfo


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def usage(inp: int = 0, out: int = 0, *, read: int = 0, write: int = 0) -> Usage:
    return Usage(input_tokens=inp, output_tokens=out, cache_read_tokens=read, cache_write_tokens=write)


def roo_internal(prices: tuple[float, float, float, float], tokens: tuple[int, int, int, int]) -> float:
    """Roo's calculateApiCostInternal, operation for operation (for bit-equality checks)."""
    pin, pout, pw, pr = prices
    tin, tout, tw, tr = tokens
    return (pw / 1_000_000) * tw + (pr / 1_000_000) * tr + (pin / 1_000_000) * tin + (pout / 1_000_000) * tout


# -- costs against hand-computed values ---------------------------------------------------------
# Each case: provider, model, usage, keyword options, the hand computation in millionths of USD.
HAND_COMPUTED = [
    # Anthropic style: the input count excludes cache tokens; every part priced as given.
    (
        "anthropic",
        "claude-sonnet-4-5",
        usage(1000, 500, read=2000, write=300),
        {},
        1000 * 3 + 500 * 15 + 300 * 3.75 + 2000 * 0.3,
    ),
    (
        "anthropic",
        "claude-opus-4-1-20250805",
        usage(10_000, 2_000, write=5_000),
        {},
        10_000 * 15 + 2_000 * 75 + 5_000 * 18.75,
    ),
    (
        "anthropic",
        "claude-3-5-haiku-20241022",
        usage(40_000, 1_000, read=100_000),
        {},
        40_000 * 1 + 1_000 * 5 + 100_000 * 0.1,
    ),
    # The 1M-context beta prices the whole request at the tier (Roo's AnthropicHandler.getModel).
    (
        "anthropic",
        "claude-sonnet-4-5",
        usage(300_000, 1_000, read=10_000),
        {"context_1m": True},
        300_000 * 6 + 1_000 * 22.5 + 10_000 * 0.6,
    ),
    # ... and changes nothing for a model without a long-context tier.
    ("anthropic", "claude-opus-4-20250514", usage(1_000, 1_000), {"context_1m": True}, 1_000 * 15 + 1_000 * 75),
    (
        "bedrock",
        "anthropic.claude-sonnet-4-20250514-v1:0",
        usage(2_000, 100, read=1_000, write=500),
        {},
        2_000 * 3 + 100 * 15 + 500 * 3.75 + 1_000 * 0.3,
    ),
    # Cross-region inference-profile prefixes are stripped before the lookup.
    ("bedrock", "eu.anthropic.claude-sonnet-4-20250514-v1:0", usage(2_000, 100), {}, 2_000 * 3 + 100 * 15),
    (
        "vertex",
        "claude-sonnet-4-5@20250929",
        usage(1_000, 1_000, read=1_000, write=1_000),
        {},
        1_000 * (3 + 15 + 0.3 + 3.75),
    ),
    # Roo's task loop prices DeepSeek / xAI / Moonshot with the Anthropic formula even though their
    # prompt count includes the cache hits: reproduced as Roo does it.
    ("deepseek", "deepseek-chat", usage(10_000, 1_000, read=8_000), {}, 10_000 * 0.56 + 1_000 * 1.68 + 8_000 * 0.07),
    ("xai", "grok-code-fast-1", usage(5_000, 2_000, read=4_000), {}, 5_000 * 0.2 + 2_000 * 1.5 + 4_000 * 0.02),
    ("moonshot", "kimi-k2-0905-preview", usage(1_000, 1_000, read=500), {}, 1_000 * 0.6 + 1_000 * 2.5 + 500 * 0.15),
    # OpenAI style: the input count includes cache reads and writes, taken out before pricing.
    ("openai", "gpt-4o", usage(10_000, 2_000, read=4_000), {}, 6_000 * 2.5 + 2_000 * 10 + 4_000 * 1.25),
    (
        "openai",
        "o3",
        usage(100_000, 10_000, read=50_000),
        {"service_tier": "flex"},
        50_000 * 1.0 + 10_000 * 4.0 + 50_000 * 0.25,
    ),
    (
        "openai",
        "o3",
        usage(100_000, 10_000, read=50_000),
        {"service_tier": "priority"},
        50_000 * 3.5 + 10_000 * 14 + 50_000 * 0.875,
    ),
    # A tier the model lacks keeps the base prices (Roo's applyServiceTierPricing).
    (
        "openai",
        "gpt-4.1",
        usage(100_000, 10_000, read=50_000),
        {"service_tier": "flex"},
        50_000 * 2 + 10_000 * 8 + 50_000 * 0.5,
    ),
    ("openai", "gpt-4.1", usage(100_000, 10_000), {"service_tier": "default"}, 100_000 * 2 + 10_000 * 8),
    (
        "groq",
        "moonshotai/kimi-k2-instruct-0905",
        usage(20_000, 3_000, read=15_000),
        {},
        5_000 * 0.6 + 3_000 * 2.5 + 15_000 * 0.15,
    ),
    (
        "litellm",
        "claude-3-7-sonnet-20250219",
        usage(10_000, 1_000, read=3_000, write=2_000),
        {},
        5_000 * 3 + 1_000 * 15 + 2_000 * 3.75 + 3_000 * 0.3,
    ),
    # The uncached input is floored at 0.
    ("openai", "gpt-4o-mini", usage(100, 50, read=500), {}, 0 + 50 * 0.6 + 500 * 0.075),
    # Gemini: the first tier whose context window holds the prompt; cache reads come out of the input.
    ("gemini", "gemini-2.5-pro", usage(100_000, 5_000, read=20_000), {}, 80_000 * 1.25 + 5_000 * 10 + 20_000 * 0.31),
    ("gemini", "gemini-2.5-pro", usage(200_000, 1_000), {}, 200_000 * 1.25 + 1_000 * 10),  # boundary: <= 200K
    ("gemini", "gemini-2.5-pro", usage(250_000, 100, read=1_000), {}, 249_000 * 2.5 + 100 * 15 + 1_000 * 0.625),
    # Cache writes are not priced by Roo's Gemini formula.
    (
        "gemini",
        "gemini-2.5-flash",
        usage(10_000, 1_000, read=2_000, write=5_000),
        {},
        8_000 * 0.3 + 1_000 * 2.5 + 2_000 * 0.075,
    ),
    ("vertex", "gemini-2.5-pro", usage(300_000, 2_000, read=100_000), {}, 200_000 * 2.5 + 2_000 * 15 + 100_000 * 0.625),
    # Z.ai China has context tiers in Roo's table, but Roo's handler reports only prompt and
    # completion tokens and its task loop prices them at the base prices: no tiers, no cache.
    ("zai-china", "glm-4.5", usage(10_000, 1_000, read=5_000), {}, 10_000 * 0.29 + 1_000 * 1.14),
    ("zai", "glm-4.5", usage(10_000, 1_000, read=5_000), {}, 10_000 * 0.6 + 1_000 * 2.2),
    (
        "fireworks",
        "accounts/fireworks/models/kimi-k2-instruct-0905",
        usage(1_000, 1_000, read=800),
        {},
        1_000 * 0.6 + 1_000 * 2.5,
    ),
    # Free: Gemini CLI reports 0; Gemini's free models fall back to Roo's task-loop formula at $0.
    ("gemini-cli", "gemini-2.5-pro", usage(1_000_000, 100_000), {}, 0.0),
    ("gemini", "gemini-2.5-pro-exp-03-25", usage(1_000_000, 100_000), {}, 0.0),
    ("cerebras", "qwen-3-coder-480b", usage(1_000, 1_000), {}, 0.0),
]


@pytest.mark.parametrize(("provider", "model", "use", "options", "micro_usd"), HAND_COMPUTED)
def test_cost_equals_hand_computed(
    provider: str, model: str, use: Usage, options: dict[str, object], micro_usd: float
) -> None:
    got = catalog.cost(use, provider, model, **options)  # type: ignore[arg-type]
    assert got is not None
    assert got == pytest.approx(micro_usd / 1_000_000, rel=1e-12, abs=1e-18)


def test_costs_are_bit_equal_to_roos_float_arithmetic() -> None:
    # Anthropic formula: Roo sums cache writes, cache reads, input, output in that order.
    got = catalog.cost(usage(1234, 567, read=8901, write=2345), "anthropic", "claude-sonnet-4-5")
    assert got == roo_internal((3.0, 15.0, 3.75, 0.3), (1234, 567, 2345, 8901))
    got = catalog.cost(usage(12_345, 678, read=9_000, write=1_000), "requesty", "coding/claude-4-sonnet")
    assert got == roo_internal((3.0, 15.0, 3.75, 0.3), (12_345 - 1_000 - 9_000, 678, 1_000, 9_000))
    # Gemini: price * (tokens / 1e6), summed input + output + cache reads.
    got = catalog.cost(usage(123_457, 9_876, read=23_456), "gemini", "gemini-2.5-pro")
    expected = 1.25 * (100_001 / 1_000_000) + 10.0 * (9_876 / 1_000_000) + 0.31 * (23_456 / 1_000_000)
    assert got == expected


def test_breakdown_parts_add_up_and_name_the_convention() -> None:
    b = catalog.cost_breakdown(usage(10_000, 2_000, read=4_000), "openai", "gpt-4o")
    assert b is not None
    assert (b.convention, b.reported, b.tier) == ("openai", False, None)
    assert (b.input_tokens, b.cache_read_tokens, b.output_tokens) == (6_000, 4_000, 2_000)
    assert (b.input_price, b.output_price, b.cache_read_price, b.cache_write_price) == (2.5, 10.0, 1.25, 0.0)
    assert b.total == b.cache_write_cost + b.cache_read_cost + b.input_cost + b.output_cost
    tiered = catalog.cost_breakdown(usage(250_000, 1), "gemini", "gemini-2.5-pro")
    assert tiered is not None and tiered.tier == "unbounded" and tiered.input_price == 2.5
    long = catalog.cost_breakdown(usage(1, 1), "anthropic", "claude-sonnet-4-5", context_1m=True)
    assert long is not None and long.tier == "1m-context"
    flex = catalog.cost_breakdown(usage(1, 1), "openai", "o3", service_tier="flex")
    assert flex is not None and flex.tier == "flex"
    routed = catalog.cost_breakdown(usage(1, 1), "openrouter", "anthropic/claude-sonnet-4")
    assert routed is not None and routed.reported and routed.convention == "openai"


def test_convention_override_and_unknown_convention() -> None:
    use = usage(10_000, 1_000, read=4_000)
    anthropic_style = catalog.cost(use, "openai", "gpt-4o", convention="anthropic")
    assert anthropic_style == pytest.approx((10_000 * 2.5 + 1_000 * 10 + 4_000 * 1.25) / 1e6)
    assert catalog.cost(use, "openai", "gpt-4o", convention="free") == 0.0
    with pytest.raises(ValueError, match="unknown cost convention"):
        catalog.cost(use, "openai", "gpt-4o", convention="bogus")  # type: ignore[arg-type]


def test_cost_of_unknown_or_unpriced_models_is_none() -> None:
    assert catalog.cost(usage(1, 1), "openai", "no-such-model") is None
    assert catalog.cost(usage(1, 1), "no-such-provider", "gpt-4o") is None
    # Roo's IO Intelligence table has no prices at all.
    assert catalog.model_info("io-intelligence", "openai/gpt-oss-120b") is not None
    assert catalog.cost(usage(1, 1), "io-intelligence", "openai/gpt-oss-120b") is None


def test_cost_with_a_fetched_model_info_uses_its_prices() -> None:
    fetched = ModelInfo(id="some/router-model", provider="openrouter", input_price=1.0, output_price=2.0)
    assert catalog.cost(usage(1_000, 1_000), "openrouter", fetched) == pytest.approx(3_000 / 1e6)
    # Gaps of a fetched entry are filled from the catalog before pricing.
    bare = ModelInfo(id="gpt-4o", provider="openai", output_price=20.0)
    assert catalog.cost(usage(1_000, 1_000), "openai", bare) == pytest.approx((1_000 * 2.5 + 1_000 * 20.0) / 1e6)
    # A known id keeps the catalog's tiers (here Gemini's long-context tier) with the fetched prices.
    info = catalog.model_info("gemini", "gemini-2.5-pro")
    assert info is not None
    assert catalog.cost(usage(300_000, 0), "gemini", info) == pytest.approx(300_000 * 2.5 / 1e6)


def test_a_reported_cost_wins_over_the_formula() -> None:
    # The provider's own bill (Usage.cost) is the cost, as Roo shows it: for any provider,
    # for models the catalog does not know, and whatever the pricing options say.
    billed = Usage(10_000, 2_000, cost=0.0421)
    assert catalog.cost(billed, "openrouter", "anthropic/claude-sonnet-4") == 0.0421
    assert catalog.cost(billed, "openrouter", "no/such-model") == 0.0421
    assert catalog.cost(billed, "no-such-provider", "no-such-model") == 0.0421
    assert catalog.cost(billed, "openai", "gpt-4o", service_tier="flex", convention="free") == 0.0421
    fetched = ModelInfo(id="some/router-model", provider="openrouter", input_price=1.0, output_price=2.0)
    assert catalog.cost(billed, "openrouter", fetched) == 0.0421
    # A reported 0 (a subscription, a free model) is a cost of 0, not "unknown".
    assert catalog.cost(Usage(10_000, 2_000, cost=0.0), "claude-code", "claude-sonnet-4-5") == 0.0
    # No reported cost: the formula, as before.
    formula = catalog.cost(Usage(10_000, 2_000), "openrouter", "anthropic/claude-sonnet-4")
    assert formula is not None and formula != 0.0421
    # The breakdown always prices the counts: the reported cost does not change it.
    breakdown = catalog.cost_breakdown(billed, "openrouter", "anthropic/claude-sonnet-4")
    assert breakdown is not None and breakdown.reported and breakdown.total == formula
    assert catalog.cost_breakdown(billed, "openrouter", "no/such-model") is None


# -- pricing rules ----------------------------------------------------------------------------
def test_pricing_rules_per_provider() -> None:
    expected = {
        "anthropic": "anthropic",
        "bedrock": "anthropic",
        "openai": "openai",
        "groq": "openai",
        "deepinfra": "openai",
        "requesty": "openai",
        "litellm": "openai",
        "gemini": "gemini",
        "vertex": "gemini",
        "gemini-cli": "free",
        "zai": "input-output",
        "mistral": "input-output",
        "deepseek": "anthropic",
        "xai": "anthropic",
    }
    for provider, convention in expected.items():
        assert catalog.pricing_rule(provider).convention == convention, provider
    assert catalog.pricing_rule("vertex", "claude-sonnet-4-5@20250929").convention == "anthropic"
    reported = {name for name, rule in RULES.items() if rule.reported}
    assert reported == {"openrouter", "vercel-ai-gateway", "glama", "claude-code"}
    for rule in RULES.values():
        assert rule.source  # every decision cites where Roo makes it


def test_every_catalog_provider_has_an_explicit_rule() -> None:
    assert set(catalog.providers()) <= set(RULES)


# -- coverage against the registry ---------------------------------------------------------------
def test_every_registered_provider_is_in_the_catalog() -> None:
    for name in ProviderRegistry.default().names():
        found = catalog.provider_catalog(name)
        assert found is not None, f"{name} has no catalog entry (add a table or mark it dynamic)"
        assert found.dynamic or found.models, name
        assert name in RULES, name


def test_default_models_are_in_their_tables() -> None:
    for name in catalog.providers():
        found = catalog.provider_catalog(name)
        assert found is not None
        if found.default_model is not None:
            assert found.lookup(found.default_model) is not None, name
        elif not found.dynamic:
            pytest.fail(f"{name} has a static table but no default model")


def test_registered_providers_instances_map_to_catalog_keys() -> None:
    registry = ProviderRegistry.default()
    for name in registry.names():
        assert catalog.catalog_key(registry.create(name)) == name
    if "zai" in registry:
        assert catalog.catalog_key(registry.create("zai", region="china")) == "zai-china"
        assert (
            catalog.catalog_key(registry.create("zai", base_url="https://open.bigmodel.cn/api/paas/v4")) == "zai-china"
        )
        china = registry.create("zai", region="china_coding")
        assert catalog.model_info(china, "glm-4.5") == catalog.model_info("zai-china", "glm-4.5")


# -- data sanity -------------------------------------------------------------------------------------
# Roo's own table says these allow more output than context; the catalog keeps the facts.
ROO_MAX_OVER_CONTEXT = {
    ("bedrock", "meta.llama3-1-8b-instruct-v1:0"),
    ("bedrock", "amazon.titan-text-embeddings-v1:0"),
    ("bedrock", "amazon.titan-text-embeddings-v2:0"),
}


def test_data_sanity() -> None:
    total = 0
    for name in catalog.providers():
        for model in catalog.models(name):
            total += 1
            entry = catalog.entry(name, model.id)
            assert entry is not None and entry.info is model
            assert model.provider == catalog.owner(name)
            prices = [model.input_price, model.output_price, model.cache_write_price, model.cache_read_price]
            for tier in entry.tiers:
                prices += [tier.input_price, tier.output_price, tier.cache_write_price, tier.cache_read_price]
            assert all(p is None or (p >= 0 and math.isfinite(p)) for p in prices), (name, model.id)
            assert model.context_window is not None and model.context_window > 0, (name, model.id)
            if model.max_output_tokens is not None and (name, model.id) not in ROO_MAX_OVER_CONTEXT:
                assert 0 < model.max_output_tokens <= model.context_window, (name, model.id)
            windows = [t.context_window for t in entry.tiers if t.name is None]
            # Long-context tiers ascend, and only the last may be open-ended.
            assert all(w is not None for w in windows[:-1]), (name, model.id)
            bounded = [w for w in windows if w is not None]
            assert bounded == sorted(bounded), (name, model.id)
    assert total >= 250


def test_catalog_facts_match_roo() -> None:
    sonnet = catalog.entry("anthropic", "claude-sonnet-4-5")
    assert sonnet is not None
    assert sonnet.tiers == (
        PricingTier(
            context_window=1_000_000, input_price=6.0, output_price=22.5, cache_write_price=7.5, cache_read_price=0.6
        ),
    )
    assert sonnet.reasoning_budget and not sonnet.reasoning_budget_required
    thinking = catalog.entry("anthropic", "claude-3-7-sonnet-20250219:thinking")
    assert thinking is not None and thinking.reasoning_budget_required and thinking.info.max_output_tokens == 128_000
    gpt5 = catalog.entry("openai", "gpt-5-2025-08-07")
    assert gpt5 is not None and gpt5.reasoning_effort and gpt5.default_reasoning_effort == "medium"
    assert [t.name for t in gpt5.tiers] == ["flex", "priority"]
    # Claude Code's entries spread Anthropic's and override the flags, as in Roo.
    code = catalog.model_info("claude-code", "claude-sonnet-4-5")
    assert code is not None and code.input_price == 3.0 and not code.supports_images and not code.supports_reasoning
    flash = catalog.entry("gemini", "gemini-2.5-flash")
    assert flash is not None and flash.max_thinking_tokens == 24_576
    assert catalog.models("openrouter") == [catalog.model_info("openrouter", "anthropic/claude-sonnet-4")]
    assert catalog.models("huggingface") == [] and catalog.provider_catalog("huggingface").dynamic  # type: ignore[union-attr]
    assert catalog.tiers("gemini", "gemini-2.5-pro")[-1].context_window is None


def test_data_file_is_compact_json_with_provenance() -> None:
    raw = json.loads(catalog.DATA_FILE.read_text(encoding="utf-8"))
    assert raw["repository"] == "RooCodeInc/Roo-Code"
    assert len(raw["commit"]) == 40
    assert catalog.DATA_FILE.stat().st_size < 64_000
    # Facts only: no descriptions or other prose copied from Roo-Code.
    keys = {k for p in raw["providers"].values() for rec in p["models"].values() for k in rec}
    assert keys <= {
        "ctx",
        "max",
        "img",
        "cache",
        "budget",
        "effort",
        "effort_default",
        "thinking",
        "in",
        "out",
        "cw",
        "cr",
        "tiers",
    }


# -- lazy loading -----------------------------------------------------------------------------------
LAZY_PROBE = r"""
import sys
opened = []
def hook(event, args):
    if event == "open" and str(args[0]).endswith("models.json"):
        opened.append(str(args[0]))
sys.addaudithook(hook)
import tokenwire
import tokenwire.types, tokenwire.registry
assert "tokenwire.catalog" not in sys.modules, "import tokenwire imported the catalog"
import tokenwire.catalog as catalog
assert opened == [], opened
assert catalog._catalog is None
catalog.model_info("anthropic", "claude-sonnet-4-5")
catalog.models("openai")
assert len(opened) == 1, opened
print("ok")
"""


def test_catalog_loads_lazily_once() -> None:
    proc = subprocess.run([sys.executable, "-c", LAZY_PROBE], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


# -- merging live lists ----------------------------------------------------------------------------
def test_merge_fills_gaps_and_keeps_fetched_values() -> None:
    fetched = [
        ModelInfo(
            id="claude-sonnet-4-5", provider="anthropic", display_name="Claude Sonnet 4.5", context_window=1_000_000
        ),
        ModelInfo(id="claude-brand-new", provider="anthropic", display_name="New"),
        ModelInfo(id="claude-3-5-haiku-20241022", provider="anthropic", input_price=0.8),
    ]
    merged = catalog.merge_models("anthropic", fetched)
    assert [m.id for m in merged] == ["claude-sonnet-4-5", "claude-brand-new", "claude-3-5-haiku-20241022"]
    sonnet, new, haiku = merged
    assert sonnet.display_name == "Claude Sonnet 4.5"
    assert sonnet.context_window == 1_000_000  # the fetched value wins
    assert (sonnet.max_output_tokens, sonnet.input_price, sonnet.cache_read_price) == (64_000, 3.0, 0.3)
    assert sonnet.supports_images and sonnet.supports_prompt_cache and sonnet.supports_reasoning
    assert new is fetched[1]  # unknown to the catalog: untouched
    assert haiku.input_price == 0.8 and haiku.output_price == 5.0
    # Catalog models the provider did not list are not added.
    assert catalog.merge_models("anthropic", []) == []
    # Bedrock ids with a cross-region prefix keep their id and gain the facts.
    bedrock = catalog.merge_models(
        "bedrock", [ModelInfo(id="us.anthropic.claude-sonnet-4-20250514-v1:0", provider="bedrock")]
    )
    assert bedrock[0].id == "us.anthropic.claude-sonnet-4-20250514-v1:0" and bedrock[0].input_price == 3.0
    # An unknown provider merges nothing.
    assert catalog.merge_models("nope", fetched) == fetched


# -- the TTL cache -------------------------------------------------------------------------------------
def _models(*ids: str) -> list[ModelInfo]:
    return [ModelInfo(id=i, provider="p") for i in ids]


def test_cache_expires_after_ttl() -> None:
    clock = FakeClock()
    cache = ModelListCache(ttl=600, clock=clock)
    assert cache.get("k") is None
    cache.put("k", _models("a"))
    clock.advance(599.9)
    hit = cache.get("k")
    assert hit == _models("a")
    hit.append(ModelInfo(id="mutated", provider="p"))  # callers get copies
    assert cache.get("k") == _models("a")
    clock.advance(0.1)
    assert cache.get("k") is None
    cache.put("k", _models("b"))
    cache.invalidate("k")
    assert cache.get("k") is None
    cache.put("x", _models("c"))
    cache.invalidate(everything=True)
    assert cache.get("x") is None
    assert "ttl=600" in repr(cache)


def test_cache_ttl_zero_disables_and_negative_is_rejected() -> None:
    cache = ModelListCache(ttl=0, clock=lambda: 0.0)
    cache.put("k", _models("a"))
    assert cache.get("k") is None
    with pytest.raises(ValueError):
        ModelListCache(ttl=-1)


@pytest.mark.anyio
async def test_get_or_fetch_single_flight_refresh_and_errors() -> None:
    clock = FakeClock()
    cache = ModelListCache(ttl=10, clock=clock)
    calls = 0
    gate = anyio.Event()

    async def fetch() -> list[ModelInfo]:
        nonlocal calls
        calls += 1
        await gate.wait()
        return _models(f"v{calls}")

    results: list[list[ModelInfo]] = []

    async def call() -> None:
        results.append(await cache.get_or_fetch("k", fetch))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(call)
            await anyio.sleep(0.01)
            gate.set()
    assert calls == 1 and results == [_models("v1")] * 5
    assert await cache.get_or_fetch("k", fetch) == _models("v1")
    assert calls == 1
    assert await cache.get_or_fetch("k", fetch, refresh=True) == _models("v2")
    clock.advance(10)
    assert await cache.get_or_fetch("k", fetch) == _models("v3")

    async def broken() -> list[ModelInfo]:
        raise RuntimeError("down")

    with pytest.raises(RuntimeError):
        await cache.get_or_fetch("other", broken)
    assert cache.get("other") is None


@pytest.mark.anyio
async def test_list_models_falls_back_to_the_catalog_without_an_endpoint() -> None:
    registry = ProviderRegistry.default()
    name = next(
        (n for n in registry.names() if not registry.create(n).capabilities.list_models and catalog.models(n)), None
    )
    if name is None:
        pytest.skip("every registered provider has a model-list endpoint")
    provider = registry.create(name)
    listed = await catalog.list_models(provider)
    assert [m.id for m in listed] == [m.id for m in catalog.models(catalog.catalog_key(provider))]
    assert all(m.provider == provider.name for m in listed)


def test_gen_catalog_script_is_importable_without_the_mirror() -> None:
    # The generator is a maintainer tool: it must not be needed at test time, but its
    # TypeScript evaluator is checked here on a sample of the syntax Roo's tables use.
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "scripts" / "gen_catalog.py"
    spec = importlib.util.spec_from_file_location("gen_catalog", path)
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_catalog", gen)  # dataclasses look their module up
    spec.loader.exec_module(gen)

    class FakeLoader(gen.Loader):  # type: ignore[misc, name-defined]
        def __init__(self, sources: dict[str, str]) -> None:
            super().__init__(Path("."), "0" * 40)
            self.sources = sources

        def source(self, path: str) -> str:
            return self.sources[path.rsplit("/", 1)[-1]]

    base = """
import type { ModelInfo } from "../model.js"
// a comment with "quotes" and { braces }
export const baseModels = {
\t"m-1": { maxTokens: 8_192, contextWindow: 1_000_000, inputPrice: 3.0, outputPrice: 15, /* c */ supportsImages: true,
\t\ttiers: [{ contextWindow: 200_000, inputPrice: 1.25 }, { contextWindow: Infinity, inputPrice: 2.5 }] },
\to3: { contextWindow: 2 * 100_000, supportsPromptCache: false, description: `multi
line`, reasoningEffort: "medium" },
} as const satisfies Record<string, ModelInfo>
export const baseDefault: string = "m-1"
"""
    derived = """
import { baseModels } from "./base.js"
const PATTERN = /-(\\d{8})$/
export const derivedModels = {
\t"m-2": { ...baseModels["m-1"], supportsImages: false, cacheReadsPrice: 0.3 },
} as const
"""
    loader = FakeLoader({"base.ts": base, "derived.ts": derived})
    models = loader.module("derived").value("derivedModels")
    assert models["m-2"]["maxTokens"] == 8192 and models["m-2"]["supportsImages"] is False
    assert models["m-2"]["tiers"][1]["contextWindow"] == math.inf
    record = gen.convert(models["m-2"])
    assert record == {
        "ctx": 1_000_000,
        "max": 8192,
        "in": 3.0,
        "out": 15.0,
        "cr": 0.3,
        "tiers": [{"ctx": 200_000, "in": 1.25}, {"ctx": None, "in": 2.5}],
    }
    o3 = gen.convert(loader.module("base").value("baseModels")["o3"])
    assert o3 == {"ctx": 200_000, "effort_default": "medium"}
    assert loader.module("base").value("baseDefault") == "m-1"


# -- pricer: the resolved formula --------------------------------------------------------------

_PRICER_USAGES = (
    Usage(0, 0),
    Usage(1, 1),
    Usage(1234, 567),
    Usage(250_000, 8_000, cache_read_tokens=180_000, cache_write_tokens=20_000),
    Usage(1_000_000, 64_000, cache_read_tokens=999_999),
    Usage(100, 10, cache_read_tokens=300, cache_write_tokens=50),  # counts that overlap oddly
    Usage(3_000_000, 1, cache_write_tokens=2_500_000),
)


def test_pricer_equals_the_breakdown_total_to_the_bit_for_every_catalog_model() -> None:
    checked = 0
    for name in catalog.providers():
        found = catalog.provider_catalog(name)
        assert found is not None
        for model_id in found.models:
            price = catalog.pricer(name, model_id)
            samples = [catalog.cost_breakdown(u, name, model_id) for u in _PRICER_USAGES]
            if price is None:
                assert all(b is None for b in samples), (name, model_id)
                continue
            for usage, breakdown in zip(_PRICER_USAGES, samples):
                assert breakdown is not None
                assert price(usage).hex() == breakdown.total.hex(), (name, model_id, usage)
                checked += 1
    assert checked > 1000


@pytest.mark.parametrize(
    ("provider", "model", "options"),
    [
        ("openai", "gpt-5-2025-08-07", {"service_tier": "flex"}),
        ("openai", "gpt-5-2025-08-07", {"service_tier": "priority"}),
        ("anthropic", "claude-sonnet-4-5", {"context_1m": True}),
        ("gemini", "gemini-2.5-pro", {}),
        ("anthropic", "claude-sonnet-4-5", {"convention": "openai"}),
        ("anthropic", "claude-sonnet-4-5", {"convention": "input-output"}),
        ("anthropic", "claude-sonnet-4-5", {"convention": "free"}),
        ("openai", "gpt-4.1", {"convention": "gemini"}),
    ],
)
def test_pricer_follows_the_pricing_options(provider: str, model: str, options: dict[str, object]) -> None:
    price = catalog.pricer(provider, model, **options)  # type: ignore[arg-type]
    assert price is not None
    for usage in _PRICER_USAGES:
        breakdown = catalog.cost_breakdown(usage, provider, model, **options)  # type: ignore[arg-type]
        assert breakdown is not None
        assert price(usage).hex() == breakdown.total.hex(), usage


@given(
    st.integers(0, 5_000_000),
    st.integers(0, 500_000),
    st.integers(0, 5_000_000),
    st.integers(0, 5_000_000),
    st.sampled_from(["anthropic", "openai", "gemini", "vertex", "deepseek", "mistral", "bedrock", "zai-china"]),
)
def test_pricer_equals_the_breakdown_for_any_counts(
    input_tokens: int, output_tokens: int, read: int, write: int, provider: str
) -> None:
    usage = Usage(input_tokens, output_tokens, cache_read_tokens=read, cache_write_tokens=write)
    found = catalog.provider_catalog(provider)
    assert found is not None
    for model_id in list(found.models)[:8]:
        price = catalog.pricer(provider, model_id)
        breakdown = catalog.cost_breakdown(usage, provider, model_id)
        assert (price is None) == (breakdown is None)
        if price is not None and breakdown is not None:
            assert price(usage).hex() == breakdown.total.hex()


def test_pricer_ignores_a_reported_cost_as_the_breakdown_does() -> None:
    usage = Usage(1000, 100, cost=12.5)
    price = catalog.pricer("anthropic", "claude-sonnet-4-5")
    breakdown = catalog.cost_breakdown(usage, "anthropic", "claude-sonnet-4-5")
    assert price is not None and breakdown is not None
    assert price(usage) == breakdown.total != 12.5
    assert catalog.pricer("anthropic", "no-such-model") is None
