"""Layers: publish, list, get (by name and ARN), permissions, delete, and functions that use them."""
import json
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
