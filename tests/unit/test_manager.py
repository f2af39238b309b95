"""ProviderManager on a FakeClock with scripted in-memory providers (no sockets, no sleeps).

The fake providers answer from a queue of outcomes: an answer (optionally after a
delay on the fake clock), an exception, or a scripted stream (batches of tokens,
errors at chosen points). Everything timing-related — retry waits, breaker open
intervals, health-check intervals and timeouts, latencies for ``least_latency`` — runs
on the FakeClock, driven by ``autojump`` or ``step``. Every test is bounded by
``anyio.fail_after`` and checks that it leaves no task behind.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, Optional, Union

import anyio
import httpx
import pytest

import tokenwire
from tokenwire.client import AsyncClient
from tokenwire.errors import (
    APIConnectionError,
    BadRequestError,
    CircuitOpenError,
    ConfigurationError,
    OverloadedError,
    RateLimitError,
    ServerError,
)
from tokenwire.manager import (
    ManagedStream,
    ManagerEvent,
    ProviderManager,
    ProviderMetrics,
    Route,
    Target,
    prices_from_models,
)
from tokenwire.providers.base import ChatStream, HttpCall, Provider
from tokenwire.resilience import (
    AdaptiveRateLimiter,
    BreakerConfig,
    CircuitBreaker,
    FakeClock,
    LimiterConfig,
    RetryPolicy,
)
from tokenwire.types import (
    ChatRequest,
    ChatResponse,
    CompletionRequest,
    HealthStatus,
    Message,
    ModelInfo,
    StreamToken,
)

pytestmark = pytest.mark.anyio

TextDelta = tokenwire.TextDelta
Usage = tokenwire.Usage
Finish = tokenwire.Finish


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Every test must end with the same tasks it started with."""
    before = set(asyncio.all_tasks())
    yield
    await asyncio.sleep(0)
    leaked = {
        t
        for t in asyncio.all_tasks()
        if t not in before
        and not t.done()
        and t is not asyncio.current_task()
        # anyio's pytest runner drives fixtures and tests from its own task
        and "TestRunner" not in repr(t.get_coro())
    }
    assert not leaked, f"leaked tasks: {leaked}"


# -- scripted providers ------------------------------------------------------------------------


@dataclass
class Ok:
    """A successful answer after ``delay`` seconds of fake time."""

    text: str = "ok"
    delay: float = 0.0
    usage: tuple[int, int] = (10, 5)
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class StreamScript:
    """A stream: ``start_delay`` / ``start_error`` when sending, then ``steps`` — each a
    batch of tokens, an exception (raised when reached) or a float (sleep that long)."""

    steps: list[Union[list[StreamToken], BaseException, float]] = field(default_factory=list)
    start_delay: float = 0.0
    start_error: Optional[BaseException] = None
    headers: dict[str, str] = field(default_factory=dict)


Outcome = Union[Ok, StreamScript, BaseException]


def text_stream(*parts: str, usage: tuple[int, int] = (7, 3)) -> StreamScript:
    return StreamScript(steps=[[TextDelta(p)] for p in parts] + [[Finish("stop"), Usage(usage[0], usage[1], 0, 0, 0)]])


class FakeStream(ChatStream):
    def __init__(self, provider: FakeProvider, model: str, script: StreamScript) -> None:
        super().__init__(provider, HttpCall("POST", "http://fake.invalid/chat", {}, dialect="openai-chat", model=model))
        self._fake = provider
        self._script = script
        self._steps = deque(script.steps)
        self._begun = False

    @property
    def headers(self) -> httpx.Headers:  # type: ignore[override]
        return httpx.Headers(self._script.headers) if self._begun else httpx.Headers()

    async def start(self) -> None:
        if self._begun:
            return
        self._begun = True
        if self._script.start_delay:
            await self._fake.clock.sleep(self._script.start_delay)
        if self._script.start_error is not None:
            raise self._script.start_error

    async def _fill(self) -> None:
        await self.start()
        while not self._pending:
            if not self._steps:
                self._finished = True
                raise StopAsyncIteration
            step = self._steps.popleft()
            if isinstance(step, float):
                await self._fake.clock.sleep(step)
            elif isinstance(step, BaseException):
                raise step
            else:
                self._pending.extend(step)

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._fake.closed_streams += 1


class FakeProvider(Provider):
    """A provider answering from ``outcomes`` (then ``default``), on a fake clock."""

    name = "fake"
    requires_api_key = False

    def __init__(self, name: str, clock: FakeClock, *outcomes: Outcome, default: Optional[Outcome] = None) -> None:
        super().__init__()
        self.name = name  # type: ignore[misc]
        self.clock = clock
        self.outcomes: deque[Outcome] = deque(outcomes)
        self.default: Outcome = default if default is not None else Ok(f"from {name}")
        self.calls: list[str] = []
        self.closed_streams = 0
        self.health: deque[Union[bool, float]] = deque()
        self.health_calls = 0

    def _next(self) -> Outcome:
        return self.outcomes.popleft() if self.outcomes else self.default

    def build_chat_call(self, request: ChatRequest, *, stream: bool) -> HttpCall:
        raise NotImplementedError

    def parse_chat_response(self, data: Any, *, model: str, request_id: Optional[str]) -> ChatResponse:
        raise NotImplementedError

    async def chat(self, request: ChatRequest) -> ChatResponse:
        self.calls.append(request.model)
        outcome = self._next()
        if isinstance(outcome, BaseException):
            raise outcome
        assert isinstance(outcome, Ok), outcome
        if outcome.delay:
            await self.clock.sleep(outcome.delay)
        return ChatResponse(
            text=outcome.text,
            model=request.model,
            provider=self.name,
            usage=Usage(outcome.usage[0], outcome.usage[1], 0, 0, 0),
            finish_reason="stop",
            request_id=f"req-{len(self.calls)}",
        )

    def complete_stream(self, request: CompletionRequest) -> ChatStream:
        return self.chat_stream(request.as_chat())

    def chat_stream(self, request: ChatRequest) -> ChatStream:
        self.calls.append(request.model)
        outcome = self._next()
        if isinstance(outcome, Ok):
            outcome = StreamScript(
                steps=[[TextDelta(outcome.text)], [Usage(*outcome.usage, 0, 0, 0)]],
                start_delay=outcome.delay,
                headers=outcome.headers,
            )
        elif isinstance(outcome, BaseException):
            outcome = StreamScript(start_error=outcome)
        return FakeStream(self, request.model, outcome)

    async def health_check(self) -> HealthStatus:
        self.health_calls += 1
        verdict = self.health.popleft() if self.health else True
        if isinstance(verdict, float):
            await self.clock.sleep(verdict)
            verdict = True
        return HealthStatus(provider=self.name, healthy=verdict, error=None if verdict else "down")


