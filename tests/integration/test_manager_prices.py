"""The manager prices with the packaged catalog by default: the ``cheapest`` strategy
and the ``cost_usd`` metric, over loopback OpenAI and Anthropic servers."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from tokenwire import catalog
from tokenwire.client import AsyncClient
from tokenwire.manager.prices import CatalogPrices
from tokenwire.testing import Answer, AnthropicMockServer, OpenAIMockServer
from tokenwire.types import Usage

pytestmark = pytest.mark.anyio

OPENAI_KEY = "sk-prices-0123456789abcdef"
ANTHROPIC_KEY = "sk-ant-prices-0123456789"
ASK = [{"role": "user", "content": "hi"}]


@pytest.fixture
def servers() -> Iterator[tuple[OpenAIMockServer, AnthropicMockServer]]:
    with OpenAIMockServer(api_key=OPENAI_KEY) as oai, AnthropicMockServer(api_key=ANTHROPIC_KEY) as ant:
        yield oai, ant


def client(servers: tuple[OpenAIMockServer, AnthropicMockServer], **options: object) -> AsyncClient:
    oai, ant = servers
    return AsyncClient(
        providers={
            "openai": {"api_key": OPENAI_KEY, "base_url": oai.base_url, "api": "chat"},
            "anthropic": {"api_key": ANTHROPIC_KEY, "base_url": ant.base_url},
        },
        **options,  # type: ignore[arg-type]
    )


def test_catalog_prices_lookup_and_cost() -> None:
    prices = CatalogPrices()
    found = catalog.model_info("openai", "gpt-4o")
    assert found is not None
    assert prices("openai", "gpt-4o") == (found.input_price, found.output_price)
    assert prices("openai", "no-such-model") is None
    assert prices("no-such-provider", "m") is None
    usage = Usage(1000, 100, 200, 300)
    assert prices.cost("anthropic", "claude-sonnet-4-5", usage) == catalog.cost(usage, "anthropic", "claude-sonnet-4-5")
    assert prices.cost("anthropic", "claude-sonnet-4-5", Usage(1, 1, cost=0.25)) == 0.25
    assert prices.cost("openai", "no-such-model", usage) is None


async def test_cheapest_route_uses_catalog_prices(servers: tuple[OpenAIMockServer, AnthropicMockServer]) -> None:
    oai, ant = servers
    async with client(servers) as tw:
        # Listed dearest first: the catalog's prices put gpt-4o-mini ahead.
        tw.add_route("thrifty", ["anthropic/claude-opus-4-1", "openai/gpt-4o", "openai/gpt-4o-mini"], "cheapest")
        with anyio.fail_after(10):
            reply = await tw.chat("route:thrifty", ASK)
    assert reply.provider == "openai"
    assert oai.last_request.json()["model"] == "gpt-4o-mini"
    assert ant.requests == []


async def test_cost_metric_follows_the_catalog_formula(servers: tuple[OpenAIMockServer, AnthropicMockServer]) -> None:
    oai, ant = servers
    ant.scripts.push(Answer("priced", usage=(1200, 80, 300, 40)))
    oai.scripts.push(Answer("priced too", usage=(900, 60, 100, 0)))
    async with client(servers) as tw:
        with anyio.fail_after(10):
            first = await tw.chat("anthropic/claude-sonnet-4-5", ASK)
            second = await tw.chat("openai/gpt-4o-mini", ASK)
        targets = tw.metrics.snapshot()["targets"]
    assert first.usage is not None and second.usage is not None
    want_first = catalog.cost(first.usage, "anthropic", "claude-sonnet-4-5")
    want_second = catalog.cost(second.usage, "openai", "gpt-4o-mini")
    assert want_first is not None and want_first > 0 and want_second is not None and want_second > 0
    assert targets["anthropic/claude-sonnet-4-5"]["cost_usd"] == pytest.approx(want_first)
    assert targets["openai/gpt-4o-mini"]["cost_usd"] == pytest.approx(want_second)


async def test_an_explicit_price_lookup_replaces_the_catalog(
    servers: tuple[OpenAIMockServer, AnthropicMockServer],
) -> None:
    oai, _ = servers
    oai.scripts.push(Answer("flat", usage=(1000, 1000)))
    async with client(servers, price_lookup=lambda provider, model: (1.0, 2.0)) as tw:
        with anyio.fail_after(10):
            await tw.chat("openai/gpt-4o-mini", ASK)
        cost = tw.metrics.snapshot()["targets"]["openai/gpt-4o-mini"]["cost_usd"]
    assert cost == pytest.approx((1.0 * 1000 + 2.0 * 1000) / 1e6)
