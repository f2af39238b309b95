"""Pure-Python twin of the native SSE decoder: WHATWG "parsing an event stream", by chunks.

This is the reference the native decoder (``rust/tokenwire-core/src/sse.rs``) is tested
against; both follow the same rules, raise the same errors with the same offsets and
produce equal events for every chunking of every input.

Decisions, where the spec leaves room or decoders in the wild differ:

- **Line ends** are CRLF, LF and CR. A CR that ends one chunk and an LF that starts the
  next are one line end: the decoder remembers the CR and skips one LF.
- **BOM**: one UTF-8 byte order mark (``EF BB BF``) at stream start is stripped, even
  when split across chunks. A BOM anywhere else is content. If the first bytes only
  start like a BOM, they are kept as the start of the first line.
- **UTF-8**: only complete lines are decoded, so a code point split across chunks
  decodes correctly; invalid sequences become U+FFFD (``errors="replace"``). Decoding
  never raises.
- **Fields**: ``name:value`` with one leading space of the value removed; a line
  without a colon is a field with an empty value; ``:`` lines are comments; fields
  other than ``event``/``data``/``id``/``retry`` are ignored.
- **Empty data dispatches nothing** (the spec's rule): a block with only ``event``,
  ``id``, ``retry`` or comment lines produces no event (its event type is dropped),
  while ``data:`` with an empty value does dispatch an event whose data is ``""``.
  Some SDKs dispatch data-less blocks; tokenwire follows the spec.
- **id** persists across events (``ServerSentEvent.id`` is the last event ID in effect,
  ``None`` until one was seen); a value containing NUL is ignored; an empty value sets
  it to ``""``. **retry** is honoured only when it is a non-empty run of ASCII digits
  below 2**64; ``ServerSentEvent.retry`` is a retry set in the event's own block,
  ``SSEDecoder.retry`` the most recent one.
- **End of stream**: ``flush()`` discards an unterminated final event (the spec's rule)
  and therefore always returns ``[]``. It resets the per-stream state (partial line,
  pending CR, BOM detection, ``bytes_fed``) so the decoder can read a new stream; the
  last event ID and retry are kept, as a reconnecting client needs them.
  ``has_partial_event`` tells beforehand whether the stream was cut inside an event
  (a partial line, or data not yet dispatched; an ``event`` field alone would dispatch
  nothing and does not count).
- **max_event_bytes** bounds the memory one event can take. An event's accounted size
  is the raw bytes of its data values so far (each plus one for its line feed) plus the
  raw bytes of the line being read (terminator excluded; a line is counted while it is
  read, whatever its field, so comment and ``event`` lines count too). The first byte
  that takes it past the limit raises ``StreamDecodeError`` whose ``offset`` is that
  byte's absolute offset in the stream (counting a stripped BOM); the offset does not
  depend on how the stream was chunked.
- **Failure is sticky**: when ``feed`` raises, the events completed earlier in the same
  chunk are lost with the rest of the chunk (those from earlier calls were returned;
  ``feed_into`` keeps them), and every later ``feed`` raises the same error until
  ``flush()`` starts a new stream.
"""

from __future__ import annotations

import json
import re
from typing import Any, Final, Optional, Union

from tokenwire.errors import StreamDecodeError

__all__ = ["DEFAULT_MAX_EVENT_BYTES", "SSEDecoder", "ServerSentEvent"]

DEFAULT_MAX_EVENT_BYTES: Final[int] = 16 * 1024 * 1024
"""Default bound on one SSE event's buffered bytes (16 MiB)."""

_BOM: Final = b"\xef\xbb\xbf"
_BOM_DONE: Final = 3
_EOL: Final = re.compile(rb"\r\n?|\n")
_U64_LIMIT: Final = 1 << 64

_new = object.__new__
_set = object.__setattr__


