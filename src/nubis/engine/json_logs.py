"""LoggingConfig applied to a function's log events: `LogFormat: JSON` and the log-level filters.

With JSON, Lambda writes its platform lines as telemetry events (`{"time", "type": "platform.start",
"record": {...}}`) and keeps only those at or above `SystemLogLevel`; application lines pass when their
level (a JSON object's `"level"`; anything else counts as INFO, as AWS documents) is at or above
`ApplicationLogLevel`. The runtimes format their own records (AWS_LAMBDA_LOG_FORMAT / _LEVEL); this is
the platform's part. Text format leaves every line as it is.
"""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from .logs import PlatformLine
from .types import FunctionSpec

LEVELS = {"TRACE": 1, "DEBUG": 2, "INFO": 3, "WARN": 4, "ERROR": 5, "FATAL": 6}
_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL"}

# The level of each platform event (AWS: runtimeDone and initRuntimeDone are DEBUG, the rest INFO).
SYSTEM_LEVELS = {"platform.runtimeDone": "DEBUG", "platform.initRuntimeDone": "DEBUG",
                 "platform.restoreRuntimeDone": "DEBUG", "platform.logsDropped": "WARN"}


def _iso(ms: int) -> str:
    return _dt.datetime.fromtimestamp(ms / 1000, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def instance_id(spec: FunctionSpec, stream: str) -> str:
    """`2026/10/08/<function>[$LATEST]<hex>`: the log stream name with the function's name in it."""
    day, sep, rest = stream.rpartition("/")
    return f"{day}{sep}{spec.function_name}{rest}" if sep else stream


def app_level(message: str) -> str:
    """An application line's level: its JSON `"level"` if valid, else INFO."""
    text = message.lstrip()
    if text.startswith("{"):
        try:
            doc = json.loads(text)
        except ValueError:
            return "INFO"
        if isinstance(doc, dict) and isinstance(doc.get("level"), str):
            name = doc["level"].upper()
            name = _ALIASES.get(name, name)
            if name in LEVELS:
                return name
    return "INFO"


def _record(line: PlatformLine, spec: FunctionSpec, stream: str, init_type: str) -> dict[str, Any]:
    rec = line.record
    if line.type in ("platform.initStart", "platform.restoreStart"):
        head: dict[str, Any] = ({"initializationType": init_type, "phase": rec.get("phase", "init")}
                                if line.type == "platform.initStart" else {})
        return {**head, "runtimeVersion": rec["runtimeVersion"], "runtimeVersionArn": rec["runtimeVersionArn"],
                "functionName": spec.function_name, "functionVersion": spec.version,
                "instanceId": instance_id(spec, stream), "instanceMaxMemory": spec.memory_mb * 1048576}
    if line.type == "platform.initReport":
        return {"initializationType": init_type, **rec}
    if line.type == "platform.start":
        return {"requestId": rec["requestId"], "functionArn": spec.function_arn, "version": rec["version"]}
    return rec


def render(events: list[tuple[int, str]], spec: FunctionSpec, stream: str,
           init_type: str = "on-demand") -> list[tuple[int, str]]:
    """The events as CloudWatch stores them under the function's LoggingConfig."""
    if spec.log_format != "JSON":
        return events
    system_min = LEVELS.get(spec.system_log_level or "INFO", 3)
    app_min = LEVELS.get(spec.app_log_level or "INFO", 3)
    out: list[tuple[int, str]] = []
    for ts, message in events:
        if isinstance(message, PlatformLine):
            if LEVELS[SYSTEM_LEVELS.get(message.type, "INFO")] < system_min:
                continue
            event = {"time": _iso(ts), "type": message.type, "record": _record(message, spec, stream, init_type)}
            out.append((ts, json.dumps(event, separators=(",", ":")) + "\n"))
        elif app_min <= 1 or LEVELS[app_level(message)] >= app_min:
            out.append((ts, message))
    return out
