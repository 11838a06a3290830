"""Object bytes on disk: written atomically, read as streams, never held whole in memory.

Layout under <data dir>/s3/:
  tmp/               uploads in progress (removed at start: a crash leaves nothing behind)
  objects/ab/<id>    one file per object version, named by a random id, never rewritten
  parts/ab/<id>      multipart upload parts

A write goes to tmp/, is fsynced and renamed into place; only then is the metadata row committed.
A crash before the commit leaves an unreferenced file, which the sweep at start removes, so an
object is either absent or complete. Hashing and file I/O of large bodies run in worker threads
(hashlib and file writes release the GIL), in batches, so the event loop stays responsive.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import os
import shutil
import uuid
import zlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

log = logging.getLogger("nubis.s3")

BATCH = 1024 * 1024  # bytes handed to a worker thread at a time
READ_CHUNK = 1024 * 1024
INLINE_MAX = 1024 * 1024  # bodies up to this size are written/read on the loop thread in one go


class _Crc32:
    name = "crc32"

    def __init__(self) -> None:
        self.value = 0

    def update(self, data: bytes | memoryview) -> None:
        self.value = zlib.crc32(data, self.value)

    def digest(self) -> bytes:
        return self.value.to_bytes(4, "big")


def checksum_hasher(algorithm: str) -> Any | None:
    """A hasher for an x-amz-checksum-* algorithm this build can compute, else None."""
    algorithm = algorithm.upper()
    if algorithm == "CRC32":
        return _Crc32()
    if algorithm == "SHA1":
        return hashlib.sha1()
    if algorithm == "SHA256":
        return hashlib.sha256()
    if algorithm in ("CRC32C", "CRC64NVME"):
        try:
            from awscrt import checksums  # type: ignore[import-not-found]
        except ImportError:
            return None
        fn = checksums.crc32c if algorithm == "CRC32C" else checksums.crc64nvme
        width = 4 if algorithm == "CRC32C" else 8

        class _Crt:
            name = algorithm.lower()

            def __init__(self) -> None:
                self.value = 0

            def update(self, data: bytes | memoryview) -> None:
                self.value = fn(bytes(data), self.value)

            def digest(self) -> bytes:
                return self.value.to_bytes(width, "big")

        return _Crt()
    return None


@dataclass
class Written:
    """A body safely on disk in tmp/, not yet visible as an object."""

    tmp: Path
    size: int
    md5: str  # hex
    checksums: dict[str, str] = field(default_factory=dict)  # ALGO -> base64 digest


class BodyError(Exception):
    """The request body could not be read completely (client went away, timed out, was malformed)."""


class BodyTooLarge(BodyError):
    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"body exceeds {limit} bytes")
        self.size = size
        self.limit = limit


class ObjectFiles:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp = root / "tmp"
        self.objects = root / "objects"
        self.parts = root / "parts"
        for d in (self.tmp, self.objects, self.parts):
            d.mkdir(parents=True, exist_ok=True)

    # -- names
    def path(self, name: str) -> Path:
        """`name` is relative to the root: objects/ab/<id> or parts/ab/<id>."""
        return self.root / name

    def _new_name(self, kind: str) -> str:
        ident = uuid.uuid4().hex
        return f"{kind}/{ident[:2]}/{ident}"

    # -- writing
    async def receive(self, body: bytes | AsyncIterable[bytes] | None, algorithms: Iterable[str] = (),
                      limit: int | None = None) -> Written:
        """Write a request body to a temp file, hashing as it goes; fsynced before returning."""
        tmp = self.tmp / uuid.uuid4().hex
        md5 = hashlib.md5()
        hashers = {a.upper(): h for a in algorithms if (h := checksum_hasher(a)) is not None}
        size = 0
        f = open(tmp, "wb")
        try:
            if body is None or isinstance(body, (bytes, bytearray, memoryview)):
                data = bytes(body or b"")
                size = len(data)
                if size <= INLINE_MAX:
                    _write_hash(f, [data], md5, hashers)
                else:
                    await asyncio.to_thread(_write_hash, f, [data], md5, hashers)
            else:
                batch: list[bytes] = []
                pending = 0
                async for chunk in body:
                    if not chunk:
                        continue
                    size += len(chunk)
                    if limit is not None and size > limit:
                        raise BodyTooLarge(size, limit)
                    batch.append(chunk)
                    pending += len(chunk)
                    if pending >= BATCH:
                        await asyncio.to_thread(_write_hash, f, batch, md5, hashers)
                        batch, pending = [], 0
                if batch:
                    await asyncio.to_thread(_write_hash, f, batch, md5, hashers)
            await asyncio.to_thread(_sync_close, f)
        except BaseException:
            f.close()
            _unlink(tmp)
            raise
        return Written(tmp, size, md5.hexdigest(),
                       {a: base64.b64encode(h.digest()).decode() for a, h in hashers.items()})

    def commit(self, written: Written, kind: str = "objects") -> str:
        """Move a received body into place; returns its name (relative to the root)."""
        name = self._new_name(kind)
        target = self.root / name
        target.parent.mkdir(exist_ok=True)
        os.replace(written.tmp, target)
        return name

    def discard(self, written: Written) -> None:
        _unlink(written.tmp)

    async def clone(self, name: str) -> str:
        """A new object file with the same bytes (a hard link when the file system allows it)."""
        new = self._new_name("objects")
        target = self.root / new
        target.parent.mkdir(exist_ok=True)
        try:
            os.link(self.root / name, target)
        except OSError:
            tmp = self.tmp / uuid.uuid4().hex
            await asyncio.to_thread(_copy_synced, self.root / name, tmp)
            os.replace(tmp, target)
        return new

    async def concat(self, names: list[str]) -> Written:
        """Concatenate part files into a temp file (CompleteMultipartUpload)."""
        tmp = self.tmp / uuid.uuid4().hex
        try:
            size = await asyncio.to_thread(_concat_synced, [self.root / n for n in names], tmp)
        except BaseException:
            _unlink(tmp)
            raise
        return Written(tmp, size, "")

    async def copy_range(self, name: str, start: int, length: int) -> Written:
        """A byte range of a stored file as a new temp file (UploadPartCopy)."""
        tmp = self.tmp / uuid.uuid4().hex
        md5 = hashlib.md5()

        def run() -> None:
            with open(self.root / name, "rb") as src, open(tmp, "wb") as dst:
                src.seek(start)
                left = length
                while left > 0:
                    data = src.read(min(READ_CHUNK, left))
                    if not data:
                        break
                    md5.update(data)
                    dst.write(data)
                    left -= len(data)
                dst.flush()
                os.fsync(dst.fileno())

        try:
            await asyncio.to_thread(run)
        except BaseException:
            _unlink(tmp)
            raise
        return Written(tmp, length, md5.hexdigest())

    def remove(self, names: Iterable[str | None]) -> None:
        for name in names:
            if name:
                _unlink(self.root / name)

    # -- reading
    def read_small(self, name: str, start: int = 0, length: int | None = None) -> bytes:
        with open(self.root / name, "rb") as f:
            if start:
                f.seek(start)
            return f.read() if length is None else f.read(length)

    def stream(self, name: str, start: int, length: int) -> AsyncIterator[bytes]:
        """The bytes [start, start+length) of a file, read in worker threads a chunk at a time.

        The file is opened now, so deleting or replacing the object meanwhile does not cut a
        download short (POSIX keeps an open file's data).
        """
        f = open(self.root / name, "rb")
        return _file_chunks(f, start, length)

    # -- housekeeping
    def sweep(self, referenced: Iterable[str]) -> int:
        """Remove temp files and any object/part file no metadata row refers to (left by a crash)."""
        shutil.rmtree(self.tmp, ignore_errors=True)
        self.tmp.mkdir(parents=True, exist_ok=True)
        keep = set(referenced)
        removed = 0
        for kind in (self.objects, self.parts):
            for sub in kind.iterdir():
                if not sub.is_dir():
                    continue
                for f in sub.iterdir():
                    if f"{kind.name}/{sub.name}/{f.name}" not in keep:
                        _unlink(f)
                        removed += 1
        return removed


async def _file_chunks(f: Any, start: int, length: int) -> AsyncIterator[bytes]:
    try:
        if start:
            f.seek(start)
        left = length
        while left > 0:
            data = await asyncio.to_thread(f.read, min(READ_CHUNK, left))
            if not data:
                raise OSError("object file shorter than its recorded size")
            left -= len(data)
            yield data
    finally:
        f.close()


def _write_hash(f: Any, chunks: list[bytes], md5: Any, hashers: dict[str, Any]) -> None:
    for data in chunks:
        md5.update(data)
        for h in hashers.values():
            h.update(data)
        f.write(data)


def _sync_close(f: Any) -> None:
    try:
        f.flush()
        os.fsync(f.fileno())
    finally:
        f.close()


def _copy_synced(src: Path, dst: Path) -> None:
    with open(src, "rb") as s, open(dst, "wb") as d:
        shutil.copyfileobj(s, d, READ_CHUNK)
        d.flush()
        os.fsync(d.fileno())


def _concat_synced(sources: list[Path], dst: Path) -> int:
    """Unbuffered file objects throughout, so copy_file_range and read/write share the fd offsets."""
    size = 0
    use_range = hasattr(os, "copy_file_range")
    with open(dst, "wb", buffering=0) as d:
        for src in sources:
            with open(src, "rb", buffering=0) as s:
                left = os.fstat(s.fileno()).st_size
                while left > 0:
                    done = 0
                    if use_range:
                        try:
                            done = os.copy_file_range(s.fileno(), d.fileno(), min(left, 1 << 30))
                        except OSError:
                            use_range = False
                    if not done:
                        data = s.read(min(READ_CHUNK, left))
                        if not data:
                            raise OSError(f"{src} shrank while being copied")
                        d.write(data)
                        done = len(data)
                    left -= done
                    size += done
        os.fsync(d.fileno())
    return size


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
