"""Warm invoke round trip through the engine (not a test; run by hand).

    .venv/bin/python tests/unit/engine/warm_roundtrip.py [N] [asyncio|uvloop]

Measures ``await engine.invoke(...)`` on a warm environment with a handler that
returns its event (no output), and, in the same run, a bare baseline: one
write over a socketpair to a Python child that echoes it (no handler, no
logs, no engine), so the engine's own overhead shows as a difference/ratio.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from nubis.engine import Engine, FunctionSpec, Invocation


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


_ECHO_CHILD = r"""
import os, sys
fd = int(sys.argv[1])
while True:
    d = os.read(fd, 65536)
    if not d:
        break
    os.write(fd, d)
"""


async def baseline(n: int) -> list[float]:
    """Bare IPC: one write to a Python child over a socketpair and its echo back."""
    import os
    import socket
    import subprocess

    a, b = socket.socketpair()
    p = subprocess.Popen([sys.executable, "-c", _ECHO_CHILD, str(b.fileno())], pass_fds=(b.fileno(),))
    b.close()
    loop = asyncio.get_running_loop()
    box: list = [None]

    class Echo(asyncio.Protocol):
        def data_received(self, d):
            box[0].set_result(d)

    a.setblocking(False)
    t, _ = await loop.connect_accepted_socket(Echo, sock=a)
    lat = []
    for i in range(n + 500):
        box[0] = loop.create_future()
        s = time.perf_counter()
        t.write(b"x" * 80)
        await box[0]
        if i >= 500:
            lat.append((time.perf_counter() - s) * 1e6)
    t.close()
    await asyncio.sleep(0.05)
    p.wait()
    return lat


async def main(n: int) -> None:
    d = Path(tempfile.mkdtemp())
    d.chmod(0o755)  # functions run under uids of their own: code must be readable by all, as on Lambda
    (d / "app.py").write_text("def handler(event, context):\n    return event\n")
    spec = FunctionSpec(
        key="bench", function_name="bench", function_arn="arn:aws:lambda:us-east-1:000000000000:function:bench",
        version="$LATEST", runtime="python3.11", handler="app.handler", code_dir=str(d), memory_mb=128,
        timeout_s=30, environment={}, region="us-east-1", account="000000000000", log_group="/aws/lambda/bench",
        extra_env={}, scope="bench",
    )
    eng = Engine(log_sink=lambda g, s, e: None, meter_sink=lambda r, s, o: None)
    payload = b'{"hello":"world"}'
    await eng.invoke(spec, Invocation(str(uuid.uuid4()), payload, spec.function_arn))  # cold
    for _ in range(500):
        await eng.invoke(spec, Invocation(str(uuid.uuid4()), payload, spec.function_arn))
    lat = []
    handler_ms = []
    for _ in range(n):
        inv = Invocation(str(uuid.uuid4()), payload, spec.function_arn)
        t = time.perf_counter()
        r = await eng.invoke(spec, inv)
        lat.append((time.perf_counter() - t) * 1e6)
        handler_ms.append(r.duration_ms * 1000)
    await eng.shutdown()
    base = await baseline(n)
    print(f"engine.invoke warm round trip over {n}: p50 {pct(lat, 50):.0f} us  p99 {pct(lat, 99):.0f} us  "
          f"mean {statistics.mean(lat):.0f} us   (REPORT Duration p50 {pct(handler_ms, 50):.0f} us)")
    print(f"bare socketpair echo to a Python child:  p50 {pct(base, 50):.0f} us  p99 {pct(base, 99):.0f} us  "
          f"-> engine overhead p50 {pct(lat, 50) - pct(base, 50):.0f} us, ratio {pct(lat, 50) / pct(base, 50):.2f}x")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    kind = sys.argv[2] if len(sys.argv) > 2 else "uvloop"
    if kind == "uvloop":
        import uvloop

        uvloop.run(main(n))
    else:
        asyncio.run(main(n))
