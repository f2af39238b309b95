"""Native vs pure ``StreamProcessor``: equal tokens and equal errors for any chunking,
and for damaged streams (flipped bytes, truncation, inserted garbage, deleted spans).

Inputs are the project fixtures and a sample of the recorded provider streams. The
comparison is on ``(type name, fields)`` tuples and on the error's class plus what
identifies it (``StreamDecodeError`` offset; provider message, type, code, status).
Runs once, in the native run.
"""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests._stream_helpers import Outcome, classify_recorded, frame_recorded, run_processor, split_at
from tests.conftest import FIXTURES, PURE, RECORDED, parity_only_in_native_run, require_native

# Recorded streams small enough for many examples, covering every SSE dialect and the
# shapes that matter (tool calls, partialArgs, citations, errors, malformed JSON).
RECORDED_SAMPLE = [
    "openai/openai-error.1",
    "openai/parallel-tool-call-wrapper.1",
    "openai/openai-custom-tool.1",
    "openai/openai-local-shell-tool.1",
    "openai/azure-model-router.1",
    "xai/xai-tool-call",
    "mistral/mistral-tool-call",
    "mistral/mistral-reasoning",
    "moonshotai/moonshotai-stream",
    "perplexity/perplexity-citations",
    "groq/groq-tool-call",
    "anthropic/anthropic-tool-no-args",
    "anthropic/anthropic-mcp.1",
    "anthropic/anthropic-clear-thinking.1",
    "anthropic/spliced-message-start",
    "anthropic/anthropic-message-delta-input-tokens",
    "google/google-stream-tool-call-arguments",
    "google/google-stream-no-args-tool-call",
    "google/google-stream-tool-call-array-arguments-missing-terminal-function-call",
    "google/google-reasoning",
    "google/google-tool-call",
]


def _inputs() -> list[tuple[str, str, bytes]]:
    """(id, dialect, bytes) for every parity input available here."""
    inputs = [
        (f"fixture:{p.parent.name}/{p.stem}", p.parent.name, p.read_bytes())
        for p in sorted((FIXTURES / "sse").glob("*/*.sse"))
    ]
    for name in RECORDED_SAMPLE:
        path = RECORDED / "vercel-ai" / f"{name}.chunks.txt"
        if path.is_file():
            dialect, _ = classify_recorded(path)
            assert dialect is not None, name
            inputs.append((f"recorded:{name}", dialect, frame_recorded(path, dialect)))
    return inputs


INPUTS = _inputs()


def _native() -> ModuleType:
    parity_only_in_native_run()
    return require_native()


def _assert_same(native: ModuleType, dialect: str, chunks: list[bytes], **options: Any) -> tuple[Outcome, Outcome]:
    fast = run_processor(native, dialect, chunks, **options)
    ref = run_processor(PURE, dialect, chunks, **options)
    assert fast.tokens == ref.tokens, f"{dialect}: tokens differ for chunks {[len(c) for c in chunks]}"
    assert fast.error_key == ref.error_key, f"{dialect}: errors differ: native {fast.error!r}, pure {ref.error!r}"
    return fast, ref


def _cuts(draw: st.DrawFn, length: int) -> list[int]:
    if length <= 1:
        return []
    return draw(st.lists(st.integers(1, length - 1), max_size=40))


@st.composite
def chunked_input(draw: st.DrawFn) -> tuple[str, str, list[bytes]]:
    name, dialect, data = draw(st.sampled_from(INPUTS))
    return name, dialect, split_at(data, _cuts(draw, len(data)))


@pytest.mark.skipif(not INPUTS, reason="no parity inputs")
@given(case=chunked_input())
def test_native_and_pure_agree_on_any_chunking(case: tuple[str, str, list[bytes]]) -> None:
    native = _native()
    name, dialect, chunks = case
    plain, _ = _assert_same(native, dialect, chunks)
    merged, _ = _assert_same(native, dialect, chunks, coalesce=True)
    # Coalescing only merges text: the concatenations are unchanged.
    for kind in ("TextDelta", "ReasoningDelta"):
        assert merged.text(kind) == plain.text(kind), name
    assert type(merged.error) is type(plain.error), name


