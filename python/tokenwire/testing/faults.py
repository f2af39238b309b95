"""Faults the mock servers inject into a response, each in the provider's own shapes.

Push one fault, or a sequence of faults combined, for the next request(s)::

    server.faults.push(faults.RateLimit(retry_after=2))               # next request: 429
    server.faults.push([faults.Drip(), faults.Disconnect(after_bytes=300)], times=3)
    server.set_default_fault(faults.Headers({"x-ratelimit-remaining-requests": "0"}))

A queued fault is consumed by the next request the server receives, whatever its route
(every request pops one queue entry; ``times=n`` queues it for ``n`` requests). The
default fault applies to every request when the queue is empty.

Kinds of fault and how they combine (at most one of each kind in one combination,
except ``Stall`` and ``Headers``, which may repeat):

- **Replacing** — ``RateLimit``, ``QuotaExceeded``, ``ServerFault``, ``Overloaded``: the
  server answers with that error (status, headers and body as the provider sends them)
  instead of running the request. At most one per combination.
- **Stream** — ``ErrorEvent``, ``Malformed``: rewrite the event stream of a streaming
  response. They have no effect on a non-streaming response.
- **Transport** — ``Drip``, ``Stall``, ``Disconnect``: shape how the response bytes leave
  the socket. Byte offsets count *body* bytes (what the client's ``iter_raw`` yields),
  not chunked-encoding framing.
- ``Headers``: extra response headers, on any response.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Optional, Union

__all__ = [
    "Disconnect",
    "Drip",
    "ErrorEvent",
    "Fault",
    "FaultPlan",
    "FaultSpec",
    "Headers",
    "Malformed",
    "Overloaded",
    "QuotaExceeded",
    "RateLimit",
    "ServerFault",
    "Stall",
]


class Fault:
    """Base class of every fault."""

    __slots__ = ()


def _non_negative(name: str, value: float) -> None:
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


@dataclass(frozen=True)
class Drip(Fault):
    """Send the body ``bytes_per_write`` bytes at a time, each as its own HTTP chunk
    (so a client sees one chunk per write), sleeping ``delay`` seconds between writes."""

    bytes_per_write: int = 1
    delay: float = 0.0

    def __post_init__(self) -> None:
        if self.bytes_per_write < 1:
            raise ValueError(f"bytes_per_write must be >= 1, got {self.bytes_per_write!r}")
        _non_negative("delay", self.delay)


@dataclass(frozen=True)
class Stall(Fault):
    """Pause ``seconds`` after ``after_bytes`` body bytes have been sent.

    ``after_bytes=0`` stalls after the response headers, before the first body byte;
    ``before_headers=True`` stalls before the status line (a server that accepted the
    request but never answers). A stall past the end of the body never happens.
    """

    seconds: float
    after_bytes: int = 0
    before_headers: bool = False

    def __post_init__(self) -> None:
        _non_negative("seconds", self.seconds)
        _non_negative("after_bytes", self.after_bytes)


@dataclass(frozen=True)
class Disconnect(Fault):
    """Close the connection after ``after_bytes`` body bytes, without the terminating
    chunk (or short of ``Content-Length``): the client sees the bytes before the cut,
    then a protocol error. An offset inside an SSE event cuts mid-event.

    The close is a graceful FIN after the bytes are flushed, so the client receives
    everything before the cut (``httpx.RemoteProtocolError``). ``reset=True`` aborts
    with a TCP RST instead (``httpx.ReadError``); the kernel may then discard bytes the
    client had not read yet. An offset at or past the end of the body sends the whole
    body and closes before the end of the message.
    """

    after_bytes: int = 0
    reset: bool = False

    def __post_init__(self) -> None:
        _non_negative("after_bytes", self.after_bytes)


RateLimitKind = Literal["requests", "tokens", "input_tokens", "output_tokens"]


@dataclass(frozen=True)
class RateLimit(Fault):
    """HTTP 429 with the provider's rate-limit headers and body.

    ``kind`` is the exhausted limit (``input_tokens``/``output_tokens`` are Anthropic's;
    on OpenAI they read as ``tokens``). ``limit``/``used``/``requested`` fill the
    provider's message (OpenAI: "Limit 3, Used 3, Requested 1"); ``used`` defaults to
    ``limit``. ``retry_after`` (seconds) sets ``retry-after`` (rounded up to whole
    seconds), the reset headers and the "try again in" text; ``None`` leaves
    ``retry-after`` out and uses 1 s for the resets.
    """

    retry_after: Optional[float] = 20.0
    kind: RateLimitKind = "requests"
    limit: int = 3
    used: Optional[int] = None
    requested: int = 1

    def __post_init__(self) -> None:
        if self.retry_after is not None:
            _non_negative("retry_after", self.retry_after)
        if self.kind not in ("requests", "tokens", "input_tokens", "output_tokens"):
            raise ValueError(f"unknown rate-limit kind {self.kind!r}")


@dataclass(frozen=True)
class QuotaExceeded(Fault):
    """Out of credit, not retryable: OpenAI 429 ``insufficient_quota``; Anthropic 400
    "Your credit balance is too low …"."""


@dataclass(frozen=True)
class ServerFault(Fault):
    """A 5xx answer with the provider's body for that status (``message`` overrides the
    text). OpenAI: 500 ``server_error``, 502 Cloudflare ``cf_bad_gateway``, 503
    ``server_error``; Anthropic: ``api_error``."""

    status: int = 500
    message: Optional[str] = None

    def __post_init__(self) -> None:
        if not 500 <= self.status <= 599:
            raise ValueError(f"ServerFault status must be 5xx, got {self.status!r}")


@dataclass(frozen=True)
class Overloaded(Fault):
    """The provider is out of capacity: Anthropic 529 ``overloaded_error``; OpenAI 503
    "That model is currently overloaded with other requests. …"."""


@dataclass(frozen=True)
class ErrorEvent(Fault):
    """End the stream with the provider's in-stream error after ``after_events`` events.

    OpenAI chat/completions: ``data: {"error": {...}}``; Responses: an ``error`` event
    then ``response.failed``; Anthropic: ``event: error`` (``overloaded_error`` by
    default). ``error_type`` and ``message`` override the provider's defaults. An
    ``after_events`` past the end appends the error after the last event.
    """

    after_events: int = 0
    error_type: Optional[str] = None
    message: Optional[str] = None

    def __post_init__(self) -> None:
        _non_negative("after_events", self.after_events)


@dataclass(frozen=True)
class Malformed(Fault):
    """Insert an event whose data is invalid JSON (the next event's payload cut in
    half, framed like the others) after ``after_events`` events; the stream then
    continues unchanged."""

    after_events: int = 0

    def __post_init__(self) -> None:
        _non_negative("after_events", self.after_events)


@dataclass(frozen=True)
class Headers(Fault):
    """Extra response headers (e.g. rate-limit headers on a success, for limiter tests)."""

    extra: Union[Mapping[str, str], Sequence[tuple[str, str]]] = field(default_factory=dict)

    @property
    def items(self) -> tuple[tuple[str, str], ...]:
        """The headers as ``(name, value)`` pairs, in order."""
        pairs: Iterable[tuple[str, str]] = self.extra.items() if isinstance(self.extra, Mapping) else self.extra
        return tuple((str(name), str(value)) for name, value in pairs)


FaultSpec = Union[Fault, Sequence[Fault]]
"""One fault, or several applied together to the same response."""

_Replacing = Union[RateLimit, QuotaExceeded, ServerFault, Overloaded]


@dataclass(frozen=True)
class FaultPlan:
    """A validated combination of faults, split by kind (what ``server.faults`` queues)."""

    replace: Optional[_Replacing] = None
    error_event: Optional[ErrorEvent] = None
    malformed: Optional[Malformed] = None
    drip: Optional[Drip] = None
    stalls: tuple[Stall, ...] = ()
    disconnect: Optional[Disconnect] = None
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, spec: Optional[FaultSpec]) -> FaultPlan:
        """Validate ``spec`` and sort it by kind; ``ValueError`` on a conflict."""
        if spec is None:
            return _EMPTY_PLAN
        items: Sequence[Fault] = [spec] if isinstance(spec, Fault) else list(spec)
        replace: Optional[_Replacing] = None
        error_event: Optional[ErrorEvent] = None
        malformed: Optional[Malformed] = None
        drip: Optional[Drip] = None
        disconnect: Optional[Disconnect] = None
        stalls: list[Stall] = []
        headers: list[tuple[str, str]] = []

        def once(current: Optional[Fault], new: Fault) -> None:
            if current is not None:
                raise ValueError(f"conflicting faults in one combination: {current!r} and {new!r}")

        for item in items:
            if isinstance(item, (RateLimit, QuotaExceeded, ServerFault, Overloaded)):
                once(replace, item)
                replace = item
            elif isinstance(item, ErrorEvent):
                once(error_event, item)
                error_event = item
            elif isinstance(item, Malformed):
                once(malformed, item)
                malformed = item
            elif isinstance(item, Drip):
                once(drip, item)
                drip = item
            elif isinstance(item, Disconnect):
                once(disconnect, item)
                disconnect = item
            elif isinstance(item, Stall):
                stalls.append(item)
            elif isinstance(item, Headers):
                headers.extend(item.items)
            else:
                raise TypeError(f"not a fault: {item!r}")
        return cls(replace, error_event, malformed, drip, tuple(stalls), disconnect, tuple(headers))


_EMPTY_PLAN = FaultPlan()
