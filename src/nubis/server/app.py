"""Wires the store, the engine, the providers and the HTTP server together; runs until SIGTERM/SIGINT."""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

from .. import __version__
from ..engine import Engine, FunctionSpec, InvocationResult
from ..engine.isolation import probe
from ..events.async_invoke import AsyncInvokeQueue
from ..events.bus import Bus
from ..services.apigateway.provider import ApiGatewayProvider
from ..services.apigatewayv2.provider import ApiGatewayV2Provider
from ..services.cloudformation.provider import CloudFormationProvider
from ..services.eventbridge.provider import EventsProvider
from ..services.lambda_.provider import LambdaProvider
from ..services.logs.provider import LogsProvider
from ..services.s3.provider import S3Provider
from ..services.sns.provider import SnsProvider
from ..services.sqs.provider import SqsProvider
from ..store.blobs import BlobStore
from ..store.db import BackgroundWriter, Database
from ..store.logs import LogStore
from ..store.queue import DurableQueue
from ..store.usage import UsageStore
from .credentials import CredentialsFileError, KnownCredentials, env_files
from .edge import Edge
from .http import HttpServer
from .internal import health_route, usage_route
from .sigv4 import Verifier

log = logging.getLogger("nubis")


def _secret(data_dir: Path) -> bytes:
    path = data_dir / "secret"
    if not path.exists():
        path.write_bytes(secrets.token_bytes(32))
        path.chmod(0o600)
    return path.read_bytes()


