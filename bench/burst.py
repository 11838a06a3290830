"""A burst of 500 concurrent invocations of a 1 s handler, then memory per warm idle environment.

Burst: a fresh function whose handler sleeps 1 s; 500 keep-alive connections are opened first, then
500 Invoke requests are sent at once (raw asyncio client, no boto3). Every one must succeed
(failures are printed by status). The wall time from the first send to the last response is
compared with the 1 s ideal (target <= 1.5 s) and with the same burst against an asyncio responder
that sleeps 1 s per request, measured in this run (the client's own overhead).
The server has already run one cold start of another function, so the runtime's one-time start-up
(e.g. its zygote) is not counted.

Memory: after the burst the environments are warm and idle. Each environment process is a
descendant of the server process (children of a zygote count); the mean PSS
(/proc/<pid>/smaps_rollup) per environment (target <= 4 MB) is compared with the PSS of a bare
`python -I -S -c 'import time; time.sleep(5)'` measured in this run. Helpers (zygotes, spare
forks, other processes under the server) are reported apart.

Run: .venv/bin/python bench/burst.py [--n 500] [--sleep 1.0]
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import resource
import statistics
import subprocess
import sys
import time

from common import (Nubis, RawClient, async_request, bare_python_pss_kb, build_request, cmdline, descendants,
                    environment_pids, is_spare, process_tree, pss_kb)

SLEEPY = ("import time\n\n"
          "def handler(event, context):\n"
          "    time.sleep({sleep})\n"
          "    return {{'ok': True}}\n")
NOOP = "def handler(event, context):\n    return event\n"

SLEEP_RESPONDER = r'''
import asyncio, sys
DELAY = float(sys.argv[1])
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            n = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length": n = int(v)
            await reader.readexactly(n)
            await asyncio.sleep(DELAY)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=4096)
    print(srv.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
'''


async def burst(host: str, port: int, raw: bytes, n: int, timeout: float) -> tuple[float, collections.Counter, dict]:
    """Open n connections, then send n requests at once; (wall seconds, Counter of outcomes, a sample body per outcome)."""
    conns = await asyncio.gather(*(asyncio.open_connection(host, port) for _ in range(n)))
    outcomes: collections.Counter = collections.Counter()
    samples: dict = {}

    async def one(reader, writer) -> None:
        try:
            status, body = await async_request(reader, writer, raw)
            key = status if status != 200 or b"errorMessage" not in body else "200 with a function error"
        except Exception as e:  # noqa: BLE001 - every failure is reported by kind
            key, body = type(e).__name__, str(e).encode()
        outcomes[key] += 1
        samples.setdefault(key, body[:200])

    t0 = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(one(r, w) for r, w in conns)), timeout)
    except asyncio.TimeoutError:
        outcomes["no answer in time"] += n - sum(outcomes.values())
    wall = time.perf_counter() - t0
    for _, w in conns:
        w.close()
    return wall, outcomes, samples


def kind(pid: int, tree: dict, before: set) -> str:
    if tree.get(pid):
        return "parent (zygote/helper)"
    if is_spare(pid):
        return "spare fork"
    return "other environment" if pid in before else "other process"


def report_outcomes(label: str, n: int, outcomes: collections.Counter, samples: dict) -> bool:
    ok = outcomes.get(200, 0)
    print(f"{label}: {ok}/{n} succeeded")
    for key, count in sorted(outcomes.items(), key=lambda kv: str(kv[0])):
        if key != 200:
            print(f"  FAILED {count} x {key}: {samples.get(key, b'')!r}")
    return ok == n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=500, help="concurrent invocations (default 500)")
    ap.add_argument("--sleep", type=float, default=1.0, help="seconds the handler sleeps (default 1.0)")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait after the burst before reading PSS")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.n + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, args.n * 4), hard))
    timeout = args.sleep + 60

    # Baseline: the same burst against an asyncio responder that sleeps per request.
    proc = subprocess.Popen([sys.executable, "-c", SLEEP_RESPONDER, str(args.sleep)], stdout=subprocess.PIPE, text=True)
    try:
        port = int(proc.stdout.readline())
        raw = build_request("POST", f"127.0.0.1:{port}", "/", b"{}")
        base_wall, base_out, base_samples = asyncio.run(burst("127.0.0.1", port, raw, args.n, timeout))
    finally:
        proc.kill()
        proc.wait()

    with Nubis() as nubis:
        client = RawClient(nubis.host, nubis.port)
        nubis.create_function("prime", NOOP)  # the runtime's one-time start-up happens here
        status, body = client.request(nubis.invoke_request("prime", b"{}"))
        client.close()
        if status != 200:
            raise RuntimeError(f"priming invoke failed: {status} {body[:300]!r}")
        nubis.create_function("sleep1", SLEEPY.format(sleep=args.sleep), timeout=int(args.sleep) + 30)
        before = {p for p in descendants(nubis.pid) if not is_spare(p)}  # the priming environment, helpers
        wall, outcomes, samples = asyncio.run(
            burst(nubis.host, nubis.port, nubis.invoke_request("sleep1", b"{}"), args.n, timeout))

        time.sleep(args.settle)
        tree = process_tree()
        procs = descendants(nubis.pid, tree)
        # The burst's environments: those under the server that were not there before it.
        envs = [p for p in environment_pids(nubis.pid, tree) if p not in before]
        others = [p for p in procs if p not in envs]
        env_pss = [v for v in (pss_kb(p) for p in envs) if v is not None]
        other_pss = {p: (pss_kb(p), kind(p, tree, before), cmdline(p)) for p in others}
        log_path, log_summary = nubis.keep_log("burst")

    bare_pss = bare_python_pss_kb()
    all_ok = report_outcomes("nubis burst", args.n, outcomes, samples)
    report_outcomes("asyncio sleep burst", args.n, base_out, base_samples)
    print(f"burst wall      {wall:.3f} s for {args.n} x {args.sleep:g} s handlers  (target <= {1.5 * args.sleep:g} s)")
    print(f"ideal           {args.sleep:.3f} s  -> {wall / args.sleep:.2f}x")
    print(f"asyncio sleep   {base_wall:.3f} s  (baseline: same burst, asyncio responder)  -> {wall / base_wall:.2f}x")
    if env_pss:
        mean = statistics.mean(env_pss) / 1024
        print(f"environments    {len(env_pss)} idle, mean PSS {mean:.2f} MB  median {statistics.median(env_pss) / 1024:.2f} MB"
              f"  total {sum(env_pss) / 1024:.1f} MB  (target <= 4 MB each)")
        print(f"bare python     PSS {bare_pss / 1024:.2f} MB  (baseline: python -I -S sleeping)")
        print(f"PSS ratio       {mean * 1024 / bare_pss:.2f}x")
    else:
        print("environments    none found under the server process")
    for p, (v, what, cmd) in sorted(other_pss.items()):
        print(f"  not counted: pid {p} {what:<22} PSS {(v or 0) / 1024:6.2f} MB  {cmd[-60:]}")
    if not all_ok:
        print(f"server log: {log_path}")
        for line in log_summary[:8]:
            print(f"  {line}")
    else:
        log_path.unlink()
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
