"""The Lambda Runtime API (version 2018-06-01) over HTTP/1.1, one listener per environment.

Stock runtime clients (awslambdaric, the AWS Node.js client, a bash bootstrap with
curl, Go/Rust runtimes) find the API through ``AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port>``.
Every execution environment gets its own listening socket on an ephemeral port, so
the port alone says which environment is calling; nothing else is shared.

This module is only the wire: a small asyncio protocol on httptools (keep-alive,
chunked bodies, ``Expect: 100-continue``) that parses the four routes and hands them
to a :class:`RuntimeApiHandler` (the environment), which answers through
:meth:`ApiConnection.reply` — immediately, or later for the long-polled ``next``.
Status codes and bodies follow the Runtime Interface Emulator (facts §3.1).
"""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Protocol
from urllib.parse import unquote

import httptools

API_PREFIX = b"/2018-06-01/runtime/"
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100  # 6291556: RIE's interop.MaxPayloadSize
MAX_PLATFORM_BODY = 1024 * 1024  # /init/error bodies beyond this are dropped (never stored)

_REASONS = {
    200: b"OK",
    202: b"Accepted",
    400: b"Bad Request",
    403: b"Forbidden",
    404: b"Not Found",
    405: b"Method Not Allowed",
    413: b"Request Entity Too Large",
    500: b"Internal Server Error",
}

ACCEPTED = b'{"status":"OK"}\n'
INVALID_REQUEST_ID = b'{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}\n'
TOO_LARGE = (
    b'{"errorMessage":"Exceeded maximum allowed payload size (%d bytes).","errorType":"RequestEntityTooLarge"}\n'
    % MAX_RESPONSE_BYTES
)
NOT_FOUND = b"404 page not found\n"

# State names as the emulator's state machine prints them in InvalidStateTransition errors.
STATE_NAMES = {
    "started": "Started",
    "ready": "Ready",
    "running": "Running",
    "sent": "RuntimeResponseSentState",
    "init_error": "InitError",
}


def invalid_transition(state: str, target: str) -> bytes:
    """403 body for a call the runtime's current state does not allow (RIE wording)."""
    msg = (
        f"State transition from {STATE_NAMES.get(state, state)} to {target} failed for runtime. "
        "Error: State transition is not allowed"
    )
    return b'{"errorMessage":"%s","errorType":"InvalidStateTransition"}\n' % msg.encode()


_date_cache: list = [0, b""]


def _http_date() -> bytes:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now)).encode()
    return _date_cache[1]


def _header_value(value: str) -> bytes:
    # Values come from the platform, but a client context is user JSON: no CR/LF in headers.
    return value.replace("\r", " ").replace("\n", " ").encode("utf-8", "replace")


class RuntimeApiHandler(Protocol):
    """What the environment implements; each call must answer ``conn`` (now or later)."""

    def api_connected(self, conn: "ApiConnection") -> None: ...
    def api_disconnected(self, conn: "ApiConnection") -> None: ...
    def api_next(self, conn: "ApiConnection") -> None: ...
    def api_response(self, conn: "ApiConnection", request_id: str, body: bytes | None) -> None: ...
    def api_error(self, conn: "ApiConnection", request_id: str, body: bytes | None, error_type: str | None) -> None: ...
    def api_init_error(self, conn: "ApiConnection", body: bytes, error_type: str | None) -> None: ...


