"""LoggingConfig applied: JSON records from the Python and Node runtimes, JSON platform events, and
ApplicationLogLevel / SystemLogLevel filtering (JSON only, as on AWS)."""
from __future__ import annotations

import base64
import json
import time

import pytest
from botocore.exceptions import ClientError

from nubis_testing import ROLE, create_function, make_zip, unique

PY = '''
import logging
logger = logging.getLogger()
named = logging.getLogger("orders")

def handler(event, context):
    print("plain print")
    logger.debug("debug line")
    logger.info("info %s", "line")
    named.warning("careful", extra={"orderId": 42})
    logger.info({"structured": True})
    try:
        1 / 0
    except ZeroDivisionError:
        logger.exception("it broke")
    if event.get("fail"):
        raise ValueError("bad input")
    return {"rid": context.aws_request_id}
'''

NODE = '''
exports.handler = async (event, context) => {
  console.debug("debug line");
  console.info("info", "line");
  console.warn({ shape: "object" });
  console.error(new TypeError("typed"));
  return { rid: context.awsRequestId };
};
'''


def _events(logs, group: str, rid: str, want: str = "platform.report") -> list[str]:
    """The group's messages once `want` has arrived for request `rid`."""
    for _ in range(200):
        msgs = [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]]
        if any(want in m and rid in m for m in msgs):
            return msgs
        time.sleep(0.05)
    raise AssertionError(f"no {want} for {rid}: {msgs}")


def _json(msgs: list[str]) -> list[dict]:
    out = []
    for m in msgs:
        try:
            out.append(json.loads(m))
        except ValueError:
            pass
    return out


def test_python_json_records_and_platform_events(lam, logs):
    name = create_function(lam, PY, LoggingConfig={"LogFormat": "JSON"})
    cfg = lam.get_function_configuration(FunctionName=name)["LoggingConfig"]
    assert cfg == {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO",
                   "LogGroup": f"/aws/lambda/{name}"}
    out = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    rid = json.loads(out["Payload"].read())["rid"]
    tail = base64.b64decode(out["LogResult"]).decode()
    msgs = _events(logs, f"/aws/lambda/{name}", rid)
    assert "plain print\n" in msgs  # print() stays plain text
    records = _json(msgs)
    by_type = {r.get("type"): r for r in records if "type" in r}
    assert set(by_type) == {"platform.initStart", "platform.start", "platform.report"}  # END is DEBUG
    init = by_type["platform.initStart"]["record"]
    assert init["initializationType"] == "on-demand" and init["phase"] == "init"
    assert init["functionName"] == name and init["functionVersion"] == "$LATEST"
    assert init["instanceMaxMemory"] == 128 * 1048576 and f"{name}[$LATEST]" in init["instanceId"]
    assert by_type["platform.start"]["record"] == {
        "requestId": rid, "functionArn": lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"],
        "version": "$LATEST"}
    report = by_type["platform.report"]
    assert report["time"].endswith("Z") and report["record"]["status"] == "success"
    assert set(report["record"]["metrics"]) == {"durationMs", "billedDurationMs", "memorySizeMB",
                                                "maxMemoryUsedMB", "initDurationMs"}
    app = [r for r in records if "level" in r]
    assert [r["level"] for r in app] == ["INFO", "WARNING", "INFO", "ERROR"]  # DEBUG filtered (INFO default)
    info = app[0]
    assert info["message"] == "info line" and info["logger"] == "root" and info["requestId"] == rid
    assert info["timestamp"].endswith("Z") and len(info["timestamp"]) == 20
    assert app[1]["logger"] == "orders" and app[1]["orderId"] == 42
    assert app[2]["message"] == {"structured": True}
    err = app[3]
    assert err["errorType"] == "ZeroDivisionError" and err["errorMessage"] == "division by zero"
    assert isinstance(err["stackTrace"], list) and err["location"].endswith("app.py:handler:15")
    assert '"type":"platform.report"' in tail and "REPORT RequestId" not in tail

    # An unhandled error is one JSON record, as the runtime logs it.
    out = lam.invoke(FunctionName=name, Payload=b'{"fail": true}')
    rid2 = json.loads(out["Payload"].read())["requestId"]
    failed = [r for r in _json(_events(logs, f"/aws/lambda/{name}", rid2)) if r.get("requestId") == rid2
              and r.get("errorType") == "ValueError" and "message" not in r]
    assert failed and failed[0]["level"] == "ERROR" and failed[0]["errorMessage"] == "bad input"


def test_levels_filter_application_and_system_logs(lam, logs):
    name = create_function(lam, PY, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG",
                                                   "SystemLogLevel": "DEBUG"})
    rid = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())["rid"]
    msgs = _events(logs, f"/aws/lambda/{name}", rid)
    records = _json(msgs)
    assert "DEBUG" in [r.get("level") for r in records]
    assert {"requestId": rid, "status": "success"} in [r["record"] for r in records
                                                        if r.get("type") == "platform.runtimeDone"]
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"ApplicationLogLevel": "ERROR",
                                                                        "SystemLogLevel": "WARN"})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    assert lam.get_function_configuration(FunctionName=name)["LoggingConfig"]["LogFormat"] == "JSON"
    rid = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())["rid"]
    for _ in range(100):
        mine = [r for r in _json([e["message"] for e in logs.filter_log_events(
            logGroupName=f"/aws/lambda/{name}")["events"]]) if r.get("requestId") == rid]
        if mine:
            break
        time.sleep(0.05)
    time.sleep(0.3)
    msgs = [e["message"] for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]]
    mine = [r for r in _json(msgs) if r.get("requestId") == rid or r.get("record", {}).get("requestId") == rid]
    assert [r["level"] for r in mine] == ["ERROR"]  # no platform events at WARN, no INFO/WARNING records
    assert msgs.count("plain print\n") == 1  # the 2nd invocation's print counts as INFO: dropped at ERROR


def test_text_format_refuses_levels(lam):
    name = unique()
    with pytest.raises(ClientError) as info:
        lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": PY})},
                            LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"})
    err = info.value.response
    assert err["Error"]["Code"] == "InvalidParameterValueException"
    assert err["Error"]["Message"] == ('LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel '
                                       'from your request or change the LogFormat to "Json" and try again.')
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    name = create_function(lam, PY, LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "WARN"})
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "Text"})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    assert lam.get_function_configuration(FunctionName=name)["LoggingConfig"] == {
        "LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    out = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert base64.b64decode(out["LogResult"]).decode().startswith("START RequestId")


def test_node_json_records(lam, logs):
    name = create_function(lam, {"index.js": NODE}, Runtime="nodejs20.x", handler="index.handler",
                           LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"})
    rid = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())["rid"]
    records = _json(_events(logs, f"/aws/lambda/{name}", rid))
    app = [r for r in records if "level" in r]
    assert [r["level"] for r in app] == ["WARN", "ERROR"]
    assert set(app[0]) == {"timestamp", "level", "requestId", "message"} and app[0]["requestId"] == rid
    assert app[0]["message"] == {"shape": "object"}
    assert app[1]["message"]["errorType"] == "TypeError" and app[1]["message"]["errorMessage"] == "typed"
    assert {"platform.start", "platform.report"} <= {r.get("type") for r in records}
