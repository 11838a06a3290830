"""Warm Invoke latency: p50/p99 against a raw asyncio responder measured in this run.

A no-op Python handler, a 1 KB JSON payload, one keep-alive client on loopback, sequential
requests; the baseline is a raw asyncio HTTP echo (the floor for a Python HTTP server here).
Cold starts are in bench/cold.py, other runtimes in bench/runtimes.py.

Run: .venv/bin/python bench/invoke.py [--n 3000]
"""
from __future__ import annotations

import argparse

from common import PAYLOAD_1K, Nubis, RawClient, percentiles, time_requests, warm_baseline

NOOP = "def handler(event, context):\n    return event\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3000, help="measured warm requests (default 3000)")
    args = ap.parse_args()

    base = warm_baseline(args.n)
    with Nubis() as nubis:
        nubis.create_function("noop", NOOP)
        client = RawClient(nubis.host, nubis.port)
        warm = percentiles(time_requests(client, nubis.invoke_request("noop", PAYLOAD_1K), args.n))
        client.close()

    print(f"warm invoke     p50 {warm['p50']:.3f} ms  p99 {warm['p99']:.3f} ms  (n={warm['n']})")
    print(f"raw asyncio     p50 {base['p50']:.3f} ms  p99 {base['p99']:.3f} ms  (baseline)")
    print(f"warm ratio      p50 {warm['p50'] / base['p50']:.2f}x  p99 {warm['p99'] / base['p99']:.2f}x")


if __name__ == "__main__":
    main()
