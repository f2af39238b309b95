"""``tokenwire.SSEDecoder`` and ``ServerSentEvent``: WHATWG "parsing an event stream".

These use the public API, so the native run covers the Rust decoder and the
``TOKENWIRE_PURE_PYTHON=1`` run covers the pure twin.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Optional, Union

import pytest
from tests.conftest import require_recorded

import tokenwire
from tokenwire.errors import StreamDecodeError

Ev = tuple[str, str, Optional[str], Optional[int]]
Chunk = Union[bytes, bytearray, memoryview]


def tup(ev: tokenwire.ServerSentEvent) -> Ev:
    return (ev.event, ev.data, ev.id, ev.retry)


def msg(data: str, id: Optional[str] = None, retry: Optional[int] = None, event: str = "message") -> Ev:
    return (event, data, id, retry)


def decode(chunks: Iterable[Chunk], max_event_bytes: Optional[int] = None) -> list[Ev]:
    dec = tokenwire.SSEDecoder() if max_event_bytes is None else tokenwire.SSEDecoder(max_event_bytes)
    out = [tup(ev) for chunk in chunks for ev in dec.feed(chunk)]
    assert dec.flush() == []
    return out


def splits(data: bytes) -> Iterable[list[bytes]]:
    """Every two-chunk split, byte by byte, and a few three-chunk splits."""
    for i in range(len(data) + 1):
        yield [data[:i], data[i:]]
    yield [data[i : i + 1] for i in range(len(data))]
    for i in range(0, len(data), 7):
        for j in range(i, len(data) + 1, 5):
            yield [data[:i], data[i:j], data[j:]]


def decode_all_ways(data: bytes) -> list[Ev]:
    whole = decode([data])
    for chunks in splits(data):
        assert decode(chunks) == whole, chunks
    return whole


# -- line endings -----------------------------------------------------------------


@pytest.mark.parametrize(
    "stream",
    [
        b"data: a\n\ndata: b\n\n",
        b"data: a\r\n\r\ndata: b\r\n\r\n",
        b"data: a\r\rdata: b\r\r",
        b"data: a\r\n\rdata: b\n\r\n",
    ],
    ids=["lf", "crlf", "cr", "mixed"],
)
def test_line_endings(stream: bytes) -> None:
    assert decode_all_ways(stream) == [msg("a"), msg("b")]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    # Were the split CRLF two line ends, the blank line would dispatch "a" on its own.
    assert decode([b"data: a\r", b"\ndata: b\r", b"\n\r", b"\n"]) == [msg("a\nb")]
    # An empty chunk in between does not forget the CR.
    assert decode([b"data: a\r", b"", b"\n", b"data: b\n\n"]) == [msg("a\nb")]
    # CR then CR in the next chunk: two line ends.
    assert decode([b"data: a\r", b"\r"]) == [msg("a")]
    # Only one LF is skipped: CR | LF LF is a line end and a blank line.
    assert decode([b"data: a\r", b"\n\n"]) == [msg("a")]


# -- BOM --------------------------------------------------------------------------


def test_bom_whole_and_split() -> None:
    stream = b"\xef\xbb\xbfevent: e\ndata: a\n\n"
    assert decode_all_ways(stream) == [msg("a", event="e")]
    assert decode([b"\xef", b"\xbb", b"\xbf", b"data: a\n\n"]) == [msg("a")]


def test_only_one_bom_and_only_at_stream_start() -> None:
    # The second BOM is part of the first line's field name, which is then unknown.
    assert decode_all_ways(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n") == [msg("b")]
    assert decode_all_ways(b"data: \xef\xbb\xbfa\n\n") == [msg("\ufeffa")]
    assert decode_all_ways(b"\n\xef\xbb\xbfdata: a\n\ndata: b\n\n") == [msg("b")]


def test_a_bom_prefix_that_is_not_a_bom_is_content() -> None:
    assert decode_all_ways(b"\xef\xbbdata: a\n\ndata: b\n\n") == [msg("b")]
    dec = tokenwire.SSEDecoder()
    assert dec.feed(b"\xef\xbb") == []
    assert dec.feed(b"data: a\n\n") == []  # the line was "\ufffddata: a": unknown field
    assert dec.bytes_fed == 11


# -- fields -------------------------------------------------------------------------


def test_comments_are_ignored() -> None:
    stream = b": OPENROUTER PROCESSING\n\n:\ndata: a\n: in the middle\ndata: b\n\n"
    assert decode_all_ways(stream) == [msg("a\nb")]


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (b"data: one\n\n", [msg("one")]),
        (b"data:none\n\n", [msg("none")]),
        (b"data:  two\n\n", [msg(" two")]),  # only one space is removed
        (b"data:\tt\n\n", [msg("\tt")]),  # and not a tab
        (b"data: a: b:c\n\n", [msg("a: b:c")]),
        (b"data\n\n", [msg("")]),  # no colon: the whole line is the name
        (b"data\ndata\n\n", [msg("\n")]),
        (b"Data: x\nfoo: bar\ndata : y\ndata: z\n\n", [msg("z")]),  # unknown fields are ignored
    ],
)
def test_field_parsing(stream: bytes, expected: list[Ev]) -> None:
    assert decode([stream]) == expected


def test_multi_line_data_joined_with_lf() -> None:
    assert decode_all_ways(b'data: {"a":\ndata: 1}\ndata:\n\n') == [msg('{"a":\n1}\n')]


def test_event_type() -> None:
    stream = b"event: ping\ndata: {}\n\ndata: x\n\nevent:\ndata: y\n\nevent: a\nevent: b\ndata: z\n\n"
    assert decode_all_ways(stream) == [msg("{}", event="ping"), msg("x"), msg("y"), msg("z", event="b")]


def test_empty_data_buffer_dispatches_nothing() -> None:
    # A block without data lines dispatches nothing, and its event type does not leak.
    assert decode([b"event: x\n\n"]) == []
    assert decode([b"event: x\n\ndata: d\n\n"]) == [msg("d")]
    assert decode([b": c\n\nid: 1\n\nretry: 5\n\n\n\n"]) == []


def test_an_empty_data_field_does_dispatch() -> None:
    assert decode([b"event: x\ndata:\n\n"]) == [msg("", event="x")]
    assert decode([b"data: \n\n"]) == [msg("")]


def test_id_rules() -> None:
    stream = b"data: a\n\nid: 7\ndata: b\n\ndata: c\n\nid: 8\x00x\ndata: d\n\nid\ndata: e\n\nid: \xff\ndata: f\n\n"
    assert decode_all_ways(stream) == [
        msg("a"),
        msg("b", id="7"),
        msg("c", id="7"),  # the last event ID persists
        msg("d", id="7"),  # an id with NUL is ignored
        msg("e", id=""),  # an empty id resets it to ""
        msg("f", id="\ufffd"),
    ]


def test_id_without_data_takes_effect() -> None:
    dec = tokenwire.SSEDecoder()
    assert dec.last_event_id is None
    assert dec.feed(b"id: 42\n\n") == []
    assert dec.last_event_id == "42"
    assert [tup(e) for e in dec.feed(b"data: x\n\n")] == [msg("x", id="42")]


def test_retry_is_reported_on_its_own_event_and_remembered() -> None:
    dec = tokenwire.SSEDecoder()
    assert dec.retry is None
    events = [tup(e) for e in dec.feed(b"retry: 3000\ndata: a\n\ndata: b\n\n")]
    assert events == [msg("a", retry=3000), msg("b")]
    assert dec.retry == 3000
    assert dec.feed(b"retry: 10\n\n") == []
    assert dec.retry == 10
    assert [tup(e) for e in dec.feed(b"retry: 1\nretry: x\nretry: 2\ndata: d\n\n")] == [msg("d", retry=2)]


@pytest.mark.parametrize(
    "value",
    [b"12a", b"-1", b"+1", b"1.5", b"", b" 5", b"5 ", b"\xef\xbc\x95", b"18446744073709551616", b"1e3"],
)
def test_invalid_retry_is_ignored(value: bytes) -> None:
    dec = tokenwire.SSEDecoder()
    dec.feed(b"retry: 77\n\n")
    events = dec.feed(b"retry: " + value + b"\ndata: x\n\n")
    assert [tup(e) for e in events] == [msg("x")]
    assert dec.retry == 77


@pytest.mark.parametrize("value", [0, 5, 18446744073709551615])
def test_valid_retry_bounds(value: int) -> None:
    dec = tokenwire.SSEDecoder()
    assert [tup(e) for e in dec.feed(b"retry:%d\ndata\n\n" % value)] == [msg("", retry=value)]
    assert dec.retry == value


def test_retry_field_without_colon_is_empty_and_ignored() -> None:
    dec = tokenwire.SSEDecoder()
    dec.feed(b"retry\ndata: x\n\n")
    assert dec.retry is None


# -- end of stream --------------------------------------------------------------------


def test_unterminated_final_event_is_not_dispatched() -> None:
    dec = tokenwire.SSEDecoder()
    assert [tup(e) for e in dec.feed(b"data: a\n\ndata: b\n")] == [msg("a")]
    # flush() ends the stream: the unterminated "b" is discarded, never returned.
    assert dec.flush() == []
    assert [tup(e) for e in dec.feed(b"data: c\n\n")] == [msg("c")]
    # A partial line is discarded the same way.
    dec.feed(b"data: partial")
    assert dec.flush() == []
    assert [tup(e) for e in dec.feed(b"\n\ndata: d\n\n")] == [msg("d")]


def test_flush_starts_a_new_stream_keeping_id_and_retry() -> None:
    dec = tokenwire.SSEDecoder()
    dec.feed(b"\xef\xbb\xbfid: 5\nretry: 9\ndata: a\n\ndata: b\r")
    assert dec.bytes_fed == 35
    dec.flush()
    assert dec.bytes_fed == 0
    assert dec.last_event_id == "5"
    assert dec.retry == 9
    # The pending CR is forgotten (this LF is a blank line) and a new BOM is stripped.
    assert dec.feed(b"\n") == []
    dec.flush()
    assert [tup(e) for e in dec.feed(b"\xef\xbb\xbfdata: c\n\n")] == [msg("c", id="5")]


# -- UTF-8 --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"a\xffb", "a\ufffdb"),
        (b"\xf0\x9f\x98", "\ufffd"),  # a truncated 4-byte sequence: one replacement
        (b"\xed\xa0\x80", "\ufffd\ufffd\ufffd"),  # an encoded surrogate
        (b"\xc0\xaf", "\ufffd\ufffd"),  # an overlong encoding
        (b"\x80\x80", "\ufffd\ufffd"),
    ],
)
def test_invalid_utf8_is_replaced(raw: bytes, text: str) -> None:
    assert decode_all_ways(b"data: " + raw + b"\n\n") == [msg(text)]
    assert bytes(raw).decode("utf-8", "replace") == text


def test_truncated_sequence_does_not_swallow_the_line_end() -> None:
    assert decode_all_ways(b"data: \xe2\x82\ndata: x\r\n\r\n") == [msg("\ufffd\nx")]


def test_code_points_split_across_chunks_decode_correctly() -> None:
    text = "h\u00e9llo \u20ac \U0001f600 \u4e2d\u6587"
    assert decode_all_ways(f"event: \u00e9\ndata: {text}\n\n".encode()) == [msg(text, event="\u00e9")]


# -- max_event_bytes ----------------------------------------------------------------


def test_default_limit() -> None:
    assert tokenwire.DEFAULT_MAX_EVENT_BYTES == 16 * 1024 * 1024


@pytest.mark.parametrize("bad", [0, -1])
def test_limit_must_be_positive(bad: int) -> None:
    with pytest.raises(ValueError, match="max_event_bytes must be a positive integer"):
        tokenwire.SSEDecoder(bad)


def test_limit_must_be_an_int() -> None:
    with pytest.raises(TypeError):
        tokenwire.SSEDecoder(1.5)  # type: ignore[arg-type]


def test_limit_exact_boundary() -> None:
    stream = b"data: 0123\n\n"  # a 10-byte line
    assert decode([stream], max_event_bytes=10) == [msg("0123")]
    for chunks in splits(stream):
        dec = tokenwire.SSEDecoder(9)
        with pytest.raises(StreamDecodeError) as info:
            for chunk in chunks:
                dec.feed(chunk)
        # The 10th byte of the line, at offset 9, is the first one past the limit.
        assert info.value.offset == 9
        assert info.value.message == "SSE event exceeds max_event_bytes (9)"


def test_limit_counts_data_across_lines() -> None:
    # Each complete "data: xx" line accounts 3 bytes (value + LF); the line being read
    # counts in full. Third line: starts at 18, room 11 - 6 = 5, so byte 23 crosses.
    stream = b"data: xx\ndata: yy\ndata: zz\n\n"
    for chunks in splits(stream):
        dec = tokenwire.SSEDecoder(11)
        with pytest.raises(StreamDecodeError) as info:
            for chunk in chunks:
                dec.feed(chunk)
        assert info.value.offset == 23
    # One such line per event never accumulates.
    assert len(decode([b"data: xx\n\n" * 50], max_event_bytes=8)) == 50


def test_limit_counts_every_line_while_read_and_the_bom_only_in_offsets() -> None:
    assert decode([b": 345678\nevent: 8\ndata: xx\n\n"], max_event_bytes=8) == [msg("xx", event="8")]
    with pytest.raises(StreamDecodeError) as info:
        tokenwire.SSEDecoder(8).feed(b": 3456789\n")
    assert info.value.offset == 8
    dec = tokenwire.SSEDecoder(4)
    dec.feed(b"\xef\xbb")
    with pytest.raises(StreamDecodeError) as info:
        dec.feed(b"\xbfdata\n\ndata:\n\n")
    assert info.value.offset == 3 + 6 + 4


def test_oversized_event_fails_the_decoder_until_flush() -> None:
    dec = tokenwire.SSEDecoder(16)
    assert [tup(e) for e in dec.feed(b"data: a\n\n")] == [msg("a")]
    with pytest.raises(StreamDecodeError) as info:
        # "b" completes in this chunk before the oversized event: it is lost with the
        # chunk (documented), as is everything after the overflow.
        dec.feed(b"data: b\n\ndata: 0123456789abcdef\n\ndata: c\n\n")
    assert info.value.offset == 9 + 9 + 16
    assert isinstance(info.value, tokenwire.errors.TokenwireError)
    # Sticky: the next feed raises the same error.
    with pytest.raises(StreamDecodeError) as again:
        dec.feed(b"data: d\n\n")
    assert (again.value.message, again.value.offset) == (info.value.message, info.value.offset)
    assert dec.flush() == []
    assert [tup(e) for e in dec.feed(b"data: e\n\n")] == [msg("e")]


def test_feed_into_keeps_the_events_completed_before_an_overflow() -> None:
    dec = tokenwire.SSEDecoder(16)
    events: list[tokenwire.ServerSentEvent] = []
    dec.feed_into(b"data: a\n\n", events)
    with pytest.raises(StreamDecodeError) as info:
        dec.feed_into(b"data: b\n\ndata: 0123456789abcdef\n\ndata: c\n\n", events)
    # Same error and offset as feed(), but "b" is kept; nothing after the overflow is.
    assert info.value.offset == 9 + 9 + 16
    assert [tup(e) for e in events] == [msg("a"), msg("b")]
    with pytest.raises(StreamDecodeError):
        dec.feed_into(b"data: d\n\n", events)
    assert len(events) == 2
    dec.flush()
    dec.feed_into(memoryview(b"data: e\n\n"), events)
    assert [tup(e) for e in events][2:] == [msg("e")]


def test_feed_into_appends_like_feed_returns() -> None:
    data = b"event: x\r\ndata: 1\r\n\r\nid: 7\ndata: 2\n\ndata: partial"
    for cut in range(len(data) + 1):
        a, b = tokenwire.SSEDecoder(), tokenwire.SSEDecoder()
        events: list[tokenwire.ServerSentEvent] = [tokenwire.ServerSentEvent(data="kept")]
        returned = a.feed(data[:cut]) + a.feed(data[cut:])
        b.feed_into(data[:cut], events)
        b.feed_into(data[cut:], events)
        assert events[1:] == returned and events[0].data == "kept"
        assert (a.bytes_fed, a.has_partial_event) == (b.bytes_fed, b.has_partial_event) == (len(data), True)


def test_feed_into_checks_its_arguments() -> None:
    dec = tokenwire.SSEDecoder()
    with pytest.raises(TypeError, match="expects a list"):
        dec.feed_into(b"data: a\n\n", ())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects bytes, not str"):
        dec.feed_into("data: a\n\n", [])  # type: ignore[arg-type]
    # Neither failure consumed input.
    assert dec.bytes_fed == 0


@pytest.mark.parametrize(
    ("chunks", "partial"),
    [
        # Inside an event: a partial line (even a partial BOM), data not yet dispatched.
        ([b"data: {}\n\ndata: {"], True),
        ([b"event: x"], True),
        ([b"\xef\xbb"], True),
        ([b"\xef", b"\xbb"], True),
        ([b"data: a\n"], True),
        ([b"data: a\r"], True),
        ([b"data:\n"], True),
        ([b"data: a\n", b"event: b\n"], True),
        # Between events: fields that dispatch nothing, a pending CR, comments, a whole BOM.
        ([b""], False),
        ([b"event: message\n"], False),
        ([b"event: x\nid: 7\nretry: 5\n"], False),
        ([b"data: a\n\r"], False),
        ([b"data: a\n", b"\n"], False),
        ([b": comment\n"], False),
        ([b"\xef\xbb\xbf"], False),
    ],
)
def test_has_partial_event(chunks: list[bytes], partial: bool) -> None:
    dec = tokenwire.SSEDecoder()
    assert dec.has_partial_event is False
    for chunk in chunks:
        dec.feed(chunk)
    assert dec.has_partial_event is partial
    dec.flush()
    assert dec.has_partial_event is False


# -- API surface --------------------------------------------------------------------


def test_feed_accepts_buffers_and_rejects_str() -> None:
    dec = tokenwire.SSEDecoder()
    assert dec.feed(bytearray(b"data: a\n")) == []
    assert [tup(e) for e in dec.feed(memoryview(b"\ndata: b\n\n"))] == [msg("a"), msg("b")]
    with pytest.raises(TypeError, match="expects bytes, not str"):
        dec.feed("data: x\n\n")  # type: ignore[arg-type]


def test_bytes_fed_counts_every_byte() -> None:
    dec = tokenwire.SSEDecoder()
    for chunk in [b"\xef\xbb", b"\xbfdata: a\r", b"", b"\n\r\n"]:
        dec.feed(chunk)
    assert dec.bytes_fed == 14


def test_server_sent_event_value_semantics() -> None:
    ev = tokenwire.ServerSentEvent()
    assert tup(ev) == ("message", "", None, None)
    ev = tokenwire.ServerSentEvent("delta", '{"a": [1, "\\u00e9"]}', "7", 1500)
    assert tup(ev) == ("delta", '{"a": [1, "\\u00e9"]}', "7", 1500)
    assert ev.json() == {"a": [1, "\u00e9"]}
    same = tokenwire.ServerSentEvent(event="delta", data='{"a": [1, "\\u00e9"]}', id="7", retry=1500)
    assert ev == same
    assert hash(ev) == hash(same)
    assert ev != tokenwire.ServerSentEvent(event="delta", data='{"a": [1, "\\u00e9"]}', id="7")
    assert ev != ("delta", '{"a": [1, "\\u00e9"]}', "7", 1500)
    assert pickle.loads(pickle.dumps(ev)) == ev
    with pytest.raises(AttributeError):
        ev.data = "x"  # type: ignore[misc]
    with pytest.raises(json.JSONDecodeError):
        tokenwire.ServerSentEvent(data="[DONE]").json()


def test_server_sent_event_repr() -> None:
    ev = tokenwire.ServerSentEvent("e", 'it\'s\n"q"', None, 3)
    assert repr(ev) == r"""ServerSentEvent(event='e', data='it\'s\n"q"', id=None, retry=3)"""
    # Python's own str repr: control and non-printable characters are escaped.
    assert repr(tokenwire.ServerSentEvent(id="\x00\u2028\u00e9")) == (
        r"ServerSentEvent(event='message', data='', id='\x00\u2028é', retry=None)"
    )


def test_server_sent_event_rejects_bad_arguments() -> None:
    with pytest.raises(TypeError):
        tokenwire.ServerSentEvent(data=b"x")  # type: ignore[arg-type]
    with pytest.raises(OverflowError):
        tokenwire.ServerSentEvent(retry=-1)


# -- realistic streams ----------------------------------------------------------------


OPENAI = (
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
    b'data: {"id":"c1","choices":[{"index":0,"delta":{"content":"Hi \xc3\xa9\xe2\x82\xac"}}]}\n\n'
    b": keep-alive\n\n"
    b"data: [DONE]\n\n"
)
ANTHROPIC = (
    b'event: message_start\ndata: {"type":"message_start"}\n\n'
    b'event: ping\ndata: {"type": "ping"}\n\n'
    b'event: content_block_delta\r\ndata: {"type":"content_block_delta","delta":{"text":"\xf0\x9f\x98\x80"}}\r\n\r\n'
    b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error"}}\n\n'
)
GEMINI = b'\xef\xbb\xbfdata: {"candidates":[]}\r\n\r\nid: 3\r\nretry: 100\r\ndata: {"usageMetadata":{}}\r\n\r\n'


@pytest.mark.parametrize("stream", [OPENAI, ANTHROPIC, GEMINI], ids=["openai", "anthropic", "gemini"])
def test_every_split_point_gives_the_one_shot_events(stream: bytes) -> None:
    events = decode_all_ways(stream)
    assert len(events) >= 2
    assert all(ev[1] == "[DONE]" or isinstance(json.loads(ev[1]), dict) for ev in events)


def _frame(path: Path) -> tuple[bytes, list[tuple[str, str]]]:
    """Frame a recorded ``*.chunks.txt`` as its provider does (see SOURCES.md) and return
    the wire bytes with the (event, data) pairs they must decode to."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    provider = path.parent.name
    if provider == "anthropic":
        pairs = [(json.loads(line)["type"], line) for line in lines]
        return b"".join(f"event: {e}\ndata: {d}\n\n".encode() for e, d in pairs), pairs
    if provider in {"google", "google-vertex"}:
        return b"".join(f"data: {d}\r\n\r\n".encode() for d in lines), [("message", d) for d in lines]
    pairs = [("message", d) for d in [*lines, "[DONE]"]]
    return b"".join(f"data: {d}\n\n".encode() for _, d in pairs), pairs


