"""Isolation and limits, proved with hostile functions through a real server.

Each test deploys a function that tries to do what it must not (read another function's /tmp and
code, walk the server's data dir, signal the server, start 1,500 processes, allocate past its
memory, open more than 1,024 files) and checks that the attempt fails the way Lambda's would, and
that the server keeps serving other functions meanwhile. A test skips, saying why, where the host
refuses the mechanism (``GET /_nubis/health`` -> ``isolation`` says what is enforced)."""
from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import shutil
import urllib.request

import pytest

from nubis_testing import create_function

HELLO = "import os\n\ndef handler(event, context):\n    return {'pid': os.getpid(), 'uid': os.getuid()}\n"


@pytest.fixture(scope="module")
def iso(server) -> dict:
    with urllib.request.urlopen(server.endpoint + "/_nubis/health") as resp:
        return json.loads(resp.read())["isolation"]


def need(iso: dict, *features: str) -> None:
    """Skip unless the server enforces all of ``features`` (with the host's reason)."""
    missing = [f for f in features if f not in iso["enforced"]]
    if missing:
        pytest.skip(f"not enforced on this host: {', '.join(missing)} "
                    f"(isolation warning: {iso.get('warning') or '-'}; details: {iso.get('details', {}).get('refused')})")


def call(lam, name: str, event: object = None, tail: bool = False) -> dict:
    kw = {"LogType": "Tail"} if tail else {}
    resp = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}).encode(), **kw)
    out = {"status": resp["StatusCode"], "error": resp.get("FunctionError"),
           "payload": json.loads(resp["Payload"].read() or b"null"),
           "request_id": resp["ResponseMetadata"]["RequestId"]}
    if tail:
        out["log"] = base64.b64decode(resp["LogResult"]).decode()
    return out


@pytest.fixture(scope="module")
def canary(lam) -> str:
    """An innocent function: it must keep working whatever the hostile ones do."""
    return create_function(lam, HELLO)


def still_serving(lam, server, canary: str) -> None:
    r = call(lam, canary)
    assert r["error"] is None and r["payload"]["pid"] > 0
    with urllib.request.urlopen(server.endpoint + "/_nubis/health") as resp:
        assert json.loads(resp.read())["status"] == "ok"
    assert server.proc.poll() is None


# --------------------------------------------------------------------------- reporting


def test_health_and_startup_lines_say_what_is_enforced(server, iso):
    assert {"process", "process-group", "timeout-kill"} <= set(iso["enforced"])
    avail = iso["available"]
    expected = {"uid": avail.get("setuid"), "namespaces": avail.get("mount_namespaces"),
                "private-tmp": avail.get("private_tmp"), "seccomp": avail.get("seccomp"),
                "cgroup-memory": avail.get("cgroups"), "rlimits": avail.get("rlimits")}
    for feature, ok in expected.items():
        assert (feature in iso["enforced"]) == bool(ok), (feature, iso)
    log = server.log()
    line = next(l for l in log.splitlines() if l.strip().startswith("isolation:"))
    assert all(f in line for f in iso["enforced"])
    assert ("  warning: " in log) == bool(iso["warning"])


def test_each_environment_has_its_own_uid(lam, iso):
    need(iso, "uid")
    a, b = create_function(lam, HELLO), create_function(lam, HELLO)
    ua, ub = call(lam, a)["payload"]["uid"], call(lam, b)["payload"]["uid"]
    assert ua != 0 and ub != 0 and ua != ub and ua != os.getuid()


# --------------------------------------------------------------------------- files

VICTIM = """import os

def handler(event, context):
    with open('/tmp/secret.txt', 'w') as f:
        f.write('s3cret')
    return {'pid': os.getpid(), 'task_root': os.environ['LAMBDA_TASK_ROOT'],
            'tmp': sorted(os.listdir('/tmp'))}
"""

SNOOP = """import errno, os

def attempt(fn):
    try:
        return ['ok', fn()]
    except OSError as e:
        return [errno.errorcode.get(e.errno, str(e.errno)), None]

def handler(event, context):
    root, pid = event['task_root'], event['pid']
    return {
        'tmp_file': attempt(lambda: open('/tmp/secret.txt').read()),
        'tmp_list': sorted(os.listdir('/tmp')),
        'code_list': attempt(lambda: os.listdir(root)),
        'code_read': attempt(lambda: open(os.path.join(root, 'app.py')).read()),
        'proc_root': attempt(lambda: open('/proc/%d/root/tmp/secret.txt' % pid).read()),
        'proc_environ': attempt(lambda: open('/proc/%d/environ' % pid).read()),
        'proc_visible': os.path.exists('/proc/%d' % pid),
        'own_code_write': attempt(lambda: open(os.path.join(os.environ['LAMBDA_TASK_ROOT'], 'x.py'), 'w')),
    }
"""


