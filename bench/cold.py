"""Cold starts of Python functions, each as a ratio against a bare interpreter start measured in this run.

(a) fresh:   the first invoke of a freshly created function (a new execution environment);
(b) busy:    a new environment for a function whose only warm environment is busy: one invocation
             sleeps in it while a second, concurrent invocation is timed;
(c) boto3:   the first invoke of a fresh function whose module does `import boto3`.
(d) snapstart: the first invoke of a SnapStart version (a new environment restored from the snapshot
             made at publish) whose module sleeps 200 ms at import, against (d0) the same code without
             SnapStart (its first invoke runs that INIT).
(a) and (b) are also measured on a second server with NUBIS_LAUNCH_AHEAD=0: there a cold start
forks and confines a spare on demand instead of finding one launched ahead (docs/isolation.md).
(a) and (b) are compared with `python -I -S -c pass` (target <= 0.3x), (c) with
`python -c 'import boto3'` (target <= 0.1x). Medians; samples are interleaved (a, b, c, baselines, a, b, c, ...).

Run: .venv/bin/python bench/cold.py [--n 15]
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from common import PAYLOAD_1K, Nubis, RawClient, bare_python_start, median_ms, time_command

NOOP = "def handler(event, context):\n    return event\n"
SLEEPY = ("import time\n\n"
          "SERVED = 0\n\n"
          "def handler(event, context):\n"
          "    global SERVED\n"
          "    SERVED += 1\n"
          "    time.sleep(event.get('sleep', 0))\n"
          "    return {'served': SERVED}\n")  # how many invocations this environment has served
BOTO3 = ("import boto3\n\n"
         "def handler(event, context):\n"
         "    return {'boto3': boto3.__version__}\n")
HEAVY = ("import time\n\n"
         "time.sleep(0.2)  # a heavy INIT: loading a model, a framework\n\n"
         "def handler(event, context):\n"
         "    return {'ok': True}\n")
HOLD_S = 0.4  # how long the first invocation keeps the warm environment busy in (b)


def timed(client: RawClient, raw: bytes, expect: bytes | None = None) -> float:
    t0 = time.perf_counter()
    status, body = client.request(raw)
    dt = time.perf_counter() - t0
    if status != 200 or b"errorMessage" in body:
        raise RuntimeError(f"invoke failed: {status} {body[:300]!r}")
    if expect is not None and body != expect:
        raise RuntimeError(f"expected {expect!r}, got {body[:300]!r}")
    return dt


def primed_clients(nubis: Nubis) -> tuple[RawClient, RawClient]:
    """Two keep-alive clients, after one throw-away cold start: the runtime's one-time work (e.g.
    starting a zygote) is a server start-up cost, not a function's cold start."""
    client = RawClient(nubis.host, nubis.port)
    nubis.create_function("prime", NOOP)
    timed(client, nubis.invoke_request("prime"))
    return client, RawClient(nubis.host, nubis.port)