def ask(model: str, **params: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message("user", "hi"),), **params)


def server_error(status: int = 503) -> ServerError:
    return ServerError("boom", status=status, provider="x")


def make(clock: FakeClock, *providers: FakeProvider, **options: Any) -> ProviderManager:
    options.setdefault("retry", RetryPolicy(max_retries=2, random=random.Random(7)))
    manager = ProviderManager(clock=clock, **options)
    for provider in providers:
        manager.register(provider)
    return manager


async def collect(stream: ManagedStream) -> str:
    text = []
    async with stream:
        async for token in stream:
            if token.kind == "text":
                text.append(token.text)  # type: ignore[union-attr]
    return "".join(text)


# -- addressing ---------------------------------------------------------------------------------


async def test_addresses_resolve_to_targets_and_routes() -> None:
    clock = FakeClock()
    manager = make(clock, FakeProvider("a", clock), FakeProvider("b", clock))
    manager.add_route("fast", ["a/m1", "b/m2"])
    assert manager.resolve("a/m1") == (None, [Target("a", "m1")])
    assert manager.resolve("a/org/model") == (None, [Target("a", "org/model")])
    route, targets = manager.resolve("route:fast")
    assert route is manager.route("fast") and targets == [Target("a", "m1"), Target("b", "m2")]
    assert manager.resolve("fast")[0] is route
    with pytest.raises(ConfigurationError, match="unknown route 'slow'"):
        manager.resolve("route:slow")
    with pytest.raises(ConfigurationError, match="provider/model"):
        manager.resolve("m1")
    manager.default_provider = "a"
    assert manager.resolve("m1") == (None, [Target("a", "m1")])
    # A route name shadows a bare model of the default provider; "route:" is explicit.
    assert manager.resolve("fast")[0] is route
    for bad in ("", "a/b", "x:y"):
        with pytest.raises(ValueError, match="invalid route name"):
            manager.add_route(bad, ["a/m1"])
    with pytest.raises(ValueError, match="already exists"):
        manager.add_route("fast", ["a/m1"])
    with pytest.raises(ConfigurationError, match="unknown provider 'nope'"):
        manager.register("nope")
    with pytest.raises(ValueError, match="weights apply"):
        Route("w", ["a/m1", "b/m2"], weights=[1, 2])
    with pytest.raises(ValueError, match="unknown routing strategy"):
        Route("w", ["a/m1"], "fastest")
    assert Route("w", ["a/m1"], "least-latency").strategy == "least_latency"
    assert Route("w", ["a/m1"], "failover").strategy == "priority"


async def test_unknown_provider_in_a_target_is_a_configuration_error() -> None:
    clock = FakeClock()
    manager = make(clock)
    with anyio.fail_after(5), pytest.raises(ConfigurationError, match="unknown provider 'ghost'"):
        await manager.chat(ask("ghost/m"))


# -- strategies -----------------------------------------------------------------------------------


async def test_priority_serves_the_first_target() -> None:
    clock = FakeClock()
    a, b = FakeProvider("a", clock), FakeProvider("b", clock)
    manager = make(clock, a, b)
    manager.add_route("r", ["a/m", "b/m"], "priority")
    with anyio.fail_after(5):
        for _ in range(3):
            assert (await manager.chat(ask("r"))).provider == "a"
    assert len(a.calls) == 3 and b.calls == []


async def test_weighted_round_robin_interleaves_by_weight() -> None:
    clock = FakeClock()
    a, b = FakeProvider("a", clock), FakeProvider("b", clock)
    manager = make(clock, a, b)
    manager.add_route("r", ["a/m", "b/m"], "round_robin", weights=[3, 1])
    with anyio.fail_after(5):
        served = [(await manager.chat(ask("r"))).provider for _ in range(8)]
    # Smooth weighted round-robin: 3:1 spread out, not in bursts.
    assert served == ["a", "a", "b", "a", "a", "a", "b", "a"]
    route = Route("even", ["a/m", "b/m", "c/m"], "round_robin")
    firsts = [route.order(latency=lambda t: None, cost=lambda t: None)[0].provider for _ in range(6)]
    assert firsts == ["a", "b", "c", "a", "b", "c"]
    # The failover order continues around the ring from the chosen target.
    assert [t.provider for t in route.order(latency=lambda t: None, cost=lambda t: None)] == ["a", "b", "c"]
    assert [t.provider for t in route.order(latency=lambda t: None, cost=lambda t: None)] == ["b", "c", "a"]


async def test_least_latency_explores_then_prefers_the_fastest() -> None:
    clock = FakeClock()
    slow = FakeProvider("slow", clock, default=Ok("slow", delay=0.8))
    fast = FakeProvider("fast", clock, default=Ok("fast", delay=0.2))
    manager = make(clock, slow, fast)
    manager.add_route("r", ["slow/m", "fast/m"], "least_latency")
    async with clock.autojump():
        with anyio.fail_after(5):
            served = [(await manager.chat(ask("r"))).provider for _ in range(4)]
    # Each unmeasured target is tried once (route order), then the fastest wins.
    assert served == ["slow", "fast", "fast", "fast"]
    assert manager.latency.get("slow/m") == pytest.approx(0.8)
    assert manager.latency.get("fast/m") == pytest.approx(0.2)


async def test_least_latency_uses_stream_ttft_and_adapts() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, default=Ok("a", delay=0.1))
    b = FakeProvider("b", clock, default=Ok("b", delay=0.3))
    manager = make(clock, a, b, latency_alpha=0.5)
    manager.add_route("r", ["a/m", "b/m"], "least_latency")
    async with clock.autojump():
        with anyio.fail_after(5):
            assert await collect(manager.chat_stream(ask("r"))) == "a"
            assert await collect(manager.chat_stream(ask("r"))) == "b"
            assert await collect(manager.chat_stream(ask("r"))) == "a"
            # "a" turns slow: its average rises past b's and traffic moves.
            a.default = Ok("a", delay=1.0)
            assert await collect(manager.chat_stream(ask("r"))) == "a"  # EWMA 0.55 > 0.3
            assert await collect(manager.chat_stream(ask("r"))) == "b"
    assert manager.latency.get("a/m") == pytest.approx(0.55)


