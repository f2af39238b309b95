"""What a mock server answers: a synthesized :class:`Answer` or a :class:`Recording`."""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Generic, Optional, TypeVar, Union, cast

from tokenwire.testing._server import RecordedRequest
from tokenwire.testing.faults import FaultPlan, FaultSpec
from tokenwire.testing.synth import Answer, Protocol, frame, split_sse_events

__all__ = ["FaultQueue", "OverrideQueue", "Recording", "Script", "ScriptQueue", "check_script"]

_STREAM_TYPE = "text/event-stream; charset=utf-8"


@dataclass(frozen=True)
class Recording:
    """A recorded response, replayed verbatim.

    Either raw wire bytes (``Recording.raw``: an SSE stream, sent one event per HTTP
    chunk, or a JSON body) or recorded JSON payload lines (``Recording.from_lines``),
    framed the provider's way for the route that serves them (see
    :func:`tokenwire.testing.synth.frame`). ``Recording.from_file`` reads the shared
    fixture formats: ``*.chunks.txt`` (payload lines) and anything else as raw bytes.
    """

    data: bytes = b""
    lines: Optional[tuple[str, ...]] = None
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    content_type: Optional[str] = None

    @classmethod
    def raw(
        cls,
        data: bytes,
        *,
        status: int = 200,
        headers: Union[Mapping[str, str], Sequence[tuple[str, str]]] = (),
        content_type: Optional[str] = None,
    ) -> Recording:
        """Raw response body bytes. ``content_type`` defaults to JSON when the body
        starts with ``{`` or ``[``, else to an SSE stream."""
        return cls(data=bytes(data), status=status, headers=_pairs(headers), content_type=content_type)

    @classmethod
    def from_lines(
        cls,
        lines: Iterable[Union[str, bytes, Mapping[str, Any]]],
        *,
        status: int = 200,
        headers: Union[Mapping[str, str], Sequence[tuple[str, str]]] = (),
    ) -> Recording:
        """Recorded stream payloads, one JSON document per item (blank lines skipped)."""
        texts: list[str] = []
        for line in lines:
            if isinstance(line, Mapping):
                texts.append(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
            else:
                text = (line.decode("utf-8") if isinstance(line, bytes) else line).strip("\r\n")
                if text.strip():
                    texts.append(text)
        return cls(lines=tuple(texts), status=status, headers=_pairs(headers))

    @classmethod
    def from_file(
        cls,
        path: Union[str, Path],
        *,
        status: int = 200,
        headers: Union[Mapping[str, str], Sequence[tuple[str, str]]] = (),
    ) -> Recording:
        """``*.chunks.txt``: payload lines; any other file: raw bytes."""
        file = Path(path)
        if file.name.endswith(".chunks.txt"):
            return cls.from_lines(file.read_text(encoding="utf-8").splitlines(), status=status, headers=headers)
        return cls.raw(file.read_bytes(), status=status, headers=headers)

    @property
    def is_stream(self) -> bool:
        """Whether this is served as a stream (chunked, one chunk per event)."""
        return self.media_type.split(";", 1)[0].strip() == "text/event-stream"

    @property
    def media_type(self) -> str:
        """The ``content-type`` this recording is served with."""
        if self.content_type is not None:
            return self.content_type
        if self.lines is not None:
            return _STREAM_TYPE
        head = self.data.lstrip()[:1]
        return "application/json" if head in (b"{", b"[") else _STREAM_TYPE

    def chunks(self, protocol: Protocol) -> list[bytes]:
        """The body pieces: framed events for a stream, the body otherwise."""
        if self.lines is not None:
            return frame(self.lines, protocol)
        if self.is_stream:
            return split_sse_events(self.data)
        return [self.data]


Script = Union[Answer, Recording, Callable[[RecordedRequest], Union[Answer, Recording]]]
"""An :class:`Answer`, a :class:`Recording`, or a callable choosing one per request."""


def _pairs(headers: Union[Mapping[str, str], Sequence[tuple[str, str]]]) -> tuple[tuple[str, str], ...]:
    items: Iterable[tuple[str, str]] = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(k), str(v)) for k, v in items)


T = TypeVar("T")


class OverrideQueue(Generic[T]):
    """A thread-safe FIFO of per-request overrides; each request takes one entry.

    ``len(queue)`` is the number of requests still covered; ``clear()`` drops all.
    """

    def __init__(self) -> None:
        self._entries: deque[list[Any]] = deque()
        self._lock = threading.Lock()

    def _push(self, value: T, times: int) -> None:
        if times < 1:
            raise ValueError(f"times must be >= 1, got {times!r}")
        with self._lock:
            self._entries.append([value, times])

    def clear(self) -> None:
        """Drop everything queued."""
        with self._lock:
            self._entries.clear()

    def pop(self) -> Optional[T]:
        """Take the entry for one request (``None`` when empty)."""
        with self._lock:
            if not self._entries:
                return None
            entry = self._entries[0]
            entry[1] -= 1
            if entry[1] == 0:
                self._entries.popleft()
            value: T = entry[0]
            return value

    def __len__(self) -> int:
        with self._lock:
            return sum(int(entry[1]) for entry in self._entries)

    def __bool__(self) -> bool:
        return len(self) > 0


def check_script(script: object) -> Script:
    """``script`` if it is a valid :data:`Script`, else ``TypeError``."""
    if isinstance(script, (Answer, Recording)) or callable(script):
        return cast(Script, script)
    raise TypeError(f"a script is an Answer, a Recording or a callable returning one, not {script!r}")


class ScriptQueue(OverrideQueue[Script]):
    """Per-request scripts: ``server.scripts.push(Answer("hi"), times=2)``."""

    def push(self, script: Script, times: int = 1) -> None:
        """Answer the next ``times`` generation requests (after anything queued) with ``script``."""
        self._push(check_script(script), times)


class FaultQueue(OverrideQueue[FaultPlan]):
    """Per-request faults: ``server.faults.push(faults.Overloaded())``."""

    def push(self, fault: FaultSpec, times: int = 1) -> None:
        """Apply ``fault`` (one fault or several combined) to the next ``times`` requests,
        whatever their route (after anything queued). Conflicting combinations raise
        ``ValueError`` here, not when the request arrives."""
        self._push(FaultPlan.of(fault), times)
