"""Deployment packages for `nubis deploy` and `nubis layer`: a folder zipped reproducibly (same folder,
same zip, same CodeSha256), a .zip sent as is, or one source file zipped under its own name."""
from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

from nubis.cli_errors import CliError

ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps -> same folder, same zip, same CodeSha256
SKIP_DIRS = frozenset({"__pycache__"})


def zip_directory(root: Path) -> bytes:
    """Zip a folder in memory, reproducibly: sorted paths, fixed timestamps, mode 0755 for files
    with any exec bit (so `bootstrap` scripts stay runnable) and 0644 otherwise. `__pycache__`
    folders are left out since they change on every run. Symlinks to files are stored as the file."""
    root = Path(root)
    buf = io.BytesIO()
    count = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if not path.is_file():
                    continue  # dangling symlink, socket, ...
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=ZIP_EPOCH)
                executable = path.stat().st_mode & 0o111
                info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
                info.create_system = 3  # unix, so unzip honours the mode bits
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
                count += 1
    if count == 0:
        raise CliError(f"nothing to deploy: {root} has no files", 2)
    return buf.getvalue()


def load_code(path: Path) -> bytes:
    """Deployment package bytes from a folder (zipped here), a .zip file (sent as is) or a single
    source file (zipped under its own name)."""
    path = Path(path).expanduser()
    if path.is_dir():
        return zip_directory(path)
    if path.is_file():
        if zipfile.is_zipfile(path):
            return path.read_bytes()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            info = zipfile.ZipInfo(path.name, date_time=ZIP_EPOCH)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
        return buf.getvalue()
    raise CliError(f"no such file or folder: {path}", 2)
