"""Shared pieces for benchmarks: raw keep-alive HTTP clients, baselines, a nubis server, /proc readers.

Benchmarks never use boto3 on the measured path (it costs ~0.7 ms per call on its own); boto3 is
only used for setup (CreateFunction). Every process is started with ``sys.executable`` (``python3``
on PATH may be a slow shim) and every target is 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

from nubis_testing import ROLE, make_zip, start_server, stop_server  # noqa: E402

PAYLOAD_1K = b'{"data": "' + b"x" * 1000 + b'"}'  # 1,014 bytes of JSON
INVOKE_PATH = "/2015-03-31/functions/{name}/invocations"


class RawClient:
    """Minimal HTTP/1.1 keep-alive client: one socket, Content-Length bodies only."""

    def __init__(self, host: str, port: int) -> None:
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, raw: bytes) -> None:
        self.sock.sendall(raw)

    def response(self) -> tuple[int, bytes]:
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

    def request(self, raw: bytes) -> tuple[int, bytes]:
        self.send(raw)
        return self.response()

    def _recv(self) -> None:
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def close(self) -> None:
        self.sock.close()


async def async_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> tuple[int, bytes]:
    """One request/response on an open asyncio stream (Content-Length bodies only)."""
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v)
    return status, await reader.readexactly(length)


def build_request(method: str, host: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def percentiles(samples_s: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in samples_s)
    return {"p50": statistics.median(ms), "p99": ms[min(len(ms) - 1, int(len(ms) * 0.99))], "n": len(ms)}


def median_ms(samples_s: list[float]) -> float:
    return statistics.median(samples_s) * 1000


def time_requests(client: RawClient, raw: bytes, n: int, warmup: int = 200, budget_s: float | None = None) -> list[float]:
    """Time ``n`` sequential requests (after ``warmup``); stop early once ``budget_s`` is spent."""
    for _ in range(warmup):
        status, body = client.request(raw)
        if status >= 400:
            raise RuntimeError(f"request failed with {status}: {body[:300]!r}")
    out = []
    deadline = time.perf_counter() + budget_s if budget_s else None
    for _ in range(n):
        t0 = time.perf_counter()
        status, body = client.request(raw)
        out.append(time.perf_counter() - t0)
        if status >= 400:
            raise RuntimeError(f"request failed with {status}: {body[:300]!r}")
        if deadline and t0 > deadline:
            break
    return out


def time_command(argv: list[str], n: int, warmup: int = 1, env: dict[str, str] | None = None) -> list[float]:
    """Wall time of ``n`` runs of a command (after ``warmup`` runs that fill the page cache)."""
    out = []
    for i in range(warmup + n):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, env=env)
        if i >= warmup:
            out.append(time.perf_counter() - t0)
    return out


def bare_python_start(n: int) -> list[float]:
    """The cold-start yardstick: a bare interpreter start, ``python -I -S -c pass``."""
    return time_command([sys.executable, "-I", "-S", "-c", "pass"], n)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 20.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited early with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout:.0f} s")


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


def warm_baseline(n: int, payload: bytes = PAYLOAD_1K) -> dict[str, float]:
    """p50/p99 of sequential keep-alive requests against the raw asyncio responder."""
    with BaselineResponder() as port:
        client = RawClient("127.0.0.1", port)
        try:
            return percentiles(time_requests(client, build_request("POST", f"127.0.0.1:{port}", "/", payload), n))
        finally:
            client.close()


class CreateRefused(Exception):
    """CreateFunction answered an error (e.g. InvalidParameterValueException for a runtime)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Nubis:
    """A real ``nubis server`` on a free loopback port with a throw-away data dir."""

    def __init__(self, *server_args: str, env: dict[str, str] | None = None) -> None:
        self.server_args = server_args
        self.env = env  # extra environment variables for the server

    def __enter__(self) -> "Nubis":
        self.tmp = tempfile.TemporaryDirectory(prefix="nubis-bench-")
        self.server = start_server(Path(self.tmp.name) / "data", *self.server_args, env=self.env)
        host_port = self.server.endpoint.removeprefix("http://")
        self.host, port = host_port.split(":")
        self.port = int(port)
        self._lambda = None
        return self

    def __exit__(self, *exc: object) -> None:
        stop_server(self.server)
        self.tmp.cleanup()

    def keep_log(self, label: str) -> tuple[Path, list[str]]:
        """Copy the server log out of the throw-away data dir.

        Returns its new path and a summary: each distinct exception line and WARNING line with its count.
        """
        dest = Path(tempfile.gettempdir()) / f"nubis-bench-{label}-{os.getpid()}.log"
        text = self.server.log()
        dest.write_text(text)
        counts: dict[str, int] = {}
        for line in text.splitlines():
            if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b", line):
                key = line[:200]
            elif " WARNING " in line:
                key = re.sub(r"\d+", "N", line.split(" WARNING ", 1)[1])[:200]
            else:
                continue
            counts[key] = counts.get(key, 0) + 1
        return dest, [f"{n} x {k}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])]

    @property
    def pid(self) -> int:
        return self.server.proc.pid

    @property
    def lam(self):
        if self._lambda is None:
            self._lambda = self.server.client("lambda")
        return self._lambda

    def create_function(self, name: str, code: str | None = None, *, files: dict[str, str | bytes] | None = None,
                        runtime: str = "python3.12", handler: str = "app.handler", memory: int = 128,
                        timeout: int = 30) -> None:
        """CreateFunction (boto3: setup only) and wait until Active. Raises CreateRefused on an API error."""
        from botocore.exceptions import ClientError

        files = files if files is not None else {"app.py": code or ""}
        try:
            self.lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, MemorySize=memory,
                                     Timeout=timeout, Role=ROLE, Code={"ZipFile": make_zip(files)})
        except ClientError as e:
            err = e.response.get("Error", {})
            raise CreateRefused(err.get("Code", "?"), err.get("Message", "")) from None
        self.lam.get_waiter("function_active_v2").wait(FunctionName=name,
                                                       WaiterConfig={"Delay": 0.05, "MaxAttempts": 600})

    def invoke_request(self, name: str, body: bytes = PAYLOAD_1K) -> bytes:
        return build_request("POST", f"{self.host}:{self.port}", INVOKE_PATH.format(name=name), body)

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.port}" + INVOKE_PATH.format(name=name)


