"""A large object (1 GiB by default; NUBIS_LARGE_OBJECT_MB changes it) through boto3 — multipart and a
single PUT — and back, while the server's resident memory is sampled: it must stay far below the
object's size, proving that uploads and downloads stream. The body is generated as it is read, so the
test process never holds it either. Part of the normal suite (marked `large`: `-m "not large"` skips it)."""
from __future__ import annotations

import hashlib
import io
import os
import threading
import time

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from nubis_testing import start_server, stop_server, unique

MIB = 1024 * 1024
SIZE = int(os.environ.get("NUBIS_LARGE_OBJECT_MB", "1024")) * MIB
RSS_LIMIT = 256 * MIB  # "far below the object size": a quarter of 1 GiB, and ~3x the idle server

pytestmark = [pytest.mark.large, pytest.mark.timeout(240)]


class GeneratedBody(io.RawIOBase):
    """`size` bytes of deterministic, position-dependent data, produced on read (seekable, for boto3)."""

    BLOCK = MIB

    def __init__(self, size: int) -> None:
        self.size = size
        self.pos = 0
        base = hashlib.sha256(b"nubis").digest() * (self.BLOCK // 32)
        self.base = base

    def _block(self, n: int) -> bytes:
        return n.to_bytes(8, "big") + self.base[8:]  # every MiB differs, so misplaced parts would show

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self.pos
        n = min(n, self.size - self.pos)
        out = bytearray()
        while len(out) < n:
            block, offset = divmod(self.pos, self.BLOCK)
            take = min(self.BLOCK - offset, n - len(out))
            out += self._block(block)[offset:offset + take]
            self.pos += take
        return bytes(out)

    def readinto(self, buf) -> int:  # type: ignore[no-untyped-def]
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def digests(self, part: int) -> tuple[str, str]:
        """(MD5 of the whole body, S3's multipart ETag for parts of `part` bytes), in one pass."""
        whole, parts = hashlib.md5(), []
        self.seek(0)
        while piece := self.read(part):
            whole.update(piece)
            parts.append(hashlib.md5(piece).digest())
        self.seek(0)
        return whole.hexdigest(), f"{hashlib.md5(b''.join(parts)).hexdigest()}-{len(parts)}"


class RssSampler:
    """Peak resident memory of a process: /proc VmHWM after a reset, cross-checked by sampling VmRSS."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _field(self, name: str) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def __enter__(self) -> "RssSampler":
        try:  # reset the high-water mark, so VmHWM covers this test only
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
            self.hwm_reset = True
        except OSError:
            self.hwm_reset = False
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._field("VmRSS"))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self.hwm_reset:
            self.peak = max(self.peak, self._field("VmHWM"))


@pytest.fixture(scope="module")
def big_server(tmp_path_factory):
    """The test's key is a known one, so the uploads are also signature-checked (x-amz-content-sha256
    hashed as the body streams in)."""
    data = tmp_path_factory.mktemp("s3large") / "data"
    data.mkdir()
    (data / "credentials").write_text("[large]\naws_access_key_id = LARGEKEY\naws_secret_access_key = large\n")
    s = start_server(data)
    yield s
    stop_server(s)


def _download_md5(s3, bucket: str, key: str) -> tuple[str, int]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    h, n = hashlib.md5(), 0
    for chunk in body.iter_chunks(4 * MIB):
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


def test_large_object_streams_through_multipart_and_single_put(big_server):
    s3 = boto3.client("s3", endpoint_url=big_server.endpoint, region_name="us-east-1", aws_access_key_id="LARGEKEY",
                      aws_secret_access_key="large", config=Config(retries={"max_attempts": 0}, read_timeout=300))
    bucket = unique("large")
    s3.create_bucket(Bucket=bucket)
    wrong = boto3.client("s3", endpoint_url=big_server.endpoint, region_name="us-east-1",
                         aws_access_key_id="LARGEKEY", aws_secret_access_key="wrong")
    with pytest.raises(ClientError):  # signatures are being checked on this server
        wrong.head_bucket(Bucket=bucket)
    body = GeneratedBody(SIZE)
    part = 64 * MIB
    expected_md5, multipart_etag = body.digests(part)
    transfer = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=4)
    started = time.monotonic()
    with RssSampler(big_server.proc.pid) as rss:
        s3.upload_fileobj(body, bucket, "multipart.bin", Config=transfer)
        s3.put_object(Bucket=bucket, Key="single.bin", Body=GeneratedBody(SIZE))
        multipart_md5, multipart_size = _download_md5(s3, bucket, "multipart.bin")
        single_md5, single_size = _download_md5(s3, bucket, "single.bin")
    elapsed = time.monotonic() - started

    assert (multipart_size, multipart_md5) == (SIZE, expected_md5)
    assert (single_size, single_md5) == (SIZE, expected_md5)
    head = s3.head_object(Bucket=bucket, Key="single.bin")
    assert head["ContentLength"] == SIZE and head["ETag"] == f'"{expected_md5}"'
    assert s3.head_object(Bucket=bucket, Key="multipart.bin")["ETag"] == f'"{multipart_etag}"'
    print(f"\n{SIZE // MIB} MiB x 4 transfers in {elapsed:.1f} s; server peak RSS {rss.peak / MIB:.0f} MiB "
          f"(VmHWM reset: {rss.hwm_reset})")
    assert rss.peak < RSS_LIMIT, f"server peak RSS {rss.peak / MIB:.0f} MiB"