async def test_cheapest_ranks_by_estimated_cost_and_unknown_prices_last() -> None:
    clock = FakeClock()
    providers = [FakeProvider(n, clock) for n in ("dear", "cheap", "unknown", "mid")]
    prices = prices_from_models(
        [
            ModelInfo(id="m", provider="dear", input_price=10.0, output_price=30.0),
            ModelInfo(id="m", provider="cheap", input_price=0.1, output_price=0.4),
            ModelInfo(id="m", provider="mid", input_price=1.0, output_price=2.0),
            ModelInfo(id="m", provider="unknown", input_price=1.0),  # no output price: unknown
        ]
    )
    manager = make(clock, *providers, price_lookup=prices)
    route = manager.add_route("r", ["unknown/m", "dear/m", "mid/m", "cheap/m"], "cheapest")
    with anyio.fail_after(5):
        assert (await manager.chat(ask("r", max_tokens=100))).provider == "cheap"
        providers[1].outcomes.append(server_error())  # cheap fails: the next cheapest serves
        assert (await manager.chat(ask("r", max_tokens=100))).provider == "mid"
    order = route.order(latency=lambda t: None, cost=lambda t: manager._cost_rank(manager._call(ask("r"), "chat"), t))
    assert [t.provider for t in order] == ["cheap", "mid", "dear", "unknown"]
    # Output prices weigh with max_tokens: output-heavy requests favour cheap output.
    a_in = ModelInfo(id="m", provider="a", input_price=0.5, output_price=10.0)
    b_out = ModelInfo(id="m", provider="b", input_price=5.0, output_price=1.0)
    lookup = prices_from_models([a_in, b_out])
    small = ProviderManager(clock=clock, price_lookup=lookup)
    small.add_route("p", ["a/m", "b/m"], "cheapest")
    pair = Route("p", ["a/m", "b/m"], "cheapest")
    long_prompt = ChatRequest(model="p", messages=(Message("user", "word " * 2000),), max_tokens=10)
    long_answer = ChatRequest(model="p", messages=(Message("user", "hi"),), max_tokens=4000)
    for request, first in ((long_prompt, "a"), (long_answer, "b")):
        call = small._call(request, "chat")
        assert pair.order(latency=lambda t: None, cost=lambda t, c=call: small._cost_rank(c, t))[0].provider == first
    # Without any price lookup every target is unpriced: route order.
    plain = make(clock, *providers)
    plain.add_route("r", ["unknown/m", "dear/m"], "cheapest")
    with anyio.fail_after(5):
        assert (await plain.chat(ask("r"))).provider == "unknown"


# -- failover and retries -----------------------------------------------------------------------


async def test_failover_on_retryable_error_and_open_breaker() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, OverloadedError("overloaded", status=529))
    b = FakeProvider("b", clock)
    manager = make(clock, a, b)
    events: list[ManagerEvent] = []
    manager.add_listener(events.append)
    manager.add_route("r", ["a/m", "b/m"])
    with anyio.fail_after(5):
        reply = await manager.chat(ask("r"))
    assert reply.provider == "b" and reply.model == "m"
    assert [(e.kind, e.target, e.next_target) for e in events] == [("failover", "a/m", "b/m")]
    assert manager.metrics.target("a/m")["failovers"] == 1
    assert manager.metrics.target("a/m")["errors"] == {"OverloadedError": 1}
    # An open breaker on the first target: refused at once, served by the second.
    manager.breaker("a/m").trip()
    calls = len(a.calls)
    with anyio.fail_after(5):
        assert (await manager.chat(ask("r"))).provider == "b"
    assert len(a.calls) == calls
    # (the planner also moved the refusing target behind the ready one)
    assert manager.metrics.target("a/m")["rejected"] == 0
    # With only the refusing target, the refusal is the answer.
    with anyio.fail_after(5), pytest.raises(CircuitOpenError):
        await manager.chat(ask("a/m"))
    assert manager.metrics.target("a/m")["rejected"] == 1


async def test_non_retryable_errors_neither_retry_nor_fail_over() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, BadRequestError("bad", status=400))
    b = FakeProvider("b", clock)
    manager = make(clock, a, b)
    manager.add_route("r", ["a/m", "b/m"])
    with anyio.fail_after(5), pytest.raises(BadRequestError):
        await manager.chat(ask("r"))
    assert b.calls == []
    assert clock.now() == 0.0


async def test_retry_honors_retry_after_on_the_fake_clock() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, RateLimitError("slow down", status=429, retry_after=7.0), Ok("done"))
    manager = make(clock, a)
    events: list[ManagerEvent] = []
    manager.add_listener(events.append)
    async with clock.autojump():
        with anyio.fail_after(5):
            reply = await manager.chat(ask("a/m"))
    assert reply.text == "done"
    assert clock.now() == 7.0  # exactly the provider's delay, no jitter
    assert [e.kind for e in events] == ["rate_limited", "retry"]
    assert events[1].delay == 7.0
    m = manager.metrics.target("a/m")
    assert (m["requests"], m["successes"], m["retries"], m["errors"]) == (2, 1, 1, {"RateLimitError": 1})
    stats = manager.limiter("a/m").stats()
    assert stats.rate_limited == 1


async def test_retries_rounds_over_the_route_then_give_up_with_the_retryable_error() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, default=server_error(502))
    b = FakeProvider("b", clock, default=server_error(503))
    policy = RetryPolicy(max_retries=2, initial_delay=1.0, random=random.Random(3))
    manager = make(clock, a, b, retry=policy)
    manager.add_route("r", ["a/m", "b/m"])
    async with clock.autojump():
        with anyio.fail_after(5), pytest.raises(ServerError) as info:
            await manager.chat(ask("r"))
    assert info.value.status == 503  # the last round's last retryable error
    # Three rounds (two retries) of a then b.
    assert (len(a.calls), len(b.calls)) == (3, 3)
    assert manager.metrics.target("a/m")["retries"] == 2
    assert manager.metrics.target("a/m")["failovers"] == 3
    # Full-jitter delays drawn under the policy's ceilings: 1 s, then 2 s.
    expected = random.Random(3)
    assert clock.now() == pytest.approx(expected.uniform(0, 1.0) + expected.uniform(0, 2.0))


async def test_retry_deadline_bounds_the_whole_call() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, default=RateLimitError("slow", status=429, retry_after=30.0))
    manager = make(clock, a, retry=RetryPolicy(max_retries=5, deadline=45.0))
    async with clock.autojump():
        with anyio.fail_after(5), pytest.raises(RateLimitError):
            await manager.chat(ask("a/m"))
    assert len(a.calls) == 2 and clock.now() == 30.0


