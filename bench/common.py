"""Shared pieces for benchmarks: a raw keep-alive HTTP client, a baseline responder, a nubis server.

Benchmarks never use boto3 on the measured path (it costs ~0.7 ms per call on its own).
"""
from __future__ import annotations

import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from nubis_testing import start_server, stop_server  # noqa: E402


class RawClient:
    """Minimal HTTP/1.1 keep-alive client: one socket, Content-Length bodies only."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def request(self, raw: bytes) -> tuple[int, bytes]:
        self.sock.sendall(raw)
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, _, _ = self.buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        start = len(head) + 4
        while len(self.buf) < start + length:
            self._recv()
        body, self.buf = self.buf[start:start + length], self.buf[start + length:]
        return status, body

    def _recv(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def close(self) -> None:
        self.sock.close()


def build_request(method: str, host: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    return {"p50": statistics.median(ms), "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))], "n": len(ms)}


def time_requests(client: RawClient, raw: bytes, n: int, warmup: int = 200) -> list[float]:
    for _ in range(warmup):
        client.request(raw)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, _ = client.request(raw)
        out.append(time.perf_counter() - t0)
        if status >= 400:
            raise RuntimeError(f"request failed with {status}")
    return out


BASELINE_RESPONDER = r'''
import asyncio, sys
class P(asyncio.Protocol):
    def connection_made(self, t): self.t = t; self.buf = b""
    def data_received(self, d):
        self.buf += d
        while b"\r\n\r\n" in self.buf:
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length": n = int(v)
            if len(rest) < n: return
            body, self.buf = rest[:n], rest[n:]
            self.t.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
async def main():
    srv = await asyncio.get_running_loop().create_server(P, "127.0.0.1", 0)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
'''


class BaselineResponder:
    """A raw asyncio HTTP echo: the floor any Python HTTP server on this box can reach."""

    def __enter__(self) -> int:
        self.proc = subprocess.Popen([sys.executable, "-c", BASELINE_RESPONDER], stdout=subprocess.PIPE, text=True)
        return int(self.proc.stdout.readline())

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()
        self.proc.wait()


class Nubis:
    def __enter__(self) -> "Nubis":
        self.tmp = tempfile.TemporaryDirectory(prefix="nubis-bench-")
        self.server = start_server(Path(self.tmp.name) / "data")
        host_port = self.server.endpoint.removeprefix("http://")
        self.host, port = host_port.split(":")
        self.port = int(port)
        return self

    def __exit__(self, *exc: object) -> None:
        stop_server(self.server)
        self.tmp.cleanup()

    def create_function(self, name: str, code: str, memory: int = 128) -> None:
        lam = self.server.client("lambda")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("app.py", code)
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", MemorySize=memory,
                            Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": buf.getvalue()})
        lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05})

    def invoke_request(self, name: str, body: bytes) -> bytes:
        return build_request("POST", f"{self.host}:{self.port}", f"/2015-03-31/functions/{name}/invocations", body)


def time_command(argv: list[str], n: int) -> list[float]:
    out = []
    env = dict(os.environ)
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, env=env)
        out.append(time.perf_counter() - t0)
    return out
