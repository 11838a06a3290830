"""Runtime API environments through the Engine: provided runtimes (bash + curl, awslambdaric,
a raw HTTP client that pokes the API's error answers), INIT, errors, timeouts, crashes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .conftest import make_inv, make_spec, pid_alive

PY = sys.executable  # the venv's interpreter (awslambdaric is installed there), never a pyenv shim

# The AWS tutorial "Building a custom runtime" (runtimes-walkthrough), verbatim: #!/bin/sh, `source`.
TUTORIAL_BOOTSTRAP = (Path(__file__).resolve().parents[2] / "fixtures" / "aws-tutorial" / "bootstrap").read_text()

TUTORIAL_FUNCTION = """function handler () {
  EVENT_DATA=$1
  echo "$EVENT_DATA" 1>&2;
  RESPONSE="Echoing request: '$EVENT_DATA'"

  echo $RESPONSE
}
"""

RIC_BOOTSTRAP = f'#!/bin/sh\nexec {PY} -m awslambdaric "$_HANDLER"\n'

# A runtime written against the raw HTTP API, to check what the API answers.
RAW_BOOTSTRAP = f"""#!{PY}
import http.client, json, os, sys, time

conn = http.client.HTTPConnection(os.environ["AWS_LAMBDA_RUNTIME_API"])

def call(method, path, body=None, headers=None):
    conn.request(method, "/2018-06-01/runtime/" + path, body=body, headers=headers or {{}})
    r = conn.getresponse()
    return r.status, r.read().decode(), {{k.lower(): v for k, v in r.getheaders()}}

ENV = ["_HANDLER", "AWS_EXECUTION_ENV", "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "PATH",
       "PYTHONPATH", "PYTHONUNBUFFERED", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
       "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_REGION",
       "LANG", "TZ", "MY_VAR"]
mode = os.environ.get("MODE", "")
if os.environ.get("PIDFILE"):
    with open(os.environ["PIDFILE"], "w") as f:
        f.write(str(os.getpid()))
print("init output", flush=True)
if mode == "init-error":
    s = call("POST", "init/error", json.dumps({{"errorMessage": "cannot start", "errorType": "Custom.InitFailed"}}),
             {{"Lambda-Runtime-Function-Error-Type": "Custom.InitFailed"}})
    print("init error posted", s[0], s[1], flush=True)
    s = call("GET", "invocation/next")
    print("next after init error", s[0], s[1], flush=True)
    sys.exit(1)
if mode == "exit":
    sys.exit(3)
if mode == "slow-init":
    time.sleep(float(os.environ["SLOW"]))

