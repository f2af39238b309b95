"""An AWS event-stream ENCODER (``application/vnd.amazon.eventstream``), for loopback
servers and tests: the inverse of :class:`tokenwire.EventStreamDecoder`-style decoding,
with correct prelude and message CRC32s and typed headers.

Header values are typed by their Python type: ``bool`` → bool (types 0/1), ``int`` →
``i32`` (type 4) when it fits else ``i64`` (type 5), ``bytes`` → byte array (6),
``str`` → string (7), :class:`datetime.datetime` → timestamp in ms (8),
:class:`uuid.UUID` → UUID (9). :class:`Typed` forces a type code (e.g. ``Typed(2, -1)``
for an ``i8``).
"""

from __future__ import annotations

import datetime as _dt
import json
import struct
import uuid
from collections.abc import Mapping
from typing import Any, NamedTuple, Union
from zlib import crc32

__all__ = ["Typed", "encode_headers", "encode_message", "error_message", "event_message", "exception_message"]

_FIXED: dict[int, struct.Struct] = {
    2: struct.Struct(">b"),
    3: struct.Struct(">h"),
    4: struct.Struct(">i"),
    5: struct.Struct(">q"),
    8: struct.Struct(">q"),
}
_I32 = (-(2**31), 2**31 - 1)
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


class Typed(NamedTuple):
    """A header value with an explicit type code (0..9)."""

    kind: int
    value: Any


HeaderInput = Union[bool, int, bytes, str, _dt.datetime, uuid.UUID, Typed]


def _typed(value: HeaderInput) -> Typed:
    if isinstance(value, Typed):
        return value
    if isinstance(value, bool):
        return Typed(0 if value else 1, value)
    if isinstance(value, int):
        return Typed(4 if _I32[0] <= value <= _I32[1] else 5, value)
    if isinstance(value, bytes):
        return Typed(6, value)
    if isinstance(value, str):
        return Typed(7, value)
    if isinstance(value, _dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=_dt.timezone.utc)
        return Typed(8, (aware - _EPOCH) // _dt.timedelta(milliseconds=1))
    return Typed(9, value.bytes)


def encode_headers(headers: Mapping[str, HeaderInput]) -> bytes:
    """The header block of ``headers`` (in mapping order)."""
    out = bytearray()
    for name, raw in headers.items():
        encoded_name = name.encode("utf-8")
        if not 0 < len(encoded_name) < 256:
            raise ValueError(f"header name must be 1..255 bytes: {name!r}")
        kind, value = _typed(raw)
        out.append(len(encoded_name))
        out += encoded_name
        out.append(kind)
        if kind in (0, 1):
            continue
        if kind in _FIXED:
            out += _FIXED[kind].pack(value)
        elif kind in (6, 7):
            data: bytes = value.encode("utf-8") if kind == 7 else bytes(value)
            if len(data) > 0xFFFF:
                raise ValueError(f"header {name!r} value exceeds 65535 bytes")
            out += struct.pack(">H", len(data)) + data
        elif kind == 9:
            data = value.bytes if isinstance(value, uuid.UUID) else bytes(value)
            if len(data) != 16:
                raise ValueError("a UUID header value is 16 bytes")
            out += data
        else:
            raise ValueError(f"unknown header type {kind}")
    return bytes(out)


def encode_message(headers: Mapping[str, HeaderInput], payload: bytes = b"") -> bytes:
    """One complete event-stream message with valid CRCs."""
    block = encode_headers(headers)
    total = 16 + len(block) + len(payload)
    prelude = struct.pack(">II", total, len(block))
    body = prelude + struct.pack(">I", crc32(prelude)) + block + payload
    return body + struct.pack(">I", crc32(body))


def event_message(event_type: str, payload: Any) -> bytes:
    """A Bedrock ``:message-type event`` message with a JSON payload."""
    headers = {":event-type": event_type, ":content-type": "application/json", ":message-type": "event"}
    return encode_message(headers, json.dumps(payload, separators=(",", ":")).encode())


def exception_message(exception_type: str, message: str) -> bytes:
    """A Bedrock ``:message-type exception`` message (``{"message": …}`` payload)."""
    headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    return encode_message(headers, json.dumps({"message": message}).encode())


def error_message(code: str, message: str) -> bytes:
    """A ``:message-type error`` message (code and message in headers)."""
    return encode_message({":error-code": code, ":error-message": message, ":message-type": "error"})