async def test_unhealthy_targets_are_skipped_unless_all_are() -> None:
    clock = FakeClock()
    a, b = FakeProvider("a", clock), FakeProvider("b", clock)
    manager = make(clock, a, b)
    manager.add_route("r", ["a/m", "b/m"])
    manager.mark_unhealthy("a")
    assert not manager.is_healthy("a/m")
    with anyio.fail_after(5):
        assert (await manager.chat(ask("r"))).provider == "b"
        manager.mark_unhealthy("b")
        assert (await manager.chat(ask("r"))).provider == "a"  # all unhealthy: try them all
        manager.mark_healthy("a")
        manager.mark_healthy("b")
        assert (await manager.chat(ask("r"))).provider == "a"


async def test_rate_limited_target_moves_behind_a_ready_one() -> None:
    clock = FakeClock()
    a, b = FakeProvider("a", clock), FakeProvider("b", clock)
    manager = make(clock, a, b, limiter_config=LimiterConfig(requests_per_minute=1))
    manager.add_route("r", ["a/m", "b/m"])
    with anyio.fail_after(5):
        assert (await manager.chat(ask("r"))).provider == "a"
        # a's bucket is empty for 60 s: the request goes to b instead of waiting.
        assert (await manager.chat(ask("r"))).provider == "b"


# -- circuit breaker ------------------------------------------------------------------------------


async def test_breaker_opens_after_failures_and_recovers_through_half_open() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, *[server_error(500)] * 4)
    config = BreakerConfig(
        window_size=4, minimum_calls=4, failure_rate_threshold=0.5, open_duration=10.0, half_open_calls=1
    )
    manager = make(clock, a, breaker_config=config, retry=RetryPolicy(max_retries=0))
    events: list[tuple[str, Optional[str], Optional[str], float]] = []
    manager.add_listener(lambda e: events.append((e.kind, e.previous, e.state, e.at)) if e.kind == "breaker" else None)
    with anyio.fail_after(5):
        for _ in range(4):
            with pytest.raises(ServerError):
                await manager.chat(ask("a/m"))
        assert manager.breaker("a/m").state == "open"
        with pytest.raises(CircuitOpenError) as refused:
            await manager.chat(ask("a/m"))
        assert refused.value.retry_at == 10.0
        assert len(a.calls) == 4  # refused without calling the provider
        clock.advance(10.0)
        assert (await manager.chat(ask("a/m"))).text == "from a"  # the half-open probe
    assert manager.breaker("a/m").state == "closed"
    assert events == [
        ("breaker", "closed", "open", 0.0),
        ("breaker", "open", "half_open", 10.0),
        ("breaker", "half_open", "closed", 10.0),
    ]
    m = manager.metrics.target("a/m")
    assert m["breaker_state"] == "closed"
    assert m["breaker_transitions"] == {"open": 1, "half_open": 1, "closed": 1}
    assert (m["requests"], m["rejected"]) == (5, 1)


async def test_breaker_per_target_config_and_failed_probe_reopens_longer() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, default=server_error())
    fast = BreakerConfig(window_size=2, minimum_calls=2, open_duration=1.0, half_open_calls=1)
    manager = make(clock, a, breaker_configs={"a/m": fast}, retry=RetryPolicy(max_retries=0))
    assert manager.breaker("a/other").config == BreakerConfig()
    with anyio.fail_after(5):
        for _ in range(2):
            with pytest.raises(ServerError):
                await manager.chat(ask("a/m"))
        clock.advance(1.0)
        with pytest.raises(ServerError):
            await manager.chat(ask("a/m"))  # the probe fails
    stats = manager.breaker("a/m").stats()
    assert stats.state == "open" and stats.retry_at == 3.0  # second opening: 2 s


async def test_a_round_ending_on_a_refusal_retries_with_the_retryable_error() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, server_error(503), Ok("second round"))
    b = FakeProvider("b", clock)
    manager = make(clock, a, b, retry=RetryPolicy(max_retries=1, initial_delay=0.5, random=random.Random(2)))
    manager.add_route("r", ["a/m", "b/m"])
    manager.breaker("b/m").trip()  # open for 5 s: b refuses
    async with clock.autojump():
        with anyio.fail_after(5):
            assert (await manager.chat(ask("r"))).text == "second round"
    assert b.calls == [] and manager.metrics.target("b/m")["rejected"] == 1


async def test_each_retry_round_is_arranged_again() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, default=server_error(503))
    b = FakeProvider("b", clock, server_error(503), Ok("b again"))
    tight = BreakerConfig(window_size=1, minimum_calls=1, open_duration=60.0)
    manager = make(clock, a, b, breaker_configs={"a/m": tight}, retry=RetryPolicy(max_retries=1, initial_delay=0.1))
    manager.add_route("r", ["a/m", "b/m"])
    async with clock.autojump():
        with anyio.fail_after(5):
            assert (await manager.chat(ask("r"))).text == "b again"
    # a's breaker opened in the first round, so the second round started with b and
    # never asked a (not even to be refused).
    assert len(a.calls) == 1 and len(b.calls) == 2
    assert manager.metrics.target("a/m")["rejected"] == 0
    assert manager.metrics.target("b/m")["retries"] == 1


async def test_half_open_refusal_gives_the_limiter_permit_back() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, StreamScript(start_delay=50.0), default=Ok("x"))
    config = BreakerConfig(window_size=2, minimum_calls=1, open_duration=5.0, half_open_calls=1)
    manager = make(clock, a, breaker_config=config, limiter_config=LimiterConfig(requests_per_minute=10))
    manager.breaker("a/m").trip()
    clock.advance(5.0)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as group:
            group.start_soon(collect, manager.chat_stream(ask("a/m")))  # the one probe, slow to start
            await clock.run_until_idle()
            with pytest.raises(CircuitOpenError, match="half-open"):
                await manager.chat(ask("a/m"))
            # The refused call took its request back from the bucket: only the probe counts.
            assert manager.limiter("a/m").stats().requests.available == pytest.approx(9.0)
            group.cancel_scope.cancel()
    assert manager.metrics.target("a/m")["rejected"] == 1


# -- streaming --------------------------------------------------------------------------------------


async def test_stream_fails_over_before_the_first_token() -> None:
    clock = FakeClock()
    # a: 503 at send; b: an overloaded error event before any token; c serves.
    a = FakeProvider("a", clock, server_error(503))
    b = FakeProvider("b", clock, StreamScript(steps=[OverloadedError("overloaded", error_type="overloaded_error")]))
    c = FakeProvider("c", clock, text_stream("Hel", "lo"))
    manager = make(clock, a, b, c)
    manager.add_route("r", ["a/m", "b/m", "c/m"])
    stream = manager.chat_stream(ask("r"))
    assert stream.model is None and stream.target is None
    with anyio.fail_after(5):
        assert await collect(stream) == "Hello"
    assert stream.target == Target("c", "m") and stream.model == "m"
    assert [(t.target.provider, type(t.error).__name__ if t.error else None) for t in stream.attempts] == [
        ("a", "ServerError"),
        ("b", "OverloadedError"),
        ("c", None),
    ]
    assert b.closed_streams == 1 and c.closed_streams == 1
    final = stream.accumulator
    assert final.text == "Hello" and final.usage == Usage(7, 3, 0, 0, 0)
    m = manager.metrics.target("c/m")
    assert (m["successes"], m["input_tokens"], m["output_tokens"], m["ttft"]["count"]) == (1, 7, 3, 1)


