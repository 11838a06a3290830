"""Helpers for end-to-end tests: start a real `nubis server`, build zips, create functions."""
from __future__ import annotations

import base64
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

ROLE = "arn:aws:iam::000000000000:role/lambda-role"

# A function that writes each event it receives to a file of its own (<uuid>.json) in OUT_DIR.
RECORDER = """
import json, os, uuid
def handler(event, context):
    path = os.path.join(os.environ["OUT_DIR"], uuid.uuid4().hex + ".json")
    with open(path + ".tmp", "w") as f:  # whole files only: the test polls the directory
        json.dump(event, f)
    os.rename(path + ".tmp", path)
"""


@dataclass
class NubisServer:
    endpoint: str
    data_dir: Path
    proc: subprocess.Popen
    log_path: Path

    def client(self, service: str, account: str | None = None, secret: str = "test", **config) -> object:
        return boto3.client(
            service, endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=account or "test", aws_secret_access_key=secret,
            config=Config(retries={"max_attempts": 0}, read_timeout=120, **config))

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(data_dir: Path, *extra: str, port: int = 0, env: dict[str, str] | None = None) -> NubisServer:
    log_path = data_dir.parent / f"{data_dir.name}-server.log"
    offset = log_path.stat().st_size if log_path.exists() else 0  # a restart appends to the same log
    out = open(log_path, "ab")
    env = dict(os.environ, NUBIS_LOG_LEVEL="INFO", PYTHONUNBUFFERED="1", **(env or {}))
    proc = subprocess.Popen([sys.executable, "-m", "nubis", "server", "--port", str(port), "--data-dir",
                             str(data_dir), *extra], stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 30
    while time.time() < deadline:
        text = log_path.read_bytes()[offset:].decode(errors="replace")
        for line in text.splitlines()[::-1]:
            if "listening on http://" in line:
                endpoint = line.split("listening on ")[1].strip()
                return NubisServer(endpoint, data_dir, proc, log_path)
        if proc.poll() is not None:
            raise RuntimeError(f"nubis server exited early:\n{text}")
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"nubis server did not start:\n{log_path.read_text()}")


def stop_server(server: NubisServer, sig: int = signal.SIGTERM) -> int:
    if server.proc.poll() is None:
        server.proc.send_signal(sig)
        try:
            return server.proc.wait(30)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            return server.proc.wait()
    return server.proc.returncode


def make_zip(files: dict[str, str | bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            zf.writestr(info, content)
    return buf.getvalue()


def wait_for(predicate, timeout: float = 90.0, interval: float = 0.1):
    """predicate()'s first truthy value, polled until `timeout`; after it, its last (falsy) value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def unique(prefix: str = "fn") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def writable_by_functions(path: Path) -> None:
    """Let confined functions (uids of their own) write to ``path``: it must lie in a directory the
    server shares with them (NUBIS_SHARED_DIRS, set by conftest to the session's temp dir)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o1777)
    shared = os.environ.get("NUBIS_SHARED_DIRS", "").split(":")
    for parent in path.parents:
        if not any(str(parent).startswith(s.rstrip("/") + "/") for s in shared if s):
            break
        parent.chmod(parent.stat().st_mode | 0o111)


def create_function(lam, code: str | dict[str, str], name: str | None = None, handler: str = "app.handler",
                    wait: bool = True, **kwargs) -> str:
    """Create a function from ``code`` (source of app.py, or {path: content}). A variable ``OUT_DIR``
    in its Environment names a directory the function writes to (made writable for it)."""
    out = ((kwargs.get("Environment") or {}).get("Variables") or {}).get("OUT_DIR")
    if out:
        writable_by_functions(Path(out))
    name = name or unique()
    files = {"app.py": code} if isinstance(code, str) else code
    lam.create_function(FunctionName=name, Runtime=kwargs.pop("Runtime", "python3.12"), Role=ROLE,
                        Handler=handler, Code={"ZipFile": make_zip(files)}, **kwargs)
    if wait:
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    return name


def invoke_tail(lam, name: str, qualifier: str | None = None, event: dict | None = None) -> tuple[dict, str]:
    """Invoke with LogType=Tail: the decoded payload and the decoded log tail."""
    kw = {"Qualifier": qualifier} if qualifier else {}
    resp = lam.invoke(FunctionName=name, LogType="Tail", Payload=json.dumps(event or {}), **kw)
    return json.loads(resp["Payload"].read()), base64.b64decode(resp["LogResult"]).decode()


def report_line(log: str) -> str:
    """The last REPORT line of a log tail."""
    return [line for line in log.splitlines() if line.startswith("REPORT ")][-1]


def error_of(exc) -> tuple[int, str, str]:
    """(HTTP status, error code, message) of a ``pytest.raises(ClientError)`` result."""
    r = exc.value.response
    return r["ResponseMetadata"]["HTTPStatusCode"], r["Error"]["Code"], r["Error"]["Message"]


def recorded(out: Path) -> list[dict]:
    """The events RECORDER wrote to ``out``, oldest first ([] before the directory exists)."""
    if not out.exists():
        return []
    done = [p for p in out.iterdir() if p.suffix != ".tmp"]  # the recorder renames whole files into place
    return [json.loads(p.read_text()) for p in sorted(done, key=lambda p: p.stat().st_mtime)]
