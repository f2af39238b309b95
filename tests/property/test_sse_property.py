"""Property tests of the SSE decoder.

- Against a whole-input reference parser written here, straight from the WHATWG text
  (decode the whole stream, split it into lines, process them in order): the public
  decoder — native in one run, pure in the other — must agree for every chunking.
- Native against the pure twin: equal events, state and errors for every chunking.
- ``max_event_bytes``: whether and where a stream fails does not depend on chunking,
  and matches a reference computation of the documented accounting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from types import ModuleType
from typing import Any, Optional

from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import PURE, parity_only_in_native_run, require_native

import tokenwire
from tokenwire.errors import StreamDecodeError

Ev = tuple[str, str, Optional[str], Optional[int]]

# -- the reference -------------------------------------------------------------------

_LINE_END = re.compile(r"\r\n|\r|\n")
_RAW_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"


def reference_events(stream: bytes) -> list[Ev]:
    """The spec's algorithm over the whole input at once (no chunking, no buffering)."""
    if stream.startswith(_BOM):
        stream = stream[3:]
    text = stream.decode("utf-8", "replace")
    lines = _LINE_END.split(text)
    # The last piece has no line end: an unterminated line is never processed.
    lines.pop()
    events: list[Ev] = []
    data = ""
    event_type = ""
    last_id: Optional[str] = None
    block_retry: Optional[int] = None
    for line in lines:
        if line == "":
            if data:
                events.append((event_type or "message", data[:-1], last_id, block_retry))
            data = ""
            event_type = ""
            block_retry = None
            continue
        if line.startswith(":"):
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            data += value + "\n"
        elif name == "event":
            event_type = value
        elif name == "id":
            if "\x00" not in value:
                last_id = value
        # tokenwire's documented bound: a retry must fit an unsigned 64-bit integer.
        elif name == "retry" and value and all(c in "0123456789" for c in value) and int(value) < 2**64:
            block_retry = int(value)
    return events


def reference_limit_offset(stream: bytes, max_event_bytes: int) -> Optional[int]:
    """Where the documented ``max_event_bytes`` accounting fails ``stream``, if it does:
    raw data value bytes (+1 each) of the current event plus the raw line being read."""
    start = 3 if stream.startswith(_BOM) else 0
    data_bytes = 0
    while True:
        m = _RAW_LINE_END.search(stream, start)
        end = m.start() if m else len(stream)
        line = stream[start:end]
        room = max_event_bytes - data_bytes
        if len(line) > room:
            return start + room
        if m is None:
            return None
        if not line:
            data_bytes = 0
        else:
            name, colon, value = line.partition(b":")
            if name == b"data":
                data_bytes += len(value[1:] if colon and value.startswith(b" ") else value) + 1
        start = m.end()


# -- generators ------------------------------------------------------------------------

_text_values = st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), max_size=12).map(
    str.encode
)
_bad_bytes = st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf0\x9f", b"\x80", b"\xef\xbb\xbf"])
_values = st.one_of(
    _text_values,
    st.one_of(st.integers(0, 10**6), st.integers(2**64 - 3, 2**65)).map(lambda n: str(n).encode()),
    st.sampled_from([b"", b" ", b"x\x00y", b"12a", b"-1", b"[DONE]", b'{"a": 1}', b": colon"]),
    st.lists(st.one_of(_text_values, _bad_bytes), max_size=4).map(b"".join),
)
_names = st.sampled_from([b"data", b"data", b"data", b"event", b"id", b"retry", b"Data", b"foo", b"", b"dat"])


@st.composite
def _lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["field", "field", "field", "blank", "blank", "comment", "bare"]))
    if kind == "blank":
        return b""
    if kind == "comment":
        return b":" + draw(_values)
    if kind == "bare":
        return draw(_names)
    return draw(_names) + draw(st.sampled_from([b":", b": ", b":  "])) + draw(_values)


@st.composite
def streams(draw: st.DrawFn) -> bytes:
    """An event stream with random fields, line endings, comments, unicode, BOM, junk."""
    parts = [_BOM] if draw(st.booleans()) else []
    for line in draw(st.lists(_lines(), max_size=24)):
        parts += [line, draw(st.sampled_from([b"\n", b"\n", b"\r\n", b"\r"]))]
    if draw(st.booleans()):
        parts.append(draw(_lines()))  # an unterminated tail
    return b"".join(parts)


_raw_streams = st.binary(max_size=160) | st.lists(
    st.sampled_from([b"data", b":", b" ", b"\r", b"\n", b"x", b"\xef\xbb\xbf", b"\xef", b"id", b"\x00", b"\xc3\xa9"]),
    max_size=60,
).map(b"".join)


@st.composite
def chunkings(draw: st.DrawFn, stream: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(stream)), max_size=12)))
    bounds = [0, *cuts, len(stream)]
    return [stream[a:b] for a, b in zip(bounds, bounds[1:])]


_streams = streams()


@st.composite
def chunked_streams(draw: st.DrawFn, source: st.SearchStrategy[bytes] = _streams) -> tuple[bytes, list[bytes]]:
    stream = draw(source)
    return stream, draw(chunkings(stream))


# -- helpers ------------------------------------------------------------------------


def run(module: Any, chunks: Sequence[bytes], max_event_bytes: Optional[int] = None) -> tuple[Any, ...]:
    """Events, final state and any error, as plain values comparable across backends."""
    dec = module.SSEDecoder() if max_event_bytes is None else module.SSEDecoder(max_event_bytes)
    events: list[Ev] = []
    error: Optional[tuple[str, int]] = None
    try:
        for chunk in chunks:
            events += [(e.event, e.data, e.id, e.retry) for e in dec.feed(chunk)]
    except StreamDecodeError as exc:
        error = (exc.message, exc.offset)
    state = (dec.last_event_id, dec.retry, dec.bytes_fed)
    assert dec.flush() == []
    return events, state, error


