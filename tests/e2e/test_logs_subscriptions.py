"""Subscription filters: matching log events reach a Lambda function as AWS delivers them
({"awslogs": {"data": base64(gzip(json))}}), durably (kill -9) and without feeding a function its own
subscription-caused logs for ever."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function, start_server, stop_server, wait_for

# Decodes what it receives (as a real subscriber does) and records the decoded document.
DECODER = """
import base64, gzip, json, os, uuid
def handler(event, context):
    doc = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
    print("received", len(doc["logEvents"]), "events")
    if os.environ.get("SLOW"):
        import time; time.sleep(3)
    path = os.path.join(os.environ["OUT_DIR"], uuid.uuid4().hex + ".json")
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f)
    os.rename(path + ".tmp", path)
"""




def received(out: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]


def messages(out: Path) -> list[str]:
    return [e["message"] for doc in received(out) for e in doc["logEvents"]]


def subscriber(lam, out: Path, group: str | None = None, allow: bool = True) -> str:
    out.mkdir(exist_ok=True)
    name = create_function(lam, DECODER, Environment={"Variables": {"OUT_DIR": str(out)}})
    if allow:
        kwargs = {"SourceArn": f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"} if group else {}
        lam.add_permission(FunctionName=name, StatementId="logs", Action="lambda:InvokeFunction",
                           Principal="logs.amazonaws.com", **kwargs)
    return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def put_events(logs, group: str, stream: str, lines: list[str]) -> None:
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)])


def test_subscription_delivers_matching_events(server, lam, logs, tmp_path):
    group = f"/app/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    put_events(logs, group, "s1", ["ERROR before the filter"])  # not delivered: older than the filter
    arn = subscriber(lam, tmp_path / "out", group)
    logs.put_subscription_filter(logGroupName=group, filterName="errors", filterPattern="?ERROR ?FATAL",
                                 destinationArn=arn)
    (f,) = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert (f["filterName"], f["filterPattern"], f["destinationArn"], f["distribution"]) == (
        "errors", "?ERROR ?FATAL", arn, "ByLogStream")
    assert f["logGroupName"] == group and f["creationTime"] > 0
    put_events(logs, group, "s1", ["INFO fine", "ERROR boom", "FATAL crash", "DEBUG noise"])
    got = wait_for(lambda: len(messages(tmp_path / "out")) >= 2 and received(tmp_path / "out"))
    assert got, "nothing delivered"
    doc = got[0]
    assert doc["messageType"] == "DATA_MESSAGE" and doc["owner"] == "000000000000"
    assert (doc["logGroup"], doc["logStream"], doc["subscriptionFilters"]) == (group, "s1", ["errors"])
    assert [e["message"] for e in doc["logEvents"]] == ["ERROR boom", "FATAL crash"]
    ev = doc["logEvents"][0]
    assert set(ev) == {"id", "timestamp", "message"} and len(ev["id"]) == 56 and isinstance(ev["timestamp"], int)
    ids = {e["eventId"] for e in logs.filter_log_events(logGroupName=group, filterPattern="ERROR")["events"]}
    assert ev["id"] in ids  # the same ids FilterLogEvents gives

    # JSON pattern, replacing the filter of the same name
    logs.put_subscription_filter(logGroupName=group, filterName="errors", filterPattern='{ $.level = "ERROR" }',
                                 destinationArn=arn)
    put_events(logs, group, "s1", ['{"level": "INFO"}', '{"level": "ERROR", "n": 1}'])
    assert wait_for(lambda: '{"level": "ERROR", "n": 1}' in messages(tmp_path / "out"))
    assert '{"level": "INFO"}' not in messages(tmp_path / "out")

    logs.delete_subscription_filter(logGroupName=group, filterName="errors")
    assert logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"] == []


def test_subscription_errors(server, lam, logs, tmp_path):
    group = f"/app/{uuid.uuid4().hex[:8]}"
    logs.create_log_group(logGroupName=group)
    denied = subscriber(lam, tmp_path / "x", allow=False)

    def error(**kw) -> tuple[str, str]:
        args = {"logGroupName": group, "filterName": "f", "filterPattern": "", "destinationArn": denied, **kw}
        with pytest.raises(ClientError) as info:
            logs.put_subscription_filter(**args)
        return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]

    assert error() == ("InvalidParameterException", "Could not execute the lambda function. Make sure you have "
                       "given CloudWatch Logs permission to execute your function.")
    assert error(destinationArn=denied + "-missing")[0] == "InvalidParameterException"
    assert error(logGroupName="/no/such/group") == ("ResourceNotFoundException",
                                                    "The specified log group does not exist.")
    arn = subscriber(lam, tmp_path / "y")
    assert error(destinationArn=arn, filterPattern="{ $.x = ") == (
        "InvalidParameterException", "If a filter pattern starts with '{' it must end with '}'")
    for n in ("a", "b"):
        logs.put_subscription_filter(logGroupName=group, filterName=n, filterPattern="", destinationArn=arn)
    assert error(destinationArn=arn, filterName="c") == ("LimitExceededException", "Resource limit exceeded.")
    with pytest.raises(ClientError) as info:
        logs.delete_subscription_filter(logGroupName=group, filterName="zzz")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_subscribed_to_its_own_group_does_not_loop(server, lam, logs, tmp_path):
    """A function subscribed to its own log group gets the logs of its other invocations, not those of the
    invocations the deliveries caused (which would go on for ever)."""
    out = tmp_path / "own"
    out.mkdir()
    name = create_function(lam, DECODER.replace('doc = json', 'doc = {"logEvents": []} if "awslogs" not in event '
                                                'else json'), Environment={"Variables": {"OUT_DIR": str(out)}})
    group = f"/aws/lambda/{name}"
    lam.add_permission(FunctionName=name, StatementId="logs", Action="lambda:InvokeFunction",
                       Principal="logs.amazonaws.com")
    lam.invoke(FunctionName=name, Payload=b"{}")  # creates the group
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    logs.put_subscription_filter(logGroupName=group, filterName="all", filterPattern="", destinationArn=arn)
    rid = lam.invoke(FunctionName=name, Payload=b"{}")["ResponseMetadata"]["RequestId"]
    assert wait_for(lambda: any(f"START RequestId: {rid}" in m for m in messages(out)))
    time.sleep(2)  # a loop would keep delivering
    docs = [d for d in received(out) if d["logEvents"]]
    assert len(docs) == 1, [e["message"] for d in docs for e in d["logEvents"]]


def test_cli_and_test_metric_filter(server, tmp_path):
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}
    base = ["aws", "--endpoint-url", server.endpoint, "--output", "json", "logs"]
    out = subprocess.run(base + ["test-metric-filter", "--filter-pattern", "[ip, user, status = 4*]",
                                 "--log-event-messages", "1.2.3.4 bob 404", "1.2.3.4 bob 200"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert [m["eventMessage"] for m in json.loads(out.stdout)["matches"]] == ["1.2.3.4 bob 404"]
    group = f"/app/{uuid.uuid4().hex[:8]}"
    subprocess.run(base + ["create-log-group", "--log-group-name", group], env=env, check=True, timeout=60)
    bad = subprocess.run(base + ["filter-log-events", "--log-group-name", group, "--filter-pattern", "a:b"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "InvalidParameterException" in bad.stderr
    assert "Invalid character(s) in term ':'" in bad.stderr


@pytest.mark.timeout(240)
def test_deliveries_survive_kill_9(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    srv = start_server(data)
    lam, logs = srv.client("lambda"), srv.client("logs")
    group = "/app/durable"
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    arn = subscriber(lam, out, group)
    # The subscriber is slow, so most deliveries are still queued when the server dies.
    lam.update_function_configuration(FunctionName=arn, Timeout=30, Environment={"Variables": {
        "OUT_DIR": str(out), "SLOW": "1"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName=arn, WaiterConfig={"Delay": 0.1})
    logs.put_subscription_filter(logGroupName=group, filterName="all", filterPattern="keep",
                                 destinationArn=arn)
    n = 12
    for i in range(n):
        put_events(logs, group, "s", [f"keep {i}", f"drop {i}"])
        time.sleep(0.1)
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait()
    before = messages(out)
    assert len(before) < n, "the test must kill the server before everything was delivered"

    srv = start_server(data)
    try:
        want = {f"keep {i}" for i in range(n)}
        assert wait_for(lambda: want <= set(messages(out)), timeout=180), sorted(want - set(messages(out)))
        assert not any(m.startswith("drop") for m in messages(out))
    finally:
        stop_server(srv)
