"""Per-request client overhead: tokenwire vs raw httpx vs the official SDKs, on loopback.

One run, the same loopback mock servers (``tokenwire.testing``, started once per module),
the same payload. Groups: provider (OpenAI Chat Completions, Anthropic Messages) by
non-streaming/streaming by answer (200 words at one word per event, or one short
sentence). Variants timed in every group:

- ``httpx``: a raw ``httpx.AsyncClient`` sending the byte-identical request (URL,
  headers in order, JSON body; checked against the server's recording before timing).
  Non-streaming: ``.json()`` and pull out the text. Streaming: ``aiter_raw()`` to the
  end and nothing else. This is the floor tokenwire sits on.
- ``httpx2`` (when installed): the same with ``httpx2``, the transport the official SDKs use
  (a reference: it separates the SDKs' transport cost from their own).
- ``tokenwire``: ``AsyncClient.chat(...)`` / ``chat_stream(...)`` from plain message
  dicts, collecting the text of every token.
- ``openai-sdk`` / ``anthropic-sdk``: ``AsyncOpenAI.chat.completions.create`` /
  ``AsyncAnthropic.messages.create`` (``stream=True`` when streaming: each SDK's leanest
  streaming path) with the same JSON fields, collecting the text deltas.

Method: one event loop per group; one client per variant, reused (each variant's
keep-alive connection reuse is checked); warm-up rounds, then N rounds that each run
every variant once in a freshly shuffled (seeded) order, so drift and ordering effects
cancel. Per request: wall time (``perf_counter_ns``) and the CPU time of the client's
thread (``thread_time_ns``). Reported: p50/p99 wall, p50 client CPU, and at p50 the
ratios tokenwire/httpx and tokenwire/SDK plus the difference tokenwire - httpx in µs.

Servers: by default they run in a child process (this file with ``--serve``), so the
client has its GIL to itself as it would against a remote API;
``TOKENWIRE_BENCH_SERVER=thread`` runs them on a thread of the benchmark process
instead (their work then serializes with the client's under the GIL). Either way the
servers' own time (rendering ~200 events, loopback TCP) dominates the absolute numbers:
read the differences. On a loaded machine wall times also carry scheduler noise; the
client-CPU column does not.

Knobs: ``TOKENWIRE_BENCH_REQUESTS`` (rounds, default 300), ``TOKENWIRE_BENCH_WARMUP``
(default 30), ``TOKENWIRE_BENCH_SERVER`` (``process`` or ``thread``). The table is
printed in the end-of-run summary (see ``conftest.py``) and every number is in the
benchmark's ``extra_info``.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import inspect
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Awaitable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Optional, Union

import httpx
import pytest

import tokenwire
from tokenwire._http import DEFAULT_LIMITS, Timeouts
from tokenwire.providers.base import HttpCall
from tokenwire.testing import Answer, AnthropicMockServer, MockServer, OpenAIMockServer
from tokenwire.types import ChatRequest, coerce_messages

openai: Any = pytest.importorskip("openai")
anthropic: Any = pytest.importorskip("anthropic")
try:  # the SDKs' transport; only a reference variant, left out when absent
    import httpx2  # pyright: ignore[reportMissingImports]
except ImportError:  # pragma: no cover
    httpx2 = None

REQUESTS = int(os.environ.get("TOKENWIRE_BENCH_REQUESTS", "300"))
WARMUP = int(os.environ.get("TOKENWIRE_BENCH_WARMUP", "30"))
SERVER_MODE = os.environ.get("TOKENWIRE_BENCH_SERVER", "process")
SEED = 20250101
GOAL_RATIO = 1.10

OPENAI_KEY = "sk-bench-0123456789abcdefghijklmnop"
ANTHROPIC_KEY = "sk-ant-bench-0123456789abcdefghij"
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}
SDK_NAMES = {"openai": "openai-sdk", "anthropic": "anthropic-sdk"}

MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "You are a concise technical assistant."},
    {"role": "user", "content": "In about two hundred words: why do LLM APIs stream server-sent events?"},
]

_SENTENCES = (
    "Streaming lets a client show the first words of an answer while the model is still writing the rest.",
    "Each server-sent event carries a small JSON delta, so the decoder must be fast and never lose a byte.",
    "A café-sized answer still arrives as hundreds of events — one per word, sometimes one per token.",
    "Usage numbers, tool calls and the finish reason come at the end, after the last text delta.",
    "Good clients reuse pooled connections, close streams early when asked, and map errors precisely.",
)


def _long_text(words: int) -> str:
    out: list[str] = []
    index = 0
    while len(out) < words:
        out.extend(_SENTENCES[index % len(_SENTENCES)].split())
        index += 1
    return " ".join(out[:words])


ANSWERS = {"200w": _long_text(200), "short": "Hello! How can I help you today?"}


# -- statistics -----------------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) of sorted values, linearly interpolated between ranks."""
    if not sorted_values:
        raise ValueError("no samples")
    position = q * (len(sorted_values) - 1)
    low = int(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


@dataclass
class Samples:
    """Per-request wall and client-thread CPU times of one variant, in nanoseconds."""

    wall: list[int] = field(default_factory=list)
    cpu: list[int] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        wall = sorted(float(v) for v in self.wall)
        cpu = sorted(float(v) for v in self.cpu)
        return {
            "p50_us": percentile(wall, 0.50) / 1e3,
            "p99_us": percentile(wall, 0.99) / 1e3,
            "mean_us": sum(wall) / len(wall) / 1e3,
            "cpu_p50_us": percentile(cpu, 0.50) / 1e3,
            "n": float(len(wall)),
        }


# -- the servers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """What a server received for one request (enough to compare clients)."""

    path: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    peer: Optional[tuple[str, int]]


class ThreadServers:
    """Both mock servers, each on its own thread of this process."""

    def __init__(self) -> None:
        self._servers: dict[str, MockServer] = {
            "openai": OpenAIMockServer(api_key=OPENAI_KEY, max_recorded=64).start(),
            "anthropic": AnthropicMockServer(api_key=ANTHROPIC_KEY, max_recorded=64).start(),
        }

    def base_url(self, provider: str) -> str:
        return self._servers[provider].base_url

    def set_answer(self, provider: str, answer: str) -> None:
        self._servers[provider].default_script = Answer(ANSWERS[answer], chunk_words=1)

    def last_request(self, provider: str) -> Seen:
        seen = self._servers[provider].last_request
        return Seen(seen.path, tuple(seen.headers), seen.body, seen.peer)

    def close(self) -> None:
        for server in self._servers.values():
            server.stop()


class ProcessServers:
    """Both mock servers in a child process (this file run with ``--serve``), driven over
    a line-delimited JSON pipe. Same interface as :class:`ThreadServers`."""

    def __init__(self) -> None:
        self._child = subprocess.Popen(
            [sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self._urls: dict[str, str] = self._read()

    def _read(self) -> Any:
        assert self._child.stdout is not None
        line = self._child.stdout.readline()
        if not line:
            raise RuntimeError(f"the benchmark's server process exited ({self._child.wait()})")
        return json.loads(line)

    def _call(self, **command: str) -> Any:
        assert self._child.stdin is not None
        self._child.stdin.write(json.dumps(command) + "\n")
        self._child.stdin.flush()
        return self._read()

    def base_url(self, provider: str) -> str:
        return self._urls[provider]

    def set_answer(self, provider: str, answer: str) -> None:
        self._call(cmd="answer", provider=provider, answer=answer)

    def last_request(self, provider: str) -> Seen:
        data = self._call(cmd="last", provider=provider)
        peer = data["peer"]
        return Seen(
            data["path"],
            tuple((name, value) for name, value in data["headers"]),
            base64.b64decode(data["body"]),
            (peer[0], peer[1]) if peer else None,
        )

    def close(self) -> None:
        assert self._child.stdin is not None
        self._child.stdin.close()  # the child stops its servers at EOF
        try:
            self._child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._child.kill()
            self._child.wait()


Servers = Union[ThreadServers, ProcessServers]


def serve(stdin: IO[str], stdout: IO[str]) -> None:
    """The child side of :class:`ProcessServers`: answer commands until EOF."""
    servers = ThreadServers()
    try:
        stdout.write(json.dumps({name: servers.base_url(name) for name in MODELS}) + "\n")
        stdout.flush()
        for line in stdin:
            command = json.loads(line)
            reply: dict[str, Any] = {}
            if command["cmd"] == "answer":
                servers.set_answer(command["provider"], command["answer"])
            elif command["cmd"] == "last":
                seen = servers.last_request(command["provider"])
                reply = {
                    "path": seen.path,
                    "headers": seen.headers,
                    "body": base64.b64encode(seen.body).decode(),
                    "peer": seen.peer,
                }
            else:
                raise ValueError(f"unknown command {command!r}")
            stdout.write(json.dumps(reply) + "\n")
            stdout.flush()
    finally:
        servers.close()


# -- the variants ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Group:
    provider: str
    stream: bool
    answer: str

    @property
    def text(self) -> str:
        return ANSWERS[self.answer]

    @property
    def label(self) -> str:
        api = "chat.completions" if self.provider == "openai" else "messages"
        return f"{self.provider} {api} {'stream' if self.stream else 'non-stream'} {self.answer}"


GROUPS = [
    Group(provider, stream, answer)
    for provider in ("openai", "anthropic")
    for stream in (False, True)
    for answer in ("200w", "short")
]

# One request of a variant, returning the answer text (None for the streaming floor).
Request = Callable[[], Awaitable[Optional[str]]]


def _openai_text(data: Mapping[str, Any]) -> str:
    content: str = data["choices"][0]["message"]["content"]
    return content


def _anthropic_text(data: Mapping[str, Any]) -> str:
    return "".join(block["text"] for block in data["content"] if block["type"] == "text")


class Variants:
    """The clients of one group (created inside the group's event loop) and their calls."""

    def __init__(self, group: Group, servers: Servers) -> None:
        self.group = group
        self.servers = servers
        provider = group.provider
        key = OPENAI_KEY if provider == "openai" else ANTHROPIC_KEY
        base_url = servers.base_url(provider)
        options: dict[str, Any] = {"api_key": key, "base_url": base_url}
        if provider == "openai":
            options["api"] = "chat"  # gpt-4o-mini goes to the Responses API by default
        self.target = f"{provider}/{MODELS[provider]}"
        self.tokenwire = tokenwire.AsyncClient(providers={provider: options})
        # The exact call tokenwire makes; the raw clients replay it.
        request = ChatRequest(model=MODELS[provider], messages=coerce_messages(MESSAGES))
        self.call: HttpCall = self.tokenwire.provider(provider).build_chat_call(request, stream=group.stream)
        self.headers = dict(self.call.headers)
        self.body: dict[str, Any] = self.call.json
        timeout = Timeouts().httpx_timeout(stream=group.stream)
        # The same pool settings as tokenwire's own client (tokenwire._http.new_async_client).
        self.httpx = httpx.AsyncClient(limits=DEFAULT_LIMITS, timeout=timeout)
        self.httpx2: Any = None
        if httpx2 is not None:
            self.httpx2 = httpx2.AsyncClient(
                limits=httpx2.Limits(
                    max_connections=DEFAULT_LIMITS.max_connections,
                    max_keepalive_connections=DEFAULT_LIMITS.max_keepalive_connections,
                    keepalive_expiry=DEFAULT_LIMITS.keepalive_expiry,
                ),
                timeout=httpx2.Timeout(
                    connect=timeout.connect, read=timeout.read, write=timeout.write, pool=timeout.pool
                ),
            )
        if provider == "openai":
            self.sdk: Any = openai.AsyncOpenAI(api_key=key, base_url=base_url)
        else:
            self.sdk = anthropic.AsyncAnthropic(api_key=key, base_url=base_url)
        self.extract = _openai_text if provider == "openai" else _anthropic_text
        self.sdk_kwargs = self._sdk_kwargs()

    def requests(self) -> dict[str, Request]:
        stream = self.group.stream
        requests: dict[str, Request] = {"httpx": self.httpx_stream if stream else self.httpx_chat}
        if self.httpx2 is not None:
            requests["httpx2"] = self.httpx2_stream if stream else self.httpx2_chat
        requests["tokenwire"] = self.tokenwire_stream if stream else self.tokenwire_chat
        requests[SDK_NAMES[self.group.provider]] = self.sdk_stream if stream else self.sdk_chat
        return requests

    async def aclose(self) -> None:
        await self.tokenwire.aclose()
        await self.httpx.aclose()
        if self.httpx2 is not None:
            await self.httpx2.aclose()
        await self.sdk.close()

    # raw httpx / httpx2 -----------------------------------------------------------------------
    async def httpx_chat(self) -> Optional[str]:
        response = await self.httpx.post(self.call.url, headers=self.headers, json=self.body)
        if response.status_code != 200:
            raise AssertionError(response.text)
        return self.extract(response.json())

    async def httpx_stream(self) -> Optional[str]:
        async with self.httpx.stream("POST", self.call.url, headers=self.headers, json=self.body) as response:
            async for _ in response.aiter_raw():
                pass
        return None

    async def httpx2_chat(self) -> Optional[str]:
        response = await self.httpx2.post(self.call.url, headers=self.headers, json=self.body)
        if response.status_code != 200:
            raise AssertionError(response.text)
        return self.extract(response.json())

    async def httpx2_stream(self) -> Optional[str]:
        async with self.httpx2.stream("POST", self.call.url, headers=self.headers, json=self.body) as response:
            async for _ in response.aiter_raw():
                pass
        return None

    # tokenwire --------------------------------------------------------------------------------
    async def tokenwire_chat(self) -> Optional[str]:
        reply = await self.tokenwire.chat(self.target, MESSAGES)
        return reply.text

    async def tokenwire_stream(self) -> Optional[str]:
        parts: list[str] = []
        async with self.tokenwire.chat_stream(self.target, MESSAGES) as stream:
            async for token in stream:
                if token.kind == "text":  # the README's idiom; the checker cannot narrow on it
                    parts.append(token.text)  # pyright: ignore[reportAttributeAccessIssue]
        return "".join(parts)

    # official SDKs ----------------------------------------------------------------------------
    def _sdk_kwargs(self) -> dict[str, Any]:
        """tokenwire's body as SDK arguments: fields the SDK's ``create`` names go as
        keywords, the rest (``temperature`` for this anthropic SDK) via ``extra_body``.
        The JSON on the wire is the same (checked)."""
        create = self.sdk.chat.completions.create if self.group.provider == "openai" else self.sdk.messages.create
        named = inspect.signature(create).parameters
        kwargs: dict[str, Any] = {k: v for k, v in self.body.items() if k in named}
        extra = {k: v for k, v in self.body.items() if k not in named}
        if extra:
            kwargs["extra_body"] = extra
        beta = self.headers.get("anthropic-beta")
        if beta:
            kwargs["extra_headers"] = {"anthropic-beta": beta}
        return kwargs

    async def sdk_chat(self) -> Optional[str]:
        if self.group.provider == "openai":
            completion = await self.sdk.chat.completions.create(**self.sdk_kwargs)
            text: str = completion.choices[0].message.content
            return text
        message = await self.sdk.messages.create(**self.sdk_kwargs)
        return "".join(block.text for block in message.content if block.type == "text")

    async def sdk_stream(self) -> Optional[str]:
        parts: list[str] = []
        if self.group.provider == "openai":
            stream = await self.sdk.chat.completions.create(**self.sdk_kwargs)
            async for chunk in stream:
                if chunk.choices:
                    content = chunk.choices[0].delta.content
                    if content:
                        parts.append(content)
        else:
            stream = await self.sdk.messages.create(**self.sdk_kwargs)
            async for event in stream:
                if event.type == "content_block_delta" and event.delta.type == "text_delta":
                    parts.append(event.delta.text)
        return "".join(parts)


# -- honesty checks -------------------------------------------------------------------------------


async def check_requests(variants: Variants) -> list[str]:
    """Run each variant twice and check what reached the server: the raw httpx request is
    byte-identical to tokenwire's, every other variant sends the same JSON to the same
    path, each variant's second request reused its pooled connection, and every
    text-returning variant got the whole answer. Returns notes on benign differences."""
    group = variants.group
    provider = group.provider
    recorded: dict[str, Seen] = {}
    for name, request in variants.requests().items():
        peers: list[Optional[tuple[str, int]]] = []
        for _ in range(2):
            text = await request()
            recorded[name] = variants.servers.last_request(provider)
            peers.append(recorded[name].peer)
            if text is not None and text != group.text:
                raise AssertionError(f"{group.label}: {name} received {text!r}, expected {group.text!r}")
        if peers[0] != peers[1]:
            raise AssertionError(f"{group.label}: {name} did not reuse its connection ({peers})")
    reference = recorded["tokenwire"]
    raw = recorded["httpx"]
    if (raw.path, raw.headers, raw.body) != (reference.path, reference.headers, reference.body):
        raise AssertionError(
            f"{group.label}: the raw httpx request differs from tokenwire's:\n"
            f"  tokenwire {reference.headers} {reference.body!r}\n  httpx     {raw.headers} {raw.body!r}"
        )
    notes: list[str] = []
    document = json.loads(reference.body)
    for name, seen in recorded.items():
        if seen.path != reference.path or json.loads(seen.body) != document:
            raise AssertionError(f"{group.label}: {name} sent {seen.path} {seen.body!r}, not tokenwire's JSON")
        if name not in ("tokenwire", "httpx") and seen.body != reference.body:
            notes.append(f"{name}: same JSON, different bytes")
    if group.stream:
        # The timed floor returns nothing; check once that this request reads a whole stream.
        async with variants.httpx.stream(
            "POST", variants.call.url, headers=variants.headers, json=variants.body
        ) as response:
            raw_bytes = b"".join([chunk async for chunk in response.aiter_raw()])
        end = b"data: [DONE]\n\n" if provider == "openai" else b'{"type":"message_stop"}\n\n'
        if response.status_code != 200 or not raw_bytes.endswith(end):
            raise AssertionError(f"{group.label}: the raw stream ended with {raw_bytes[-60:]!r}")
    return notes


# -- measurement ----------------------------------------------------------------------------------


async def measure(requests: Mapping[str, Request], rounds: int, warmup: int) -> dict[str, Samples]:
    """Warm up, then ``rounds`` rounds running every variant once, in a shuffled order."""
    names = list(requests)
    for _ in range(warmup):
        for name in names:
            await requests[name]()
    samples = {name: Samples() for name in names}
    order = random.Random(SEED)
    wall_clock = time.perf_counter_ns
    cpu_clock = time.thread_time_ns
    gc.collect()
    for _ in range(rounds):
        order.shuffle(names)
        for name in names:
            request = requests[name]
            t0 = wall_clock()
            c0 = cpu_clock()
            await request()
            c1 = cpu_clock()
            t1 = wall_clock()
            sample = samples[name]
            sample.wall.append(t1 - t0)
            sample.cpu.append(c1 - c0)
    return samples


async def run_group(group: Group, servers: Servers) -> tuple[dict[str, dict[str, float]], list[str]]:
    servers.set_answer(group.provider, group.answer)
    variants = Variants(group, servers)
    try:
        notes = await check_requests(variants)
        samples = await measure(variants.requests(), REQUESTS, WARMUP)
    finally:
        await variants.aclose()
    return {name: s.summary() for name, s in samples.items()}, notes


# -- pytest ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    if SERVER_MODE not in ("process", "thread"):
        raise ValueError(f"TOKENWIRE_BENCH_SERVER must be 'process' or 'thread', not {SERVER_MODE!r}")
    running: Servers = ProcessServers() if SERVER_MODE == "process" else ThreadServers()
    try:
        yield running
    finally:
        running.close()


_COLUMNS = f"{'group':<42} {'variant':<14} {'p50 us':>9} {'p99 us':>9} {'cpu50 us':>9} {'x httpx':>8} {'d50 us':>9}"


@pytest.fixture(scope="module")
def table(bench_report: Callable[[str], None]) -> Iterator[list[str]]:
    rows: list[str] = []
    yield rows
    if rows:
        where = "a child process" if SERVER_MODE == "process" else "a thread of this process"
        title = (
            f"Client overhead per request: {REQUESTS} interleaved rounds per group after {WARMUP} warm-up "
            f"rounds; loopback servers in {where}. p50/p99 = wall time, cpu50 = p50 client-thread CPU, "
            "x httpx / d50 = p50 wall vs the raw httpx floor. Read differences, not absolute values."
        )
        bench_report("\n".join([title, _COLUMNS, "-" * len(_COLUMNS), *rows]))


def _rows(group: Group, stats: Mapping[str, Mapping[str, float]], verdict: str) -> list[str]:
    floor = stats["httpx"]["p50_us"]
    rows: list[str] = []
    for index, (name, s) in enumerate(stats.items()):
        label = group.label if index == 0 else ""
        rows.append(
            f"{label:<42} {name:<14} {s['p50_us']:>9.1f} {s['p99_us']:>9.1f} {s['cpu_p50_us']:>9.1f} "
            f"{s['p50_us'] / floor:>8.3f} {s['p50_us'] - floor:>+9.1f}"
        )
    rows.append(f"{'':<42} {verdict}")
    return rows


@pytest.mark.parametrize("group", GROUPS, ids=[g.label.replace(" ", "-") for g in GROUPS])
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the anthropic SDK's per-call model notice
def test_overhead(benchmark: Any, servers: Servers, table: list[str], group: Group) -> None:
    # pytest-benchmark times the whole interleaved run once; the per-request statistics
    # are computed here and stored in extra_info.
    benchmark.group = "client overhead (whole interleaved run; per-request stats in extra_info)"
    result: dict[str, Any] = {}

    def run() -> None:
        result["stats"], result["notes"] = asyncio.run(run_group(group, servers))

    benchmark.pedantic(run, rounds=1, iterations=1)
    stats: dict[str, dict[str, float]] = result["stats"]
    sdk = SDK_NAMES[group.provider]
    tw, floor, sdk_p50 = stats["tokenwire"]["p50_us"], stats["httpx"]["p50_us"], stats[sdk]["p50_us"]
    ratio_httpx = tw / floor
    ratio_sdk = tw / sdk_p50
    cpu_delta = stats["tokenwire"]["cpu_p50_us"] - stats["httpx"]["cpu_p50_us"]
    goal = ratio_httpx <= GOAL_RATIO and tw < sdk_p50
    for name, s in stats.items():
        for key, value in s.items():
            benchmark.extra_info[f"{name}.{key}"] = round(value, 2)
    benchmark.extra_info.update(
        {
            "server_mode": SERVER_MODE,
            "rounds": REQUESTS,
            "tokenwire_over_httpx_p50": round(ratio_httpx, 4),
            "tokenwire_minus_httpx_p50_us": round(tw - floor, 1),
            "tokenwire_minus_httpx_cpu_p50_us": round(cpu_delta, 1),
            f"tokenwire_over_{sdk}_p50": round(ratio_sdk, 4),
            "goal_met": goal,
            "notes": result["notes"],
        }
    )
    verdict = (
        f"tokenwire/httpx {ratio_httpx:.3f} ({tw - floor:+.0f} us wall, {cpu_delta:+.0f} us client CPU); "
        f"tokenwire/{sdk} {ratio_sdk:.3f}; goal <= {GOAL_RATIO:.2f}x httpx and < SDK: {'met' if goal else 'MISSED'}"
    )
    table.extend(_rows(group, stats, verdict))


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    serve(sys.stdin, sys.stdout)
