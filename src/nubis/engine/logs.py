"""Lambda's platform log lines, exactly as AWS writes them.

Every message ends with "\\n" (one CloudWatch event per line). Each line is built as text (the default
`LogFormat: Text`) and carries its telemetry event (type, record) too, so that `render` can turn a
function's lines into JSON platform events when its LoggingConfig asks for JSON (see json_logs).
"""

from __future__ import annotations

import math
from typing import Any


class PlatformLine(str):
    """A platform log line (text) that also knows its JSON form: `type` like "platform.start", `record`."""

    __slots__ = ("type", "record")
    type: str
    record: dict[str, Any]


def _line(text: str, type_: str, record: dict[str, Any]) -> PlatformLine:
    line = PlatformLine(text)
    line.type, line.record = type_, record
    return line


def init_start_line(runtime_version: str, region: str, runtime_hash: str) -> str:
    arn = f"arn:aws:lambda:{region}::runtime:{runtime_hash}"
    return _line(f"INIT_START Runtime Version: {runtime_version}\tRuntime Version ARN: {arn}\n",
                 "platform.initStart", {"phase": "init", "runtimeVersion": runtime_version, "runtimeVersionArn": arn})


def init_report_line(init_ms: float, status: str, error_type: str | None = None, phase: str = "invoke") -> str:
    line = f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: {phase}\tStatus: {status}"
    record: dict[str, Any] = {"phase": phase, "status": status}
    if error_type:
        line += f"\tError Type: {error_type}"
        record["errorType"] = error_type
    record["metrics"] = {"durationMs": round(init_ms, 3)}
    return _line(line + "\n", "platform.initReport", record)


def restore_start_line(runtime_version: str, region: str, runtime_hash: str) -> str:
    """SnapStart: the first line of an environment restored from the version's snapshot."""
    arn = f"arn:aws:lambda:{region}::runtime:{runtime_hash}"
    return _line(f"RESTORE_START Runtime Version: {runtime_version}\tRuntime Version ARN: {arn}\n",
                 "platform.restoreStart", {"runtimeVersion": runtime_version, "runtimeVersionArn": arn})


def restore_report_line(restore_ms: float) -> str:
    return _line(f"RESTORE_REPORT Restore Duration: {restore_ms:.2f} ms\n", "platform.restoreReport",
                 {"status": "success", "metrics": {"durationMs": round(restore_ms, 3)}})


def start_line(request_id: str, version: str) -> str:
    return _line(f"START RequestId: {request_id} Version: {version}\n", "platform.start",
                 {"requestId": request_id, "version": version})


def end_line(request_id: str, status: str | None = None, error_type: str | None = None) -> str:
    """END; its JSON form (platform.runtimeDone) carries the status the REPORT line has."""
    record: dict[str, Any] = {"requestId": request_id, "status": status or "success"}
    if error_type:
        record["errorType"] = error_type
    return _line(f"END RequestId: {request_id}\n", "platform.runtimeDone", record)


def report_line(
    request_id: str,
    duration_ms: float,
    billed_ms: int,
    memory_mb: int,
    max_memory_mb: int,
    init_ms: float | None = None,
    status: str | None = None,
    error_type: str | None = None,
    restore_ms: float | None = None,
    billed_restore_ms: int | None = None,
) -> str:
    line = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed_ms} ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: {max_memory_mb} MB\t"
    )
    if init_ms is not None:
        line += f"Init Duration: {init_ms:.2f} ms\t"
    if restore_ms is not None:
        line += f"Restore Duration: {restore_ms:.2f} ms\tBilled Restore Duration: {billed_restore_ms} ms\t"
    if status is not None:
        line += f"Status: {status}"
        if error_type:
            line += f"\tError Type: {error_type}"
    metrics: dict[str, Any] = {"durationMs": round(duration_ms, 3), "billedDurationMs": billed_ms,
                               "memorySizeMB": memory_mb, "maxMemoryUsedMB": max_memory_mb}
    if init_ms is not None:
        metrics["initDurationMs"] = round(init_ms, 3)
    if restore_ms is not None:
        metrics["restoreDurationMs"] = round(restore_ms, 3)
        metrics["billedRestoreDurationMs"] = billed_restore_ms
    record: dict[str, Any] = {"requestId": request_id, "metrics": metrics, "status": status or "success"}
    if error_type:
        record["errorType"] = error_type
    return _line(line + "\n", "platform.report", record)


def billed_ms(duration_ms: float, init_ms: float | None = None) -> int:
    """ceil to 1 ms of the duration, plus INIT on cold starts (billed since Aug 2025)."""
    total = duration_ms + (init_ms or 0.0)
    return max(1, math.ceil(round(total, 6)))


def kb_to_mb(kb: int | None) -> int:
    if not kb:
        return 0
    return -(-kb // 1024)
