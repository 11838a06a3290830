"""A small, fast HTTP/1.1 server: asyncio protocol + httptools parser.

Why not a framework: the Invoke path is latency-critical and a raw protocol is several times
faster than an ASGI stack on this class of machine (see bench/). Supports keep-alive,
pipelined requests (answered in order), `Expect: 100-continue` and chunked request bodies.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

import httptools

from .messages import HttpRequest, HttpResponse

log = logging.getLogger("nubis.http")

Handler = Callable[[HttpRequest], Awaitable[HttpResponse]]

MAX_BODY = 80 * 1024 * 1024  # above Lambda's 70167211-byte CreateFunction limit, so the service can answer it

_REASONS = {s.value: s.phrase for s in HTTPStatus}


def _status_line(status: int) -> bytes:
    return f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}\r\n".encode()


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


class _Connection(asyncio.Protocol):
    __slots__ = ("handler", "transport", "parser", "url", "headers", "body", "queue", "worker",
                 "remote", "closed", "too_large", "_connections", "_size")

    def __init__(self, handler: Handler, connections: set) -> None:
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.queue: asyncio.Queue[tuple[HttpRequest, bool] | None] = asyncio.Queue()
        self.worker: asyncio.Task | None = None
        self.remote = ""
        self.closed = False
        self.too_large = False
        self._connections = connections

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.remote = peer[0] if peer else ""
        self._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._connections.discard(self)
        if self.worker is not None:
            self.queue.put_nowait(None)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400)
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
        self.body = []
        self.too_large = False
        self._size = 0

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        val = value.decode("latin-1")
        if key in self.headers:
            self.headers[key] += ", " + val
        else:
            self.headers[key] = val

    def on_headers_complete(self) -> None:
        if self.headers.get("expect", "").lower() == "100-continue" and self.transport:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._size += len(body)
        if self._size > MAX_BODY:
            self.too_large = True
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
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
        )
        keep_alive = self.parser.should_keep_alive()
        if self.worker is None and self.queue.empty():
            # Fast path: no request in progress on this connection.
            self.worker = asyncio.get_running_loop().create_task(self._serve_one_then_queue(req, keep_alive))
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
        if self.closed or self.transport is None:
            return False
        self.transport.write(encode_response(resp, keep_alive, head_only=req.method == "HEAD"))
        if not keep_alive:
            self.transport.close()
            return False
        return True


class HttpServer:
    """Owns the listening socket and the open connections."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections: set[_Connection] = set()
        self.server: asyncio.base_events.Server | None = None

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: _Connection(self.handler, self.connections), host, port, reuse_address=True, backlog=1024
        )
        return self.server.sockets[0].getsockname()[1]

    async def stop_accepting(self) -> None:
        if self.server is not None:
            self.server.close()

    async def close(self, grace_s: float = 5.0) -> None:
        """Stop accepting, let requests in progress finish (up to grace_s), then close connections."""
        await self.stop_accepting()
        deadline = asyncio.get_running_loop().time() + grace_s
        while any(c.worker is not None for c in self.connections):
            if asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.02)
        for c in list(self.connections):
            if c.transport is not None:
                c.transport.close()
