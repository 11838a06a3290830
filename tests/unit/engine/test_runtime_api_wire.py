"""The Runtime API's HTTP layer alone (nubis.engine.runtime_api) with a recording handler and raw sockets."""

from __future__ import annotations

import asyncio

from nubis.engine import runtime_api as rapi


class Handler:
    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.parked: rapi.ApiConnection | None = None
        self.conns = 0

    def api_connected(self, conn):
        self.conns += 1

    def api_disconnected(self, conn):
        self.calls.append(("lost",))

    def api_next(self, conn):
        self.calls.append(("next",))
        self.parked = conn

    def api_response(self, conn, request_id, body):
        self.calls.append(("response", request_id, body))
        if body is None:
            conn.reply(413, rapi.TOO_LARGE)
        else:
            conn.accepted()

    def api_error(self, conn, request_id, body, error_type):
        self.calls.append(("error", request_id, body, error_type))
        conn.accepted()

    def api_init_error(self, conn, body, error_type):
        self.calls.append(("init_error", body, error_type))
        conn.accepted()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            k, v = line.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, headers, body


def _run(coro):
    return asyncio.run(coro)


def test_keep_alive_routes_and_answers():
    async def main():
        h = Handler()
        server, port = await rapi.listen(asyncio.get_running_loop(), h)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n")
            await w.drain()
            while h.parked is None:
                await asyncio.sleep(0.001)
            assert h.parked.send_event(
                "rid-1", 1234, "arn:aws:lambda:us-east-1:1:function:f", b'{"a":1}',
                trace_id="Root=1-x", client_context='{\n"custom": {}}',
            )
            status, headers, body = await _read_response(r)
            assert status == 200 and body == b'{"a":1}'
            assert headers["content-type"] == "application/json"
            assert headers["lambda-runtime-aws-request-id"] == "rid-1"
            assert headers["lambda-runtime-deadline-ms"] == "1234"
            assert headers["lambda-runtime-invoked-function-arn"] == "arn:aws:lambda:us-east-1:1:function:f"
            assert headers["lambda-runtime-trace-id"] == "Root=1-x"
            assert headers["lambda-runtime-client-context"] == '{ "custom": {}}'  # no CR/LF in a header
            assert "date" in headers
            # same connection: a percent-encoded id, a chunked body
            w.write(
                b"POST /2018-06-01/runtime/invocation/rid%2D1/response HTTP/1.1\r\nHost: x\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n3\r\n{\"b\r\n4\r\n\":2}\r\n0\r\n\r\n"
            )
            status, headers, body = await _read_response(r)
            assert (status, body) == (202, b'{"status":"OK"}\n')
            assert h.calls[-1] == ("response", "rid-1", b'{"b":2}')
            # Expect: 100-continue is answered before the body is sent (curl waits for it)
            w.write(
                b"POST /2018-06-01/runtime/invocation/rid-1/error HTTP/1.1\r\nHost: x\r\n"
                b"Lambda-Runtime-Function-Error-Type: Custom.Err\r\nContent-Length: 2\r\n"
                b"Expect: 100-continue\r\n\r\n"
            )
            assert await r.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            w.write(b"{}")
            status, _, body = await _read_response(r)
            assert status == 202 and h.calls[-1] == ("error", "rid-1", b"{}", "Custom.Err")
            w.write(b"POST /2018-06-01/runtime/init/error HTTP/1.1\r\nContent-Length: 3\r\n\r\nbad")
            assert (await _read_response(r))[0] == 202
            assert h.calls[-1] == ("init_error", b"bad", None)
            for req, want in (
                (b"GET /2018-06-01/runtime/invocation/rid-1/response HTTP/1.1\r\n\r\n", 405),
                (b"POST /2018-06-01/runtime/invocation/next HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405),
                (b"GET /2018-06-01/runtime/invocation/rid-1 HTTP/1.1\r\n\r\n", 404),
                (b"GET /2020-01-01/extension/event/next HTTP/1.1\r\n\r\n", 404),
                (b"GET / HTTP/1.1\r\n\r\n", 404),
            ):
                w.write(req)
                assert (await _read_response(r))[0] == want, req
            assert h.conns == 1  # everything on one kept-alive connection
            w.close()
        finally:
            server.close()

    _run(main())


def test_oversized_body_is_read_not_kept_and_connection_survives():
    async def main():
        h = Handler()
        server, port = await rapi.listen(asyncio.get_running_loop(), h)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            n = rapi.MAX_RESPONSE_BYTES + 1
            w.write(b"POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % n)
            w.write(b"z" * n)
            status, _, body = await _read_response(r)
            assert status == 413 and body == rapi.TOO_LARGE
            assert h.calls[-1] == ("response", "x", None)
            n = rapi.MAX_RESPONSE_BYTES
            w.write(b"POST /2018-06-01/runtime/invocation/x/response HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % n)
            w.write(b"z" * n)
            assert (await _read_response(r))[0] == 202
            assert len(h.calls[-1][2]) == n
            w.close()
        finally:
            server.close()

    _run(main())


def test_malformed_request_gets_400_and_close():
    async def main():
        h = Handler()
        server, port = await rapi.listen(asyncio.get_running_loop(), h)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"NOT HTTP AT ALL\r\n\r\n")
            status, headers, _ = await _read_response(r)
            assert status == 400 and headers.get("connection") == "close"
            assert await r.read() == b""
        finally:
            server.close()

    _run(main())


def test_http_1_0_client_gets_connection_close():
    async def main():
        h = Handler()
        server, port = await rapi.listen(asyncio.get_running_loop(), h)
        try:
            r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(b"POST /2018-06-01/runtime/invocation/a/response HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}")
            status, headers, body = await _read_response(r)
            assert status == 202 and headers["connection"] == "close"
            assert await r.read() == b""
        finally:
            server.close()

    _run(main())
