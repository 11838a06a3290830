"""A warm `GET /items/{id}` through an HTTP API against a direct Invoke of the same function, one run.

The function answers a payload-2.0 proxy response. The direct Invoke sends it the very event the
gateway builds (captured once through the API), so both sides run the same handler on the same
bytes and the difference is the gateway: routing, building the event, mapping the response. The
requests alternate between the two forms so that load changes on this shared machine hit both alike.
Target (issue: HTTP front door): gateway p50 <= 1.3x the direct Invoke. Then requests/s with wrk
(32 keep-alive connections) for both, when `wrk` is installed.

Run: .venv/bin/python bench/apigw.py [--n 3000] [--duration 5]
"""
from __future__ import annotations

import argparse
import json
import time

from common import Nubis, RawClient, build_request, percentiles, which_wrk
from throughput import describe, run_wrk

HANDLER = """
import json
def handler(event, context):
    if (event.get("queryStringParameters") or {}).get("echo"):
        return {"statusCode": 200, "body": json.dumps(event)}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": '{"id": "%s"}' % event["pathParameters"]["id"]}
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=3000, help="measured requests of each form (default 3000)")
    ap.add_argument("--duration", type=float, default=5, help="seconds of each wrk run; 0 skips wrk (default 5)")
    args = ap.parse_args()

    with Nubis() as nubis:
        nubis.create_function("items", HANDLER)
        arn = nubis.lam.get_function(FunctionName="items")["Configuration"]["FunctionArn"]
        api = nubis.server.client("apigatewayv2").create_api(Name="bench", ProtocolType="HTTP", Target=arn,
                                                            RouteKey="GET /items/{id}")
        nubis.lam.add_permission(FunctionName="items", StatementId="apigw", Action="lambda:InvokeFunction",
                                 Principal="apigateway.amazonaws.com",
                                 SourceArn=f"arn:aws:execute-api:us-east-1:000000000000:{api['ApiId']}/*")
        host = f"{api['ApiId']}.execute-api.localhost:{nubis.port}"
        client = RawClient(nubis.host, nubis.port)
        status, body = client.request(build_request("GET", host, "/items/42?echo=1", b""))
        assert status == 200, (status, body)
        event = json.loads(body)
        event["queryStringParameters"] = None
        event["rawQueryString"] = ""
        gateway = build_request("GET", host, "/items/42", b"")
        direct = nubis.invoke_request("items", json.dumps(event).encode())
        for _ in range(300):
            for raw in (gateway, direct):
                assert client.request(raw)[0] == 200
        samples: dict[bytes, list[float]] = {gateway: [], direct: []}
        for _ in range(args.n):
            for raw in (direct, gateway):
                t0 = time.perf_counter()
                status, _ = client.request(raw)
                samples[raw].append(time.perf_counter() - t0)
                assert status == 200, status
        client.close()

        rates = None
        wrk = which_wrk()
        if wrk and args.duration > 0:
            wargs = argparse.Namespace(threads=2, connections=32)
            path_form = f"{nubis.server.endpoint}/_aws/execute-api/{api['ApiId']}/items/42"
            run_wrk(wrk, path_form, wargs, 2, script=None)  # bring environments up
            rates = (run_wrk(wrk, path_form, wargs, args.duration, script=None),
                     run_wrk(wrk, nubis.url("items"), wargs, args.duration))

    base, via = percentiles(samples[direct]), percentiles(samples[gateway])
    print(f"event size      {len(json.dumps(event))} bytes (the gateway's payload 2.0 event, sent to both)")
    print(f"direct Invoke   p50 {base['p50']:.3f} ms  p99 {base['p99']:.3f} ms  (baseline, n={base['n']})")
    print(f"HTTP API GET    p50 {via['p50']:.3f} ms  p99 {via['p99']:.3f} ms  (n={via['n']})")
    print(f"gateway ratio   p50 {via['p50'] / base['p50']:.2f}x  (target <= 1.3x)")
    if rates:
        print("load: wrk -t2 -c32, keep-alive; the Invoke run POSTs bench/post.lua's 1 KB JSON")
        print(describe("HTTP API GET", rates[0]))
        print(describe("direct Invoke", rates[1]) + "  (baseline)")
        print(f"ratio           {rates[0]['rps'] / rates[1]['rps']:.2f}x")
    elif args.duration > 0:
        print("SKIP wrk part: `wrk` is not installed (`make bench` installs it as root)")


if __name__ == "__main__":
    main()
