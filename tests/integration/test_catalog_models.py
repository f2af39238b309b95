"""tokenwire.catalog.list_models over a real loopback server: the live list merged with the
catalog, cached per provider for a TTL, refreshable, errors not cached."""

from __future__ import annotations

import anyio
import pytest

from tokenwire import catalog
from tokenwire.catalog import ModelListCache
from tokenwire.errors import AuthenticationError
from tokenwire.providers.anthropic import AnthropicProvider
from tokenwire.resilience.clock import FakeClock
from tokenwire.testing import AnthropicMockServer

pytestmark = pytest.mark.anyio

KEY = "sk-ant-catalog-test"
LISTED = ["claude-sonnet-4-5", "claude-opus-4-1-20250805", "claude-not-in-the-catalog"]


def _model_requests(server: AnthropicMockServer) -> int:
    return sum(1 for r in server.requests if r.path == "/v1/models")


async def test_live_list_is_merged_and_cached() -> None:
    with AnthropicMockServer(api_key=KEY, models=LISTED) as server:
        async with AnthropicProvider(api_key=KEY, base_url=server.base_url) as provider:
            with anyio.fail_after(10):
                first = await catalog.list_models(provider)
                second = await catalog.list_models(provider)
                assert _model_requests(server) == 1  # the second call was served from the cache
                assert second == first
                refreshed = await catalog.list_models(provider, refresh=True)
                assert _model_requests(server) == 2 and refreshed == first
    by_id = {m.id: m for m in first}
    assert [m.id for m in first] == LISTED
    # Anthropic's endpoint gives no prices; the catalog fills them in.
    sonnet = by_id["claude-sonnet-4-5"]
    assert (sonnet.input_price, sonnet.output_price, sonnet.cache_write_price, sonnet.cache_read_price) == (
        3.0,
        15.0,
        3.75,
        0.3,
    )
    assert sonnet.provider == "anthropic" and sonnet.display_name is not None
    unknown = by_id["claude-not-in-the-catalog"]
    assert unknown.input_price is None and unknown.context_window is None


async def test_own_cache_ttl_and_errors_are_not_cached() -> None:
    clock = FakeClock()
    cache = ModelListCache(ttl=60, clock=clock)
    with AnthropicMockServer(api_key=KEY, models=LISTED) as server:
        async with AnthropicProvider(api_key=KEY, base_url=server.base_url) as provider:
            with anyio.fail_after(10):
                await catalog.list_models(provider, cache=cache)
                clock.advance(59)
                await catalog.list_models(provider, cache=cache)
                assert _model_requests(server) == 1
                clock.advance(1)
                await catalog.list_models(provider, cache=cache)
                assert _model_requests(server) == 2
        async with AnthropicProvider(api_key="sk-ant-wrong", base_url=server.base_url) as wrong:
            uncached = ModelListCache(ttl=60, clock=clock)
            with anyio.fail_after(10):
                for _ in range(2):
                    with pytest.raises(AuthenticationError):
                        await catalog.list_models(wrong, cache=uncached)
            assert _model_requests(server) == 4  # each failed call went to the server
            assert uncached.get(wrong) is None
