"""Deployment packages: check a zip as Lambda does, store it, extract and byte-compile it once.

Extraction happens at deploy time (while the function is `Pending`) so that a cold start never
unzips or compiles: PYTHONDONTWRITEBYTECODE is often set, and compiling on import would cost
every new environment.
"""
from __future__ import annotations

import base64
import compileall
import hashlib
import io
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ...server.errors import AwsError
from ...store.blobs import BlobStore
from .limits import UNZIPPED_MAX, ZIPPED_MAX


@dataclass(frozen=True, slots=True)
class CodePackage:
    digest: str  # sha256 hex: the blob's name
    sha256_b64: str  # Lambda's CodeSha256
    size: int


def accept_zip(data: bytes, blobs: BlobStore) -> CodePackage:
    """Validate a zip upload with Lambda's errors and store it."""
    if len(data) > ZIPPED_MAX:
        raise AwsError("RequestEntityTooLargeException", f"Zipped size must be smaller than {ZIPPED_MAX} bytes", 413)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            unzipped = sum(i.file_size for i in zf.infolist())
            bad = [i.filename for i in zf.infolist() if _unsafe(i.filename)]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise AwsError("InvalidParameterValueException",
                       "Could not unzip uploaded file. Please check your file, then try to upload again.") from None
    if unzipped > UNZIPPED_MAX:
        raise AwsError("InvalidParameterValueException", f"Unzipped size must be smaller than {UNZIPPED_MAX} bytes")
    if bad:
        raise AwsError("InvalidParameterValueException",
                       f"Could not unzip uploaded file: unsafe path {bad[0]!r} in the archive.")
    digest = blobs.put(data)
    sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
    return CodePackage(digest, sha, len(data))


def _unsafe(name: str) -> bool:
    p = Path(name)
    return p.is_absolute() or ".." in p.parts


def world_readable(root: Path) -> None:
    """Directories 755, files readable by all (executable bits kept): functions run under uids of
    their own and must read their code, as on Lambda (which wants 644 files and 755 directories)."""
    os.chmod(root, 0o755)
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, 0o755)
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p):
                mode = stat.S_IMODE(os.lstat(p).st_mode)
                os.chmod(p, (mode | 0o444) & ~0o022)


def extract(blobs: BlobStore, digest: str, code_root: Path) -> Path:
    """Extract (once per digest) into code_root/<digest>, byte-compiled, readable by all. Atomic via rename."""
    target = code_root / digest
    if target.is_dir():
        if stat.S_IMODE(target.stat().st_mode) != 0o755:  # extracted by an older nubis (0700)
            world_readable(target)
        return target
    code_root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=code_root, prefix=".extract-"))
    try:
        with zipfile.ZipFile(blobs.path(digest)) as zf:
            for info in zf.infolist():
                zf.extract(info, tmp)
                mode = (info.external_attr >> 16) & 0o777
                if mode and not info.is_dir():
                    os.chmod(tmp / info.filename, mode | stat.S_IRUSR)
        compileall.compile_dir(str(tmp), quiet=2, workers=1)
        world_readable(tmp)
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not target.is_dir():  # not just "someone else extracted it first"
            raise
    return target
