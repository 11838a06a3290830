"""Node.js runtimes through the Engine: nubis's own Runtime API client on the host's node."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from .conftest import make_spec
from .test_runtime_api import invoke_all, write_files

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")

ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


def node_spec(d: str, handler: str = "index.handler", runtime: str = "nodejs20.x", **kw):
    return make_spec(d, handler=handler, runtime=runtime, **kw)


CONTEXT_CJS = """
    console.log('loading');
    exports.handler = async (event, context) => {
      console.log('event', event);
      console.warn('careful', 1);
      console.error('multi\\nline');
      process.stdout.write('raw write\\n');
      return {
        event,
        awsRequestId: context.awsRequestId,
        functionName: context.functionName,
        functionVersion: context.functionVersion,
        invokedFunctionArn: context.invokedFunctionArn,
        memoryLimitInMB: context.memoryLimitInMB,
        logGroupName: context.logGroupName,
        logStreamName: context.logStreamName,
        remaining: context.getRemainingTimeInMillis(),
        waits: context.callbackWaitsForEmptyEventLoop,
        identity: context.identity === undefined ? 'undefined' : context.identity,
        clientContext: context.clientContext === undefined ? 'undefined' : context.clientContext,
        callbacks: [typeof context.succeed, typeof context.fail, typeof context.done],
        env: Object.fromEntries(['AWS_EXECUTION_ENV', 'NODE_PATH', 'AWS_LAMBDA_RUNTIME_API', '_HANDLER',
          'LAMBDA_TASK_ROOT', 'LAMBDA_RUNTIME_DIR', 'PATH', 'PYTHONPATH', '_X_AMZN_TRACE_ID']
          .map((k) => [k, process.env[k] === undefined ? null : process.env[k]])),
        gc: typeof global.gc,
        cwd: process.cwd(),
        pid: process.pid,
      };
    };
"""


def test_cjs_async_handler_context_env_and_logs(run, make_engine, rec, tmp_path):
    d = write_files(tmp_path, {"index.js": CONTEXT_CJS})
    spec = node_spec(d)
    cc = json.dumps({"custom": {"k": "v"}})
    (inv, r), (inv2, r2) = invoke_all(
        run, make_engine, spec, [b'{"x": [1, 2]}', b'{"y": 1}'], client_context=cc, trace_id="Root=1-abc;Sampled=1"
    )
    assert r.function_error is None, r.payload
    out = json.loads(r.payload)
    assert out["event"] == {"x": [1, 2]}
    assert out["awsRequestId"] == inv.request_id
    assert out["functionName"] == "fn" and out["functionVersion"] == "$LATEST"
    assert out["invokedFunctionArn"] == spec.function_arn
    assert out["memoryLimitInMB"] == "128"
    assert out["logGroupName"] == "/aws/lambda/fn" and out["logStreamName"] == r.log_stream
    assert 0 < out["remaining"] <= 3000
    assert out["waits"] is True and out["identity"] == "undefined"
    assert out["clientContext"] == {"custom": {"k": "v"}}
    assert out["callbacks"] == ["function"] * 3
    env = out["env"]
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs20.x"
    assert env["_HANDLER"] == "index.handler" and env["LAMBDA_TASK_ROOT"] == d == out["cwd"]
    assert env["LAMBDA_RUNTIME_DIR"].endswith("runtimes/node")
    assert env["NODE_PATH"].split(":")[-1] == d and env["LAMBDA_RUNTIME_DIR"] in env["NODE_PATH"]
    assert re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert env["PATH"].split(":")[0] == str(shutil.which("node")).rsplit("/", 1)[0]
    assert env["PYTHONPATH"] is None
    assert env["_X_AMZN_TRACE_ID"] == "Root=1-abc;Sampled=1"
    assert out["gc"] == "function"  # --expose-gc, as Lambda starts node
    assert json.loads(r2.payload)["pid"] == out["pid"] and not r2.cold

    msgs = rec.messages(0)
    assert re.fullmatch(
        r"INIT_START Runtime Version: nodejs:\d+\.v\d+\.\d+\tRuntime Version ARN: "
        r"arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}\n",
        msgs[0],
    )
    assert re.fullmatch(rf"{ISO}\tundefined\tINFO\tloading\n", msgs[1])  # INIT: no request id yet
    rid = inv.request_id
    assert msgs[2] == f"START RequestId: {rid} Version: $LATEST\n"
    assert re.fullmatch(rf"{ISO}\t{rid}\tINFO\tevent {{ x: \[ 1, 2 \] }}\n", msgs[3])
    assert re.fullmatch(rf"{ISO}\t{rid}\tWARN\tcareful 1\n", msgs[4])
    assert re.fullmatch(rf"{ISO}\t{rid}\tERROR\tmulti\rline\n", msgs[5])  # one event per call
    assert msgs[6] == "raw write\n"
    assert msgs[-2] == f"END RequestId: {rid}\n"
    assert "Init Duration" in msgs[-1]


def test_esm_and_module_resolution(run, make_engine, rec, tmp_path):
    d = write_files(
        tmp_path,
        {
            "index.mjs": "export const handler = async (event) => ({ kind: 'mjs', meta: typeof import.meta.url });\n",
            "lib/nested.cjs": "module.exports.deep = { fn: async () => 'nested cjs' };\n",
            "pkg/package.json": '{"type": "module"}\n',
            "pkg/app.js": "export async function handler(event, context) { return 'esm via package.json'; }\n",
            "plain/file.js": "exports.go = async () => 'plain js';\n",
        },
    )
    cases = [
        ("index.handler", "mjs"),
        ("lib/nested.deep.fn", "nested cjs"),
        ("pkg/app.handler", "esm via package.json"),
        ("plain/file.go", "plain js"),
    ]
    for i, (handler, want) in enumerate(cases):
        spec = node_spec(d, handler=handler, name=f"fn{i}")
        (_, r), = invoke_all(run, make_engine, spec, [b"{}"])
        assert r.function_error is None, (handler, r.payload)
        got = json.loads(r.payload)
        assert (got["kind"] if isinstance(got, dict) else got) == want


CALLBACKS = """
    let calls = 0;
    exports.waits = (event, context, callback) => {
      setTimeout(() => { console.log('timer fired'); }, 50);
      callback(null, { calls: ++calls });   // answered only once the event loop is empty
    };
    exports.nowait = (event, context, callback) => {
      context.callbackWaitsForEmptyEventLoop = false;
      setTimeout(() => { console.log('later'); }, 1500);
      callback(null, 'right away');
    };
    exports.sync_no_callback = (event) => { console.log('returned nothing'); };
    exports.succeed = (event, context) => { context.succeed({ via: 'succeed' }); };
    exports.cb_error = (event, context, callback) => callback(new TypeError('typed'));
    exports.cb_string = (event, context, callback) => callback('just a string');
    exports.fail_empty = (event, context) => context.fail();
    exports.throws = async () => { throw new Error('boom'); };
    exports.never = async () => new Promise(() => {});
    exports.cyclic = async () => { const a = {}; a.a = a; return a; };
    exports.uncaught = (event, context, callback) => { setTimeout(() => { throw new RangeError('late'); }, 1); };
    exports.reject = async () => { Promise.reject(new Error('nobody catches me')); await new Promise((r) => setTimeout(r, 50)); return 1; };
    exports.exit = () => { process.exit(3); };
    exports.sleep = async () => new Promise((r) => setTimeout(r, 30000));
