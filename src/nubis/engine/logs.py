"""Lambda's platform log lines (text format), exactly as AWS writes them.

Every message ends with "\\n" (one CloudWatch event per line).
"""

from __future__ import annotations

import math


def init_start_line(runtime_version: str, region: str, runtime_hash: str) -> str:
    return (
        f"INIT_START Runtime Version: {runtime_version}\t"
        f"Runtime Version ARN: arn:aws:lambda:{region}::runtime:{runtime_hash}\n"
    )


def init_report_line(init_ms: float, status: str, error_type: str | None = None, phase: str = "invoke") -> str:
    line = f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: {phase}\tStatus: {status}"
    if error_type:
        line += f"\tError Type: {error_type}"
    return line + "\n"


def restore_start_line(runtime_version: str, region: str, runtime_hash: str) -> str:
    """SnapStart: the first line of an environment restored from the version's snapshot."""
    return (
        f"RESTORE_START Runtime Version: {runtime_version}\t"
        f"Runtime Version ARN: arn:aws:lambda:{region}::runtime:{runtime_hash}\n"
    )


def restore_report_line(restore_ms: float) -> str:
    return f"RESTORE_REPORT Restore Duration: {restore_ms:.2f} ms\n"


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}\n"


def end_line(request_id: str) -> str:
    return f"END RequestId: {request_id}\n"


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
    return line + "\n"


def billed_ms(duration_ms: float, init_ms: float | None = None) -> int:
    """ceil to 1 ms of the duration, plus INIT on cold starts (billed since Aug 2025)."""
    total = duration_ms + (init_ms or 0.0)
    return max(1, math.ceil(round(total, 6)))


def kb_to_mb(kb: int | None) -> int:
    if not kb:
        return 0
    return -(-kb // 1024)