# ----------------------------------------------------------------------------- /proc


def process_tree() -> dict[int, list[int]]:
    """ppid -> child pids, for every process visible in /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(b")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def descendants(pid: int, tree: dict[int, list[int]] | None = None) -> list[int]:
    tree = tree if tree is not None else process_tree()
    out, todo = [], list(tree.get(pid, ()))
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, ()))
    return out


def is_spare(pid: int) -> bool:
    """A zygote's spare fork has no job yet: it still runs in "/" (an environment runs in its task root)."""
    try:
        return os.readlink(f"/proc/{pid}/cwd") == "/"
    except OSError:
        return False


def environment_pids(server_pid: int, tree: dict[int, list[int]] | None = None) -> list[int]:
    """Execution environments under a server: descendants with no children of their own (a zygote
    or any helper that parents environments is not one) that are not spare forks."""
    tree = tree if tree is not None else process_tree()
    return [p for p in descendants(server_pid, tree) if not tree.get(p) and not is_spare(p)]


def pss_kb(pid: int) -> int | None:
    """Proportional set size in kB (``/proc/<pid>/smaps_rollup``), or None if the process is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def bare_python_pss_kb() -> int:
    """PSS of a bare sleeping interpreter, ``python -I -S -c 'import time; time.sleep(5)'``."""
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", "import time; time.sleep(5)"])
    try:
        time.sleep(0.5)  # well past startup: the process is asleep
        pss = pss_kb(proc.pid)
        if pss is None:
            raise RuntimeError("could not read the baseline process's smaps_rollup")
        return pss
    finally:
        proc.kill()
        proc.wait()


def which_wrk() -> str | None:
    return shutil.which("wrk")