async def test_stream_error_after_the_first_token_propagates_without_retry() -> None:
    clock = FakeClock()
    cut = APIConnectionError("connection lost mid-stream")
    a = FakeProvider("a", clock, StreamScript(steps=[[TextDelta("Hel")], [TextDelta("lo")], cut]))
    b = FakeProvider("b", clock)
    manager = make(clock, a, b)
    manager.add_route("r", ["a/m", "b/m"])
    got: list[str] = []
    with anyio.fail_after(5):
        async with manager.chat_stream(ask("r")) as stream:
            with pytest.raises(APIConnectionError):
                async for token in stream:
                    got.append(token.text)  # type: ignore[union-attr]
    # Every token decoded before the cut was delivered, once; nothing was retried.
    assert got == ["Hel", "lo"]
    assert b.calls == [] and len(stream.attempts) == 1
    m = manager.metrics.target("a/m")
    assert (m["requests"], m["successes"], m["errors"]) == (1, 0, {"APIConnectionError": 1})
    assert manager.breaker("a/m").stats().failures == 1


async def test_stream_retries_a_stall_cut_before_the_first_token_on_the_same_target() -> None:
    clock = FakeClock()
    a = FakeProvider(
        "a",
        clock,
        StreamScript(steps=[0.5, APIConnectionError("reset before any token")]),
        text_stream("fine"),
    )
    manager = make(clock, a, retry=RetryPolicy(max_retries=1, initial_delay=0.25, random=random.Random(1)))
    async with clock.autojump():
        with anyio.fail_after(5):
            stream = manager.chat_stream(ask("a/m"))
            assert await collect(stream) == "fine"
    assert [a.ok for a in stream.attempts] == [False, True]
    assert stream.attempts[1].retry
    assert stream.ttft is not None and 0.5 <= stream.ttft <= 0.75  # the stall + the backoff
    assert a.closed_streams == 2


async def test_stream_closed_early_counts_as_success_and_releases_the_connection() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, text_stream("one", "two", "three"))
    manager = make(clock, a)
    with anyio.fail_after(5):
        async with manager.chat_stream(ask("a/m")) as stream:
            async for token in stream:
                assert token == TextDelta("one")
                break
    assert stream.closed and a.closed_streams == 1
    m = manager.metrics.target("a/m")
    assert (m["successes"], m["in_flight"]) == (1, 0)
    assert manager.breaker("a/m").stats().calls == 1


async def test_stream_next_batch_and_final_response() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, text_stream("a", "b"), text_stream("c"))
    manager = make(clock, a)
    with anyio.fail_after(5):
        stream = manager.chat_stream(ask("a/m"))
        batches = []
        while batch := await stream.next_batch():
            batches.append(batch)
        await stream.aclose()
        assert batches == [[TextDelta("a")], [TextDelta("b")], [Finish("stop"), Usage(7, 3, 0, 0, 0)]]
        answer = await manager.chat_stream(ask("a/m")).get_final_response()
    assert answer.text == "c" and answer.provider == "a" and answer.model == "m"
    assert manager.metrics.target("a/m")["successes"] == 2


async def test_empty_stream_is_a_success_with_no_tokens() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, StreamScript(steps=[]))
    manager = make(clock, a)
    with anyio.fail_after(5):
        assert await collect(manager.chat_stream(ask("a/m"))) == ""
    assert manager.metrics.target("a/m")["successes"] == 1


async def test_cancelled_stream_start_releases_everything() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, StreamScript(start_delay=1000.0), default=Ok("after"))
    config = BreakerConfig(window_size=2, minimum_calls=1, open_duration=5.0, half_open_calls=1)
    manager = make(clock, a, breaker_config=config)
    manager.breaker("a/m").trip()
    clock.advance(5.0)  # half-open: exactly one probe slot
    with anyio.fail_after(5):
        with anyio.move_on_after(0.05):
            async with manager.chat_stream(ask("a/m")):
                pytest.fail("the stream cannot start")
        # The abandoned probe gave its slot back: the next probe gets through and closes.
        assert (await manager.chat(ask("a/m"))).text == "after"
    assert manager.breaker("a/m").state == "closed"
    m = manager.metrics.target("a/m")
    assert (m["cancelled"], m["in_flight"], m["successes"]) == (1, 0, 1)
    assert a.closed_streams == 1
    assert manager.limiter("a/m").stats().granted == 2


async def test_stream_learns_rate_limit_headers_at_start() -> None:
    clock = FakeClock()
    headers = {
        "x-ratelimit-limit-requests": "100",
        "x-ratelimit-remaining-requests": "99",
        "x-ratelimit-reset-requests": "600ms",
    }
    a = FakeProvider("a", clock, Ok("x", headers=headers))
    manager = make(clock, a)
    with anyio.fail_after(5):
        async with manager.chat_stream(ask("a/m")) as stream:
            # Learned before the stream ended.
            assert manager.limiter("a/m").stats().requests.limit == 100
            await stream.get_final_response()


async def test_complete_and_complete_stream_go_through_the_manager() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, server_error(), Ok("done"), default=Ok("streamed"))
    manager = make(clock, a)
    async with clock.autojump():
        with anyio.fail_after(5):
            reply = await manager.complete(CompletionRequest(model="a/m", prompt="Say"))
            assert reply.text == "done"
            text = await collect(manager.complete_stream(CompletionRequest(model="a/m", prompt="Say")))
    assert text == "streamed"
    assert manager.metrics.target("a/m")["requests"] == 3


# -- limiter integration -------------------------------------------------------------------------


async def test_token_estimate_is_charged_then_settled_with_usage() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, Ok("x", usage=(40, 60)))
    manager = make(clock, a, limiter_config=LimiterConfig(tokens_per_minute=10_000))
    request = ask("a/m", max_tokens=500)
    estimate = manager._call(request, "chat").token_estimate()
    assert estimate > 500
    with anyio.fail_after(5):
        await manager.chat(request)
    # The estimate was refunded down to the real usage (no time passed).
    assert manager.limiter("a/m").stats().tokens.available == pytest.approx(10_000 - 100)


