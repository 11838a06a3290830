"""What the server accepted survives: restarts, SIGTERM with work in flight, and kill -9."""
import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from nubis_testing import create_function, start_server, stop_server, wait_for

RECORDER = """
import json, os, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    path = os.path.join(os.environ["OUT_DIR"], f"{event['id']}-{context.aws_request_id}")
    with open(path, "w") as f:
        f.write(json.dumps(event))
    return event["id"]
"""


def delivered_ids(out: Path) -> set[int]:
    return {int(p.name.split("-", 1)[0]) for p in out.iterdir()}


def test_functions_logs_and_usage_survive_a_restart(tmp_path):
    data = tmp_path / "data"
    srv = start_server(data)
    lam = srv.client("lambda")
    name = create_function(lam, "def handler(event, context):\n    print('persisted line')\n    return 7\n")
    assert lam.invoke(FunctionName=name)["Payload"].read() == b"7"
    assert stop_server(srv) == 0

    srv = start_server(data)
    try:
        lam, logs = srv.client("lambda"), srv.client("logs")
        assert lam.get_function_configuration(FunctionName=name)["State"] == "Active"
        assert lam.invoke(FunctionName=name)["Payload"].read() == b"7"
        text = "".join(e["message"] for e in logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"])
        assert text.count("persisted line") >= 1 and text.count("REPORT RequestId") >= 1
        import urllib.request

        with urllib.request.urlopen(f"{srv.endpoint}/_nubis/usage?function={name}") as resp:
            usage = json.load(resp)
        assert usage["totals"]["requests"] >= 1
    finally:
        stop_server(srv)


def test_sigterm_lets_in_flight_invocations_finish(tmp_path):
    srv = start_server(tmp_path / "data")
    lam = srv.client("lambda")
    name = create_function(lam, "import time\ndef handler(event, context):\n    time.sleep(1.5)\n    return 'done'\n",
                           Timeout=10)
    result = {}
    t = threading.Thread(target=lambda: result.update(lam.invoke(FunctionName=name)))
    t.start()
    time.sleep(0.5)
    srv.proc.send_signal(signal.SIGTERM)
    t.join(30)
    assert result["Payload"].read() == b'"done"'
    assert srv.proc.wait(30) == 0


@pytest.mark.timeout(180)
def test_async_events_survive_kill_9(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    out.mkdir()
    srv = start_server(data)
    lam = srv.client("lambda")
    name = create_function(lam, RECORDER, Environment={"Variables": {"OUT_DIR": str(out)}}, Timeout=30)
    n = 30
    for i in range(n):
        resp = lam.invoke(FunctionName=name, InvocationType="Event",
                          Payload=json.dumps({"id": i, "sleep": 0.5}).encode())
        assert resp["StatusCode"] == 202
    os.kill(srv.proc.pid, signal.SIGKILL)  # some queued, some in flight, none acknowledged
    srv.proc.wait()
    before = delivered_ids(out)
    assert len(before) < n, "the test must kill the server before everything ran"

    srv = start_server(data)
    try:
        got = wait_for(lambda: delivered_ids(out) >= set(range(n)), timeout=120)
        assert got, f"missing after restart: {sorted(set(range(n)) - delivered_ids(out))}"
    finally:
        stop_server(srv)


def test_function_processes_die_with_a_killed_server(tmp_path):
    srv = start_server(tmp_path / "data")
    lam = srv.client("lambda")
    code = "import os, time\ndef handler(event, context):\n    time.sleep(event.get('s', 0))\n    return os.getpid()\n"
    name = create_function(lam, code, Timeout=60)
    pid = int(lam.invoke(FunctionName=name)["Payload"].read())
    def invoke_busy() -> None:
        try:
            lam.invoke(FunctionName=name, Payload=b'{"s": 30}')
        except Exception:  # the server is killed under it: that is the point
            pass

    busy = threading.Thread(target=invoke_busy, daemon=True)
    busy.start()  # the warm environment is now busy in its handler for 30 s
    time.sleep(1.0)
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait()

    def gone() -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"

    assert wait_for(gone, timeout=10), "an execution environment outlived its server"
