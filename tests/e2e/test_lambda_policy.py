"""Resource policies and configuration-only settings, with AWS's documents and errors."""
import json

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function

CODE = "def handler(event, context):\n    return 1\n"


def test_add_get_remove_permission(lam):
    name = create_function(lam, CODE)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    with pytest.raises(ClientError) as exc:
        lam.get_policy(FunctionName=name)
    assert exc.value.response["Error"]["Message"] == "The resource you requested does not exist."
    resp = lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                              Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert json.loads(resp["Statement"]) == {
        "Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": arn,
        "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}}}
    lam.add_permission(FunctionName=name, StatementId="url", Action="lambda:InvokeFunctionUrl", Principal="*",
                       FunctionUrlAuthType="NONE")
    policy = json.loads(lam.get_policy(FunctionName=name)["Policy"])
    assert policy["Version"] == "2012-10-17" and policy["Id"] == "default"
    assert [s["Sid"] for s in policy["Statement"]] == ["s3", "url"]
    with pytest.raises(ClientError) as exc:
        lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert exc.value.response["Error"]["Message"] == (
        "The statement id (s3) provided already exists. Please provide a new statement id, or remove the existing "
        "statement.")
    lam.remove_permission(FunctionName=name, StatementId="s3")
    assert [s["Sid"] for s in json.loads(lam.get_policy(FunctionName=name)["Policy"])["Statement"]] == ["url"]
    with pytest.raises(ClientError) as exc:
        lam.remove_permission(FunctionName=name, StatementId="s3")
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_permission_errors(lam):
    name = create_function(lam, CODE)
    with pytest.raises(ClientError) as exc:
        lam.add_permission(FunctionName=name, StatementId="x", Action="lambda:InvokeFunction", Principal="not-a-principal")
    assert exc.value.response["Error"]["Message"] == (
        "The provided principal was invalid. Please check the principal and try again.")
    with pytest.raises(ClientError) as exc:
        lam.add_permission(FunctionName=name, StatementId="x", Action="lambda:InvokeFunction",
                           Principal="123456789012", Qualifier="$LATEST")
    assert exc.value.response["Error"]["Message"] == "We currently do not support adding policies for $LATEST."
    with pytest.raises(ClientError) as exc:
        lam.remove_permission(FunctionName=name, StatementId="x")
    assert exc.value.response["Error"]["Message"] == "No policy is associated with the given resource."


def test_recursion_and_runtime_management_config(lam):
    name = create_function(lam, CODE)
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"
    assert lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")["RecursiveLoop"] == "Allow"
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Allow"
    cfg = lam.get_runtime_management_config(FunctionName=name)
    assert cfg["UpdateRuntimeOn"] == "Auto" and cfg["FunctionArn"].endswith(":$LATEST")
    lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="FunctionUpdate")
    assert lam.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == "FunctionUpdate"
    with pytest.raises(ClientError):
        lam.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="Manual")


PID_CODE = "import uuid\n\nTOKEN = uuid.uuid4().hex  # one per environment\n\ndef handler(event, context):\n    return TOKEN\n"


def _invoke_tail(lam, name: str, **kw) -> tuple[dict, str]:
    import base64
    resp = lam.invoke(FunctionName=name, LogType="Tail", **kw)
    return json.loads(resp["Payload"].read()), base64.b64decode(resp["LogResult"]).decode()


def test_policy_change_bumps_revision_but_keeps_warm_environment(lam):
    name = create_function(lam, PID_CODE)
    pid, log = _invoke_tail(lam, name)
    assert "Init Duration" in log  # the first invocation is a cold start
    rev0 = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    lam.add_permission(FunctionName=name, StatementId="s1", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com")
    rev1 = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    assert rev1 != rev0
    assert lam.get_policy(FunctionName=name)["RevisionId"] == rev1
    again, log = _invoke_tail(lam, name)
    assert "Init Duration" not in log and again == pid  # same warm environment
    with pytest.raises(ClientError) as exc:  # the old RevisionId no longer matches
        lam.remove_permission(FunctionName=name, StatementId="s1", RevisionId=rev0)
    assert exc.value.response["Error"]["Code"] == "PreconditionFailedException"
    lam.remove_permission(FunctionName=name, StatementId="s1", RevisionId=rev1)
    rev2 = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    assert rev2 not in (rev0, rev1)
    again, log = _invoke_tail(lam, name)
    assert "Init Duration" not in log and again == pid
    # A real configuration change still starts a new environment.
    lam.update_function_configuration(FunctionName=name, MemorySize=256)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    fresh, log = _invoke_tail(lam, name)
    assert "Init Duration" in log and fresh != pid


def test_policy_on_version_and_alias_bumps_their_revision(lam):
    name = create_function(lam, PID_CODE)
    version = lam.publish_version(FunctionName=name)
    alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version["Version"])
    latest = lam.get_function(FunctionName=name)["Configuration"]["RevisionId"]
    pid, _ = _invoke_tail(lam, name, Qualifier="1")
    lam.add_permission(FunctionName=name, Qualifier="1", StatementId="v", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", RevisionId=version["RevisionId"])
    v_rev = lam.get_function(FunctionName=name, Qualifier="1")["Configuration"]["RevisionId"]
    assert v_rev != version["RevisionId"]
    assert lam.get_policy(FunctionName=name, Qualifier="1")["RevisionId"] == v_rev
    assert lam.get_function(FunctionName=name)["Configuration"]["RevisionId"] == latest  # $LATEST untouched
    again, log = _invoke_tail(lam, name, Qualifier="1")
    assert "Init Duration" not in log and again == pid
    lam.add_permission(FunctionName=name, Qualifier="live", StatementId="a", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com")
    a_rev = lam.get_alias(FunctionName=name, Name="live")["RevisionId"]
    assert a_rev != alias["RevisionId"]
    assert lam.get_policy(FunctionName=name, Qualifier="live")["RevisionId"] == a_rev
    with pytest.raises(ClientError) as exc:
        lam.add_permission(FunctionName=name, Qualifier="live", StatementId="b", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com", RevisionId=alias["RevisionId"])
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