def fresh_and_busy(nubis: Nubis, client: RawClient, holder: RawClient, i: int) -> tuple[float, float]:
    """(a) a fresh function's first invoke; (b) a new environment for a busy function."""
    nubis.create_function(f"fresh{i}", NOOP)
    fresh = timed(client, nubis.invoke_request(f"fresh{i}", PAYLOAD_1K))
    # (b) busy function: warm one environment, hold it busy, time a concurrent invoke
    name = f"busy{i}"
    nubis.create_function(name, SLEEPY)
    timed(client, nubis.invoke_request(name, b"{}"))  # its first environment, now warm
    time.sleep(0.1)  # let the runtime settle as it would between invocations
    holder.send(nubis.invoke_request(name, json.dumps({"sleep": HOLD_S}).encode()))
    time.sleep(0.02)  # the hold request has reached the warm environment
    # A new environment has served nothing before: the answer must be {"served": 1}.
    t_new = timed(client, nubis.invoke_request(name, PAYLOAD_1K), expect=b'{"served": 1}')
    status, body = holder.response()
    if status != 200 or body != b'{"served": 2}':  # the hold ran in the warm environment
        raise RuntimeError(f"hold invoke: expected 200 {{\"served\": 2}}, got {status} {body[:300]!r}")
    return fresh, t_new


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=15, help="samples of each kind (default 15)")
    args = ap.parse_args()

    fresh, busy, boto, bare_s, boto3_s, snap, heavy = [], [], [], [], [], [], []
    with Nubis() as nubis:
        client, holder = primed_clients(nubis)

        for i in range(args.n):
            a, b = fresh_and_busy(nubis, client, holder, i)
            fresh.append(a)
            busy.append(b)

            # (c) fresh function whose module imports boto3
            nubis.create_function(f"boto{i}", BOTO3)
            boto.append(timed(client, nubis.invoke_request(f"boto{i}", b"{}")))

            # (d) SnapStart version vs (d0) the same heavy INIT on demand
            nubis.create_function(f"heavy{i}", HEAVY)
            heavy.append(timed(client, nubis.invoke_request(f"heavy{i}", b"{}")))
            name = f"snap{i}"
            nubis.create_function(name, HEAVY)
            nubis.lam.update_function_configuration(FunctionName=name, SnapStart={"ApplyOn": "PublishedVersions"})
            nubis.lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05})
            version = nubis.lam.publish_version(FunctionName=name)["Version"]
            nubis.lam.get_waiter("published_version_active").wait(FunctionName=name, Qualifier=version,
                                                                 WaiterConfig={"Delay": 0.05})
            snap.append(timed(client, nubis.invoke_request(f"{name}:{version}", b"{}")))

            # the baselines, interleaved too (the server is idle meanwhile)
            bare_s += bare_python_start(1)
            boto3_s += time_command([sys.executable, "-c", "import boto3"], 1, warmup=0)
        client.close()
        holder.close()

    # (a) and (b) again with nothing launched ahead: the on-demand spare path alone
    fresh_od, busy_od = [], []
    with Nubis(env={"NUBIS_LAUNCH_AHEAD": "0"}) as nubis:
        client, holder = primed_clients(nubis)
        for i in range(args.n):
            a, b = fresh_and_busy(nubis, client, holder, i)
            fresh_od.append(a)
            busy_od.append(b)
            bare_s += bare_python_start(1)
        client.close()
        holder.close()

    bare, boto3_bare = median_ms(bare_s), median_ms(boto3_s)
    a, b, c = median_ms(fresh), median_ms(busy), median_ms(boto)

    print(f"(a) fresh function       median {a:7.2f} ms  (n={len(fresh)})")
    print(f"(b) new env, busy fn     median {b:7.2f} ms  (n={len(busy)})")
    print(f"python -I -S -c pass     median {bare:7.2f} ms  (baseline)")
    print(f"(a) ratio                {a / bare:.2f}x  (target <= 0.3x)")
    print(f"(b) ratio                {b / bare:.2f}x  (target <= 0.3x)")
    a_od, b_od = median_ms(fresh_od), median_ms(busy_od)
    print(f"(a) without launch-ahead median {a_od:7.2f} ms  ratio {a_od / bare:.2f}x  (NUBIS_LAUNCH_AHEAD=0)")
    print(f"(b) without launch-ahead median {b_od:7.2f} ms  ratio {b_od / bare:.2f}x  (NUBIS_LAUNCH_AHEAD=0)")
    print(f"(c) import boto3 fn      median {c:7.2f} ms  (n={len(boto)})")
    print(f"python -c 'import boto3' median {boto3_bare:7.2f} ms  (baseline)")
    print(f"(c) ratio                {c / boto3_bare:.3f}x  (target <= 0.1x)")
    d, d0 = median_ms(snap), median_ms(heavy)
    print(f"(d) SnapStart restore    median {d:7.2f} ms  (n={len(snap)}; INIT sleeps 200 ms)")
    print(f"(d0) same fn, on demand  median {d0:7.2f} ms  (baseline)")
    print(f"(d) ratio                {d / d0:.3f}x")


if __name__ == "__main__":
    main()