"""


def _invoke_handlers(run, make_engine, tmp_path, names, timeout_s=3):
    d = write_files(tmp_path, {"index.js": CALLBACKS})
    out = {}
    for name in names:
        spec = node_spec(d, handler=f"index.{name}", name=name.replace("_", "-"), timeout_s=timeout_s)
        out[name] = invoke_all(run, make_engine, spec, [b"{}", b"{}"] if name == "waits" else [b"{}"])
    return out


def test_callback_styles(run, make_engine, rec, tmp_path):
    res = _invoke_handlers(run, make_engine, tmp_path, ["waits", "nowait", "sync_no_callback", "succeed"])
    (inv1, w1), (_, w2) = res["waits"]
    assert json.loads(w1.payload) == {"calls": 1} and json.loads(w2.payload) == {"calls": 2}
    assert re.search(rf"{ISO}\t{inv1.request_id}\tINFO\ttimer fired\n", w1.log_tail)  # waited for the timer
    (_, nw), = res["nowait"]
    assert nw.payload == b'"right away"' and "later" not in nw.log_tail
    (_, sn), = res["sync_no_callback"]
    assert sn.function_error is None and sn.payload == b"null"
    (_, sc), = res["succeed"]
    assert json.loads(sc.payload) == {"via": "succeed"}


def test_errors(run, make_engine, rec, tmp_path):
    res = _invoke_handlers(
        run, make_engine, tmp_path, ["throws", "cb_error", "cb_string", "fail_empty", "never", "cyclic"]
    )
    (inv, t), = res["throws"]
    assert t.function_error == "Unhandled" and t.error_type == "Error"
    err = json.loads(t.payload)
    assert err["errorType"] == "Error" and err["errorMessage"] == "boom"
    assert err["trace"][0] == "Error: boom" and err["trace"][1].startswith("    at ")
    assert "index.js" in err["trace"][1]
    m = re.search(rf"{ISO}\t{inv.request_id}\tERROR\tInvoke Error \t(.*)\n", t.log_tail)
    logged = json.loads(m.group(1))
    assert logged["errorType"] == "Error" and logged["errorMessage"] == "boom" and logged["stack"][0] == "Error: boom"
    (_, ce), = res["cb_error"]
    assert json.loads(ce.payload)["errorType"] == "TypeError" and ce.error_type == "TypeError"
    (_, cs), = res["cb_string"]
    assert json.loads(cs.payload) == {"errorType": "string", "errorMessage": "just a string", "trace": []}
    (_, fe), = res["fail_empty"]
    assert json.loads(fe.payload) == {"errorType": "string", "errorMessage": "handled", "trace": []}
    (_, nv), = res["never"]
    assert nv.error_type == "Runtime.NodeJsExit"
    assert json.loads(nv.payload)["errorMessage"].startswith("The Lambda runtime client detected an unexpected")
    (_, cy), = res["cyclic"]
    assert json.loads(cy.payload)["errorMessage"] == "Unable to stringify response body"


def test_process_level_failures(run, make_engine, rec, tmp_path):
    res = _invoke_handlers(run, make_engine, tmp_path, ["uncaught", "reject", "exit", "sleep"], timeout_s=1)
    (_, un), = res["uncaught"]
    assert un.error_type == "RangeError" and json.loads(un.payload)["errorMessage"] == "late"
    assert "\tERROR\tUncaught Exception \t" in un.log_tail
    (_, rj), = res["reject"]
    assert rj.error_type == "Runtime.UnhandledPromiseRejection"
    assert json.loads(rj.payload)["errorMessage"] == "Error: nobody catches me"
    (inv, ex), = res["exit"]
    assert json.loads(ex.payload) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": f"RequestId: {inv.request_id} Error: Runtime exited with error: exit status 3",
    }
    (inv, sl), = res["sleep"]
    assert sl.error_type == "Sandbox.Timedout"
    assert json.loads(sl.payload)["errorMessage"] == f"RequestId: {inv.request_id} Error: Task timed out after 1.00 seconds"


@pytest.mark.parametrize(
    "files, handler, etype, message",
    [
        ({"other.js": "exports.x = 1;"}, "index.handler", "Runtime.ImportModuleError",
         "Error: Cannot find module 'index'\nRequire stack:\n- {rt}"),
        ({"index.js": "require('left-pad');\nexports.handler = async () => 1;\n"}, "index.handler",
         "Runtime.ImportModuleError", "Error: Cannot find module 'left-pad'\nRequire stack:\n- {d}/index.js\n- {rt}"),
        ({"index.js": "exports.other = 1;"}, "index.handler", "Runtime.HandlerNotFound",
         "index.handler is undefined or not exported"),
        ({"index.js": "exports.handler = 1;"}, "index.handler", "Runtime.HandlerNotFound",
         "index.handler is not a function"),
        ({"index.js": "exports.handler = async () => {"}, "index.handler", "Runtime.UserCodeSyntaxError",
         "SyntaxError: Unexpected end of input"),
        ({"index.js": "exports.handler = 1;"}, "nodot", "Runtime.MalformedHandlerName", "Bad handler"),
        ({"index.js": "throw new Error('init boom');"}, "index.handler", "Error", "init boom"),
    ],
)
def test_init_errors(run, make_engine, rec, tmp_path, files, handler, etype, message):
    d = write_files(tmp_path, files)
    spec = node_spec(d, handler=handler)
    (_, r), = invoke_all(run, make_engine, spec, [b"{}"])
    from nubis.engine.api_environment import NODE_CLIENT

    assert r.function_error == "Unhandled" and r.error_type == etype, r.payload
    err = json.loads(r.payload)
    assert err["errorType"] == etype
    assert err["errorMessage"] == message.format(d=d, rt=NODE_CLIENT)
    assert isinstance(err["trace"], list)
    msgs = rec.messages()
    assert any(f"\tundefined\tERROR\tUncaught Exception \t" in m for m in msgs)
    assert any(m.startswith("INIT_REPORT Init Duration:") and f"Error Type: {etype}" in m for m in msgs)


def test_runtime_names_and_announcement(run, make_engine, rec, tmp_path, caplog):
    d = write_files(tmp_path, {"index.js": "exports.handler = async () => process.env.AWS_EXECUTION_ENV;"})
    with caplog.at_level("INFO", logger="nubis.engine"):
        for runtime in ("nodejs18.x", "nodejs22.x"):
            spec = node_spec(d, runtime=runtime, name=runtime.replace(".", "-"))
            (_, r), = invoke_all(run, make_engine, spec, [b"{}"])
            assert r.payload == f'"AWS_Lambda_{runtime}"'.encode()
            assert rec.logs[-1][2][0][1].startswith("INIT_START Runtime Version: nodejs:")
    notes = [x for x in caplog.records if "is served by Node.js v" in x.getMessage()]
    assert {x.getMessage().split()[1] for x in notes} == {"nodejs18.x", "nodejs22.x"}
    assert all(x.levelname == "WARNING" for x in notes)  # the host's node is neither 18 nor 22 here
