"""Invoke as AWS does it: results, function errors, timeouts, crashes, logs tail, context, concurrency."""
import base64
import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function, start_server, stop_server


def payload(resp) -> object:
    return json.loads(resp["Payload"].read())


def test_context_and_environment(lam):
    code = """
import os
def handler(event, context):
    return {
        "request_id": context.aws_request_id, "name": context.function_name,
        "version": context.function_version, "arn": context.invoked_function_arn,
        "memory": context.memory_limit_in_mb, "group": context.log_group_name,
        "stream": context.log_stream_name, "remaining": context.get_remaining_time_in_millis(),
        "env": {k: os.environ.get(k) for k in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "_HANDLER", "AWS_EXECUTION_ENV",
                "AWS_ENDPOINT_URL", "MY_VAR", "AWS_LAMBDA_LOG_GROUP_NAME", "LAMBDA_TASK_ROOT")},
    }
"""
    name = create_function(lam, code, MemorySize=256, Timeout=7, Environment={"Variables": {"MY_VAR": "v"}})
    resp = lam.invoke(FunctionName=name, Payload=b"{}")
    out = payload(resp)
    assert out["request_id"] == resp["ResponseMetadata"]["RequestId"]
    assert out["name"] == name and out["version"] == "$LATEST"
    assert out["arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert out["memory"] == "256"
    assert out["group"] == f"/aws/lambda/{name}"
    assert out["stream"].count("/") == 3 and "[$LATEST]" in out["stream"]
    assert 0 < out["remaining"] <= 7000
    env = out["env"]
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name and env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["_HANDLER"] == "app.handler" and env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:") and env["MY_VAR"] == "v"


def test_empty_payload_is_an_empty_object_and_none_is_null(lam):
    name = create_function(lam, "def handler(event, context):\n    return None if event == {} else 1\n")
    assert lam.invoke(FunctionName=name)["Payload"].read() == b"null"


def test_unhandled_exception(lam):
    name = create_function(lam, "def handler(event, context):\n    raise ValueError('Handler fails')\n")
    resp = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
    err = payload(resp)
    assert err["errorType"] == "ValueError" and err["errorMessage"] == "Handler fails"
    assert err["requestId"] == resp["ResponseMetadata"]["RequestId"]
    assert any("raise ValueError('Handler fails')" in line for line in err["stackTrace"])
    log = base64.b64decode(resp["LogResult"]).decode()
    assert "[ERROR] ValueError: Handler fails" in log


def test_import_error(lam):
    name = create_function(lam, "import no_such_module\n")
    resp = lam.invoke(FunctionName=name)
    assert resp["FunctionError"] == "Unhandled"
    err = payload(resp)
    assert err["errorType"] == "Runtime.ImportModuleError"
    assert err["errorMessage"] == "Unable to import module 'app': No module named 'no_such_module'"


def test_timeout_replaces_the_environment(lam):
    code = """
import os, time
STARTED_BY = os.getpid()
def handler(event, context):
    if event.get("sleep"):
        time.sleep(5)
    return os.getpid()
"""
    name = create_function(lam, code, Timeout=1)
    pid_before = payload(lam.invoke(FunctionName=name, Payload=b"{}"))
    resp = lam.invoke(FunctionName=name, Payload=b'{"sleep": true}', LogType="Tail")
    assert resp["FunctionError"] == "Unhandled"
    err = payload(resp)
    assert err["errorType"] == "Sandbox.Timedout"
    assert err["errorMessage"] == f"RequestId: {resp['ResponseMetadata']['RequestId']} Error: Task timed out after 1.00 seconds"
    assert "Status: timeout" in base64.b64decode(resp["LogResult"]).decode()
    assert payload(lam.invoke(FunctionName=name, Payload=b"{}")) != pid_before


def test_crash_is_runtime_exit_error(lam):
    name = create_function(lam, "import os\ndef handler(event, context):\n    os._exit(3)\n")
    resp = lam.invoke(FunctionName=name)
    assert resp["FunctionError"] == "Unhandled"
    err = payload(resp)
    assert err["errorType"] == "Runtime.ExitError"
    assert err["errorMessage"] == (f"RequestId: {resp['ResponseMetadata']['RequestId']} Error: Runtime exited with "
                                   "error: exit status 3")


def test_log_tail_has_start_end_report(lam):
    name = create_function(lam, "def handler(event, context):\n    print('hello from the handler')\n    return 1\n")
    resp = lam.invoke(FunctionName=name, LogType="Tail")
    rid = resp["ResponseMetadata"]["RequestId"]
    log = base64.b64decode(resp["LogResult"]).decode()
    assert f"START RequestId: {rid} Version: $LATEST" in log
    assert "hello from the handler" in log
    assert f"END RequestId: {rid}" in log
    report = [line for line in log.splitlines() if line.startswith("REPORT")][0]
    fields = report.split("\t")
    assert fields[0] == f"REPORT RequestId: {rid}"
    assert fields[1].startswith("Duration: ") and fields[1].endswith(" ms")
    assert fields[2].startswith("Billed Duration: ")
    assert fields[3] == "Memory Size: 128 MB"
    assert fields[4].startswith("Max Memory Used: ") and int(fields[4].split()[3]) > 0
    assert fields[5].startswith("Init Duration: ")  # the first invoke is a cold start
    warm = base64.b64decode(lam.invoke(FunctionName=name, LogType="Tail")["LogResult"]).decode()
    assert "Init Duration" not in warm


def test_dry_run(lam):
    name = create_function(lam, "def handler(event, context):\n    raise SystemExit('must not run')\n")
    resp = lam.invoke(FunctionName=name, InvocationType="DryRun")
    assert resp["StatusCode"] == 204


def test_warm_reuse_and_concurrent_environments(lam):
    code = "import os, time\ndef handler(event, context):\n    time.sleep(event.get('s', 0))\n    return os.getpid()\n"
    name = create_function(lam, code)
    first = payload(lam.invoke(FunctionName=name, Payload=b"{}"))
    assert payload(lam.invoke(FunctionName=name, Payload=b"{}")) == first  # warm reuse
    pids = []

    def call():
        pids.append(payload(lam.invoke(FunctionName=name, Payload=b'{"s": 1}')))

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(pids)) == 3  # one invocation at a time per environment


