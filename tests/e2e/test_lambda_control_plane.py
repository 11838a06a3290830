"""The Lambda control plane through boto3: lifecycle, waiters, pagination, tags, concurrency."""
import base64
import hashlib
import urllib.request

import pytest
from botocore.exceptions import ClientError

from nubis_testing import ROLE, create_function, make_zip, unique

CODE = "def handler(event, context):\n    return event\n"


def error(excinfo) -> tuple[int, str, str]:
    err = excinfo.value.response
    return (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"].get("Message", ""))


def test_create_returns_pending_then_active(lam):
    name = unique()
    zipped = make_zip({"app.py": CODE})
    resp = lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                               Code={"ZipFile": zipped}, MemorySize=256, Timeout=5, Description="d")
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert resp["State"] == "Pending" and resp["StateReasonCode"] == "Creating"
    assert "LastUpdateStatus" not in resp
    assert resp["CodeSha256"] == base64.b64encode(hashlib.sha256(zipped).digest()).decode()
    assert resp["CodeSize"] == len(zipped)
    assert resp["FunctionArn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert resp["MemorySize"] == 256 and resp["Timeout"] == 5 and resp["Version"] == "$LATEST"
    assert resp["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    cfg = lam.get_function_configuration(FunctionName=name)
    assert cfg["State"] == "Active" and cfg["LastUpdateStatus"] == "Successful"
    assert "StateReason" not in cfg
    assert cfg["RevisionId"] == resp["RevisionId"]


def test_get_function_code_location_downloads_the_zip(lam):
    files = {"app.py": CODE, "data/x.txt": "hello"}
    name = create_function(lam, files)
    resp = lam.get_function(FunctionName=name)
    assert resp["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(resp["Code"]["Location"]) as r:
        body = r.read()
    assert base64.b64encode(hashlib.sha256(body).digest()).decode() == resp["Configuration"]["CodeSha256"]
    assert "Tags" not in resp and "Concurrency" not in resp


def test_code_location_rejects_a_forged_signature(lam):
    name = create_function(lam, CODE)
    url = lam.get_function(FunctionName=name)["Code"]["Location"]
    forged = url.rsplit("Signature=", 1)[0] + "Signature=" + "0" * 64
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(forged)
    assert exc.value.code == 403


def test_function_arn_and_partial_arn_are_accepted(lam):
    name = create_function(lam, CODE)
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert lam.get_function(FunctionName=arn)["Configuration"]["FunctionName"] == name
    assert lam.get_function(FunctionName=f"000000000000:function:{name}")["Configuration"]["FunctionName"] == name
    assert lam.get_function(FunctionName=f"{name}:$LATEST")["Configuration"]["FunctionName"] == name


def test_update_code_and_configuration_with_waiters(lam):
    name = create_function(lam, CODE)
    before = lam.get_function_configuration(FunctionName=name)
    new_zip = make_zip({"app.py": "def handler(e, c):\n    return 'v2'\n"})
    resp = lam.update_function_code(FunctionName=name, ZipFile=new_zip)
    assert resp["LastUpdateStatus"] == "InProgress"
    assert resp["RevisionId"] != before["RevisionId"]
    assert resp["CodeSha256"] == base64.b64encode(hashlib.sha256(new_zip).digest()).decode()
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    assert lam.invoke(FunctionName=name)["Payload"].read() == b'"v2"'

    resp = lam.update_function_configuration(FunctionName=name, MemorySize=512, Timeout=10,
                                             Environment={"Variables": {"AA": "1"}})
    assert resp["LastUpdateStatus"] == "InProgress"
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    cfg = lam.get_function_configuration(FunctionName=name)
    assert (cfg["MemorySize"], cfg["Timeout"], cfg["Environment"]) == (512, 10, {"Variables": {"AA": "1"}})
    assert cfg["LastUpdateStatus"] == "Successful"
    lam.update_function_configuration(FunctionName=name, Environment={"Variables": {"BB": "2"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1})
    assert lam.get_function_configuration(FunctionName=name)["Environment"] == {"Variables": {"BB": "2"}}


def test_revision_id_precondition(lam):
    name = create_function(lam, CODE)
    with pytest.raises(ClientError) as exc:
        lam.update_function_configuration(FunctionName=name, Timeout=4, RevisionId="not-the-revision")
    assert error(exc)[:2] == (412, "PreconditionFailedException")


def test_list_functions_paginates(server):
    lam = server.client("lambda", account="111111111111")  # its own account: an exact count
    names = sorted(create_function(lam, CODE, wait=False) for _ in range(55))
    seen = []
    for page in lam.get_paginator("list_functions").paginate():
        assert len(page["Functions"]) <= 50
        seen += [f["FunctionName"] for f in page["Functions"]]
    assert seen == names
    first = lam.list_functions(MaxItems=10)
    assert len(first["Functions"]) == 10 and "NextMarker" in first
    assert "State" not in first["Functions"][0]


def test_accounts_are_kept_apart(server):
    a, b = server.client("lambda", account="222222222222"), server.client("lambda", account="333333333333")
    name = create_function(a, CODE)
    assert a.get_function(FunctionName=name)["Configuration"]["FunctionArn"].split(":")[4] == "222222222222"
    with pytest.raises(ClientError) as exc:
        b.get_function(FunctionName=name)
    assert error(exc)[:2] == (404, "ResourceNotFoundException")


def test_regions_are_kept_apart(server):
    east = server.client("lambda")
    import boto3
    from botocore.config import Config

    west = boto3.client("lambda", endpoint_url=server.endpoint, region_name="eu-west-1",
                        aws_access_key_id="test", aws_secret_access_key="test",
                        config=Config(retries={"max_attempts": 0}))
    name = create_function(east, CODE)
    with pytest.raises(ClientError):
        west.get_function(FunctionName=name)


def test_delete_function(lam):
    name = create_function(lam, CODE)
    resp = lam.delete_function(FunctionName=name)
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=name)
    assert error(exc) == (404, "ResourceNotFoundException",
                          f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}")


def test_tags(lam):
    name = create_function(lam, CODE, Tags={"team": "a"})
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"env": "dev", "team": "b"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "b", "env": "dev"}
    lam.untag_resource(Resource=arn, TagKeys=["team"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "dev"}
    assert lam.get_function(FunctionName=name)["Tags"] == {"env": "dev"}
    with pytest.raises(ClientError) as exc:
        lam.tag_resource(Resource=arn + ":1", Tags={"a": "b"})
    assert error(exc)[1] == "InvalidParameterValueException"


def test_reserved_concurrency_and_account_settings(server):
    lam = server.client("lambda", account="444444444444")
    name = create_function(lam, CODE)
    assert lam.get_function_concurrency(FunctionName=name).get("ReservedConcurrentExecutions") is None
    assert lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=7)[
        "ReservedConcurrentExecutions"] == 7
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 7
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 7}
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 993
    assert settings["AccountUsage"]["FunctionCount"] == 1
    with pytest.raises(ClientError) as exc:
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=901)
    assert error(exc) == (400, "InvalidParameterValueException",
                          "Specified ReservedConcurrentExecutions for function decreases account's "
                          "UnreservedConcurrentExecution below its minimum value of [100].")
    with pytest.raises(ClientError) as exc:
        lam.put_function_concurrency(FunctionName=name + ":1", ReservedConcurrentExecutions=1)
    assert error(exc)[1] == "InvalidParameterValueException"
    lam.delete_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
