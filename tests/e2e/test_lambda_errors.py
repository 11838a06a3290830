"""Every bad input gets AWS's status, error code and message — never a 500 — and loses nothing."""
import io
import json
import zipfile

import pytest
from botocore.exceptions import ClientError

from nubis_testing import ROLE, create_function, make_zip, unique

CODE = "def handler(event, context):\n    return event\n"


def error(excinfo) -> tuple[int, str, str]:
    err = excinfo.value.response
    return (err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"].get("Message", ""))


def create(lam, **overrides):
    params = dict(FunctionName=unique(), Runtime="python3.12", Role=ROLE, Handler="app.handler",
                  Code={"ZipFile": make_zip({"app.py": CODE})})
    params.update(overrides)
    return lam.create_function(**params)


def test_duplicate_function_is_409(lam):
    name = create_function(lam, CODE)
    with pytest.raises(ClientError) as exc:
        create(lam, FunctionName=name)
    assert error(exc) == (409, "ResourceConflictException", f"Function already exist: {name}")
    assert lam.invoke(FunctionName=name, Payload=b"{}")["StatusCode"] == 200  # nothing lost


def test_unknown_function_is_404(lam):
    with pytest.raises(ClientError) as exc:
        lam.get_function_configuration(FunctionName="does-not-exist")
    assert error(exc) == (404, "ResourceNotFoundException",
                          "Function not found: arn:aws:lambda:us-east-1:000000000000:function:does-not-exist")
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName="does-not-exist")
    assert error(exc)[2].endswith("function:does-not-exist:$LATEST")



def test_arn_of_another_region_is_404_not_the_local_function(lam):
    """A full ARN names its region: a us-east-1 call with an eu-west-1 ARN must not reach the us-east-1
    function of that name (AWS: 404 "Functions from 'eu-west-1' are not reachable in this region")."""
    name = create_function(lam, CODE)
    west = f"arn:aws:lambda:eu-west-1:000000000000:function:{name}"
    message = "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"
    calls = [lambda: lam.invoke(FunctionName=west, Payload=b"{}"),
             lambda: lam.get_function_configuration(FunctionName=west),
             lambda: lam.get_function_configuration(FunctionName=west + ":$LATEST"),
             lambda: lam.delete_function(FunctionName=west),
             lambda: lam.list_event_source_mappings(FunctionName=west),
             lambda: lam.get_function_event_invoke_config(FunctionName=west),
             lambda: lam.create_function(FunctionName=west, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                         Code={"ZipFile": make_zip({"app.py": CODE})})]
    for call in calls:
        with pytest.raises(ClientError) as exc:
            call()
        assert error(exc) == (404, "ResourceNotFoundException", message)
    local = f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert lam.get_function_configuration(FunctionName=local)["FunctionName"] == name  # nothing deleted
    assert lam.invoke(FunctionName=f"000000000000:function:{name}", Payload=b"{}")["StatusCode"] == 200

@pytest.mark.parametrize("memory,message", [
    (64, "Value '64' at 'memorySize' failed to satisfy constraint: Member must have value greater than or equal to 128"),
    (10241, "Value '10241' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to "
            "10240"),
])
def test_memory_bounds(server, memory, message):
    lam = server.client("lambda", parameter_validation=False)  # boto3 would refuse 64 itself
    with pytest.raises(ClientError) as exc:
        create(lam, MemorySize=memory)
    status, code, msg = error(exc)
    assert (status, code) == (400, "ValidationException")
    assert message in msg


def test_memory_in_1mb_steps_is_accepted(lam):
    name = create_function(lam, CODE, MemorySize=1000)  # not a multiple of 64: fine since Dec 2020
    assert lam.get_function_configuration(FunctionName=name)["MemorySize"] == 1000


@pytest.mark.parametrize("timeout", [0, 901])
def test_timeout_bounds(server, timeout):
    lam = server.client("lambda", parameter_validation=False)
    with pytest.raises(ClientError) as exc:
        create(lam, Timeout=timeout)
    assert error(exc)[:2] == (400, "ValidationException")
    assert "at 'timeout'" in error(exc)[2]


def test_bad_runtime(lam):
    with pytest.raises(ClientError) as exc:
        create(lam, Runtime="non-existent-runtime")
    status, code, msg = error(exc)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert msg.startswith("Value non-existent-runtime at 'runtime' failed to satisfy constraint: Member must satisfy "
                          "enum value set: [")


