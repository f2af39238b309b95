"""Pure-Python twin of the native AWS event-stream decoder (Bedrock's binary framing).

A message is, big-endian: a 12-byte prelude (total length ``u32``, headers length
``u32``, CRC32 of those 8 bytes), the headers, the payload, and the CRC32 of everything
before it. A header is a name (``u8`` length + UTF-8), a type byte and a value: 0 true,
1 false, 2 ``i8``, 3 ``i16``, 4 ``i32``, 5 ``i64``, 6 bytes (``u16`` length), 7 UTF-8
string (``u16`` length), 8 timestamp (``i64`` milliseconds), 9 UUID (16 bytes).

Header values come out as botocore's parser gives them: ``bool``, ``int`` (the four
integer types and timestamps), ``bytes`` (byte arrays and UUIDs) or ``str``; a repeated
header name keeps its last value.

Errors are :class:`~tokenwire.errors.StreamDecodeError` with an absolute byte offset
that does not depend on the chunking: ``start + 8`` (the prelude CRC field) for a
prelude checksum mismatch, ``start + total - 4`` (the message CRC field) for a message
checksum mismatch, the message start for an impossible or oversized total length,
``start + 4`` for an impossible headers length, the first byte of a malformed header,
and the bytes fed so far for a stream that ends inside a message (``finish()``). An
error drops the messages completed earlier in the same ``feed()`` call; the decoder
must not be used after it.
"""

from __future__ import annotations

import struct
from typing import Union
from zlib import crc32

from tokenwire._pure.sse import DEFAULT_MAX_EVENT_BYTES
from tokenwire.errors import StreamDecodeError

__all__ = ["EventStreamDecoder", "HeaderValue", "Message", "parse_message"]

HeaderValue = Union[bool, int, bytes, str]
Message = tuple[dict[str, HeaderValue], bytes]

PRELUDE_LEN = 12
MIN_MESSAGE_LEN = 16
_PRELUDE = struct.Struct(">III")
_U32 = struct.Struct(">I")
# Fixed-size integer header types: type byte -> (struct, size).
_INTS: dict[int, tuple[struct.Struct, int]] = {
    2: (struct.Struct(">b"), 1),
    3: (struct.Struct(">h"), 2),
    4: (struct.Struct(">i"), 4),
    5: (struct.Struct(">q"), 8),
    8: (struct.Struct(">q"), 8),
}


def check_prelude(data: bytes, pos: int, start: int, max_message_bytes: int) -> int:
    """Validate the prelude at ``data[pos:pos+12]`` of the message at absolute offset
    ``start``; return the message's total length."""
    total, headers_len, prelude_crc = _PRELUDE.unpack_from(data, pos)
    if crc32(data[pos : pos + 8]) != prelude_crc:
        raise StreamDecodeError("event-stream prelude CRC mismatch", start + 8)
    if total < MIN_MESSAGE_LEN:
        raise StreamDecodeError(f"invalid event-stream message length {total}", start)
    if total > max_message_bytes:
        raise StreamDecodeError(
            f"event-stream message of {total} bytes exceeds max_event_bytes ({max_message_bytes})", start
        )
    if headers_len > total - MIN_MESSAGE_LEN:
        raise StreamDecodeError(f"invalid event-stream headers length {headers_len}", start + 4)
    return int(total)


def parse_message(data: bytes, start: int) -> Message:
    """Validate one whole message (prelude already checked) at absolute offset ``start``."""
    crc_at = len(data) - 4
    if crc32(memoryview(data)[:crc_at]) != _U32.unpack_from(data, crc_at)[0]:
        raise StreamDecodeError("event-stream message CRC mismatch", start + crc_at)
    end = PRELUDE_LEN + _U32.unpack_from(data, 4)[0]
    headers: dict[str, HeaderValue] = {}
    pos = PRELUDE_LEN
    while pos < end:
        header_start = pos
        try:
            name_len = data[pos]
            name_end = pos + 1 + name_len
            if name_end >= end:
                raise ValueError
            name = data[pos + 1 : name_end].decode("utf-8")
            kind = data[name_end]
            pos = name_end + 1
            value: HeaderValue
            if kind in {0, 1}:
                value = kind == 0
            elif kind in _INTS:
                fmt, size = _INTS[kind]
                if pos + size > end:
                    raise ValueError
                value = fmt.unpack_from(data, pos)[0]
                pos += size
            elif kind in {6, 7}:
                if pos + 2 > end:
                    raise ValueError
                size = (data[pos] << 8) | data[pos + 1]
                pos += 2
                if pos + size > end:
                    raise ValueError
                raw = data[pos : pos + size]
                value = raw if kind == 6 else raw.decode("utf-8")
                pos += size
            elif kind == 9:
                if pos + 16 > end:
                    raise ValueError
                value = data[pos : pos + 16]
                pos += 16
            else:
                raise ValueError
        except ValueError:  # UnicodeDecodeError included
            raise StreamDecodeError("malformed event-stream header", start + header_start) from None
        headers[name] = value
    return headers, data[end:crc_at]


class EventStreamDecoder:
    """Incremental AWS event-stream decoder (see the module docs).

    ``feed()`` returns the ``(headers, payload)`` of every message the chunk completed;
    ``finish()`` raises ``StreamDecodeError`` if a partial message is buffered.
    """

    __slots__ = ("_buf", "_fed", "_max", "_total")

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if max_message_bytes < 1:
            raise ValueError(f"max_message_bytes must be a positive integer, got {max_message_bytes}")
        self._max = max_message_bytes
        self._buf = bytearray()
        self._total = 0  # total length of the buffered message once its prelude is known
        self._fed = 0

    @property
    def pending(self) -> bool:
        """True while a partial message is buffered."""
        return bool(self._buf)

    def feed(self, chunk: bytes) -> list[Message]:
        """Decode ``chunk``; return the messages it completed."""
        out: list[Message] = []
        self.feed_into(bytes(chunk), out)
        return out

    def feed_into(self, chunk: bytes, out: list[Message]) -> None:
        """As :meth:`feed`, appending to ``out`` (messages before an error stay in it)."""
        base = self._fed
        self._fed = base + len(chunk)
        pos = 0
        buf = self._buf
        if buf:
            start = base - len(buf)
            if len(buf) < PRELUDE_LEN:
                pos = PRELUDE_LEN - len(buf)
                buf += chunk[:pos]
                if len(buf) < PRELUDE_LEN:
                    return
            if not self._total:
                self._total = check_prelude(bytes(buf[:PRELUDE_LEN]), 0, start, self._max)
            total = self._total
            need = total - len(buf)
            buf += chunk[pos : pos + need]
            pos += need
            if len(buf) < total:
                return
            data = bytes(buf)
            buf.clear()
            self._total = 0
            out.append(parse_message(data, start))
        size = len(chunk)
        while pos < size:
            start = base + pos
            if size - pos < PRELUDE_LEN:
                buf += chunk[pos:]
                return
            total = check_prelude(chunk, pos, start, self._max)
            if size - pos < total:
                buf += chunk[pos:]
                self._total = total
                return
            out.append(parse_message(chunk[pos : pos + total], start))
            pos += total

    def finish(self) -> None:
        """End of input: raise ``StreamDecodeError`` if a partial message is buffered."""
        if self._buf:
            raise StreamDecodeError("stream ended inside an event", self._fed)
