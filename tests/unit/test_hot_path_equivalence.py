"""Per-request shortcuts give the same answers as the general paths they bypass.

The manager and provider hot paths skip work in the common case (no rate-limit
headers, no extra header layers, a cached ``httpx.Timeout``, the catalog key reused
for pricing); these tests pin that the shortcuts change no result.
"""

from __future__ import annotations

import copy
import dataclasses
import pickle

import anyio
import httpx
import pytest
from anyio.abc import SocketStream
from hypothesis import given
from hypothesis import strategies as st

from tokenwire import _http, catalog
from tokenwire._http import Cookies, Timeouts, new_async_client, parsed_url, use_own_cookies
from tokenwire.errors import APITimeoutError
from tokenwire.manager.prices import CatalogPrices
from tokenwire.providers.base import merge_headers
from tokenwire.providers.openai import OpenAIProvider
from tokenwire.registry import ProviderRegistry
from tokenwire.resilience import parse_rate_limit_headers
from tokenwire.resilience.clock import FakeClock
from tokenwire.resilience.headers import rate_limit_names
from tokenwire.resilience.limiter import AdaptiveRateLimiter
from tokenwire.types import ChatRequest, Message, Usage

WALL = 1_755_780_060.0

# Raw header lists as they come off the wire: mixed case, repeats, non-ASCII bytes.
RAW_HEADER_SETS: list[list[tuple[bytes, bytes]]] = [
    [],
    [(b"Content-Type", b"text/event-stream"), (b"Date", b"x"), (b"X-Request-Id", b"req_1")],
    [(b"X-RateLimit-Limit-Requests", b"5000"), (b"x-ratelimit-remaining-requests", b"4999")],
    [(b"x-ratelimit-reset-tokens", b"12ms"), (b"X-RATELIMIT-LIMIT-TOKENS", b"80000"), (b"server", b"s")],
    # A repeated name: httpx joins the values with ", " (garbage for a number: dropped).
    [(b"x-ratelimit-limit-requests", b"10"), (b"X-Ratelimit-Limit-Requests", b"20")],
    [(b"anthropic-ratelimit-requests-limit", b"1000"), (b"anthropic-ratelimit-tokens-remaining", b"96000")],
    [(b"Retry-After", b"7"), (b"content-length", b"0")],
    [(b"retry-after-ms", b"250")],
    [(b"x-ratelimit-limit-requests-day", b"14400"), (b"x-ratelimit-limit-requests", b"30")],
    # Names that only look alike, and a non-ASCII name (httpx then decodes as UTF-8).
    [(b"x-ratelimit", b"3"), (b"my-ratelimit-limit-requests", b"9"), (b"x-ratelimit-\xc3\xa9", b"1")],
    [(b"x-ratelimit-limit-requests", b"60"), (b"x-note", b"caf\xc3\xa9")],
]


@pytest.mark.parametrize("raw", RAW_HEADER_SETS)
def test_httpx_headers_parse_like_their_decoded_mapping(raw: list[tuple[bytes, bytes]]) -> None:
    headers = httpx.Headers(raw)
    # The decoded mapping goes through the generic (per-name) path.
    decoded = dict(headers.items())
    assert rate_limit_names(headers) == [n for n in decoded if n.startswith(("x-ratelimit-", "anthropic-", "retry-"))]
    assert parse_rate_limit_headers(headers, wall_now=WALL) == parse_rate_limit_headers(decoded, wall_now=WALL)


def test_rate_limit_names_are_listed_once_in_first_seen_order() -> None:
    headers = httpx.Headers([(b"Retry-After", b"1"), (b"x-ratelimit-limit-requests", b"2"), (b"RETRY-AFTER", b"3")])
    assert rate_limit_names(headers) == ["retry-after", "x-ratelimit-limit-requests"]
    assert rate_limit_names({"Retry-After": "1", "Server": "s"}) == ["Retry-After"]


def test_limiter_observes_headers_with_and_without_rate_limits() -> None:
    limiter = AdaptiveRateLimiter("openai/m", clock=FakeClock())
    assert limiter.observe_headers(httpx.Headers({"content-type": "text/event-stream"})).empty
    stats = limiter.stats()
    assert stats.requests.learned is None and stats.last_headers_at is None
    info = limiter.observe_headers(
        httpx.Headers({"X-RateLimit-Limit-Requests": "600", "x-ratelimit-remaining-requests": "599"})
    )
    assert info.requests is not None and info.requests.limit == 600.0
    stats = limiter.stats()
    assert stats.requests.learned == 600.0 and stats.last_headers_at is not None
    assert dict(stats.last_headers) == {"x-ratelimit-limit-requests": "600", "x-ratelimit-remaining-requests": "599"}


