"""The provider-agnostic part of the mock servers: lifecycle, recording, scripts,
fault application and rate-limit accounting. Provider modules add routes, validation
and their exact error shapes."""

from __future__ import annotations

import json
import math
import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Optional, TypedDict, TypeVar, Union, cast

from tokenwire.testing import synth
from tokenwire.testing._ratelimit import LimitState, Meter, RateLimits
from tokenwire.testing._script import FaultQueue, Recording, Script, ScriptQueue, check_script
from tokenwire.testing._server import HTTPServerThread, RecordedRequest, Reply, TransportPlan
from tokenwire.testing.faults import (
    FaultPlan,
    FaultSpec,
    Overloaded,
    QuotaExceeded,
    RateLimit,
    ServerFault,
)
from tokenwire.testing.synth import Answer, Protocol

__all__ = ["Exchange", "MockServer", "ServerOptions", "estimate_request_tokens"]

if TYPE_CHECKING:
    pass

_Self = TypeVar("_Self", bound="MockServer")
_Replacing = Union[RateLimit, QuotaExceeded, ServerFault, Overloaded]
_ECHO_LIMIT = 500


@dataclass
class Exchange:
    """Per-request state shared by the routing code (internal)."""

    number: int
    request_id: str
    plan: FaultPlan
    protocol: Optional[Protocol] = None
    model: str = ""
    extra_headers: list[tuple[str, str]] = field(default_factory=list)


