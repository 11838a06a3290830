"""Plain HTTP request/response values shared by the HTTP server, the edge and the protocol layer.

Kept free of any server machinery so that the protocol layer and tests can build them directly.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote


@dataclass(slots=True)
class HttpRequest:
    method: str
    path: str  # raw path as received (still percent-encoded), without the query string
    query: str = ""  # raw query string, without '?'
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names; repeats joined by ", "
    body: bytes = b""
    remote: str = ""
    body_too_large: int = 0  # bytes received when the body exceeded the server's cap (it was dropped)
    # A body still arriving (the server was asked to stream it, see HttpServer.stream_if): an async
    # iterable of byte chunks; `body` is then empty.
    stream: Any = None
    # Headers that came more than once: every value in order (`headers` has them joined by ", ").
    # Payload-1.0 events need them apart (multiValueHeaders); None when no header repeated.
    repeated_headers: dict[str, list[str]] | None = None

    @property
    def decoded_path(self) -> str:
        return unquote(self.path)

    def query_params(self) -> list[tuple[str, str]]:
        """Query pairs in order, decoded; repeated keys appear repeatedly."""
        return parse_qsl(self.query, keep_blank_values=True)


@dataclass(slots=True)
class HttpResponse:
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # A body written chunk by chunk after the headers (large downloads); the headers must then carry
    # Content-Length, and `body` is ignored.
    stream: AsyncIterator[bytes] | None = None
    # For a `101 Switching Protocols` answer to an upgrade request: takes over the connection
    # (called with a server.http.UpgradedConnection) and returns when done with it.
    upgrade: Callable[[Any], Awaitable[None]] | None = None

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for k, v in self.headers:
            if k.lower() == lname:
                return v
        return None