async def run(host: str, port: int, data_dir: Path, account_concurrency: int = 1000,
              keep_alive_s: float = 600.0, async_retry_scale: float = 1.0,
              credentials_files: list[str] | None = None, verify_signatures: str = "known") -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    known = KnownCredentials.load(data_dir, credentials_files or [], server_secret=_secret(data_dir))
    verifier = Verifier(known, verify_signatures)
    db_path = data_dir / "nubis.db"
    db = Database(db_path)
    writer = BackgroundWriter(db_path)
    logs = LogStore(db, writer)
    usage = UsageStore(db, writer)

    def log_sink(spec: FunctionSpec, stream: str, events: list[tuple[int, str]]) -> None:
        logs.append(spec.account, spec.region, spec.log_group, stream, events)

    def meter_sink(result: InvocationResult, spec: FunctionSpec, outcome: str) -> None:
        usage.add_row((result.request_id, spec.account, spec.region, spec.function_name, result.executed_version,
                       result.start_time, result.duration_ms, result.billed_ms, result.memory_mb,
                       result.max_memory_mb, result.init_ms, int(result.cold), outcome, spec.architecture))

    engine = Engine(log_sink=log_sink, meter_sink=meter_sink, account_concurrency=account_concurrency,
                    keep_alive_s=keep_alive_s, data_dir=data_dir)
    engine.start()  # the Python zygote starts now, not on the first cold start
    http = HttpServer(lambda req: edge.handle(req))
    actual_port = await http.start(host, port)
    endpoint = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::', '') else host}:{actual_port}"
    lam = LambdaProvider(db, BlobStore(data_dir / "blobs"), engine,
                         AsyncInvokeQueue(DurableQueue(db, writer, "lambda-async")), data_dir, _secret(data_dir),
                         account_concurrency, async_retry_scale)
    lam.endpoint = endpoint
    bus = Bus()
    bus.functions = lam
    s3 = S3Provider(db, data_dir, bus)
    bus.objects = s3.reader  # Lambda reads Code.S3Bucket/S3Key packages through the bus
    sqs = SqsProvider(db, writer, endpoint)
    bus.queues = sqs  # Lambda destinations/DLQs, S3 notifications and event source mappings use queues
    lam.bus = bus
    http.stream_if = s3.wants_stream  # S3 uploads stream to disk instead of being buffered
    sns = SnsProvider(db, writer, bus, data_dir, endpoint, async_retry_scale)
    bus.topics = sns.publisher  # Lambda destinations/DLQs and S3 notifications publish to topics
    providers = [lam, LogsProvider(logs, bus), ApiGatewayV2Provider(db, bus), ApiGatewayProvider(db, bus, logs), s3, sqs,
                 sns, EventsProvider(db, bus), CloudFormationProvider(db, endpoint, _secret(data_dir))]
    lam.verifier = verifier  # function URLs with AuthType AWS_IAM
    edge = Edge(providers, endpoint, {
        "/_nubis/health": health_route(data_dir, sys.executable),
        "/_nubis/usage": usage_route(usage, data_dir),
    }, verifier=verifier)
    for p in providers:
        await p.start()

    iso = probe()
    print(f"nubis {__version__} listening on {endpoint}", flush=True)
    print(f"  data dir: {data_dir}", flush=True)
    print(f"  isolation: {', '.join(iso['enforced'])}", flush=True)
    print(f"  signatures: {_auth_line(verifier, len(known.keys))}", flush=True)
    print(f"  limits per environment: {_limits_line(iso['enforced'])}", flush=True)
    if iso.get("warning"):
        print(f"  warning: {iso['warning']}", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    print("nubis: shutting down (finishing in-flight invocations)", flush=True)
    await http.stop_accepting()
    for p in providers:
        await p.stop()
    await engine.shutdown(grace_s=10.0)
    await http.close(grace_s=2.0)
    writer.close()
    db.close()
    print("nubis: stopped", flush=True)


def _auth_line(verifier: Verifier, known: int) -> str:
    if verifier.mode == "off":
        return "not verified (--verify-signatures off)"
    keys = f"{known} known access key{'s' if known != 1 else ''}"
    if verifier.strict:
        return f"verified; {keys}, unknown keys rejected (strict)"
    return f"verified for {keys} (and function credentials); other keys accepted"


def _limits_line(enforced: list[str]) -> str:
    parts = []
    parts.append("memory = MemorySize (cgroup)" if "cgroup-memory" in enforced else "memory not limited")
    parts.append("1024 processes (cgroup pids)" if "cgroup-pids" in enforced else
                 ("1024 processes (RLIMIT_NPROC)" if "rlimits" in enforced else "processes not limited"))
    if "rlimits" in enforced:
        parts.append("1024 open files")
    if "cgroup-cpu" in enforced:
        parts.append("CPU share = MemorySize / 1769 MB")
    if "private-tmp" in enforced:
        parts.append("/tmp = EphemeralStorage")
    return ", ".join(parts)


def serve(host: str = "127.0.0.1", port: int = 8750, data_dir: Path | None = None,
          account_concurrency: int = 1000, keep_alive_s: float = 600.0, async_retry_scale: float = 1.0,
          credentials_files: list[str] | None = None, verify_signatures: str | None = None) -> None:
    """Entry point for `nubis server`: blocks until SIGTERM/SIGINT.

    Credentials files default to NUBIS_CREDENTIALS (os.pathsep-separated; `<data dir>/credentials` is
    always read when present), the verification mode to NUBIS_VERIFY_SIGNATURES (off | known | strict;
    default known)."""
    logging.basicConfig(level=os.environ.get("NUBIS_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    data_dir = (data_dir or Path(os.environ.get("NUBIS_DATA_DIR", Path.home() / ".nubis"))).expanduser().resolve()
    try:
        from uvloop import run as run_loop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux/macOS
        run_loop = asyncio.run
    files = env_files() if credentials_files is None else credentials_files
    mode = (verify_signatures or os.environ.get("NUBIS_VERIFY_SIGNATURES") or "known").strip().lower()
    if mode not in ("off", "known", "strict"):
        raise SystemExit(f"nubis server: --verify-signatures must be off, known or strict (not {mode!r})")
    try:
        KnownCredentials.load(data_dir, files)  # fail before binding the port
    except CredentialsFileError as e:
        raise SystemExit(f"nubis server: {e}") from None
    run_loop(run(host, port, data_dir, account_concurrency, keep_alive_s, async_retry_scale, files, mode))