async def test_limiter_scope_per_provider_or_per_model() -> None:
    clock = FakeClock()
    manager = make(clock, FakeProvider("a", clock), FakeProvider("b", clock), limiter_scope={"b": "provider"})
    assert manager.limiter("a/m1") is not manager.limiter("a/m2")
    assert manager.limiter("b/m1") is manager.limiter("b/m2")
    assert manager.limiter_key("b/m1") == "b"
    with pytest.raises(ValueError, match="limiter_scope"):
        ProviderManager(limiter_scope="global")


async def test_breakers_and_limiters_come_from_the_factories() -> None:
    clock = FakeClock()
    made: list[tuple[str, str]] = []

    def breaker_factory(key: str, config: BreakerConfig, clk: Any) -> CircuitBreaker:
        made.append(("breaker", key))
        return CircuitBreaker(key, config, clock=clk)

    def limiter_factory(key: str, config: LimiterConfig, clk: Any) -> AdaptiveRateLimiter:
        made.append(("limiter", key))
        return AdaptiveRateLimiter(key, config, clock=clk)

    a = FakeProvider("a", clock, default=server_error())
    config = BreakerConfig(window_size=1, minimum_calls=1)
    manager = make(
        clock,
        a,
        breaker_config=config,
        breaker_factory=breaker_factory,
        limiter_factory=limiter_factory,
        retry=RetryPolicy(max_retries=0),
    )
    with anyio.fail_after(5), pytest.raises(ServerError):
        await manager.chat(ask("a/m"))
    assert made == [("breaker", "a/m"), ("limiter", "a/m")]
    # The manager still hears the factory-made breaker's state changes.
    assert manager.metrics.target("a/m")["breaker_state"] == "open"


# -- health monitor --------------------------------------------------------------------------------


async def test_health_monitor_marks_and_restores_targets() -> None:
    clock = FakeClock()
    a, b = FakeProvider("a", clock), FakeProvider("b", clock)
    a.health.extend([False, False, True])
    manager = make(clock, a, b)
    manager.add_route("r", ["a/m", "b/m"])
    changes: list[tuple[str, Optional[str]]] = []
    manager.add_listener(lambda e: changes.append((e.target, e.state)) if e.kind == "health" else None)
    with anyio.fail_after(5):
        async with manager.run_health_monitor(10.0, timeout=2.0, failure_threshold=2) as monitor:
            await clock.run_until_idle()
            assert monitor.rounds == 1 and manager.is_healthy("a/m")  # one failure is not an outage
            await clock.step(10.0)
            assert monitor.rounds == 2 and not manager.is_healthy("a/m")
            assert (await manager.chat(ask("r"))).provider == "b"
            await clock.step(10.0)
            assert monitor.rounds == 3 and manager.is_healthy("a/m")
            assert (await manager.chat(ask("r"))).provider == "a"
    assert changes == [("a", "unhealthy"), ("a", "healthy")]
    state = manager.health()["a"]
    assert state.checks == 3 and state.last_status is not None and state.last_status.healthy


async def test_slow_health_check_is_bounded_by_its_timeout() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock)
    a.health.append(100.0)  # a check that would take 100 s
    manager = make(clock, a)
    with anyio.fail_after(5):
        async with manager.run_health_monitor(30.0, timeout=2.5, failure_threshold=1):
            await clock.step(2.5)
            state = manager.health()["a"]
            assert not state.healthy
            assert state.last_status is not None and state.last_status.error == "health check timed out after 2.5s"
            assert clock.sleepers == 1  # only the monitor's interval sleep: the probe was cancelled
    assert clock.sleepers == 0


async def test_health_of_an_unbuildable_provider_and_a_broken_listener() -> None:
    clock = FakeClock()
    manager = make(clock, FakeProvider("a", clock))
    manager.add_route("r", ["a/m", "ghost/m"])

    def broken(event: ManagerEvent) -> None:
        raise RuntimeError("listener bug")

    manager.add_listener(broken)
    with anyio.fail_after(5):
        results = await manager.check_health()
        assert results["a"].healthy
        assert not results["ghost"].healthy and "unknown provider 'ghost'" in (results["ghost"].error or "")
        assert (await manager.chat(ask("r"))).provider == "a"


async def test_manager_context_runs_the_monitor_and_check_health_once() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock)
    a.health.extend([False])
    manager = make(clock, a, health_interval=60.0)
    with anyio.fail_after(5):
        async with manager:
            await clock.run_until_idle()
            assert a.health_calls == 1
            await clock.step(60.0)
            assert a.health_calls == 2
        results = await manager.check_health()
    assert results["a"].healthy and manager.is_healthy("a/x")


# -- metrics and exports -----------------------------------------------------------------------------


async def test_metrics_count_everything_and_snapshot_is_plain_data() -> None:
    clock = FakeClock()
    a = FakeProvider(
        "a", clock, RateLimitError("slow", status=429, retry_after=1.0), Ok("x", delay=0.3, usage=(1000, 2000))
    )
    prices = {("a", "m"): (3.0, 15.0)}
    metrics = ProviderMetrics()
    manager = make(clock, a, metrics=metrics, price_lookup=lambda p, m: prices.get((p, m)))
    async with clock.autojump():
        with anyio.fail_after(5):
            await manager.chat(ask("a/m"))
    snap = metrics.snapshot()
    json.dumps(snap)  # plain data
    m = snap["targets"]["a/m"]
    assert (m["requests"], m["successes"], m["errors"], m["retries"]) == (2, 1, {"RateLimitError": 1}, 1)
    assert (m["input_tokens"], m["output_tokens"]) == (1000, 2000)
    assert m["cost_usd"] == pytest.approx(3.0 * 1000 / 1e6 + 15.0 * 2000 / 1e6)
    assert m["latency"]["count"] == 2 and m["latency"]["sum"] == pytest.approx(0.3)
    assert m["latency"]["buckets"][-1] == ["+Inf", 2]
    assert m["ttft"]["count"] == 0  # non-streaming
    full = manager.snapshot()
    json.dumps(full)
    assert full["breakers"]["a/m"]["state"] == "closed" and full["limiters"]["a/m"]["rate_limited"] == 1