# -- properties ------------------------------------------------------------------------


@given(chunked_streams())
def test_matches_the_reference_for_any_chunking(case: tuple[bytes, list[bytes]]) -> None:
    stream, chunks = case
    events, _, error = run(tokenwire, chunks)
    assert error is None
    assert events == reference_events(stream)


@given(chunked_streams(_raw_streams))
def test_arbitrary_bytes_match_the_reference(case: tuple[bytes, list[bytes]]) -> None:
    stream, chunks = case
    events, (_, _, fed), error = run(tokenwire, chunks)
    assert error is None
    assert fed == len(stream)
    assert events == reference_events(stream)


@given(chunked_streams(), st.integers(1, 40))
def test_event_limit_is_independent_of_chunking(case: tuple[bytes, list[bytes]], limit: int) -> None:
    stream, chunks = case
    events, _, error = run(tokenwire, chunks, max_event_bytes=limit)
    offset = reference_limit_offset(stream, limit)
    if offset is None:
        assert error is None
        assert events == reference_events(stream)
    else:
        assert error == (f"SSE event exceeds max_event_bytes ({limit})", offset)
        # What was returned is a prefix of the events before the failing byte.
        assert events == reference_events(stream[:offset])[: len(events)]


def _parity(native: ModuleType, chunks: list[bytes], limit: Optional[int] = None) -> None:
    assert run(native, chunks, limit) == run(PURE, chunks, limit)


@given(chunked_streams())
def test_native_and_pure_agree(case: tuple[bytes, list[bytes]]) -> None:
    parity_only_in_native_run()
    _parity(require_native(), case[1])


@given(chunked_streams(_raw_streams), st.one_of(st.none(), st.integers(1, 24)))
def test_native_and_pure_agree_on_junk_and_limits(case: tuple[bytes, list[bytes]], limit: Optional[int]) -> None:
    parity_only_in_native_run()
    _parity(require_native(), case[1], limit)


@given(
    st.text(max_size=30), st.text(max_size=30), st.none() | st.text(max_size=10), st.none() | st.integers(0, 2**64 - 1)
)
def test_event_objects_agree(event: str, data: str, id: Optional[str], retry: Optional[int]) -> None:
    parity_only_in_native_run()
    native = require_native()
    a = native.ServerSentEvent(event, data, id, retry)
    b = PURE.ServerSentEvent(event, data, id, retry)
    assert repr(a) == repr(b)
    assert hash(a) == hash(b)
    assert (a.event, a.data, a.id, a.retry) == (b.event, b.data, b.id, b.retry)


# -- feed_into and has_partial_event ----------------------------------------------------


def reference_partial_event(stream: bytes) -> bool:
    """Whether ``stream`` stops inside an event: a partial line (a proper BOM prefix
    included) or data fields that no blank line dispatched."""
    if stream and len(stream) < len(_BOM) and _BOM.startswith(stream):
        return True
    if stream.startswith(_BOM):
        stream = stream[3:]
    lines = _LINE_END.split(stream.decode("utf-8", "replace"))
    if lines.pop():
        return True
    data = False
    for line in lines:
        if line == "":
            data = False
        elif not line.startswith(":") and line.partition(":")[0] == "data":
            data = True
    return data


def run_into(module: Any, chunks: Sequence[bytes], max_event_bytes: Optional[int] = None) -> tuple[Any, ...]:
    """``feed_into`` over ``chunks``: events, ``has_partial_event`` after each chunk, error."""
    dec = module.SSEDecoder() if max_event_bytes is None else module.SSEDecoder(max_event_bytes)
    events: list[Any] = []
    partial: list[bool] = []
    error: Optional[tuple[str, int]] = None
    try:
        for chunk in chunks:
            dec.feed_into(chunk, events)
            partial.append(dec.has_partial_event)
    except StreamDecodeError as exc:
        error = (exc.message, exc.offset)
    return [(e.event, e.data, e.id, e.retry) for e in events], partial, error


@given(chunked_streams(_raw_streams) | chunked_streams())
def test_has_partial_event_matches_the_reference(case: tuple[bytes, list[bytes]]) -> None:
    stream, chunks = case
    events, partial, error = run_into(tokenwire, chunks)
    assert error is None
    assert events == reference_events(stream)
    assert partial[-1] is reference_partial_event(stream)
    # After every chunk, too: the state depends on the bytes fed, not the chunking.
    fed = 0
    for chunk, state in zip(chunks, partial):
        fed += len(chunk)
        assert state is reference_partial_event(stream[:fed]), stream[:fed]


@given(chunked_streams(), st.integers(1, 40))
def test_feed_into_keeps_every_event_before_the_limit(case: tuple[bytes, list[bytes]], limit: int) -> None:
    stream, chunks = case
    events, _, error = run_into(tokenwire, chunks, limit)
    offset = reference_limit_offset(stream, limit)
    if offset is None:
        assert error is None
        assert events == reference_events(stream)
    else:
        assert error == (f"SSE event exceeds max_event_bytes ({limit})", offset)
        # Unlike feed(), nothing completed before the failing byte is lost.
        assert events == reference_events(stream[:offset])


@given(chunked_streams(_raw_streams), st.one_of(st.none(), st.integers(1, 24)))
def test_native_and_pure_agree_on_feed_into(case: tuple[bytes, list[bytes]], limit: Optional[int]) -> None:
    parity_only_in_native_run()
    assert run_into(require_native(), case[1], limit) == run_into(PURE, case[1], limit)
