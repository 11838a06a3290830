"""The test of record for SAM templates: `aws cloudformation package` + `aws cloudformation deploy`
(AWS CLI v1, as installed) against a real nubis server, then the deployed application is used as a user
would: curl the HTTP API from the stack's Outputs, upload a file and see the function run; update the
code and deploy again; delete the stack and check every resource is gone."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nubis_testing import unique

AWS = Path(sys.executable).parent / "aws"
DEADLINE_S = 60

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Description: nubis SAM example
Globals:
  Function:
    Timeout: 10
Resources:
  Uploads:
    Type: AWS::S3::Bucket
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Environment:
        Variables:
          RESULTS_BUCKET: !Ref Results
      Events:
        Hello:
          Type: HttpApi
          Properties:
            Path: /hello
            Method: GET
        Items:
          Type: Api
          Properties:
            Path: /items/{id}
            Method: GET
        Upload:
          Type: S3
          Properties:
            Bucket: !Ref Uploads
            Events: s3:ObjectCreated:*
  Results:
    Type: AWS::S3::Bucket
Outputs:
  HttpApiUrl:
    Value: !GetAtt ServerlessHttpApi.ApiEndpoint
  RestApiId:
    Value: !Ref ServerlessRestApi
  UploadsBucket:
    Value: !Ref Uploads
  ResultsBucket:
    Value: !Ref Results
  FunctionName:
    Value: !Ref HelloFunction
"""

APP = """\
import json, os
import boto3

def handler(event, context):
    if "Records" in event:  # S3 upload: write a marker into the results bucket
        s3 = boto3.client("s3")
        for r in event["Records"]:
            key = r["s3"]["object"]["key"]
            s3.put_object(Bucket=os.environ["RESULTS_BUCKET"], Key="seen/" + key, Body=b"VERSION")
        return {"ok": True}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"version": "VERSION", "path": event.get("rawPath") or event.get("path"),
                                "id": (event.get("pathParameters") or {}).get("id")})}
"""


