"""Provisioned concurrency: configurations on versions and aliases, environments initialised ahead of
invocations (no Init Duration, AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency), AWS's errors and
limits, and persistence across a server restart."""
from __future__ import annotations

import base64
import time

import pytest
from botocore.exceptions import ClientError

from nubis_testing import create_function, error_of, invoke_tail, report_line, start_server, stop_server, unique

DEADLINE_S = 60  # generous for a loaded machine; polls return as soon as the condition holds

CODE = """
import os, uuid
TOKEN = uuid.uuid4().hex  # one per environment
def handler(event, context):
    return {"init": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"), "token": TOKEN}
"""
FAILING_INIT = "raise RuntimeError('init fails')\ndef handler(event, context):\n    return 1\n"


def wait_status(lam, name: str, qualifier: str, want: str = "READY") -> dict:
    """Poll GetProvisionedConcurrencyConfig (no waiter) until Status leaves IN_PROGRESS."""
    deadline = time.time() + DEADLINE_S
    while True:
        cfg = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if cfg["Status"] != "IN_PROGRESS" or time.time() > deadline:
            assert cfg["Status"] == want, cfg
            return cfg
        time.sleep(0.1)


def test_provisioned_version_lifecycle(lam):
    name = create_function(lam, CODE)
    version = lam.publish_version(FunctionName=name)["Version"]
    warm, _ = invoke_tail(lam, name, version)  # leaves a warm on-demand environment of the version
    assert warm["init"] == "on-demand"
    resp = lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version,
                                                  ProvisionedConcurrentExecutions=2)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert resp["Status"] == "IN_PROGRESS" and resp["RequestedProvisionedConcurrentExecutions"] == 2
    assert resp["AvailableProvisionedConcurrentExecutions"] == 0 == resp["AllocatedProvisionedConcurrentExecutions"]
    assert resp["LastModified"]
    cfg = wait_status(lam, name, version)
    assert cfg["AvailableProvisionedConcurrentExecutions"] == 2 == cfg["AllocatedProvisionedConcurrentExecutions"]
    assert cfg["LastModified"] == resp["LastModified"] and "StatusReason" not in cfg

    # Invocations land on the provisioned environments (before the warm on-demand one): initialised ahead,
    # so no Init Duration.
    tokens = set()
    for _ in range(3):
        out, log = invoke_tail(lam, name, version)
        assert out["init"] == "provisioned-concurrency"
        assert "Init Duration" not in report_line(log)
        tokens.add(out["token"])
    assert len(tokens) == 1  # sequential invocations reuse one of them
    # $LATEST is not provisioned: its first invocation is an on-demand cold start.
    latest, log = invoke_tail(lam, name, "$LATEST")
    assert latest["init"] == "on-demand" and "Init Duration" in report_line(log)

    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert [c["FunctionArn"].rsplit(":", 1)[1] for c in listed] == [version]
    assert listed[0]["Status"] == "READY" and listed[0]["RequestedProvisionedConcurrentExecutions"] == 2

    # Lowering the count keeps the environments that remain.
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    assert wait_status(lam, name, version)["AvailableProvisionedConcurrentExecutions"] == 1

    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    with pytest.raises(ClientError) as exc:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    assert error_of(exc) == (404, "ProvisionedConcurrencyConfigNotFoundException",
                             "No Provisioned Concurrency Config found for this function")
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier=version)  # idempotent
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []


def test_provisioned_alias_and_conflicts(lam):
    name = create_function(lam, CODE)
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_configuration(FunctionName=name, Description="second")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    lam.update_function_configuration(FunctionName=name, MemorySize=160)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    v2 = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v1)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    assert wait_status(lam, name, "live")["AvailableProvisionedConcurrentExecutions"] == 1
    out, log = invoke_tail(lam, name, "live")
    assert out["init"] == "provisioned-concurrency" and "Init Duration" not in report_line(log)

    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=v1, ProvisionedConcurrentExecutions=1)
    assert error_of(exc) == (409, "ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias")
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=v2, ProvisionedConcurrentExecutions=1)
    lam.create_alias(FunctionName=name, Name="next", FunctionVersion=v2)
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="next", ProvisionedConcurrentExecutions=1)
    assert error_of(exc) == (409, "ResourceConflictException",
                             "Alias can't be used for Provisioned Concurrency configuration on an already "
                             "Provisioned version")
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"]
    assert sorted(c["FunctionArn"].rsplit(":", 1)[1] for c in listed) == sorted([v2, "live"])

    # Deleting the alias or the version removes its configuration.
    lam.delete_alias(FunctionName=name, Name="next")
    lam.delete_alias(FunctionName=name, Name="live")
    lam.delete_function(FunctionName=name, Qualifier=v2)
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []


def test_provisioned_follows_alias_to_new_version(lam):
    name = create_function(lam, CODE)
    v1 = lam.publish_version(FunctionName=name)["Version"]
    lam.update_function_configuration(FunctionName=name, MemorySize=192)
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    v2 = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v1)
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=1)
    wait_status(lam, name, "live")
    lam.update_alias(FunctionName=name, Name="live", FunctionVersion=v2)
    wait_status(lam, name, "live")
    resp = lam.invoke(FunctionName=name, Qualifier="live", LogType="Tail")
    assert resp["ExecutedVersion"] == v2
    assert "Init Duration" not in report_line(base64.b64decode(resp["LogResult"]).decode())
    # v1's environment went back to on-demand keep-alive; v1 itself is no longer provisioned.
    lam.delete_alias(FunctionName=name, Name="live")


