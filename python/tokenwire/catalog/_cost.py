"""Cost formulas and the per-provider pricing rules, as Roo-Code computes them.

Roo-Code (``src/shared/cost.ts``) has two formulas over a model's prices per million
tokens, and its Gemini handler a third:

- ``anthropic`` — ``calculateApiCostAnthropic``: the input count excludes cache tokens,
  so input, cache writes, cache reads and output are each priced as given.
- ``openai`` — ``calculateApiCostOpenAI``: the input count includes cache writes and
  reads; they are subtracted (floored at 0) before the input is priced.
- ``gemini`` — ``GeminiHandler.calculateCost``: prices come from the first tier whose
  context window holds the prompt; cache reads are subtracted from the input; cache
  writes are not priced. When the input or output price is missing or zero it gives up
  and Roo's task loop prices the usage with the ``anthropic`` formula instead.

Which one a provider gets is decided in each Roo handler (see :data:`RULES` for the
source line of every decision). Handlers that compute no cost leave it to Roo's task
loop (``src/core/task/Task.ts``), which applies ``calculateApiCostAnthropic`` to the
counts the handler reported; a handler that reports only prompt and completion tokens
therefore has its cached tokens priced as plain input — convention ``input-output``.
A few providers report their own cost: OpenRouter (``usage.cost`` plus
``cost_details.upstream_inference_cost``), Vercel AI Gateway (``usage.cost``), Glama
(through its completion-request API) and the Claude Code CLI (``total_cost_usd``);
:attr:`PricingRule.reported` tells which ones these are. Roo shows that figure, and so
does tokenwire: their adapters put it on the answer's
:attr:`Usage.cost <tokenwire.types.Usage.cost>`, and :func:`tokenwire.catalog.cost`
returns a reported cost as it stands — the provider's bill wins over any formula. The
formulas here (:func:`compute`, :func:`tokenwire.catalog.cost_breakdown`) always price
the token counts: for these providers that is an estimate (the rule's convention is the
one matching their usage semantics), useful before a request or when no cost came back.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal, Optional

__all__ = ["RULES", "Convention", "CostBreakdown", "PricingRule", "pricing_rule"]

_SLOTS: dict[str, bool] = {"slots": True} if sys.version_info >= (3, 10) else {}

Convention = Literal["anthropic", "openai", "gemini", "input-output", "free"]
"""How usage counts are priced (see the module docs)."""

CONVENTIONS: tuple[Convention, ...] = ("anthropic", "openai", "gemini", "input-output", "free")


@dataclass(frozen=True, **_SLOTS)
class PricingRule:
    """How Roo-Code prices one provider's usage."""

    #: The formula applied to tokenwire's :class:`~tokenwire.types.Usage`.
    convention: Convention
    #: The provider (or CLI) reports its own cost, which Roo shows (and
    #: :func:`tokenwire.catalog.cost` returns when the usage carries it); the formula is
    #: then an estimate.
    reported: bool
    #: Where Roo-Code decides it (file:line at the reference commit).
    source: str


def _rule(convention: Convention, source: str, *, reported: bool = False) -> PricingRule:
    return PricingRule(convention=convention, reported=reported, source=source)


_P = "src/api/providers/"
_TASK = "src/core/task/Task.ts:1873 (calculateApiCostAnthropic on the reported counts)"
_COUNTS_ONLY = f"{_P}base-openai-compatible-provider.ts:114 (prompt/completion tokens only) -> {_TASK}"