while True:
    status, body, h = call("GET", "invocation/next")
    rid = h["lambda-runtime-aws-request-id"]
    ev = json.loads(body)
    case = ev.get("case")
    print("handling", case, flush=True)
    out = {{"status": status, "headers": h, "env": {{k: os.environ.get(k) for k in ENV}}, "event": ev,
           "pid": os.getpid(), "cwd": os.getcwd(), "fd": os.environ.get("_NUBIS_CONTROL_FD")}}
    if case == "bad-calls":
        out["bad_id"] = call("POST", "invocation/not-a-request-id/response", b"{{}}")[:2]
        out["bad_id_error"] = call("POST", "invocation/not-a-request-id/error", b"{{}}")[:2]
        out["init_error_late"] = call("POST", "init/error", b"{{}}")[:2]
        out["unknown_path"] = call("GET", "invocation/whatever")[:2]
        out["wrong_method"] = call("GET", "invocation/" + rid + "/response")[:2]
        out["other_api"] = call("POST", "../../2020-01-01/extension/register", b"{{}}")[:2]
    elif case == "error":
        s = call("POST", "invocation/" + rid + "/error",
                 json.dumps({{"errorMessage": "bad thing", "errorType": "MyError", "stackTrace": ["here"]}}),
                 {{"Content-Type": "application/json"}})
        print("error posted", s[0], s[1], flush=True)
        continue
    elif case == "error-header-only":
        call("POST", "invocation/" + rid + "/error", b"", {{"Lambda-Runtime-Function-Error-Type": "Custom.Kind"}})
        continue
    elif case == "too-large":
        s = call("POST", "invocation/" + rid + "/response", b"x" * (6291556 + 1))
        print("too large", s[0], s[1], flush=True)
        s = call("POST", "invocation/" + rid + "/response", b"{{}}")
        print("after too large", s[0], s[1], flush=True)
        continue
    elif case == "at-limit":
        s = call("POST", "invocation/" + rid + "/response", b'"' + b"y" * (6291556 - 2) + b'"')
        print("at limit", s[0], flush=True)
        continue
    elif case == "crash":
        sys.stdout.write("about to crash\\n")
        sys.stdout.flush()
        os._exit(3)
    elif case == "exit-after-response":
        call("POST", "invocation/" + rid + "/response", b'"bye"')
        print("leaving", flush=True)
        sys.exit(0)
    elif case == "sleep":
        time.sleep(ev["sleep"])
    s = call("POST", "invocation/" + rid + "/response", json.dumps(out), {{"Content-Type": "application/json"}})
    print("first", s[0], s[1].strip(), flush=True)
    if case == "double":
        s = call("POST", "invocation/" + rid + "/response", b"{{}}")
        print("second", s[0], s[1].strip(), flush=True)
        s = call("POST", "invocation/" + rid + "/error", b"{{}}")
        print("second error", s[0], s[1].strip(), flush=True)
