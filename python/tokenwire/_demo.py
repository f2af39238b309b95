"""``tokenwire demo``: the whole path end to end on loopback servers, no keys, no network.

1. Starts the bundled OpenAI and Anthropic mock servers (:mod:`tokenwire.testing`).
2. Streams a two-turn chat from each through :class:`tokenwire.AsyncClient`, printing
   tokens as they arrive (reasoning dimmed).
3. Shows a tool call assembled from argument deltas, answered with a tool result.
4. Fails over: a route over both providers whose first target answers 503
   (overloaded) is served by the second, before any token reached the caller.
5. Opens a circuit breaker with repeated 5xx answers, shows a call refused without a
   request while it is open, and its recovery through a half-open probe.
6. Injects a 429: the client's manager reads the typed
   :class:`~tokenwire.errors.RateLimitError` and its ``retry-after``, waits that long
   and retries on its own.
7. Prints a table of TTFT, tokens/s and usage per request, the manager's metrics per
   target, then the decode rate of the native core on bundled wire-format samples.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from importlib import resources
from typing import Any, Optional, TextIO

import anyio

import tokenwire
from tokenwire.client import AsyncClient
from tokenwire.errors import CircuitOpenError, ProviderError, TokenwireError
from tokenwire.manager import ManagerEvent
from tokenwire.resilience import BreakerConfig, RetryPolicy
from tokenwire.testing import (
    Answer,
    AnthropicMockServer,
    BedrockMockServer,
    GeminiMockServer,
    OpenAIMockServer,
    faults,
)

__all__ = ["run_demo"]

_DEMO_KEYS = {"openai": "sk-demo-0000000000000000", "anthropic": "sk-ant-demo-000000000000"}
_TARGETS = (("openai", "openai/gpt-4o-mini"), ("anthropic", "anthropic/claude-sonnet-4-5"))
_TURNS = (
    (
        "What does tokenwire do, in two sentences?",
        Answer(
            "tokenwire is one Python client for every LLM provider. Its Rust core turns raw stream bytes "
            "into tokens, while Python handles HTTP, retries and routing.",
        ),
    ),
    (
        "And why is that fast?",
        Answer(
            "Framing, JSON scanning and field extraction happen in one native pass, so only finished "
            "tokens cross into Python.",
            reasoning="The user asks about speed; point at the single native pass.",
        ),
    ),
)
_WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


# (label, bundled file, dialect)
_DEMO_STREAMS: tuple[tuple[str, str, str], ...] = (
    ("OpenAI chat", "openai-chat.sse", "openai-chat"),
    ("Anthropic messages", "anthropic.sse", "anthropic"),
)


def _demo_bytes(name: str) -> bytes:
    return resources.files("tokenwire").joinpath("data").joinpath("demo").joinpath(name).read_bytes()


def _count_events(data: bytes, dialect: str) -> int:
    if dialect == "ndjson":
        return sum(1 for line in data.splitlines() if line.strip())
    decoder = tokenwire.SSEDecoder()
    return len(decoder.feed(data)) + len(decoder.flush())


def _decode_rate(data: bytes, dialect: str, seconds: float = 0.25) -> tuple[float, float]:
    """Bytes/s and events/s for decoding ``data`` in 16 KiB chunks, measured for ~``seconds``."""
    events = _count_events(data, dialect)
    runs = 0
    started = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        processor = tokenwire.StreamProcessor(dialect)
        for start in range(0, len(data), 16384):
            processor.feed(data[start : start + 16384])
        processor.finish()
        runs += 1
        elapsed = time.perf_counter() - started
    return runs * len(data) / elapsed, runs * events / elapsed


@dataclass
class _Row:
    target: str
    label: str
    ttft_ms: float
    tokens_per_s: float
    usage: Any


class _Style:
    def __init__(self, stream: TextIO) -> None:
        import os

        self.enabled = stream.isatty() and "NO_COLOR" not in os.environ

    def __call__(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.enabled else text


async def _stream_turn(
    client: AsyncClient, target: str, messages: list[dict[str, Any]], out: TextIO, style: _Style, **params: Any
) -> tuple[Any, _Row]:
    started = time.perf_counter()
    mode = ""
    async with client.chat_stream(target, messages, max_tokens=512, **params) as stream:
        async for token in stream:
            if isinstance(token, (tokenwire.TextDelta, tokenwire.ReasoningDelta)):
                text = token.text
                if token.kind != mode:
                    mode = token.kind
                    out.write("\n  " + style("thinking: " if mode == "reasoning" else "assistant: ", "2"))
                    # Anthropic separates content blocks with "\n" (Roo-Code's rule); the label already does.
                    text = text.lstrip("\n")
                out.write(style(text, "2;3") if mode == "reasoning" else text)
                out.flush()
        answer = await stream.get_final_response()
        ttft = stream.ttft or 0.0
    elapsed = time.perf_counter() - started
    out.write("\n")
    output_tokens = answer.usage.output_tokens if answer.usage is not None else 0
    generating = max(elapsed - ttft, 1e-9)
    return answer, _Row(target, "", ttft * 1000.0, output_tokens / generating, answer.usage)


async def _conversation(client: AsyncClient, target: str, out: TextIO, style: _Style) -> list[_Row]:
    out.write(style(f"── {target}: two-turn chat ──", "1") + "\n")
    messages: list[dict[str, Any]] = []
    rows = []
    for turn, (question, _) in enumerate(_TURNS, 1):
        messages.append({"role": "user", "content": question})
        out.write(f"  user: {question}")
        answer, row = await _stream_turn(client, target, messages, out, style)
        messages.append({"role": "assistant", "content": answer.text})
        row.label = f"turn {turn}"
        rows.append(row)
    return rows


_AWS_DEMO = {"access_key": "AKIDTOKENWIREDEMO", "secret_key": "tokenwire-demo-secret-key-0000000000"}
_GEMINI_KEY = "AIza-tokenwire-demo-000000000000"


async def _google_and_aws(out: TextIO, style: _Style, drip_delay: float) -> list[_Row]:
    """One streamed answer each from Gemini (SSE with CRLF) and Bedrock (SigV4-signed
    ConverseStream, binary AWS event-stream frames), on their own loopback servers."""
    rows: list[_Row] = []
    with (
        GeminiMockServer(api_key=_GEMINI_KEY) as gemini_server,
        BedrockMockServer(credentials={_AWS_DEMO["access_key"]: _AWS_DEMO["secret_key"]}) as bedrock_server,
    ):
        for server in (gemini_server, bedrock_server):
            server.set_default_fault(faults.Drip(bytes_per_write=48, delay=drip_delay) if drip_delay else None)
        gemini_server.scripts.push(
            Answer("Io, Europa and Ganymede.", reasoning="Three Galilean moons will do.", chunk_words=1)
        )
        bedrock_server.scripts.push(Answer("Signed with SigV4 and framed as AWS event-stream messages."))
        providers = {
            "gemini": {"api_key": _GEMINI_KEY, "base_url": gemini_server.base_url},
            "bedrock": {**_AWS_DEMO, "region": "us-east-1", "endpoint_url": bedrock_server.url},
        }
        async with AsyncClient(providers=providers) as client:
            for target, question in (
                ("gemini/gemini-2.5-flash", "Name three moons of Jupiter."),
                ("bedrock/anthropic.claude-3-5-haiku-20241022-v1:0", "How did this request travel?"),
            ):
                out.write(style(f"── {target} ──", "1") + f"\n  user: {question}")
                _, row = await _stream_turn(client, target, [{"role": "user", "content": question}], out, style)
                row.label = "one turn"
                rows.append(row)
        signed = bedrock_server.last_request.header("authorization") or ""
        out.write(f"  bedrock request signed: {signed.split(',')[0]}, …\n")
    return rows


async def _tool_call(client: AsyncClient, target: str, out: TextIO, style: _Style) -> _Row:
    out.write(style(f"── {target}: a tool call assembled from deltas ──", "1") + "\n")
    messages: list[dict[str, Any]] = [{"role": "user", "content": "What's the weather in Paris?"}]
    out.write("  user: What's the weather in Paris?")
    answer, _ = await _stream_turn(client, target, messages, out, style, tools=[_WEATHER_TOOL])
    for call in answer.tool_calls:
        out.write(style("  tool call: ", "36") + f"{call.name}({call.parsed_arguments()!r})  id={call.id}\n")
    call = answer.tool_calls[0]
    messages.append(
        {
            "role": "assistant",
            "content": answer.text,
            "tool_calls": [
                {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            ],
        }
    )
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18°C, light rain"})
    out.write("  tool result: 18°C, light rain")
    _, row = await _stream_turn(client, target, messages, out, style, tools=[_WEATHER_TOOL])
    row.label = "after tool"
    return row


def _describe(error: BaseException) -> str:
    if isinstance(error, ProviderError):
        return f"{type(error).__name__} {error.status}"
    return type(error).__name__


async def _rate_limited(client: AsyncClient, target: str, server: Any, out: TextIO, style: _Style) -> _Row:
    out.write(style(f"── {target}: an injected 429, retried as the provider asks ──", "1") + "\n")
    server.faults.push(faults.RateLimit(retry_after=1.0))

    def show(event: ManagerEvent) -> None:
        error = event.error
        if event.kind == "rate_limited" and isinstance(error, ProviderError):
            out.write(
                style("  RateLimitError", "33")
                + f": {error.message[:70]}… (status {error.status}, request id {error.request_id}, "
                f"retry-after {error.retry_after}s)\n"
            )
        elif event.kind == "retry":
            out.write(f"  the manager waits {event.delay:.1f}s as the provider asked, then retries")

    client.manager.add_listener(show)
    try:
        messages = [{"role": "user", "content": "Say hello after the rate limit."}]
        _, row = await _stream_turn(client, target, messages, out, style)
    finally:
        client.manager.remove_listener(show)
    row.label = "after 429"
    return row


async def _failover(client: AsyncClient, server: Any, out: TextIO, style: _Style) -> _Row:
    first, second = _TARGETS[0][1], _TARGETS[1][1]
    client.add_route("resilient", [first, second])
    out.write(style(f"── route 'resilient' = {first} → {second}: failover ──", "1") + "\n")
    server.faults.push(faults.Overloaded())

    def show(event: ManagerEvent) -> None:
        if event.kind == "failover" and event.error is not None:
            out.write(
                f"  {event.target}: "
                + style(_describe(event.error), "33")
                + f" (overloaded) before the first token → failing over to {event.next_target}\n"
            )

    client.manager.add_listener(show)
    try:
        messages = [{"role": "user", "content": "Which provider answers this?"}]
        out.write(f"  user: {messages[0]['content']}\n")
        started = time.perf_counter()
        async with client.chat_stream("route:resilient", messages, max_tokens=128) as stream:
            answer = await stream.get_final_response()
            attempts = len(stream.attempts)
            served = stream.target
            ttft = stream.ttft or 0.0
        elapsed = time.perf_counter() - started
    finally:
        client.manager.remove_listener(show)
    out.write(f"  assistant: {answer.text}\n")
    out.write(style(f"  served by {served} after {attempts} attempts", "32") + "\n")
    output_tokens = answer.usage.output_tokens if answer.usage is not None else 0
    return _Row("route:resilient", "failover", ttft * 1000.0, output_tokens / max(elapsed - ttft, 1e-9), answer.usage)


async def _breaker(providers: dict[str, dict[str, Any]], server: Any, out: TextIO, style: _Style) -> None:
    target = _TARGETS[0][1]
    open_for = 0.5
    config = BreakerConfig(
        window_size=4, minimum_calls=3, failure_rate_threshold=0.5, open_duration=open_for, half_open_calls=1
    )
    out.write(style(f"── {target}: a circuit breaker opening and recovering ──", "1") + "\n")
    out.write(f"  breaker: opens at 50% failures over ≥3 calls, stays open {open_for}s, then 1 probe; no retries\n")

    def show(event: ManagerEvent) -> None:
        if event.kind == "breaker":
            out.write(style(f"  breaker {event.target}: {event.previous} → {event.state}", "35") + "\n")

    async with AsyncClient(
        providers={"openai": providers["openai"]}, breaker_config=config, retry=RetryPolicy(max_retries=0)
    ) as client:
        client.manager.add_listener(show)
        server.faults.push(faults.ServerFault(500), times=3)
        messages = [{"role": "user", "content": "Are you back?"}]
        for call in range(1, 6):
            if call == 5:
                out.write(f"  … {open_for}s later\n")
                await anyio.sleep(open_for)
            seen = len(server.requests)
            try:
                reply = await client.chat(target, messages, max_tokens=32)
            except CircuitOpenError:
                sent = len(server.requests) - seen
                out.write(
                    f"  call {call}: " + style("CircuitOpenError", "33") + f" — refused at once, {sent} requests sent\n"
                )
            except TokenwireError as exc:
                out.write(f"  call {call}: " + style(_describe(exc), "31") + "\n")
            else:
                out.write(f"  call {call}: " + style("ok", "32") + f" — {reply.text}\n")


def _manager_table(metrics: dict[str, Any], out: TextIO, style: _Style) -> None:
    out.write(
        "\n"
        + style(
            f"{'manager metrics':<30} {'requests':>8} {'ok':>4} {'errors':>6} {'retries':>7} {'failovers':>9} "
            f"{'tokens in/out':>14} {'cost USD':>10}",
            "1",
        )
        + "\n"
    )
    for key, m in metrics.items():
        errors = sum(m["errors"].values())
        tokens = f"{m['input_tokens']}/{m['output_tokens']}"
        out.write(
            f"{key:<30} {m['requests']:>8} {m['successes']:>4} {errors:>6} {m['retries']:>7} "
            f"{m['failovers']:>9} {tokens:>14} {m['cost_usd']:>10.6f}\n"
        )


def _core_rates(out: TextIO, style: _Style) -> None:
    out.write("\n" + style(f"{'streaming core':<28} {'bytes':>8} {'events':>7} {'MB/s':>8} {'events/s':>11}", "1"))
    out.write("\n")
    for label, name, dialect in _DEMO_STREAMS:
        data = _demo_bytes(name)
        rate, events_per_s = _decode_rate(data, dialect)
        out.write(
            f"{label + ' sample':<28} {len(data):>8,} {_count_events(data, dialect):>7} "
            f"{rate / 1e6:>8.1f} {events_per_s:>11,.0f}\n"
        )


async def run_demo(out: TextIO, *, drip_delay: float = 0.002) -> int:
    """Run the demo, writing to ``out``; returns the exit status."""
    style = _Style(out)
    out.write(
        style(f"tokenwire {tokenwire.__version__}", "1")
        + f" · streaming core: {tokenwire.backend()} · loopback providers, no network, no keys\n\n"
    )
    with (
        OpenAIMockServer(api_key=_DEMO_KEYS["openai"]) as openai_server,
        AnthropicMockServer(api_key=_DEMO_KEYS["anthropic"]) as anthropic_server,
    ):
        servers = {"openai": openai_server, "anthropic": anthropic_server}
        for server in servers.values():
            # Deliver each stream a few bytes at a time so tokens visibly arrive live.
            server.set_default_fault(faults.Drip(bytes_per_write=48, delay=drip_delay) if drip_delay else None)
        providers = {
            name: {"api_key": _DEMO_KEYS[name], "base_url": server.base_url} for name, server in servers.items()
        }
        rows: list[_Row] = []
        async with AsyncClient(providers=providers) as client:
            for name, target in _TARGETS:
                server = servers[name]
                for _, answer in _TURNS:
                    server.scripts.push(answer)
                rows.extend(await _conversation(client, target, out, style))
            for name, target in _TARGETS:
                server = servers[name]
                server.scripts.push(Answer("Let me check.", tool_calls=[("get_weather", '{"city": "Paris"}')]))
                server.scripts.push(Answer("It is 18°C with light rain in Paris."))
                rows.append(await _tool_call(client, target, out, style))
            rows.append(await _failover(client, openai_server, out, style))
            await _breaker(providers, openai_server, out, style)
            # Last on OpenAI: the 429 teaches its limiter a 3-requests-per-minute quota.
            openai_target = _TARGETS[0][1]
            rows.append(await _rate_limited(client, openai_target, openai_server, out, style))
            metrics = client.metrics.snapshot()["targets"]
        rows.extend(await _google_and_aws(out, style, drip_delay))

    out.write("\n" + style(f"{'request':<58} {'TTFT ms':>8} {'tok/s':>9} {'in':>6} {'out':>6} {'cached':>7}", "1"))
    out.write("\n")
    for row in rows:
        u = row.usage
        usage = (u.input_tokens, u.output_tokens, u.cache_read_tokens) if u is not None else ("-", "-", "-")
        out.write(
            f"{row.target + ' ' + row.label:<58} {row.ttft_ms:>8.1f} {row.tokens_per_s:>9,.0f} "
            f"{usage[0]:>6} {usage[1]:>6} {usage[2]:>7}\n"
        )
    _manager_table(metrics, out, style)
    _core_rates(out, style)
    out.write(f"\nbackend: {tokenwire.backend()} (TOKENWIRE_PURE_PYTHON=1 runs the pure-Python twin)\n")
    return 0


def main(out: TextIO, drip_delay: Optional[float] = None) -> int:
    """Synchronous entry point for the CLI."""
    return anyio.run(lambda: run_demo(out, drip_delay=0.002 if drip_delay is None else drip_delay))