RULES: dict[str, PricingRule] = {
    "anthropic": _rule("anthropic", f"{_P}anthropic.ts:235 calculateApiCostAnthropic (1M tier: anthropic.ts:254)"),
    "azure-openai": _rule(
        "input-output", f"{_P}openai.ts:258 reads cache_*_input_tokens, absent from OpenAI usage -> {_TASK}"
    ),
    "bedrock": _rule("anthropic", f"{_P}bedrock.ts:446 (input, output, cache read/write) -> {_TASK}"),
    "cerebras": _rule("input-output", f"{_P}cerebras.ts:268 (prompt/completion tokens only) -> {_TASK}"),
    "chutes": _rule("input-output", f"{_P}chutes.ts:76 and {_COUNTS_ONLY}"),
    "claude-code": _rule(
        "anthropic", f"{_P}claude-code.ts:134 total_cost_usd from the CLI (0 on a subscription)", reported=True
    ),
    "deepinfra": _rule("openai", f"{_P}deepinfra.ts:135 calculateApiCostOpenAI"),
    "deepseek": _rule("anthropic", f"{_P}deepseek.ts:32 (prompt tokens incl. cache hits, cached_tokens) -> {_TASK}"),
    "doubao": _rule("anthropic", f"{_P}doubao.ts:74 (prompt tokens incl. cache hits, cached_tokens) -> {_TASK}"),
    "featherless": _rule("input-output", f"{_P}featherless.ts:76 and {_COUNTS_ONLY}"),
    "fireworks": _rule("input-output", _COUNTS_ONLY),
    "gemini": _rule("gemini", f"{_P}gemini.ts:153 calculateCost (gemini.ts:278), else {_TASK}"),
    "gemini-cli": _rule("free", f"{_P}gemini-cli.ts:331 totalCost: 0 (at f763a51, before its removal)"),
    "glama": _rule("anthropic", f"{_P}glama.ts:106 totalCostUsd from Glama's completion-request API", reported=True),
    "groq": _rule("openai", f"{_P}groq.ts:67 calculateApiCostOpenAI"),
    "huggingface": _rule("input-output", f"{_P}huggingface.ts:88 (prompt/completion tokens only) -> {_TASK}"),
    "io-intelligence": _rule("input-output", _COUNTS_ONLY),
    "litellm": _rule("openai", f"{_P}lite-llm.ts:176 calculateApiCostOpenAI"),
    "lmstudio": _rule("input-output", f"{_P}lm-studio.ts:136 (prompt/completion tokens only) -> {_TASK}"),
    "mistral": _rule("input-output", f"{_P}mistral.ts:88 (prompt/completion tokens only) -> {_TASK}"),
    "moonshot": _rule("anthropic", f"{_P}moonshot.ts:33 (prompt tokens incl. cached, cached_tokens) -> {_TASK}"),
    "ollama": _rule("input-output", f"{_P}native-ollama.ts:241 (prompt/eval counts only) -> {_TASK}"),
    "openai": _rule(
        "openai", f"{_P}openai-native.ts:103 calculateApiCostOpenAI (service tiers: openai-native.ts:1203)"
    ),
    "openrouter": _rule("openai", f"{_P}openrouter.ts:205 usage.cost + upstream_inference_cost", reported=True),
    "perplexity": _rule("input-output", "not a Roo-Code provider; OpenAI-style usage without cache counts"),
    "qwen-code": _rule("input-output", f"{_P}qwen-code.ts:279 (prompt/completion tokens only) -> {_TASK}"),
    "requesty": _rule("openai", f"{_P}requesty.ts:89 calculateApiCostOpenAI"),
    "roo": _rule("input-output", f"{_P}roo.ts:98 and {_COUNTS_ONLY}"),
    "sambanova": _rule("input-output", _COUNTS_ONLY),
    "unbound": _rule("anthropic", f"{_P}unbound.ts:116 (cache_creation/cache_read_input_tokens) -> {_TASK}"),
    "vercel-ai-gateway": _rule("openai", f"{_P}vercel-ai-gateway.ts:84 usage.cost", reported=True),
    "vertex": _rule("gemini", f"{_P}vertex.ts:10 (extends GeminiHandler) -> gemini.ts:153 calculateCost"),
    "xai": _rule("anthropic", f"{_P}xai.ts:102 (prompt tokens incl. cached, cache read/write) -> {_TASK}"),
    "zai": _rule("input-output", _COUNTS_ONLY),
}
RULES["zai-china"] = RULES["zai"]

# Claude on Vertex runs through Roo's AnthropicVertexHandler, not the Gemini one.
_VERTEX_CLAUDE = _rule("anthropic", f"{_P}anthropic-vertex.ts:107 (Anthropic usage) -> {_TASK}")

# Unknown (third-party) providers: Roo's task loop default.
_DEFAULT = _rule("anthropic", f"{_TASK} (Roo's default when a handler reports no cost)")


def pricing_rule(provider: str, model: Optional[str] = None) -> PricingRule:
    """Roo-Code's pricing rule for ``provider`` (and, on Vertex, for ``model``)."""
    if provider == "vertex" and model is not None and model.startswith("claude"):
        return _VERTEX_CLAUDE
    return RULES.get(provider, _DEFAULT)


@dataclass(frozen=True, **_SLOTS)
class CostBreakdown:
    """The priced parts of one usage, in USD.

    Token counts are the ones *priced* (for the ``openai`` and ``gemini`` conventions the
    input count has cache tokens taken out); prices are per million tokens after tier
    selection. :attr:`total` adds the parts in Roo's order, so it equals Roo's float.
    """

    provider: str
    model: str
    convention: Convention
    reported: bool
    input_tokens: int
    output_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int
    input_price: float
    output_price: float
    cache_write_price: float
    cache_read_price: float
    input_cost: float
    output_cost: float
    cache_write_cost: float
    cache_read_cost: float
    total: float
    #: The tier whose prices applied (a long-context or service tier), if any.
    tier: Optional[str] = None


