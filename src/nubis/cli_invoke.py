"""`nubis invoke`: the payload (JSON, @file or stdin), the response on stdout, the log tail and any
function error on stderr."""
from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from nubis import cli_output as out
from nubis.cli_client import aws_client
from nubis.cli_errors import CliError, one_line

INVOKE_READ_TIMEOUT = 960  # longer than the longest function timeout (900 s)


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