class ServerSentEvent:
    """One dispatched event.

    ``event`` is the type (``"message"`` when the block had no ``event`` field),
    ``data`` the data lines joined with ``"\\n"``, ``id`` the last event ID in effect
    (``None`` until an ``id`` field has been seen; it persists across events, as in
    the spec), ``retry`` the reconnection time in ms set by this event's block, if any.
    """

    __slots__ = ("data", "event", "id", "retry")

    event: str
    data: str
    id: Optional[str]
    retry: Optional[int]

    def __init__(
        self, event: str = "message", data: str = "", id: Optional[str] = None, retry: Optional[int] = None
    ) -> None:
        if not isinstance(event, str) or not isinstance(data, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError("ServerSentEvent event and data must be str")
        if id is not None and not isinstance(id, str):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError("ServerSentEvent id must be str or None")
        if retry is not None:
            if not isinstance(retry, int):  # pyright: ignore[reportUnnecessaryIsInstance]
                raise TypeError("ServerSentEvent retry must be int or None")
            if not 0 <= retry < _U64_LIMIT:
                raise OverflowError("ServerSentEvent retry must fit an unsigned 64-bit integer")
        _set(self, "event", event)
        _set(self, "data", data)
        _set(self, "id", id)
        _set(self, "retry", retry)

    def json(self) -> Any:
        """``json.loads(self.data)``."""
        return json.loads(self.data)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"ServerSentEvent is immutable (cannot set {name!r})")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"ServerSentEvent is immutable (cannot delete {name!r})")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ServerSentEvent):
            return NotImplemented
        return (
            self.event == other.event and self.data == other.data and self.id == other.id and self.retry == other.retry
        )

    def __hash__(self) -> int:
        return hash((self.event, self.data, self.id, self.retry))

    def __repr__(self) -> str:
        return f"ServerSentEvent(event={self.event!r}, data={self.data!r}, id={self.id!r}, retry={self.retry!r})"

    def __reduce__(self) -> tuple[type[ServerSentEvent], tuple[str, str, Optional[str], Optional[int]]]:
        return (ServerSentEvent, (self.event, self.data, self.id, self.retry))


def _event(event: str, data: str, id: Optional[str], retry: Optional[int]) -> ServerSentEvent:
    """Build an event without the constructor's checks (the decoder's values are valid)."""
    ev = _new(ServerSentEvent)
    _set(ev, "event", event)
    _set(ev, "data", data)
    _set(ev, "id", id)
    _set(ev, "retry", retry)
    return ev


