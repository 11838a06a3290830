"""A minimal asyncio HTTP/1.1 client for HTTP_PROXY integrations: one request per connection.

httptools (already what the server parses with) decodes the response, so chunked and
content-length bodies both work.
"""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

MAX_BODY = 10 * 1024 * 1024  # a larger upstream response is an error


class UpstreamError(Exception):
    """The backend could not be reached or sent something that is not HTTP."""


@dataclass
class UpstreamResponse:
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


class _Collector:
    def __init__(self) -> None:
        self.headers: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []
        self.done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.decode("latin-1"), value.decode("latin-1")))

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        self.done = True


async def request(method: str, url: str, headers: list[tuple[str, str]], body: bytes) -> UpstreamResponse:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UpstreamError(f"not an http(s) URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        reader, writer = await asyncio.open_connection(
            parts.hostname, port, ssl=ssl.create_default_context() if parts.scheme == "https" else None)
    except (OSError, ssl.SSLError) as err:
        raise UpstreamError(f"cannot connect to {parts.hostname}:{port}: {err}") from None
    try:
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close",
                 f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in headers]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace") + body)
        await writer.drain()
        collector = _Collector()
        parser = httptools.HttpResponseParser(collector)
        size = 0
        while not collector.done:
            data = await reader.read(65536)
            if not data:
                break
            size += len(data)
            if size > MAX_BODY:
                raise UpstreamError("response too large")
            try:
                parser.feed_data(data)
            except httptools.HttpParserError as err:
                raise UpstreamError(f"malformed response: {err}") from None
        if not collector.done:
            try:
                parser.feed_data(b"")  # EOF ends a body without length
            except httptools.HttpParserError:
                pass
        status = parser.get_status_code()
        if not status:
            raise UpstreamError("connection closed before a response")
        return UpstreamResponse(status, collector.headers, b"".join(collector.chunks))
    except (OSError, ssl.SSLError) as err:
        raise UpstreamError(str(err)) from None
    finally:
        writer.close()
