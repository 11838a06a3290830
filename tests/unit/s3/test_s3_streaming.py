"""Streaming bodies: the HTTP server hands large uploads over as they arrive (with back-pressure) and
writes streamed responses; aws-chunked bodies decode incrementally; object files are written atomically."""
from __future__ import annotations

import asyncio
import hashlib
import io
import os
import random
import socket

import boto3
import pytest
from botocore.config import Config

from nubis.server.http import BodyStream, HttpServer
from nubis.server.messages import HttpRequest, HttpResponse
from nubis.server.protocol.restxml import AwsChunkedStream, decode_aws_chunked
from nubis.server.protocol.values import DecodeError
from nubis.services.s3.files import BodyTooLarge, ObjectFiles
from nubis.services.s3.transfer import wants_stream

MB = 1024 * 1024


async def _chunks(data: bytes, sizes: list[int]):
    pos = 0
    for n in sizes:
        yield data[pos:pos + n]
        pos += n
    if pos < len(data):
        yield data[pos:]


def _splits(total: int, seed: int) -> list[int]:
    rnd = random.Random(seed)
    out, left = [], total
    while left > 0:
        n = min(left, rnd.choice([1, 2, 3, 7, 100, 4096, 70000]))
        out.append(n)
        left -= n
    return out


def _chunked_body(payload: bytes, piece: int = 8192, trailer: bytes = b"x-amz-checksum-crc32:AAAAAA==\r\n") -> bytes:
    body = bytearray()
    for i in range(0, len(payload), piece):
        part = payload[i:i + piece]
        body += b"%x;chunk-signature=abc\r\n" % len(part) + part + b"\r\n"
    return bytes(body + b"0;chunk-signature=def\r\n" + trailer + b"\r\n")


@pytest.mark.parametrize("seed", range(5))
def test_aws_chunked_stream_matches_the_buffered_decoder(seed):
    payload = os.urandom(50_000 + seed)
    body = _chunked_body(payload)

    async def run():
        stream = AwsChunkedStream(_chunks(body, _splits(len(body), seed)))
        data = b"".join([c async for c in stream])
        return data, stream.trailers

    assert asyncio.run(run()) == decode_aws_chunked(body)


def test_aws_chunked_stream_from_botocore_over_https():
    client = boto3.client("s3", region_name="us-east-1", endpoint_url="https://localhost:1",
                          aws_access_key_id="x", aws_secret_access_key="y",
                          config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))
    seen = {}

    def hook(request, **_):
        body = request.body
        seen["body"] = body.read() if hasattr(body, "read") else bytes(body)
        raise RuntimeError("captured")

    client.meta.events.register("before-send", hook)
    payload = os.urandom(200_000)
    with pytest.raises(RuntimeError):
        client.put_object(Bucket="b", Key="k", Body=io.BytesIO(payload))

    async def run():
        stream = AwsChunkedStream(_chunks(seen["body"], _splits(len(seen["body"]), 1)))
        return b"".join([c async for c in stream]), stream.trailers

    data, trailers = asyncio.run(run())
    assert data == payload and "x-amz-checksum-crc32" in trailers


def test_truncated_aws_chunked_stream():
    body = _chunked_body(b"x" * 1000)[:500]

    async def run():
        return [c async for c in AwsChunkedStream(_chunks(body, [100] * 5))]

    with pytest.raises(DecodeError):
        asyncio.run(run())


def test_wants_stream_only_for_large_s3_uploads():
    s3 = {"authorization": "AWS4-HMAC-SHA256 Credential=k/20240101/us-east-1/s3/aws4_request, x",
          "content-length": str(2 * MB)}
    assert wants_stream("PUT", b"/b/k", s3)
    assert not wants_stream("POST", b"/b/k", s3)
    assert not wants_stream("PUT", b"/b/k", dict(s3, **{"content-length": "100"}))
    assert not wants_stream("PUT", b"/b/k", dict(s3, **{"x-amz-copy-source": "a/b"}))
    lam = dict(s3, authorization=s3["authorization"].replace("/s3/", "/lambda/"))
    assert not wants_stream("PUT", b"/2015-03-31/functions/f/code", lam)
    assert wants_stream("PUT", b"/b/k?AWSAccessKeyId=x&Expires=1&Signature=y", {"content-length": str(2 * MB)})
    assert wants_stream("PUT", b"/k", {"host": "b.s3.localhost:8750", "transfer-encoding": "chunked"})