class Cli:
    def __init__(self, endpoint: str, cwd: Path) -> None:
        self.cwd = cwd
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") or k == "AWS_CA_BUNDLE"}
        env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
                   AWS_CONFIG_FILE=str(cwd / "no-config"), AWS_SHARED_CREDENTIALS_FILE=str(cwd / "no-creds"),
                   AWS_EC2_METADATA_DISABLED="true",
                   # every client the CLI makes (the package command's S3 uploader too) goes to nubis
                   AWS_ENDPOINT_URL=endpoint)
        self.env = env

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([str(AWS), *args], cwd=self.cwd, env=self.env, capture_output=True, text=True,
                              timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        return proc

    def json(self, *args: str) -> dict:
        return json.loads(self.run(*args, "--output", "json").stdout)


def get_json(url: str) -> tuple[int, dict]:
    """GET with curl, as a user would: curl resolves `<api-id>.execute-api.localhost` to the loopback."""
    proc = subprocess.run(["curl", "-sS", "-w", "\n%{http_code}", url], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    body, _, status = proc.stdout.rpartition("\n")
    return int(status), json.loads(body or "{}")


def wait_for(check, what: str):
    deadline = time.time() + DEADLINE_S
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def package_and_deploy(cli: Cli, stack: str, version: str) -> subprocess.CompletedProcess:
    (cli.cwd / "src" / "app.py").write_text(APP.replace("VERSION", version))
    cli.run("cloudformation", "package", "--template-file", "template.yaml", "--s3-bucket", "artifacts",
            "--output-template-file", "packaged.yaml")
    assert "s3://artifacts/" in (cli.cwd / "packaged.yaml").read_text()
    return cli.run("cloudformation", "deploy", "--template-file", "packaged.yaml", "--stack-name", stack,
                   "--capabilities", "CAPABILITY_IAM", check=False)


def test_sam_template_with_aws_cloudformation_deploy(server, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    cli = Cli(server.endpoint, tmp_path)
    stack = unique("app")
    cli.run("s3", "mb", "s3://artifacts")

    deployed = package_and_deploy(cli, stack, "v1")
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert f"Successfully created/updated stack - {stack}" in deployed.stdout
    desc = cli.json("cloudformation", "describe-stacks", "--stack-name", stack)["Stacks"][0]
    assert desc["StackStatus"] == "CREATE_COMPLETE"
    outputs = {o["OutputKey"]: o["OutputValue"] for o in desc["Outputs"]}

    # the HTTP API from the Outputs (nubis's ApiEndpoint: http://<id>.execute-api.localhost:<port>)
    status, body = get_json(outputs["HttpApiUrl"] + "/hello")
    assert (status, body["version"], body["path"]) == (200, "v1", "/hello")
    # the implicit REST API (SAM's ServerlessRestApi, stage Prod), by the DNS-free path form
    status, body = get_json(f"{server.endpoint}/_aws/execute-api/{outputs['RestApiId']}/Prod/items/42")
    assert (status, body["version"], body["id"]) == (200, "v1", "42")

    # an upload to the bucket runs the function (SAM's S3 event: a notification + a permission)
    (tmp_path / "photo.txt").write_text("hello")
    cli.run("s3", "cp", "photo.txt", f"s3://{outputs['UploadsBucket']}/photo.txt")
    wait_for(lambda: cli.run("s3api", "head-object", "--bucket", outputs["ResultsBucket"], "--key", "seen/photo.txt",
                             check=False).returncode == 0, "the S3-triggered function")

    # update: new code, same template; the function is updated in place
    updated = package_and_deploy(cli, stack, "v2")
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert cli.json("cloudformation", "describe-stacks", "--stack-name", stack)["Stacks"][0]["StackStatus"] == \
        "UPDATE_COMPLETE"
    status, body = get_json(outputs["HttpApiUrl"] + "/hello")
    assert (status, body["version"]) == (200, "v2")
    events = cli.json("cloudformation", "describe-stack-events", "--stack-name", stack)["StackEvents"]
    assert [e["ResourceStatus"] for e in events if e["LogicalResourceId"] == "HelloFunction"][:2] == \
        ["UPDATE_COMPLETE", "UPDATE_IN_PROGRESS"]

    # deploying the same package again: no change set to execute (the CLI's own wording)
    again = cli.run("cloudformation", "deploy", "--template-file", "packaged.yaml", "--stack-name", stack,
                    "--capabilities", "CAPABILITY_IAM", "--no-fail-on-empty-changeset")
    assert "No changes to deploy" in again.stdout

    # delete: a bucket must be empty first, as on AWS
    function = outputs["FunctionName"]
    cli.run("s3", "rm", f"s3://{outputs['UploadsBucket']}", "--recursive")
    cli.run("s3", "rm", f"s3://{outputs['ResultsBucket']}", "--recursive")
    cli.run("cloudformation", "delete-stack", "--stack-name", stack)
    cli.run("cloudformation", "wait", "stack-delete-complete", "--stack-name", stack)
    gone = cli.run("cloudformation", "describe-stacks", "--stack-name", stack, check=False)
    assert gone.returncode != 0 and f"Stack with id {stack} does not exist" in gone.stderr
    assert cli.run("lambda", "get-function", "--function-name", function, check=False).returncode != 0
    assert cli.run("s3api", "head-bucket", "--bucket", outputs["UploadsBucket"], check=False).returncode != 0
    api_id = outputs["HttpApiUrl"].split("//")[1].split(".")[0]
    assert cli.run("apigatewayv2", "get-api", "--api-id", api_id, check=False).returncode != 0
    assert cli.run("apigateway", "get-rest-api", "--rest-api-id", outputs["RestApiId"], check=False).returncode != 0
    status, _ = get_json(outputs["HttpApiUrl"] + "/hello")
    assert status == 404


def test_deploy_without_capability_fails_the_change_set(server, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(APP)
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    cli = Cli(server.endpoint, tmp_path)
    cli.run("s3", "mb", "s3://artifacts-caps")
    cli.run("cloudformation", "package", "--template-file", "template.yaml", "--s3-bucket", "artifacts-caps",
            "--output-template-file", "packaged.yaml")
    stack = unique("nocaps")
    out = cli.run("cloudformation", "deploy", "--template-file", "packaged.yaml", "--stack-name", stack, check=False)
    assert out.returncode != 0
    assert "Requires capabilities : [CAPABILITY_IAM]" in out.stderr


def _sam_cli() -> str | None:
    """The `sam` executable (aws-sam-cli pins boto3 to an exact version that differs from the one the
    AWS CLI v1 pins, so it lives in its own environment: point NUBIS_SAM_CLI at it, or put it on PATH)."""
    import shutil
    return os.environ.get("NUBIS_SAM_CLI") or shutil.which("sam")


@pytest.mark.skipif(_sam_cli() is None, reason="aws-sam-cli not installed (set NUBIS_SAM_CLI to its `sam`)")
def test_sam_deploy_and_sam_delete(server, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(APP.replace("VERSION", "sam"))
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    cli = Cli(server.endpoint, tmp_path)
    env = dict(cli.env, SAM_CLI_TELEMETRY="0")
    stack = unique("samcli")

    def sam(*args: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([_sam_cli(), *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc

    sam("deploy", "--template-file", "template.yaml", "--stack-name", stack, "--resolve-s3", "--capabilities",
        "CAPABILITY_IAM", "--no-confirm-changeset")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in
               cli.json("cloudformation", "describe-stacks", "--stack-name", stack)["Stacks"][0]["Outputs"]}
    status, body = get_json(outputs["HttpApiUrl"] + "/hello")
    assert (status, body["version"]) == (200, "sam")
    sam("delete", "--stack-name", stack, "--no-prompts")
    assert cli.run("cloudformation", "describe-stacks", "--stack-name", stack, check=False).returncode != 0
