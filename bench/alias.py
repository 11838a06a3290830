"""Invoke through a weighted alias against an unqualified Invoke of the same function, in one run.

Both versions are kept warm; the requests alternate between the two forms so that load changes on
this shared machine affect both sides alike. Target (issue: Lambda in full): the alias costs within
10% of the unqualified Invoke.

Run: .venv/bin/python bench/alias.py [--n 3000]
"""
from __future__ import annotations

import argparse
import time

from common import PAYLOAD_1K, Nubis, RawClient, build_request, percentiles

NOOP = "def handler(event, context):\n    return event\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3000, help="measured requests of each form (default 3000)")
    args = ap.parse_args()

    with Nubis() as nubis:
        nubis.create_function("noop", NOOP)
        lam = nubis.lam
        lam.publish_version(FunctionName="noop")
        lam.update_function_configuration(FunctionName="noop", Timeout=31)
        lam.get_waiter("function_updated_v2").wait(FunctionName="noop", WaiterConfig={"Delay": 0.05})
        lam.publish_version(FunctionName="noop")
        lam.create_alias(FunctionName="noop", Name="live", FunctionVersion="1",
                         RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
        host = f"{nubis.host}:{nubis.port}"
        plain = nubis.invoke_request("noop", PAYLOAD_1K)
        alias = build_request("POST", host, "/2015-03-31/functions/noop/invocations?Qualifier=live", PAYLOAD_1K)
        client = RawClient(nubis.host, nubis.port)
        for _ in range(300):  # warm both versions' environments
            client.request(plain)
            client.request(alias)
        samples: dict[bytes, list[float]] = {plain: [], alias: []}
        for _ in range(args.n):
            for raw in (plain, alias):
                t0 = time.perf_counter()
                status, _ = client.request(raw)
                samples[raw].append(time.perf_counter() - t0)
                assert status == 200, status
        client.close()

    base, weighted = percentiles(samples[plain]), percentiles(samples[alias])
    print(f"unqualified     p50 {base['p50']:.3f} ms  p99 {base['p99']:.3f} ms  (baseline, n={base['n']})")
    print(f"weighted alias  p50 {weighted['p50']:.3f} ms  p99 {weighted['p99']:.3f} ms  (n={weighted['n']})")
    print(f"alias ratio     p50 {weighted['p50'] / base['p50']:.2f}x  (target <= 1.10x)")


if __name__ == "__main__":
    main()
