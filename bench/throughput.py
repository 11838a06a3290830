"""Invoke throughput under 32 concurrent keep-alive clients (wrk), against uvicorn measured in this run.

nubis: `wrk -t2 -c32 -d10s -s post.lua` POSTing a 1 KB JSON body to
/2015-03-31/functions/noop/invocations (a no-op Python handler). A first wrk run of the same shape
(--warmup seconds) brings up to 32 execution environments warm before the measured run.
Baseline: the same wrk against a hello-world ASGI app (bench/_hello_asgi.py) on uvicorn with
`--loop uvloop --http httptools --log-level warning`, one process, warmed up the same way.
Prints requests/s for both and the ratio (target >= 0.5x). Needs `wrk` (apt-get install wrk) and
uvicorn (the `bench` extra); prints a skip line and exits 0 without them.

Run: .venv/bin/python bench/throughput.py [--duration 10] [--connections 32] [--threads 2] [--warmup 3]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from common import Nubis, environment_pids, free_port, wait_port, which_wrk

HERE = Path(__file__).resolve().parent
LUA = HERE / "post.lua"
NOOP = "def handler(event, context):\n    return event\n"


def run_wrk(wrk: str, url: str, args: argparse.Namespace, duration: float, script: Path | None = LUA) -> dict:
    """One wrk run; `script` None sends plain GETs instead of bench/post.lua's 1 KB JSON POST."""
    argv = [wrk, f"-t{args.threads}", f"-c{args.connections}", f"-d{duration:g}s", "--latency",
            *(["-s", str(script)] if script else []), url]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 30)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr or out.stdout}")
    text = out.stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{text}")
    res = {"rps": float(m.group(1)), "non2xx": 0, "errors": 0, "p50": "?", "p99": "?"}
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        res["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        res["errors"] = sum(int(g) for g in m.groups())
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}(?:\.000)?%\s+(\S+)", text, re.M)
        if m:
            res[f"p{pct}"] = m.group(1)
    return res


def describe(label: str, r: dict) -> str:
    bad = f"  non-2xx {r['non2xx']}  socket errors {r['errors']}" if r["non2xx"] or r["errors"] else ""
    return f"{label:<16}{r['rps']:>10.0f} req/s  latency p50 {r['p50']:>8}  p99 {r['p99']:>8}{bad}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=10, help="seconds of each measured wrk run (default 10)")
    ap.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections (default 32)")
    ap.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    ap.add_argument("--warmup", type=float, default=3, help="seconds of the warm-up wrk run before each (default 3)")
    args = ap.parse_args()

    wrk = which_wrk()
    if wrk is None:
        print("SKIP throughput: `wrk` is not installed (`make bench` installs it as root: apt-get install -y wrk)")
        return 0
    try:
        import uvicorn  # noqa: F401
    except ImportError:
        print("SKIP throughput: uvicorn is not installed (pip install -e '.[bench]')")
        return 0

    # Baseline: hello-world ASGI on uvicorn.
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--app-dir", str(HERE), "_hello_asgi:app",
                             "--host", "127.0.0.1", "--port", str(port), "--loop", "uvloop", "--http", "httptools",
                             "--log-level", "warning"], stdin=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        url = f"http://127.0.0.1:{port}/2015-03-31/functions/noop/invocations"
        run_wrk(wrk, url, args, args.warmup)
        base = run_wrk(wrk, url, args, args.duration)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    with Nubis() as nubis:
        nubis.create_function("noop", NOOP)
        url = nubis.url("noop")
        warm = run_wrk(wrk, url, args, args.warmup)  # brings up to `connections` environments warm
        envs_warm = len(environment_pids(nubis.pid))
        nub = run_wrk(wrk, url, args, args.duration)
        envs_after = len(environment_pids(nubis.pid))

    print(f"load: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s, 1 KB JSON POST, keep-alive")
    print(describe("nubis invoke", nub))
    print(describe("uvicorn hello", base) + "  (baseline)")
    print(f"ratio           {nub['rps'] / base['rps']:.2f}x  (target >= 0.5x)")
    print(f"environments    {envs_warm} after the {args.warmup:g} s warm-up, {envs_after} after the measured run")
    if warm["non2xx"] or warm["errors"]:
        print(f"note: the warm-up run had non-2xx {warm['non2xx']}, socket errors {warm['errors']}")
    if nub["non2xx"] or nub["errors"] or base["non2xx"] or base["errors"]:
        print("FAILED: some requests were not answered with 2xx")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
