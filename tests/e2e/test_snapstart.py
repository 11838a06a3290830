"""SnapStart for Python through a real server and boto3: publish makes the snapshot (INIT once, the
before-snapshot hooks), new environments of the version are restored from it (Restore Duration, the
after-restore hooks, unique state re-seeded), $LATEST is not snapshotted, AWS's refusals, and a
failing INIT makes the version Failed."""
from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function, error_of, invoke_tail, report_line

DEADLINE_S = 60
SNAP = {"ApplyOn": "PublishedVersions"}

CODE = """
import os, random, time, uuid
from snapshot_restore_py import register_before_snapshot, register_after_restore

INIT_PID = os.getpid()
INIT_TOKEN = uuid.uuid4().hex  # made once, in the snapshot: every restored environment sees it
HOOKS = []
RESTORED = {}

@register_before_snapshot
def first_registered():
    HOOKS.append("before-1")

@register_before_snapshot
def second_registered():
    HOOKS.append("before-2")  # runs first: reverse order of registration
    print("before snapshot hook ran")

def after(tag, sep="="):
    HOOKS.append("after" + sep + tag)
    RESTORED["pid"] = os.getpid()
    RESTORED["random"] = random.random()
    print("after restore hook ran")

register_after_restore(after, "x", sep=":")

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {"init_pid": INIT_PID, "pid": os.getpid(), "token": INIT_TOKEN, "hooks": HOOKS,
            "restored": RESTORED, "uuid": uuid.uuid4().hex,
            "init_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
            "log_stream_env": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
            "version": context.function_version, "cgroup": open("/proc/self/cgroup").read()}
"""


def wait_version(lam, name: str, version: str, want: str = "Active") -> dict:
    deadline = time.time() + DEADLINE_S
    while True:
        cfg = lam.get_function_configuration(FunctionName=name, Qualifier=version)
        if cfg["State"] != "Pending" or time.time() > deadline:
            assert cfg["State"] == want, cfg
            return cfg
        time.sleep(0.05)


@pytest.fixture(scope="module")
def published(lam):
    return publish(lam)


def publish(lam) -> tuple[str, str]:
    name = create_function(lam, CODE, SnapStart=SNAP)
    latest = lam.get_function_configuration(FunctionName=name)
    assert latest["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
    v = lam.publish_version(FunctionName=name)
    assert v["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    assert v["State"] == "Pending" and v["StateReasonCode"] == "Creating"
    cfg = wait_version(lam, name, v["Version"])
    assert cfg["SnapStart"]["OptimizationStatus"] == "On" and "StateReasonCode" not in cfg
    return name, v["Version"]


def test_restored_environment(lam, published):
    name, version = published
    out, log = invoke_tail(lam, name, version)
    line = report_line(log)
    assert "\tRestore Duration: " in line and "\tBilled Restore Duration: " in line
    assert "Init Duration" not in line
    lines = log.splitlines()  # the tail: what follows RESTORE_START
    assert lines[0] == "after restore hook ran" and lines[1].startswith("RESTORE_REPORT Restore Duration: ")
    assert lines[2].startswith("START RequestId: ") and "before snapshot hook ran" not in log
    # INIT ran in the snapshot (another process), its hooks before it, then this environment's restore.
    assert out["init_pid"] != out["pid"] and out["restored"]["pid"] == out["pid"]
    assert out["hooks"] == ["before-2", "before-1", "after:x"]
    assert out["init_type"] == "snap-start"
    assert out["log_stream_env"] is None  # not available in SnapStart functions
    assert out["version"] == version
    # Warm: the same environment, no restore.
    again, log2 = invoke_tail(lam, name, version)
    assert again["pid"] == out["pid"] and "Restore Duration" not in report_line(log2) and "RESTORE_START" not in log2


def test_logs_of_snapshot_and_restore(lam, logs, published):
    name, version = published
    invoke_tail(lam, name, version)
    events = [e["message"] for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]]
    # The snapshot's INIT, once, at publish: INIT_START, the before-snapshot hook's output, INIT_REPORT.
    assert sum(m.startswith("INIT_START Runtime Version: python:") for m in events) == 1
    assert "before snapshot hook ran\n" in events
    assert any(m.startswith("INIT_REPORT Init Duration: ") and "Phase: init\tStatus: success" in m for m in events)
    restore = [m for m in events if m.startswith("RESTORE_START Runtime Version: python:")]
    assert restore and "\tRuntime Version ARN: arn:aws:lambda:" in restore[0]
    assert any(m.startswith("RESTORE_REPORT Restore Duration: ") for m in events)


def test_concurrent_environments_forked_from_one_snapshot(lam):
    name, version = publish(lam)  # no warm environment yet
    results: list[tuple[dict, str]] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            results.append(invoke_tail(lam, name, version, {"sleep": 1.5}))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=call) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    (a, log_a), (b, log_b) = results
    assert a["pid"] != b["pid"]
    assert a["init_pid"] == b["init_pid"] and a["token"] == b["token"]  # the same snapshot
    assert "Restore Duration" in report_line(log_a) and "Restore Duration" in report_line(log_b)
    # What must be unique per environment is: random re-seeded, uuid4 from the kernel.
    assert a["restored"]["random"] != b["restored"]["random"]
    assert a["uuid"] != b["uuid"]
    # Each restored environment sits in a cgroup of its own (memory limit, pids, OOM), not the snapshot's.
    mem = [next((ln for ln in x["cgroup"].splitlines() if ":memory:" in ln or ln.startswith("0::")), "")
           for x in (a, b)]
    assert mem[0] != mem[1], mem


