"""The AWS CLI (v1, as installed in the venv) against a real nubis server: `aws lambda ...` and
`aws logs ...` with `--endpoint-url`, exactly as a user would type them."""
from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from nubis_testing import ROLE, create_function, make_zip, unique

AWS = Path(sys.executable).parent / "aws"
DEADLINE_S = 60  # generous: the machine may be loaded; polls return as soon as the condition holds
STREAM_NAME = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")
REPORT = re.compile(r"^REPORT RequestId: (\S+)\tDuration: \d+\.\d\d ms\tBilled Duration: (\d+) ms\t"
                    r"Memory Size: (\d+) MB\tMax Memory Used: \d+ MB\t")

CODE_V1 = """
import os
def handler(event, context):
    print("v1 got", event)
    if event.get("fail"):
        raise ValueError("it failed: " + str(event["fail"]))
    return {"version": 1, "event": event, "stage": os.environ.get("STAGE")}
"""
CODE_V2 = CODE_V1.replace('"version": 1', '"version": 2').replace("v1 got", "v2 got")


class AwsCli:
    """Runs `aws --endpoint-url <server> --output json ...` in a scratch folder."""

    def __init__(self, endpoint: str, cwd: Path, account: str = "test") -> None:
        self.endpoint = endpoint
        self.cwd = cwd
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_CA_BUNDLE"}
        env.update(AWS_ACCESS_KEY_ID=account, AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
                   # no user config may change the output; no retries that would hide a server error
                   AWS_CONFIG_FILE=str(cwd / "no-aws-config"), AWS_SHARED_CREDENTIALS_FILE=str(cwd / "no-aws-creds"),
                   AWS_MAX_ATTEMPTS="1", AWS_EC2_METADATA_DISABLED="true")
        self.env = env

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(AWS), "--endpoint-url", self.endpoint, "--output", "json", *args],
                              cwd=self.cwd, env=self.env, capture_output=True, text=True, timeout=timeout)

    def __call__(self, *args: str) -> dict:
        """Run a command that must succeed; its JSON output (or {} when it prints nothing)."""
        proc = self.run(*args)
        assert proc.returncode == 0, f"aws {' '.join(args)} -> {proc.returncode}\n{proc.stderr}"
        return json.loads(proc.stdout) if proc.stdout.strip() else {}

    def fails(self, *args: str) -> str:
        """Run a command that must fail with an AWS error; its stderr."""
        proc = self.run(*args)
        # CLI v1 exits 255 on a service error, v2 254
        assert proc.returncode in (254, 255), f"aws {' '.join(args)} -> {proc.returncode}\n{proc.stdout}{proc.stderr}"
        assert "Traceback" not in proc.stderr, proc.stderr
        return proc.stderr


@pytest.fixture
def aws(server, tmp_path) -> AwsCli:
    return AwsCli(server.endpoint, tmp_path)


def fn_arn(name: str, account: str = "000000000000") -> str:
    return f"arn:aws:lambda:us-east-1:{account}:function:{name}"


