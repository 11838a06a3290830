"""Layers: publish, list, get (by name and ARN), permissions, delete, and functions that use them."""
import base64
import json
import sys
import urllib.request

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function, make_zip, unique

LIB = {"python/greeting.py": "def greet(name):\n    return 'hello ' + name\n"}


def publish(lam, name: str, files=LIB, **kwargs) -> dict:
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": make_zip(files)}, **kwargs)


def test_layer_lifecycle(lam, server):
    name = unique("layer")
    v1 = publish(lam, name, Description="first", CompatibleRuntimes=["python3.12"])
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v1["Version"] == 1 and v1["LayerArn"].endswith(f":layer:{name}")
    assert v1["LayerVersionArn"] == v1["LayerArn"] + ":1" and v1["CompatibleRuntimes"] == ["python3.12"]
    with urllib.request.urlopen(v1["Content"]["Location"]) as resp:
        assert resp.read()[:2] == b"PK"
    v2 = publish(lam, name)
    assert v2["Version"] == 2
    got = lam.get_layer_version_by_arn(Arn=v1["LayerVersionArn"])
    assert got["Description"] == "first"
    assert lam.get_layer_version(LayerName=name, VersionNumber=2)["Version"] == 2
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=name)["LayerVersions"]] == [2, 1]
    layers = {l["LayerName"]: l for l in lam.list_layers()["Layers"]}
    assert layers[name]["LatestMatchingVersion"]["Version"] == 2
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=name, CompatibleRuntime="python3.12")[
        "LayerVersions"]] == [1]

    perm = lam.add_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="all",
                                            Action="lambda:GetLayerVersion", Principal="*")
    assert json.loads(perm["Statement"])["Principal"] == "*"
    assert json.loads(lam.get_layer_version_policy(LayerName=name, VersionNumber=1)["Policy"])["Statement"][0][
        "Sid"] == "all"
    lam.remove_layer_version_permission(LayerName=name, VersionNumber=1, StatementId="all")

    lam.delete_layer_version(LayerName=name, VersionNumber=1)
    with pytest.raises(ClientError) as exc:
        lam.get_layer_version(LayerName=name, VersionNumber=1)
    assert exc.value.response["Error"]["Message"] == "The resource you requested does not exist."
    assert publish(lam, name)["Version"] == 3  # never reused


def test_function_with_layers(lam):
    name = unique("layer")
    arn = publish(lam, name)["LayerVersionArn"]
    fn = create_function(lam, "def handler(event, context):\n    return 1\n", Layers=[arn])
    cfg = lam.get_function_configuration(FunctionName=fn)
    assert cfg["Layers"] == [{"Arn": arn, "CodeSize": cfg["Layers"][0]["CodeSize"]}]
    assert not any(k.startswith("_") for k in cfg)
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=fn, Layers=[arn + "0"])
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as exc:
        create_function(lam, "x = 1\n", Layers=[arn] * 6)
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"


USES_LAYER = """import os, sys
import greeting
import extra

def handler(event, context):
    return {'greeting': greeting.greet('nubis'), 'extra': extra.VALUE, 'file': greeting.__file__,
            'path': sys.path[:3], 'task_root': os.environ['LAMBDA_TASK_ROOT'],
            'opt': sorted(os.listdir('/opt')) if os.path.isdir('/opt') else None}
"""


def _site(version: tuple[int, int]) -> str:
    return f"python/lib/python{version[0]}.{version[1]}/site-packages"


def test_layers_are_importable_and_a_later_layer_wins(lam, server):
    with urllib.request.urlopen(server.endpoint + "/_nubis/health") as resp:
        health = json.loads(resp.read())
    site = _site(sys.version_info[:2])  # the server runs Python functions on this interpreter
    first = publish(lam, unique("layer"), {"python/greeting.py": "def greet(n):\n    return 'hello ' + n\n",
                                           f"{site}/extra.py": "VALUE = 'from site-packages'\n"})
    second = publish(lam, unique("layer"), {"python/greeting.py": "def greet(n):\n    return 'hi ' + n\n"})
    fn = create_function(lam, USES_LAYER, Layers=[first["LayerVersionArn"]])

    got = json.loads(lam.invoke(FunctionName=fn)["Payload"].read())
    assert got["greeting"] == "hello nubis" and got["extra"] == "from site-packages", got
    opt = "/opt" if "namespaces" in health["isolation"]["enforced"] else got["path"][2].rsplit("/python", 1)[0]
    # As on Lambda: the task root, then the layers' site-packages, then /opt/python.
    assert got["path"] == [got["task_root"], f"{opt}/{site}", f"{opt}/python"], got
    if opt == "/opt":
        assert got["file"].startswith("/opt/python/") and got["opt"] == ["python"]

    # A later layer overrides an earlier one's file; the function picks it up on its next cold start.
    lam.update_function_configuration(FunctionName=fn, Layers=[first["LayerVersionArn"], second["LayerVersionArn"]])
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    got = json.loads(lam.invoke(FunctionName=fn)["Payload"].read())
    assert got["greeting"] == "hi nubis" and got["extra"] == "from site-packages", got


PROVIDED_FROM_LAYER = """#!/bin/bash
set -euo pipefail
while true; do
  HEADERS="$(mktemp)"
  curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next" > /dev/null
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" \\
    -d "{\\"tool\\": \\"$(layer-tool)\\", \\"ld\\": \\"$LD_LIBRARY_PATH\\"}" > /dev/null
done
"""


def test_a_custom_runtime_from_a_layer(lam):
    layer = publish(lam, unique("layer"), {"bootstrap": PROVIDED_FROM_LAYER,
                                           "bin/layer-tool": "#!/bin/sh\necho tool-ok\n"})
    fn = create_function(lam, {"handler.sh": "# the runtime comes from the layer\n"}, Runtime="provided.al2023",
                         handler="handler.run", Layers=[layer["LayerVersionArn"]])
    resp = lam.invoke(FunctionName=fn, LogType="Tail")
    got = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, (got, base64.b64decode(resp["LogResult"]).decode())
    assert got["tool"] == "tool-ok" and got["ld"].endswith("/lib"), got


@pytest.mark.skipif(__import__("shutil").which("node") is None, reason="no node on PATH")
def test_node_modules_from_a_layer(lam):
    layer = publish(lam, unique("layer"), {"nodejs/node_modules/greeting/index.js":
                                           "exports.greet = (n) => 'hello ' + n;\n"})
    fn = create_function(lam, {"index.js": "const g = require('greeting');\n"
                                           "exports.handler = async () => ({greeting: g.greet('node'), "
                                           "file: require.resolve('greeting')});\n"},
                         Runtime="nodejs20.x", handler="index.handler", Layers=[layer["LayerVersionArn"]])
    resp = lam.invoke(FunctionName=fn)
    got = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, got
    assert got["greeting"] == "hello node" and got["file"].endswith("/nodejs/node_modules/greeting/index.js"), got
