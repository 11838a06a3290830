"""Warm Invoke latency and cold start, each as a ratio against a baseline measured in this run.

- warm: no-op Python handler, 1 KB payload, one keep-alive client on loopback, vs a raw asyncio
  HTTP echo responder (the floor for a Python HTTP server here);
- cold: first invoke of a fresh function (a new execution environment), vs `python -I -S -c pass`.

Run: .venv/bin/python bench/invoke.py [--n 3000] [--cold 15]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

from common import BaselineResponder, Nubis, RawClient, build_request, percentiles, time_command, time_requests

NOOP = "def handler(event, context):\n    return event\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="measured warm requests")
    ap.add_argument("--cold", type=int, default=15, help="cold starts to measure")
    args = ap.parse_args()
    payload = b'{"data": "' + b"x" * 1000 + b'"}'

    with BaselineResponder() as port:
        client = RawClient("127.0.0.1", port)
        base = percentiles(time_requests(client, build_request("POST", f"127.0.0.1:{port}", "/", payload), args.n))
        client.close()

    with Nubis() as nubis:
        nubis.create_function("noop", NOOP)
        client = RawClient(nubis.host, nubis.port)
        warm = percentiles(time_requests(client, nubis.invoke_request("noop", payload), args.n))

        cold = []
        for i in range(args.cold):
            name = f"cold{i}"
            nubis.create_function(name, NOOP)
            raw = nubis.invoke_request(name, payload)
            t0 = time.perf_counter()
            status, _ = client.request(raw)
            cold.append(time.perf_counter() - t0)
            assert status == 200, status
        client.close()

    bare = time_command([sys.executable, "-I", "-S", "-c", "pass"], args.cold)
    cold_ms, bare_ms = statistics.median(cold) * 1000, statistics.median(bare) * 1000

    print(f"warm invoke     p50 {warm['p50']:.3f} ms  p99 {warm['p99']:.3f} ms  (n={warm['n']})")
    print(f"raw asyncio     p50 {base['p50']:.3f} ms  p99 {base['p99']:.3f} ms  (baseline)")
    print(f"warm ratio      p50 {warm['p50'] / base['p50']:.2f}x  p99 {warm['p99'] / base['p99']:.2f}x")
    print(f"cold start      median {cold_ms:.2f} ms  (n={len(cold)})")
    print(f"python -I -S    median {bare_ms:.2f} ms  (baseline)")
    print(f"cold ratio      {cold_ms / bare_ms:.2f}x")


if __name__ == "__main__":
    main()
