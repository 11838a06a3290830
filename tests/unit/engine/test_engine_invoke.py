"""Invocation semantics: results, context, logs, error payloads (real processes)."""

from __future__ import annotations

import json
import re

import pytest

from .conftest import REGION, make_inv, make_spec

ECHO = """
import os, json

ENV_KEYS = ["_HANDLER", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_INITIALIZATION_TYPE",
            "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
            "LANG", "TZ", "PATH", "PYTHONPATH", "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "MY_VAR",
            "AWS_ACCESS_KEY_ID", "AWS_ENDPOINT_URL", "_NUBIS_CONTROL_FD"]

def handler(event, context):
    print("hello from handler")
    cc = context.client_context
    return {
        "aws_request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "identity": [context.identity.cognito_identity_id, context.identity.cognito_identity_pool_id],
        "client_context": None if cc is None else {
            "custom": cc.custom, "env": cc.env, "app_title": cc.client.app_title if cc.client else None},
        "has_log": callable(context.log),
        "event": event,
        "env": {k: os.environ.get(k) for k in ENV_KEYS},
        "trace": os.environ.get("_X_AMZN_TRACE_ID"),
        "pid": os.getpid(),
        "cwd": os.getcwd(),
    }
"""


def test_success_context_and_environment(run, make_engine, rec, code):
    d = code(ECHO)
    spec = make_spec(
        d,
        environment={"MY_VAR": "mine", "AWS_REGION": "eu-west-1", "LANG": "C.UTF-8"},
        extra_env={"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_ENDPOINT_URL": "http://127.0.0.1:8750"},
    )
    cc = json.dumps({"custom": {"k": "v"}, "env": {"e": "1"}, "client": {"app_title": "t"}})

    async def main():
        eng = make_engine()
        try:
            inv = make_inv(spec, b'{"x": [1, 2]}', client_context=cc, trace_id="Root=1-abc;Parent=def;Sampled=1")
            inv.invoked_arn = spec.function_arn + ":$LATEST"
            return inv, await eng.invoke(spec, inv)
        finally:
            await eng.shutdown()

    inv, r = run(main())
    assert r.function_error is None and r.error_type is None
    body = json.loads(r.payload)
    assert body["aws_request_id"] == inv.request_id
    assert body["function_name"] == "fn"
    assert body["function_version"] == "$LATEST"
    assert body["invoked_function_arn"] == spec.function_arn + ":$LATEST"
    assert body["memory_limit_in_mb"] == "128"
    assert body["log_group_name"] == "/aws/lambda/fn"
    assert body["log_stream_name"] == r.log_stream
    assert 0 < body["remaining"] <= 3000
    assert body["identity"] == [None, None]
    assert body["client_context"] == {"custom": {"k": "v"}, "env": {"e": "1"}, "app_title": "t"}
    assert body["has_log"] is True
    assert body["event"] == {"x": [1, 2]}
    assert body["trace"] == "Root=1-abc;Parent=def;Sampled=1"
    assert body["cwd"] == d
    env = body["env"]
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_REGION"] == REGION  # reserved: the user's value does not win
    assert env["AWS_DEFAULT_REGION"] == REGION
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fn"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/fn"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == r.log_stream
    assert env["LAMBDA_TASK_ROOT"] == d
    assert env["LAMBDA_RUNTIME_DIR"].endswith("runtimes/python")
    assert env["LANG"] == "C.UTF-8"  # unreserved: the user's value wins
    assert env["TZ"] == ":UTC"
    assert env["PYTHONPATH"] == d
    assert env["PYTHONDONTWRITEBYTECODE"] == "1" and env["PYTHONUNBUFFERED"] == "1"
    assert env["MY_VAR"] == "mine"
    assert env["AWS_ACCESS_KEY_ID"] == "AKIDTEST"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:8750"
    assert env["_NUBIS_CONTROL_FD"] is None  # the runtime's private channel is hidden
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", r.log_stream)
    assert r.executed_version == "$LATEST"
    assert r.cold is True and r.init_ms is not None and r.init_ms > 0
    assert r.memory_mb == 128 and r.max_memory_mb > 0
    assert r.billed_ms == -(-round(r.duration_ms + r.init_ms, 6) // 1)


def test_logs_start_output_end_report(run, make_engine, rec, code):
    d = code(
        """
        import logging, sys
        print("at init")
        def handler(event, context):
            print("line one")
            print("two\\nthree")
            sys.stderr.write("to stderr\\n")
            sys.stdout.write("no newline")
            logging.getLogger().warning("careful %s", 1)
            logging.getLogger().info("not shown at the default level")
            return "ok"
        """
    )
    spec = make_spec(d)

    async def main():
        eng = make_engine()
        try:
            inv = make_inv(spec)
            r1 = await eng.invoke(spec, inv)
            inv2 = make_inv(spec)
            r2 = await eng.invoke(spec, inv2)
            return inv, r1, inv2, r2
        finally:
            await eng.shutdown()

    inv, r, inv2, r2 = run(main())
    assert r.payload == b'"ok"'
    group, stream, events = rec.logs[0]
    assert group == "/aws/lambda/fn" and stream == r.log_stream
    msgs = [m for _, m in events]
    assert all(m.endswith("\n") for m in msgs)
    ts = [t for t, _ in events]
    assert ts == sorted(ts)
    assert re.fullmatch(
        r"INIT_START Runtime Version: python:\d+\.\d+\.v\d+\tRuntime Version ARN: "
        r"arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}\n",
        msgs[0],
    )
    assert msgs[1] == "at init\n"
    rid = inv.request_id
    assert msgs[2] == f"START RequestId: {rid} Version: $LATEST\n"
    assert msgs[3:7] == ["line one\n", "two\n", "three\n", "to stderr\n"]
    # a partial line runs into the next output, as on Lambda
    assert re.fullmatch(
        rf"no newline\[WARNING\]\t\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{{3}}Z\t{rid}\tcareful 1\n", msgs[7]
    ), msgs[7]
    joined = "".join(msgs)
    assert "not shown" not in joined
    assert msgs[-2] == f"END RequestId: {rid}\n"
    assert re.fullmatch(
        rf"REPORT RequestId: {rid}\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\tMemory Size: 128 MB\t"
        r"Max Memory Used: \d+ MB\tInit Duration: \d+\.\d\d ms\t\n",
        msgs[-1],
    )
    # the tail is START..REPORT
    assert r.log_tail.startswith(f"START RequestId: {rid}")
    assert r.log_tail.endswith(msgs[-1])
    assert "INIT_START" not in r.log_tail
    # warm: no INIT_START, no Init Duration
    msgs2 = rec.messages(1)
    assert msgs2[0] == f"START RequestId: {inv2.request_id} Version: $LATEST\n"
    assert "Init Duration" not in msgs2[-1]
    assert msgs2[-1].endswith("MB\t\n")
    # metering
    assert [o for _, _, o in rec.meters] == ["success", "success"]
    assert rec.meters[0][0] is r


def test_handler_exception_shape(run, make_engine, rec, code):
    d = code(
        """
        def inner():
            raise Exception("Handler fails")

        def handler(event, context):
            inner()
        """
    )
    spec = make_spec(d)

    async def main():
        eng = make_engine()
        try:
            inv = make_inv(spec)
            return inv, await eng.invoke(spec, inv)
        finally:
            await eng.shutdown()

    inv, r = run(main())
    assert r.function_error == "Unhandled"
    assert r.error_type == "Exception"
    body = json.loads(r.payload)
    assert list(body) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert body["errorMessage"] == "Handler fails"
    assert body["errorType"] == "Exception"
    assert body["requestId"] == inv.request_id
    st = body["stackTrace"]
    assert len(st) == 2  # no runtime frames
    assert st[0] == f'  File "{d}/app.py", line 6, in handler\n    inner()\n'
    assert st[1] == f'  File "{d}/app.py", line 3, in inner\n    raise Exception("Handler fails")\n'
    msgs = rec.messages()
    err = [m for m in msgs if m.startswith("[ERROR]")]
    assert err == [
        "[ERROR] Exception: Handler fails\rTraceback (most recent call last):\r"
        f'\u00a0\u00a0File "{d}/app.py", line 6, in handler\r\u00a0\u00a0\u00a0\u00a0inner()\r'
        f'\u00a0\u00a0File "{d}/app.py", line 3, in inner\r'
        '\u00a0\u00a0\u00a0\u00a0raise Exception("Handler fails")\n'
    ]
    assert "Status:" not in msgs[-1]
    assert rec.meters[-1][2] == "error"


def _invoke_twice(run, make_engine, spec):
    async def main():
        eng = make_engine()
        try:
            r1 = await eng.invoke(spec, make_inv(spec))
            r2 = await eng.invoke(spec, make_inv(spec))
            return r1, r2
        finally:
            await eng.shutdown()

    return run(main())


@pytest.mark.parametrize(
    "source,handler,etype,message",
    [
        ("x = 1\n", "nope.handler", "Runtime.ImportModuleError", "Unable to import module 'nope': No module named 'nope'"),
        ("x = 1\n", "app.handler", "Runtime.HandlerNotFound", "Handler 'handler' missing on module 'app'"),
        ("x = 1\n", "apphandler", "Runtime.MalformedHandlerName", "Bad handler 'apphandler': not enough values to unpack (expected 2, got 1)"),
        ("import missing_dep\n", "app.handler", "Runtime.ImportModuleError", "Unable to import module 'app': No module named 'missing_dep'"),
        ("def handler(:\n", "app.handler", "Runtime.UserCodeSyntaxError", None),
        ("raise RuntimeError('boom at init')\n", "app.handler", "RuntimeError", "boom at init"),
    ],
)
def test_init_errors(run, make_engine, rec, code, source, handler, etype, message):
    d = code(source)
    spec = make_spec(d, handler=handler)
    r1, r2 = _invoke_twice(run, make_engine, spec)
    for r in (r1, r2):
        assert r.function_error == "Unhandled"
        assert r.error_type == etype
        body = json.loads(r.payload)
        assert body["errorType"] == etype
        assert body["requestId"] == ""
        assert isinstance(body["stackTrace"], list)
        if message is not None:
            assert body["errorMessage"] == message
        assert r.cold is True  # the environment was discarded
    assert r1.log_stream != r2.log_stream
    if etype == "Runtime.UserCodeSyntaxError":
        assert body["errorMessage"].startswith("Syntax error in module 'app': ")
    if etype == "RuntimeError":
        assert body["stackTrace"] and "boom at init" in body["stackTrace"][-1]
    msgs = rec.messages(0)
    assert msgs[0].startswith("INIT_START ")
    assert any(m.startswith("[WARNING]") and "LAMBDA_WARNING: Unhandled exception." in m for m in msgs)
    assert any(m.startswith(f"[ERROR] {etype}") for m in msgs)
    init_report = [m for m in msgs if m.startswith("INIT_REPORT")]
    assert len(init_report) == 1
    assert re.fullmatch(
        rf"INIT_REPORT Init Duration: \d+\.\d\d ms\tPhase: invoke\tStatus: error\tError Type: {re.escape(etype)}\n",
        init_report[0],
    )
    assert msgs[-1].endswith(f"\tStatus: error\tError Type: {etype}\n")
    assert f"[ERROR] {etype}" in r1.log_tail
    assert rec.meters[0][2] == "error"


def test_marshal_error(run, make_engine, rec, code):
    d = code("def handler(event, context):\n    return {1, 2}\n")
    r, r2 = _invoke_twice(run, make_engine, make_spec(d))
    assert r.error_type == "Runtime.MarshalError"
    body = json.loads(r.payload)
    assert body["errorMessage"] == "Unable to marshal response: Object of type set is not JSON serializable"
    assert body["stackTrace"] == []
    assert (
        "[ERROR] Runtime.MarshalError: Unable to marshal response: Object of type set is not JSON serializable\r"
        "Traceback (most recent call last):\n"
    ) in rec.messages(0)
    assert r2.cold is False  # the environment survives a marshal error


def test_unmarshal_error(run, make_engine, rec, code):
    d = code("def handler(event, context):\n    return event\n")
    spec = make_spec(d)

    async def main():
        eng = make_engine()
        try:
            return await eng.invoke(spec, make_inv(spec, b"{not json"))
        finally:
            await eng.shutdown()

    r = run(main())
    assert r.error_type == "Runtime.UnmarshalError"
    assert json.loads(r.payload)["errorMessage"].startswith("Unable to unmarshal input: Expecting property name")


def test_result_encodings(run, make_engine, rec, code):
    d = code(
        """
        from decimal import Decimal
        def handler(event, context):
            kind = event["kind"]
            if kind == "bytes":
                return b"\\x00raw bytes"
            if kind == "decimal":
                return {"d": Decimal("1.10"), "i": Decimal("12345678901234567890"), "s": "\\u00e9"}
            if kind == "none":
                return None
            if kind == "str":
                return "text"
        """
    )
    spec = make_spec(d)

    async def main():
        eng = make_engine()
        try:
            out = {}
            for k in ("bytes", "decimal", "none", "str"):
                out[k] = await eng.invoke(spec, make_inv(spec, json.dumps({"kind": k}).encode()))
            return out
        finally:
            await eng.shutdown()

    out = run(main())
    assert out["bytes"].payload == b"\x00raw bytes"
    assert out["decimal"].payload == '{"d": 1.10, "i": 12345678901234567890, "s": "é"}'.encode()  # 3.12+: no escapes
    assert out["none"].payload == b"null"
    assert out["str"].payload == b'"text"'


def test_response_too_large(run, make_engine, rec, code):
    d = code("def handler(event, context):\n    return b'x' * (6 * 1024 * 1024 + 101)\n")
    r, r2 = _invoke_twice(run, make_engine, make_spec(d))
    assert r.function_error == "Unhandled"
    assert r.error_type == "Function.ResponseSizeTooLarge"
    assert json.loads(r.payload) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }
    assert r2.cold is False


