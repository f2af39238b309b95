"""A worker OS process for tests/integration/test_redis_shared.py (run as a script).

``python _redis_worker.py ROLE CONFIG_JSON`` — it sets up, prints ``ready``, then
follows the commands read from stdin, one per line, answering one JSON line each:

- role ``limiter``: ``go`` → hammer the loopback server through an
  :class:`AdaptiveRateLimiter` on shared Redis buckets with ``tasks`` concurrent
  callers for ``duration`` seconds → ``{"sent": n}``;
- role ``bucket``: ``go`` → the same straight on one :class:`RedisTokenBucket`;
- role ``breaker``: ``trip`` (plain ``CircuitBreaker.trip()``; the store's listener
  writes it), ``fail`` (record failures until the breaker opens), ``sync`` (read the
  shared state) → ``{"state": …, "retry_in": …}``; ``exit``.

Kept out of the test module so a worker imports only what it uses (start-up time).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Optional

import anyio
import anyio.to_thread
import httpx

from tokenwire.errors import APIConnectionError, CircuitOpenError
from tokenwire.resilience import AdaptiveRateLimiter, BreakerConfig, CircuitBreaker, LimiterConfig
from tokenwire.resilience.redis import RedisBreakerStore, RedisBucketStore


def _say(message: Any) -> None:
    sys.stdout.write((message if isinstance(message, str) else json.dumps(message)) + "\n")
    sys.stdout.flush()


async def _command() -> str:
    return (await anyio.to_thread.run_sync(sys.stdin.readline)).strip()


_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


async def _post(http: httpx.AsyncClient) -> None:
    response = await http.post("/chat/completions", json=_BODY)
    if response.status_code != 200:
        raise RuntimeError(f"loopback server answered {response.status_code}: {response.text[:200]}")


async def limiter_role(config: dict[str, Any]) -> None:
    buckets = RedisBucketStore.from_url(config["url"], prefix=config["prefix"])
    limiter = AdaptiveRateLimiter(
        config["key"],
        LimiterConfig(requests_per_minute=config.get("rpm"), tokens_per_minute=config.get("tpm")),
        buckets=buckets,
    )
    cost = float(config.get("cost", 0))
    sent = 0
    async with httpx.AsyncClient(base_url=config["base_url"], headers={"Authorization": "Bearer sk-test"}) as http:
        _say("ready")
        if await _command() != "go":
            return
        deadline = time.monotonic() + config["duration"]

        async def hammer() -> None:
            nonlocal sent
            while True:
                permit = None
                with anyio.move_on_after(deadline - time.monotonic()):
                    permit = await limiter.acquire(cost)
                if permit is None:
                    return  # the deadline passed while queued: a cancelled caller takes nothing
                await _post(http)
                sent += 1
                permit.settle(cost)

        async with anyio.create_task_group() as group:
            for _ in range(config["tasks"]):
                group.start_soon(hammer)
    await buckets.aclose()
    _say({"sent": sent})


async def bucket_role(config: dict[str, Any]) -> None:
    store = RedisBucketStore.from_url(config["url"], prefix=config["prefix"])
    bucket = store.bucket(config["key"], "", config["rate"], config["burst"])
    sent = 0
    async with httpx.AsyncClient(base_url=config["base_url"], headers={"Authorization": "Bearer sk-test"}) as http:
        _say("ready")
        if await _command() != "go":
            return
        deadline = time.monotonic() + config["duration"]

        async def hammer() -> None:
            nonlocal sent
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                wait = await bucket.acquire(1)
                if wait > 0:
                    await anyio.sleep(min(wait, left))
                    continue
                await _post(http)
                sent += 1

        async with anyio.create_task_group() as group:
            for _ in range(config["tasks"]):
                group.start_soon(hammer)
    await store.aclose()
    _say({"sent": sent})


async def breaker_role(config: dict[str, Any]) -> None:
    store = RedisBreakerStore.from_url(config["url"], prefix=config["prefix"], cache_ttl=0.0)
    breaker = CircuitBreaker(config["key"], BreakerConfig(window_size=4, minimum_calls=4, open_duration=30.0))
    store.bind(breaker)
    _say("ready")
    while True:
        command = await _command()
        if command in ("exit", ""):
            break
        if command == "trip":
            breaker.trip()  # plain trip: the store's listener writes it to Redis
            await anyio.sleep(0.05)  # let the background write run, as any later await would
            await store.flush()
        elif command == "fail":
            while breaker.state != "open":
                breaker.acquire().record_failure(APIConnectionError("connection refused"))
            await store.flush()
        elif command == "sync":
            await store.sync(breaker, force=True)
        retry_in: Optional[float] = None
        try:
            breaker.acquire().release()
        except CircuitOpenError as exc:
            retry_in = exc.retry_at - breaker.clock.now() if exc.retry_at is not None else None
        _say({"state": str(breaker.state), "retry_in": retry_in, "writer": store.writer})
    await store.aclose()


def main() -> None:
    role, config = sys.argv[1], json.loads(sys.argv[2])
    roles = {"limiter": limiter_role, "bucket": bucket_role, "breaker": breaker_role}
    anyio.run(roles[role], config)


if __name__ == "__main__":
    main()