"""


def write_files(root, files: dict[str, str], subdir: str = "fn") -> str:
    d = root / subdir
    for name, content in files.items():
        p = d / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content if name.endswith("bootstrap") else textwrap.dedent(content))
        p.chmod(0o755)
    return str(d)


def provided_spec(d: str, handler: str = "function.handler", runtime: str = "provided.al2023", **kw):
    return make_spec(d, handler=handler, runtime=runtime, **kw)


def invoke_all(run, make_engine, spec, payloads, **inv_kw):
    """Invoke once per payload on one engine; returns [(inv, result)]."""

    async def main():
        eng = make_engine()
        try:
            out = []
            for p in payloads:
                inv = make_inv(spec, p, **inv_kw)
                out.append((inv, await eng.invoke(spec, inv)))
            return out
        finally:
            await eng.shutdown()

    return run(main())


# --------------------------------------------------------------------------- provided: bash + curl


def test_aws_tutorial_bash_bootstrap(run, make_engine, rec, tmp_path):
    d = write_files(tmp_path, {"bootstrap": TUTORIAL_BOOTSTRAP, "function.sh": TUTORIAL_FUNCTION})
    spec = provided_spec(d)
    big = json.dumps({"k": "v" * 3000})  # > 1 KB: curl sends "Expect: 100-continue" with the response
    (inv1, r1), (inv2, r2), (inv3, r3) = invoke_all(run, make_engine, spec, [b'{"x": 1}', b'{"x": 2}', big.encode()])
    assert r1.function_error is None and r1.payload == b"Echoing request: '{\"x\": 1}'"
    assert r2.payload == b"Echoing request: '{\"x\": 2}'"
    assert r3.payload == b"Echoing request: '" + big.encode() + b"'"
    assert r1.cold and not r2.cold and not r3.cold and r1.log_stream == r2.log_stream == r3.log_stream
    msgs = rec.messages(0)
    assert re.fullmatch(
        r"INIT_START Runtime Version: provided:al2023\.v1\tRuntime Version ARN: "
        r"arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}\n",
        msgs[0],
    )
    rid = inv1.request_id
    i = msgs.index(f"START RequestId: {rid} Version: $LATEST\n")
    assert msgs[i + 1] == '{"x": 1}\n'  # the handler's stderr
    # curl's own output after posting still belongs to this invocation (it ends at the next `next`)
    assert msgs[-3] == '{"status":"OK"}\n'
    assert msgs[-2] == f"END RequestId: {rid}\n"
    assert re.fullmatch(
        rf"REPORT RequestId: {rid}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\t"
        r"Max Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t\n",
        msgs[-1],
    )
    msgs2 = rec.messages(1)
    assert msgs2[0] == f"START RequestId: {inv2.request_id} Version: $LATEST\n"
    assert msgs2[1] == '{"x": 2}\n' and msgs2[-3] == '{"status":"OK"}\n'
    assert [o for _, _, o in rec.meters] == ["success"] * 3


def test_bootstrap_environment_and_next_headers(run, make_engine, rec, tmp_path):
    d = write_files(tmp_path, {"bootstrap": RAW_BOOTSTRAP})
    spec = provided_spec(
        d,
        handler="anything.goes",
        environment={"MY_VAR": "mine"},
        extra_env={"AWS_ACCESS_KEY_ID": "AKIDTEST"},
    )
    cc = json.dumps({"custom": {"k": "v"}})
    (inv, r), = invoke_all(
        run, make_engine, spec, [b'{"case": "echo"}'], client_context=cc, trace_id="Root=1-abc;Parent=def;Sampled=1"
    )
    out = json.loads(r.payload)
    h = out["headers"]
    assert out["status"] == 200
    assert h["lambda-runtime-aws-request-id"] == inv.request_id
    assert h["lambda-runtime-invoked-function-arn"] == spec.function_arn
    assert h["lambda-runtime-trace-id"] == "Root=1-abc;Parent=def;Sampled=1"
    assert json.loads(h["lambda-runtime-client-context"]) == {"custom": {"k": "v"}}
    assert h["content-type"] == "application/json"
    assert "lambda-runtime-cognito-identity" not in h
    deadline = int(h["lambda-runtime-deadline-ms"])
    assert 0 < deadline - r.start_time * 1000 <= 3000 + 50
    env = out["env"]
    assert env["_HANDLER"] == "anything.goes"
    assert env["AWS_EXECUTION_ENV"] is None  # not set for provided runtimes
    assert re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert env["LAMBDA_TASK_ROOT"] == d == out["cwd"]
    assert env["LAMBDA_RUNTIME_DIR"].endswith("runtimes/provided")
    assert env["PATH"] == "/usr/local/bin:/usr/bin/:/bin:/opt/bin"
    assert env["PYTHONPATH"] is None and env["PYTHONUNBUFFERED"] is None  # the Python runtime's, not ours
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fn" and env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == r.log_stream
    assert env["TZ"] == ":UTC" and env["MY_VAR"] == "mine"
    msgs = rec.messages()
    assert msgs[1] == "init output\n"  # INIT output before START
    assert msgs[2].startswith("START RequestId:")


def test_runtime_api_error_answers(run, make_engine, rec, tmp_path):
    d = write_files(tmp_path, {"bootstrap": RAW_BOOTSTRAP})
    spec = provided_spec(d)
    (inv, r), (inv2, r2) = invoke_all(run, make_engine, spec, [b'{"case": "bad-calls"}', b'{"case": "double"}'])
    out = json.loads(r.payload)
    assert out["bad_id"] == [400, '{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}\n']
    assert out["bad_id_error"][0] == 400
    assert out["init_error_late"][0] == 403
    assert json.loads(out["init_error_late"][1]) == {
        "errorMessage": "State transition from Running to InitError failed for runtime. "
        "Error: State transition is not allowed",
        "errorType": "InvalidStateTransition",
    }
    assert out["unknown_path"][0] == 404
    assert out["wrong_method"][0] == 405
    assert out["other_api"][0] == 404
    # the first response wins; the second is refused, and so is a late error
    assert json.loads(r2.payload)["event"] == {"case": "double"}
    tail = r2.log_tail
    assert 'first 202 {"status":"OK"}\n' in tail
    assert (
        'second 403 {"errorMessage":"State transition from RuntimeResponseSentState to InvocationResponse failed '
        'for runtime. Error: State transition is not allowed","errorType":"InvalidStateTransition"}\n'
    ) in tail
    assert "second error 403 " in tail
    assert tail.index("second error") < tail.index("END RequestId")


def test_oversized_response(run, make_engine, rec, tmp_path):
    d = write_files(tmp_path, {"bootstrap": RAW_BOOTSTRAP})
    spec = provided_spec(d)
    (_, r), (_, r2), (_, r3) = invoke_all(
        run, make_engine, spec, [b'{"case": "too-large"}', b'{"case": "at-limit"}', b'{"case": "echo"}']
    )
    assert r.function_error == "Unhandled" and r.error_type == "Function.ResponseSizeTooLarge"
    assert json.loads(r.payload) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
    assert (
        'too large 413 {"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).",'
        '"errorType":"RequestEntityTooLarge"}\n'
    ) in r.log_tail
    assert "after too large 403 " in r.log_tail
    assert r2.function_error is None and len(r2.payload) == 6291556
    assert r3.function_error is None and not r3.cold  # the environment lives on
    assert [o for _, _, o in rec.meters] == ["error", "success", "success"]


def test_posted_errors(run, make_engine, rec, tmp_path):
    d = write_files(tmp_path, {"bootstrap": RAW_BOOTSTRAP})
    spec = provided_spec(d)
    (inv, r), (_, r2), (_, r3) = invoke_all(
        run, make_engine, spec, [b'{"case": "error"}', b'{"case": "error-header-only"}', b'{"case": "echo"}']
    )
    # no Lambda-Runtime-Function-Error-Type header (as awslambdaric): the type comes from the body
    assert r.function_error == "Unhandled" and r.error_type == "MyError"
    assert json.loads(r.payload) == {"errorMessage": "bad thing", "errorType": "MyError", "stackTrace": ["here"]}
    assert "error posted 202 " in r.log_tail
    # only the header: the invoker still learns the type
    assert r2.function_error == "Unhandled" and r2.error_type == "Custom.Kind"
    assert r3.function_error is None and not r3.cold
    assert [o for _, _, o in rec.meters] == ["error", "error", "success"]


def test_init_error_posted(run, make_engine, rec, tmp_path):
    d = write_files(tmp_path, {"bootstrap": RAW_BOOTSTRAP})
    spec = provided_spec(d, environment={"MODE": "init-error"})
    (inv, r), = invoke_all(run, make_engine, spec, [b"{}"])
    assert r.function_error == "Unhandled" and r.error_type == "Custom.InitFailed"
    assert json.loads(r.payload) == {"errorMessage": "cannot start", "errorType": "Custom.InitFailed"}
    msgs = rec.messages()
    assert msgs[0].startswith("INIT_START Runtime Version: provided:al2023.v1\t")
    assert "init output\n" in msgs
    assert any(m.startswith("INIT_REPORT Init Duration: ") and "Status: error\tError Type: Custom.InitFailed" in m
               for m in msgs)
    assert msgs[-1].startswith(f"REPORT RequestId: {inv.request_id}\t")
    assert rec.meters[0][2] == "error"


def test_exit_before_next_is_an_exit_error(run, make_engine, rec, tmp_path):
    d = write_files(tmp_path, {"bootstrap": RAW_BOOTSTRAP})
    spec = provided_spec(d, environment={"MODE": "exit"})
    (inv, r), = invoke_all(run, make_engine, spec, [b"{}"])
    assert r.error_type == "Runtime.ExitError"
    assert json.loads(r.payload) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {inv.request_id} Error: Runtime exited with error: exit status 3",
    }
    assert "init output\n" in rec.messages()


@pytest.mark.parametrize(
    "files, message",
    [
        ({"function.sh": TUTORIAL_FUNCTION}, "Couldn't find valid bootstrap(s): [{d}/bootstrap /opt/bootstrap]"),
        ({"bootstrap/readme": "a folder"}, "fork/exec {d}/bootstrap: permission denied"),
        ({"bootstrap": "echo no shebang\n"}, "fork/exec {d}/bootstrap: exec format error"),
        ({"bootstrap": "#!/no/such/interpreter\n"}, "fork/exec {d}/bootstrap: no such file or directory"),
    ],
)
def test_invalid_entrypoint(run, make_engine, rec, tmp_path, files, message):
    d = write_files(tmp_path, files)
    spec = provided_spec(d)
    (inv, r), (inv2, r2) = invoke_all(run, make_engine, spec, [b"{}", b"{}"])
    want = f"RequestId: {inv.request_id} Error: " + message.format(d=d)
    assert r.function_error == "Unhandled" and r.error_type == "Runtime.InvalidEntrypoint"
    assert json.loads(r.payload) == {"errorType": "Runtime.InvalidEntrypoint", "errorMessage": want}
    assert want + "\n" in r.log_tail or want + "\n" in rec.messages(0)
    assert r2.cold and json.loads(r2.payload)["errorMessage"].startswith(f"RequestId: {inv2.request_id} Error: ")


def test_not_executable_bootstrap(run, make_engine, rec, tmp_path):
    d = write_files(tmp_path, {"bootstrap": TUTORIAL_BOOTSTRAP})
    os.chmod(os.path.join(d, "bootstrap"), 0o644)
    spec = provided_spec(d)
    (inv, r), = invoke_all(run, make_engine, spec, [b"{}"])
    assert r.error_type == "Runtime.InvalidEntrypoint"
    assert json.loads(r.payload)["errorMessage"] == (
        f"RequestId: {inv.request_id} Error: fork/exec {d}/bootstrap: permission denied"
    )


def test_timeout_replaces_the_environment(run, make_engine, rec, tmp_path):
    d = write_files(tmp_path, {"bootstrap": RAW_BOOTSTRAP})
    spec = provided_spec(d, timeout_s=1)
    (inv, r), (_, r2) = invoke_all(run, make_engine, spec, [b'{"case": "sleep", "sleep": 30}', b'{"case": "echo"}'])
    assert r.function_error == "Unhandled" and r.error_type == "Sandbox.Timedout"
    assert json.loads(r.payload) == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {inv.request_id} Error: Task timed out after 1.00 seconds",
    }
    assert "handling sleep\n" in r.log_tail
    assert r.log_tail.splitlines()[-1].endswith("Status: timeout")
    assert r2.cold and r2.function_error is None
    assert [o for _, _, o in rec.meters] == ["timeout", "success"]


def test_crash_and_exit_after_response(run, make_engine, rec, tmp_path):
    d = write_files(tmp_path, {"bootstrap": RAW_BOOTSTRAP})
    spec = provided_spec(d)
    results = invoke_all(
        run, make_engine, spec,
        [b'{"case": "crash"}', b'{"case": "exit-after-response"}', b'{"case": "echo"}'],
    )
    (inv, r), (_, r2), (_, r3) = results
    assert r.error_type == "Runtime.ExitError"
    assert json.loads(r.payload)["errorMessage"] == (
        f"RequestId: {inv.request_id} Error: Runtime exited with error: exit status 3"
    )
    assert "about to crash\n" in r.log_tail
    assert "Status: error\tError Type: Runtime.ExitError" in r.log_tail
    # exiting after a posted response does not fail that invocation; the next one starts anew
    assert r2.cold and r2.function_error is None and r2.payload == b'"bye"'
    assert "leaving\n" in r2.log_tail
    assert r3.cold and r3.function_error is None
    assert [o for _, _, o in rec.meters] == ["crash", "success", "success"]


# --------------------------------------------------------------------------- provided: awslambdaric


def test_awslambdaric_runs_unmodified(run, make_engine, rec, tmp_path):
    pytest.importorskip("awslambdaric")
    d = write_files(
        tmp_path,
        {
            "bootstrap": RIC_BOOTSTRAP,
            "app.py": """
                import logging, os
                logging.getLogger().setLevel(logging.INFO)
                def handler(event, context):
                    print("hello from ric")
                    logging.info("logged")
                    if event.get("fail"):
                        raise ValueError("Handler fails")
                    return {"event": event, "rid": context.aws_request_id, "mem": context.memory_limit_in_mb,
                            "arn": context.invoked_function_arn, "left": context.get_remaining_time_in_millis(),
                            "exec_env": os.environ.get("AWS_EXECUTION_ENV"),
                            "trace": os.environ.get("_X_AMZN_TRACE_ID")}
            """,
        },
    )
    spec = provided_spec(d, handler="app.handler")
    (inv, r), (inv2, r2) = invoke_all(
        run, make_engine, spec, [b'{"a": 1}', b'{"fail": true}'], trace_id="Root=1-x;Sampled=0"
    )
    assert r.function_error is None, r.payload
    out = json.loads(r.payload)
    assert out["event"] == {"a": 1} and out["rid"] == inv.request_id and out["mem"] == "128"
    assert out["arn"] == spec.function_arn and 0 < out["left"] <= 3000
    assert out["exec_env"] is None and out["trace"] == "Root=1-x;Sampled=0"
    assert "hello from ric\n" in r.log_tail
    assert re.search(rf"\[INFO\]\t\S+Z\t{inv.request_id}\tlogged\n", r.log_tail)
    # awslambdaric posts errors without Lambda-Runtime-Function-Error-Type: the body says it
    assert r2.function_error == "Unhandled" and r2.error_type == "ValueError"
    err = json.loads(r2.payload)
    assert err["errorMessage"] == "Handler fails" and err["requestId"] == inv2.request_id
    assert any("raise ValueError" in line for line in err["stackTrace"])
    assert "[ERROR] ValueError: Handler fails" in r2.log_tail
    assert not r2.cold


def test_awslambdaric_import_error_is_an_init_error(run, make_engine, rec, tmp_path):
    pytest.importorskip("awslambdaric")
    d = write_files(tmp_path, {"bootstrap": RIC_BOOTSTRAP, "app.py": "import no_such_module\n"})
    spec = provided_spec(d, handler="app.handler")
    (inv, r), = invoke_all(run, make_engine, spec, [b"{}"])
    assert r.error_type == "Runtime.ImportModuleError"
    err = json.loads(r.payload)
    assert err["errorMessage"] == "Unable to import module 'app': No module named 'no_such_module'"
    assert any(m.startswith("INIT_REPORT ") for m in rec.messages())


def test_provided_runtime_names(run, make_engine, rec, tmp_path, caplog):
    d = write_files(tmp_path, {"bootstrap": RAW_BOOTSTRAP})
    versions = []
    with caplog.at_level("INFO", logger="nubis.engine"):
        for runtime, want in (("provided.al2", "provided:al2.v1"), ("provided", "provided:al1.v1")):
            spec = provided_spec(d, runtime=runtime, name=runtime.replace(".", "-"))
            (_, r), = invoke_all(run, make_engine, spec, [b'{"case": "echo"}'])
            assert r.function_error is None
            versions.append((want, rec.logs[-1][2][0][1]))
    for want, line in versions:
        assert line.startswith(f"INIT_START Runtime Version: {want}\t")
    assert any("runs the function's bootstrap on" in x.getMessage() for x in caplog.records)


# --------------------------------------------------------------------------- process hygiene


def _group_members(pgid: int) -> list[int]:
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                stat = open(f"/proc/{p}/stat").read()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
                out.append(int(p))
    return out


def test_shutdown_kills_the_runtime_and_its_children(run, make_engine, rec, tmp_path):
    d = write_files(tmp_path, {"bootstrap": TUTORIAL_BOOTSTRAP, "function.sh": TUTORIAL_FUNCTION})
    spec = provided_spec(d)
    seen = {}

    async def main():
        eng = make_engine()
        try:
            r = await eng.invoke(spec, make_inv(spec))
            env = next(iter(eng._envs))
            seen["pid"] = env.pid
            while len(_group_members(env.pid)) < 2:  # bash and its curl waiting on `next`
                await __import__("asyncio").sleep(0.01)
            return r
        finally:
            await eng.shutdown()

    r = run(main())
    assert r.function_error is None
    assert not pid_alive(seen["pid"])
    deadline = time.monotonic() + 10  # SIGKILLed children still need a moment to be scheduled and die
    while _group_members(seen["pid"]):
        assert time.monotonic() < deadline, _group_members(seen["pid"])
        time.sleep(0.01)


ENGINE_IN_A_CHILD = """
import asyncio, sys, uuid
from nubis.engine import Engine, FunctionSpec, Invocation
code_dir, runtime, handler, pidfile = sys.argv[1:5]
spec = FunctionSpec(key="k", function_name="fn", function_arn="arn:aws:lambda:us-east-1:000000000000:function:fn",
    version="$LATEST", runtime=runtime, handler=handler, code_dir=code_dir, memory_mb=128, timeout_s=120,
    environment={"PIDFILE": pidfile}, region="us-east-1", account="000000000000", log_group="/aws/lambda/fn",
    extra_env={}, scope="s")
