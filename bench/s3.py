"""S3: PUT and GET latency/throughput for 1 KiB and 64 MiB objects, and the delay from PutObject to the
notified function starting.

Baselines, measured in the same run:
  * 1 KiB and 64 MiB PUT: writing the same bytes to a local file the way nubis does (temp file, fsync,
    rename); GET: reading them back from a local file (page cache).
  * PutObject -> function start: an asynchronous Invoke (`InvocationType: Event`) of the same function
    -> function start. Both go through the durable async queue; the difference is S3's part.

Requests are raw HTTP on one keep-alive connection (no boto3 on a measured path).

Run: .venv/bin/python bench/s3.py [--small N] [--large N] [--events N]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from common import Nubis, RawClient, build_request, percentiles

AUTH = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, "
                         "SignedHeaders=host, Signature=0",
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
MB = 1024 * 1024

RECORDER = """
import json, os, time
def handler(event, context):
    started = time.time()
    key = event["Records"][0]["s3"]["object"]["key"] if "Records" in event else event["key"]
    with open(os.path.join(os.environ["OUT_DIR"], key + ".tmp"), "w") as f:
        f.write(str(started))
    os.rename(os.path.join(os.environ["OUT_DIR"], key + ".tmp"), os.path.join(os.environ["OUT_DIR"], key))
"""


def local_put(path: Path, data: bytes) -> float:
    t0 = time.perf_counter()
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return time.perf_counter() - t0


def local_get(path: Path) -> float:
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        while f.read(MB):
            pass
    return time.perf_counter() - t0


class BulkClient(RawClient):
    """RawClient that receives large bodies into one preallocated buffer (no quadratic concatenation)."""

    def response(self) -> tuple[int, bytes]:
        while b"\r\n\r\n" not in self.buf:
            self._recv()
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for hline in head.split(b"\r\n")[1:]:
            k, _, v = hline.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v)
        body = bytearray(length)
        view = memoryview(body)
        got = min(len(rest), length)
        view[:got] = rest[:got]
        self.buf = rest[got:]
        while got < length:
            n = self.sock.recv_into(view[got:], min(length - got, 4 * MB))
            if n == 0:
                raise ConnectionError("server closed the connection")
            got += n
        return status, bytes(body) if length < MB else body  # type: ignore[return-value]


def timed(client: RawClient, raw: bytes, expect: int = 200) -> float:
    t0 = time.perf_counter()
    status, _ = client.request(raw)
    elapsed = time.perf_counter() - t0
    if status != expect:
        raise RuntimeError(f"unexpected status {status}")
    return elapsed


def line(label: str, nubis: list[float], base: list[float], size: int | None = None) -> None:
    n, b = percentiles(nubis), percentiles(base)
    text = (f"{label:<28} nubis p50 {n['p50']:8.2f} ms  p99 {n['p99']:8.2f} ms | baseline p50 {b['p50']:8.2f} ms "
            f"p99 {b['p99']:8.2f} ms | ratio p50 {n['p50'] / b['p50']:6.2f}x")
    if size:
        text += (f" | {size / MB / statistics.median(nubis):7.0f} MiB/s vs "
                 f"{size / MB / statistics.median(base):7.0f} MiB/s")
    print(text, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=300, help="1 KiB PUTs/GETs (default 300)")
    ap.add_argument("--large", type=int, default=5, help="64 MiB PUTs/GETs (default 5)")
    ap.add_argument("--events", type=int, default=30, help="PutObject -> function start samples (default 30)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="nubis-bench-s3-") as scratch:
        # the recorder function runs confined (own uid, private /tmp): share the scratch dir with it
        os.environ["NUBIS_SHARED_DIRS"] = scratch
        Path(scratch).chmod(0o711)
        with Nubis() as nb:
            run(nb, Path(scratch), args)


def run(nb: Nubis, scratch_dir: Path, args: argparse.Namespace) -> None:
    """Every measurement, against a server that shares `scratch_dir` with its functions."""
    host = f"{nb.host}:{nb.port}"
    client = BulkClient(nb.host, nb.port)
    timed(client, build_request("PUT", host, "/bench", b"", AUTH))

    for size, n, label in ((1024, args.small, "1 KiB"), (64 * MB, args.large, "64 MiB")):
        data = os.urandom(size)
        put_raw = build_request("PUT", host, "/bench/obj", data, AUTH)
        get_raw = build_request("GET", host, "/bench/obj", b"", AUTH)
        for _ in range(min(3, n)):  # warm-up
            timed(client, put_raw)
            local_put(scratch_dir / "obj", data)
        puts = [timed(client, put_raw) for _ in range(n)]
        base_puts = [local_put(scratch_dir / "obj", data) for _ in range(n)]
        gets = [timed(client, get_raw) for _ in range(n)]
        base_gets = [local_get(scratch_dir / "obj") for _ in range(n)]
        line(f"PUT {label} (fsync'd)", puts, base_puts, size if size > MB else None)
        line(f"GET {label}", gets, base_gets, size if size > MB else None)
    client.close()

    out = scratch_dir / "events"
    out.mkdir()
    out.chmod(0o1777)
    name = "s3-bench-recorder"
    nb.lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=_role(),
                           Code={"ZipFile": _zip({"app.py": RECORDER})},
                           Environment={"Variables": {"OUT_DIR": str(out)}})
    nb.lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.05,
                                                                                  "MaxAttempts": 600})
    nb.lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                          Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bench")
    arn = nb.lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    s3 = nb.server.client("s3")
    s3.put_bucket_notification_configuration(Bucket="bench", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"],
                                          "Filter": {"Key": {"FilterRules": [{"Name": "prefix",
                                                                              "Value": "ev-"}]}}}]})
    client = RawClient(nb.host, nb.port)
    via_s3, via_invoke = [], []
    for i in range(args.events + 2):  # the first two warm the function up
        key = f"ev-{i}"
        t0 = time.time()
        client.request(build_request("PUT", host, f"/bench/{key}", b"x", AUTH))
        started = _wait_start(out / key)
        if i >= 2:
            via_s3.append(started - t0)
        key = f"inv-{i}"
        t0 = time.time()
        status, _ = client.request(build_request(
            "POST", host, f"/2015-03-31/functions/{name}/invocations", json.dumps({"key": key}).encode(),
            {"X-Amz-Invocation-Type": "Event"}))
        started = _wait_start(out / key)
        if i >= 2:
            via_invoke.append(started - t0)
    client.close()
    line("PutObject -> function start", via_s3, via_invoke)


def _wait_start(path: Path, timeout: float = 30.0) -> float:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.exists():
            return float(path.read_text())
        time.sleep(0.0005)
    raise RuntimeError(f"the function never ran for {path.name}")


def _role() -> str:
    from common import ROLE

    return ROLE


def _zip(files: dict[str, str]) -> bytes:
    from common import make_zip

    return make_zip(files)


if __name__ == "__main__":
    main()
