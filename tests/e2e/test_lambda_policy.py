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
