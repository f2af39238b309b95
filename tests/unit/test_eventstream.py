"""AWS event-stream decoding (native and pure, via the active backend): round trips
through the testing encoder, botocore's parser as an oracle, split points, corruption."""

from __future__ import annotations

import datetime as dt
import struct
import uuid
from typing import Any
from zlib import crc32

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.conftest import parity_only_in_native_run

from tokenwire._backend import impl
from tokenwire.errors import StreamDecodeError
from tokenwire.testing.eventstream import Typed, encode_message

Decoder: Any = impl.EventStreamDecoder
# botocore is a dev-only dependency: the oracle.
botocore_eventstream: Any = pytest.importorskip("botocore.eventstream")


def decode(*parts: bytes, max_bytes: int = 1 << 20) -> list[tuple[dict[str, Any], bytes]]:
    d = Decoder(max_bytes)
    out: list[tuple[dict[str, Any], bytes]] = []
    for part in parts:
        out += d.feed(part)
    d.finish()
    return out


def botocore_decode(data: bytes) -> list[tuple[dict[str, Any], bytes]]:
    buf = botocore_eventstream.EventStreamBuffer()
    buf.add_data(data)
    return [(dict(m.headers), m.payload) for m in buf]


ALL_TYPES = {
    ":message-type": "event",
    "t": True,
    "f": False,
    "b": Typed(2, -7),
    "s": Typed(3, -300),
    "i": 70000,
    "l": 2**40,
    "y": b"\x00\xff",
    "ts": dt.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=dt.timezone.utc),
    "u": uuid.UUID(int=0x0123456789ABCDEF0123456789ABCDEF),
}


def test_round_trip_every_header_type() -> None:
    frame = encode_message(ALL_TYPES, b'{"a":1}')
    [(headers, payload)] = decode(frame)
    assert payload == b'{"a":1}'
    assert headers == {
        ":message-type": "event",
        "t": True,
        "f": False,
        "b": -7,
        "s": -300,
        "i": 70000,
        "l": 2**40,
        "y": b"\x00\xff",
        "ts": 1704164645678,
        "u": bytes.fromhex("0123456789abcdef0123456789abcdef"),
    }
    assert decode(frame) == botocore_decode(frame)


def test_aws_minimal_vector() -> None:
    frame = bytes.fromhex("000000100000000005c248eb7d98c8ff")
    assert encode_message({}) == frame
    assert decode(frame) == [({}, b"")]


_names = st.text(min_size=1, max_size=12).filter(lambda n: len(n.encode()) < 256)
_values = st.one_of(
    st.booleans(),
    st.builds(Typed, st.just(2), st.integers(-128, 127)),
    st.builds(Typed, st.just(3), st.integers(-(2**15), 2**15 - 1)),
    st.builds(Typed, st.just(4), st.integers(-(2**31), 2**31 - 1)),
    st.builds(Typed, st.just(5), st.integers(-(2**63), 2**63 - 1)),
    st.binary(max_size=40),
    st.text(max_size=40),
    st.builds(Typed, st.just(8), st.integers(-(2**63), 2**63 - 1)),
    st.builds(uuid.UUID, st.uuids().map(str)),
)
_messages = st.lists(
    st.tuples(st.dictionaries(_names, _values, max_size=6), st.binary(max_size=200)), min_size=1, max_size=4
)


@given(messages=_messages, cut=st.integers(0, 10_000))
def test_botocore_is_the_oracle(messages: list[tuple[dict[str, Any], bytes]], cut: int) -> None:
    stream = b"".join(encode_message(h, p) for h, p in messages)
    expected = botocore_decode(stream)
    assert decode(stream) == expected
    cut %= len(stream) + 1
    assert decode(stream[:cut], stream[cut:]) == expected


def _stream() -> bytes:
    return b"".join(
        [
            encode_message(ALL_TYPES, b"first"),
            encode_message({}),
            encode_message({":event-type": "chunk"}, "héllo".encode()),
        ]
    )


