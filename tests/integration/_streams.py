"""What a provider's stream delivered, assembled without the library's own accumulator,
and the timeouts, request helpers, clock and error probes the provider integration
tests share."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol

import anyio
import pytest

from tokenwire._http import Timeouts
from tokenwire.errors import APIConnectionError, ProviderError, StreamDecodeError
from tokenwire.testing import MockServer, faults
from tokenwire.types import (
    ChatRequest,
    Citation,
    Finish,
    ReasoningDelta,
    StreamToken,
    TextDelta,
    ToolCallDelta,
    Usage,
    coerce_messages,
)

#: Generous enough for a loaded 2-core CI machine, short enough that a hang fails fast.
TIMEOUTS = Timeouts(connect=2.0, read=5.0, write=5.0, pool=5.0, idle=5.0, total=15.0)
#: The headers httpx adds by itself (exact-header tests subtract them).
HTTPX_HEADERS = frozenset({"host", "accept", "accept-encoding", "connection", "user-agent", "content-length"})


def chat_request(model: str, content: str = "hello there", **fields: Any) -> ChatRequest:
    """A one-user-message request."""
    return ChatRequest(model=model, messages=coerce_messages([{"role": "user", "content": content}]), **fields)


class _Streaming(Protocol):
    def chat_stream(self, request: ChatRequest) -> Any: ...

    async def chat(self, request: ChatRequest) -> Any: ...


async def collect(provider: _Streaming, request: ChatRequest, deadline: float = 20.0) -> list[StreamToken]:
    """Every token of ``provider.chat_stream(request)``, within ``deadline`` seconds."""
    with anyio.fail_after(deadline):
        async with provider.chat_stream(request) as stream:
            return [token async for token in stream]


@dataclass
class Got:
    """Everything a stream delivered: text, reasoning, tool calls by index (id, name,
    argument text), every Usage and Finish (so duplicates show), citations."""

    tokens: list[StreamToken] = field(default_factory=list)
    text: str = ""
    reasoning: str = ""
    calls: dict[int, list[Any]] = field(default_factory=dict)
    usage: list[Usage] = field(default_factory=list)
    finish: list[str] = field(default_factory=list)
    citations: list[tuple[str, Optional[str]]] = field(default_factory=list)

    def add(self, token: StreamToken) -> None:
        self.tokens.append(token)
        if isinstance(token, TextDelta):
            assert token.text, "empty TextDelta"
            self.text += token.text
        elif isinstance(token, ReasoningDelta):
            assert token.text, "empty ReasoningDelta"
            self.reasoning += token.text
        elif isinstance(token, ToolCallDelta):
            call = self.calls.setdefault(token.index, [None, None, ""])
            call[0] = call[0] or token.id
            call[1] = call[1] or token.name
            call[2] += token.arguments
        elif isinstance(token, Usage):
            self.usage.append(token)
        elif isinstance(token, Finish):
            self.finish.append(token.reason)
        elif isinstance(token, Citation):
            self.citations.append((token.url, token.title))

    def usage_tuple(self) -> Optional[tuple[int, int, int, int, int]]:
        """The one Usage's five counts (``None`` without one; more than one fails)."""
        assert len(self.usage) <= 1, self.usage
        if not self.usage:
            return None
        u = self.usage[0]
        return (u.input_tokens, u.output_tokens, u.cache_read_tokens, u.cache_write_tokens, u.reasoning_tokens)


def summary(tokens: Sequence[StreamToken], *, parse_args: bool = False) -> dict[str, Any]:
    """Text, reasoning, tool calls (index → (id, name, arguments; parsed as JSON with
    ``parse_args``)), the one usage, the one finish reason and the citations of a token
    list; more than one Usage or Finish fails."""
    got = Got()
    for token in tokens:
        got.add(token)
    assert len(got.usage) <= 1, "more than one Usage"
    assert len(got.finish) <= 1, "more than one Finish"
    return {
        "text": got.text,
        "reasoning": got.reasoning,
        "usage": got.usage[0] if got.usage else None,
        "finish": got.finish[0] if got.finish else None,
        "citations": got.citations,
        "calls": {
            index: (cid, name, json.loads(args) if parse_args else args)
            for index, (cid, name, args) in got.calls.items()
        },
    }


async def consume(stream: Any, got: Optional[Got] = None) -> Got:
    """Drain ``stream`` (a ChatStream, closed on the way out) into ``got`` (or a new
    :class:`Got`); tokens that arrived before an error stay in ``got``."""
    got = got if got is not None else Got()
    async with stream:
        async for token in stream:
            got.add(token)
    return got


class WallClock:
    """Wall-clock seconds that move only when told to (shared by a mock server and the
    provider under test, so token expiry is decided without sleeping)."""

    def __init__(self, now: Optional[float] = None) -> None:
        self.now = time.time() if now is None else now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


async def error_texts(
    provider: _Streaming, server: MockServer, request: ChatRequest, *, cut_after: int = 100
) -> list[str]:
    """``str``/``repr`` (and body) of the errors an overload, a 429, a 500 and a
    connection cut mid-stream raise, for checks that no secret shows in them."""
    texts: list[str] = []
    for fault in (faults.Overloaded(), faults.RateLimit(), faults.ServerFault()):
        server.faults.push(fault)
        with pytest.raises(ProviderError) as info:
            await provider.chat(request)
        texts += [str(info.value), repr(info.value), repr(info.value.body)]
    server.faults.push(faults.Disconnect(after_bytes=cut_after))
    with pytest.raises(APIConnectionError) as conn:
        await collect(provider, request)
    texts += [str(conn.value), repr(conn.value)]
    return texts


async def check_broken_streams(
    provider: _Streaming, server: MockServer, request: ChatRequest, answer: Any, *, cut_after: int
) -> None:
    """A malformed event raises StreamDecodeError; a connection cut after ``cut_after``
    body bytes raises APIConnectionError after delivering a prefix of ``answer``'s
    reasoning (each with ``answer`` scripted again)."""
    server.scripts.push(answer)
    server.faults.push(faults.Malformed(after_events=2))
    with pytest.raises(StreamDecodeError):
        await consume(provider.chat_stream(request))
    server.scripts.push(answer)
    server.faults.push(faults.Disconnect(after_bytes=cut_after))
    got = Got()
    with pytest.raises(APIConnectionError):
        await consume(provider.chat_stream(request), got)
    assert answer.reasoning.startswith(got.reasoning)