async def test_prometheus_exposition_contains_the_series() -> None:
    pytest.importorskip("prometheus_client")
    from prometheus_client import CollectorRegistry, generate_latest

    metrics = ProviderMetrics()
    metrics.record_request("openai", "gpt-4o")
    metrics.record_success("openai", "gpt-4o", latency=0.42, ttft=0.12, usage=Usage(11, 22, 3, 0, 0), cost=0.5)
    metrics.record_request("openai", "gpt-4o", retry=True)
    metrics.record_error("openai", "gpt-4o", RateLimitError("x"))
    metrics.record_failover("openai", "gpt-4o")
    metrics.record_rejected("anthropic", "claude")
    metrics.record_breaker_state("anthropic", "claude", "open")
    text = metrics.prometheus_text()
    for line in (
        'tokenwire_requests_total{model="gpt-4o",provider="openai"} 2.0',
        'tokenwire_successes_total{model="gpt-4o",provider="openai"} 1.0',
        'tokenwire_errors_total{error="RateLimitError",model="gpt-4o",provider="openai"} 1.0',
        'tokenwire_retries_total{model="gpt-4o",provider="openai"} 1.0',
        'tokenwire_failovers_total{model="gpt-4o",provider="openai"} 1.0',
        'tokenwire_rejected_total{model="claude",provider="anthropic"} 1.0',
        'tokenwire_tokens_total{kind="input",model="gpt-4o",provider="openai"} 11.0',
        'tokenwire_tokens_total{kind="cache_read",model="gpt-4o",provider="openai"} 3.0',
        'tokenwire_cost_usd_total{model="gpt-4o",provider="openai"} 0.5',
        'tokenwire_request_duration_seconds_bucket{le="0.5",model="gpt-4o",provider="openai"} 1.0',
        'tokenwire_request_duration_seconds_bucket{le="0.25",model="gpt-4o",provider="openai"} 0.0',
        'tokenwire_request_duration_seconds_count{model="gpt-4o",provider="openai"} 1.0',
        'tokenwire_time_to_first_token_seconds_sum{model="gpt-4o",provider="openai"} 0.12',
        'tokenwire_breaker_state{model="claude",provider="anthropic",state="open"} 1.0',
        'tokenwire_breaker_state{model="claude",provider="anthropic",state="closed"} 0.0',
        'tokenwire_in_flight{model="gpt-4o",provider="openai"} 0.0',
    ):
        assert line in text, line
    registry = CollectorRegistry()
    collector = metrics.to_prometheus(registry)
    assert collector.source is metrics
    assert b"tokenwire_requests_total" in generate_latest(registry)


@pytest.fixture
def spans() -> Iterator[Any]:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test"), exporter
    provider.shutdown()


async def test_opentelemetry_spans_follow_the_genai_conventions(spans: Any) -> None:
    tracer, exporter = spans
    clock = FakeClock()
    a = FakeProvider("openai", clock, server_error(503), Ok("hi", usage=(12, 34)), text_stream("s"))
    manager = make(clock, a, tracer=tracer)
    assert manager.tracing.enabled
    async with clock.autojump():
        with anyio.fail_after(5):
            await manager.chat(ask("openai/gpt-4o-mini", max_tokens=64, temperature=0.5))
            await collect(manager.chat_stream(ask("openai/gpt-4o-mini")))
    finished = exporter.get_finished_spans()
    assert [s.name for s in finished] == ["chat gpt-4o-mini"] * 3
    failed, ok, streamed = finished
    assert failed.attributes["error.type"] == "ServerError"
    assert failed.status.status_code.name == "ERROR"
    assert ok.kind.name == "CLIENT"
    attributes = dict(ok.attributes)
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.provider.name"] == attributes["gen_ai.system"] == "openai"
    assert attributes["gen_ai.request.model"] == "gpt-4o-mini"
    assert attributes["gen_ai.request.max_tokens"] == 64
    assert attributes["gen_ai.request.temperature"] == 0.5
    assert attributes["gen_ai.usage.input_tokens"] == 12
    assert attributes["gen_ai.usage.output_tokens"] == 34
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["tokenwire.attempt"] == 1
    assert "error.type" not in attributes
    assert streamed.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert streamed.attributes["tokenwire.time_to_first_token"] == 0.0


