"""S3 storage: large bodies stream to and from disk, and a crash mid-upload (kill -9) leaves either the
old object or nothing, never a partial one."""
from __future__ import annotations

import base64
import hashlib
import signal
import socket
import zlib
from pathlib import Path

import pytest

from nubis_testing import start_server, stop_server, wait_for

MB = 1024 * 1024
AUTH = ("AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, SignedHeaders=host, "
        "Signature=0000")


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def open_upload(endpoint: str, path: str, length: int, extra: str = "") -> socket.socket:
    host, port = endpoint.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=60)
    head = (f"PUT {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {AUTH}\r\n"
            f"x-amz-content-sha256: UNSIGNED-PAYLOAD\r\nContent-Length: {length}\r\n{extra}\r\n")
    sock.sendall(head.encode())
    return sock


def read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def pattern(size: int, seed: int = 7) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest() * (MB // 32)
    return (block * (size // len(block) + 1))[:size]


def tmp_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "s3" / "tmp").iterdir()] if (data_dir / "s3" / "tmp").exists() else []


def object_files(data_dir: Path) -> list[Path]:
    return [p for p in (data_dir / "s3" / "objects").rglob("*") if p.is_file()]


@pytest.mark.timeout(240)
def test_kill_9_mid_upload_leaves_old_object_or_nothing(tmp_path):
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        s3 = srv.client("s3")
        s3.create_bucket(Bucket="crash")
        old = pattern(2 * MB, seed=1)
        s3.put_object(Bucket="crash", Key="victim", Body=old)
        total = 256 * MB
        replacing = open_upload(srv.endpoint, "/crash/victim", total)
        creating = open_upload(srv.endpoint, "/crash/fresh", total)
        chunk = pattern(4 * MB, seed=2)
        for _ in range(8):  # 32 MiB of each, then the server dies mid-body
            replacing.sendall(chunk)
            creating.sendall(chunk)
        assert wait_for(lambda: sum(p.stat().st_size for p in tmp_files(data)) >= 16 * MB), \
            "the uploads never reached the disk"
        srv.proc.send_signal(signal.SIGKILL)
        srv.proc.wait(30)
        for sock in (replacing, creating):
            sock.close()
    finally:
        stop_server(srv)

    srv = start_server(data)
    try:
        s3 = srv.client("s3")
        got = s3.get_object(Bucket="crash", Key="victim")["Body"].read()
        assert hashlib.md5(got).hexdigest() == hashlib.md5(old).hexdigest()  # the old object, whole
        with pytest.raises(s3.exceptions.ClientError) as info:
            s3.head_object(Bucket="crash", Key="fresh")
        assert info.value.response["Error"]["Code"] == "404"
        assert [o["Key"] for o in s3.list_objects_v2(Bucket="crash")["Contents"]] == ["victim"]
        assert tmp_files(data) == []  # the partial uploads were swept at start
        assert len(object_files(data)) == 1
        s3.put_object(Bucket="crash", Key="fresh", Body=b"after the crash")
        assert s3.get_object(Bucket="crash", Key="fresh")["Body"].read() == b"after the crash"
    finally:
        stop_server(srv)


@pytest.mark.timeout(300)
def test_large_single_put_and_get_stream_through_bounded_memory(tmp_path):
    """A 200 MiB PutObject (over the 80 MB buffered-body cap) and its GetObject never sit in memory."""
    srv = start_server(tmp_path / "data")
    try:
        s3 = srv.client("s3")
        s3.create_bucket(Bucket="big")
        s3.put_object(Bucket="big", Key="warm", Body=b"x")
        s3.get_object(Bucket="big", Key="warm")["Body"].read()
        before = peak_rss_kb(srv.proc.pid)
        size = 200 * MB
        src = tmp_path / "big.bin"
        md5 = hashlib.md5()
        with open(src, "wb") as f:
            for i in range(size // (8 * MB)):
                block = pattern(8 * MB, seed=i)
                md5.update(block)
                f.write(block)
        with open(src, "rb") as f:
            put = s3.put_object(Bucket="big", Key="blob", Body=f)
        assert put["ETag"] == f'"{md5.hexdigest()}"'
        body = s3.get_object(Bucket="big", Key="blob")["Body"]
        got = hashlib.md5()
        received = 0
        for chunk in body.iter_chunks(MB):
            got.update(chunk)
            received += len(chunk)
        assert (received, got.hexdigest()) == (size, md5.hexdigest())
        ranged = s3.get_object(Bucket="big", Key="blob", Range=f"bytes={size - 10}-")["Body"].read()
        with open(src, "rb") as f:
            f.seek(size - 10)
            assert ranged == f.read()
        grown_mb = (peak_rss_kb(srv.proc.pid) - before) / 1024
        assert grown_mb < 64, f"server peak RSS grew by {grown_mb:.0f} MiB for a {size // MB} MiB object"
    finally:
        stop_server(srv)


def test_streamed_aws_chunked_upload_with_trailing_checksum(server):
    """What boto3 sends over https: aws-chunked with signed chunks and a trailing CRC32 (streamed: > 1 MiB)."""
    s3 = server.client("s3")
    s3.create_bucket(Bucket="chunked-stream")
    payload = pattern(3 * MB + 123, seed=9)
    crc = base64.b64encode(zlib.crc32(payload).to_bytes(4, "big")).decode()
    body = bytearray()
    for i in range(0, len(payload), 64 * 1024):
        piece = payload[i:i + 64 * 1024]
        body += f"{len(piece):x};chunk-signature={'0' * 64}\r\n".encode() + piece + b"\r\n"
    body += f"0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n".encode()
    for checksum, expect in ((crc, b"200 OK"), ("AAAAAA==", b"400 Bad Request")):
        wire = bytes(body).replace(crc.encode(), checksum.encode())
        sock = open_upload(server.endpoint, "/chunked-stream/obj", len(wire),
                           "Content-Encoding: aws-chunked\r\nx-amz-trailer: x-amz-checksum-crc32\r\n"
                           f"x-amz-decoded-content-length: {len(payload)}\r\n"
                           "x-amz-content-sha256: STREAMING-UNSIGNED-PAYLOAD-TRAILER\r\n")
        sock.sendall(wire)
        answer = read_response(sock)
        sock.close()
        assert expect in answer.split(b"\r\n", 1)[0], answer[:400]
    got = s3.get_object(Bucket="chunked-stream", Key="obj", ChecksumMode="ENABLED")
    assert got["Body"].read() == payload and got["ChecksumCRC32"] == crc


def test_upload_to_missing_bucket_is_refused_before_the_body(server):
    """With Expect: 100-continue the error comes before any of a large body is sent."""
    sock = open_upload(server.endpoint, "/no-such-bucket-here/k", 50 * MB, "Expect: 100-continue\r\n")
    answer = read_response(sock)
    sock.close()
    assert b"404 Not Found" in answer.split(b"\r\n", 1)[0] and b"100 Continue" not in answer