async def main():
    eng = Engine(log_sink=lambda *a: None, meter_sink=lambda *a: None)
    await eng.invoke(spec, Invocation(request_id=str(uuid.uuid4()), payload=b'{"case": "sleep", "sleep": 120}',
                                      invoked_arn=spec.function_arn))
asyncio.run(main())
"""


@pytest.mark.parametrize("runtime", ["provided.al2023", "nodejs20.x"])
def test_a_busy_runtime_dies_with_a_killed_server(tmp_path, runtime):
    import shutil

    if runtime.startswith("node") and shutil.which("node") is None:
        pytest.skip("no node on PATH")
    if shutil.which("setpriv") is None:
        pytest.skip("no setpriv on this host")
    files = {"bootstrap": RAW_BOOTSTRAP} if runtime.startswith("provided") else {
        "index.js": "exports.handler = async () => new Promise((r) => setTimeout(r, 120000));\n"}
    d = write_files(tmp_path, files)
    proc = subprocess.Popen([PY, "-c", ENGINE_IN_A_CHILD, d, runtime, "index.handler", ""])
    try:
        # The runtime is a descendant of the engine (of its zygote, or exec'd by it); the
        # function's files are private to it, so no pid file.
        want = "runtime.cjs" if runtime.startswith("node") else f"{d}/bootstrap"
        deadline = time.monotonic() + 60
        pid = None
        while pid is None:
            assert proc.poll() is None and time.monotonic() < deadline
            for c in _descendants_of(proc.pid):
                try:
                    cmd = Path(f"/proc/{c}/cmdline").read_bytes()
                except OSError:
                    continue
                if want.encode() in cmd and b"confinement" not in cmd and b"zygote.py" not in cmd:
                    pid = c
            time.sleep(0.02)
        time.sleep(0.5)  # let the event reach the handler
        assert pid_alive(pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        while pid_alive(pid):
            assert time.monotonic() < deadline, "the runtime outlived the server"
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            proc.kill()


def _descendants_of(pid: int) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        kids = _children_of(todo.pop()) - out
        out |= kids
        todo += kids
    return out


def _children_of(pid: int) -> set[int]:
    out: set[int] = set()
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            out.update(int(x) for x in Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
        except OSError:
            pass
    return out
