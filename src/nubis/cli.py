"""The `nubis` command: run the server, deploy/invoke/list/remove functions, read logs and usage.

The CLI is just another client (DESIGN.md): it talks to the server over HTTP only — boto3 for the
AWS APIs, urllib for nubis's own `/_nubis/*` endpoints. boto3 is imported lazily so `nubis --help`
stays fast. Every command is a `cmd_*(args) -> exit code` function; the helpers they use (zip
building, --since parsing, payload reading, error formatting, usage rendering) are plain functions
so tests can call them directly.
"""
from __future__ import annotations

import argparse
import base64
import io
import json
import os
import re
import stat
import sys
import time
import zipfile
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nubis import cli_api, cli_output as out

DEFAULT_ENDPOINT = "http://127.0.0.1:8750"
DEFAULT_REGION = "us-east-1"
DEFAULT_ROLE = "arn:aws:iam::000000000000:role/nubis-default"
DEFAULT_RUNTIME = "python3.12"
DEFAULT_HANDLER = "app.handler"
DEFAULT_MEMORY = 128
DEFAULT_TIMEOUT = 3
WAITER_CONFIG = {"Delay": 0.2, "MaxAttempts": 600}  # nubis is fast: poll often, give up after ~2 min
INVOKE_READ_TIMEOUT = 960  # longer than the longest function timeout (900 s)
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps -> same folder, same zip, same CodeSha256
SKIP_DIRS = frozenset({"__pycache__"})


class CliError(Exception):
    """A message for the user and an exit code (2 = usage / unreachable, 1 = failed)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


# --------------------------------------------------------------------------- pure helpers


def normalize_endpoint(endpoint: str) -> str:
    """Accept `host:port` as well as a URL; drop a trailing slash."""
    endpoint = endpoint.strip()
    if "://" not in endpoint:
        endpoint = "http://" + endpoint
    return endpoint.rstrip("/")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: float | None = None) -> float:
    """`10m`, `1h`, `7d`, `30s`, `2w` (ago) or an ISO 8601 date/time -> epoch seconds.

    An ISO time without a zone is taken as UTC, like every time nubis prints."""
    now = time.time() if now is None else now
    m = _DURATION.match(text)
    if m:
        return now - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"expected a duration like 10m, 1h, 7d or an ISO 8601 time, got {text!r}") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _since_arg(text: str) -> float:
    try:
        return parse_since(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def zip_directory(root: Path) -> bytes:
    """Zip a folder in memory, reproducibly: sorted paths, fixed timestamps, mode 0755 for files
    with any exec bit (so `bootstrap` scripts stay runnable) and 0644 otherwise. `__pycache__`
    folders are left out since they change on every run. Symlinks to files are stored as the file."""
    root = Path(root)
    buf = io.BytesIO()
    count = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if not path.is_file():
                    continue  # dangling symlink, socket, ...
                info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=ZIP_EPOCH)
                executable = path.stat().st_mode & 0o111
                info.external_attr = (stat.S_IFREG | (0o755 if executable else 0o644)) << 16
                info.create_system = 3  # unix, so unzip honours the mode bits
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, path.read_bytes())
                count += 1
    if count == 0:
        raise CliError(f"nothing to deploy: {root} has no files", 2)
    return buf.getvalue()


def load_code(path: Path) -> bytes:
    """Deployment package bytes from a folder (zipped here), a .zip file (sent as is) or a single
    source file (zipped under its own name)."""
    path = Path(path).expanduser()
    if path.is_dir():
        return zip_directory(path)
    if path.is_file():
        if zipfile.is_zipfile(path):
            return path.read_bytes()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            info = zipfile.ZipInfo(path.name, date_time=ZIP_EPOCH)
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.create_system = 3
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
        return buf.getvalue()
    raise CliError(f"no such file or folder: {path}", 2)


def read_payload(arg: str | None, stdin: Any = None) -> bytes:
    """The invoke payload: literal JSON, `@file`, or `-` for stdin; `{}` when absent.
    Checked to be JSON here, since Lambda would reject it anyway with a vaguer error."""
    if arg is None:
        return b"{}"
    if arg == "-":
        stdin = stdin if stdin is not None else sys.stdin
        data = stdin.buffer.read() if hasattr(stdin, "buffer") else stdin.read()
        data = data.encode() if isinstance(data, str) else data
        source = "stdin"
    elif arg.startswith("@"):
        try:
            data = Path(arg[1:]).expanduser().read_bytes()
        except OSError as e:
            raise CliError(f"cannot read payload file {arg[1:]}: {e.strerror or e}", 2) from None
        source = arg[1:]
    else:
        data, source = arg.encode(), "--payload"
    try:
        json.loads(data)
    except ValueError as e:
        raise CliError(f"payload from {source} is not valid JSON: {e}", 2) from None
    return data


def config_changes(args: argparse.Namespace) -> dict[str, Any]:
    """UpdateFunctionConfiguration parameters for the flags the user actually gave."""
    changes: dict[str, Any] = {}
    for flag, key in (("runtime", "Runtime"), ("handler", "Handler"), ("memory", "MemorySize"),
                      ("timeout", "Timeout"), ("role", "Role")):
        value = getattr(args, flag, None)
        if value is not None:
            changes[key] = value
    if getattr(args, "env", None) is not None:
        changes["Environment"] = {"Variables": dict(args.env)}
    if getattr(args, "layers", None) is not None:
        changes["Layers"] = args.layers
    return changes


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def _unreachable(exc: BaseException) -> bool:
    import socket
    import urllib.error

    if isinstance(exc, (ConnectionRefusedError, socket.gaierror)):
        return True
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return isinstance(exc.reason, OSError)
    try:
        from botocore.exceptions import EndpointConnectionError
    except ImportError:  # pragma: no cover - botocore is a dependency
        return False
    return isinstance(exc, EndpointConnectionError)


def one_line(text: str) -> str:
    """Fold a multi-line message (botocore's ParamValidationError report, a server message with
    newlines) into one line: parts joined by "; ", or by a space after a line ending in ":"."""
    parts = [part.strip() for part in str(text).splitlines() if part.strip()]
    line = ""
    for part in parts:
        line = part if not line else line + (" " if line.endswith(":") else "; ") + part
    return line


def format_error(exc: BaseException, endpoint: str) -> tuple[str, int] | None:
    """One line for stderr and an exit code for an error a user can act on; None if unexpected."""
    result = _format_error(exc, endpoint)
    return None if result is None else (one_line(result[0]), result[1])


def _format_error(exc: BaseException, endpoint: str) -> tuple[str, int] | None:
    if isinstance(exc, CliError):
        return f"nubis: {exc.message}", exc.code
    if _unreachable(exc):
        return (f"nubis: cannot reach the server at {endpoint} — start it with `nubis server` "
                "or pass --endpoint"), 2
    try:
        from botocore import exceptions as bx
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, bx.ClientError):
        err = exc.response.get("Error", {})
        code = err.get("Code") or "Error"
        message = err.get("Message") or str(exc)
        line = f"nubis: {code}: {message}"
        if code == "ResourceNotFoundException":
            line += " (see `nubis ls`)"
        return line, 1
    if isinstance(exc, bx.WaiterError):
        last = exc.last_response or {}
        cfg = last.get("Configuration", {}) if isinstance(last, dict) else {}
        reason = cfg.get("LastUpdateStatusReason") or cfg.get("StateReason") or exc.kwargs.get("reason", "")
        if "Error" in last:
            reason = f"{last['Error'].get('Code')}: {last['Error'].get('Message')}"
        return f"nubis: the function did not become ready: {reason}", 1
    if isinstance(exc, bx.ParamValidationError):
        return f"nubis: {exc}", 2
    if isinstance(exc, bx.ReadTimeoutError):
        return f"nubis: the server at {endpoint} did not answer in time", 1
    if isinstance(exc, bx.ConnectionClosedError):
        return f"nubis: the server at {endpoint} closed the connection", 1
    if isinstance(exc, bx.BotoCoreError):
        return f"nubis: {exc}", 1
    return None


def fmt_lambda_time(text: str | None) -> str | None:
    """Lambda's `2024-01-02T03:04:05.678+0000` as `2024-01-02 03:04:05` (UTC)."""
    if not text:
        return None
    try:
        dt = datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return text
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _pricing_source(pricing: dict[str, Any]) -> str:
    """Where the prices shown come from: AWS's defaults, or the server's pricing.toml."""
    from nubis.billing import Pricing

    if all(pricing.get(k) == v for k, v in Pricing().to_dict().items()):
        return "AWS us-east-1 defaults; change them in the server's <data-dir>/pricing.toml"
    return "set in the server's <data-dir>/pricing.toml; AWS us-east-1 defaults otherwise"


