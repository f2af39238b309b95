"""Concurrent streams through one ``AsyncClient`` against the loopback OpenAI server.

For each count (1,000, 2,000 and 10,000 by default) every stream is started at once
through one client (one manager, one provider, its pooled httpx client of
``DEFAULT_LIMITS``: 1,000 connections); callers beyond the pool wait in the provider's
connection gate, first come first served. Each stream's text is checked.

Processes: the mock server runs in a child process (``tokenwire._bench``'s), and each
count runs in a fresh client process (this file with ``--client URL COUNT``), so the
client's CPU, wall time and peak RSS are its own and one count's memory does not carry
over into the next. Reported per count: wall time, streams per second, errors by kind,
the client's peak RSS (``getrusage``) and what the run added to it.

Before the gate (httpcore queuing the excess itself and rescanning its whole queue at
every pool event), 2,000 streams over 100 connections took 46 s instead of 8.7 s, and
10,000 over 1,000 connections never finished.

Knob: ``TOKENWIRE_BENCH_STREAMS`` (comma-separated counts, default ``1000,2000,10000``).
The table is printed in the end-of-run summary (see ``conftest.py``); the numbers are
also in each benchmark's ``extra_info``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any, Callable

import anyio
import pytest

from tokenwire._bench import StreamsRun, _Server, run_streams  # pyright: ignore[reportPrivateUsage]

COUNTS = [int(n) for n in os.environ.get("TOKENWIRE_BENCH_STREAMS", "1000,2000,10000").split(",") if n.strip()]
CLIENT_TIMEOUT = 600.0


def run_client(base_url: str, count: int) -> StreamsRun:
    """One count in a fresh client process (see the module docstring)."""
    out = subprocess.run(
        [sys.executable, __file__, "--client", base_url, str(count)],
        capture_output=True,
        text=True,
        check=True,
        timeout=CLIENT_TIMEOUT,
    )
    data: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return StreamsRun(**data)


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with _Server() as server:
        yield server.base_url


_COLUMNS = f"{'streams':>8} {'wall s':>8} {'streams/s':>10} {'errors':>7} {'peak RSS MB':>12} {'added MB':>9}"


@pytest.fixture(scope="module")
def table(bench_report: Callable[[str], None]) -> Iterator[list[str]]:
    rows: list[str] = []
    yield rows
    if rows:
        title = (
            "Concurrent streams through one AsyncClient (pool: 1,000 connections; the rest wait in the "
            "connection gate). Server and each client run in their own processes; RSS is the client's."
        )
        bench_report("\n".join([title, _COLUMNS, "-" * len(_COLUMNS), *rows]))


@pytest.mark.parametrize("count", COUNTS, ids=[f"{n}-streams" for n in COUNTS])
def test_concurrent_streams(benchmark: Any, server_url: str, table: list[str], count: int) -> None:
    benchmark.group = "concurrent streams through one AsyncClient (one client process per count)"
    result: dict[str, StreamsRun] = {}

    def run() -> None:
        result["run"] = run_client(server_url, count)

    benchmark.pedantic(run, rounds=1, iterations=1)
    streams = result["run"]
    benchmark.extra_info.update(
        {
            "streams": count,
            "wall_s": round(streams.wall, 3),
            "streams_per_s": round(count / streams.wall, 1),
            "errors": streams.errors,
            "client_peak_rss_mb": round(streams.rss_peak, 1),
            "client_rss_added_mb": round(streams.rss_peak - streams.rss_before, 1),
        }
    )
    errors = ", ".join(f"{kind}: {n}" for kind, n in sorted(streams.errors.items())) or "0"
    table.append(
        f"{count:>8} {streams.wall:>8.2f} {count / streams.wall:>10.0f} {errors:>7} "
        f"{streams.rss_peak:>12.1f} {streams.rss_peak - streams.rss_before:>+9.1f}"
    )
    assert not streams.errors, streams.errors


if __name__ == "__main__" and sys.argv[1:2] == ["--client"]:
    outcome = anyio.run(run_streams, sys.argv[2], int(sys.argv[3]))
    print(json.dumps(dataclasses.asdict(outcome)))
