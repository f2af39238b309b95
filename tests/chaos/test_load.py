"""Load: 1,000 concurrent streams through one ``AsyncClient`` (one manager, one pooled
httpx client per provider) against the loopback server: no errors, every text exact,
no connection held and no task left afterwards. Bounded by a deadline.

Measured on 2 cores: ~5.5 s on either backend, the server sharing this process. More
streams than the pool has connections: ``test_pool_gate.py``; 10,000 streams, with the
server in a child process: ``tokenwire bench`` and ``benches/bench_concurrency.py``.
"""

from __future__ import annotations

import time

import anyio
import pytest
from tests.chaos._support import OPENAI, Tally, assert_pools_idle, no_leaked_tasks, provider_options, run_one

from tokenwire._http import Timeouts
from tokenwire.client import AsyncClient
from tokenwire.testing import AnthropicMockServer, OpenAIMockServer

STREAMS = 1_000
# Generous per-phase limits: under load the loopback server, not the client, is slow.
TIMEOUTS = Timeouts(connect=30.0, read=30.0, write=30.0, pool=30.0, idle=30.0, total=55.0)


@pytest.mark.load
@pytest.mark.anyio
async def test_a_thousand_concurrent_streams_through_one_client(
    openai_server: OpenAIMockServer, anthropic_server: AnthropicMockServer
) -> None:
    tally = Tally()
    async with no_leaked_tasks():
        with anyio.fail_after(58):
            async with AsyncClient(
                providers=provider_options(openai_server.base_url, anthropic_server.base_url), timeouts=TIMEOUTS
            ) as client:

                async def one(i: int) -> None:
                    tally.add(await run_one(client, OPENAI, f"load{i}"))

                started = time.perf_counter()
                async with anyio.create_task_group() as group:
                    for i in range(STREAMS):
                        group.start_soon(one, i)
                elapsed = time.perf_counter() - started
                assert_pools_idle(client.manager)
                snapshot = client.metrics.target(OPENAI)
    assert tally.errors() == {} and tally.successes == STREAMS
    assert snapshot["successes"] == STREAMS
    print(f"{STREAMS} concurrent streams: {elapsed:.2f}s")