def render_usage(doc: dict[str, Any]) -> str:
    """People's view of a `billing.summarize` document: per-function table, totals with the free
    tier applied, a months table when there is more than one month, and the prices in use."""
    lines: list[str] = []
    functions = doc.get("functions") or []
    if functions:
        rows = [(f["function"], out.fmt_int(f["requests"]), out.fmt_gbs(f["gb_seconds"]),
                 out.fmt_int(f["cold_starts"]), out.fmt_money(f["gross_cost"])) for f in functions]
        lines += [out.table(["FUNCTION", "REQUESTS", "GB-S", "COLD", "COST"], rows, "lrrrr"), ""]
    t = doc.get("totals") or {}
    lines.append("totals")
    lines.append(out.kv_block([
        ("requests", out.fmt_int(t.get("requests", 0))),
        ("GB-seconds", out.fmt_gbs(t.get("gb_seconds", 0.0))),
        ("request cost", out.fmt_money(t.get("request_cost", 0.0))),
        ("compute cost", out.fmt_money(t.get("compute_cost", 0.0))),
        ("gross cost", out.fmt_money(t.get("gross_cost", 0.0))),
        ("free tier", out.fmt_money(-t.get("free_tier_credit", 0.0))),
        ("net cost", out.fmt_money(t.get("net_cost", 0.0))),
    ], right=True))
    months = doc.get("months") or []
    if len(months) > 1:
        rows = [(m["month"], out.fmt_int(m["requests"]), out.fmt_gbs(m["gb_seconds"]),
                 out.fmt_money(m["gross_cost"]), out.fmt_money(-m["free_tier_credit"]),
                 out.fmt_money(m["net_cost"])) for m in months]
        lines += ["", out.table(["MONTH", "REQUESTS", "GB-S", "GROSS", "FREE TIER", "NET"], rows, "lrrrrr")]
    p = doc.get("pricing") or {}
    if p:
        lines += [
            "",
            f"Per-function costs are gross; the free tier ({out.fmt_int(p['free_requests_per_month'])} requests "
            f"and {out.fmt_int(p['free_gb_seconds_per_month'])} GB-s per calendar month, UTC) is applied to "
            "the totals only.",
            f"Prices: {out.fmt_price(p['request_price_per_million'])} per 1M requests, "
            f"{out.fmt_price(p['gb_second_price'])} per GB-s x86_64, {out.fmt_price(p['gb_second_price_arm64'])} "
            f"per GB-s arm64 ({_pricing_source(p)}).",
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- talking to the server


def aws_client(args: argparse.Namespace, service: str, read_timeout: float = 60) -> Any:
    """A boto3 client for `service` at the nubis endpoint. Credentials come from the environment
    (AWS_ACCESS_KEY_ID / AWS_PROFILE) when set, else dummy ones: nubis does not check them, and
    skipping boto3's credential chain avoids its slow instance-metadata probe. No retries: a
    retried Invoke would run the function twice."""
    import boto3
    from botocore.config import Config

    creds: dict[str, str] = {}
    if not (os.environ.get("AWS_ACCESS_KEY_ID") or os.environ.get("AWS_PROFILE")):
        creds = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
    session = boto3.session.Session(region_name=args.region, **creds)
    config = Config(retries={"total_max_attempts": 1}, connect_timeout=5, read_timeout=read_timeout,
                    user_agent_extra="nubis-cli")
    return session.client(service, endpoint_url=args.endpoint, config=config)


def nubis_get(endpoint: str, path: str, params: dict[str, str] | None = None, timeout: float = 60) -> Any:
    """GET a nubis-specific JSON endpoint; an HTTP error becomes CliError("<Code>: <Message>")."""
    import urllib.error
    import urllib.parse
    import urllib.request

    url = endpoint + path + ("?" + urllib.parse.urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            body = resp.read()
    except urllib.error.HTTPError as e:
        raw = e.read()
        code = e.headers.get("x-amzn-ErrorType", "").split(":")[0] or f"HTTP{e.code}"
        message = raw.decode("utf-8", "replace").strip() or e.reason
        try:
            data = json.loads(raw)
            code = data.get("__type") or data.get("code") or code
            message = data.get("message") or data.get("Message") or message
        except (ValueError, AttributeError):
            pass
        raise CliError(f"{code}: {message}", 1) from None
    return json.loads(body)


def follow_logs(client: Any, group: str, start_ms: int | None, emit: Callable[[dict[str, Any]], None], *,
                interval: float = 0.5, late_ms: int = 5000, stop: Callable[[], bool] = lambda: False,
                pattern: str | None = None) -> None:
    """Poll `filter_log_events` and emit each new event once (deduped by eventId), oldest first.

    Each poll re-reads the last `late_ms` before the newest event seen, so events that arrive a
    little late are still shown; a log group that does not exist yet just means "nothing yet"."""
    seen: dict[str, int] = {}
    newest = start_ms
    while not stop():
        window = None if newest is None else max(0, newest - late_ms)
        try:
            events = fetch_log_events(client, group, window, pattern)
        except Exception as e:
            if error_code(e) != "ResourceNotFoundException":
                raise
            events = []
        for ev in events:
            if ev["eventId"] in seen:
                continue
            seen[ev["eventId"]] = ev["timestamp"]
            newest = ev["timestamp"] if newest is None else max(newest, ev["timestamp"])
            emit(ev)
        if newest is not None:
            floor = newest - late_ms
            seen = {k: ts for k, ts in seen.items() if ts >= floor}
        if stop():
            break
        time.sleep(interval)


def fetch_log_events(client: Any, group: str, start_ms: int | None,
                     pattern: str | None = None) -> list[dict[str, Any]]:
    """All events of `group` since `start_ms` (all pages) that match the filter `pattern`, in time order."""
    kwargs: dict[str, Any] = {"logGroupName": group}
    if pattern:
        kwargs["filterPattern"] = pattern
    if start_ms is not None:
        kwargs["startTime"] = start_ms
    events = [ev for page in client.get_paginator("filter_log_events").paginate(**kwargs)
              for ev in page.get("events", [])]
    events.sort(key=lambda ev: ev["timestamp"])  # stable: same-ms events keep server order
    return events


# --------------------------------------------------------------------------- commands


def cmd_server(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).expanduser()
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        from nubis.server.app import serve
    except ImportError as e:
        raise CliError(f"the server is not available in this installation ({e})") from None
    serve(host=args.host, port=args.port, data_dir=data_dir,
          account_concurrency=args.concurrency_limit, keep_alive_s=args.keep_alive,
          async_retry_scale=args.async_retry_scale, credentials_files=args.credentials,
          verify_signatures=args.verify_signatures)
    return 0


def cmd_deploy(args: argparse.Namespace) -> int:
    code = load_code(Path(args.path))
    client = aws_client(args, "lambda")
    try:
        client.get_function_configuration(FunctionName=args.name)
        exists = True
    except Exception as e:
        if error_code(e) != "ResourceNotFoundException":
            raise
        exists = False

    if not exists:
        params: dict[str, Any] = {
            "FunctionName": args.name,
            "Runtime": DEFAULT_RUNTIME if args.runtime is None else args.runtime,
            "Handler": DEFAULT_HANDLER if args.handler is None else args.handler,
            "Role": DEFAULT_ROLE if args.role is None else args.role,
            "MemorySize": DEFAULT_MEMORY if args.memory is None else args.memory,
            "Timeout": DEFAULT_TIMEOUT if args.timeout is None else args.timeout,
            "Code": {"ZipFile": code},
        }
        if args.env is not None:
            params["Environment"] = {"Variables": dict(args.env)}
        if args.layers is not None:
            params["Layers"] = args.layers
        if args.architecture:
            params["Architectures"] = [args.architecture]
        client.create_function(**params)
        client.get_waiter("function_active_v2").wait(FunctionName=args.name, WaiterConfig=WAITER_CONFIG)
        action = "created"
    else:
        code_params: dict[str, Any] = {"FunctionName": args.name, "ZipFile": code}
        if args.architecture:
            code_params["Architectures"] = [args.architecture]
        client.update_function_code(**code_params)
        client.get_waiter("function_updated_v2").wait(FunctionName=args.name, WaiterConfig=WAITER_CONFIG)
        changes = config_changes(args)
        if changes:
            client.update_function_configuration(FunctionName=args.name, **changes)
            client.get_waiter("function_updated_v2").wait(FunctionName=args.name, WaiterConfig=WAITER_CONFIG)
        action = "updated"

    cfg = out.strip_metadata(client.get_function_configuration(FunctionName=args.name))
    if args.json:
        out.dump_json(cfg)
        return 0
    print(f"{action} function {cfg.get('FunctionName', args.name)}")
    print(out.kv_block([
        ("arn", cfg.get("FunctionArn")),
        ("runtime", f"{cfg.get('Runtime')}  handler {cfg.get('Handler')}"),
        ("memory", f"{cfg.get('MemorySize')} MB  timeout {cfg.get('Timeout')} s"),
        ("code", f"{out.fmt_bytes(cfg.get('CodeSize', len(code)))}  sha256 {cfg.get('CodeSha256')}"),
        ("state", cfg.get("State")),
    ]))
    return 0


def _write_payload(body: bytes) -> None:
    """Pretty JSON when the payload is JSON, else the raw bytes."""
    if not body:
        return
    try:
        out.dump_json(json.loads(body))
    except ValueError:
        sys.stdout.write(body.decode("utf-8", "replace") + "\n")


def function_error_line(body: bytes, function_error: str) -> str:
    """`function error: <errorType>: <errorMessage>` from an error payload (any shape), on one line
    (a multi-line errorMessage is folded; the payload on stdout keeps it whole)."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and ("errorType" in data or "errorMessage" in data):
        return one_line(f"function error: {data.get('errorType', function_error)}: {data.get('errorMessage', '')}")
    return f"function error: {function_error}"


def cmd_invoke(args: argparse.Namespace) -> int:
    payload = read_payload(args.payload)
    client = aws_client(args, "lambda", read_timeout=INVOKE_READ_TIMEOUT)
    params: dict[str, Any] = {"FunctionName": args.name, "Payload": payload,
                              "InvocationType": "Event" if args.async_ else "RequestResponse"}
    if args.qualifier:
        params["Qualifier"] = args.qualifier
    if args.log and not args.async_:
        params["LogType"] = "Tail"
    resp = client.invoke(**params)

    if args.async_:
        request_id = resp.get("ResponseMetadata", {}).get("RequestId", "?")
        if args.json:
            out.dump_json({"StatusCode": resp.get("StatusCode"), "RequestId": request_id})
        else:
            print(f"queued ({resp.get('StatusCode')}) request id {request_id}")
        return 0

    body = resp["Payload"].read()
    log = base64.b64decode(resp["LogResult"]).decode("utf-8", "replace") if resp.get("LogResult") else None
    function_error = resp.get("FunctionError")
    if args.json:
        try:
            shown: Any = json.loads(body) if body else None
        except ValueError:
            shown = body.decode("utf-8", "replace")
        out.dump_json({"StatusCode": resp.get("StatusCode"), "ExecutedVersion": resp.get("ExecutedVersion"),
                       "FunctionError": function_error, "Payload": shown, "LogResult": log})
    else:
        if log:
            sys.stderr.write(log if log.endswith("\n") else log + "\n")
            sys.stderr.flush()
        _write_payload(body)
    if function_error:
        sys.stdout.flush()
        print(function_error_line(body, function_error), file=sys.stderr)
        return 1
    return 0


def cmd_ls(args: argparse.Namespace) -> int:
    client = aws_client(args, "lambda")
    functions = [f for page in client.get_paginator("list_functions").paginate() for f in page.get("Functions", [])]
    triggers = cli_api.bucket_triggers(aws_client(args, "s3")) if functions else {}
    for f in functions:
        f["Triggers"] = cli_api.function_triggers(f["FunctionArn"], triggers)
    if args.json:
        out.dump_json({"Functions": functions})
        return 0
    if not functions:
        print("no functions yet — deploy one with `nubis deploy PATH --name NAME`", file=sys.stderr)
        return 0
    rows = []
    for f in functions:
        state = f.get("State")
        if state is None:  # AWS's ListFunctions leaves State out; GetFunctionConfiguration has it
            try:
                state = client.get_function_configuration(FunctionName=f["FunctionName"]).get("State")
            except Exception as e:
                if error_code(e) != "ResourceNotFoundException":
                    raise
        rows.append((f.get("FunctionName"), f.get("Runtime"), f.get("MemorySize"), f.get("Timeout"),
                     fmt_lambda_time(f.get("LastModified")), state, ", ".join(f["Triggers"]) or None))
    print(out.table(["NAME", "RUNTIME", "MEMORY (MB)", "TIMEOUT (S)", "LAST MODIFIED (UTC)", "STATE", "TRIGGERS"],
                    rows, "llrrlll"))
    return 0


def cmd_api(args: argparse.Namespace) -> int:
    apis = (cli_api.v2_apis(aws_client(args, "apigatewayv2"), args.endpoint)
            + cli_api.rest_apis(aws_client(args, "apigateway"), args.endpoint))
    if args.json:
        out.dump_json({"Apis": apis})
    elif not apis:
        print("no APIs yet — create one with `aws apigatewayv2 create-api --name NAME --protocol-type HTTP "
              "--target FUNCTION_ARN` (see docs/apigateway.md)", file=sys.stderr)
    else:
        print(cli_api.render_apis(apis))
    return 0


def _print_event(ev: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(ev, ensure_ascii=False) + "\n")
    else:
        message = ev.get("message", "")
        sys.stdout.write(message if message.endswith("\n") else message + "\n")
    sys.stdout.flush()


def log_group_of(args: argparse.Namespace) -> str:
    """The function's log group: its LoggingConfig.LogGroup if set, else /aws/lambda/NAME (also for a
    function that no longer exists: its logs outlive it, as on AWS)."""
    try:
        cfg = aws_client(args, "lambda").get_function_configuration(FunctionName=args.name)
    except Exception as e:
        if error_code(e) != "ResourceNotFoundException":
            raise
        return f"/aws/lambda/{args.name}"
    return (cfg.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{cfg['FunctionName']}"


def cmd_logs(args: argparse.Namespace) -> int:
    client = aws_client(args, "logs")
    group = log_group_of(args)
    start_ms = None if args.since is None else int(args.since * 1000)
    if args.follow:
        try:
            follow_logs(client, group, start_ms, lambda ev: _print_event(ev, args.json), pattern=args.filter)
        except KeyboardInterrupt:
            pass
        return 0
    try:
        events = fetch_log_events(client, group, start_ms, args.filter)
    except Exception as e:
        if error_code(e) != "ResourceNotFoundException":
            raise
        events = []
        print(f"nubis: no logs for {args.name} yet (log group {group} does not exist)", file=sys.stderr)
    if args.json:
        out.dump_json({"logGroupName": group, "events": events})
    else:
        for ev in events:
            _print_event(ev, False)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    if not args.yes and sys.stdin.isatty():
        try:
            answer = input(f"delete function {args.name}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            print("not deleted", file=sys.stderr)
            return 1
    aws_client(args, "lambda").delete_function(FunctionName=args.name)
    print(f"deleted function {args.name}")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    client = aws_client(args, "lambda")
    kwargs = {"Description": args.description} if args.description else {}
    cfg = client.publish_version(FunctionName=args.name, **kwargs)
    if args.json:
        out.dump_json(_strip_metadata(cfg))
    else:
        print(f"published {args.name} version {cfg['Version']}  ({cfg['FunctionArn']})")
    return 0


def _weights(pairs: list[str] | None) -> dict[str, float]:
    weights = {}
    for pair in pairs or []:
        version, sep, weight = pair.partition("=")
        try:
            weights[version] = float(weight)
        except ValueError:
            sep = ""
        if not sep or not version:
            raise CliError(f"--weight takes VERSION=WEIGHT (e.g. 2=0.1), not {pair!r}", 2)
    return weights


def cmd_alias(args: argparse.Namespace) -> int:
    client = aws_client(args, "lambda")
    if args.alias is None:  # list
        aliases = [a for page in client.get_paginator("list_aliases").paginate(FunctionName=args.name)
                   for a in page.get("Aliases", [])]
        if args.json:
            out.dump_json({"Aliases": aliases})
        else:
            rows = [(a["Name"], a["FunctionVersion"], ", ".join(f"{v}={w:g}" for v, w in
                    ((a.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}).items()) or "-",
                     a.get("Description") or "") for a in aliases]
            print(out.table(["ALIAS", "VERSION", "ALSO ROUTES TO", "DESCRIPTION"], rows, "llll"))
        return 0
    if args.rm:
        client.delete_alias(FunctionName=args.name, Name=args.alias)
        print(f"deleted alias {args.alias} of {args.name}")
        return 0
    if args.version is None:
        alias = client.get_alias(FunctionName=args.name, Name=args.alias)
    else:
        kwargs: dict[str, Any] = {"FunctionName": args.name, "Name": args.alias, "FunctionVersion": args.version,
                                  "RoutingConfig": {"AdditionalVersionWeights": _weights(args.weight)}}
        try:
            alias = client.update_alias(**kwargs)
        except Exception as e:
            if error_code(e) != "ResourceNotFoundException":
                raise
            alias = client.create_alias(**kwargs)
    if args.json:
        out.dump_json(_strip_metadata(alias))
    else:
        print(f"{alias['AliasArn']} -> version {alias['FunctionVersion']}")
    return 0


def cmd_url(args: argparse.Namespace) -> int:
    client = aws_client(args, "lambda")
    kwargs = {"Qualifier": args.qualifier} if args.qualifier else {}
    cors = ({"AllowOrigins": args.cors_origin, "AllowMethods": ["*"], "AllowHeaders": ["*"]}
            if args.cors_origin else None)
    try:
        cfg = client.get_function_url_config(FunctionName=args.name, **kwargs)
    except Exception as e:
        if error_code(e) != "ResourceNotFoundException" or "Function not found" in str(e):
            raise
        cfg = client.create_function_url_config(FunctionName=args.name, AuthType=args.auth or "NONE", **kwargs,
                                                **({"Cors": cors} if cors else {}))
    else:  # an existing URL takes the options given
        changes: dict[str, Any] = {}
        if args.auth and args.auth != cfg["AuthType"]:
            changes["AuthType"] = args.auth
        if cors:
            changes["Cors"] = cors
        if changes:
            cfg = client.update_function_url_config(FunctionName=args.name, **kwargs, **changes)
    if cfg["AuthType"] == "NONE":  # as the console does: a public URL needs this statement
        try:
            client.add_permission(FunctionName=args.name, StatementId="FunctionURLAllowPublicAccess",
                                  Action="lambda:InvokeFunctionUrl", Principal="*", FunctionUrlAuthType="NONE",
                                  **kwargs)
        except Exception as e:
            if error_code(e) != "ResourceConflictException":  # the statement is there already
                raise
    url_id = cfg["FunctionUrl"].split("//", 1)[1].split(".", 1)[0]
    path_form = f"{args.endpoint}/_nubis/lambda/url/{url_id}/"
    if args.json:
        out.dump_json(dict(_strip_metadata(cfg), PathFormUrl=path_form))
    else:
        print(cfg["FunctionUrl"])
        print(f"  also at {path_form} (no DNS needed); auth {cfg['AuthType']}", file=sys.stderr)
    return 0


def cmd_layer(args: argparse.Namespace) -> int:
    client = aws_client(args, "lambda")
    if args.path is not None:  # publish
        kwargs: dict[str, Any] = {"LayerName": args.name, "Content": {"ZipFile": load_code(Path(args.path))}}
        if args.runtime:
            kwargs["CompatibleRuntimes"] = args.runtime
        if args.description:
            kwargs["Description"] = args.description
        doc = client.publish_layer_version(**kwargs)
        if args.json:
            out.dump_json(_strip_metadata(doc))
        else:
            print(doc["LayerVersionArn"])
        return 0
    if args.name:
        versions = [v for page in client.get_paginator("list_layer_versions").paginate(LayerName=args.name)
                    for v in page.get("LayerVersions", [])]
        if args.json:
            out.dump_json({"LayerVersions": versions})
        elif not versions:
            raise CliError(f"no layer named {args.name} (see `nubis layer` for the list, or publish one "
                           f"with `nubis layer {args.name} PATH`)")
        else:
            rows = [(v["Version"], ", ".join(v.get("CompatibleRuntimes") or []) or "-",
                     fmt_lambda_time(v.get("CreatedDate")), v["LayerVersionArn"]) for v in versions]
            print(out.table(["VERSION", "RUNTIMES", "CREATED (UTC)", "ARN"], rows, "rlll"))
        return 0
    layers = [l for page in client.get_paginator("list_layers").paginate() for l in page.get("Layers", [])]
    if args.json:
        out.dump_json({"Layers": layers})
    else:
        rows = [(l["LayerName"], l["LatestMatchingVersion"]["Version"], l["LatestMatchingVersion"]["LayerVersionArn"])
                for l in layers]
        print(out.table(["LAYER", "LATEST", "ARN"], rows, "lrl"))
    return 0


def _strip_metadata(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if k != "ResponseMetadata"}


def caller_account() -> str:
    """The account nubis will see: a 12-digit access key id is the account, anything else 000000000000."""
    key = os.environ.get("AWS_ACCESS_KEY_ID", "")
    return key if len(key) == 12 and key.isdigit() else "000000000000"


def cmd_usage(args: argparse.Namespace) -> int:
    # Same scope as `nubis ls`: the caller's account and region.
    params: dict[str, str] = {"account": caller_account(), "region": args.region}
    if args.function:
        params["function"] = args.function
    if args.since is not None:
        params["since"] = str(int(args.since))
    doc = nubis_get(args.endpoint, "/_nubis/usage", params)
    if args.json:
        out.dump_json(doc)
    else:
        print(render_usage(doc))
    return 0


# --------------------------------------------------------------------------- argument parsing


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keep the examples' line breaks."""


def build_parser() -> argparse.ArgumentParser:
    """The whole command line. Global options are accepted before or after the command name."""
    S = argparse.SUPPRESS  # so a sub-command's unset option does not hide the global one
    conn = argparse.ArgumentParser(add_help=False)
    g = conn.add_argument_group("server connection")
    g.add_argument("--endpoint", metavar="URL", default=S,
                   help=f"nubis server URL (env NUBIS_ENDPOINT; default {DEFAULT_ENDPOINT})")
    g.add_argument("--region", default=S,
                   help=f"region to sign requests for (env AWS_REGION / AWS_DEFAULT_REGION; default {DEFAULT_REGION})")
    js = argparse.ArgumentParser(add_help=False)
    js.add_argument("--json", action="store_true", default=S,
                    help="print one machine-readable JSON document to stdout instead of text")

    parser = argparse.ArgumentParser(
        prog="nubis", parents=[conn, js], formatter_class=_Formatter,
        description="nubis runs AWS Lambda functions on your own machine. Run `nubis server`, then use\n"
                    "these commands (or boto3 / the AWS CLI with --endpoint-url) against it.",
        epilog="examples:\n  nubis server &\n  nubis deploy ./hello --name hello\n"
               "  nubis invoke hello --payload '{\"name\": \"Ada\"}'\n  nubis logs hello --follow\n"
               "\nrun `nubis COMMAND --help` for the options of each command.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, func: Callable[[argparse.Namespace], int], summary: str, example: str,
                parents: Sequence[argparse.ArgumentParser] = (conn, js)) -> argparse.ArgumentParser:
        p = sub.add_parser(name, parents=list(parents), help=summary, description=summary,
                           epilog="example:\n  " + example, formatter_class=_Formatter)
        p.set_defaults(func=func)
        return p

    p = command("server", cmd_server, "Run the nubis server in the foreground (Ctrl-C stops it).",
                "nubis server --port 8750 --data-dir ~/.nubis", parents=())
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    p.add_argument("--port", type=int, default=8750, help="port to listen on (default %(default)s)")
    p.add_argument("--data-dir", metavar="DIR", default=os.environ.get("NUBIS_DATA_DIR", "~/.nubis"),
                   help="where functions, logs, usage and pricing.toml live (env NUBIS_DATA_DIR; default %(default)s)")
    p.add_argument("--concurrency-limit", type=int, default=1000, metavar="N",
                   help="account-wide concurrent executions, like Lambda's regional quota (default %(default)s)")
    p.add_argument("--keep-alive", type=float, default=600, metavar="SECONDS",
                   help="how long an idle execution environment is kept warm (default %(default)g)")
    p.add_argument("--async-retry-scale", type=float, default=1.0, metavar="FACTOR",
                   help="multiply retry waits by this, e.g. 0.01 in tests: Lambda's async retries (1 and 2 "
                        "minutes) and SNS delivery retries (default %(default)g)")
    p.add_argument("--credentials", metavar="FILE", action="append",
                   help="an AWS shared-credentials file (e.g. ~/.aws/credentials) whose keys get their SigV4 "
                        "signatures verified; repeatable (env NUBIS_CREDENTIALS; <data dir>/credentials is always read)")
    p.add_argument("--verify-signatures", choices=("off", "known", "strict"),
                   help="known: verify the keys of the credentials files, accept any other key (default); "
                        "strict: refuse other keys too; off: never verify (env NUBIS_VERIFY_SIGNATURES)")

    p = command("deploy", cmd_deploy, "Create a function, or update its code (and the settings you pass).",
                "nubis deploy ./hello --name hello --memory 256 --env STAGE=dev LOG_LEVEL=debug")
    p.add_argument("path", metavar="PATH", help="folder to zip, a .zip file, or a single source file")
    p.add_argument("--name", required=True, help="function name")
    p.add_argument("--runtime", help=f"runtime (default on create: {DEFAULT_RUNTIME})")
    p.add_argument("--handler", help=f"module.function to call (default on create: {DEFAULT_HANDLER})")
    p.add_argument("--memory", type=int, metavar="MB", help=f"memory in MB, 128-10240 (default on create: {DEFAULT_MEMORY})")
    p.add_argument("--timeout", type=int, metavar="SECONDS", help=f"timeout, 1-900 (default on create: {DEFAULT_TIMEOUT})")
    p.add_argument("--env", type=_env_pair, nargs="+", action="extend", metavar="KEY=VALUE",
                   help="environment variables; replaces the whole set on update")
    p.add_argument("--layers", nargs="*", metavar="ARN",
                   help="layer version ARNs (`nubis layer`), merged in order under /opt; replaces the list on "
                        "update (`--layers` alone removes them)")
    p.add_argument("--role", metavar="ARN",
                   help=f"execution role (default on create: {DEFAULT_ROLE}; recorded, not enforced by nubis)")
    p.add_argument("--architecture", choices=("x86_64", "arm64"), help="architecture to bill as (default x86_64)")

    p = command("invoke", cmd_invoke, "Invoke a function and print its response.",
                "nubis invoke hello --payload '{\"name\": \"Ada\"}' --log")
    p.add_argument("name", metavar="NAME", help="function name or ARN")
    p.add_argument("--payload", metavar="JSON|@FILE|-", help="event as JSON text, @file, or - for stdin (default {})")
    p.add_argument("--async", dest="async_", action="store_true", help="queue the event (InvocationType Event) and return")
    p.add_argument("--qualifier", metavar="Q", help="version or alias to invoke")
    p.add_argument("--log", action="store_true", help="print the end of the invocation's log to stderr")

    p = command("ls", cmd_ls, "List functions, with the buckets that trigger them.", "nubis ls --json")

    p = command("api", cmd_api, "List API Gateway APIs (HTTP, WebSocket, REST) with their URLs, stages and routes.",
                "nubis api ls")
    p.add_argument("action", choices=("ls",), help="ls: list every API")

    p = command("logs", cmd_logs, "Print a function's logs (CloudWatch Logs group /aws/lambda/NAME).",
                "nubis logs hello --since 10m --follow")
    p.add_argument("name", metavar="NAME", help="function name")
    p.add_argument("--since", type=_since_arg, metavar="WHEN",
                   help="only events after this: 30s, 10m, 1h, 7d, 2w ago, or an ISO time (UTC if no zone); default all")
    p.add_argument("-f", "--follow", action="store_true",
                   help="keep printing new events until Ctrl-C (with --json: one JSON event per line)")
    p.add_argument("--filter", metavar="PATTERN",
                   help="only events matching this CloudWatch Logs filter pattern: ERROR, '?ERROR ?WARN', "
                        "'{ $.level = \"ERROR\" }', '[ip, user, ..., status = 5*]', '%%regex%%'")

    p = command("rm", cmd_rm, "Delete a function.", "nubis rm hello --yes", parents=(conn,))
    p.add_argument("name", metavar="NAME", help="function name or ARN")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    p = command("publish", cmd_publish, "Publish a version: an immutable snapshot of the function's code and settings.",
                "nubis publish hello --description 'release 1'")
    p.add_argument("name", metavar="NAME", help="function name")
    p.add_argument("--description", help="version description")

    p = command("alias", cmd_alias, "List aliases, show one, create/update one (with weighted routing), or delete it.",
                "nubis alias hello live 2 --weight 3=0.1")
    p.add_argument("name", metavar="NAME", help="function name")
    p.add_argument("alias", metavar="ALIAS", nargs="?", help="alias name (omit to list)")
    p.add_argument("version", metavar="VERSION", nargs="?", help="version the alias points to (create or update)")
    p.add_argument("--weight", nargs="+", action="extend", metavar="VERSION=WEIGHT",
                   help="send this share (0-1) of the alias's traffic to another version")
    p.add_argument("--rm", action="store_true", help="delete the alias")

    p = command("url", cmd_url, "Print a function's URL, creating it (and its public permission) if needed.",
                "nubis url hello --auth NONE")
    p.add_argument("name", metavar="NAME", help="function name")
    p.add_argument("--qualifier", metavar="ALIAS", help="give the alias its own URL")
    p.add_argument("--auth", choices=("NONE", "AWS_IAM"),
                   help="auth type (default on create: NONE); changes an existing URL's")
    p.add_argument("--cors-origin", nargs="+", action="extend", metavar="ORIGIN",
                   help="allowed CORS origins (replaces an existing URL's CORS settings)")

    p = command("layer", cmd_layer, "List layers, list a layer's versions, or publish a new version from PATH.",
                "nubis layer deps ./deps-layer --runtime python3.12")
    p.add_argument("name", metavar="NAME", nargs="?", help="layer name (omit to list layers)")
    p.add_argument("path", metavar="PATH", nargs="?", help="folder or .zip to publish as a new version")
    p.add_argument("--runtime", nargs="+", action="extend", metavar="RUNTIME", help="compatible runtimes")
    p.add_argument("--description", help="version description")

    p = command("usage", cmd_usage, "Show requests, GB-seconds and what they would cost on AWS Lambda.",
                "nubis usage --since 7d")
    p.add_argument("--function", metavar="F", help="only this function")
    p.add_argument("--since", type=_since_arg, metavar="WHEN",
                   help="only invocations after this: 7d, 24h, ... or an ISO time; default all")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and fill the global options from the environment."""
    args = build_parser().parse_args(argv)
    args.endpoint = normalize_endpoint(getattr(args, "endpoint", None) or os.environ.get("NUBIS_ENDPOINT")
                                       or DEFAULT_ENDPOINT)
    args.region = (getattr(args, "region", None) or os.environ.get("AWS_REGION")
                   or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION)
    args.json = getattr(args, "json", False)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one command; errors become one line on stderr and an exit code."""
    args = parse_args(argv)
    if not getattr(args, "func", None):
        build_parser().print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `nubis logs fn | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:
        result = format_error(e, args.endpoint)
        if result is None:
            if os.environ.get("NUBIS_DEBUG"):
                raise
            result = (one_line(f"nubis: unexpected error: {type(e).__name__}: {e} (NUBIS_DEBUG=1 shows a traceback)"),
                      1)
        print(result[0], file=sys.stderr)
        return result[1]


if __name__ == "__main__":
    sys.exit(main())
