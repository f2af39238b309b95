"""StreamProcessor throughput: native vs the pure twin vs the official openai SDK's path.

One 20,000-event OpenAI Chat Completions stream (realistic chunk shape, including the
`obfuscation` padding field) fed in 1-byte, 64-byte and 16 KiB chunks. Each consumer
reads the text of every content delta, so all three do the same useful work:

- ``native``: ``tokenwire._native.StreamProcessor`` (coalescing on, the default), and
  with ``coalesce=False`` (one token per event);
- ``pure``: the pure-Python twin;
- ``openai-sdk``: ``openai._streaming.SSEDecoder`` + ``json.loads`` + dict field access,
  i.e. what the SDK does per chunk before it builds its pydantic models (which we leave
  out, in the SDK's favour).

Read ratios from one run: ``make bench``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tokenwire import _pure

try:
    from tokenwire import _native
except ImportError:  # pragma: no cover
    _native = None  # type: ignore[assignment]

EVENTS = 20_000
WORDS = ("The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".", "\n", " Δ", " 🙂")


def make_stream(events: int = EVENTS) -> bytes:
    base = (
        '{{"id":"chatcmpl-D8Z5oo6uDh67AD85p73ksdT1KxhE0","object":"chat.completion.chunk","created":1770933892,'
        '"model":"gpt-4.1-nano-2025-04-14","service_tier":"default","system_fingerprint":"fp_de604bd877",'
        '"choices":[{{"index":0,"delta":{{"content":{content}}},"logprobs":null,"finish_reason":null}}],'
        '"usage":null,"obfuscation":"{pad}"}}'
    )
    parts = []
    for i in range(events):
        word = WORDS[i % len(WORDS)]
        parts.append("data: " + base.format(content=json.dumps(word), pad="Qup1BsQ3"[: 1 + i % 8]) + "\n\n")
    parts.append("data: [DONE]\n\n")
    return "".join(parts).encode()


STREAM = make_stream()
EXPECTED_CHARS = sum(len(WORDS[i % len(WORDS)]) for i in range(EVENTS))
CHUNK_SIZES = {"1B": 1, "64B": 64, "16KiB": 16384}


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def run_tokenwire(module: Any, pieces: list[bytes], coalesce: bool = True) -> int:
    processor = module.StreamProcessor("openai-chat", coalesce=coalesce)
    n = 0
    for piece in pieces:
        for token in processor.feed(piece):
            if token.kind == "text":
                n += len(token.text)
    for token in processor.finish():
        if token.kind == "text":
            n += len(token.text)
    return n


def run_openai_sdk(pieces: list[bytes]) -> int:
    from openai._streaming import SSEDecoder

    n = 0
    for sse in SSEDecoder().iter_bytes(iter(pieces)):
        if sse.data.startswith("[DONE]"):
            break
        data = json.loads(sse.data)
        for choice in data["choices"]:
            content = choice["delta"].get("content")
            if content:
                n += len(content)
    return n


def _rounds(size: int) -> int:
    return 1 if size == 1 else 5


def _bench(benchmark: Any, fn: Callable[[], int], size: int) -> None:
    result = benchmark.pedantic(fn, rounds=_rounds(size), iterations=1, warmup_rounds=0 if size == 1 else 1)
    assert result == EXPECTED_CHARS


def _impls() -> Iterator[Any]:
    yield pytest.param("native", id="native")
    yield pytest.param("native-nocoalesce", id="native-nocoalesce")
    yield pytest.param("pure", id="pure")
    yield pytest.param("openai-sdk", id="openai-sdk")


@pytest.mark.parametrize("chunk", list(CHUNK_SIZES), ids=list(CHUNK_SIZES))
@pytest.mark.parametrize("impl", list(_impls()))
def test_openai_chat_stream(benchmark: Any, impl: str, chunk: str) -> None:
    size = CHUNK_SIZES[chunk]
    benchmark.group = f"openai-chat 20k events, {chunk} chunks"
    pieces = chunks(STREAM, size)
    if impl.startswith("native") and _native is None:
        pytest.skip("tokenwire._native is not built")
    if impl == "native":
        _bench(benchmark, lambda: run_tokenwire(_native, pieces), size)
    elif impl == "native-nocoalesce":
        _bench(benchmark, lambda: run_tokenwire(_native, pieces, coalesce=False), size)
    elif impl == "pure":
        _bench(benchmark, lambda: run_tokenwire(_pure, pieces), size)
    else:
        pytest.importorskip("openai")
        _bench(benchmark, lambda: run_openai_sdk(pieces), size)