# -- the HTTP server ------------------------------------------------------------------------------------

class Harness:
    """An HttpServer on a random port whose handler the test supplies; stream_if streams PUTs."""

    def __init__(self, handler) -> None:
        self.server = HttpServer(handler, stream_if=lambda m, u, h: m == "PUT")

    async def __aenter__(self) -> "Harness":
        self.port = await self.server.start("127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc) -> None:
        await self.server.close(grace_s=1)

    async def request(self, raw: bytes, body_chunks=(), read_until: int = 1) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(raw)
        for chunk in body_chunks:
            writer.write(chunk)
            await writer.drain()
        data = b""
        while data.count(b"HTTP/1.1 2") + data.count(b"HTTP/1.1 4") < read_until or not _complete(data, read_until):
            more = await asyncio.wait_for(reader.read(1 << 20), 30)
            if not more:
                break
            data += more
        writer.close()
        return data


def _complete(data: bytes, n: int) -> bool:
    """n responses with Content-Length bodies fully present."""
    pos = 0
    for _ in range(n):
        head_end = data.find(b"\r\n\r\n", pos)
        if head_end < 0:
            return False
        head = data[pos:head_end].decode("latin-1").lower()
        length = 0
        for line in head.split("\r\n"):
            if line.startswith("content-length:"):
                length = int(line.split(":")[1])
        if "100 continue" in head.split("\r\n")[0]:
            pos = head_end + 4
            continue
        if len(data) < head_end + 4 + length:
            return False
        pos = head_end + 4 + length
    return True


def test_streamed_upload_reaches_the_handler_before_it_is_complete_and_keeps_the_connection():
    async def main():
        progress = []

        async def handler(req: HttpRequest) -> HttpResponse:
            if req.stream is None:
                return HttpResponse(200, [], b"buffered:" + req.body)
            md5, n = hashlib.md5(), 0
            async for chunk in req.stream:
                md5.update(chunk)
                n += len(chunk)
                progress.append(n)
            return HttpResponse(200, [], f"{n}:{md5.hexdigest()}".encode())

        payload = os.urandom(12 * MB)
        async with Harness(handler) as h:
            head = f"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: {len(payload)}\r\n\r\n".encode()
            follow = b"GET /after HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
            chunks = [payload[i:i + MB] for i in range(0, len(payload), MB)] + [follow]
            out = await h.request(head, chunks, read_until=2)
        assert f"{len(payload)}:{hashlib.md5(payload).hexdigest()}".encode() in out
        assert b"buffered:" in out  # the pipelined request after the stream was answered on the same connection
        assert len(progress) > 3  # the handler saw the body in pieces

    asyncio.run(main())


def test_expect_continue_is_sent_only_when_the_handler_reads():
    async def main():
        async def handler(req: HttpRequest) -> HttpResponse:
            if req.path == "/refuse":
                return HttpResponse(404, [], b"nope")
            n = 0
            async for chunk in req.stream:
                n += len(chunk)
            return HttpResponse(200, [], str(n).encode())

        async with Harness(handler) as h:
            reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
            writer.write(b"PUT /refuse HTTP/1.1\r\nHost: h\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(65536), 10)
            assert answer.startswith(b"HTTP/1.1 404") and b"100 Continue" not in answer
            assert b"Connection: close" in answer
            writer.close()

            reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
            writer.write(b"PUT /ok HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n")
            first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert first.startswith(b"HTTP/1.1 100 Continue")
            writer.write(b"0123456789")
            rest = await asyncio.wait_for(reader.read(65536), 10)
            assert rest.startswith(b"HTTP/1.1 200") and rest.endswith(b"10")
            writer.close()

    asyncio.run(main())


def test_back_pressure_pauses_reading():
    class Transport:
        def __init__(self) -> None:
            self.paused = 0
            self.resumed = 0

        def pause_reading(self) -> None:
            self.paused += 1

        def resume_reading(self) -> None:
            self.resumed += 1

    class Conn:
        closed = False

        def __init__(self) -> None:
            self.transport = Transport()

    async def main():
        conn = Conn()
        stream = BodyStream(conn, expect_continue=False)  # type: ignore[arg-type]
        for _ in range(6):
            stream.feed(b"x" * MB)
        assert conn.transport.paused == 1  # above the high-water mark
        stream.finish()
        got = 0
        async for chunk in stream:
            got += len(chunk)
        assert got == 6 * MB and conn.transport.resumed == 1

    asyncio.run(main())


def test_streamed_response_is_written_in_chunks():
    async def main():
        payload = os.urandom(9 * MB)

        async def gen():
            for i in range(0, len(payload), MB):
                yield payload[i:i + MB]

        async def handler(req: HttpRequest) -> HttpResponse:
            return HttpResponse(200, [("Content-Length", str(len(payload)))], b"", stream=gen())

        async with Harness(handler) as h:
            out = await h.request(b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n")
            assert out.split(b"\r\n\r\n", 1)[1] == payload
            reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
            writer.write(b"HEAD /big HTTP/1.1\r\nHost: h\r\n\r\nGET /big HTTP/1.1\r\nHost: h\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            assert f"Content-Length: {len(payload)}".encode() in head
            second = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)  # no body came after the HEAD
            assert second.startswith(b"HTTP/1.1 200")
            assert await asyncio.wait_for(reader.readexactly(len(payload)), 10) == payload
            writer.close()

    asyncio.run(main())


def test_client_disconnect_mid_upload_reaches_the_handler_as_an_error():
    async def main():
        seen = asyncio.get_running_loop().create_future()

        async def handler(req: HttpRequest) -> HttpResponse:
            try:
                async for _ in req.stream:
                    pass
                seen.set_result("completed")
            except Exception as e:  # BodyIncomplete
                seen.set_result(type(e).__name__)
            return HttpResponse(200, [], b"")

        async with Harness(handler) as h:
            reader, writer = await asyncio.open_connection("127.0.0.1", h.port)
            writer.write(b"PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 100000)
            await writer.drain()
            writer.close()
            assert await asyncio.wait_for(seen, 10) == "BodyIncomplete"

    asyncio.run(main())


# -- object files -----------------------------------------------------------------------------------------

def test_files_receive_commit_and_sweep(tmp_path):
    files = ObjectFiles(tmp_path)

    async def main():
        written = await files.receive(_chunks(b"a" * (3 * MB), _splits(3 * MB, 3)), ["CRC32", "SHA256"])
        assert written.size == 3 * MB and written.md5 == hashlib.md5(b"a" * (3 * MB)).hexdigest()
        assert set(written.checksums) == {"CRC32", "SHA256"}
        name = files.commit(written)
        assert files.read_small(name, 5, 3) == b"aaa"
        assert b"".join([c async for c in files.stream(name, 10, MB + 5)]) == b"a" * (MB + 5)
        clone = await files.clone(name)
        files.remove([name])
        assert files.read_small(clone, 0, 1) == b"a"

        async def failing():
            yield b"partial"
            raise ConnectionError("client went away")

        with pytest.raises(ConnectionError):
            await files.receive(failing())
        with pytest.raises(BodyTooLarge):
            await files.receive(_chunks(b"b" * 100, [10] * 10), limit=50)
        assert list(files.tmp.iterdir()) == []  # nothing partial is left behind
        return clone

    clone = asyncio.run(main())
    (files.objects / "zz").mkdir(exist_ok=True)
    (files.objects / "zz" / "orphan").write_bytes(b"left by a crash")
    (files.tmp / "partial").write_bytes(b"half an upload")
    assert files.sweep([clone]) == 1
    assert files.read_small(clone) == b"a" * (3 * MB)
    assert not (files.objects / "zz" / "orphan").exists() and list(files.tmp.iterdir()) == []


def test_files_concat(tmp_path):
    files = ObjectFiles(tmp_path)

    async def main():
        names = []
        for i in range(3):
            names.append(files.commit(await files.receive(bytes([65 + i]) * (100_000 + i)), "parts"))
        written = await files.concat(names)
        name = files.commit(written)
        return files.read_small(name)

    data = asyncio.run(main())
    assert data == b"A" * 100_000 + b"B" * 100_001 + b"C" * 100_002