def test_httpx_timeout_is_reused_without_touching_the_dataclass() -> None:
    timeouts = Timeouts(connect=1.0, read=50.0, write=2.0, pool=3.0, idle=20.0, total=60.0)
    before = (repr(timeouts), hash(timeouts))
    stream = timeouts.httpx_timeout(stream=True)
    plain = timeouts.httpx_timeout()
    assert timeouts.httpx_timeout(stream=True) is stream
    assert timeouts.httpx_timeout(stream=False) is plain
    assert stream == httpx.Timeout(connect=1.0, read=20.0, write=2.0, pool=3.0)
    assert plain == httpx.Timeout(connect=1.0, read=50.0, write=2.0, pool=3.0)
    assert (repr(timeouts), hash(timeouts)) == before
    assert timeouts == Timeouts(connect=1.0, read=50.0, write=2.0, pool=3.0, idle=20.0, total=60.0)
    # Copies and replacements answer for their own fields.
    assert pickle.loads(pickle.dumps(timeouts)) == timeouts
    assert copy.copy(timeouts).httpx_timeout(stream=True) == stream
    shorter = dataclasses.replace(timeouts, idle=5.0)
    assert shorter.httpx_timeout(stream=True) == httpx.Timeout(connect=1.0, read=5.0, write=2.0, pool=3.0)


def test_merge_headers_skips_empty_layers_and_later_layers_win() -> None:
    assert merge_headers() == {}
    assert merge_headers(None, {}, None) == {}
    base = {"Authorization": "Bearer k", "Accept": "application/json"}
    merged = merge_headers(base, None, {})
    assert merged == base and merged is not base
    merged = merge_headers(base, {"accept": "text/event-stream"}, None, {"X-Extra": "1"})
    assert list(merged.items()) == [
        ("Authorization", "Bearer k"),
        ("accept", "text/event-stream"),
        ("X-Extra", "1"),
    ]
    # Within one layer too, the last spelling of a name wins.
    assert merge_headers({"A": "1", "a": "2"}) == {"a": "2"}


def test_catalog_prices_cost_of_a_provider_instance_matches_the_catalog() -> None:
    registry = ProviderRegistry.default()
    prices = CatalogPrices()
    usage = Usage(10_000, 1_000, 5_000, 0)
    openai = registry.create("openai", api_key="k")
    assert prices.cost(openai, "gpt-4o", usage) == catalog.cost(usage, openai, "gpt-4o")
    assert prices.cost(openai, "gpt-4o", usage) is not None
    if "zai" in registry:
        # An instance on the China line prices under "zai-china", not "zai".
        china = registry.create("zai", region="china", api_key="k")
        assert prices.cost(china, "glm-4.5", usage) == catalog.cost(usage, china, "glm-4.5")
        assert prices.cost(china, "glm-4.5", usage) == catalog.cost(usage, "zai-china", "glm-4.5")
        assert prices.cost(china, "glm-4.5", usage) != prices.cost("zai", "glm-4.5", usage)


@pytest.mark.parametrize(
    "url",
    [
        "https://api.openai.com/v1/chat/completions",
        "http://127.0.0.1:8080/v1/chat/completions?api-version=2024-10-21",
        "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse",
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/anthropic.claude-3%3A0/converse-stream",
        "http://[::1]:11434/api/chat",
        "https://example.com/v1/a b/ü",
    ],
)
def test_a_parsed_endpoint_url_builds_the_request_the_string_builds(url: str) -> None:
    assert parsed_url(url) is parsed_url(url)
    assert parsed_url(url) == httpx.URL(url)
    client = httpx.AsyncClient()
    body = {"model": "m", "stream": True}
    for params in (None, {"key": "v"}):
        by_string = client.build_request("POST", url, json=body, params=params, headers={"A": "1"})
        by_parsed = client.build_request("POST", parsed_url(url), json=body, params=params, headers={"A": "1"})
        assert by_parsed.url == by_string.url
        assert str(by_parsed.url) == str(by_string.url) and by_parsed.url.raw_path == by_string.url.raw_path
        assert by_parsed.headers.raw == by_string.headers.raw
        assert by_parsed.read() == by_string.read()


def test_the_parsed_url_cache_stays_bounded() -> None:
    for index in range(_http._URLS_MAX + 10):
        parsed_url(f"https://example.com/{index}")
    assert len(_http._URLS) <= _http._URLS_MAX


