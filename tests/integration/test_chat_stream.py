"""``ChatStream`` (the provider-level stream) against the loopback OpenAI server: every
token exactly once whatever mix of ``async for`` and ``next_batch`` reads it, an
accumulator that holds exactly what was delivered, closing from anywhere, errors after
the tokens before them, and nothing left behind (connection slot, task).

Tests marked ``both_read_paths`` run without and with a total limit (checked before each
read), and the last test shows the total limit ending streams that the idle limit
would let run, read with ``async for`` (the inlined hot path) and with ``next_batch``
(``_fill`` / ``_read``).
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import Iterator
from typing import Any, Optional

import anyio
import httpx
import pytest
from tests.integration._streams import chat_request

from tokenwire._http import PoolStats, Timeouts
from tokenwire.errors import APIConnectionError, APITimeoutError, StreamDecodeError, TokenwireError
from tokenwire.providers.base import ChatStream, ResponseAccumulator
from tokenwire.providers.openai import OpenAIProvider
from tokenwire.testing import Answer, OpenAIMockServer, Recording, faults
from tokenwire.types import StreamToken, TextDelta

KEY = "sk-chat-stream-0000000000"
IDLE = 0.3
WORDS = 150  # more than the accumulator's folding batch
TEXT = " ".join(f"w{i}" for i in range(WORDS))
ANSWER = Answer(TEXT, tool_calls=[("lookup", '{"query": "tokenwire"}')], usage=(11, 22), chunk_words=1)

pytestmark = pytest.mark.anyio
both_read_paths = pytest.mark.parametrize("total", [None, 15.0], ids=["no-total", "total"])


@pytest.fixture
def server() -> Iterator[OpenAIMockServer]:
    with OpenAIMockServer(api_key=KEY) as running:
        running.default_script = ANSWER
        yield running


def make_provider(server: OpenAIMockServer, total: Optional[float]) -> OpenAIProvider:
    timeouts = Timeouts(connect=2.0, read=IDLE, write=2.0, pool=2.0, idle=IDLE, total=total)
    return OpenAIProvider(api_key=KEY, base_url=server.base_url, api="chat", timeouts=timeouts)


def text_of(tokens: list[StreamToken]) -> str:
    return "".join(t.text for t in tokens if t.kind == "text")  # type: ignore[union-attr]


def summary(tokens: list[StreamToken]) -> tuple[str, list[tuple[str, str]], Optional[str], tuple[int, int]]:
    """Text, tool calls, finish reason and usage, assembled independently of ChatStream."""
    calls: dict[int, list[str]] = {}
    finish: list[str] = []
    usage: list[tuple[int, int]] = []
    for token in tokens:
        if token.kind == "tool_call":
            entry = calls.setdefault(token.index, ["", ""])  # type: ignore[union-attr]
            entry[0] += token.name or ""  # type: ignore[union-attr]
            entry[1] += token.arguments  # type: ignore[union-attr]
        elif token.kind == "finish":
            finish.append(token.reason)  # type: ignore[union-attr]
        elif token.kind == "usage":
            usage.append((token.input_tokens, token.output_tokens))  # type: ignore[union-attr]
    assert len(finish) == 1 and len(usage) == 1, (finish, usage)
    return text_of(tokens), [(name, args) for name, args in calls.values()], finish[0], usage[0]


def state(accumulator: ResponseAccumulator) -> tuple[Any, ...]:
    calls = [(call.name, call.arguments) for call in accumulator.tool_calls()]
    return accumulator.text, calls, accumulator.finish_reason, accumulator.usage


def tasks_now() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if not t.done() and t is not asyncio.current_task()}


async def settle(before: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """The tasks left over ``before``, once garbage is collected and what it scheduled
    has run: httpx nests async generators, and those left suspended by a stream closed
    early are finalized by asyncio as short-lived tasks (with or without tokenwire)."""
    gc.collect()
    with anyio.move_on_after(2):
        while tasks_now() - before:
            await asyncio.sleep(0.005)
    return tasks_now() - before


@both_read_paths
async def test_every_token_once_in_order_however_it_is_read(server: OpenAIMockServer, total: Optional[float]) -> None:
    async with make_provider(server, total) as provider:
        with anyio.fail_after(10):
            async with provider.chat_stream(chat_request("gpt-4o-mini")) as stream:
                reference = [token async for token in stream]
            async with provider.chat_stream(chat_request("gpt-4o-mini")) as stream:
                mixed: list[StreamToken] = []
                step = 0
                while True:
                    step += 1
                    if step % 3:
                        try:
                            mixed.append(await stream.__anext__())
                        except StopAsyncIteration:
                            break
                    else:
                        batch = await stream.next_batch()
                        if not batch:
                            break
                        mixed.extend(batch)
                assert await stream.next_batch() == []
                with pytest.raises(StopAsyncIteration):
                    await stream.__anext__()
    # Batches (and tool-call ids) differ between runs; what they add up to may not.
    for tokens in (reference, mixed):
        assert summary(tokens) == (TEXT, [("lookup", '{"query": "tokenwire"}')], "tool_calls", (11, 22))


def _chunk(delta: str, finish: Optional[str] = None, usage: bool = False) -> bytes:
    document: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "delta": {"content": delta}, "finish_reason": finish}],
    }
    if usage:
        document["usage"] = {"prompt_tokens": 11, "completion_tokens": 22, "total_tokens": 33}
    return b"data: " + json.dumps(document).encode() + b"\n\n"


# Every event but the first decodes to several tokens (its text, then the finish reason
# and the usage of the last one): tokens decoded together, handed out one at a time.
BUNDLED = Recording.raw(
    _chunk("w0")
    + b"".join(_chunk(f" w{i}") for i in range(1, WORDS - 1))
    + _chunk(f" w{WORDS - 1}", "stop", True)
    + b"data: [DONE]\n\n"
)


@both_read_paths
@pytest.mark.parametrize("bundled", [False, True], ids=["answer", "bundled-tokens"])
async def test_the_accumulator_holds_exactly_what_was_delivered(
    server: OpenAIMockServer, total: Optional[float], bundled: bool
) -> None:
    if bundled:
        server.scripts.push(BUNDLED)
    async with make_provider(server, total) as provider:
        with anyio.fail_after(10):
            async with provider.chat_stream(chat_request("gpt-4o-mini")) as stream:
                assert stream.ttft is None and stream.accumulator.text == ""
                delivered = ResponseAccumulator()  # fed here, token by token, as the reference
                async for token in stream:
                    delivered.add(token)
                    assert stream.ttft is not None
                    # Never a token decoded but not yet handed out, never one missing.
                    assert state(stream.accumulator) == state(delivered)
                answer = await stream.get_final_response()
    assert answer.text == TEXT
    assert answer.usage is not None and (answer.usage.input_tokens, answer.usage.output_tokens) == (11, 22)
    if bundled:
        assert answer.finish_reason == "stop" and answer.tool_calls == ()
    else:
        assert answer.finish_reason == "tool_calls"
        assert [(call.name, call.arguments) for call in answer.tool_calls] == [("lookup", '{"query": "tokenwire"}')]


@both_read_paths
async def test_closing_inside_the_loop_ends_it_quietly(server: OpenAIMockServer, total: Optional[float]) -> None:
    before = tasks_now()
    async with make_provider(server, total) as provider:
        with anyio.fail_after(10):
            stream = provider.chat_stream(chat_request("gpt-4o-mini"))
            seen = 0
            async for _ in stream:
                seen += 1
                if seen == 3:
                    await stream.aclose()
            assert seen == 3 and stream.closed
            with pytest.raises(StopAsyncIteration):
                await stream.__anext__()
            assert await stream.next_batch() == []
            assert provider.pool_stats().in_use == 0
    assert await settle(before) == set()


@both_read_paths
async def test_leaving_early_leaves_nothing_behind(server: OpenAIMockServer, total: Optional[float]) -> None:
    before = tasks_now()
    async with make_provider(server, total) as provider:
        with anyio.fail_after(10):
            for _ in range(3):
                async with provider.chat_stream(chat_request("gpt-4o-mini")) as stream:
                    async for token in stream:
                        if token.kind == "text":
                            break
                assert stream.closed and stream.accumulator.text == "w0"
            assert provider.pool_stats() == PoolStats(1000, 0, 0)
    assert await settle(before) == set()


@both_read_paths
async def test_a_stream_closed_before_it_started_yields_nothing(
    server: OpenAIMockServer, total: Optional[float]
) -> None:
    async with make_provider(server, total) as provider:
        with anyio.fail_after(10):
            stream = provider.chat_stream(chat_request("gpt-4o-mini"))
            await stream.aclose()
            assert [token async for token in stream] == []
            other = provider.chat_stream(chat_request("gpt-4o-mini"))
            await other.aclose()
            assert await other.next_batch() == []
    assert server.requests == []


@both_read_paths
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        (faults.Disconnect(after_bytes=2000), APIConnectionError),
        (faults.Disconnect(after_bytes=2000, reset=True), APIConnectionError),
        (faults.Stall(seconds=IDLE * 3, after_bytes=2000), APITimeoutError),
        (faults.Malformed(after_events=20), StreamDecodeError),
    ],
    ids=["cut", "reset", "stall", "malformed"],
)
async def test_an_error_mid_stream_comes_after_the_tokens_before_it(
    server: OpenAIMockServer, total: Optional[float], fault: faults.Fault, error: type[TokenwireError]
) -> None:
    before = tasks_now()
    async with make_provider(server, total) as provider:
        with anyio.fail_after(10):
            server.faults.push(fault)
            received: list[StreamToken] = []
            async with provider.chat_stream(chat_request("gpt-4o-mini")) as stream:
                with pytest.raises(error):
                    async for token in stream:
                        received.append(token)
                assert stream.closed
                with pytest.raises(StopAsyncIteration):
                    await stream.__anext__()
            text = text_of(received)
            assert text and TEXT.startswith(text) and text != TEXT
            assert stream.accumulator.text == text
            assert provider.pool_stats().in_use == 0
            # The provider is fine afterwards.
            async with provider.chat_stream(chat_request("gpt-4o-mini")) as again:
                assert text_of([token async for token in again]) == TEXT
    assert await settle(before) == set()


@pytest.mark.parametrize("reader", ["async-for", "next-batch"])
@pytest.mark.parametrize(
    "fault",
    [faults.Stall(seconds=3.0, after_bytes=2000), faults.Drip(bytes_per_write=200, delay=0.02)],
    ids=["one-long-stall", "slow-drip"],
)
async def test_the_total_limit_ends_a_stream_the_idle_limit_lets_live(
    server: OpenAIMockServer, reader: str, fault: faults.Fault
) -> None:
    # Every read comes well within the idle limit (5 s); only the total limit can end it.
    timeouts = Timeouts(connect=2.0, read=5.0, write=2.0, pool=2.0, idle=5.0, total=0.6)
    server.faults.push(fault)
    async with OpenAIProvider(api_key=KEY, base_url=server.base_url, api="chat", timeouts=timeouts) as provider:
        received: list[StreamToken] = []
        with anyio.fail_after(2.5):  # < the idle limit: it is the total limit that fired
            async with provider.chat_stream(chat_request("gpt-4o-mini")) as stream:
                with pytest.raises(APITimeoutError, match=r"total limit 0\.6s"):
                    if reader == "async-for":
                        async for token in stream:
                            received.append(token)
                    else:
                        while batch := await stream.next_batch():
                            received.extend(batch)
        text = text_of(received)
        assert text and TEXT.startswith(text) and text != TEXT
        assert provider.pool_stats().in_use == 0


@pytest.mark.parametrize("call", ["chat_stream", "chat"])
async def test_the_total_limit_ends_a_wait_for_the_response_headers(server: OpenAIMockServer, call: str) -> None:
    # The server takes the request and says nothing: the read limit (5 s) would wait; the
    # total limit (0.6 s) cuts the send off, and the task is left with no cancellation.
    timeouts = Timeouts(connect=2.0, read=5.0, write=2.0, pool=2.0, idle=5.0, total=0.6)
    server.faults.push(faults.Stall(seconds=3.0, before_headers=True))
    async with OpenAIProvider(api_key=KEY, base_url=server.base_url, api="chat", timeouts=timeouts) as provider:
        started = time.perf_counter()
        with anyio.fail_after(2.5):
            with pytest.raises(APITimeoutError):
                if call == "chat":
                    await provider.chat(chat_request("gpt-4o-mini"))
                else:
                    async with provider.chat_stream(chat_request("gpt-4o-mini")) as stream:
                        await stream.next_batch()
        assert 0.5 <= time.perf_counter() - started < 2.5
        assert provider.pool_stats().in_use == 0
        task = asyncio.current_task()
        assert task is not None and (sys.version_info < (3, 11) or task.cancelling() == 0)
        # The provider (and the task) work on afterwards.
        response = await provider.chat(chat_request("gpt-4o-mini"))
        assert response.text == TEXT


class ShoutingStream(ChatStream):
    """A subclass that reshapes tokens in ``_fill`` (as the Gemini and usage-lookup streams do)."""

    async def _fill(self) -> None:
        await super()._fill()
        shouted = [TextDelta(t.text.upper()) if t.kind == "text" else t for t in self._pending]  # type: ignore[union-attr]
        self._pending.clear()
        self._pending.extend(shouted)


class OwnCloseStream(ChatStream):
    """A subclass with an ``aclose`` of its own that does not call the base one (as the
    Claude Code stream, which ends a process): it steps without the generator."""

    async def aclose(self) -> None:
        await self._close()


@pytest.mark.parametrize("cls", [ShoutingStream, OwnCloseStream])
async def test_subclasses_read_everything_and_leave_nothing_behind(
    server: OpenAIMockServer, cls: type[ChatStream]
) -> None:
    assert cls._iterates is (cls is ShoutingStream)
    expected = TEXT.upper() if cls is ShoutingStream else TEXT
    before = tasks_now()
    async with make_provider(server, None) as provider:
        with anyio.fail_after(10):
            call = provider.build_chat_call(chat_request("gpt-4o-mini"), stream=True)
            async with cls(provider, call) as stream:
                assert text_of([token async for token in stream]) == expected
            assert stream.accumulator.text == expected
            for _ in range(3):
                async with cls(provider, call) as stream:
                    async for _token in stream:
                        break
            assert provider.pool_stats().in_use == 0
    assert await settle(before) == set()


async def test_cookies_a_provider_sets_are_not_sent_back(server: OpenAIMockServer) -> None:
    # As Roo-Code's fetch-based clients: a Set-Cookie (as Cloudflare sends in front of
    # real APIs) is not kept, and no request carries a Cookie header.
    async with OpenAIProvider(api_key=KEY, base_url=server.base_url, api="chat") as provider:
        server.faults.push(faults.Headers({"Set-Cookie": "__cf_bm=abc123; Path=/; HttpOnly"}))
        async with provider.chat_stream(chat_request("gpt-4o-mini")) as stream:
            assert text_of([token async for token in stream]) == TEXT
        assert not provider.http_client.cookies
        await provider.chat(chat_request("gpt-4o-mini"))
        assert "cookie" not in server.last_request.headers
    # A client of the caller's keeps httpx's cookie handling.
    async with httpx.AsyncClient() as own:
        provider = OpenAIProvider(api_key=KEY, base_url=server.base_url, api="chat", http_client=own)
        server.faults.push(faults.Headers({"Set-Cookie": "__cf_bm=abc123; Path=/; HttpOnly"}))
        await provider.chat(chat_request("gpt-4o-mini"))
        await provider.chat(chat_request("gpt-4o-mini"))
        assert server.last_request.headers.get("cookie") == "__cf_bm=abc123"