def _merge(base: Sequence[tuple[str, str]], override: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """``base`` headers without those ``override`` names, then ``override``."""
    names = {name.lower() for name, _ in override}
    return [(k, v) for k, v in base if k.lower() not in names] + list(override)


def _text_of(content: Any) -> str:
    """The text a message content carries; non-text parts count as compact JSON."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(_text_of(part) for part in content)  # pyright: ignore[reportUnknownVariableType]
    if isinstance(content, dict):
        kind = content.get("type")
        if kind in ("text", "input_text", "output_text") and isinstance(content.get("text"), str):
            return str(content["text"])
        if kind == "tool_result":
            return _text_of(content.get("content"))
    return json.dumps(content, separators=(",", ":"), ensure_ascii=False)


def estimate_request_tokens(document: Any) -> int:
    """The mock servers' deterministic input-token estimate of a request body.

    ``ceil(characters / 4) + 3 per message`` over the text the request carries: the
    system prompt / instructions, each message's text content (non-text parts and tool
    calls as compact JSON), a completions ``prompt``, a Responses ``input``, and the
    tool definitions as compact JSON. At least 1. Used by Anthropic's
    ``/v1/messages/count_tokens`` and by ``"auto"`` usage, so they agree.
    """
    if not isinstance(document, dict):
        return 1
    chars = 0
    messages = 0
    for key in ("system", "instructions", "prompt"):
        chars += len(_text_of(document.get(key)))
    raw_messages = document.get("messages")
    if isinstance(raw_messages, list):
        for message in raw_messages:  # pyright: ignore[reportUnknownVariableType]
            messages += 1
            if isinstance(message, dict):
                chars += len(_text_of(message.get("content")))
                if message.get("tool_calls") is not None:
                    chars += len(_text_of(message.get("tool_calls")))
    raw_input = document.get("input")
    if isinstance(raw_input, str):
        chars += len(raw_input)
        messages += 1
    elif isinstance(raw_input, list):
        for item in raw_input:  # pyright: ignore[reportUnknownVariableType]
            messages += 1
            chars += len(_text_of(item.get("content") if isinstance(item, dict) and "content" in item else item))
    if document.get("tools") is not None:
        chars += len(_text_of(document.get("tools")))
    return max(1, math.ceil(chars / 4) + 3 * messages)


class ServerOptions(TypedDict, total=False):
    """The options every mock server takes besides its own (see :class:`MockServer`);
    subclasses accept them as ``**options`` and hand them on unchanged."""

    script: Optional[Script]
    models: Optional[Sequence[str]]
    rate_limits: Optional[RateLimits]
    host: str
    port: int
    seed: str
    max_recorded: Optional[int]


class MockServer:
    """Base class of the provider mock servers; see the ``tokenwire.testing`` docs.

    Lifecycle: ``with server:`` / ``async with server:``, or ``start()`` / ``stop()``.
    While running, ``url`` is ``http://127.0.0.1:PORT`` and ``base_url`` what an SDK
    expects as its base URL.

    What it answers, per generation request: the next queued script
    (``server.scripts.push(...)``), else ``default_script``, else an :class:`Answer`
    echoing the last user message. Faults: ``server.faults.push(...)`` per request,
    ``set_default_fault(...)`` for all. Everything received is in ``requests``.

    Options: ``api_key`` — the accepted key (``None`` accepts any non-empty key; the
    auth header is still required); ``script`` — the default script; ``models`` — a
    model allowlist, also what the models route lists (``None``: any model, a default
    list); ``rate_limits`` — meter requests and send rate-limit headers on generation
    responses; ``host``/``port`` — where to listen (port 0: a free one); ``seed`` —
    varies the deterministic ids; ``max_recorded`` — keep only the latest N requests
    (long load runs).
    """

    provider: ClassVar[str] = "mock"

    def __init__(
        self,
        *,
        api_key: Optional[str] = None,
        script: Optional[Script] = None,
        models: Optional[Sequence[str]] = None,
        rate_limits: Optional[RateLimits] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: str = "tokenwire",
        max_recorded: Optional[int] = None,
    ) -> None:
        self.api_key: Optional[str] = api_key
        """The accepted key; ``None`` accepts any non-empty key (the header is still required)."""
        self.models: Optional[tuple[str, ...]] = tuple(models) if models is not None else None
        """The model allowlist (and the model list); ``None`` accepts any model."""
        self.rate_limits: Optional[RateLimits] = rate_limits
        self.scripts = ScriptQueue()
        """Per-request scripts: ``server.scripts.push(Answer("hi"), times=2)``."""
        self.faults = FaultQueue()
        """Per-request faults: ``server.faults.push(faults.Overloaded())``."""
        self._default_script: Optional[Script] = check_script(script) if script is not None else None
        self._default_plan = FaultPlan()
        self._limits = LimitState(rate_limits) if rate_limits is not None else None
        self._seed = seed
        self._lock = threading.Lock()
        # Long load runs can cap the recording (oldest requests are dropped first).
        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self._count = 0
        self._http = HTTPServerThread(self._dispatch, host=host, port=port, name=f"tokenwire-{self.provider}-mock")

    # -- lifecycle ---------------------------------------------------------

    def start(self: _Self) -> _Self:
        """Start serving in a background thread; returns ``self``."""
        self._http.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: close every connection and join the thread (bounded by ``timeout``)."""
        self._http.stop(timeout)

    def __enter__(self: _Self) -> _Self:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    async def __aenter__(self: _Self) -> _Self:
        # Starting is a few milliseconds of thread start-up; not worth an executor hop.
        return self.start()

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """Whether the server thread is serving."""
        return self._http.running

    @property
    def host(self) -> str:
        return self._http.host

    @property
    def port(self) -> int:
        """The bound port (``RuntimeError`` before ``start()``)."""
        return self._http.port

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` — the server's origin."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """The base URL the provider's SDK expects."""
        return self.url

    # -- configuration -----------------------------------------------------

    @property
    def default_script(self) -> Optional[Script]:
        """The script used when no per-request script is queued (``None``: echo)."""
        return self._default_script

    @default_script.setter
    def default_script(self, script: Optional[Script]) -> None:
        self._default_script = check_script(script) if script is not None else None

    def set_default_fault(self, fault: Optional[FaultSpec]) -> None:
        """Apply ``fault`` to every request that has no queued fault (``None`` clears it)."""
        self._default_plan = FaultPlan.of(fault)

    # -- recordings ----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request (``LookupError`` when none arrived)."""
        with self._lock:
            if not self._requests:
                raise LookupError("the mock server has not received any request")
            return self._requests[-1]

    def reset(self) -> None:
        """Forget recorded requests, clear the script and fault queues and refill the
        rate-limit buckets. The default script and default fault stay."""
        with self._lock:
            self._requests.clear()
        self.scripts.clear()
        self.faults.clear()
        if self.rate_limits is not None:
            self._limits = LimitState(self.rate_limits)

    def __repr__(self) -> str:
        where = self.url if self.running else "stopped"
        return f"<{type(self).__name__} {where}>"

    # -- request handling ----------------------------------------------------

    def _request_id(self, number: int) -> str:
        raise NotImplementedError

    def _dispatch(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            self._count += 1
            number = self._count
        plan = self.faults.pop() or self._default_plan
        ex = Exchange(number=number, request_id=self._request_id(number), plan=plan)
        reply = self._fault_reply(plan.replace, request, ex) if plan.replace is not None else self._route(request, ex)
        if reply.stream and ex.protocol is not None:
            reply.chunks = self._apply_stream_faults(reply.chunks, plan, ex)
        reply.headers.extend(plan.headers)
        reply.plan = TransportPlan(drip=plan.drip, stalls=plan.stalls, disconnect=plan.disconnect)
        return reply

    def _route(self, request: RecordedRequest, ex: Exchange) -> Reply:
        raise NotImplementedError

    def _fault_reply(self, fault: _Replacing, request: RecordedRequest, ex: Exchange) -> Reply:
        raise NotImplementedError

    def _stream_error(
        self, error_type: Optional[str], message: Optional[str], ex: Exchange, sequence: int
    ) -> list[bytes]:
        raise NotImplementedError

    def _success_headers(self, ex: Exchange, content_type: str) -> list[tuple[str, str]]:
        raise NotImplementedError

    def _limit_headers(self, meters: Mapping[str, Meter]) -> list[tuple[str, str]]:
        raise NotImplementedError

    def _echo_text(self, document: dict[str, Any], protocol: Protocol) -> str:
        raise NotImplementedError

    def _apply_stream_faults(self, events: list[bytes], plan: FaultPlan, ex: Exchange) -> list[bytes]:
        if plan.error_event is not None:
            cut = min(plan.error_event.after_events, len(events))
            fault = plan.error_event
            events = events[:cut] + self._stream_error(fault.error_type, fault.message, ex, cut)
        if plan.malformed is not None:
            at = min(plan.malformed.after_events, len(events))
            events = [*events[:at], _malformed_event(events, at), *events[at:]]
        return events

    def _next_script(self, request: RecordedRequest) -> Optional[Union[Answer, Recording]]:
        script = self.scripts.pop() or self._default_script
        if script is None or isinstance(script, (Answer, Recording)):
            return script
        chosen = cast(object, script(request))  # user code: check what it returned
        if not isinstance(chosen, (Answer, Recording)):
            raise TypeError(f"script callable returned {chosen!r}, not an Answer or a Recording")
        return chosen

    def _generate(
        self,
        request: RecordedRequest,
        ex: Exchange,
        document: dict[str, Any],
        *,
        protocol: Protocol,
        stream: bool,
        model: str,
        include_usage: bool = True,
        max_output: Optional[int] = None,
        azure: bool = False,
        limit_exceeded: Optional[Callable[[str, float, Meter, int], Reply]] = None,
    ) -> Reply:
        """Answer one generation request with the next script (shared by all routes)."""
        ex.protocol = protocol
        ex.model = model
        script = self._next_script(request)
        input_tokens = estimate_request_tokens(document)
        limit_headers: list[tuple[str, str]] = []
        if self._limits is not None:
            output = max_output if max_output is not None else 0
            if max_output is None and isinstance(script, Answer):
                output = script.resolved_usage(input_tokens)[1]
            meters, exceeded = self._limits.consume(input_tokens=input_tokens, output_tokens=output)
            if exceeded is not None and limit_exceeded is not None:
                return limit_exceeded(*exceeded)
            limit_headers = self._limit_headers(meters)
        if script is None:
            script = Answer(self._echo_text(document, protocol))
        if isinstance(script, Recording):
            headers = _merge(self._success_headers(ex, script.media_type) + limit_headers, script.headers)
            return Reply(script.status, headers, script.chunks(protocol), stream=script.is_stream)
        response_id = f"{self._seed}:{ex.number}"
        if stream:
            chunks = synth.stream_events(
                script,
                protocol,
                model=model,
                include_usage=include_usage,
                input_tokens=input_tokens,
                response_id=response_id,
                azure=azure,
            )
            content_type = "text/event-stream; charset=utf-8"
        else:
            chunks = [
                synth.body(
                    script, protocol, model=model, input_tokens=input_tokens, response_id=response_id, azure=azure
                )
            ]
            content_type = "application/json"
        return Reply(200, self._success_headers(ex, content_type) + limit_headers, chunks, stream=stream)


def _malformed_event(events: Sequence[bytes], at: int) -> bytes:
    """An event framed like ``events[at]`` (or the nearest JSON event) whose data is
    its JSON payload cut in half — invalid JSON."""
    order = [*range(at, len(events)), *range(at - 1, -1, -1)]
    for index in order:
        lines = events[index].decode("utf-8", "replace").splitlines()
        data = [line[len("data:") :].lstrip(" ") for line in lines if line.startswith("data:")]
        payload = "\n".join(data)
        if not payload.startswith("{"):
            continue
        prefix = "".join(f"{line}\n" for line in lines if line.startswith("event:"))
        cut = payload[: max(1, len(payload) // 2)]
        return f"{prefix}data: {cut}\n\n".encode()
    return b'data: {"malformed":\n\n'


def echo(text: str) -> str:
    """The default answer to a user message."""
    text = text.strip()
    if not text:
        return "Hello from the tokenwire mock server."
    if len(text) > _ECHO_LIMIT:
        text = text[:_ECHO_LIMIT] + "…"
    return f"You said: {text}"
