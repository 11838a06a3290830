"""LoggingConfig applied to log events: JSON platform events and the level filters."""
from __future__ import annotations

import json
from dataclasses import replace

from nubis.engine import json_logs as J
from nubis.engine import logs as L
from nubis.engine.types import FunctionSpec

SPEC = FunctionSpec(key="k", function_name="fn", function_arn="arn:aws:lambda:us-east-1:000000000000:function:fn",
                    version="$LATEST", runtime="python3.12", handler="app.handler", code_dir="/x", memory_mb=256,
                    timeout_s=3, environment={}, region="us-east-1", account="000000000000",
                    log_group="/aws/lambda/fn", extra_env={})
STREAM = "2026/01/02/[$LATEST]0123456789abcdef0123456789abcdef"
TS = 1767312000123


def events() -> list[tuple[int, str]]:
    return [(TS, L.init_start_line("python:3.12.v1", "us-east-1", "ab" * 32)),
            (TS, L.start_line("rid-1", "$LATEST")),
            (TS, "plain print\n"),
            (TS, '{"level": "DEBUG", "message": "d"}\n'),
            (TS, '{"level": "warning", "message": "w"}\n'),
            (TS, L.end_line("rid-1")),
            (TS, L.report_line("rid-1", 12.3456, 1013, 256, 40, 1000.5))]


def test_text_format_is_untouched() -> None:
    evs = events()
    assert J.render(evs, SPEC, STREAM) == evs
    assert evs[1][1] == "START RequestId: rid-1 Version: $LATEST\n"


def test_json_platform_events_and_default_levels() -> None:
    out = J.render(events(), replace(SPEC, log_format="JSON"), STREAM)
    docs = [json.loads(m) if m.startswith('{"time"') else m for _, m in out]
    assert [d["type"] if isinstance(d, dict) else d for d in docs] == [
        "platform.initStart", "platform.start", "plain print\n", '{"level": "warning", "message": "w"}\n',
        "platform.report"]  # END (DEBUG) and the DEBUG record dropped at INFO
    init = docs[0]
    assert init["time"] == "2026-01-02T00:00:00.123Z"
    assert init["record"] == {"initializationType": "on-demand", "phase": "init", "runtimeVersion": "python:3.12.v1",
                              "runtimeVersionArn": "arn:aws:lambda:us-east-1::runtime:" + "ab" * 32,
                              "functionName": "fn", "functionVersion": "$LATEST",
                              "instanceId": "2026/01/02/fn[$LATEST]0123456789abcdef0123456789abcdef",
                              "instanceMaxMemory": 256 * 1048576}
    assert docs[1]["record"] == {"requestId": "rid-1", "functionArn": SPEC.function_arn, "version": "$LATEST"}
    assert docs[4]["record"] == {"requestId": "rid-1", "status": "success", "metrics": {
        "durationMs": 12.346, "billedDurationMs": 1013, "memorySizeMB": 256, "maxMemoryUsedMB": 40,
        "initDurationMs": 1000.5}}


def test_levels() -> None:
    debug = replace(SPEC, log_format="JSON", system_log_level="DEBUG", app_log_level="TRACE")
    assert len(J.render(events(), debug, STREAM)) == 7
    warn = replace(SPEC, log_format="JSON", system_log_level="WARN", app_log_level="WARN")
    assert [m for _, m in J.render(events(), warn, STREAM)] == ['{"level": "warning", "message": "w"}\n']
    assert J.app_level('{"level": "fatal"}') == "FATAL" and J.app_level('{"level": "bogus"}') == "INFO"
    assert J.app_level("[ERROR] text") == "INFO"


def test_timeout_report() -> None:
    line = L.report_line("r", 3000.0, 3000, 128, 50, status="timeout")
    out = J.render([(TS, line)], replace(SPEC, log_format="JSON"), STREAM)
    assert json.loads(out[0][1])["record"]["status"] == "timeout"


def test_runtime_done_carries_the_reports_status() -> None:
    debug = replace(SPEC, log_format="JSON", system_log_level="DEBUG")
    evs = [(TS, L.end_line("rid-1")), (TS, L.end_line("rid-2", "timeout")),
           (TS, L.end_line("rid-3", "error", "Runtime.ExitError"))]
    records = [json.loads(m)["record"] for _, m in J.render(evs, debug, STREAM)]
    assert records == [{"requestId": "rid-1", "status": "success"}, {"requestId": "rid-2", "status": "timeout"},
                       {"requestId": "rid-3", "status": "error", "errorType": "Runtime.ExitError"}]
    assert [m for _, m in evs] == [f"END RequestId: rid-{i}\n" for i in (1, 2, 3)]  # the text is unchanged
