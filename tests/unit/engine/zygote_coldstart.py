"""Python cold starts through the engine, with the zygote and without (not a test; run by hand).

    .venv/bin/python tests/unit/engine/zygote_coldstart.py [N] [asyncio|uvloop]

Prints, from one run, each figure next to a baseline measured in the same run:

* cold start of a fresh environment (``await engine.invoke`` of a function with no warm
  environment: fork, INIT, the invocation, the log and metering records), zygote warm, median of
  N, against starting a bare interpreter ``sys.executable -I -S -c pass`` (target <= 0.3x);
* the same with a handler module that does ``import boto3``, against
  ``sys.executable -c 'import boto3'`` (target <= 0.1x);
* the first cold start of a new engine, which also starts the zygote;
* PSS (and private memory) per warm idle environment, from /proc/<pid>/smaps_rollup (target <= 4 MB),
  with 1, 10 and 20 environments alive.

Cold starts are spaced by a short pause (the zygote forks its next spare in the background after
one is taken); a back-to-back series is printed too. The exec launcher (zygote off) is measured
for reference. Medians of small samples on a shared host: compare ratios, not absolute numbers.
"""

from __future__ import annotations

import asyncio
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from nubis.engine import Engine, FunctionSpec, Invocation

HELLO = "def handler(event, context):\n    return {'pid': __import__('os').getpid()}\n"
BOTO3 = "import boto3\n\ndef handler(event, context):\n    return {'pid': __import__('os').getpid()}\n"
SLEEPY = (
    "import os, time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n"
    "    return {'pid': os.getpid()}\n"
)
GAP_S = 0.06  # between spaced cold starts


def med(xs) -> float:
    return statistics.median(xs)


def spec_for(code_dir: str, key: str) -> FunctionSpec:
    return FunctionSpec(
        key=key,
        function_name="bench",
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:bench",
        version="$LATEST",
        runtime="python3.12",
        handler="app.handler",
        code_dir=code_dir,
        memory_mb=128,
        timeout_s=10,
        environment={},
        region="us-east-1",
        account="000000000000",
        log_group="/aws/lambda/bench",
        extra_env={},
        scope="000000000000/us-east-1",
    )


def inv(payload: bytes = b"{}") -> Invocation:
    return Invocation(request_id=str(uuid.uuid4()), payload=payload, invoked_arn="arn")


def code_dir(root: Path, name: str, source: str) -> str:
    d = root / name
    d.mkdir()
    (d / "app.py").write_text(source)
    compileall.compile_dir(str(d), quiet=2)  # as the server does at deploy time
    return str(d)