def test_reserved_concurrency_throttles(lam):
    name = create_function(lam, "import time\ndef handler(event, context):\n    time.sleep(event.get('s', 0))\n")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name)
    err = exc.value.response
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err["Error"]["Code"] == "TooManyRequestsException"
    assert err["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert err["Error"]["Message"] == "Rate Exceeded."

    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    results = []
    t = threading.Thread(target=lambda: results.append(lam.invoke(FunctionName=name, Payload=b'{"s": 2}')))
    t.start()
    time.sleep(0.7)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name)
    assert exc.value.response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    t.join()
    assert results[0]["StatusCode"] == 200


def test_account_concurrency_limit(tmp_path):
    srv = start_server(tmp_path / "data", "--concurrency-limit", "1")
    try:
        lam = srv.client("lambda")
        name = create_function(lam, "import time\ndef handler(event, context):\n    time.sleep(event.get('s', 0))\n")
        t = threading.Thread(target=lambda: lam.invoke(FunctionName=name, Payload=b'{"s": 2}'))
        t.start()
        time.sleep(0.7)
        with pytest.raises(ClientError) as exc:
            lam.invoke(FunctionName=name)
        assert exc.value.response["Error"]["Code"] == "TooManyRequestsException"
        assert exc.value.response["Reason"] == "ConcurrentInvocationLimitExceeded"
        t.join()
    finally:
        stop_server(srv)


def test_boto3_inside_a_function_reaches_this_nubis(lam):
    code = """
import boto3
def handler(event, context):
    client = boto3.client("lambda")
    return client.get_function_configuration(FunctionName=context.function_name)["FunctionName"]
"""
    name = create_function(lam, code, Timeout=30)
    resp = lam.invoke(FunctionName=name)
    assert "FunctionError" not in resp, resp["Payload"].read()
    assert payload(resp) == name


def test_async_event_runs_in_the_background(lam, logs):
    name = create_function(lam, "def handler(event, context):\n    print('async got', event['n'])\n")
    resp = lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"n": 42}')
    assert resp["StatusCode"] == 202
    rid = resp["ResponseMetadata"]["RequestId"]
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except ClientError:
            events = []
        text = "".join(e["message"] for e in events)
        if f"END RequestId: {rid}" in text:
            assert "async got 42" in text
            return
        time.sleep(0.1)
    pytest.fail("the async event was not delivered")


def test_invoke_async_deprecated_api(lam):
    name = create_function(lam, "def handler(event, context):\n    return 1\n")
    resp = lam.invoke_async(FunctionName=name, InvokeArgs=b'{"a": 1}')
    assert resp["Status"] == 202


def test_init_runs_at_the_first_invoke_even_with_an_environment_launched_ahead(lam):
    # nubis launches a new function's first environment when it is created (confined, waiting);
    # its INIT (the module's import) must still run when the first invocation comes, and only once.
    code = """
import os, time
INIT_AT = time.time()
def handler(event, context):
    return {"init_at": INIT_AT, "pid": os.getpid()}
"""
    name = create_function(lam, code)
    time.sleep(0.3)  # the launch ahead has finished
    before = time.time()
    resp = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    first = payload(resp)
    tail = base64.b64decode(resp["LogResult"]).decode()
    assert first["init_at"] >= before
    assert "Init Duration" in tail
    second = payload(lam.invoke(FunctionName=name, Payload=b"{}"))
    assert second == first  # warm: the same environment, INIT not run again
