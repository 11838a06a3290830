"""The HTTP server's upgrade hook: a 101 answer with `resp.upgrade` hands the raw connection over (bytes
sent right behind the request included); any other answer to an upgrade request closes the connection;
requests pipelined before the upgrade are answered first; ordinary keep-alive is untouched."""
from __future__ import annotations

import asyncio

from nubis.server.http import HttpServer, UpgradedConnection
from nubis.server.messages import HttpRequest, HttpResponse

UPGRADE = (b"GET /chat HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")


async def _echo(conn: UpgradedConnection) -> None:
    """A toy protocol: echo upper-cased bytes until the peer sends 'bye' or goes away."""
    while True:
        data = await conn.read()
        if not data:
            return
        conn.write(data.upper())
        await conn.drain()
        if data.endswith(b"bye"):
            return


async def _handler(req: HttpRequest) -> HttpResponse:
    if req.path == "/chat" and req.headers.get("upgrade") == "echo":
        return HttpResponse(101, [("Upgrade", "echo"), ("Connection", "Upgrade")], upgrade=_echo)
    if req.path == "/refuse":
        return HttpResponse(403, [], b"no")
    return HttpResponse(200, [], req.path.encode())


async def _read_until(reader: asyncio.StreamReader, marker: bytes) -> bytes:
    return await asyncio.wait_for(reader.readuntil(marker), 5)


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_upgrade_hands_over_the_connection_with_early_bytes():
    async def main():
        server = HttpServer(_handler)
        port = await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # A pipelined ordinary request first, then the upgrade with bytes right behind it.
        writer.write(b"GET /first HTTP/1.1\r\nHost: x\r\n\r\n" + UPGRADE + b"hello")
        first = await _read_until(reader, b"/first")
        assert first.startswith(b"HTTP/1.1 200 OK")
        head = await _read_until(reader, b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
        assert b"Content-Length" not in head and b"Upgrade: echo" in head
        assert await _read_until(reader, b"HELLO") == b"HELLO"
        writer.write(b"more")
        assert await _read_until(reader, b"MORE") == b"MORE"
        writer.write(b"bye")
        assert await _read_until(reader, b"BYE") == b"BYE"
        assert await asyncio.wait_for(reader.read(), 5) == b""  # the handler returned: connection closed
        writer.close()
        await server.close(0.1)

    _run(main())


def test_refused_upgrade_answers_and_closes():
    async def main():
        server = HttpServer(_handler)
        port = await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(UPGRADE.replace(b"/chat", b"/refuse"))
        data = await asyncio.wait_for(reader.read(), 5)
        assert data.startswith(b"HTTP/1.1 403 Forbidden\r\n") and b"Connection: close" in data
        assert data.endswith(b"\r\n\r\nno")
        writer.close()
        await server.close(0.1)

    _run(main())


def test_peer_going_away_ends_the_upgraded_handler_and_close_does_not_wait():
    async def main():
        done = asyncio.Event()

        async def hold(conn: UpgradedConnection) -> None:
            assert conn.remote == "127.0.0.1"
            while await conn.read():
                pass
            done.set()

        async def handler(req: HttpRequest) -> HttpResponse:
            return HttpResponse(101, [("Upgrade", "echo"), ("Connection", "Upgrade")], upgrade=hold)

        server = HttpServer(handler)
        port = await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(UPGRADE)
        await _read_until(reader, b"\r\n\r\n")
        writer.close()
        await asyncio.wait_for(done.wait(), 5)

        # A second, idle upgraded connection: server.close() closes it instead of waiting out the grace.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(UPGRADE)
        await _read_until(reader, b"\r\n\r\n")
        await server.close(grace_s=3600)  # would outlast _run's guard if it waited for the upgraded one
        assert await asyncio.wait_for(reader.read(), 5) == b""

    _run(main())


def test_keep_alive_requests_are_unaffected():
    async def main():
        server = HttpServer(_handler)
        port = await server.start("127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for path in (b"/a", b"/b"):
            writer.write(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
            data = await _read_until(reader, path)
            assert data.startswith(b"HTTP/1.1 200 OK") and b"Connection: close" not in data
        writer.close()
        await server.close(0.1)

    _run(main())