def _strided_chunkings(data: bytes) -> Iterable[Sequence[bytes]]:
    step = max(1, len(data) // 64)
    for i in range(0, len(data) + 1, step):
        yield [data[:i], data[i:]]
    for size in (1, 3, 64, 1000):
        if len(data) <= 20_000 or size > 1:
            yield [data[i : i + size] for i in range(0, len(data), size)]


def test_recorded_streams_decode_to_their_payloads() -> None:
    root = require_recorded() / "vercel-ai"
    files = [
        *sorted((root / "anthropic").glob("*.chunks.txt"))[:6],
        *sorted((root / "openai").glob("openai-text*.chunks.txt"))[:3],
        *sorted((root / "google").glob("*.chunks.txt"))[:4],
        *sorted((root / "groq").glob("*.chunks.txt"))[:2],
    ]
    assert files, f"no recorded streams under {root}"
    for path in files:
        wire, expected = _frame(path)
        for chunks in _strided_chunkings(wire):
            assert [(e, d) for e, d, _, _ in decode(chunks)] == expected, path.name


def test_recorded_raw_sse_file() -> None:
    path = require_recorded() / "vercel-ai" / "openai-compatible" / "anthropic-fallback-tool-call.sse"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    wire = path.read_bytes()
    events = decode([wire])
    assert events, "the recording holds events"
    payloads = [json.loads(d) for _, d, _, _ in events if d != "[DONE]"]
    assert all(isinstance(p, dict) for p in payloads)
    for chunks in _strided_chunkings(wire):
        assert decode(chunks) == events
