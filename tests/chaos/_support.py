"""Shared helpers of the chaos suite: leak checks, scripted answers, outcome checks.

Leak checks (the same idea as the manager integration tests, kept here for the chaos
suite): after a test no request may still hold a connection of any provider's httpx
pool or a slot of its connection gate, every pooled connection must be idle or closed,
and the asyncio task set must be back to what it was before the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Optional

from tokenwire.client import AsyncClient
from tokenwire.errors import TokenwireError
from tokenwire.manager import ProviderManager
from tokenwire.testing import Answer, RecordedRequest

OPENAI_KEY = "sk-chaos-openai-0000000000"
ANTHROPIC_KEY = "sk-ant-chaos-000000000000"
OPENAI = "openai/gpt-4o-mini"
ANTHROPIC = "anthropic/claude-sonnet-4-5"
WORDS_PER_ANSWER = 12


def expected_text(content: str) -> str:
    """The answer the chaos servers script for a request whose last message is ``content``."""
    return " ".join(f"{content}:{k}" for k in range(WORDS_PER_ANSWER))


def _last_user_text(document: Any) -> str:
    items: Any = document["messages"] if "messages" in document else document["input"]
    if isinstance(items, str):
        return items
    content: Any = items[-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(block.get("text", "") for block in content if isinstance(block, dict))


def scripted_answer(request: RecordedRequest) -> Answer:
    """One word per event, so byte offsets of faults land all over the stream."""
    return Answer(expected_text(_last_user_text(request.json())), chunk_words=1)


def provider_options(openai_url: str, anthropic_url: str) -> dict[str, dict[str, Any]]:
    return {
        "openai": {"api_key": OPENAI_KEY, "base_url": openai_url},
        "anthropic": {"api_key": ANTHROPIC_KEY, "base_url": anthropic_url},
    }


def assert_pools_idle(manager: ProviderManager) -> None:
    """No request still holds a connection in any provider's httpx pool or a slot of
    the provider's connection gate, nobody waits for one, and every pooled connection
    is idle (reusable) or closed."""
    for name in manager.known_providers():
        provider = manager.provider(name)
        stats = provider.pool_stats()
        assert stats.in_use == 0 and stats.waiting == 0, f"{name}: connection slots not all returned: {stats}"
        client = provider._client  # pyright: ignore[reportPrivateUsage]
        if client is None:
            continue
        pool: Any = client._transport._pool  # pyright: ignore[reportAttributeAccessIssue,reportUnknownMemberType]
        assert not pool._requests, f"{name}: {len(pool._requests)} request(s) still active"
        busy = [c for c in pool.connections if not (c.is_idle() or c.is_closed())]
        assert not busy, f"{name}: {len(busy)} pooled connection(s) neither idle nor closed: {busy!r}"


def open_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if not t.done() and t is not asyncio.current_task()}


@asynccontextmanager
async def no_leaked_tasks() -> AsyncGenerator[None, None]:
    """Fail when the block leaves a task running (pytest's runner task excepted)."""
    before = open_tasks()
    yield
    # Let tasks cancelled at the very end of the block run their last step.
    for _ in range(3):
        await asyncio.sleep(0)
    leaked = {t for t in open_tasks() - before if "TestRunner" not in repr(t.get_coro())}
    assert not leaked, leaked


@dataclass
class Outcome:
    """What one request ended with: its text so far, and a typed error or none."""

    content: str
    text: str
    error: Optional[TokenwireError] = None
    attempts: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Tally:
    """Outcomes of a chaos run, checked as they are added."""

    outcomes: list[Outcome] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        expected = expected_text(outcome.content)
        if outcome.error is None:
            # Complete: every token exactly once, whatever retries/failovers happened.
            assert outcome.text == expected, (outcome.content, outcome.text)
        else:
            # Typed error: what reached the caller before it is a prefix of the answer
            # (nothing duplicated by a retry, nothing from another request).
            assert expected.startswith(outcome.text), (outcome.content, outcome.text, outcome.error)
        self.outcomes.append(outcome)

    @property
    def successes(self) -> int:
        return sum(1 for o in self.outcomes if o.ok)

    def errors(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for outcome in self.outcomes:
            if outcome.error is not None:
                name = type(outcome.error).__name__
                counts[name] = counts.get(name, 0) + 1
        return counts


async def run_one(client: AsyncClient, address: str, content: str, *, stream: bool = True) -> Outcome:
    """One request to its end; a typed error is an outcome, anything else propagates."""
    parts: list[str] = []
    messages = [{"role": "user", "content": content}]
    attempts = 0
    try:
        if stream:
            managed = client.chat_stream(address, messages, max_tokens=256)
            try:
                async with managed:
                    async for token in managed:
                        if token.kind == "text":
                            parts.append(token.text)  # type: ignore[union-attr]
            finally:
                attempts = len(managed.attempts)
        else:
            reply = await client.chat(address, messages, max_tokens=256)
            parts.append(reply.text)
    except TokenwireError as error:
        return Outcome(content, "".join(parts), error, attempts)
    return Outcome(content, "".join(parts), None, attempts)


def breaker_transitions(events: list[Any]) -> Mapping[str, list[tuple[str, str]]]:
    """``(previous, state)`` pairs of the breaker events per target key, in order."""
    out: dict[str, list[tuple[str, str]]] = {}
    for event in events:
        if event.kind == "breaker":
            out.setdefault(event.target, []).append((event.previous, event.state))
    return out


LEGAL_BREAKER_MOVES = {("closed", "open"), ("open", "half_open"), ("half_open", "closed"), ("half_open", "open")}


def assert_breaker_moves_legal(events: list[Any]) -> None:
    """Every breaker transition is one the state machine allows, and each target's
    sequence is chained (each move starts where the previous one ended)."""
    for key, moves in breaker_transitions(events).items():
        state = "closed"
        for previous, new in moves:
            assert (previous, new) in LEGAL_BREAKER_MOVES, (key, moves)
            assert previous == state, (key, moves)
            state = new