def test_bad_role(lam):
    with pytest.raises(ClientError) as exc:
        create(lam, Role="r1")
    assert error(exc) == (400, "ValidationException",
                          "1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must "
                          "satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?"
                          "[a-zA-Z_0-9+=,.@\\-_/]+")


def test_environment_over_4kb(lam):
    with pytest.raises(ClientError) as exc:
        create(lam, Environment={"Variables": {"LARGE_VAR": "x" * 4097}})
    status, code, msg = error(exc)
    assert (status, code) == (400, "InvalidParameterValueException")
    assert msg.startswith("Lambda was unable to configure your environment variables because the environment "
                          "variables you have provided exceeded the 4KB limit. String measured: {\"LARGE_VAR\":\"xxx")


def test_reserved_environment_key(lam):
    with pytest.raises(ClientError) as exc:
        create(lam, Environment={"Variables": {"AWS_REGION": "x"}})
    assert error(exc)[1] == "InvalidParameterValueException"
    assert "AWS_REGION" in error(exc)[2]


def test_invalid_zip(lam):
    with pytest.raises(ClientError) as exc:
        create(lam, Code={"ZipFile": b"this is not a zip"})
    assert error(exc) == (400, "InvalidParameterValueException",
                          "Could not unzip uploaded file. Please check your file, then try to upload again.")


def test_zip_over_50mb(lam):
    import os

    big = os.urandom(50 * 1024 * 1024 + 10)
    with pytest.raises(ClientError) as exc:
        create(lam, Code={"ZipFile": big})
    assert error(exc) == (413, "RequestEntityTooLargeException", "Zipped size must be smaller than 52428800 bytes")


def test_unzipped_over_250mb(lam):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", CODE)
        zf.writestr("zeros.bin", b"\0" * (251 * 1024 * 1024))
    with pytest.raises(ClientError) as exc:
        create(lam, Code={"ZipFile": buf.getvalue()})
    assert error(exc) == (400, "InvalidParameterValueException", "Unzipped size must be smaller than 262144000 bytes")


def test_missing_code_source(lam):
    with pytest.raises(ClientError) as exc:
        create(lam, Code={})
    assert error(exc)[:2] == (400, "InvalidParameterValueException")


def test_update_while_in_progress_is_409(lam):
    name = create_function(lam, CODE)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": CODE + "\n# v2\n"}))
    try:
        lam.update_function_configuration(FunctionName=name, Timeout=9)
    except ClientError as exc:  # racing the (fast) update: the second call either lands after it or is refused
        assert exc.response["Error"]["Code"] == "ResourceConflictException"
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 409
        assert "An update is in progress for resource" in exc.response["Error"]["Message"]


def test_sync_payload_over_6mb(lam):
    name = create_function(lam, CODE)
    payload = json.dumps({"x": "a" * (6 * 1024 * 1024)}).encode()
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=payload)
    assert error(exc) == (413, "RequestEntityTooLargeException",
                          "Request must be smaller than 6291456 bytes for the InvokeFunction operation")


def test_async_payload_over_1mb(lam):
    name = create_function(lam, CODE)
    payload = json.dumps({"x": "a" * (1024 * 1024)}).encode()
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=payload, InvocationType="Event")
    assert error(exc) == (413, "RequestEntityTooLargeException",
                          f"{len(payload)} byte payload is too large for the Event invocation type (limit 1048576 "
                          "bytes)")


def test_non_json_payload(lam):
    name = create_function(lam, CODE)
    with pytest.raises(ClientError) as exc:
        lam.invoke(FunctionName=name, Payload=b"not json")
    status, code, msg = error(exc)
    assert (status, code) == (400, "InvalidRequestContentException")
    assert msg.startswith("Could not parse request body into json: Could not parse payload into json: Unexpected "
                          "character ('n'")


def test_unknown_operation_and_service_are_not_500(server):
    import urllib.request

    req = urllib.request.Request(server.endpoint + "/2015-03-31/no-such-thing", method="GET")
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req)
    assert exc.value.code in (400, 404)
    assert exc.value.headers.get("x-amzn-ErrorType")
    dynamodb = server.client("dynamodb")  # a service nubis does not implement (yet)
    with pytest.raises(ClientError) as exc2:
        dynamodb.list_tables()
    assert exc2.value.response["ResponseMetadata"]["HTTPStatusCode"] == 501


def test_malformed_json_body_is_400(server):
    import urllib.request

    req = urllib.request.Request(server.endpoint + "/2015-03-31/functions", data=b"{nope", method="POST",
                                 headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req)
    assert exc.value.code == 400
