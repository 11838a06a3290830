"""Checks on a signed request's body that can only be made as the body arrives.

- `x-amz-content-sha256: <hex>`: the body must hash to it (S3's XAmzContentSHA256Mismatch).
- `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]` (aws-chunked with signed chunks, as the Java/Go SDKs
  send): every chunk signature chains from the seed signature; the trailer signature too.

Both are incremental parsers (`feed(bytes)`, `finish()`) so a streamed upload is checked without being
buffered: `CheckedStream` passes the bytes through unchanged while feeding the checker, and a failure
surfaces as an AwsError raised into whatever is reading the body (the upload is then discarded).
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from . import auth_errors
from .errors import AwsError

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_LINE = 4096
MAX_TRAILER = 16 * 1024


class BodyChecker(Protocol):
    def feed(self, data: bytes) -> None: ...
    def finish(self) -> None: ...


class Sha256Check:
    def __init__(self, expected: str) -> None:
        self.expected = expected.lower()
        self.hash = hashlib.sha256()

    def feed(self, data: bytes) -> None:
        self.hash.update(data)

    def finish(self) -> None:
        computed = self.hash.hexdigest()
        if computed != self.expected:
            raise auth_errors.content_sha256_mismatch(self.expected, computed)


_HEADER, _DATA, _CRLF, _TRAILER, _END = range(5)


class ChunkSignatureCheck:
    """Verifies the chunk signatures of an aws-chunked body (the framing is left to the decoder)."""

    def __init__(self, signing_key: bytes, amz_date: str, scope: str, seed_signature: str, trailer: bool,
                 mismatch: Callable[[str, str], AwsError]) -> None:
        self.key = signing_key
        self.prefix = f"\n{amz_date}\n{scope}\n"
        self.previous = seed_signature
        self.trailer = trailer
        self.mismatch = mismatch  # (string to sign, signature provided) -> the service's error
        self.state = _HEADER
        self.buf = bytearray()
        self.left = 0
        self.signature = ""
        self.hash = hashlib.sha256()
        self.trailers: list[tuple[str, str]] = []
        self.trailer_signature = ""

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        pos, n = 0, len(view)
        while pos < n:
            if self.state == _DATA:
                take = min(self.left, n - pos)
                self.hash.update(view[pos:pos + take])
                pos += take
                self.left -= take
                if not self.left:
                    self._verify_chunk()
                    self.state = _CRLF
                continue
            if self.state == _END:
                return  # anything after the final chunk is the decoder's to refuse
            room = MAX_LINE - len(self.buf)
            k = bytes(view[pos:pos + room]).find(b"\n")
            if k < 0:
                self.buf += view[pos:pos + room]
                pos += room
                if len(self.buf) >= MAX_LINE:
                    self.state = _END  # not aws-chunked framing: the decoder answers for it
                continue
            self.buf += view[pos:pos + k + 1]
            pos += k + 1
            line = bytes(self.buf).rstrip(b"\r\n")
            self.buf.clear()
            self._line(line)

    def _line(self, line: bytes) -> None:
        if self.state == _CRLF:
            self.state = _HEADER
            return
        if self.state == _TRAILER:
            if not line:
                self._verify_trailer()
                self.state = _END
                return
            name, _, value = line.decode("latin-1").partition(":")
            name = name.strip().lower()
            if name == "x-amz-trailer-signature":
                self.trailer_signature = value.strip()
            else:
                self.trailers.append((name, value.strip()))
            if sum(len(a) + len(b) for a, b in self.trailers) > MAX_TRAILER:
                self.state = _END
            return
        size_text, _, ext = line.partition(b";")
        try:
            size = int(size_text.strip() or b"0", 16)
        except ValueError:
            self.state = _END
            return
        sig = b""
        for item in ext.split(b";"):
            k, _, v = item.partition(b"=")
            if k.strip() == b"chunk-signature":
                sig = v.strip()
        self.signature = sig.decode("latin-1")
        self.hash = hashlib.sha256()
        if size:
            self.left = size
            self.state = _DATA
            return
        self._verify_chunk()
        self.state = _TRAILER if self.trailer else _END

    def _verify_chunk(self) -> None:
        sts = "AWS4-HMAC-SHA256-PAYLOAD" + self.prefix + f"{self.previous}\n{EMPTY_SHA256}\n{self.hash.hexdigest()}"
        expected = hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.signature):
            raise self.mismatch(sts, self.signature)
        self.previous = expected

    def _verify_trailer(self) -> None:
        text = "".join(f"{name}:{value}\n" for name, value in self.trailers)
        sts = "AWS4-HMAC-SHA256-TRAILER" + self.prefix + \
            f"{self.previous}\n{hashlib.sha256(text.encode()).hexdigest()}"
        expected = hmac.new(self.key, sts.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, self.trailer_signature):
            raise self.mismatch(sts, self.trailer_signature)

    def finish(self) -> None:
        """A body cut short is the decoder's IncompleteBody; a complete one has been checked in full."""


class CheckedStream:
    """A streamed body, passed through unchanged while `checker` sees every byte."""

    def __init__(self, source: Any, checker: BodyChecker) -> None:
        self.source = source
        self.checker = checker

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        async for chunk in self.source:
            self.checker.feed(chunk)
            yield chunk
        self.checker.finish()