async def test_the_exports_are_optional_imports() -> None:
    code = (
        "import sys, tokenwire.client, tokenwire.manager as m; c = tokenwire.client.AsyncClient(); "
        "m.ProviderMetrics().snapshot(); "
        "print(sorted(n for n in sys.modules if n.startswith(('prometheus_client', 'opentelemetry'))))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


async def test_tracing_can_be_disabled() -> None:
    assert not ProviderManager(tracer=False).tracing.enabled


async def test_automatic_tracing_waits_for_a_tracer_provider() -> None:
    # Imported is not configured (the anthropic SDK imports OpenTelemetry): no spans until
    # the application sets a tracer provider; from then on, spans. A fresh process: the
    # global provider can be set once.
    pytest.importorskip("opentelemetry.sdk")
    code = """
import json
from opentelemetry import trace
import tokenwire.manager as m
tracing = m.ProviderManager().tracing
before = tracing.enabled
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
from tokenwire.types import ChatRequest, Message
request = ChatRequest(model="gpt-4o-mini", messages=(Message("user", "hi"),))
span = tracing.start("chat", "openai", "gpt-4o-mini", request)
tracing.succeed(span)
print(json.dumps([before, tracing.enabled, [s.name for s in exporter.get_finished_spans()]]))
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [False, True, ["chat gpt-4o-mini"]]


# -- lifecycle, registration, the client -------------------------------------------------------------


async def test_register_unregister_and_default_provider() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock)
    manager = make(clock)
    assert manager.register(a, name="alias", default=True) == "alias"
    assert manager.default_provider == "alias" and manager.provider("alias") is a
    with anyio.fail_after(5):
        assert (await manager.chat(ask("m"))).provider == "a"
        manager.breaker("alias/m")
        await manager.unregister("alias")
    assert manager.default_provider is None
    assert "alias/m" not in manager.snapshot()["breakers"]
    with pytest.raises(KeyError):
        await manager.unregister("alias")
    with pytest.raises(TypeError, match="options apply"):
        manager.register(a, options={"api_key": "x"})
    with pytest.raises(ValueError, match="invalid provider name"):
        manager.register(a, name="a/b")
    # Registry providers are built lazily, under an alias if asked.
    key = manager.register("openai", name="openai-eu", options={"api_key": "sk-eu-000000"})
    built = manager.provider(key)
    assert built.name == "openai" and built.api_key == "sk-eu-000000"
    assert "openai-eu" in manager.known_providers()
    await manager.aclose()


async def test_count_tokens_and_list_models_delegate() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock)
    manager = make(clock, a)
    manager.add_route("r", ["a/m"])
    with anyio.fail_after(5):
        assert await manager.count_tokens(ask("r")) == await a.count_tokens(ask("m")) > 0
        assert await manager.list_models("a") == []


async def test_async_client_goes_through_its_manager() -> None:
    clock = FakeClock()
    a = FakeProvider("a", clock, server_error(), default=Ok("via manager"))
    b = FakeProvider("b", clock)
    async with AsyncClient(clock=clock, retry=RetryPolicy(max_retries=0)) as client:
        client.add_provider("a", a)
        client.add_provider("b", b)
        client.add_route("r", ["a/m", "b/m"])
        assert client.provider("a") is a and client.manager.provider("b") is b
        with anyio.fail_after(5):
            reply = await client.chat("r", [{"role": "user", "content": "hi"}])
            assert reply.provider == "b"  # failed over
            stream = client.chat_stream("a/m", [{"role": "user", "content": "hi"}])
            assert isinstance(stream, ManagedStream) and stream.model == "m"
            assert await collect(stream) == "via manager"
    assert client.metrics.target("a/m")["failovers"] == 1
    manager = ProviderManager(clock=clock)
    shared = AsyncClient(manager=manager)
    assert shared.manager is manager
    with pytest.raises(TypeError, match="either a manager"):
        AsyncClient(manager=manager, default_provider="a")


async def test_reported_cost_wins_in_cost_of_and_metrics() -> None:
    clock = FakeClock()
    billed = StreamScript(steps=[[TextDelta("x")], [Finish("stop"), Usage(1000, 2000, 0, 0, 0, cost=0.042)]])
    a = FakeProvider("a", clock, billed, text_stream("y", usage=(1000, 2000)))
    prices = {("a", "m"): (3.0, 15.0)}
    metrics = ProviderMetrics()
    manager = make(clock, a, metrics=metrics, price_lookup=lambda p, m: prices.get((p, m)))
    formula = (3.0 * 1000 + 15.0 * 2000) / 1e6
    target = Target("a", "m")
    assert manager.cost_of(target, Usage(1000, 2000, cost=0.25)) == 0.25
    assert manager.cost_of(target, Usage(1000, 2000, cost=0.0)) == 0.0
    assert manager.cost_of(target, Usage(1000, 2000)) == pytest.approx(formula)
    assert manager.cost_of(target, None) is None
    # Without a price lookup (or a price) a reported cost still counts.
    bare = make(clock)
    assert bare.cost_of(Target("z", "unknown"), Usage(1, 1, cost=0.1)) == 0.1
    assert bare.cost_of(Target("z", "unknown"), Usage(1, 1)) is None
    with anyio.fail_after(5):
        assert await collect(manager.chat_stream(ask("a/m"))) == "x"
        assert metrics.target("a/m")["cost_usd"] == 0.042
        assert await collect(manager.chat_stream(ask("a/m"))) == "y"
    assert metrics.target("a/m")["cost_usd"] == pytest.approx(0.042 + formula)


# -- which errors trip a breaker; shared state wiring ------------------------------------------------


async def test_a_429_storm_pauses_the_limiter_but_never_opens_the_breaker() -> None:
    clock = FakeClock()
    storm = RateLimitError("slow down", status=429, retry_after=0.5)
    a = FakeProvider("a", clock, default=storm)
    config = BreakerConfig(window_size=4, minimum_calls=4)
    manager = make(clock, a, breaker_config=config, retry=RetryPolicy(max_retries=0))
    transitions: list[ManagerEvent] = []
    manager.add_listener(lambda e: transitions.append(e) if e.kind == "breaker" else None)
    async with clock.autojump():
        with anyio.fail_after(5):
            for _ in range(12):
                with pytest.raises(RateLimitError):
                    await manager.chat(ask("a/m"))
    assert len(a.calls) == 12 and transitions == []
    stats = manager.breaker("a/m").stats()
    assert (stats.state, stats.calls, stats.failures) == ("closed", 0, 0)
    assert manager.limiter("a/m").stats().rate_limited >= 1
    assert clock.now() >= 0.5  # the limiter made the callers wait out the retry-after
    # When 429s are configured to count, the same storm opens it.
    counted = FakeProvider("a", clock, default=storm)
    strict = make(
        clock,
        counted,
        breaker_config=BreakerConfig(window_size=4, minimum_calls=4, ignore_error=None),
        retry=RetryPolicy(max_retries=0),
    )
    async with clock.autojump():
        with anyio.fail_after(5):
            for _ in range(4):
                with pytest.raises(RateLimitError):
                    await strict.chat(ask("a/m"))
            with pytest.raises(CircuitOpenError):
                await strict.chat(ask("a/m"))
    assert len(counted.calls) == 4


async def test_background_work_is_nothing_without_health_or_shared_state() -> None:
    manager = ProviderManager()
    assert not manager.has_background_work
    async with manager.run_background():
        pass
    async with manager:
        assert manager._stack is None


async def test_shared_state_builds_the_limiters_and_binds_the_breakers() -> None:
    pytest.importorskip("redis")
    from tokenwire.resilience import SharedState

    # Nothing below needs the server: no connection is made until a call needs Redis.
    shared = SharedState.from_url("redis://127.0.0.1:1/0", prefix="unit")
    assert shared.sync_interval == 0.125 and shared.on_error == "raise"
    with pytest.raises(ValueError, match="limiter_factory"):
        ProviderManager(shared_state=shared, limiter_factory=lambda k, c, clk: AdaptiveRateLimiter(k, c, clock=clk))
    # A constructor that fails does not keep the state reserved (``failed`` keeps the
    # traceback, and with it the half-built manager, alive).
    with pytest.raises(ConfigurationError) as failed:
        ProviderManager(shared_state=shared, providers={"no-such-provider": {}})
    made: list[str] = []

    def breaker_factory(key: str, config: BreakerConfig, clk: Any) -> CircuitBreaker:
        made.append(key)
        return CircuitBreaker(key, config, clock=clk)

    manager = ProviderManager(shared_state=shared, breaker_factory=breaker_factory)
    del failed
    assert manager.shared_state is shared and manager.has_background_work
    with pytest.raises(ValueError, match="another ProviderManager"):
        ProviderManager(shared_state=shared)
    assert manager.limiter("openai/gpt-4o")._backend is shared.buckets
    breaker = manager.breaker("openai/gpt-4o")
    assert made == ["openai/gpt-4o"]
    with pytest.raises(ValueError, match="already bound"):
        shared.bind(CircuitBreaker("openai/gpt-4o"))
    # Unregistering a provider unbinds its breakers: a new one for the key binds again.
    manager.register("openai")
    await manager.unregister("openai")
    manager.register("openai")
    assert manager.breaker("openai/gpt-4o") is not breaker
    await manager.aclose()  # nothing queued: nothing to write
    with pytest.raises(ValueError, match="sync_interval"):
        SharedState(shared.buckets, shared.breakers, sync_interval=0.0)