@pytest.mark.anyio
async def test_the_total_limit_ends_a_wait_for_response_headers() -> None:
    # A server that takes the request and never answers: only the total limit can end
    # the wait (every httpx timeout is far longer).
    async def silent(conn: SocketStream) -> None:
        async with conn:
            await anyio.sleep_forever()

    timeouts = Timeouts(connect=5.0, read=30.0, write=5.0, pool=5.0, idle=30.0, total=0.3)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    request = ChatRequest(model="gpt-4o-mini", messages=(Message("user", "ping"),))
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, silent)
        provider = OpenAIProvider(api_key="k", base_url=f"http://127.0.0.1:{port}/v1", api="chat", timeouts=timeouts)
        async with provider:
            with anyio.fail_after(5.0):
                stream = provider.chat_stream(request)
                with pytest.raises(APITimeoutError):
                    await stream.start()
                await stream.aclose()
            assert provider.pool_stats().in_use == 0
        tg.cancel_scope.cancel()


def test_manager_cost_follows_a_provider_registered_again() -> None:
    from tokenwire.manager import ProviderManager, Target

    registry = ProviderRegistry.default()
    if "zai" not in registry:
        pytest.skip("no zai provider registered")
    usage = Usage(10_000, 1_000, 5_000, 0)
    manager = ProviderManager(registry)
    target = Target("zai", "glm-4.5")
    manager.register(registry.create("zai", region="china", api_key="k"), name="zai")
    assert manager.cost_of(target, usage) == catalog.cost(usage, "zai-china", "glm-4.5")
    # The same target on another instance (the international line) is priced anew.
    manager.register(registry.create("zai", api_key="k"), name="zai")
    assert manager.cost_of(target, usage) == catalog.cost(usage, "zai", "glm-4.5")
    assert catalog.cost(usage, "zai", "glm-4.5") != catalog.cost(usage, "zai-china", "glm-4.5")
    # A price lookup set later replaces the catalog's.
    manager.price_lookup = lambda provider, model: (1.0, 2.0)
    assert manager.cost_of(target, usage) == pytest.approx((10_000 * 1.0 + 1_000 * 2.0) / 1e6)
    # A reported cost wins over both.
    assert manager.cost_of(target, Usage(1, 1, cost=0.5)) == 0.5


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["text", "usage", "finish", "reasoning", "fold"]),
            st.integers(0, 5),
        ),
        max_size=40,
    )
)
def test_a_streams_outcome_without_folding_equals_the_accumulators(steps: list[tuple[str, int]]) -> None:
    from tokenwire.providers.base import ChatStream, HttpCall, ResponseAccumulator
    from tokenwire.types import Finish, ReasoningDelta, TextDelta

    provider = OpenAIProvider(api_key="k", base_url="http://127.0.0.1:9/v1", api="chat")
    stream = ChatStream(provider, HttpCall("POST", "http://127.0.0.1:9/v1/chat/completions", {}, dialect="openai-chat"))
    reference = ResponseAccumulator()
    for kind, n in steps:
        if kind == "fold":
            stream._fold()
            continue
        token = {
            "text": TextDelta(f"t{n}"),
            "reasoning": ReasoningDelta(f"r{n}"),
            "usage": Usage(n, n + 1),
            "finish": Finish(("stop", "length", "tool_calls", "end_turn", "x", "y")[n]),
        }[kind]
        stream._delivered.append(token)
        reference.add(token)
        assert stream._outcome() == (reference.usage, reference.finish_reason)
    assert stream._outcome() == (stream.accumulator.usage, stream.accumulator.finish_reason)


def test_provider_clients_keep_no_response_cookies() -> None:
    # Reached through a private attribute of httpx: an httpx that moved it fails here.
    client = new_async_client(Timeouts())
    assert type(client.cookies) is Cookies
    # Explicit cookies stay; a client given the store keeps the ones it had (once).
    theirs = httpx.AsyncClient(cookies={"session": "s1"})
    assert use_own_cookies(theirs) and use_own_cookies(theirs)
    assert type(theirs.cookies) is Cookies and theirs.cookies.get("session") == "s1"
    request = httpx.Request("GET", "https://api.example.com/v1/models")
    response = httpx.Response(200, headers={"Set-Cookie": "__cf_bm=x; Path=/"}, request=request)
    theirs.cookies.extract_cookies(response)
    assert dict(theirs.cookies) == {"session": "s1"}
