"""The generic HTTP/1.1 server core of the mock servers.

asyncio streams + ``h11`` in a background thread with its own event loop, so sync and
async clients (in any thread or event loop) can talk to it. Decisions:

- Keep-alive: connections serve requests until the client closes them (clients pool
  connections). Request bodies may use ``Content-Length`` or chunked encoding.
- Streaming responses use chunked transfer encoding with one HTTP chunk per SSE event,
  so bytes can be dripped, stalled or cut at exact body offsets; other responses use
  ``Content-Length``.
- The request handler is synchronous and runs on the server's loop: routing,
  validation and rendering are pure computation; only sending is asynchronous.
- ``stop()`` closes the listener, cancels every connection (stalls included), closes
  their sockets and joins the thread, with a bounded wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import Any, Callable, Optional, Union, overload
from urllib.parse import parse_qsl, unquote, urlsplit

import h11

from tokenwire.testing.faults import Disconnect, Drip, Stall

__all__ = ["HTTPServerThread", "RecordedRequest", "Reply", "RequestHeaders", "TransportPlan"]

_READ_SIZE = 65536
_BACKLOG = 4096


class RequestHeaders(Sequence[tuple[str, str]]):
    """Request headers as received: ``(name, value)`` pairs in order, original case.

    A sequence of pairs (compares equal to a list or tuple of the same pairs), with
    case-insensitive lookup: ``headers.get("Authorization")``, ``"x-api-key" in headers``.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: tuple[tuple[str, str], ...] = tuple((str(k), str(v)) for k, v in items)

    def get(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The first value of header ``name`` (any case), else ``default``."""
        wanted = name.lower()
        for key, value in self._items:
            if key.lower() == wanted:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of header ``name`` (any case), in order."""
        wanted = name.lower()
        return [value for key, value in self._items if key.lower() == wanted]

    def names(self) -> list[str]:
        """The header names as received, in order."""
        return [key for key, _ in self._items]

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str):
            return self.get(item) is not None
        return item in self._items

    @overload
    def __getitem__(self, index: int) -> tuple[str, str]: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[str, str]]: ...
    def __getitem__(self, index: Union[int, slice]) -> Union[tuple[str, str], Sequence[tuple[str, str]]]:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RequestHeaders):
            return self._items == other._items
        if isinstance(other, (list, tuple)):
            return list(self._items) == list(other)  # pyright: ignore[reportUnknownArgumentType]
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._items)

    def __repr__(self) -> str:
        return f"RequestHeaders({list(self._items)!r})"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it.

    ``path`` is percent-decoded; ``query`` maps each query parameter to its last value
    (``query_items`` keeps all of them, in order); ``headers`` are as received;
    ``body`` is the raw body after transfer decoding; ``peer`` is the client's
    ``(host, port)`` (two requests with the same peer came over one connection).
    """

    method: str
    path: str
    query: Mapping[str, str]
    headers: RequestHeaders
    body: bytes
    target: str = ""
    query_items: tuple[tuple[str, str], ...] = ()
    peer: Optional[tuple[str, int]] = None

    def json(self) -> Any:
        """The body parsed as JSON (``ValueError`` if it is not JSON)."""
        return json.loads(self.body)

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """Shortcut for ``headers.get(name, default)``."""
        return self.headers.get(name, default)


@dataclass(frozen=True)
class TransportPlan:
    """How the response bytes leave the socket (from the transport faults)."""

    drip: Optional[Drip] = None
    stalls: tuple[Stall, ...] = ()
    disconnect: Optional[Disconnect] = None


@dataclass
class Reply:
    """A response to send: status, headers and body pieces.

    ``stream=True`` sends the pieces as HTTP chunks (one chunk per piece, e.g. per SSE
    event); otherwise the joined pieces go out with ``Content-Length``.
    """

    status: int
    headers: list[tuple[str, str]]
    chunks: list[bytes]
    stream: bool = False
    plan: TransportPlan = field(default_factory=TransportPlan)


Handler = Callable[[RecordedRequest], Reply]


def _parse_target(target: str) -> tuple[str, dict[str, str], tuple[tuple[str, str], ...]]:
    parts = urlsplit(target)
    items = tuple(parse_qsl(parts.query, keep_blank_values=True))
    return unquote(parts.path), dict(items), items


class _Closed(Exception):
    """The connection ended (peer gone or a planned disconnect)."""


class HTTPServerThread:
    """An HTTP/1.1 server on ``host:port`` (port 0 picks a free one) running ``handler``
    for every request, on its own event loop in a daemon thread."""

    def __init__(
        self, handler: Handler, *, host: str = "127.0.0.1", port: int = 0, name: str = "tokenwire-mock"
    ) -> None:
        self._handler = handler
        self._host = host
        self._requested_port = port
        self._name = name
        self._port: Optional[int] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._server: Optional[asyncio.AbstractServer] = None
        self._connections: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._lock = threading.Lock()

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the server is not running; call start() first")
        return self._port

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Bind and start serving; returns once the port is known."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError("the server is already started")
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            failure: list[BaseException] = []
            thread = threading.Thread(target=self._run, args=(loop, ready, failure), name=self._name, daemon=True)
            self._loop, self._thread = loop, thread
            thread.start()
        if not ready.wait(timeout):
            raise RuntimeError(f"the mock server did not start within {timeout} s")
        if failure:
            thread.join(timeout)
            self._loop = self._thread = None
            raise failure[0]

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event, failure: list[BaseException]) -> None:
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(
                    self._on_connection, self._host, self._requested_port, backlog=_BACKLOG, limit=_READ_SIZE
                )
            )
            sockets = self._server.sockets
            self._port = int(sockets[0].getsockname()[1])
        except BaseException as exc:  # handed to start()'s caller
            failure.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self, timeout: float = 5.0) -> None:
        """Close the listener and every connection, stop the loop, join the thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None:
                return
            if thread is threading.current_thread():
                # Waiting for the loop from inside it (e.g. from a script) would deadlock.
                raise RuntimeError("stop() cannot be called from the mock server's own thread")
            self._loop = self._thread = None
        if thread.is_alive() and not loop.is_closed():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            try:
                future.result(timeout)
            except Exception:  # a slow shutdown must not prevent stopping
                future.cancel()
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._port = None

    async def _shutdown(self) -> None:
        server = self._server
        if server is not None:
            server.close()
        tasks = list(self._connections)
        for task in tasks:
            task.cancel()
        for writer in list(self._writers):
            writer.transport.abort()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if server is not None:
            with contextlib.suppress(asyncio.TimeoutError, OSError):
                await asyncio.wait_for(server.wait_closed(), 1.0)

    # -- connections -------------------------------------------------------

    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        self._writers.add(writer)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            # Events must leave immediately, not wait for Nagle's algorithm.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            # Only stop() cancels connections. Ending the task normally matters: Python
            # 3.11's StreamReaderProtocol calls task.exception() on it, which would log
            # the cancellation as an unhandled error.
            pass
        except (_Closed, OSError, h11.ProtocolError):
            pass
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._connections.discard(task)
            if not writer.transport.is_closing():
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        address = writer.get_extra_info("peername")
        peer = (str(address[0]), int(address[1])) if isinstance(address, tuple) and len(address) >= 2 else None
        while True:
            request = await self._read_request(conn, reader, peer)
            if request is None:
                return
            try:
                reply = self._handler(request)
            except Exception as exc:  # a bug in a script must not kill the server
                message = f"mock server handler failed: {type(exc).__name__}: {exc}"
                reply = Reply(500, [("content-type", "text/plain; charset=utf-8")], [message.encode()])
            keep_alive = await self._send(conn, writer, reply)
            if not keep_alive or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader, peer: Optional[tuple[str, int]]
    ) -> Optional[RecordedRequest]:
        head: Optional[h11.Request] = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(_READ_SIZE)
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Request):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                return None
        if head is None:  # pragma: no cover - h11 always yields the Request first
            return None
        target = head.target.decode("latin-1")
        path, query, query_items = _parse_target(target)
        headers = RequestHeaders(
            (name.decode("latin-1"), value.decode("latin-1")) for name, value in head.headers.raw_items()
        )
        return RecordedRequest(
            method=head.method.decode("ascii"),
            path=path,
            query=query,
            headers=headers,
            body=bytes(body),
            target=target,
            query_items=query_items,
            peer=peer,
        )

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, reply: Reply) -> bool:
        """Send ``reply``; False when the connection must close afterwards."""
        plan = reply.plan
        for stall in plan.stalls:
            if stall.before_headers:
                await asyncio.sleep(stall.seconds)
        headers = [
            (name, value)
            for name, value in reply.headers
            if name.lower() not in ("content-length", "transfer-encoding")
        ]
        headers.append(("date", formatdate(usegmt=True)))
        total = sum(len(chunk) for chunk in reply.chunks)
        if reply.stream:
            headers.append(("transfer-encoding", "chunked"))
        else:
            headers.append(("content-length", str(total)))
        writer.write(conn.send(h11.Response(status_code=reply.status, headers=headers)) or b"")
        await writer.drain()

        pieces = reply.chunks if reply.stream else [b"".join(reply.chunks)]
        cut = plan.disconnect.after_bytes if plan.disconnect is not None else None
        stalls = sorted({int(s.after_bytes) for s in plan.stalls if not s.before_headers})
        stall_time: dict[int, float] = {}
        for stall in plan.stalls:
            if not stall.before_headers:
                stall_time[int(stall.after_bytes)] = stall_time.get(int(stall.after_bytes), 0.0) + stall.seconds
        drip = plan.drip
        # Offsets where a write must end: stalls and the disconnect point.
        boundary_set: set[int] = set(stalls)
        if cut is not None:
            boundary_set.add(cut)
        boundaries = sorted(boundary_set)
        offset = 0

        async def reached(position: int) -> None:
            if position in stall_time:
                await asyncio.sleep(stall_time.pop(position))
            if cut is not None and position == cut:
                await self._disconnect(writer, plan.disconnect)

        await reached(0)
        for piece in pieces:
            pos = 0
            while pos < len(piece):
                size = len(piece) - pos
                if drip is not None:
                    size = min(size, drip.bytes_per_write)
                for boundary in boundaries:
                    if boundary > offset:
                        size = min(size, boundary - offset)
                        break
                data = conn.send(h11.Data(data=piece[pos : pos + size]))
                if writer.transport.is_closing():
                    raise _Closed
                writer.write(data or b"")
                await writer.drain()
                pos += size
                offset += size
                await reached(offset)
                if drip is not None and drip.delay > 0:
                    await asyncio.sleep(drip.delay)
        if cut is not None:
            # A cut at or past the end: the whole body, but never the end of the message.
            await self._disconnect(writer, plan.disconnect)
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        return conn.our_state is h11.DONE

    @staticmethod
    async def _disconnect(writer: asyncio.StreamWriter, disconnect: Optional[Disconnect]) -> None:
        if disconnect is not None and disconnect.reset:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                # SO_LINGER with a zero timeout turns close() into a TCP RST.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        else:
            await writer.drain()
            writer.close()
        raise _Closed
