"""`nubis logs`: a function's CloudWatch Logs events, once or followed (`--follow`)."""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from nubis import cli_output as out
from nubis.cli_client import aws_client
from nubis.cli_errors import error_code


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


def _print_event(ev: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(ev, ensure_ascii=False) + "\n")
    else:
        message = ev.get("message", "")
        sys.stdout.write(message if message.endswith("\n") else message + "\n")
    sys.stdout.flush()


def log_group_of(args: argparse.Namespace) -> tuple[str, bool]:
    """The function's log group: its LoggingConfig.LogGroup if set, else /aws/lambda/NAME (also for a
    function that no longer exists: its logs outlive it, as on AWS); and whether the function exists."""
    try:
        cfg = aws_client(args, "lambda").get_function_configuration(FunctionName=args.name)
    except Exception as e:
        if error_code(e) != "ResourceNotFoundException":
            raise
        return f"/aws/lambda/{args.name}", False
    return (cfg.get("LoggingConfig") or {}).get("LogGroup") or f"/aws/lambda/{cfg['FunctionName']}", True


def cmd_logs(args: argparse.Namespace) -> int:
    client = aws_client(args, "logs")
    group, exists = log_group_of(args)
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
        why = "yet" if exists else "(no function of that name either; see `nubis ls`)"
        print(f"nubis: no logs for {args.name} {why} (log group {group} does not exist)", file=sys.stderr)
    if args.json:
        out.dump_json({"logGroupName": group, "events": events})
    else:
        for ev in events:
            _print_event(ev, False)
    return 0
