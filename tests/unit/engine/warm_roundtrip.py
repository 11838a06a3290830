"""Warm invoke round trip through the engine (not a test; run by hand).

    .venv/bin/python tests/unit/engine/warm_roundtrip.py [N] [asyncio|uvloop]

Measures ``await engine.invoke(...)`` on a warm environment with a handler that
returns its event (no output), and a bare baseline: the same frame protocol
over a socketpair to a child that echoes (no handler, no logs, no engine).
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


async def main(n: int) -> None:
    d = Path(tempfile.mkdtemp())
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
    print(f"engine.invoke warm round trip over {n}: p50 {pct(lat, 50):.0f} us  p99 {pct(lat, 99):.0f} us  "
          f"mean {statistics.mean(lat):.0f} us   (REPORT Duration p50 {pct(handler_ms, 50):.0f} us)")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    kind = sys.argv[2] if len(sys.argv) > 2 else "uvloop"
    if kind == "uvloop":
        import uvloop

        uvloop.run(main(n))
    else:
        asyncio.run(main(n))
