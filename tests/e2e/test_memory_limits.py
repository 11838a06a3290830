"""MemorySize, end to end: hostile functions past their memory, through a real server.

Lambda ends the whole environment when it goes past MemorySize, whichever of its processes
allocated: the invocation fails with ``Runtime.OutOfMemory`` (FunctionError ``Unhandled``), REPORT
says ``Max Memory Used`` = ``Memory Size`` and ``Status: error  Error Type: Runtime.OutOfMemory``,
and the next invocation gets a new environment. ``Max Memory Used`` otherwise is the environment's
peak during that invocation (memory freed back to the system is not counted again).

Two servers: the session one (memory cgroups where the host has them) and one started with
``NUBIS_CGROUPS=0`` (the fallback: RLIMIT_AS + an RSS watchdog)."""
from __future__ import annotations

import base64
import json
import re
import urllib.request

import pytest

from nubis_testing import create_function, start_server, stop_server

HOG = """import os, subprocess, sys, time

def handler(event, context):
    if event.get('child'):  # a process of the environment other than the runtime goes over
        r = subprocess.run([sys.executable, '-c',
                            'import time; x = bytearray(%d * 2**20); time.sleep(%s)' % (event['child'], event.get('hold', 0))])
        return {'pid': os.getpid(), 'child_rc': r.returncode}
    if event.get('self'):  # the runtime itself goes over
        x = bytearray(event['self'] * 2**20)
        time.sleep(event.get('hold', 0))
        return {'pid': os.getpid(), 'len': len(x)}
    if event.get('alloc'):  # allocate and free (bytearray's pages go back to the system)
        x = bytearray(event['alloc'] * 2**20)
        del x
    return {'pid': os.getpid()}
"""

HELLO = "import os\n\ndef handler(event, context):\n    return {'pid': os.getpid()}\n"
MAX_USED = re.compile(r"\tMax Memory Used: (\d+) MB\t")


def health(server) -> dict:
    with urllib.request.urlopen(server.endpoint + "/_nubis/health") as resp:
        return json.loads(resp.read())


def call(lam, name: str, event: object = None) -> dict:
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), LogType="Tail")
    log = base64.b64decode(resp["LogResult"]).decode()
    return {"status": resp["StatusCode"], "error": resp.get("FunctionError"),
            "payload": json.loads(resp["Payload"].read() or b"null"),
            "request_id": resp["ResponseMetadata"]["RequestId"], "log": log,
            "report": log.splitlines()[-1]}


def max_used(r: dict) -> int:
    return int(MAX_USED.search(r["report"] + "\t").group(1))


def assert_out_of_memory(r: dict, memory_mb: int) -> None:
    rid = r["request_id"]
    assert r["status"] == 200 and r["error"] == "Unhandled", r
    assert r["payload"] == {"errorType": "Runtime.OutOfMemory",
                            "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: signal: killed"}
    report = r["report"]
    assert report.startswith(f"REPORT RequestId: {rid}\t")
    assert f"\tMemory Size: {memory_mb} MB\tMax Memory Used: {memory_mb} MB\t" in report
    assert report.endswith("Status: error\tError Type: Runtime.OutOfMemory")
    assert f"END RequestId: {rid}" in r["log"]


def assert_replaced(lam, name: str, old_pid: int) -> None:
    """The next invocation runs in a fresh environment (a cold start) and succeeds."""
    nxt = call(lam, name)
    assert nxt["error"] is None and nxt["payload"]["pid"] != old_pid, nxt
    assert "\tInit Duration: " in nxt["report"]


def still_serving(lam, canary: str) -> None:
    r = call(lam, canary)
    assert r["error"] is None and r["payload"]["pid"] > 0


def need_cgroup_memory(server) -> None:
    iso = health(server)["isolation"]
    if "cgroup-memory" not in iso["enforced"]:
        pytest.skip(f"no memory cgroups on this host ({iso.get('warning') or '-'})")


@pytest.fixture(scope="module")
def canary(lam) -> str:
    return create_function(lam, HELLO)


# --------------------------------------------------------------------------- memory cgroup


def test_a_child_process_past_memory_ends_the_invocation(lam, server, canary):
    """cgroup v1 OOM-kills only the largest process (the child); the handler would carry on and
    answer. Lambda ends the environment instead: so does nubis."""
    need_cgroup_memory(server)
    name = create_function(lam, HOG, MemorySize=128, Timeout=30)
    first = call(lam, name)
    assert first["error"] is None
    r = call(lam, name, {"child": 400})
    assert_out_of_memory(r, 128)
    assert_replaced(lam, name, first["payload"]["pid"])
    still_serving(lam, canary)


