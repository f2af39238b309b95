"""Shared state on a Redis Cluster: a real ``redis-server`` in cluster mode (one node
holding every slot), started for this module.

A cluster runs a script only over keys of one hash slot. A limiter's buckets share a
hash tag, so its take is one call; breakers live in hashes of their own, so reading
several at once must go key by key — whether the client is a ``RedisCluster`` or a plain
connection to a cluster node (recognised by the server's ``CROSSSLOT`` answer).

Like the other Redis tests: skipped with the reason when ``redis-server`` is missing,
failed under ``CI=true`` or ``TOKENWIRE_REQUIRE_REDIS=1``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from tests.integration._redis import free_port, redis_async, redis_sync, unavailable

from tokenwire.resilience import BreakerConfig, BreakerState, CircuitBreaker
from tokenwire.resilience.redis import RedisBreakerStore, RedisBucketStore, RedisClient

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _unavailable(reason: str) -> None:
    unavailable(reason, "install redis-server (scripts/redis-test-server.sh install)")


@pytest.fixture(scope="module")
def cluster_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    binary = shutil.which("redis-server")
    if binary is None:
        _unavailable("redis-server is not installed")
        raise AssertionError("unreachable")
    workdir: Path = tmp_path_factory.mktemp("redis-cluster")
    port = free_port()
    log = workdir / "redis.log"
    server = subprocess.Popen(
        [
            binary,
            "--port", str(port),
            # The cluster bus defaults to port + 10000, past 65535 for a high free port.
            "--cluster-port", str(free_port()),
            "--bind", "127.0.0.1",
            "--cluster-enabled", "yes",
            "--cluster-config-file", str(workdir / "nodes.conf"),
            "--dir", str(workdir),
            "--logfile", str(log),
            "--save", "",
            "--appendonly", "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        client = redis_sync.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis_sync.ConnectionError:
                if time.monotonic() > deadline or server.poll() is not None:
                    tail = log.read_text(errors="replace")[-500:] if log.exists() else ""
                    _unavailable(f"redis-server did not start in cluster mode (exit {server.poll()}): {tail}")
                time.sleep(0.05)
        client.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
        while b"cluster_state:ok" not in client.execute_command("CLUSTER", "INFO"):
            if time.monotonic() > deadline:
                _unavailable("the one-node cluster did not come up")
            time.sleep(0.05)
        client.close()
        yield port
    finally:
        server.terminate()
        server.wait(timeout=10)


def _slot(key: str) -> int:
    from redis.crc import key_slot

    return int(key_slot(key.encode()))


@pytest.mark.parametrize("client_kind", ["RedisCluster", "plain connection to a node"])
async def test_breakers_opened_in_one_store_reach_another_on_a_cluster(cluster_port: int, client_kind: str) -> None:
    prefix = f"tw-cluster-{uuid.uuid4().hex[:8]}"

    def client() -> RedisClient:
        if client_kind == "RedisCluster":
            return redis_async.RedisCluster(host="127.0.0.1", port=cluster_port, socket_timeout=2)
        return redis_async.Redis(host="127.0.0.1", port=cluster_port, socket_timeout=2)

    keys = ["openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "gemini/gemini-2.5-pro"]
    here_store = RedisBreakerStore(client(), prefix=prefix, owns_client=True)
    there_store = RedisBreakerStore(client(), prefix=prefix, owns_client=True)
    # The breakers' hashes are in different slots: one script over all of them is refused.
    assert len({_slot(here_store.redis_key(key)) for key in keys}) == len(keys)
    async with here_store as here, there_store as there:
        mine = {key: CircuitBreaker(key, BreakerConfig(open_duration=10.0)) for key in keys}
        theirs = {key: CircuitBreaker(key, BreakerConfig(open_duration=10.0)) for key in keys}
        for key in keys:
            here.bind(mine[key])
            there.bind(theirs[key])
        with anyio.fail_after(10):
            await there.sync(force=True)  # every bound breaker at once
            mine["anthropic/claude-sonnet-4-5"].trip()
            await here.flush()
            await there.sync(force=True)
        assert theirs["anthropic/claude-sonnet-4-5"].state is BreakerState.OPEN
        assert theirs["openai/gpt-4o-mini"].state is BreakerState.CLOSED
        assert theirs["gemini/gemini-2.5-pro"].state is BreakerState.CLOSED
        # Its recovery reaches the other store too.
        mine["anthropic/claude-sonnet-4-5"].reset()
        with anyio.fail_after(10):
            await here.flush()
            await there.sync(force=True)
        assert theirs["anthropic/claude-sonnet-4-5"].state is BreakerState.CLOSED


async def test_a_limiters_buckets_take_in_one_call_on_a_cluster(cluster_port: int) -> None:
    prefix = f"tw-cluster-{uuid.uuid4().hex[:8]}"
    cluster = redis_async.RedisCluster(host="127.0.0.1", port=cluster_port, socket_timeout=2)
    async with RedisBucketStore(cluster, prefix=prefix, owns_client=True) as store:
        requests = store.bucket("openai/gpt-4o-mini", "requests", 1.0, 2.0)
        tokens = store.bucket("openai/gpt-4o-mini", "tokens", 100.0, 1000.0)
        with anyio.fail_after(10):
            assert await store.take([(requests, 1.0), (tokens, 600.0)], time.monotonic()) == 0.0
            # Not enough tokens left for this one: nothing is taken from either bucket.
            assert await store.take([(requests, 1.0), (tokens, 600.0)], time.monotonic()) > 0.0
            assert await store.take([(requests, 1.0), (tokens, 300.0)], time.monotonic()) == 0.0
            assert await store.take([(requests, 1.0)], time.monotonic()) > 0.0
