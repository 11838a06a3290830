"""A small, fast HTTP/1.1 server: asyncio protocol + httptools parser.

Why not a framework: the Invoke path is latency-critical and a raw protocol is several times
faster than an ASGI stack on this class of machine (see bench/). Supports keep-alive,
pipelined requests (answered in order), `Expect: 100-continue` and chunked request bodies.

Bodies are buffered (up to MAX_BODY), except for requests `stream_if(method, url, headers)` picks
at header time (S3 uploads of up to 5 GB): those are dispatched at once with `req.stream`, an
async iterable of chunks with back-pressure (reading from the socket pauses while the handler
lags), and `100 Continue` is only sent when the handler starts reading. A response may likewise
carry `resp.stream` (large downloads), written chunk by chunk as the socket drains.

Protocol upgrades (WebSocket): a request with `Connection: Upgrade` is handled like any other; if
the answer is `101` with `resp.upgrade` set, the head is written and the callback takes over the
connection's bytes through an :class:`UpgradedConnection` (bytes that followed the request are
kept for it). Any other answer to an upgrade request closes the connection after it.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus

import httptools

from .messages import HttpRequest, HttpResponse

log = logging.getLogger("nubis.http")

Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]
StreamPredicate = Callable[[str, bytes, dict[str, str]], bool]

MAX_BODY = 80 * 1024 * 1024  # above Lambda's 70167211-byte CreateFunction limit, so the service can answer it

_REASONS = {s.value: s.phrase for s in HTTPStatus}


def _status_line(status: int) -> bytes:
    return f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n".encode()


def encode_head(resp: HttpResponse) -> bytes:
    """The status line and headers alone (a `101 Switching Protocols` answer)."""
    parts = [_status_line(resp.status)]
    parts.extend(f"{k}: {v}\r\n".encode("latin-1", "replace") for k, v in resp.headers)
    parts.append(b"\r\n")
    return b"".join(parts)


def encode_response(resp: HttpResponse, keep_alive: bool, head_only: bool = False) -> bytes:
    parts = [_status_line(resp.status)]
    has_length = False
    for k, v in resp.headers:
        if k.lower() == "content-length":
            has_length = True
        parts.append(f"{k}: {v}\r\n".encode("latin-1", "replace"))
    if not has_length:
        parts.append(b"Content-Length: %d\r\n" % len(resp.body))
    if not keep_alive:
        parts.append(b"Connection: close\r\n")
    parts.append(b"\r\n")
    if not head_only:
        parts.append(resp.body)
    return b"".join(parts)


class BodyIncomplete(Exception):
    """A streamed request body ended early: the client disconnected or stopped sending."""


class BodyTimeout(BodyIncomplete):
    """The client sent nothing for BodyStream.IDLE_TIMEOUT_S while the handler waited for the body."""


class BodyStream:
    """The body of a streamed request, as it arrives: `async for chunk in req.stream`.

    Holds at most about HIGH_WATER bytes: beyond that the connection stops reading from the socket
    until the handler has consumed down to LOW_WATER.
    """

    HIGH_WATER = 4 * 1024 * 1024
    LOW_WATER = 1024 * 1024
    IDLE_TIMEOUT_S = 120.0  # no byte from the client for this long while we wait: give up

    def __init__(self, conn: "_Connection", expect_continue: bool) -> None:
        self._conn = conn
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._expect_continue = expect_continue
        self._waiter: asyncio.Future | None = None
        self.done = False  # the whole body has arrived
        self.error: Exception | None = None
        self.received = 0
        self.started = False

    # -- fed by the connection
    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        self.received += len(data)
        if self._buffered > self.HIGH_WATER and not self._paused and self._conn.transport is not None:
            self._paused = True
            self._conn.transport.pause_reading()
        self._wake()

    def finish(self) -> None:
        self.done = True
        self._wake()

    def abort(self, exc: Exception) -> None:
        if not self.done:
            self.error = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    @property
    def awaiting_continue(self) -> bool:
        """The client asked for `100 Continue` and has not been told to send the body."""
        return self._expect_continue

    async def drain(self, limit: int) -> None:
        """Read and drop the rest of the body, up to `limit` bytes (once the handler is done with it)."""
        dropped = 0
        try:
            async for chunk in self:
                dropped += len(chunk)
                if dropped > limit:
                    return
        except BodyIncomplete:
            return

    # -- read by the handler
    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        self.started = True
        if self._expect_continue:
            self._expect_continue = False
            transport = self._conn.transport
            if transport is not None and not transport.is_closing():
                transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        while True:
            if self._chunks:
                data = self._chunks.popleft()
                self._buffered -= len(data)
                if self._paused and self._buffered <= self.LOW_WATER:
                    self._paused = False
                    if self._conn.transport is not None and not self._conn.closed:
                        self._conn.transport.resume_reading()
                yield data
                continue
            if self.done:
                return
            if self.error is not None:
                raise self.error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await asyncio.wait_for(self._waiter, self.IDLE_TIMEOUT_S)
            except asyncio.TimeoutError:
                raise BodyTimeout(f"no data from the client for {self.IDLE_TIMEOUT_S:.0f} s") from None
            finally:
                self._waiter = None


class UpgradedConnection:
    """A connection's raw bytes after `101 Switching Protocols`, for the protocol that took it over.

    Reading pauses on the socket while more than HIGH_WATER bytes wait to be read.
    """

    HIGH_WATER = 1024 * 1024

    def __init__(self, conn: "_Connection") -> None:
        self._conn = conn
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._eof = False
        self._waiter: asyncio.Future | None = None

    @property
    def remote(self) -> str:
        return self._conn.remote

    @property
    def closed(self) -> bool:
        return self._conn.closed or self._conn.transport is None or self._conn.transport.is_closing()

    # -- fed by the connection
    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > self.HIGH_WATER and not self._paused and self._conn.transport is not None:
            self._paused = True
            self._conn.transport.pause_reading()
        self._wake()

    def eof(self) -> None:
        self._eof = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    # -- used by the protocol handler
    async def read(self) -> bytes:
        """The next bytes from the peer; b"" once the connection is gone."""
        while not self._chunks:
            if self._eof:
                return b""
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = self._chunks.popleft()
        self._buffered -= len(data)
        if self._paused and self._buffered <= self.HIGH_WATER // 2:
            self._paused = False
            if not self.closed:
                self._conn.transport.resume_reading()  # type: ignore[union-attr]
        return data

    def write(self, data: bytes) -> None:
        if not self.closed:
            self._conn.transport.write(data)  # type: ignore[union-attr]

    async def drain(self) -> None:
        """Wait until the socket has taken what was written (back-pressure for senders)."""
        await self._conn.wait_writable()

    def close(self) -> None:
        if self._conn.transport is not None:
            self._conn.transport.close()


class _Connection(asyncio.Protocol):
    __slots__ = ("handler", "transport", "parser", "url", "headers", "repeated", "body", "queue", "worker",
                 "remote", "closed", "too_large", "_connections", "_size", "server", "stream",
                 "_write_paused", "_drain_waiter", "upgraded", "upgrade_request", "loop")

    DRAIN_LIMIT = 8 * 1024 * 1024

    def __init__(self, handler: Handler, connections: set, server: "HttpServer | None" = None) -> None:
        self.handler = handler
        self.server = server
        self.stream: BodyStream | None = None
        self._write_paused = False
        self._drain_waiter: asyncio.Future | None = None
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: dict[str, str] = {}
        self.repeated: dict[str, list[str]] | None = None
        self.body: list[bytes] = []
        self.queue: asyncio.Queue[tuple[HttpRequest, bool] | None] = asyncio.Queue()
        self.worker: asyncio.Task | None = None
        self.remote = ""
        self.closed = False
        self.too_large = False
        self._connections = connections
        self.upgraded: UpgradedConnection | None = None  # set once the parser has seen an upgrade request
        self.upgrade_request: HttpRequest | None = None
        # Kept: asyncio.get_running_loop() costs a getpid(2) per call (it checks for a fork).
        self.loop = asyncio.get_running_loop()

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.remote = peer[0] if peer else ""
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._connections.discard(self)
        if self.stream is not None:
            self.stream.abort(BodyIncomplete("the client closed the connection before sending the whole body"))
            self.stream = None
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)
        if self.worker is not None:
            self.queue.put_nowait(None)
        if self.upgraded is not None:
            self.upgraded.eof()

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    async def wait_writable(self) -> None:
        if self._write_paused and not self.closed:
            self._drain_waiter = asyncio.get_running_loop().create_future()
            try:
                await self._drain_waiter
            finally:
                self._drain_waiter = None

    def data_received(self, data: bytes) -> None:
        if self.upgraded is not None:
            self.upgraded.feed(data)
            return
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            # The request was dispatched (on_message_complete); what follows it is the new protocol's.
            self.upgraded = UpgradedConnection(self)
            offset = exc.args[0] if exc.args else len(data)
            if offset < len(data):
                self.upgraded.feed(data[offset:])
        except httptools.HttpParserError:
            self._fail(400)

    def _fail(self, status: int) -> None:
        if self.transport and not self.transport.is_closing():
            self.transport.write(encode_response(HttpResponse(status, [], b""), keep_alive=False))
            self.transport.close()

    # -- httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = {}
        self.repeated = None
        self.body = []
        self.too_large = False
        self._size = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        val = value.decode("latin-1")
        if key in self.headers:
            if self.repeated is None:
                self.repeated = {}
            values = self.repeated.get(key)
            if values is None:  # the second time: the value so far is the first one
                values = self.repeated[key] = [self.headers[key]]
            values.append(val)
            self.headers[key] += ", " + val
        else:
            self.headers[key] = val

    def on_headers_complete(self) -> None:
        expect = self.headers.get("expect", "").lower() == "100-continue"
        server = self.server
        if server is not None and server.stream_if is not None:
            method = self.parser.get_method().decode()
            if server.stream_if(method, self.url, self.headers):
                self.stream = BodyStream(self, expect)
                raw = self.url.decode("latin-1")
                path, _, query = raw.partition("?")
                req = HttpRequest(method=method, path=path, query=query, headers=self.headers, body=b"",
                                  remote=self.remote, stream=self.stream, repeated_headers=self.repeated)
                self._dispatch(req, self.parser.should_keep_alive())
                return
        if expect and self.transport:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        if self.stream is not None:
            self.stream.feed(body)
            return
        self._size += len(body)
        if self._size > MAX_BODY:
            self.too_large = True
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        if self.stream is not None:  # dispatched at header time
            self.stream.finish()
            self.stream = None
            return
        raw = self.url.decode("latin-1")
        path, _, query = raw.partition("?")
        req = HttpRequest(
            method=self.parser.get_method().decode(),
            path=path,
            query=query,
            headers=self.headers,
            body=b"".join(self.body) if not self.too_large else b"",
            remote=self.remote,
            body_too_large=self._size if self.too_large else 0,
            repeated_headers=self.repeated,
        )
        if "upgrade" in self.headers and self.parser.should_upgrade():
            self.upgrade_request = req
        self._dispatch(req, self.parser.should_keep_alive())

    def _dispatch(self, req: HttpRequest, keep_alive: bool) -> None:
        if self.worker is None and self.queue.empty():
            # Fast path: no request in progress on this connection.
            self.worker = self.loop.create_task(self._serve_one_then_queue(req, keep_alive))
        else:
            self.queue.put_nowait((req, keep_alive))

    async def _serve_one_then_queue(self, req: HttpRequest, keep_alive: bool) -> None:
        try:
            if not await self._serve(req, keep_alive):
                return
            while not self.queue.empty():
                item = self.queue.get_nowait()
                if item is None or not await self._serve(*item):
                    return
        finally:
            self.worker = None

    async def _serve(self, req: HttpRequest, keep_alive: bool) -> bool:
        try:
            resp = await self.handler(req)
        except Exception:  # the edge turns errors into responses; this is the last resort
            log.exception("unhandled error serving %s %s", req.method, req.path)
            resp = HttpResponse(500, [("Content-Type", "application/json")],
                                b'{"message":"Internal server error"}')
        if req.stream is not None and not req.stream.done:
            # The handler answered without taking the whole body (an error). A client that was told
            # `100 Continue` or did not ask is still sending: read and drop a bounded amount so it
            # gets to read the answer; then the connection closes (the rest cannot be skipped).
            if not req.stream.awaiting_continue:
                await req.stream.drain(self.DRAIN_LIMIT)
            if not req.stream.done:
                keep_alive = False
        if self.closed or self.transport is None:
            if resp.stream is not None:
                await _close_stream(resp.stream)
            return False
        if req is self.upgrade_request:
            return await self._finish_upgrade(req, resp)
        if resp.stream is not None:
            self.transport.write(encode_response(resp, keep_alive, head_only=True))
            if req.method != "HEAD":
                if not await self._write_stream(resp.stream):
                    return False
            else:
                await _close_stream(resp.stream)
        else:
            self.transport.write(encode_response(resp, keep_alive, head_only=req.method == "HEAD"))
        if not keep_alive:
            self.transport.close()
            return False
        return True

    async def _finish_upgrade(self, req: HttpRequest, resp: HttpResponse) -> bool:
        """Hand the connection to `resp.upgrade` after a 101; any other answer ends the connection."""
        assert self.transport is not None
        upgraded = self.upgraded
        if resp.status != 101 or resp.upgrade is None or upgraded is None:
            if resp.stream is not None:
                await _close_stream(resp.stream)
            self.transport.write(encode_response(resp, False, head_only=req.method == "HEAD"))
            self.transport.close()
            return False
        self.transport.write(encode_head(resp))
        try:
            await resp.upgrade(upgraded)
        except Exception:
            log.exception("the handler of an upgraded connection failed; closing it")
        finally:
            upgraded.close()
        return False

    async def _write_stream(self, stream: AsyncIterator[bytes]) -> bool:
        """Write a streamed body as the socket drains; False if the connection is gone or it failed."""
        try:
            async for chunk in stream:
                if self.closed or self.transport is None:
                    return False
                self.transport.write(chunk)
                if self._write_paused:
                    await self.wait_writable()
            return not self.closed
        except Exception:
            log.exception("streaming a response body failed; closing the connection")
            if self.transport is not None:
                self.transport.close()
            return False
        finally:
            await _close_stream(stream)


async def _close_stream(stream: AsyncIterator[bytes]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        try:
            await aclose()
        except Exception:  # pragma: no cover - closing a file cannot usefully fail here
            pass


class HttpServer:
    """Owns the listening socket and the open connections."""

    def __init__(self, handler: Handler, stream_if: StreamPredicate | None = None) -> None:
        self.handler = handler
        self.stream_if = stream_if  # (method, raw url, headers) -> stream this request's body?
        self.connections: set[_Connection] = set()
        self.server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _Connection(self.handler, self.connections, self), host, port, reuse_address=True, backlog=1024
        )
        return self.server.sockets[0].getsockname()[1]

    async def stop_accepting(self) -> None:
        if self.server is not None:
            self.server.close()

    async def close(self, grace_s: float = 5.0) -> None:
        """Stop accepting, let requests in progress finish (up to grace_s), then close connections."""
        await self.stop_accepting()
        deadline = asyncio.get_running_loop().time() + grace_s
        # Upgraded connections (WebSockets) are long-lived: they are closed below, not waited for.
        while any(c.worker is not None and c.upgraded is None for c in self.connections):
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)
        for c in list(self.connections):
            if c.transport is not None:
                c.transport.close()