def _internal(
    provider: str,
    model: str,
    convention: Convention,
    reported: bool,
    prices: tuple[Optional[float], Optional[float], Optional[float], Optional[float]],
    tokens: tuple[int, int, int, int],
    tier: Optional[str],
) -> CostBreakdown:
    """``calculateApiCostInternal``: each part is ``(price / 1e6) * tokens``, summed as
    cache writes + cache reads + input + output (Roo's order, for bit-equal floats)."""
    input_price, output_price, write_price, read_price = (p or 0.0 for p in prices)
    input_tokens, output_tokens, write_tokens, read_tokens = tokens
    write_cost = (write_price / 1_000_000) * write_tokens
    read_cost = (read_price / 1_000_000) * read_tokens
    input_cost = (input_price / 1_000_000) * input_tokens
    output_cost = (output_price / 1_000_000) * output_tokens
    return CostBreakdown(
        provider=provider,
        model=model,
        convention=convention,
        reported=reported,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_write_tokens=write_tokens,
        cache_read_tokens=read_tokens,
        input_price=input_price,
        output_price=output_price,
        cache_write_price=write_price,
        cache_read_price=read_price,
        input_cost=input_cost,
        output_cost=output_cost,
        cache_write_cost=write_cost,
        cache_read_cost=read_cost,
        total=write_cost + read_cost + input_cost + output_cost,
        tier=tier,
    )


def compute(
    *,
    provider: str,
    model: str,
    rule: PricingRule,
    convention: Convention,
    prices: tuple[Optional[float], Optional[float], Optional[float], Optional[float]],
    gemini_tiers: tuple[tuple[Optional[int], Optional[float], Optional[float], Optional[float]], ...],
    counts: tuple[int, int, int, int],
    tier: Optional[str],
) -> CostBreakdown:
    """Apply ``convention`` to ``counts`` = (input, output, cache write, cache read).

    ``prices`` = (input, output, cache write, cache read) after any service / 1M tier;
    ``gemini_tiers`` = (context window or None for unbounded, input, output, cache read)
    for the ``gemini`` convention's context-size tiers.
    """
    input_tokens, output_tokens, write_tokens, read_tokens = counts
    reported = rule.reported
    if convention == "free":
        return _internal(provider, model, convention, reported, (0.0, 0.0, 0.0, 0.0), (0, 0, 0, 0), tier)
    if convention == "anthropic":
        return _internal(provider, model, convention, reported, prices, counts, tier)
    if convention == "input-output":
        return _internal(provider, model, convention, reported, prices, (input_tokens, output_tokens, 0, 0), tier)
    if convention == "openai":
        uncached = max(0, input_tokens - write_tokens - read_tokens)
        return _internal(
            provider, model, convention, reported, prices, (uncached, output_tokens, write_tokens, read_tokens), tier
        )
    return _gemini(provider, model, rule, prices, gemini_tiers, counts, tier)


def _gemini(
    provider: str,
    model: str,
    rule: PricingRule,
    prices: tuple[Optional[float], Optional[float], Optional[float], Optional[float]],
    tiers: tuple[tuple[Optional[int], Optional[float], Optional[float], Optional[float]], ...],
    counts: tuple[int, int, int, int],
    tier: Optional[str],
) -> CostBreakdown:
    input_tokens, output_tokens, _, read_tokens = counts
    input_price, output_price, _, read_price = prices
    for window, tier_input, tier_output, tier_read in tiers:
        if window is None or input_tokens <= window:
            input_price = tier_input if tier_input is not None else input_price
            output_price = tier_output if tier_output is not None else output_price
            read_price = tier_read if tier_read is not None else read_price
            tier = "unbounded" if window is None else f"<= {window} input tokens"
            break
    if not input_price or not output_price:
        # Roo's calculateCost returns undefined; the task loop prices the counts with the
        # Anthropic formula and the untiered prices (Gemini reports no cache writes).
        return _internal(
            provider, model, "anthropic", rule.reported, prices, (input_tokens, output_tokens, 0, read_tokens), None
        )
    read_price = read_price or 0.0
    # Roo computes price * (tokens / 1e6) here (not (price / 1e6) * tokens) and does not
    # floor the uncached count at 0.
    uncached = input_tokens - read_tokens
    read_cost = read_price * (read_tokens / 1_000_000) if read_tokens > 0 else 0.0
    input_cost = input_price * (uncached / 1_000_000)
    output_cost = output_price * (output_tokens / 1_000_000)
    return CostBreakdown(
        provider=provider,
        model=model,
        convention="gemini",
        reported=rule.reported,
        input_tokens=uncached,
        output_tokens=output_tokens,
        cache_write_tokens=0,
        cache_read_tokens=read_tokens,
        input_price=input_price,
        output_price=output_price,
        cache_write_price=0.0,
        cache_read_price=read_price,
        input_cost=input_cost,
        output_cost=output_cost,
        cache_write_cost=0.0,
        cache_read_cost=read_cost,
        total=input_cost + output_cost + read_cost,
        tier=tier,
    )