def poll(what: str, probe: Callable[[], object], deadline_s: float = DEADLINE_S, interval: float = 0.2):
    """Call probe() until it returns something truthy; fail after the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(interval)


def write_zip(folder: Path, name: str, code: str) -> Path:
    path = folder / name
    path.write_bytes(make_zip({"app.py": code}))
    return path


def sha256_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def invoke(aws: AwsCli, name: str, payload: str, *extra: str) -> tuple[dict, bytes]:
    """`aws lambda invoke` -> (the CLI's JSON output, the bytes written to the outfile)."""
    outfile = aws.cwd / f"out-{unique('inv')}.json"
    meta = aws("lambda", "invoke", "--function-name", name, "--payload", payload, *extra, str(outfile))
    return meta, outfile.read_bytes()


def request_id_of(log: str) -> str:
    m = re.search(r"^START RequestId: (\S+) Version: \$LATEST$", log, re.M)
    assert m, log
    return m.group(1)


# --------------------------------------------------------------------------- lambda


def test_function_lifecycle(aws):
    name = unique("cli")
    v1 = write_zip(aws.cwd, "v1.zip", CODE_V1)
    created = aws("lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
                  "--handler", "app.handler", "--role", ROLE, "--zip-file", f"fileb://{v1}",
                  "--memory-size", "128", "--timeout", "5", "--description", "from the aws cli")
    assert created["FunctionName"] == name and created["FunctionArn"] == fn_arn(name)
    assert created["State"] == "Pending" and created["StateReasonCode"] == "Creating"
    assert created["CodeSha256"] == sha256_b64(v1.read_bytes()) and created["CodeSize"] == v1.stat().st_size
    assert created["Timeout"] == 5 and created["Description"] == "from the aws cli"
    aws("lambda", "wait", "function-active-v2", "--function-name", name)

    got = aws("lambda", "get-function", "--function-name", name)
    assert got["Configuration"]["State"] == "Active" and got["Configuration"]["LastUpdateStatus"] == "Successful"
    assert got["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(got["Code"]["Location"], timeout=30) as resp:
        assert resp.read() == v1.read_bytes()

    cfg = aws("lambda", "get-function-configuration", "--function-name", name)
    assert cfg["RevisionId"] == got["Configuration"]["RevisionId"] == created["RevisionId"]
    assert cfg["Runtime"] == "python3.12" and cfg["Handler"] == "app.handler" and cfg["Role"] == ROLE

    listed = aws("lambda", "list-functions")  # the CLI follows NextMarker itself
    assert name in [f["FunctionName"] for f in listed["Functions"]]
    page = aws("lambda", "list-functions", "--max-items", "1")
    assert len(page["Functions"]) == 1 and (page.get("NextToken") or len(listed["Functions"]) == 1)

    meta, body = invoke(aws, name, '{"n": 1}')
    assert meta["StatusCode"] == 200 and json.loads(body)["version"] == 1

    v2 = write_zip(aws.cwd, "v2.zip", CODE_V2)
    updated = aws("lambda", "update-function-code", "--function-name", name, "--zip-file", f"fileb://{v2}")
    assert updated["LastUpdateStatus"] == "InProgress"
    assert updated["CodeSha256"] == sha256_b64(v2.read_bytes()) != created["CodeSha256"]
    assert updated["RevisionId"] != created["RevisionId"]
    aws("lambda", "wait", "function-updated-v2", "--function-name", name)
    assert json.loads(invoke(aws, name, "{}")[1])["version"] == 2

    changed = aws("lambda", "update-function-configuration", "--function-name", name, "--memory-size", "256",
                  "--environment", "Variables={STAGE=prod}")
    assert changed["MemorySize"] == 256 and changed["Environment"] == {"Variables": {"STAGE": "prod"}}
    aws("lambda", "wait", "function-updated-v2", "--function-name", name)
    cfg = aws("lambda", "get-function-configuration", "--function-name", name)
    assert cfg["MemorySize"] == 256 and cfg["Timeout"] == 5 and cfg["LastUpdateStatus"] == "Successful"
    assert json.loads(invoke(aws, name, "{}")[1]) == {"version": 2, "event": {}, "stage": "prod"}

    # newer botocore models surface the status: AWS answers DeleteFunction with 204
    assert aws("lambda", "delete-function", "--function-name", name) in ({}, {"StatusCode": 204})
    stderr = aws.fails("lambda", "get-function", "--function-name", name)
    assert "(ResourceNotFoundException)" in stderr and f"Function not found: {fn_arn(name)}" in stderr
    assert name not in [f["FunctionName"] for f in aws("lambda", "list-functions")["Functions"]]


def test_invoke_raw_payload_and_log_tail(aws, lam):
    name = create_function(lam, CODE_V1)
    meta, body = invoke(aws, name, '{"name": "cli", "nested": {"a": [1, 2]}}', "--log-type", "Tail")
    assert meta["StatusCode"] == 200 and meta["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in meta
    # CLI v1 sends --payload as is: the function sees exactly this JSON
    assert json.loads(body) == {"version": 1, "event": {"name": "cli", "nested": {"a": [1, 2]}}, "stage": None}
    log = base64.b64decode(meta["LogResult"]).decode()
    rid = request_id_of(log)
    assert "v1 got {'name': 'cli', 'nested': {'a': [1, 2]}}\n" in log
    assert f"\nEND RequestId: {rid}\n" in log
    report = [line for line in log.splitlines() if line.startswith("REPORT ")]
    assert len(report) == 1 and REPORT.match(report[0]) and REPORT.match(report[0]).group(1) == rid

    event_file = aws.cwd / "event.json"
    event_file.write_text('{"from": "file"}')
    meta, body = invoke(aws, name, f"file://{event_file}")
    assert meta["StatusCode"] == 200 and json.loads(body)["event"] == {"from": "file"}


def test_invoke_function_error(aws, lam):
    name = create_function(lam, CODE_V1)
    meta, body = invoke(aws, name, '{"fail": "boom"}', "--log-type", "Tail")
    assert meta["StatusCode"] == 200 and meta["FunctionError"] == "Unhandled"
    err = json.loads(body)
    assert err["errorType"] == "ValueError" and err["errorMessage"] == "it failed: boom"
    assert err["requestId"] == request_id_of(base64.b64decode(meta["LogResult"]).decode())
    assert any('raise ValueError("it failed: " + str(event["fail"]))' in line for line in err["stackTrace"])


def test_invoke_event(aws, lam):
    name = create_function(lam, CODE_V1)
    marker = unique("evt")
    meta, body = invoke(aws, name, json.dumps({"marker": marker}), "--invocation-type", "Event")
    assert meta == {"StatusCode": 202} and body == b""

    def delivered():
        proc = aws.run("logs", "filter-log-events", "--log-group-name", f"/aws/lambda/{name}")
        if proc.returncode != 0:  # no log group before the first invocation has run
            assert "(ResourceNotFoundException)" in proc.stderr, proc.stderr
            return None
        text = "".join(e["message"] for e in json.loads(proc.stdout)["events"])
        return "REPORT RequestId:" in text and text

    text = poll("the async event to run", delivered, interval=0.5)
    assert f"v1 got {{'marker': '{marker}'}}" in text


def test_reserved_concurrency_and_account_settings(server, tmp_path):
    account = "555555555555"  # an account of its own, so the counts are exact
    aws = AwsCli(server.endpoint, tmp_path, account=account)
    before = aws("lambda", "get-account-settings")
    assert before["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert before["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
    assert before["AccountUsage"] == {"TotalCodeSize": 0, "FunctionCount": 0}

    name = unique("cli")
    zipped = write_zip(tmp_path, "c.zip", CODE_V1)
    created = aws("lambda", "create-function", "--function-name", name, "--runtime", "python3.12", "--handler",
                  "app.handler", "--role", f"arn:aws:iam::{account}:role/r", "--zip-file", f"fileb://{zipped}")
    assert created["FunctionArn"] == fn_arn(name, account)
    aws("lambda", "wait", "function-active-v2", "--function-name", name)

    assert aws("lambda", "put-function-concurrency", "--function-name", name,
               "--reserved-concurrent-executions", "5") == {"ReservedConcurrentExecutions": 5}
    assert aws("lambda", "get-function-concurrency", "--function-name", name) == {"ReservedConcurrentExecutions": 5}
    assert aws("lambda", "get-function", "--function-name", name)["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    after = aws("lambda", "get-account-settings")
    assert after["AccountLimit"]["UnreservedConcurrentExecutions"] == 995
    assert after["AccountUsage"] == {"TotalCodeSize": zipped.stat().st_size, "FunctionCount": 1}

    stderr = aws.fails("lambda", "put-function-concurrency", "--function-name", name,
                       "--reserved-concurrent-executions", "901")
    assert "(InvalidParameterValueException)" in stderr and "minimum value of [100]" in stderr

    assert aws("lambda", "delete-function-concurrency", "--function-name", name) == {}
    assert aws("lambda", "get-account-settings")["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000
    aws("lambda", "delete-function", "--function-name", name)


def test_tags(aws, lam):
    name = create_function(lam, CODE_V1)
    arn = fn_arn(name)
    assert aws("lambda", "list-tags", "--resource", arn) == {"Tags": {}}
    assert aws("lambda", "tag-resource", "--resource", arn, "--tags", "team=core,env=dev") == {}
    assert aws("lambda", "list-tags", "--resource", arn) == {"Tags": {"team": "core", "env": "dev"}}
    assert aws("lambda", "get-function", "--function-name", name)["Tags"] == {"team": "core", "env": "dev"}
    aws("lambda", "untag-resource", "--resource", arn, "--tag-keys", "env")
    assert aws("lambda", "list-tags", "--resource", arn) == {"Tags": {"team": "core"}}


def test_errors(aws, lam):
    missing = unique("missing")
    for command in ("get-function", "get-function-configuration", "delete-function"):
        stderr = aws.fails("lambda", command, "--function-name", missing)
        assert "An error occurred (ResourceNotFoundException)" in stderr, stderr
        assert f"Function not found: {fn_arn(missing)}" in stderr, stderr

    stderr = aws.fails("lambda", "invoke", "--function-name", missing, "--payload", "{}", str(aws.cwd / "o.json"))
    assert "(ResourceNotFoundException) when calling the Invoke operation" in stderr
    assert f"Function not found: {fn_arn(missing)}:$LATEST" in stderr

    name = create_function(lam, CODE_V1)
    zipped = write_zip(aws.cwd, "dup.zip", CODE_V1)
    stderr = aws.fails("lambda", "create-function", "--function-name", name, "--runtime", "python3.12",
                       "--handler", "app.handler", "--role", ROLE, "--zip-file", f"fileb://{zipped}")
    assert "An error occurred (ResourceConflictException) when calling the CreateFunction operation" in stderr
    assert f"Function already exist: {name}" in stderr

    stderr = aws.fails("lambda", "invoke", "--function-name", name, "--payload", "not json", str(aws.cwd / "o.json"))
    assert "(InvalidRequestContentException)" in stderr and "Could not parse request body into json" in stderr


# --------------------------------------------------------------------------- logs


def test_logs_commands(aws, lam):
    name = create_function(lam, CODE_V1)
    group = f"/aws/lambda/{name}"
    marker = unique("log")
    meta, _ = invoke(aws, name, json.dumps({"marker": marker}), "--log-type", "Tail")
    rid = request_id_of(base64.b64decode(meta["LogResult"]).decode())

    groups = aws("logs", "describe-log-groups", "--log-group-name-prefix", group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    assert groups[0]["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{group}:*"
    assert group in [g["logGroupName"] for g in aws("logs", "describe-log-groups")["logGroups"]]

    streams = aws("logs", "describe-log-streams", "--log-group-name", group)["logStreams"]
    assert len(streams) == 1 and STREAM_NAME.match(streams[0]["logStreamName"]), streams
    stream = streams[0]["logStreamName"]

    def lines_for_request():
        events = aws("logs", "filter-log-events", "--log-group-name", group)["events"]
        messages = [e["message"] for e in events]
        return any(m.startswith(f"REPORT RequestId: {rid}\t") for m in messages) and events

    events = poll("the REPORT line in filter-log-events", lines_for_request)
    messages = [e["message"] for e in events]
    assert all(e["logStreamName"] == stream for e in events)
    assert messages[0].startswith("INIT_START Runtime Version: python:")  # the environment's first invocation
    start = messages.index(f"START RequestId: {rid} Version: $LATEST\n")
    end = messages.index(f"END RequestId: {rid}\n")
    assert start < messages.index(f"v1 got {{'marker': '{marker}'}}\n") < end
    report = messages[end + 1]
    m = REPORT.match(report)
    assert m and m.group(1) == rid and m.group(3) == "128" and "\tInit Duration: " in report
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)

    only = aws("logs", "filter-log-events", "--log-group-name", group, "--filter-pattern", "REPORT")["events"]
    assert [e["message"] for e in only] == [report]

    got = aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", stream, "--start-from-head")
    assert [e["message"] for e in got["events"]] == messages
    assert got["nextForwardToken"].startswith("f/") and got["nextBackwardToken"].startswith("b/")

    stderr = aws.fails("logs", "filter-log-events", "--log-group-name", f"/aws/lambda/{unique('missing')}")
    assert "(ResourceNotFoundException)" in stderr and "The specified log group does not exist." in stderr