def test_large_payload_and_output(run, make_engine, rec, code):
    d = code(
        """
        def handler(event, context):
            for i in range(2000):
                print("line %d %s" % (i, "y" * 100))
            return {"n": len(event["blob"])}
        """
    )
    spec = make_spec(d)
    blob = "z" * (5 * 1024 * 1024)

    async def main():
        eng = make_engine()
        try:
            return await eng.invoke(spec, make_inv(spec, json.dumps({"blob": blob}).encode()))
        finally:
            await eng.shutdown()

    r = run(main())
    assert json.loads(r.payload) == {"n": len(blob)}
    msgs = rec.messages()
    lines = [m for m in msgs if m.startswith("line ")]
    assert len(lines) == 2000
    assert lines[0] == "line 0 " + "y" * 100 + "\n"
    assert msgs[-2].startswith("END RequestId")


def test_python_runtime_name_is_reported(run, make_engine, rec, code, caplog):
    d = code("def handler(event, context):\n    return 1\n")
    spec = make_spec(d, runtime="python3.9")

    async def main():
        eng = make_engine()
        try:
            return eng, await eng.invoke(spec, make_inv(spec))
        finally:
            await eng.shutdown()

    import sys

    with caplog.at_level("INFO", logger="nubis.engine"):
        eng, r = run(main())
    v = sys.version_info
    assert eng.runtime_version == f"python:{v.major}.{v.minor}.v{v.micro}"
    assert f"INIT_START Runtime Version: python:{v.major}.{v.minor}.v{v.micro}\t" in rec.messages()[0]
    rec_ = [x for x in caplog.records if "python3.9 is served by Python" in x.getMessage()]
    assert len(rec_) == 1 and rec_[0].levelname == "WARNING"


def test_unsupported_runtime_raises(run, make_engine, code):
    d = code("def handler(event, context):\n    return 1\n")
    spec = make_spec(d, runtime="java21")

    async def main():
        eng = make_engine()
        try:
            with pytest.raises(ValueError):
                await eng.invoke(spec, make_inv(spec))
            assert eng.in_flight(spec.scope) == 0
        finally:
            await eng.shutdown()

    run(main())
