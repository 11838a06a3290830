"""Warm latency and cold start per runtime (Python, Node.js, provided), against baselines from this run.

For each runtime: a no-op/echo function, 1 KB JSON payload, one keep-alive client (no boto3):
- warm p50/p99 of sequential invokes vs a raw asyncio HTTP echo responder;
- cold start: median first invoke of fresh functions vs `python -I -S -c pass` (and, for Node,
  also vs a bare `node -e ''` without the host's NODE_* variables).
Runtimes: python3.12; nodejs20.x (`exports.handler = async (e) => e`); provided.al2023 with the
AWS tutorial's bash bootstrap (curl against the Runtime API); provided.al2023 whose bootstrap is
`exec <python> -m awslambdaric app.handler` (when awslambdaric imports). A runtime that
CreateFunction refuses (e.g. InvalidParameterValueException) is skipped with a printed note.

Run: .venv/bin/python bench/runtimes.py [--n 2000] [--cold 15] [--budget 8]
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import time

from common import (PAYLOAD_1K, CreateRefused, Nubis, RawClient, bare_python_start, median_ms, percentiles,
                    time_command, time_requests, warm_baseline)

PY_NOOP = "def handler(event, context):\n    return event\n"
NODE_ECHO = "exports.handler = async (e) => e;\n"

# AWS's "custom runtime" tutorial bootstrap (bash + curl), plus removing its temp header file.
BASH_BOOTSTRAP = r'''#!/bin/sh
set -euo pipefail
# Initialization - load function handler
source $LAMBDA_TASK_ROOT/"$(echo $_HANDLER | cut -d. -f1).sh"
# Processing
while true
do
  HEADERS="$(mktemp)"
  # Get an event. The HTTP request will block until one is received
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  # Extract request ID by scraping response headers received above
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  rm -f "$HEADERS"
  # Run the handler function from the script
  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA")
  # Send the response
  curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" -d "$RESPONSE"
done
'''
BASH_HANDLER = r'''function handler () {
  EVENT_DATA=$1
  echo "$EVENT_DATA"
}
'''


def variants() -> list[tuple[str, str, str, dict, str | None]]:
    """(label, runtime, handler, files, reason to skip or None)."""
    ric_bootstrap = f"#!/bin/sh\nexec {sys.executable} -m awslambdaric \"$_HANDLER\"\n"
    has_ric = importlib.util.find_spec("awslambdaric") is not None
    return [
        ("python3.12", "python3.12", "app.handler", {"app.py": PY_NOOP}, None),
        ("nodejs20.x", "nodejs20.x", "index.handler", {"index.js": NODE_ECHO},
         None if shutil.which("node") else "no `node` on PATH"),
        ("provided.al2023 bash+curl", "provided.al2023", "function.handler",
         {"bootstrap": BASH_BOOTSTRAP, "function.sh": BASH_HANDLER},
         None if shutil.which("curl") else "no `curl` on PATH"),
        ("provided.al2023 awslambdaric", "provided.al2023", "app.handler",
         {"bootstrap": ric_bootstrap, "app.py": PY_NOOP},
         None if has_ric else "awslambdaric does not import (pip install -e '.[bench]')"),
    ]


def check(status: int, body: bytes) -> None:
    if status != 200 or b"errorMessage" in body or b"errorType" in body:
        raise RuntimeError(f"invoke answered {status}: {body[:300]!r}")


def measure(nubis: Nubis, client: RawClient, idx: int, runtime: str, handler: str, files: dict,
            args: argparse.Namespace) -> tuple[dict, list[float]]:
    warm_name = f"warm{idx}"
    nubis.create_function(warm_name, files=files, runtime=runtime, handler=handler)  # may raise CreateRefused
    raw = nubis.invoke_request(warm_name, PAYLOAD_1K)
    check(*client.request(raw))  # the runtime's one-time start-up and this function's first environment
    warm = percentiles(time_requests(client, raw, args.n, warmup=min(200, args.n), budget_s=args.budget))
    cold = []
    for i in range(args.cold):
        name = f"cold{idx}x{i}"
        nubis.create_function(name, files=files, runtime=runtime, handler=handler)
        raw = nubis.invoke_request(name, PAYLOAD_1K)
        t0 = time.perf_counter()
        status, body = client.request(raw)
        cold.append(time.perf_counter() - t0)
        check(status, body)
    return warm, cold


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="measured warm requests per runtime (default 2000)")
    ap.add_argument("--budget", type=float, default=8, help="at most this many seconds of warm requests per runtime")
    ap.add_argument("--cold", type=int, default=15, help="cold starts per runtime (default 15)")
    args = ap.parse_args()

    base = warm_baseline(args.n)
    rows, notes, failed = [], [], False
    with Nubis() as nubis:
        client = RawClient(nubis.host, nubis.port)
        for idx, (label, runtime, handler, files, skip) in enumerate(variants()):
            if skip:
                notes.append(f"SKIP {label}: {skip}")
                continue
            try:
                warm, cold = measure(nubis, client, idx, runtime, handler, files, args)
            except CreateRefused as e:
                notes.append(f"SKIP {label}: CreateFunction(Runtime={runtime}) answered {e}")
                continue
            except (RuntimeError, ConnectionError) as e:
                notes.append(f"FAILED {label}: {e}")
                failed = True
                client.close()
                client = RawClient(nubis.host, nubis.port)
                continue
            rows.append((label, warm, cold))
        client.close()

    bare = median_ms(bare_python_start(args.cold))
    node = shutil.which("node")
    # Without the host's NODE_* variables (NODE_EXTRA_CA_CERTS alone adds tens of ms here), as a
    # function's environment has none of them.
    node_env = {k: v for k, v in os.environ.items() if not k.startswith("NODE_")}
    node_bare = median_ms(time_command([node, "-e", ""], args.cold, env=node_env)) if node else None

    print(f"{'runtime':<30}{'warm p50':>10}{'p99':>10}{'cold':>10}   ratios: warm p50 / p99 / cold")
    for label, warm, cold in rows:
        c = median_ms(cold)
        print(f"{label:<30}{warm['p50']:>8.3f}ms{warm['p99']:>8.3f}ms{c:>8.2f}ms   "
              f"{warm['p50'] / base['p50']:.2f}x / {warm['p99'] / base['p99']:.2f}x / {c / bare:.2f}x"
              f"  (n={warm['n']}, cold n={len(cold)})")
    print(f"{'raw asyncio (warm baseline)':<30}{base['p50']:>8.3f}ms{base['p99']:>8.3f}ms")
    print(f"{'python -I -S -c pass (cold)':<30}{'':>20}{bare:>8.2f}ms")
    if node_bare is not None:
        print(f"{'node -e (bare node start)':<30}{'':>20}{node_bare:>8.2f}ms")
        for label, _, cold in rows:
            if label.startswith("nodejs"):
                print(f"{label} cold vs bare node: {median_ms(cold) / node_bare:.2f}x")
    for note in notes:
        print(note)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
