"""Every runtime through a real server and boto3: provided (the AWS tutorial's bash bootstrap,
awslambdaric), Node.js (CommonJS, ES module, callback, errors), logs tail."""
import base64
import json
import shutil
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")

# The AWS tutorial "Building a custom runtime" bootstrap, verbatim (#!/bin/sh, `source`).
TUTORIAL_BOOTSTRAP = (Path(__file__).resolve().parents[1] / "fixtures" / "aws-tutorial" / "bootstrap").read_text()

TUTORIAL_FUNCTION = """function handler () {
  EVENT_DATA=$1

  RESPONSE="{\\"statusCode\\": 200, \\"body\\": \\"Hello from Lambda!\\"}"
  echo $RESPONSE
}
"""


def payload(resp) -> object:
    return json.loads(resp["Payload"].read())


def tail(resp) -> str:
    return base64.b64decode(resp["LogResult"]).decode()


def test_aws_tutorial_custom_runtime(lam):
    name = create_function(lam, {"bootstrap": TUTORIAL_BOOTSTRAP, "function.sh": TUTORIAL_FUNCTION},
                           Runtime="provided.al2023", handler="function.handler")
    cfg = lam.get_function_configuration(FunctionName=name)
    assert cfg["Runtime"] == "provided.al2023" and cfg["Handler"] == "function.handler"
    resp = lam.invoke(FunctionName=name, Payload=b'{"text": "Hello"}', LogType="Tail")
    assert resp["StatusCode"] == 200 and "FunctionError" not in resp
    assert payload(resp) == {"statusCode": 200, "body": "Hello from Lambda!"}
    rid = resp["ResponseMetadata"]["RequestId"]
    log = tail(resp)
    assert log.startswith(f"START RequestId: {rid} Version: $LATEST\n")
    assert '{"status":"OK"}\n' in log
    assert f"\nEND RequestId: {rid}\n" in log
    assert "\tInit Duration: " in log.splitlines()[-1]
    warm = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert payload(warm)["statusCode"] == 200 and "Init Duration" not in tail(warm)


def test_awslambdaric_in_a_provided_runtime(lam):
    pytest.importorskip("awslambdaric")
    app = ("import os\n"
           "def handler(event, context):\n"
           "    if event.get('fail'):\n"
           "        raise KeyError('missing')\n"
           "    return {'event': event, 'rid': context.aws_request_id, 'fn': context.function_name,\n"
           "            'mem': context.memory_limit_in_mb, 'exec_env': os.environ.get('AWS_EXECUTION_ENV')}\n")
    name = create_function(lam, {"bootstrap": f'#!/bin/sh\nexec {sys.executable} -m awslambdaric "$_HANDLER"\n',
                                 "app.py": app},
                           Runtime="provided.al2", handler="app.handler", MemorySize=256)
    resp = lam.invoke(FunctionName=name, Payload=b'{"k": "v"}')
    out = payload(resp)
    assert out == {"event": {"k": "v"}, "rid": resp["ResponseMetadata"]["RequestId"], "fn": name, "mem": "256",
                   "exec_env": None}
    err = lam.invoke(FunctionName=name, Payload=b'{"fail": 1}')
    assert err["FunctionError"] == "Unhandled"
    body = payload(err)
    assert body["errorType"] == "KeyError" and body["errorMessage"] == "'missing'"


def test_provided_without_bootstrap(lam):
    name = create_function(lam, {"function.sh": TUTORIAL_FUNCTION}, Runtime="provided.al2023",
                           handler="function.handler")
    resp = lam.invoke(FunctionName=name)
    assert resp["FunctionError"] == "Unhandled"
    err = payload(resp)
    assert err["errorType"] == "Runtime.InvalidEntrypoint"
    assert err["errorMessage"].startswith(f"RequestId: {resp['ResponseMetadata']['RequestId']} Error: "
                                          "Couldn't find valid bootstrap(s): [")


@needs_node
def test_node_commonjs(lam):
    code = ("exports.handler = async (event, context) => {\n"
            "  console.log('got', JSON.stringify(event));\n"
            "  return { event, rid: context.awsRequestId, fn: context.functionName, mem: context.memoryLimitInMB,\n"
            "           arn: context.invokedFunctionArn, left: context.getRemainingTimeInMillis(),\n"
            "           env: process.env.AWS_EXECUTION_ENV, endpoint: process.env.AWS_ENDPOINT_URL };\n"
            "};\n")
    name = create_function(lam, {"index.js": code}, Runtime="nodejs20.x", handler="index.handler", Timeout=5)
    resp = lam.invoke(FunctionName=name, Payload=b'{"n": 1}', LogType="Tail")
    rid = resp["ResponseMetadata"]["RequestId"]
    out = payload(resp)
    assert out["event"] == {"n": 1} and out["rid"] == rid and out["fn"] == name and out["mem"] == "128"
    assert out["arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert 0 < out["left"] <= 5000
    assert out["env"] == "AWS_Lambda_nodejs20.x" and out["endpoint"].startswith("http://127.0.0.1:")
    log = tail(resp)
    lines = log.splitlines()
    assert lines[0] == f"START RequestId: {rid} Version: $LATEST"
    assert lines[1].endswith(f"\t{rid}\tINFO\tgot {{\"n\":1}}")
    assert lines[-2] == f"END RequestId: {rid}"
    assert lines[-1].startswith(f"REPORT RequestId: {rid}\tDuration: ") and "\tInit Duration: " in lines[-1]


@needs_node
def test_node_esm_and_callback(lam):
    esm = create_function(lam, {"index.mjs": "export const handler = async (event) => ({ esm: true, event });\n"},
                          Runtime="nodejs22.x", handler="index.handler")
    assert payload(lam.invoke(FunctionName=esm, Payload=b'{"a": 1}')) == {"esm": True, "event": {"a": 1}}
    cb = ("exports.handler = function (event, context, callback) {\n"
          "  setTimeout(() => callback(null, { callback: true, waits: context.callbackWaitsForEmptyEventLoop }), 10);\n"
          "};\n")
    name = create_function(lam, {"src/app.js": cb}, Runtime="nodejs18.x", handler="src/app.handler")
    assert payload(lam.invoke(FunctionName=name)) == {"callback": True, "waits": True}


@needs_node
def test_node_error_is_unhandled(lam):
    name = create_function(lam, {"index.js": "exports.handler = async () => { throw new Error('Handler fails'); };\n"},
                           Runtime="nodejs20.x", handler="index.handler")
    resp = lam.invoke(FunctionName=name, LogType="Tail")
    assert resp["StatusCode"] == 200 and resp["FunctionError"] == "Unhandled"
    err = payload(resp)
    assert err["errorType"] == "Error" and err["errorMessage"] == "Handler fails"
    assert err["trace"][0] == "Error: Handler fails"
    assert "\tERROR\tInvoke Error \t" in tail(resp)
    missing = create_function(lam, {"index.js": "exports.other = 1;\n"}, Runtime="nodejs20.x",
                              handler="index.handler")
    err = payload(lam.invoke(FunctionName=missing))
    assert err["errorType"] == "Runtime.HandlerNotFound"
    assert err["errorMessage"] == "index.handler is undefined or not exported"


def test_unknown_runtime_is_still_refused(lam):
    with pytest.raises(ClientError) as e:
        create_function(lam, {"index.rb": "x"}, Runtime="ruby3.3", handler="index.handler")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