def test_every_split_point_and_byte_by_byte() -> None:
    stream = _stream()
    whole = decode(stream)
    assert len(whole) == 3
    for split in range(len(stream) + 1):
        assert decode(stream[:split], stream[split:]) == whole, split
    assert decode(*(stream[i : i + 1] for i in range(len(stream)))) == whole


def _first_error(stream: bytes, split: int, max_bytes: int = 1 << 20) -> StreamDecodeError:
    d = Decoder(max_bytes)
    with pytest.raises(StreamDecodeError) as info:
        d.feed(stream[:split])
        d.feed(stream[split:])
        d.finish()
    return info.value


@pytest.mark.parametrize(
    ("flip_from_second", "message", "where"),
    [
        (9, "event-stream prelude CRC mismatch", "prelude"),
        (1, "event-stream prelude CRC mismatch", "prelude"),
        (20, "event-stream message CRC mismatch", "crc"),
        (-1, "event-stream message CRC mismatch", "crc"),
    ],
)
def test_corruption_offset_is_chunking_independent(flip_from_second: int, message: str, where: str) -> None:
    first = encode_message({}, b"ok")
    second = encode_message({"n": "v"}, b"payload")
    stream = bytearray(first + second)
    at = len(first)
    flip = at + flip_from_second if flip_from_second >= 0 else len(stream) - 1
    stream[flip] ^= 0x40
    offset = at + 8 if where == "prelude" else len(stream) - 4
    for split in range(len(stream) + 1):
        err = _first_error(bytes(stream), split)
        assert (err.message, err.offset) == (message, offset), split


def test_truncation_and_limits() -> None:
    stream = _stream()
    for cut in range(1, len(stream)):
        d = Decoder()
        d.feed(stream[:cut])
        if d.pending:
            with pytest.raises(StreamDecodeError) as info:
                d.finish()
            assert (info.value.message, info.value.offset) == ("stream ended inside an event", cut)
    frame = encode_message({}, b"x" * 100)
    err = _first_error(frame, 12, max_bytes=50)
    assert (err.message, err.offset) == ("event-stream message of 116 bytes exceeds max_event_bytes (50)", 0)


def _with_prelude(total: int, headers_len: int, rest: bytes) -> bytes:
    prelude = struct.pack(">II", total, headers_len)
    body = prelude + struct.pack(">I", crc32(prelude)) + rest
    return body


@pytest.mark.parametrize(
    ("frame", "offset"),
    [
        (_with_prelude(15, 0, b"\0" * 4), 0),
        (_with_prelude(20, 5, b"\0" * 8), 4),
    ],
)
def test_impossible_lengths(frame: bytes, offset: int) -> None:
    with pytest.raises(StreamDecodeError) as info:
        decode(frame)
    assert info.value.offset == offset


@pytest.mark.parametrize("block", [b"\x01a\x0a", b"\x01a\x07\x00\x05ab", b"\x01a\x07\x00\x01\xff", b"\x05ab"])
def test_malformed_headers(block: bytes) -> None:
    body = _with_prelude(16 + len(block), len(block), block)
    frame = body + struct.pack(">I", crc32(body))
    with pytest.raises(StreamDecodeError) as info:
        decode(frame)
    assert (info.value.message, info.value.offset) == ("malformed event-stream header", 12)


@given(messages=_messages, data=st.data())
def test_native_and_pure_agree_on_corruption(messages: list[tuple[dict[str, Any], bytes]], data: Any) -> None:
    parity_only_in_native_run()
    from tokenwire import _native, _pure

    stream = bytearray(b"".join(encode_message(h, p) for h, p in messages))
    flip = data.draw(st.integers(0, len(stream) - 1))
    stream[flip] ^= data.draw(st.integers(1, 255))
    cut = data.draw(st.integers(0, len(stream)))

    def run(mod: Any) -> Any:
        d = mod.EventStreamDecoder(1 << 16)
        try:
            out = d.feed(bytes(stream[:cut])) + d.feed(bytes(stream[cut:]))
            d.finish()
        except StreamDecodeError as e:
            return ("error", e.message, e.offset)
        return out

    assert run(_native) == run(_pure)
