"""``tokenwire bench``: the manager's load, memory and overhead figures, on loopback.

Three measurements, each against an :class:`~tokenwire.testing.OpenAIMockServer` run in a
child process (so the server's CPU and memory are not the client's):

- **streams**: ``N`` concurrent streams (10,000 by default) through one
  :class:`~tokenwire.AsyncClient` (one manager, one pooled httpx client of 1,000
  connections; the callers beyond them wait their turn in the provider's connection
  gate): wall time, errors (a wrong text counts as one), and the client process's peak
  RSS (``getrusage``) before and after;
- **memory**: RSS of a fresh interpreter after ``import httpx`` versus after ``import
  tokenwire`` with every registered provider instantiated (dummy credentials) — the
  difference is what tokenwire itself costs. Both run from bytecode, as installed
  packages do (see :func:`bench_memory`); when ``PYTHONDONTWRITEBYTECODE`` is set, the
  figure as this environment runs it (tokenwire compiled at import) is shown too;
- **overhead**: one streamed chat through the manager (``AsyncClient.chat_stream``),
  through the provider alone (no manager), and as the byte-identical request on a raw
  ``httpx.AsyncClient`` reading the body with ``aiter_raw`` — interleaved in a freshly
  shuffled order every round; p50 of each, the ratio to raw httpx and the microseconds
  added (goal: <= 1.10x and < 100 us added at p50). Measured twice: against the plain
  loopback server, and against one that sets a cookie on every response as APIs behind
  Cloudflare do (raw httpx then stores and resends it; tokenwire keeps no cookies).
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import IO, Any, Callable, Optional

import anyio
import httpx

__all__ = ["BenchResult", "StreamsRun", "main", "run", "run_streams"]

API_KEY = "sk-bench-0123456789abcdefghijklmnop"
MODEL = "openai/gpt-4o-mini"
GOAL_RATIO = 1.10
GOAL_ADDED_US = 100.0
GOAL_MEMORY_MB = 5.0


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    # Linux reports KiB, macOS bytes.
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


# What a CDN in front of an API sets on every response (Cloudflare's bot-management cookie).
_CDN_COOKIE = "__cf_bm=bench0123456789; path=/; expires=Fri, 01-Jan-2100 00:00:00 GMT; domain=127.0.0.1; HttpOnly"


def serve(cookies: bool = False) -> None:
    """Child process: run the mock server, print its base URL, stop at stdin EOF.
    ``cookies``: every response sets a cookie, as APIs behind a CDN do."""
    from tokenwire.testing import OpenAIMockServer, faults

    with OpenAIMockServer(api_key=API_KEY) as server:
        if cookies:
            server.set_default_fault(faults.Headers({"Set-Cookie": _CDN_COOKIE}))
        print(server.base_url, flush=True)
        sys.stdin.read()


class _Server:
    """The mock server in a child process (``python -c "from tokenwire._bench import serve; serve()"``)."""

    def __init__(self, *, cookies: bool = False) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-c", f"from tokenwire._bench import serve; serve(cookies={cookies})"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self._process.stdout is not None
        self.base_url = self._process.stdout.readline().strip()
        if not self.base_url:
            self.close()
            raise RuntimeError("the benchmark server did not start")

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - a wedged server
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> _Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class BenchResult:
    """One figure: a name, its value and unit, an optional goal verdict and detail."""

    name: str
    value: float
    unit: str
    detail: str = ""
    goal: Optional[str] = None
    met: Optional[bool] = None

    def line(self) -> str:
        verdict = "" if self.met is None else ("  [goal met: " if self.met else "  [goal MISSED: ") + f"{self.goal}]"
        detail = f"  ({self.detail})" if self.detail else ""
        return f"{self.name:<44} {self.value:>12.3f} {self.unit:<4}{verdict}{detail}"


def _client(base_url: str, **options: Any) -> Any:
    from tokenwire._http import Timeouts
    from tokenwire.client import AsyncClient

    # Chat Completions (gpt-4o-mini defaults to the Responses API): the smaller stream.
    provider = {"api_key": API_KEY, "base_url": base_url, "api": "chat"}
    timeouts = Timeouts(connect=60.0, read=120.0, write=60.0, pool=600.0, idle=120.0, total=900.0)
    return AsyncClient(providers={"openai": provider}, timeouts=timeouts, **options)


# -- streams ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StreamsRun:
    """One run of ``count`` concurrent streams: wall time, failures by kind (a wrong text
    counts as ``"wrong text"``), and this process's peak RSS before and after (MB)."""

    count: int
    wall: float
    errors: dict[str, int]
    rss_before: float
    rss_peak: float

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