def test_cannot_read_another_functions_tmp_or_code(lam, server, canary, iso):
    need(iso, "private-tmp", "hidden-paths", "read-only-code")
    victim, snoop = create_function(lam, VICTIM), create_function(lam, SNOOP)
    v = call(lam, victim)
    assert v["error"] is None and "secret.txt" in v["payload"]["tmp"]
    s = call(lam, snoop, {"task_root": v["payload"]["task_root"], "pid": v["payload"]["pid"]})
    assert s["error"] is None, s
    got = s["payload"]
    assert got["tmp_file"][0] == "ENOENT" and "secret.txt" not in got["tmp_list"]
    assert got["code_list"][0] in ("ENOENT", "EACCES") and got["code_read"][0] in ("ENOENT", "EACCES")
    assert got["proc_root"][0] in ("ENOENT", "EACCES", "EPERM")
    assert got["proc_environ"][0] in ("ENOENT", "EACCES", "EPERM")
    if "hidepid" in iso["enforced"]:
        assert not got["proc_visible"]
    assert got["own_code_write"][0] in ("EROFS", "EACCES")
    # the victim's file is still there, private to it
    assert "secret.txt" in call(lam, victim)["payload"]["tmp"]
    still_serving(lam, server, canary)


WALKER = """import os

def handler(event, context):
    seen = []
    for top in event['dirs']:
        for dirpath, dirnames, filenames in os.walk(top):
            seen += [os.path.join(dirpath, f) for f in filenames]
    return {'files': seen, 'task_root': os.environ['LAMBDA_TASK_ROOT'],
            'exists': {d: os.path.isdir(d) for d in event['dirs']}}
"""


def test_the_data_dir_is_hidden(lam, server, canary, iso):
    need(iso, "hidden-paths")
    assert (server.data_dir / "nubis.db").exists()
    name = create_function(lam, WALKER)
    r = call(lam, name, {"dirs": [str(server.data_dir), "/var/tmp"]})
    assert r["error"] is None, r
    own = r["payload"]["task_root"]
    # Nothing of the server's: no database, no blobs, no other function's code. (Its own code
    # dir is mounted at its real path, which lies inside the data dir.)
    leaked = [f for f in r["payload"]["files"] if not f.startswith(own + "/")]
    assert leaked == []
    still_serving(lam, server, canary)


# --------------------------------------------------------------------------- signals

SIGNALLER = """import errno, os, signal

def attempt(pid, sig):
    try:
        os.kill(pid, sig)
        return 'ok'
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))

def handler(event, context):
    out = {'server_probe': attempt(event['server'], 0), 'parent_probe': attempt(os.getppid(), 0),
           'other_probe': attempt(event['other'], 0)}
    # Only really send the signals if the probes were refused (never kill the test server).
    if all(v == 'EPERM' for v in out.values()):
        out['server_kill'] = attempt(event['server'], signal.SIGKILL)
        out['other_kill'] = attempt(event['other'], signal.SIGKILL)
        out['group_kill'] = attempt(-event['server'], signal.SIGTERM)
    return out
"""


def test_cannot_signal_the_server_or_other_functions(lam, server, canary, iso):
    need(iso, "uid")
    other = call(lam, canary)["payload"]["pid"]
    name = create_function(lam, SIGNALLER)
    r = call(lam, name, {"server": server.proc.pid, "other": other})
    assert r["error"] is None, r
    got = r["payload"]
    assert got["server_probe"] == "EPERM" and got["parent_probe"] == "EPERM" and got["other_probe"] == "EPERM"
    assert got["server_kill"] == "EPERM" and got["other_kill"] == "EPERM"
    assert got["group_kill"] in ("EPERM", "ESRCH")
    assert call(lam, canary)["payload"]["pid"] == other  # the other environment lives on
    still_serving(lam, server, canary)


# --------------------------------------------------------------------------- processes

FORKER = """import errno, os, time

def handler(event, context):
    r, w = os.pipe()
    kids, err = [], None
    for _ in range(event['n']):
        try:
            pid = os.fork()
        except OSError as e:
            err = errno.errorcode.get(e.errno, str(e.errno))
            break
        if pid == 0:
            os.close(w)
            os.read(r, 1)  # until the parent closes its end
            os._exit(0)
        kids.append(pid)
    time.sleep(event.get('hold', 0))
    os.close(w)
    for pid in kids:
        os.waitpid(pid, 0)
    os.close(r)
    return {'started': len(kids), 'error': err}
"""

SPAWNER = """import subprocess

def handler(event, context):
    return [subprocess.run(['true']).returncode for _ in range(5)]
"""


def test_at_most_1024_processes_and_the_server_keeps_serving(lam, server, canary, iso):
    need(iso, "cgroup-pids")
    hostile = create_function(lam, FORKER, MemorySize=2048, Timeout=120)
    neighbour = create_function(lam, SPAWNER)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(call, lam, hostile, {"n": 1500, "hold": 3})
        # While the hostile function holds its processes, others still start theirs.
        for _ in range(3):
            r = call(lam, neighbour)
            assert r["error"] is None and r["payload"] == [0] * 5, r
            still_serving(lam, server, canary)
        r = fut.result(timeout=180)
    assert r["error"] is None, r
    got = r["payload"]
    assert got["error"] == "EAGAIN", got
    assert 900 <= got["started"] < 1024, got  # the runtime itself counts too
    # The environment is usable again once its processes are gone.
    again = call(lam, hostile, {"n": 10})
    assert again["error"] is None and again["payload"] == {"started": 10, "error": None}
    still_serving(lam, server, canary)