class ApiConnection(asyncio.Protocol):
    """One HTTP/1.1 connection from the runtime (usually exactly one, kept alive)."""

    __slots__ = (
        "handler", "transport", "parser", "url", "headers", "body", "size", "too_large",
        "keep_alive", "closed", "waiting",
    )

    def __init__(self, handler: RuntimeApiHandler) -> None:
        self.handler = handler
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []
        self.size = 0
        self.too_large = False
        self.keep_alive = True
        self.closed = False
        self.waiting = False  # a long-polled `next` is parked on this connection

    # ------------------------------------------------------------------ transport

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        self.handler.api_connected(self)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._bad_request()
        except httptools.HttpParserError:
            self._bad_request()

    def eof_received(self):
        return False

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.handler.api_disconnected(self)

    def close(self) -> None:
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.close()

    def _bad_request(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            self.close()

    # ------------------------------------------------------------------ httptools callbacks

    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = {}
        self.body = []
        self.size = 0
        self.too_large = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_headers_complete(self) -> None:
        if self.headers.get(b"expect", b"").lower() == b"100-continue" and self.transport is not None:
            self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.too_large:
            return
        if self.size > MAX_RESPONSE_BYTES:
            self.too_large = True
            self.body = []  # read on, keep nothing
            return
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        body = None if self.too_large else b"".join(self.body)
        self.body = []
        try:
            self._dispatch(self.parser.get_method(), self.url, body)
        except Exception:  # pragma: no cover - a bug must not kill the loop
            import logging

            logging.getLogger("nubis.engine").exception("Runtime API request failed")
            self.reply(500, b'{"errorMessage":"Internal Server Error","errorType":"InternalServerError"}\n')

    # ------------------------------------------------------------------ routing

    def _dispatch(self, method: bytes, url: bytes, body: bytes | None) -> None:
        path = url.split(b"?", 1)[0]
        if not path.startswith(API_PREFIX):
            self.reply(404, NOT_FOUND, b"text/plain; charset=utf-8")
            return
        rest = path[len(API_PREFIX):]
        h = self.handler
        if rest == b"invocation/next":
            if method != b"GET":
                self.reply(405, b"", None)
                return
            self.waiting = True
            h.api_next(self)
            return
        if rest == b"init/error":
            if method != b"POST":
                self.reply(405, b"", None)
                return
            data = body if body is not None and len(body) <= MAX_PLATFORM_BODY else b""
            h.api_init_error(self, data, self._error_type())
            return
        if rest.startswith(b"invocation/"):
            rid, _, action = rest[11:].rpartition(b"/")
            if rid and action in (b"response", b"error"):
                if method != b"POST":
                    self.reply(405, b"", None)
                    return
                request_id = unquote(rid.decode("utf-8", "replace"))
                if action == b"response":
                    h.api_response(self, request_id, body)
                else:
                    h.api_error(self, request_id, body, self._error_type())
                return
        self.reply(404, NOT_FOUND, b"text/plain; charset=utf-8")

    def _error_type(self) -> str | None:
        v = self.headers.get(b"lambda-runtime-function-error-type")
        return v.decode("utf-8", "replace") if v else None

    # ------------------------------------------------------------------ answers

    def reply(self, status: int, body: bytes, content_type: bytes | None = b"application/json") -> None:
        self.waiting = False
        t = self.transport
        if t is None or self.closed:
            return
        head = b"HTTP/1.1 %d %s\r\n" % (status, _REASONS.get(status, b"Unknown"))
        if content_type is not None:
            head += b"Content-Type: " + content_type + b"\r\n"
        head += b"Date: %s\r\nContent-Length: %d\r\n" % (_http_date(), len(body))
        if not self.keep_alive:
            head += b"Connection: close\r\n"
        t.write(head + b"\r\n" + body)
        if not self.keep_alive:
            self.close()

    def accepted(self) -> None:
        self.reply(202, ACCEPTED)

    def send_event(
        self,
        request_id: str,
        deadline_ms: int,
        invoked_arn: str,
        payload: bytes,
        trace_id: str | None = None,
        client_context: str | None = None,
        cognito_identity: str | None = None,
    ) -> bool:
        """Answer a parked ``next`` with an invocation. False if the connection is gone."""
        self.waiting = False
        t = self.transport
        if t is None or self.closed:
            return False
        parts = [
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: ",
            _header_value(request_id),
            b"\r\nLambda-Runtime-Deadline-Ms: %d\r\nLambda-Runtime-Invoked-Function-Arn: " % deadline_ms,
            _header_value(invoked_arn),
            b"\r\n",
        ]
        if trace_id:
            parts += [b"Lambda-Runtime-Trace-Id: ", _header_value(trace_id), b"\r\n"]
        if client_context:
            parts += [b"Lambda-Runtime-Client-Context: ", _header_value(client_context), b"\r\n"]
        if cognito_identity:
            parts += [b"Lambda-Runtime-Cognito-Identity: ", _header_value(cognito_identity), b"\r\n"]
        parts.append(b"Date: %s\r\nContent-Length: %d\r\n" % (_http_date(), len(payload)))
        if not self.keep_alive:
            parts.append(b"Connection: close\r\n")
        parts.append(b"\r\n")
        parts.append(payload)
        t.write(b"".join(parts))
        if not self.keep_alive:
            self.close()
        return True


async def listen(loop: asyncio.AbstractEventLoop, handler: RuntimeApiHandler) -> tuple[asyncio.AbstractServer, int]:
    """Listen on 127.0.0.1:<ephemeral> for ``handler``; returns (server, port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)
        port = sock.getsockname()[1]
        server = await loop.create_server(lambda: ApiConnection(handler), sock=sock)
    except BaseException:
        sock.close()
        raise
    return server, port
