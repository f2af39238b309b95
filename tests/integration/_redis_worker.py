"""A worker OS process for tests/integration/test_redis_shared.py (run as a script).

``python _redis_worker.py ROLE CONFIG_JSON`` — it sets up, prints ``ready``, then
follows the commands read from stdin, one per line, answering one JSON line each:

- role ``limiter``: ``go`` → hammer the loopback server through an
  :class:`AdaptiveRateLimiter` on shared Redis buckets with ``tasks`` concurrent
  callers for ``duration`` seconds → ``{"sent": n}``;
- role ``bucket``: ``go`` → the same straight on one :class:`RedisTokenBucket`;
- role ``breaker``: ``trip`` (plain ``CircuitBreaker.trip()``; the store's listener
  writes it), ``fail`` (record failures until the breaker opens), ``sync`` (read the
  shared state) → ``{"state": …, "retry_in": …}``; ``exit``;
- role ``manager``: a :class:`ProviderManager` with ``shared_state=SharedState.from_url(…)``
  (run as ``async with``) in front of the loopback server; commands are JSON objects
  naming a ``target``: ``chat`` (one request), ``until_open`` (requests until the
  target's breaker opens), ``hammer`` (``tasks`` callers for ``duration`` seconds),
  ``state`` (nothing) → the outcome with the target's breaker state and metrics.

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

from tokenwire.errors import APIConnectionError, CircuitOpenError, TokenwireError
from tokenwire.manager import ProviderManager
from tokenwire.resilience import (
    AdaptiveRateLimiter,
    BreakerConfig,
    CircuitBreaker,
    LimiterConfig,
    RetryPolicy,
    SharedState,
)
from tokenwire.resilience.redis import RedisBreakerStore, RedisBucketStore
from tokenwire.types import ChatRequest, Message


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


async def _chat(manager: ProviderManager, target: str) -> dict[str, Any]:
    request = ChatRequest(model=target, messages=(Message("user", "hi"),))
    try:
        await manager.chat(request)
    except CircuitOpenError as exc:
        retry_in = exc.retry_at - manager.clock.now() if exc.retry_at is not None else None
        return {"ok": False, "error": "CircuitOpenError", "retry_in": retry_in}
    except TokenwireError as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


async def _hammer(manager: ProviderManager, target: str, duration: float, tasks: int) -> int:
    """``tasks`` callers sending requests to ``target`` for ``duration`` seconds; the
    number of answers they got."""
    deadline = time.monotonic() + duration
    sent = 0

    async def caller() -> None:
        nonlocal sent
        while True:
            # Cut off at the deadline, most likely while queued in the limiter.
            with anyio.move_on_after(deadline - time.monotonic()):
                if (await _chat(manager, target))["ok"]:
                    sent += 1
                continue
            return

    async with anyio.create_task_group() as group:
        for _ in range(tasks):
            group.start_soon(caller)
    return sent


async def manager_role(config: dict[str, Any]) -> None:
    breaker_config = BreakerConfig(
        window_size=4,
        minimum_calls=4,
        open_duration=config["open_duration"],
        max_open_duration=config["open_duration"],
        half_open_calls=1,
    )
    manager = ProviderManager(
        providers={"openai": {"api_key": "sk-test", "base_url": config["base_url"]}},
        shared_state=SharedState.from_url(config["url"], prefix=config["prefix"]),
        retry=RetryPolicy(max_retries=0),
        breaker_config=breaker_config,
        limiter_configs={config["quota_target"]: LimiterConfig(requests_per_minute=config["rpm"])},
    )
    shared = manager.shared_state
    assert shared is not None
    async with manager:  # runs the background breaker sync
        _say("ready")
        while True:
            line = await _command()
            if line in ("exit", ""):
                break
            command = json.loads(line)
            action, target = command["do"], command["target"]
            answer: dict[str, Any] = {}
            if action == "chat":
                answer = await _chat(manager, target)
            elif action == "until_open":
                outcomes: list[str] = []
                while manager.breaker(target).state != "open":
                    outcomes.append((await _chat(manager, target)).get("error", "ok"))
                answer = {"outcomes": outcomes}
            elif action == "hammer":
                answer = {"sent": await _hammer(manager, target, command["duration"], command["tasks"])}
            # What this process changed is in Redis before the test acts on the answer
            # (it is written in the background at once anyway).
            await shared.flush()
            metrics = manager.metrics.target(target)
            answer.update(
                state=str(manager.breaker(target).state),
                writer=shared.breakers.writer,
                requests=metrics["requests"],
                rejected=metrics["rejected"],
                errors=metrics["errors"],
            )
            _say(answer)


def main() -> None:
    role, config = sys.argv[1], json.loads(sys.argv[2])
    roles = {"limiter": limiter_role, "bucket": bucket_role, "breaker": breaker_role, "manager": manager_role}
    anyio.run(roles[role], config)


if __name__ == "__main__":
    main()
