"""Versions and aliases: immutable snapshots, qualified invokes, weighted routing, AWS's errors."""
import json
import time

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function, make_zip

CODE = "import os\ndef handler(event, context):\n    return {'v': '%s', 'version': context.function_version, 'arn': context.invoked_function_arn}\n"


def code(tag: str) -> bytes:
    return make_zip({"app.py": CODE % tag})


def update(lam, name: str, tag: str) -> None:
    lam.update_function_code(FunctionName=name, ZipFile=code(tag))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})


def invoke(lam, name: str, qualifier: str | None = None) -> tuple[dict, str]:
    kwargs = {"Qualifier": qualifier} if qualifier else {}
    resp = lam.invoke(FunctionName=name, **kwargs)
    return json.loads(resp["Payload"].read()), resp["ExecutedVersion"]


def test_publish_and_invoke_versions(lam):
    name = create_function(lam, CODE % "one")
    v1 = lam.publish_version(FunctionName=name, Description="first")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert v1["Version"] == "1" and v1["FunctionArn"].endswith(f":{name}:1") and v1["Description"] == "first"
    assert v1["State"] == "Active" and v1["LastUpdateStatus"] == "Successful"
    assert lam.publish_version(FunctionName=name)["Version"] == "1"  # unchanged: no new version
    update(lam, name, "two")
    assert lam.publish_version(FunctionName=name)["Version"] == "2"

    out, executed = invoke(lam, name, "1")
    assert (out["v"], out["version"], executed) == ("one", "1", "1")
    assert out["arn"].endswith(f":{name}:1")
    out, executed = invoke(lam, f"{name}:2")
    assert (out["v"], executed) == ("two", "2")
    update(lam, name, "three")
    assert invoke(lam, name)[0]["v"] == "three"
    assert invoke(lam, name, "1")[0]["v"] == "one"  # published code never changes

    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert versions[0]["FunctionArn"].endswith(":$LATEST")
    assert lam.get_function(FunctionName=name, Qualifier="1")["Configuration"]["Version"] == "1"
    # (all pages: the session's server holds the functions of every other test too)
    listed = [f for page in lam.get_paginator("list_functions").paginate(FunctionVersion="ALL")
              for f in page["Functions"]]
    assert {f["Version"] for f in listed if f["FunctionName"] == name} == {"$LATEST", "1", "2"}


def test_publish_preconditions(lam):
    name = create_function(lam, CODE % "x")
    with pytest.raises(ClientError) as exc:
        lam.publish_version(FunctionName=name, CodeSha256="nope")
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "is different from current CodeSHA256 in $LATEST" in exc.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as exc:
        lam.publish_version(FunctionName=name, RevisionId="nope")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412


def test_unknown_version_is_404(lam):
    name = create_function(lam, CODE % "x")
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Qualifier="7")
    assert exc.value.response["Error"]["Message"] == (
        f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}:7")


def test_aliases_and_weighted_routing(lam):
    name = create_function(lam, CODE % "one")
    lam.publish_version(FunctionName=name)
    update(lam, name, "two")
    lam.publish_version(FunctionName=name)
    alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1", Description="prod")
    assert alias["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert alias["AliasArn"].endswith(f":{name}:live") and alias["FunctionVersion"] == "1"
    out, executed = invoke(lam, name, "live")
    assert (out["v"], executed) == ("one", "1") and out["arn"].endswith(":live")

    lam.update_alias(FunctionName=name, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})
    seen = {invoke(lam, name, "live")[1] for _ in range(40)}
    assert seen == {"1", "2"}  # P(missing one) = 2 * 0.5**40
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RoutingConfig={})
    assert {invoke(lam, name, "live")[1] for _ in range(5)} == {"2"}

    assert [a["Name"] for a in lam.list_aliases(FunctionName=name)["Aliases"]] == ["live"]
    assert lam.list_aliases(FunctionName=name, FunctionVersion="1")["Aliases"] == []
    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName=name, Qualifier="2")
    assert exc.value.response["Error"]["Code"] == "ResourceConflictException"
    lam.delete_function(FunctionName=name, Qualifier="1")
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "2"]
    lam.delete_alias(FunctionName=name, Name="live")
    with pytest.raises(ClientError) as exc:
        lam.get_alias(FunctionName=name, Name="live")
    assert exc.value.response["Error"]["Message"] == (
        f"Cannot find alias arn: arn:aws:lambda:us-east-1:000000000000:function:{name}:live")


def test_alias_errors(lam):
    name = create_function(lam, CODE % "x")
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="a", FunctionVersion="1")
    with pytest.raises(ClientError) as exc:
        lam.create_alias(FunctionName=name, Name="a", FunctionVersion="1")
    assert exc.value.response["Error"]["Code"] == "ResourceConflictException"
    assert exc.value.response["Error"]["Message"].startswith("Alias already exists: ")
    with pytest.raises(ClientError) as exc:
        lam.create_alias(FunctionName=name, Name="b", FunctionVersion="9")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as exc:
        lam.create_alias(FunctionName=name, Name="c", FunctionVersion="$LATEST",
                         RoutingConfig={"AdditionalVersionWeights": {"1": 0.1}})
    assert exc.value.response["Error"]["Message"] == (
        "$LATEST is not supported for an alias pointing to more than 1 version")
    with pytest.raises(ClientError) as exc:
        lam.update_alias(FunctionName=name, Name="zzz", FunctionVersion="1")
    assert exc.value.response["Error"]["Message"].startswith("Alias not found: ")


def test_create_with_publish(lam):
    name = create_function(lam, CODE % "p", Publish=True)
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] == ["$LATEST", "1"]


def test_update_code_with_publish_answers_the_new_version(lam):
    name = create_function(lam, CODE % "a", Publish=True)
    out = lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": CODE % "b"}), Publish=True)
    assert out["Version"] == "2" and out["FunctionArn"].endswith(f":function:{name}")
    deadline = time.time() + 30
    while [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]] != ["$LATEST", "1", "2"]:
        assert time.time() < deadline, "version 2 was never published"
        time.sleep(0.1)
