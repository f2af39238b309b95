"""Native vs pure ``StreamProcessor``: equal tokens and equal errors for any chunking,
and for damaged streams (flipped bytes, truncation, inserted garbage, deleted spans).

Inputs are the project fixtures and a sample of the recorded provider streams. The
comparison is on ``(type name, fields)`` tuples and on the error's class plus what
identifies it (``StreamDecodeError`` offset; provider message, type, code, status).
Runs once, in the native run.
"""

from __future__ import annotations

import inspect
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


def test_native_and_pure_constructors_take_the_same_options() -> None:
    native = _native()

    def parameters(cls: Any) -> list[tuple[str, Any, Any]]:
        return [(p.name, p.kind, p.default) for p in inspect.signature(cls).parameters.values()]

    assert parameters(native.StreamProcessor) == parameters(PURE.StreamProcessor)


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


# ---------------------------------------------------------------------------
# openai-chat: usage fields, reported cost and content parts of any shape
# ---------------------------------------------------------------------------

# JSON number spellings that stress both readings: -0, integers past u64 and past the
# float range, exponents, subnormals, decimal text needing correct rounding.
_NUMBER_TEXT = st.one_of(
    st.sampled_from(
        [
            "0",
            "-0",
            "-0.0",
            "0e0",
            "7",
            "-1",
            "0.5",
            "1E-3",
            "1e400",
            "-1e400",
            "2.5e-324",
            "1.7976931348623157e308",
            "18446744073709551615",
            "18446744073709551616",
            "1" + "0" * 400,
            "0.1000000000000000055511151231257827",
        ]
    ),
    st.integers(-10, 2**64 + 5).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
_JSON_VALUE = _NUMBER_TEXT | st.sampled_from(["null", "true", "false", '"3"', '""', "[]", "{}", "[1]"])


@st.composite
def _json_object(draw: st.DrawFn, keys: list[str], values: st.SearchStrategy[str]) -> str:
    chosen = draw(st.lists(st.sampled_from(keys), max_size=len(keys) + 1))  # duplicates: last wins
    return "{" + ",".join(f'"{key}":{draw(values)}' for key in chosen) + "}"


_USAGE_KEYS = [
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "prompt_cache_hit_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "cost",
]


@st.composite
def _usage_object(draw: st.DrawFn) -> str:
    members = draw(_json_object(_USAGE_KEYS, _JSON_VALUE))[1:-1]
    details = draw(_json_object(["cached_tokens", "cache_write_tokens", "caching_tokens"], _JSON_VALUE))
    cost_details = draw(_json_object(["upstream_inference_cost"], _JSON_VALUE))
    extra = [
        f'"prompt_tokens_details":{details}',
        f'"cost_details":{cost_details}',
        '"completion_tokens_details":{"reasoning_tokens":3}',
    ]
    picked = draw(st.lists(st.sampled_from(extra), max_size=3, unique=True))
    return "{" + ",".join(filter(None, [members, *picked])) + "}"


_PART = st.sampled_from(
    [
        '{"type":"text","text":"a"}',
        '{"type":"text","text":"<think>"}',
        '{"type":"text","text":"</think>é"}',
        '{"type":"text","text":""}',
        '{"type":"text","text":7}',
        '{"type":"t\\u0065xt","text":"esc"}',
        '{"type":"image_url","image_url":{"url":"u"}}',
        '{"type":"thinking","thinking":[{"type":"text","text":"r"},{"type":"reference","reference_ids":[1]}]}',
        '{"type":"thinking","thinking":[{"type":"text","text":"\\ud800 🙂"},{"text":"untyped"},"x"]}',
        '{"type":"thinking","thinking":"flat"}',
        '{"type":"thinking"}',
        '{"text":"no type"}',
        "null",
        '"text"',
        "[]",
    ]
)


@st.composite
def openai_shapes_stream(draw: st.DrawFn) -> list[bytes]:
    events: list[str] = []
    for _ in range(draw(st.integers(1, 5))):
        parts = draw(st.lists(_PART, max_size=5))
        content = draw(st.sampled_from(["[" + ",".join(parts) + "]", '"s"', '""', "null"]))
        event = f'{{"choices":[{{"index":0,"delta":{{"reasoning_content":"R","content":{content}}}}}]'
        if draw(st.booleans()):
            event += f',"usage":{draw(_usage_object())}'
        events.append(f"data: {event}}}\n\n")
    if draw(st.booleans()):
        events.append("data: [DONE]\n\n")
    data = "".join(events).encode()
    return split_at(data, _cuts(draw, len(data)))


@given(chunks=openai_shapes_stream(), coalesce=st.booleans(), think_tags=st.booleans())
def test_native_and_pure_agree_on_openai_usage_cost_and_content_parts(
    chunks: list[bytes], coalesce: bool, think_tags: bool
) -> None:
    native = _native()
    fast = run_processor(native, "openai-chat", chunks, coalesce=coalesce, think_tags=think_tags)
    ref = run_processor(PURE, "openai-chat", chunks, coalesce=coalesce, think_tags=think_tags)
    assert fast.error is None and ref.error is None
    assert fast.tokens == ref.tokens
    # Costs agree to the bit (and in sign: -0 is 0.0 on both).
    costs = [(repr(a[-1]), repr(b[-1])) for a, b in zip(fast.tokens, ref.tokens) if a[0] == "Usage" and len(a) == 7]
    assert all(a == b for a, b in costs)


# ---------------------------------------------------------------------------
# gemini envelope="response": Gemini Code Assist's wrapped events
# ---------------------------------------------------------------------------


def _enveloped(data: bytes) -> bytes:
    """A ``gemini`` stream as Code Assist sends it: each ``data:`` line's JSON wrapped as
    ``{"response": <json>, "traceId": …}`` (textually, so number spellings are kept)."""
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        if line.startswith(b"data: "):
            body, cr = (line[6:-1], b"\r") if line.endswith(b"\r") else (line[6:], b"")
            lines[i] = b'data: {"response":' + body + b',"traceId":"0f3c9a7e"}' + cr
    return b"\n".join(lines)


GEMINI_INPUTS = [(name, data) for name, dialect, data in INPUTS if dialect == "gemini"]


_TEXT_KINDS = ("TextDelta", "ReasoningDelta")


@st.composite
def enveloped_input(draw: st.DrawFn) -> tuple[str, bytes, list[bytes]]:
    name, plain = draw(st.sampled_from(GEMINI_INPUTS))
    wrapped = _enveloped(plain)
    return name, plain, split_at(wrapped, _cuts(draw, len(wrapped)))


@st.composite
def damaged_enveloped_input(draw: st.DrawFn) -> list[bytes]:
    _, plain = draw(st.sampled_from(GEMINI_INPUTS))
    damaged = _mutate(draw, _enveloped(plain))
    return split_at(damaged, _cuts(draw, len(damaged)))


@pytest.mark.skipif(not GEMINI_INPUTS, reason="no gemini inputs")
@given(case=enveloped_input(), coalesce=st.booleans())
def test_native_and_pure_agree_on_code_assist_envelopes(case: tuple[str, bytes, list[bytes]], coalesce: bool) -> None:
    native = _native()
    name, plain, chunks = case
    fast, _ = _assert_same(native, "gemini", chunks, coalesce=coalesce, envelope="response")
    # Unwrapped, the stream decodes as the plain one (a framing error's offset would
    # count the envelope's bytes: those streams are compared by parity only).
    expected = run_processor(native, "gemini", [plain], coalesce=coalesce)
    if expected.error is not None and hasattr(expected.error, "offset"):
        return
    assert fast.error_key == expected.error_key, name
    for kind in _TEXT_KINDS:
        assert fast.text(kind) == expected.text(kind), name
    others = [t for t in fast.tokens if t[0] not in _TEXT_KINDS]
    assert others == [t for t in expected.tokens if t[0] not in _TEXT_KINDS], name
    if not coalesce:
        assert fast.tokens == expected.tokens, name


@pytest.mark.skipif(not GEMINI_INPUTS, reason="no gemini inputs")
@given(chunks=damaged_enveloped_input())
def test_native_and_pure_agree_on_damaged_code_assist_envelopes(chunks: list[bytes]) -> None:
    _assert_same(_native(), "gemini", chunks, envelope="response")
