"""Store rows to CloudWatch Logs response shapes, and log group identifiers to names."""
from __future__ import annotations

import re
from typing import Any

from ...server.errors import AwsError
from ...store.db import Row
from ...store.logs import LogEvent
from .errors import invalid

_GROUP_ARN = re.compile(r"arn:[^:]+:logs:[^:]*:[^:]*:log-group:([^:]+)(?::\*)?")


def group_arn(region: str, account: str, group: str) -> str:
    """The log group ARN without the `:*` suffix (DescribeLogGroups' `logGroupArn`)."""
    return f"arn:aws:logs:{region}:{account}:log-group:{group}"


def group_name(params: dict[str, Any]) -> str:
    """The group an operation addresses, from `logGroupName` or `logGroupIdentifier` (name or ARN)."""
    name, ident = params.get("logGroupName"), params.get("logGroupIdentifier")
    if name and ident:
        raise AwsError("ValidationException", "LogGroup name and LogGroup ARN are mutually exclusive parameters.")
    if ident:
        m = _GROUP_ARN.fullmatch(ident)
        return m.group(1) if m else ident
    if not name:
        raise invalid("Either logGroupName or logGroupIdentifier must be specified.")
    return name


def group_view(row: Row, account: str, region: str, *, brief: bool = False) -> dict[str, Any]:
    arn = group_arn(region, account, row["name"])
    view: dict[str, Any] = {
        "logGroupName": row["name"],
        "creationTime": row["created"],
        "metricFilterCount": 0,
        "arn": arn + ":*",
        "logGroupClass": "STANDARD",
        "logGroupArn": arn,
    }
    if brief:  # AWS answers a logGroupNamePattern search with these fields only
        return view
    if row["retention_days"] is not None:
        view["retentionInDays"] = row["retention_days"]
    view["storedBytes"] = row["stored_bytes"] if "stored_bytes" in row.keys() else 0
    view["deletionProtectionEnabled"] = False
    return view


def sequence_token(ms: int) -> str:
    """Sequence tokens are ignored by AWS since 2023 but still returned: 56 digits, like AWS's."""
    return f"{ms:056d}"


def stream_view(row: Row, account: str, region: str, group: str) -> dict[str, Any]:
    view: dict[str, Any] = {"logStreamName": row["name"], "creationTime": row["created"]}
    if row["first_event"] is not None:
        view["firstEventTimestamp"] = row["first_event"]
        view["lastEventTimestamp"] = row["last_event"]
    if row["last_ingestion"] is not None:
        view["lastIngestionTime"] = row["last_ingestion"]
        view["uploadSequenceToken"] = sequence_token(row["last_ingestion"])
    view["arn"] = f"{group_arn(region, account, group)}:log-stream:{row['name']}"
    view["storedBytes"] = 0  # deprecated by AWS: always 0
    return view


def event_id(event: LogEvent) -> str:
    """Stable per event (the row id), 56 digits like AWS's; `aws logs tail --follow` dedups on it."""
    return f"{event.id:056d}"


def output_event(event: LogEvent) -> dict[str, Any]:
    return {"timestamp": event.timestamp, "message": event.message, "ingestionTime": event.ingestion}


def filtered_event(event: LogEvent) -> dict[str, Any]:
    return {"logStreamName": event.stream, "timestamp": event.timestamp, "message": event.message,
            "ingestionTime": event.ingestion, "eventId": event_id(event)}


MAX_PAGE_BYTES = 1_048_576


def cap_bytes(events: list[LogEvent]) -> list[LogEvent]:
    """A page holds at most 1 MB of events (message bytes + 26 per event), as AWS's do; keeps at least one."""
    total = 0
    for i, e in enumerate(events):
        total += len(e.message.encode()) + 26
        if total > MAX_PAGE_BYTES and i > 0:
            return events[:i]
    return events