async def run_streams(base_url: str, count: int) -> StreamsRun:
    """``count`` concurrent streams through one ``AsyncClient`` (one pooled httpx client
    of ``DEFAULT_LIMITS``; callers beyond its connections wait in the provider's gate)."""
    rss_before = _peak_rss_mb()
    errors: dict[str, int] = {}
    async with _client(base_url) as client:

        async def one(i: int) -> None:
            parts: list[str] = []
            try:
                async with client.chat_stream(MODEL, [{"role": "user", "content": f"n{i}"}], max_tokens=32) as stream:
                    async for token in stream:
                        if token.kind == "text":
                            parts.append(token.text)
            except Exception as error:  # every failure is counted, whatever it is
                kind = type(error).__name__
                errors[kind] = errors.get(kind, 0) + 1
                return
            if "".join(parts) != f"You said: n{i}":
                errors["wrong text"] = errors.get("wrong text", 0) + 1

        started = time.perf_counter()
        async with anyio.create_task_group() as group:
            for i in range(count):
                group.start_soon(one, i)
        wall = time.perf_counter() - started
    return StreamsRun(count, wall, errors, rss_before, _peak_rss_mb())


def bench_streams(base_url: str, count: int) -> list[BenchResult]:
    run = anyio.run(run_streams, base_url, count)
    failures = ", ".join(f"{kind}: {n}" for kind, n in sorted(run.errors.items()))
    return [
        BenchResult(f"{count} concurrent streams: wall", run.wall, "s", f"{count / run.wall:,.0f} streams/s"),
        BenchResult(f"{count} concurrent streams: errors", run.error_count, "", failures, goal="0", met=not run.errors),
        BenchResult(
            f"{count} concurrent streams: peak RSS",
            run.rss_peak,
            "MB",
            f"{run.rss_peak - run.rss_before:+.1f} MB over the process before",
        ),
    ]


# -- memory ----------------------------------------------------------------------------------

_RSS = """
import sys
def rss():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
"""

_BARE = (
    _RSS
    + """
import json, httpx, anyio
print(json.dumps({"rss": rss()}))
"""
)

_FULL = (
    _RSS
    + """
import json, httpx, anyio
import tokenwire
from tokenwire.registry import ProviderRegistry
registry = ProviderRegistry.default()
made, failed = [], {}
for name in registry.names():
    try:
        made.append(registry.create(name, api_key="sk-bench-0000000000000000"))
    except Exception as error:
        try:
            made.append(registry.create(name))
        except Exception as error:
            failed[name] = type(error).__name__ + ": " + str(error)[:80]
print(json.dumps({"rss": rss(), "made": len(made), "failed": failed}))
"""
)