def _mutate(draw: st.DrawFn, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "byte"]))
        if not buf:
            break
        at = draw(st.integers(0, len(buf) - 1))
        if kind == "flip":
            buf[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte":
            buf[at] = draw(st.sampled_from(b'{}[]",:\\\r\n \x00\xff\xc3\xa9\xed\xa0\x80' + b"0e-.tnu"))
        elif kind == "truncate":
            del buf[at:]
        elif kind == "insert":
            buf[at:at] = draw(
                st.one_of(
                    st.binary(min_size=1, max_size=12),
                    st.sampled_from(
                        [b"\n\n", b"\r\n", b"data: [DONE]\n\n", b"data: {}\n\n", b'"\\ud800"', b"NaN", b"\n"]
                    ),
                )
            )
        else:
            del buf[at : at + draw(st.integers(1, 16))]
    return bytes(buf)


@st.composite
def damaged_input(draw: st.DrawFn) -> tuple[str, str, list[bytes], Optional[int]]:
    name, dialect, data = draw(st.sampled_from(INPUTS))
    damaged = _mutate(draw, data)
    limit = draw(st.one_of(st.none(), st.integers(8, 600)))
    return name, dialect, split_at(damaged, _cuts(draw, len(damaged))), limit


@pytest.mark.skipif(not INPUTS, reason="no parity inputs")
@given(case=damaged_input())
def test_native_and_pure_agree_on_damaged_streams(case: tuple[str, str, list[bytes], Optional[int]]) -> None:
    native = _native()
    _, dialect, chunks, limit = case
    _assert_same(native, dialect, chunks, max_event_bytes=limit)


@pytest.mark.parametrize("case", INPUTS, ids=[case[0] for case in INPUTS])
def test_native_and_pure_agree_byte_by_byte(case: tuple[str, str, bytes]) -> None:
    native = _native()
    _, dialect, data = case
    _assert_same(native, dialect, [data[i : i + 1] for i in range(len(data))])
    _assert_same(native, dialect, [data], coalesce=True)


def test_inputs_cover_every_dialect() -> None:
    assert {dialect for _, dialect, _ in INPUTS} >= {"openai-chat", "openai-responses", "anthropic", "gemini", "ndjson"}
    if RECORDED.is_dir():
        # Every sampled recording is still there (a renamed file must not shrink the sample silently).
        assert sum(name.startswith("recorded:") for name, _, _ in INPUTS) == len(RECORDED_SAMPLE)


# ---------------------------------------------------------------------------
# think_tags: content split into deltas anywhere, bytes cut anywhere
# ---------------------------------------------------------------------------

# Tag pieces, near-misses and multi-byte text, so random content often holds split tags.
_THINK_PIECES = ["<think>", "</think>", "<", "</", "<th", "ink>", "think", ">", "/", "a", " ", "\n", "é", "🙂", "<T"]


def _think_reference(content: str) -> list[tuple[str, str]]:
    """(kind, text) runs of the whole content: ``<think>`` opens a block and ``</think>``
    closes it, anywhere, without nesting; other text is kept as it is."""
    runs: list[tuple[str, str]] = []
    inside = False
    while content:
        tag = "</think>" if inside else "<think>"
        at = content.find(tag)
        piece = content if at < 0 else content[:at]
        if piece:
            runs.append(("ReasoningDelta" if inside else "TextDelta", piece))
        if at < 0:
            break
        inside = not inside
        content = content[at + len(tag) :]
    return _merge_runs(runs)


def _merge_runs(tokens: list[tuple[Any, ...]]) -> list[tuple[str, str]]:
    runs: list[tuple[str, str]] = []
    for kind, text, *_ in tokens:
        if runs and runs[-1][0] == kind:
            runs[-1] = (kind, runs[-1][1] + text)
        else:
            runs.append((kind, text))
    return runs


@st.composite
def think_stream(draw: st.DrawFn) -> tuple[str, str, list[str], list[bytes]]:
    content = "".join(draw(st.lists(st.sampled_from(_THINK_PIECES), max_size=40)))
    cuts = sorted(set(draw(st.lists(st.integers(0, len(content)), max_size=12))))
    bounds = [0, *cuts, len(content)]
    deltas = [content[a:b] for a, b in zip(bounds, bounds[1:]) if b > a]
    dialect = draw(st.sampled_from(["openai-chat", "ndjson"]))
    if dialect == "openai-chat":
        events = [f"data: {json.dumps({'choices': [{'index': 0, 'delta': {'content': d}}]})}\n\n" for d in deltas]
        events.append('data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
    else:
        events = [json.dumps({"message": {"content": d}, "done": False}) + "\n" for d in deltas]
        events.append('{"done":true,"done_reason":"stop"}\n')
    data = "".join(events).encode()
    return dialect, content, deltas, split_at(data, _cuts(draw, len(data)))


@given(case=think_stream(), coalesce=st.booleans())
def test_native_and_pure_agree_on_think_tags(case: tuple[str, str, list[str], list[bytes]], coalesce: bool) -> None:
    native = _native()
    dialect, content, _, chunks = case
    fast = run_processor(native, dialect, chunks, coalesce=coalesce, think_tags=True)
    ref = run_processor(PURE, dialect, chunks, coalesce=coalesce, think_tags=True)
    assert fast.tokens == ref.tokens
    assert fast.error is None and ref.error is None
    # However the content was split, the runs are those of the whole content, then Finish.
    assert fast.tokens[-1] == ("Finish", "stop")
    assert _merge_runs(fast.tokens[:-1]) == _think_reference(content)