def test_latest_is_not_snapshotted(lam, published):
    name, _ = published
    out, log = invoke_tail(lam, name)
    assert out["init_type"] == "on-demand"
    assert "Init Duration" in report_line(log) and "Restore Duration" not in log
    assert out["init_pid"] == out["pid"]
    assert out["hooks"] == []  # no snapshot, no hooks


def test_unsupported_runtime_refused(lam):
    for runtime in ("python3.11", "nodejs20.x"):
        with pytest.raises(ClientError) as exc:
            create_function(lam, CODE, Runtime=runtime, SnapStart=SNAP, wait=False,
                            handler="app.handler" if runtime.startswith("python") else "index.handler")
        assert error_of(exc) == (400, "InvalidParameterValueException",
                                 f"{runtime} is not supported for SnapStart enabled functions.")
    name = create_function(lam, CODE, Runtime="python3.11")
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, SnapStart=SNAP)
    assert error_of(exc)[:2] == (400, "InvalidParameterValueException")
    with pytest.raises(ClientError) as exc:
        create_function(lam, CODE, SnapStart=SNAP, wait=False, EphemeralStorage={"Size": 1024})
    assert error_of(exc)[:2] == (400, "InvalidParameterValueException")


def test_provisioned_concurrency_refused(lam, published):
    name, version = published
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    assert error_of(exc)[:2] == (400, "InvalidParameterValueException")


def test_failing_init_fails_the_version(lam):
    name = create_function(lam, "raise RuntimeError('no config')\ndef handler(e, c):\n    return 1\n", SnapStart=SNAP)
    v = lam.publish_version(FunctionName=name)["Version"]
    cfg = wait_version(lam, name, v, want="Failed")
    assert cfg["StateReasonCode"] == "FunctionError"
    assert "RuntimeError" in cfg["StateReason"] and "no config" in cfg["StateReason"]
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Qualifier=v)
    assert error_of(exc)[:2] == (409, "ResourceConflictException")


def test_failing_before_snapshot_hook_fails_the_version(lam):
    code = ("from snapshot_restore_py import register_before_snapshot\n"
            "@register_before_snapshot\ndef hook():\n    raise ValueError('cannot snapshot')\n"
            "def handler(e, c):\n    return 1\n")
    name = create_function(lam, code, SnapStart=SNAP)
    v = lam.publish_version(FunctionName=name)["Version"]
    cfg = wait_version(lam, name, v, want="Failed")
    assert cfg["StateReasonCode"] == "FunctionError" and "cannot snapshot" in cfg["StateReason"]


def test_failing_after_restore_hook_fails_the_invocation(lam):
    code = ("from snapshot_restore_py import register_after_restore\n"
            "@register_after_restore\ndef hook():\n    raise ValueError('cannot restore')\n"
            "def handler(e, c):\n    return 1\n")
    name = create_function(lam, code, SnapStart=SNAP)
    v = lam.publish_version(FunctionName=name)["Version"]
    wait_version(lam, name, v)
    resp = lam.invoke(FunctionName=name, Qualifier=v, LogType="Tail")
    body = json.loads(resp["Payload"].read())
    assert resp["FunctionError"] == "Unhandled" and body["errorType"] == "ValueError"
    log = base64.b64decode(resp["LogResult"]).decode()
    assert "RESTORE_REPORT Restore Duration" in log and "Init Duration" not in log


def test_deleting_the_version_drops_the_snapshot(lam):
    name = create_function(lam, CODE, SnapStart=SNAP)
    v = lam.publish_version(FunctionName=name)["Version"]
    wait_version(lam, name, v)
    out, _ = invoke_tail(lam, name, v)
    lam.delete_function(FunctionName=name, Qualifier=v)
    deadline = time.time() + DEADLINE_S
    while time.time() < deadline:
        try:
            with open(f"/proc/{out['init_pid']}/status") as f:
                if "State:\tZ" in f.read():
                    break
        except (FileNotFoundError, ProcessLookupError):  # the process went between open and read
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the snapshot (pid {out['init_pid']}) outlived its version")