def _child(code: str, env: Optional[dict[str, str]] = None) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120, env=env)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def _rss_pair(samples: int, env: Optional[dict[str, str]]) -> tuple[float, dict[str, Any]]:
    # The median of a few fresh interpreters: RSS moves by a few hundred KB run to run.
    bare = sorted(_child(_BARE, env)["rss"] for _ in range(samples))[samples // 2]
    fulls = [_child(_FULL, env) for _ in range(samples)]
    return bare, sorted(fulls, key=lambda r: r["rss"])[samples // 2]


def bench_memory(samples: int = 3) -> list[BenchResult]:
    # Like for like: an installed package runs from bytecode (pip compiles it), and so do
    # httpx and anyio here, but a source checkout run with PYTHONDONTWRITEBYTECODE=1 (or
    # from a read-only tree) compiles every tokenwire module at import — the compiler's
    # memory then shows up in the RSS (~4 MB). The children therefore get a bytecode
    # cache of their own (PYTHONPYCACHEPREFIX), filled by one unmeasured run.
    with tempfile.TemporaryDirectory(prefix="tokenwire-bench-pyc-") as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        _child(_BARE, env)
        _child(_FULL, env)
        bare, full = _rss_pair(samples, env)
    added = full["rss"] - bare
    failed: dict[str, str] = full["failed"]
    detail = f"{full['made']} providers instantiated"
    if failed:
        detail += f"; not instantiable without configuration: {', '.join(sorted(failed))}"
    results = [
        BenchResult("RSS: python + httpx + anyio", bare, "MB", "from bytecode"),
        BenchResult("RSS: + import tokenwire + every provider", full["rss"], "MB", detail),
        BenchResult("RSS added by tokenwire", added, "MB", goal=f"< {GOAL_MEMORY_MB:g} MB", met=added < GOAL_MEMORY_MB),
    ]
    if sys.dont_write_bytecode or os.environ.get("PYTHONDONTWRITEBYTECODE"):
        # What this environment itself gets: compiled from source unless cached elsewhere.
        bare_here, full_here = _rss_pair(samples, None)
        results.append(
            BenchResult(
                "RSS added as run here (no bytecode written)",
                full_here["rss"] - bare_here,
                "MB",
                "PYTHONDONTWRITEBYTECODE is set: modules without a .pyc compile at import",
            )
        )
    return results


# -- overhead --------------------------------------------------------------------------------


async def _overhead(base_url: str, rounds: int, warmup: int, seed: int) -> dict[str, list[int]]:
    from tokenwire._http import DEFAULT_LIMITS
    from tokenwire.types import ChatRequest, coerce_messages

    messages = [{"role": "user", "content": "ping"}]
    async with _client(base_url) as client:
        provider = client.manager.provider("openai")
        request = ChatRequest(model="gpt-4o-mini", messages=coerce_messages(messages))
        call = provider.build_chat_call(request, stream=True)
        headers = dict(call.headers)
        timeout = provider.timeouts.httpx_timeout(stream=True)
        async with httpx.AsyncClient(limits=DEFAULT_LIMITS, timeout=timeout) as raw:

            async def via_httpx() -> None:
                async with raw.stream("POST", call.url, headers=headers, json=call.json) as response:
                    if response.status_code != 200:
                        raise RuntimeError(f"raw httpx got {response.status_code}")
                    async for _ in response.aiter_raw():
                        pass

            async def via_provider() -> None:
                async with provider.chat_stream(request) as stream:
                    text = "".join([t.text async for t in stream if t.kind == "text"])
                if text != "You said: ping":
                    raise RuntimeError(f"provider stream got {text!r}")

            async def via_manager() -> None:
                async with client.chat_stream(MODEL, messages) as stream:
                    text = "".join([t.text async for t in stream if t.kind == "text"])
                if text != "You said: ping":
                    raise RuntimeError(f"manager stream got {text!r}")

            variants: dict[str, Callable[[], Awaitable[None]]] = {
                "httpx": via_httpx,
                "provider": via_provider,
                "manager": via_manager,
            }
            times: dict[str, list[int]] = {name: [] for name in variants}
            order = list(variants)
            rng = random.Random(seed)
            for index in range(warmup + rounds):
                rng.shuffle(order)
                for name in order:
                    started = time.perf_counter_ns()
                    await variants[name]()
                    elapsed = time.perf_counter_ns() - started
                    if index >= warmup:
                        times[name].append(elapsed)
    return times


def _p50(values: Sequence[int]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2] / 1000.0


def bench_overhead(
    base_url: str, rounds: int, warmup: int = 30, seed: int = 20250101, *, cookies: bool = False
) -> list[BenchResult]:
    """The overhead figures; ``cookies``: against a server that sets a cookie on every
    response, as APIs behind Cloudflare do (raw httpx keeps it and sends it back;
    tokenwire's clients keep none, as Roo-Code's fetch-based clients: see
    :class:`tokenwire._http.Cookies`)."""
    times = anyio.run(_overhead, base_url, rounds, warmup, seed)
    raw, provider, manager = (_p50(times[name]) for name in ("httpx", "provider", "manager"))
    ratio = manager / raw
    added = manager - raw
    if cookies:
        return [
            BenchResult(
                "same, every response setting a cookie: ratio",
                ratio,
                "x",
                f"raw {raw:.1f} us, provider {provider:.1f} us, manager {manager:.1f} us",
                goal=f"<= {GOAL_RATIO:.2f}x",
                met=ratio <= GOAL_RATIO,
            ),
            BenchResult(
                "same, every response setting a cookie: added",
                added,
                "us",
                f"of which the manager itself: {manager - provider:+.1f} us",
                goal=f"< {GOAL_ADDED_US:g} us",
                met=added < GOAL_ADDED_US,
            ),
        ]
    return [
        BenchResult("stream p50: raw httpx (aiter_raw)", raw, "us", f"{rounds} interleaved rounds"),
        BenchResult("stream p50: provider alone", provider, "us"),
        BenchResult("stream p50: through the manager", manager, "us"),
        BenchResult("manager / raw httpx at p50", ratio, "x", goal=f"<= {GOAL_RATIO:.2f}x", met=ratio <= GOAL_RATIO),
        BenchResult(
            "time added over raw httpx at p50",
            added,
            "us",
            f"of which the manager itself: {manager - provider:+.1f} us",
            goal=f"< {GOAL_ADDED_US:g} us",
            met=added < GOAL_ADDED_US,
        ),
    ]


# -- entry points ----------------------------------------------------------------------------


def run(
    *,
    streams: int = 10_000,
    rounds: int = 300,
    memory: bool = True,
    out: Optional[IO[str]] = None,
) -> list[BenchResult]:
    """Run the benchmarks, printing each figure to ``out`` as it is measured."""
    sink = out if out is not None else sys.stdout
    results: list[BenchResult] = []

    def emit(batch: list[BenchResult]) -> None:
        for result in batch:
            print(result.line(), file=sink, flush=True)
        results.extend(batch)

    print(f"tokenwire bench  (python {sys.version.split()[0]}, backend: {_backend_name()})", file=sink)
    with _Server() as server:
        if rounds > 0:
            emit(bench_overhead(server.base_url, rounds))
        if streams > 0:
            emit(bench_streams(server.base_url, streams))
    if rounds > 0:
        with _Server(cookies=True) as server:
            emit(bench_overhead(server.base_url, rounds, cookies=True))
    if memory:
        emit(bench_memory())
    return results


def _backend_name() -> str:
    from tokenwire._backend import BACKEND

    return BACKEND


def main(argv: Optional[Sequence[str]] = None, out: Optional[IO[str]] = None) -> int:
    """``tokenwire bench [--streams N] [--rounds N] [--no-memory]``; 1 if a goal is missed."""
    import argparse

    parser = argparse.ArgumentParser(prog="tokenwire bench")
    add_arguments(parser)
    args = parser.parse_args(argv)
    return run_from_args(args, out)


def add_arguments(parser: Any) -> None:
    """The ``bench`` options (shared with the ``tokenwire`` CLI)."""
    parser.add_argument("--streams", type=int, default=10_000, help="concurrent streams (default 10000; 0 skips)")
    parser.add_argument("--rounds", type=int, default=300, help="overhead rounds (default 300; 0 skips)")
    parser.add_argument("--no-memory", action="store_true", dest="no_memory", help="skip the RSS measurement")


def run_from_args(args: Any, out: Optional[IO[str]] = None) -> int:
    if args.streams < 0 or args.rounds < 0:
        raise SystemExit("--streams and --rounds must be >= 0")
    results = run(streams=args.streams, rounds=args.rounds, memory=not args.no_memory, out=out)
    return 0 if all(r.met is not False for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
