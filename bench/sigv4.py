"""Signature verification on the warm Invoke path: what checking a SigV4 signature costs.

The same warm no-op Invoke (1 KB JSON, one keep-alive client, sequential), sent three ways, interleaved
in rounds: unsigned (the baseline), signed with an access key the server does not know (accepted without
any work: the default for arbitrary credentials), and signed with a key listed in the server's
credentials file (the signature is verified). The signed requests are signed once and replayed (they
stay valid for the 15 minutes of allowed clock skew).

Run: .venv/bin/python bench/sigv4.py [--n 2000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from common import INVOKE_PATH, PAYLOAD_1K, Nubis, RawClient, percentiles, time_requests

NOOP = "def handler(event, context):\n    return event\n"


def signed_request(host: str, port: int, name: str, key: str, secret: str) -> bytes:
    url = f"http://{host}:{port}" + INVOKE_PATH.format(name=name)
    req = AWSRequest("POST", url, data=PAYLOAD_1K, headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials(key, secret), "lambda", "us-east-1").add_auth(req)
    p = req.prepare()
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in p.headers.items()}
    lines = [f"POST {urlsplit(p.url).path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(PAYLOAD_1K)}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() not in ("host", "content-length")]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + PAYLOAD_1K


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=2000, help="measured requests per kind per round (default 2000)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="nubis-bench-creds-") as tmp:
        creds = Path(tmp) / "credentials"
        creds.write_text("[bench]\naws_access_key_id = BENCHKNOWN\naws_secret_access_key = bench-secret\n")
        old = os.environ.get("NUBIS_CREDENTIALS")
        os.environ["NUBIS_CREDENTIALS"] = str(creds)
        try:
            with Nubis() as nubis:
                nubis.create_function("noop", NOOP)
                kinds = {
                    "unsigned": nubis.invoke_request("noop", PAYLOAD_1K),
                    "unknown key": signed_request(nubis.host, nubis.port, "noop", "BENCHUNKNOWN", "x"),
                    "known key": signed_request(nubis.host, nubis.port, "noop", "BENCHKNOWN", "bench-secret"),
                }
                client = RawClient(nubis.host, nubis.port)
                samples: dict[str, list[float]] = {k: [] for k in kinds}
                for _ in range(args.rounds):
                    for kind, raw in kinds.items():
                        samples[kind] += time_requests(client, raw, args.n, warmup=100)
                client.close()
        finally:
            if old is None:
                os.environ.pop("NUBIS_CREDENTIALS", None)
            else:
                os.environ["NUBIS_CREDENTIALS"] = old

    base = percentiles(samples["unsigned"])
    for kind in kinds:
        p = percentiles(samples[kind])
        print(f"{kind:<12} p50 {p['p50']:.3f} ms  p99 {p['p99']:.3f} ms  ratio p50 {p['p50'] / base['p50']:.2f}x"
              f"  p99 {p['p99'] / base['p99']:.2f}x  (n={p['n']})")


if __name__ == "__main__":
    main()