def spawn_ms(argv: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(argv, check=True)
    return (time.perf_counter() - t) * 1000.0


def engine(**kw) -> Engine:
    return Engine(log_sink=lambda *a: None, meter_sink=lambda *a: None, **kw)


async def cold_series(eng: Engine, d: str, n: int, baseline: list[str] | None, gap: float):
    """n cold starts (each a new function revision), interleaved with n baseline spawns."""
    colds, inits, bases = [], [], []
    loop = asyncio.get_running_loop()
    for i in range(n):
        if baseline is not None:
            bases.append(await loop.run_in_executor(None, spawn_ms, baseline))
        spec = spec_for(d, f"bench:{uuid.uuid4().hex}")
        await asyncio.sleep(gap)
        t = time.perf_counter()
        r = await eng.invoke(spec, inv())
        colds.append((time.perf_counter() - t) * 1000.0)
        assert r.function_error is None and r.cold, r.payload
        inits.append(r.init_ms)
        eng.retire(spec.key)
    return colds, inits, bases


def smaps_rollup(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        k, v = line.split(":", 1)
        out[k] = int(v.split()[0])
    return out


async def memory(eng: Engine, d: str, n: int) -> dict:
    spec = spec_for(d, f"mem:{uuid.uuid4().hex}")
    rs = await asyncio.gather(*(eng.invoke(spec, inv(b'{"sleep": 0.5}')) for _ in range(n)))
    pids = sorted({int(__import__("json").loads(r.payload)["pid"]) for r in rs})
    await asyncio.sleep(0.3)  # idle
    per = [smaps_rollup(p) for p in pids]
    pss = [m["Pss"] for m in per]
    uss = [m["Private_Clean"] + m["Private_Dirty"] for m in per]
    rss = [m["Rss"] for m in per]
    z = eng.zygote
    tree = sum(pss)
    extra = []
    if z.pid is not None and z.state == "ready":
        extra.append(z.pid)
        extra.extend(s.pid for s in z._spares)
    tree += sum(smaps_rollup(p)["Pss"] for p in extra)
    eng.retire(spec.key)
    await asyncio.sleep(0.2)
    return {"n": len(pids), "pss": med(pss), "uss": med(uss), "rss": med(rss), "tree_per_env": tree / len(pids)}


async def main(n: int) -> None:
    py = sys.executable
    bare = [py, "-I", "-S", "-c", "pass"]
    boto = [py, "-c", "import boto3"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        hello = code_dir(root, "hello", HELLO)
        b3 = code_dir(root, "boto3", BOTO3)
        sleepy = code_dir(root, "sleepy", SLEEPY)

        # First cold start of a fresh engine: includes starting the zygote (and importing boto3 there).
        firsts, firsts_exec, zstart = [], [], []
        for _ in range(5):
            for use in (True, False):
                eng = engine(zygote=use)
                spec = spec_for(hello, "first")
                t = time.perf_counter()
                r = await eng.invoke(spec, inv())
                ms = (time.perf_counter() - t) * 1000.0
                assert r.function_error is None
                (firsts if use else firsts_exec).append(ms)
                if use:
                    zstart.append(eng.zygote.last_start_s * 1000.0)
                await eng.shutdown()

        eng = engine()
        x = engine(zygote=False)
        try:
            await eng.invoke(spec_for(hello, "warmup"), inv())  # the zygote is warm from here on
            eng.retire("warmup")
            await x.invoke(spec_for(hello, "warmup"), inv())
            x.retire("warmup")

            cz, iz, base = await cold_series(eng, hello, n, bare, GAP_S)
            cz_b2b, _, _ = await cold_series(eng, hello, n, None, 0.0)
            cx, ix, base2 = await cold_series(x, hello, max(10, n // 2), bare, GAP_S)
            bz, ibz, bbase = await cold_series(eng, b3, max(10, n // 2), boto, GAP_S)
            bx, _, _ = await cold_series(x, b3, 5, None, GAP_S)
            assert eng.zygote.execs == 0, "every environment above must have been forked"

            mem_z = [await memory(eng, sleepy, k) for k in (1, 10, 20)]
            mem_x = [await memory(x, sleepy, k) for k in (1, 10)]
        finally:
            await eng.shutdown()
            await x.shutdown()

    b = med(base + base2)
    print(f"cold start, zygote warm, hello handler   : {med(cz):7.2f} ms  (INIT {med(iz):.2f} ms)  n={len(cz)}")
    print(f"  baseline: {' '.join(bare[1:])!s:24}: {b:7.2f} ms  n={len(base + base2)}")
    print(f"  ratio                                   : {med(cz) / b:7.2f}x   (target <= 0.3x)")
    print(f"  back to back (no pause, spare not ready): {med(cz_b2b):7.2f} ms  ratio {med(cz_b2b) / b:.2f}x")
    print(f"  exec launcher (zygote off)              : {med(cx):7.2f} ms  (INIT {med(ix):.2f} ms)  ratio {med(cx) / b:.2f}x")
    bb = med(bbase)
    print(f"cold start, handler does `import boto3`  : {med(bz):7.2f} ms  (INIT {med(ibz):.2f} ms)")
    print(f"  baseline: python -c 'import boto3'      : {bb:7.2f} ms")
    print(f"  ratio                                   : {med(bz) / bb:7.2f}x   (target <= 0.1x)")
    print(f"  exec launcher (zygote off)              : {med(bx):7.2f} ms  ratio {med(bx) / bb:.2f}x")
    print(f"first cold start of a new engine (zygote start included): {med(firsts):7.2f} ms "
          f"(zygote start {med(zstart):.0f} ms; exec launcher's first: {med(firsts_exec):.2f} ms)")
    print("memory per warm idle environment (median, kB):")
    for label, rows in (("zygote", mem_z), ("exec  ", mem_x)):
        for m in rows:
            print(f"  {label} {m['n']:3d} envs: PSS {m['pss']:7.0f}  private {m['uss']:7.0f}  RSS {m['rss']:7.0f}"
                  + (f"  (all PSS incl. zygote + spare / envs: {m['tree_per_env']:.0f})" if label == "zygote" else ""))
    print("  target: PSS <= 4096 kB per environment")


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    kind = sys.argv[2] if len(sys.argv) > 2 else "uvloop"
    if kind == "uvloop":
        import uvloop

        uvloop.run(main(n))
    else:
        asyncio.run(main(n))