def test_the_runtime_itself_past_memory(lam, server, canary):
    need_cgroup_memory(server)
    name = create_function(lam, HOG, MemorySize=128, Timeout=30)
    first = call(lam, name)
    r = call(lam, name, {"self": 400})
    assert_out_of_memory(r, 128)
    assert_replaced(lam, name, first["payload"]["pid"])
    still_serving(lam, canary)


def test_a_child_within_memory_counts_in_max_memory_used(lam, server):
    """Max Memory Used covers the whole environment, children included (the cgroup's peak)."""
    need_cgroup_memory(server)
    name = create_function(lam, HOG, MemorySize=512, Timeout=30)
    r = call(lam, name, {"child": 200})
    assert r["error"] is None and r["payload"]["child_rc"] == 0, r
    assert 200 <= max_used(r) < 512, r["report"]


def test_max_memory_used_is_the_peak_of_each_invocation(lam, server):
    """AWS: the peak memory during the invocation. 100 MB allocated and freed in one invocation
    is not reported again by the next one, which allocates 10 MB in the same environment."""
    name = create_function(lam, HOG, MemorySize=512)
    base = call(lam, name)
    big = call(lam, name, {"alloc": 100})
    small = call(lam, name, {"alloc": 10})
    again = call(lam, name)
    assert {big["payload"]["pid"], small["payload"]["pid"], again["payload"]["pid"]} == {base["payload"]["pid"]}
    for r in (base, big, small, again):
        assert r["error"] is None and "Status:" not in r["report"], r
    assert max_used(big) >= max_used(base) + 100, (base["report"], big["report"])
    assert max_used(small) >= max_used(again) + 5, (small["report"], again["report"])
    assert max_used(small) <= max_used(big) - 60, (big["report"], small["report"])
    assert max_used(again) <= max_used(base) + 10


# --------------------------------------------------------------------------- fallback: no cgroups


@pytest.fixture(scope="module")
def fallback(tmp_path_factory):
    srv = start_server(tmp_path_factory.mktemp("nubis-nocg") / "data", env={"NUBIS_CGROUPS": "0"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def flam(fallback):
    return fallback.client("lambda")


def test_fallback_says_what_keeps_memory(fallback):
    iso = health(fallback)["isolation"]
    assert "memory-watchdog" in iso["enforced"]
    assert not {"cgroup-memory", "cgroup-pids", "cgroup-cpu"} & set(iso["enforced"])
    assert "RLIMIT_AS and an RSS watchdog" in fallback.log()


def test_fallback_the_runtime_past_memory(flam, fallback):
    name = create_function(flam, HOG, MemorySize=128, Timeout=30)
    first = call(flam, name)
    assert first["error"] is None
    r = call(flam, name, {"self": 400, "hold": 2})
    assert_out_of_memory(r, 128)
    assert_replaced(flam, name, first["payload"]["pid"])


def test_fallback_past_memory_caught_when_the_handler_answers(flam, fallback):
    """Allocated past MemorySize and answered before a watchdog tick: the runtime's own peak RSS,
    checked when the invocation ends, still says so."""
    name = create_function(flam, HOG, MemorySize=128, Timeout=30)
    first = call(flam, name)
    r = call(flam, name, {"self": 300})
    assert_out_of_memory(r, 128)
    assert_replaced(flam, name, first["payload"]["pid"])


def test_fallback_a_child_process_past_memory(flam, fallback):
    name = create_function(flam, HOG, MemorySize=128, Timeout=30)
    first = call(flam, name)
    r = call(flam, name, {"child": 400, "hold": 2})
    assert_out_of_memory(r, 128)
    assert_replaced(flam, name, first["payload"]["pid"])
    canary = create_function(flam, HELLO)
    still_serving(flam, canary)


def test_fallback_within_memory_works_and_is_measured(flam, fallback):
    name = create_function(flam, HOG, MemorySize=512, Timeout=30)
    r = call(flam, name, {"self": 100})
    assert r["error"] is None and r["payload"]["len"] == 100 << 20, r
    assert 100 <= max_used(r) < 512
    nxt = call(flam, name)
    assert nxt["error"] is None and nxt["payload"]["pid"] == r["payload"]["pid"]
    assert max_used(nxt) < max_used(r) - 60
