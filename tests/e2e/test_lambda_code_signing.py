"""Code signing configurations: CRUD, attachment to functions, tags, and enforcement (nubis has no signer,
so every package is unsigned: Enforce refuses deployments, Warn lets them through)."""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from nubis_testing import ROLE, create_function, error_of, make_zip, unique

CODE = "def handler(event, context):\n    return 1\n"
PROFILE = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/nubis/abcdef1234"


def test_code_signing_config_crud_and_tags(lam):
    resp = lam.create_code_signing_config(Description="d", AllowedPublishers={"SigningProfileVersionArns": [PROFILE]},
                                          Tags={"team": "a"})
    assert resp["ResponseMetadata"]["HTTPStatusCode"] == 201
    csc = resp["CodeSigningConfig"]
    arn = csc["CodeSigningConfigArn"]
    assert csc["CodeSigningConfigId"].startswith("csc-") and len(csc["CodeSigningConfigId"]) == 21
    assert arn.endswith(":code-signing-config:" + csc["CodeSigningConfigId"])
    assert csc["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"} and csc["LastModified"]
    assert lam.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"] == csc
    assert arn in [c["CodeSigningConfigArn"] for c in lam.list_code_signing_configs()["CodeSigningConfigs"]]
    updated = lam.update_code_signing_config(CodeSigningConfigArn=arn, Description="e",
                                             CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"})
    assert updated["CodeSigningConfig"]["Description"] == "e"
    assert updated["CodeSigningConfig"]["AllowedPublishers"] == {"SigningProfileVersionArns": [PROFILE]}
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "a"}
    lam.tag_resource(Resource=arn, Tags={"env": "dev"})
    lam.untag_resource(Resource=arn, TagKeys=["team"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"env": "dev"}
    lam.delete_code_signing_config(CodeSigningConfigArn=arn)
    for call in (lambda: lam.get_code_signing_config(CodeSigningConfigArn=arn),
                 lambda: lam.delete_code_signing_config(CodeSigningConfigArn=arn),
                 lambda: lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)):
        with pytest.raises(ClientError) as exc:
            call()
        assert error_of(exc) == (404, "ResourceNotFoundException",
                                 f"The Lambda code signing configuration {arn} can not be found.")


def test_function_code_signing_attachment_and_enforcement(lam):
    warn = lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [PROFILE]})
    warn_arn = warn["CodeSigningConfig"]["CodeSigningConfigArn"]
    name = create_function(lam, CODE, CodeSigningConfigArn=warn_arn)  # Warn: unsigned code is deployed
    got = lam.get_function_code_signing_config(FunctionName=name)
    assert (got["CodeSigningConfigArn"], got["FunctionName"]) == (warn_arn, name)
    fn_arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=warn_arn)["FunctionArns"] == [fn_arn]
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": CODE}))
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})

    enforce = lam.create_code_signing_config(AllowedPublishers={"SigningProfileVersionArns": [PROFILE]},
                                             CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Enforce"})
    enforce_arn = enforce["CodeSigningConfig"]["CodeSigningConfigArn"]
    put = lam.put_function_code_signing_config(FunctionName=name, CodeSigningConfigArn=enforce_arn)
    assert put["CodeSigningConfigArn"] == enforce_arn
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=warn_arn)["FunctionArns"] == []
    with pytest.raises(ClientError) as exc:
        lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": CODE}))
    assert error_of(exc) == (400, "CodeVerificationFailedException",
                             "Lambda cannot deploy the function. The function or layer might be signed using a "
                             "signature that the client is not configured to accept. Check the provided signature "
                             f"for {name}.")
    other = unique()
    with pytest.raises(ClientError) as exc:
        lam.create_function(FunctionName=other, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": CODE})}, CodeSigningConfigArn=enforce_arn)
    assert error_of(exc)[:2] == (400, "CodeVerificationFailedException")
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=other)  # nothing was created

    lam.delete_function_code_signing_config(FunctionName=name)
    assert "CodeSigningConfigArn" not in lam.get_function_code_signing_config(FunctionName=name)
    lam.update_function_code(FunctionName=name, ZipFile=make_zip({"app.py": CODE}))  # no policy: deployed


def test_function_code_signing_errors(lam):
    name = create_function(lam, CODE)
    region_account = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"].split(":")[3:5]
    missing = f"arn:aws:lambda:{region_account[0]}:{region_account[1]}:code-signing-config:csc-0123456789abcdef0"
    with pytest.raises(ClientError) as exc:
        lam.put_function_code_signing_config(FunctionName=name, CodeSigningConfigArn=missing)
    assert error_of(exc) == (404, "CodeSigningConfigNotFoundException",
                             "The code signing configuration cannot be found. Check that the provided configuration "
                             f"is not deleted: {missing}.")
    with pytest.raises(ClientError) as exc:
        lam.get_function_code_signing_config(FunctionName=unique("missing"))
    assert error_of(exc)[:2] == (404, "ResourceNotFoundException")
    with pytest.raises(ClientError) as exc:
        lam.create_function(FunctionName=unique(), Runtime="python3.12", Role=ROLE, Handler="app.handler",
                            Code={"ZipFile": make_zip({"app.py": CODE})}, CodeSigningConfigArn=missing)
    assert error_of(exc)[:2] == (404, "CodeSigningConfigNotFoundException")
