"""Cold and warm invoke for every runtime family, through the engine (not a test; run by hand).

    .venv/bin/python tests/unit/engine/api_roundtrip.py [WARM_N] [COLD_N] [asyncio|uvloop]

In one run, for the same echo handler on each runtime, measures ``await engine.invoke(...)``:

* cold: a fresh function (new pool) each time, so the time includes launching the runtime
  and its INIT (also reported: the REPORT line's Init Duration);
* warm: the same environment again and again.

Runtimes: python3.11 (nubis's private channel; the baseline), nodejs20.x (nubis's Node
client over the Runtime API), provided.al2023 with awslambdaric (stock Python client over
the Runtime API) and provided.al2023 with the AWS tutorial's bash + curl bootstrap.
Figures are medians and p90 in milliseconds; ratios are against python3.11 in the same run.
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from nubis.engine import Engine, FunctionSpec, Invocation

TUTORIAL_BOOTSTRAP = """#!/bin/sh
set -euo pipefail
source $LAMBDA_TASK_ROOT/"$(echo $_HANDLER | cut -d. -f1).sh"
while true
do
  HEADERS="$(mktemp)"
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA")
  curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response"  -d "$RESPONSE"
done
"""


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def make_code(kind: str) -> tuple[str, str, str]:
    """(runtime, handler, code dir) for an echo function."""
    d = Path(tempfile.mkdtemp(prefix=f"nubis-bench-{kind}-"))
    d.chmod(0o755)  # functions run under uids of their own: code must be readable by all, as on Lambda
    if kind == "python":
        (d / "app.py").write_text("def handler(event, context):\n    return event\n")
        return "python3.11", "app.handler", str(d)
    if kind == "node":
        (d / "index.js").write_text("exports.handler = async (event) => event;\n")
        return "nodejs20.x", "index.handler", str(d)
    if kind == "awslambdaric":
        (d / "app.py").write_text("def handler(event, context):\n    return event\n")
        (d / "bootstrap").write_text(f'#!/bin/sh\nexec {sys.executable} -m awslambdaric "$_HANDLER"\n')
        (d / "bootstrap").chmod(0o755)
        return "provided.al2023", "app.handler", str(d)
    (d / "function.sh").write_text('function handler () {\n  echo "$1"\n}\n')
    (d / "bootstrap").write_text(TUTORIAL_BOOTSTRAP)
    (d / "bootstrap").chmod(0o755)
    return "provided.al2023", "function.handler", str(d)


def spec_for(kind: str, runtime: str, handler: str, code_dir: str, key: str) -> FunctionSpec:
    return FunctionSpec(
        key=key, function_name=f"bench-{kind}", function_arn=f"arn:aws:lambda:us-east-1:000000000000:function:b-{kind}",
        version="$LATEST", runtime=runtime, handler=handler, code_dir=code_dir, memory_mb=128, timeout_s=30,
        environment={}, region="us-east-1", account="000000000000", log_group=f"/aws/lambda/bench-{kind}",
        extra_env={}, scope="bench",
    )


async def measure(eng: Engine, kind: str, warm_n: int, cold_n: int) -> dict:
    runtime, handler, code_dir = make_code(kind)
    payload = b'{"hello": "world", "n": 1}'
    cold, init = [], []
    for i in range(cold_n):
        spec = spec_for(kind, runtime, handler, code_dir, f"{kind}-cold-{i}-{uuid.uuid4().hex}")
        inv = Invocation(request_id=str(uuid.uuid4()), payload=payload, invoked_arn=spec.function_arn)
        t = time.perf_counter()
        r = await eng.invoke(spec, inv)
        cold.append((time.perf_counter() - t) * 1000)
        assert r.function_error is None and r.cold, (kind, r.payload)
        init.append(r.init_ms)
        eng.retire(spec.key)
    spec = spec_for(kind, runtime, handler, code_dir, f"{kind}-warm")
    warm = []
    for i in range(warm_n + 20):
        inv = Invocation(request_id=str(uuid.uuid4()), payload=payload, invoked_arn=spec.function_arn)
        t = time.perf_counter()
        r = await eng.invoke(spec, inv)
        if i >= 20:
            warm.append((time.perf_counter() - t) * 1000)
        assert r.function_error is None, (kind, r.payload)
    eng.retire(spec.key)
    return {"cold": cold, "init": init, "warm": warm}


async def main(warm_n: int, cold_n: int) -> None:
    eng = Engine(log_sink=lambda *a: None, meter_sink=lambda *a: None, keep_alive_s=600)
    kinds = ["python"]
    if shutil.which("node"):
        kinds.append("node")
    try:
        import awslambdaric  # noqa: F401

        kinds.append("awslambdaric")
    except ImportError:
        pass
    if shutil.which("curl") and shutil.which("bash"):
        kinds.append("bash")
    results = {}
    try:
        for kind in kinds:
            n = warm_n if kind != "bash" else max(20, warm_n // 20)  # bash forks ~6 processes per invoke
            results[kind] = await measure(eng, kind, n, cold_n)
    finally:
        await eng.shutdown()
    base = results["python"]
    b_cold, b_warm = statistics.median(base["cold"]), statistics.median(base["warm"])
    print(f"{'runtime':<14} {'cold p50':>9} {'cold p90':>9} {'init p50':>9} {'x py':>6} "
          f"{'warm p50':>9} {'warm p90':>9} {'x py':>6}   (ms; cold n={cold_n})")
    for kind, r in results.items():
        c50, w50 = statistics.median(r["cold"]), statistics.median(r["warm"])
        print(f"{kind:<14} {c50:9.2f} {pct(r['cold'], 90):9.2f} {statistics.median(r['init']):9.2f} "
              f"{c50 / b_cold:6.2f} {w50:9.3f} {pct(r['warm'], 90):9.3f} {w50 / b_warm:6.2f}   (warm n={len(r['warm'])})")


if __name__ == "__main__":
    warm_n = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    cold_n = int(sys.argv[2]) if len(sys.argv) > 2 else 15
    loop_kind = sys.argv[3] if len(sys.argv) > 3 else "uvloop"
    if loop_kind == "uvloop":
        import uvloop

        uvloop.run(main(warm_n, cold_n))
    else:
        asyncio.run(main(warm_n, cold_n))