# --------------------------------------------------------------------------- memory

HOG = """import os

def handler(event, context):
    if event.get('hog'):
        chunks = [b'\\x01' * (16 << 20) for _ in range(event['hog'] // 16)]
        return len(chunks)
    return {'pid': os.getpid()}
"""


def test_past_its_memory_a_function_gets_runtime_out_of_memory(lam, server, canary, iso):
    need(iso, "cgroup-memory")
    name = create_function(lam, HOG, MemorySize=128)
    first = call(lam, name)
    assert first["error"] is None
    r = call(lam, name, {"hog": 512}, tail=True)
    rid = r["request_id"]
    assert r["error"] == "Unhandled"
    assert r["payload"] == {"errorType": "Runtime.OutOfMemory",
                            "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: signal: killed"}
    report = r["log"].splitlines()[-1]
    assert report.startswith(f"REPORT RequestId: {rid}\t")
    assert "\tMemory Size: 128 MB\tMax Memory Used: 128 MB\t" in report
    assert report.endswith("Status: error\tError Type: Runtime.OutOfMemory")
    # The environment was replaced: the next invocation works, on a new one.
    nxt = call(lam, name, tail=True)
    assert nxt["error"] is None and nxt["payload"]["pid"] != first["payload"]["pid"]
    assert "\tInit Duration: " in nxt["log"].splitlines()[-1]
    still_serving(lam, server, canary)


# --------------------------------------------------------------------------- files

OPENER = """import errno, os

def handler(event, context):
    fds, err = [], None
    for _ in range(event['n']):
        try:
            fds.append(os.open('/dev/null', os.O_RDONLY))
        except OSError as e:
            err = errno.errorcode.get(e.errno, str(e.errno))
            break
    for fd in fds:
        os.close(fd)
    return {'opened': len(fds), 'error': err}
"""


def test_at_most_1024_open_files(lam, server, canary, iso):
    need(iso, "rlimits")
    name = create_function(lam, OPENER)
    r = call(lam, name, {"n": 2000})
    assert r["error"] is None, r
    assert r["payload"]["error"] == "EMFILE"
    assert 1000 <= r["payload"]["opened"] < 1024  # stdin/out/err and the runtime's own fds count too
    still_serving(lam, server, canary)


# --------------------------------------------------------------------------- system calls

ESCAPER = """import ctypes, os

def handler(event, context):
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}
    for name, call in (('unshare', lambda: libc.unshare(0x00020000)),
                       ('mount', lambda: libc.mount(b'none', b'/tmp', b'tmpfs', 0, None)),
                       ('setuid0', lambda: libc.setuid(0))):
        rc = call()
        out[name] = 0 if rc == 0 else ctypes.get_errno()
    out['hostname'] = os.uname().nodename
    return out
"""


def test_namespaces_mounts_and_root_are_out_of_reach(lam, server, canary, iso):
    need(iso, "seccomp", "uid")
    name = create_function(lam, ESCAPER)
    r = call(lam, name)
    assert r["error"] is None, r
    got = r["payload"]
    assert got["unshare"] == 1 and got["mount"] == 1 and got["setuid0"] == 1  # EPERM
    still_serving(lam, server, canary)


# --------------------------------------------------------------------------- other runtimes

PROVIDED_BOOTSTRAP = """#!/bin/bash
set -euo pipefail
while true; do
  HEADERS="$(mktemp)"
  curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next" > /dev/null
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  touch "$LAMBDA_TASK_ROOT/x" 2>/dev/null && RO=no || RO=yes
  BODY="{\\"uid\\": $(id -u), \\"nofile\\": $(ulimit -n), \\"tmp\\": \\"$(ls /tmp | tr '\\n' ' ')\\", \\"ro\\": \\"$RO\\"}"
  curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" -d "$BODY" > /dev/null
done
"""

NODE_INDEX = """const fs = require('fs');
exports.handler = async () => {
  let ro = 'no';
  try { fs.writeFileSync(process.env.LAMBDA_TASK_ROOT + '/x', '1'); } catch (e) { ro = e.code; }
  return {uid: process.getuid(), tmp: fs.readdirSync('/tmp'), ro};
};
"""


def test_node_and_custom_runtimes_are_confined_too(lam, server, canary, iso):
    need(iso, "uid", "private-tmp", "read-only-code")
    name = create_function(lam, {"bootstrap": PROVIDED_BOOTSTRAP}, Runtime="provided.al2023", handler="x.y")
    r = call(lam, name)
    assert r["error"] is None, r
    got = r["payload"]
    assert got["uid"] >= 100000 and got["nofile"] == 1024 and got["ro"] == "yes", got
    if shutil.which("node") is not None:
        name = create_function(lam, {"index.js": NODE_INDEX}, Runtime="nodejs20.x", handler="index.handler")
        r = call(lam, name)
        assert r["error"] is None, r
        assert r["payload"]["uid"] >= 100000 and r["payload"]["ro"] in ("EROFS", "EACCES"), r
    still_serving(lam, server, canary)