class SSEDecoder:
    """WHATWG "parsing an event stream", incrementally, over byte chunks.

    See the module docstring for the exact rules; they match the native decoder's.
    """

    __slots__ = (
        "_bom",
        "_bytes_fed",
        "_data",
        "_data_bytes",
        "_event_retry",
        "_event_type",
        "_failed",
        "_last_id",
        "_line",
        "_max",
        "_retry",
        "_skip_lf",
    )

    def __init__(self, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES) -> None:
        if not isinstance(max_event_bytes, int):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"max_event_bytes must be an int, not {type(max_event_bytes).__name__}")
        if max_event_bytes < 1:
            raise ValueError(f"max_event_bytes must be a positive integer, got {max_event_bytes}")
        self._max = max_event_bytes
        # A partial line carried over from the previous chunk (never holds a terminator).
        self._line = bytearray()
        self._data: list[str] = []
        self._data_bytes = 0
        self._event_type = ""
        self._last_id: Optional[str] = None
        self._retry: Optional[int] = None
        self._event_retry: Optional[int] = None
        self._skip_lf = False
        self._bom = 0
        self._bytes_fed = 0
        self._failed: Optional[tuple[str, int]] = None

    @property
    def last_event_id(self) -> Optional[str]:
        """The last event ID buffer; ``None`` until an ``id`` field has been seen."""
        return self._last_id

    @property
    def retry(self) -> Optional[int]:
        """The reconnection time (ms) most recently set by a valid ``retry`` field."""
        return self._retry

    @property
    def bytes_fed(self) -> int:
        """Bytes fed since the stream started (construction or the last ``flush()``)."""
        return self._bytes_fed

    @property
    def has_partial_event(self) -> bool:
        """Whether the stream stopped inside an event: a partial line (a partial BOM at
        stream start counts, as it would begin the first line) or data fields that no
        blank line has dispatched yet. An ``event``/``id``/``retry`` field alone (such a
        block dispatches nothing) and a pending CR do not count. Checked at end of input,
        it tells a clean end from a stream cut inside an event."""
        return bool(self._line) or bool(self._data) or 0 < self._bom < _BOM_DONE

    def feed(self, chunk: Union[bytes, bytearray, memoryview]) -> list[ServerSentEvent]:
        """Decode ``chunk`` and return the events it completed."""
        events: list[ServerSentEvent] = []
        self.feed_into(chunk, events)
        return events

    def feed_into(self, chunk: Union[bytes, bytearray, memoryview], events: list[ServerSentEvent]) -> None:
        """Decode ``chunk``, appending the events it completes to ``events``.

        Unlike ``feed()``, nothing is lost when the chunk fails the stream: the events
        completed before the ``StreamDecodeError`` are in ``events`` when it propagates.
        """
        if not isinstance(events, list):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise TypeError(f"SSEDecoder.feed_into() expects a list, not {type(events).__name__}")
        if not isinstance(chunk, bytes):
            if isinstance(chunk, str):
                raise TypeError("SSEDecoder.feed() expects bytes, not str")
            chunk = bytes(chunk)
        if self._failed is not None:
            raise StreamDecodeError(*self._failed)
        base = self._bytes_fed
        self._bytes_fed = base + len(chunk)
        try:
            self._feed(chunk, base, events)
        except StreamDecodeError as exc:
            self._failed = (exc.message, exc.offset)
            raise

    def flush(self) -> list[ServerSentEvent]:
        """End of stream: an unterminated final event is discarded (the spec's rule), so
        this always returns ``[]``; the per-stream state is reset (not ``last_event_id``
        or ``retry``)."""
        self._line.clear()
        self._data.clear()
        self._data_bytes = 0
        self._event_type = ""
        self._event_retry = None
        self._skip_lf = False
        self._bom = 0
        self._bytes_fed = 0
        self._failed = None
        return []

    # -- decoding -------------------------------------------------------------

    def _feed(self, chunk: bytes, base: int, events: list[ServerSentEvent]) -> None:
        pos = 0
        end = len(chunk)
        if self._bom != _BOM_DONE:
            matched = self._bom
            while pos < end and matched < _BOM_DONE and chunk[pos] == _BOM[matched]:
                matched += 1
                pos += 1
            if matched < _BOM_DONE:
                if pos == end:
                    # Still a possible BOM prefix; decide on the next chunk.
                    self._bom = matched
                    return
                # Not a BOM: the bytes matched so far (stream offsets 0..n) start the first line.
                self._check(matched, 0)
                self._line += _BOM[:matched]
            self._bom = _BOM_DONE
        if self._skip_lf and pos < end:
            self._skip_lf = False
            if chunk[pos] == 0x0A:
                pos += 1
        if pos == end:
            return

        line = self._line
        if line:
            # Complete the pending partial line first.
            m = _EOL.search(chunk, pos)
            if m is None:
                self._check(end - pos, base + pos)
                line += chunk[pos:]
                return
            self._check(m.start() - pos, base + pos)
            line += chunk[pos : m.start()]
            whole = bytes(line)
            line.clear()
            self._process(whole, events)
            pos = m.end()
            if pos == end and chunk[pos - 1] == 0x0D:
                self._skip_lf = True
                return

        if b"\r" not in chunk[pos:]:
            # LF-only (the common case): split at once.
            lines = chunk[pos:].split(b"\n")
            tail = lines.pop()
            process = self._process
            max_bytes = self._max
            for text in lines:
                # Inlined self._check: the line buffer is empty here.
                if len(text) > max_bytes - self._data_bytes:
                    self._check(len(text), base + pos)
                process(text, events)
                pos += len(text) + 1
            if tail:
                self._check(len(tail), base + pos)
                line += tail
            return

        search = _EOL.search
        while True:
            m = search(chunk, pos)
            if m is None:
                if pos < end:
                    self._check(end - pos, base + pos)
                    line += chunk[pos:]
                return
            start = m.start()
            self._check(start - pos, base + pos)
            self._process(chunk[pos:start], events)
            pos = m.end()
            if pos == end:
                if chunk[pos - 1] == 0x0D:
                    self._skip_lf = True
                return

    def _check(self, seg_len: int, seg_abs: int) -> None:
        """Raise if appending ``seg_len`` bytes (from absolute offset ``seg_abs``) to the
        current line would take the event past ``max_event_bytes``."""
        room = self._max - self._data_bytes - len(self._line)
        if seg_len > room:
            raise StreamDecodeError(f"SSE event exceeds max_event_bytes ({self._max})", seg_abs + room)

    def _process(self, line: bytes, events: list[ServerSentEvent]) -> None:
        if not line:
            self._dispatch(events)
            return
        if line[0] == 0x3A:  # ':' starts a comment
            return
        colon = line.find(b":")
        if colon < 0:
            name = line
            value = b""
        else:
            name = line[:colon]
            value = line[colon + 2 :] if line[colon + 1 : colon + 2] == b" " else line[colon + 1 :]
        if name == b"data":
            self._data.append(value.decode("utf-8", "replace"))
            self._data_bytes += len(value) + 1
        elif name == b"event":
            self._event_type = value.decode("utf-8", "replace")
        elif name == b"id":
            # An id containing NUL is ignored (the spec's rule).
            if b"\0" not in value:
                self._last_id = value.decode("utf-8", "replace")
        # bytes.isdigit() is ASCII-only (and False for b""), as the spec requires.
        elif name == b"retry" and value.isdigit():
            ms = int(value)
            if ms < _U64_LIMIT:
                self._retry = ms
                self._event_retry = ms

    def _dispatch(self, events: list[ServerSentEvent]) -> None:
        if self._data:
            events.append(
                _event(self._event_type or "message", "\n".join(self._data), self._last_id, self._event_retry)
            )
            self._data.clear()
        self._event_type = ""
        self._event_retry = None
        self._data_bytes = 0