def test_provisioned_init_failure(lam):
    name = create_function(lam, FAILING_INIT)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1)
    cfg = wait_status(lam, name, version, want="FAILED")
    assert cfg["StatusReason"] == "FUNCTION_ERROR_INIT_FAILURE"
    assert cfg["AvailableProvisionedConcurrentExecutions"] == 0


def test_provisioned_errors(lam, server):
    name = create_function(lam, CODE)
    version = lam.publish_version(FunctionName=name)["Version"]
    region, account = "us-east-1", lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"].split(":")[4]
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"

    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1)
    assert error_of(exc) == (400, "InvalidParameterValueException",
                             "Provisioned Concurrency Configs cannot be applied to unpublished function versions.")
    with pytest.raises(ClientError) as exc:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="$LATEST")
    assert error_of(exc) == (400, "InvalidParameterValueException",
                             "The function resource provided must be an alias or a published version.")
    lam.create_alias(FunctionName=name, Name="head", FunctionVersion="$LATEST")
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="head", ProvisionedConcurrentExecutions=1)
    assert error_of(exc)[1] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as exc:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=version)
    assert error_of(exc)[:2] == (404, "ProvisionedConcurrencyConfigNotFoundException")
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier="9", ProvisionedConcurrentExecutions=1)
    assert error_of(exc) == (404, "ResourceNotFoundException", f"Function not found: {arn}:9")
    with pytest.raises(ClientError) as exc:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="nosuch")
    assert error_of(exc) == (404, "ResourceNotFoundException", f"Cannot find alias arn: {arn}:nosuch")
    with pytest.raises(ClientError) as exc:
        lam.list_provisioned_concurrency_configs(FunctionName=unique("missing"))
    assert error_of(exc)[:2] == (404, "ResourceNotFoundException")
    unchecked = server.client("lambda", parameter_validation=False)  # the server validates too
    with pytest.raises(ClientError) as exc:
        unchecked.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version,
                                                     ProvisionedConcurrentExecutions=0)
    assert error_of(exc)[:2] == (400, "ValidationException")

    # Limits: the function's reservation, the account, the unreserved minimum of 100.
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version,
                                               ProvisionedConcurrentExecutions=5000)
    assert error_of(exc) == (400, "InvalidParameterValueException",
                             "Specified ConcurrentExecutions for function is greater than account's unreserved "
                             "concurrency [1000].")
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version,
                                               ProvisionedConcurrentExecutions=950)
    assert error_of(exc) == (400, "InvalidParameterValueException",
                             "Specified ConcurrentExecutions for function decreases account's "
                             "UnreservedConcurrentExecution below its minimum value of [100].")
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    with pytest.raises(ClientError) as exc:
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version,
                                               ProvisionedConcurrentExecutions=2)
    assert error_of(exc) == (400, "InvalidParameterValueException",
                             "Requested Provisioned Concurrency should not be greater than the "
                             "reservedConcurrentExecution for function")
    lam.delete_function_concurrency(FunctionName=name)
    lam.delete_function(FunctionName=name)


def test_provisioned_claims_unreserved_account_concurrency(lam):
    name = create_function(lam, CODE)
    version = lam.publish_version(FunctionName=name)["Version"]
    before = lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"]
    lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=3)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == before - 3
    # With a reservation the provisioned environments come out of it, not out of the unreserved pool.
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=5)
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == before - 5
    concurrency = lam.get_function_concurrency(FunctionName=name)
    concurrency.pop("ResponseMetadata")
    assert concurrency == {"ReservedConcurrentExecutions": 5}  # provisioned concurrency is not part of it
    lam.delete_function_concurrency(FunctionName=name)
    lam.delete_function(FunctionName=name)  # removes its configuration too
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == before


def test_provisioned_survives_restart(tmp_path):
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        name = create_function(lam, CODE)
        version = lam.publish_version(FunctionName=name)["Version"]
        lam.put_provisioned_concurrency_config(FunctionName=name, Qualifier=version,
                                               ProvisionedConcurrentExecutions=1)
        wait_status(lam, name, version)
    finally:
        stop_server(srv)
    srv = start_server(data)
    try:
        lam = srv.client("lambda")
        cfg = wait_status(lam, name, version)  # provisioned again on start
        assert cfg["RequestedProvisionedConcurrentExecutions"] == 1
        out, log = invoke_tail(lam, name, version)
        assert out["init"] == "provisioned-concurrency" and "Init Duration" not in report_line(log)
    finally:
        stop_server(srv)


def test_provisioned_with_aws_cli(server, lam, tmp_path):
    from test_aws_cli import AwsCli

    name = create_function(lam, CODE)
    version = lam.publish_version(FunctionName=name)["Version"]
    account = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"].split(":")[4]
    aws = AwsCli(server.endpoint, tmp_path, account="test")
    put = aws("lambda", "put-provisioned-concurrency-config", "--function-name", name, "--qualifier", version,
              "--provisioned-concurrent-executions", "1")
    assert put["Status"] == "IN_PROGRESS" and put["RequestedProvisionedConcurrentExecutions"] == 1
    wait_status(lam, name, version)
    listed = aws("lambda", "list-provisioned-concurrency-configs", "--function-name", name)
    assert listed["ProvisionedConcurrencyConfigs"][0]["FunctionArn"] == (
        f"arn:aws:lambda:us-east-1:{account}:function:{name}:{version}")
    proc = aws.run("lambda", "get-provisioned-concurrency-config", "--function-name", name, "--qualifier", "$LATEST")
    assert proc.returncode != 0 and "InvalidParameterValueException" in proc.stderr
