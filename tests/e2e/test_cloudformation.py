"""CloudFormation through boto3 against a real nubis server: stacks of real nubis resources, intrinsic
functions, parameters, conditions and outputs, change sets with boto3's waiters, templates from S3,
rollbacks, and the errors CloudFormation answers with."""
from __future__ import annotations

import functools
import json
import time

import pytest
from botocore.exceptions import ClientError

from nubis_testing import start_server, stop_server, unique

FAST = {"Delay": 1, "MaxAttempts": 120}

INTRINSICS = """
AWSTemplateFormatVersion: 2010-09-09
Description: intrinsics
Parameters:
  Greeting:
    Type: String
    Default: hello
    AllowedValues: [hello, hi]
  Secret:
    Type: String
    NoEcho: true
    Default: s3cret
  Sizes:
    Type: CommaDelimitedList
    Default: "128,256"
Conditions:
  IsHello: !Equals [!Ref Greeting, hello]
  NotHello: !Not [!Condition IsHello]
  Both: !And [!Condition IsHello, !Or [!Equals [a, b], !Equals [!Ref "AWS::Region", us-east-1]]]
Mappings:
  Memory:
    us-east-1: {Size: 256}
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Version: 2012-10-17, Statement: []}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      MemorySize: !FindInMap [Memory, !Ref "AWS::Region", Size]
      Environment:
        Variables:
          GREETING: !If [IsHello, !Sub "${Greeting}-${AWS::StackName}", !Ref "AWS::NoValue"]
          ZONE: !Select [1, !GetAZs ""]
          JOINED: !Join [",", !Split ["-", "a-b-c"]]
          LITERAL: !Sub "${!NotAVariable} in ${AWS::Partition} ${AWS::URLSuffix}"
          FORM2: !Sub ["${Name}@${AWS::AccountId}", {Name: !Select [0, !Ref Sizes]}]
          BUCKET: !Ref Bucket
          STACK_ID: !Ref "AWS::StackId"
      Code:
        ZipFile: |
          import os
          def handler(event, context):
              return {k: v for k, v in os.environ.items() if k.isupper() and k in (
                  "GREETING", "ZONE", "JOINED", "LITERAL", "FORM2", "BUCKET", "STACK_ID", "NEVER")}
  Bucket:
    Type: AWS::S3::Bucket
  OnlyIfNotHello:
    Type: AWS::S3::Bucket
    Condition: NotHello
Outputs:
  FnArn:
    Value: !GetAtt Fn.Arn
    Export: {Name: !Sub "${AWS::StackName}-fn"}
  BucketName:
    Description: the bucket
    Value: !Ref Bucket
  BucketArn:
    Value: !GetAtt Bucket.Arn
  Encoded:
    Value: !Base64 abc
  WhenBoth:
    Condition: Both
    Value: both
  WhenNotHello:
    Condition: NotHello
    Value: !Ref OnlyIfNotHello
"""


@pytest.fixture(scope="module")
def cfn(server):
    return server.client("cloudformation")


def error_of(call, *args, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    err = e.value.response["Error"]
    return err["Code"], err["Message"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def events(cfn, stack: str) -> list[tuple[str, str, str]]:
    out = cfn.describe_stack_events(StackName=stack)["StackEvents"][::-1]
    return [(e["LogicalResourceId"], e["ResourceStatus"], e.get("ResourceStatusReason", "")) for e in out]


def test_stack_with_intrinsics_parameters_conditions_outputs(server, cfn) -> None:
    name = unique("intr")
    cfn.create_stack(StackName=name, TemplateBody=INTRINSICS, Capabilities=["CAPABILITY_IAM"])
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE" and stack["Description"] == "intrinsics"
    assert stack["StackId"].startswith(f"arn:aws:cloudformation:us-east-1:000000000000:stack/{name}/")
    params = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    assert params == {"Greeting": "hello", "Secret": "****", "Sizes": "128,256"}  # NoEcho is masked
    outputs = {o["OutputKey"]: o for o in stack["Outputs"]}
    assert set(outputs) == {"FnArn", "BucketName", "BucketArn", "Encoded", "WhenBoth"}
    assert outputs["Encoded"]["OutputValue"] == "YWJj"
    assert outputs["BucketName"]["Description"] == "the bucket"
    assert outputs["FnArn"]["ExportName"] == f"{name}-fn"
    bucket = outputs["BucketName"]["OutputValue"]
    assert bucket.startswith(f"{name}-bucket-") and bucket == bucket.lower()
    assert outputs["BucketArn"]["OutputValue"] == f"arn:aws:s3:::{bucket}"

    lam = server.client("lambda")
    fn_arn = outputs["FnArn"]["OutputValue"]
    cfg = lam.get_function_configuration(FunctionName=fn_arn)
    assert cfg["MemorySize"] == 256 and cfg["Role"].startswith("arn:aws:iam::000000000000:role/")
    env = json.loads(lam.invoke(FunctionName=fn_arn)["Payload"].read())
    assert env == {"GREETING": f"hello-{name}", "ZONE": "us-east-1b", "JOINED": "a,b,c",
                   "LITERAL": "${NotAVariable} in aws amazonaws.com", "FORM2": "128@000000000000",
                   "BUCKET": bucket, "STACK_ID": stack["StackId"]}
    server.client("s3").head_bucket(Bucket=bucket)

    resources = {r["LogicalResourceId"]: r for r in cfn.list_stack_resources(StackName=name)["StackResourceSummaries"]}
    assert set(resources) == {"Role", "Fn", "Bucket"}  # OnlyIfNotHello's condition is false
    assert all(r["ResourceStatus"] == "CREATE_COMPLETE" for r in resources.values())
    detail = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Fn")["StackResourceDetail"]
    assert detail["PhysicalResourceId"] == cfg["FunctionName"] and detail["ResourceType"] == "AWS::Lambda::Function"
    by_physical = cfn.describe_stack_resources(PhysicalResourceId=bucket)["StackResources"]
    assert [(r["StackName"], r["LogicalResourceId"]) for r in by_physical] == [(name, "Bucket")]
    assert "Export" in cfn.get_template(StackName=name)["TemplateBody"]  # the original YAML text
    assert {e["Name"]: e["Value"] for e in cfn.list_exports()["Exports"]}[f"{name}-fn"] == fn_arn

    evs = events(cfn, name)
    assert evs[0] == (name, "CREATE_IN_PROGRESS", "User Initiated") and evs[-1][:2] == (name, "CREATE_COMPLETE")
    assert ("Fn", "CREATE_COMPLETE", "") in evs
    # the bucket is created before the function that refers to it
    order = [e[0] for e in evs if e[1] == "CREATE_COMPLETE"]
    assert order.index("Bucket") < order.index("Fn") and order.index("Role") < order.index("Fn")

    # an update with another parameter value flips the conditions
    cfn.update_stack(StackName=name, UsePreviousTemplate=True, Capabilities=["CAPABILITY_IAM"],
                     Parameters=[{"ParameterKey": "Greeting", "ParameterValue": "hi"},
                                 {"ParameterKey": "Secret", "UsePreviousValue": True},
                                 {"ParameterKey": "Sizes", "UsePreviousValue": True}])
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert "WhenBoth" not in outputs and outputs["WhenNotHello"].startswith(f"{name}-onlyifnothello-")
    env = json.loads(lam.invoke(FunctionName=fn_arn)["Payload"].read())
    assert "GREETING" not in env  # AWS::NoValue removed the variable

    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=fn_arn)
    with pytest.raises(ClientError):
        server.client("s3").head_bucket(Bucket=bucket)
    deleted = cfn.describe_stacks(StackName=stack["StackId"])["Stacks"][0]  # by id, a deleted stack is visible
    assert deleted["StackStatus"] == "DELETE_COMPLETE" and "DeletionTime" in deleted
    summaries = cfn.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]
    assert stack["StackId"] in [s["StackId"] for s in summaries]


def test_misspelt_resource_types_are_refused_before_anything_is_made(cfn) -> None:
    """A well-formed but unknown type is CloudFormation's template format error at CreateStack,
    CreateChangeSet and ValidateTemplate; a known type nubis cannot make still fails only when made."""
    misspelt = """
Resources:
  Fn: {Type: AWS::Lambda::Functio, Properties: {Handler: app.handler}}
  Topic: {Type: AWS::SNS::Topic}
  Queue: {Type: AWS::SQS::Queu}
"""
    message = "Template format error: Unrecognized resource types: [AWS::Lambda::Functio, AWS::SQS::Queu]"
    name = unique("typo")
    assert error_of(cfn.validate_template, TemplateBody=misspelt) == ("ValidationError", message, 400)
    assert error_of(cfn.create_stack, StackName=name, TemplateBody=misspelt) == ("ValidationError", message, 400)
    assert error_of(cfn.create_change_set, StackName=name, ChangeSetName="cs", ChangeSetType="CREATE",
                    TemplateBody=misspelt) == ("ValidationError", message, 400)
    assert error_of(cfn.describe_stacks, StackName=name)[1] == f"Stack with id {name} does not exist"  # none made
    serverless = "Resources:\n  Fn: {Type: AWS::Serverless::Function, Properties: {Handler: a.b}}\n"
    assert error_of(cfn.validate_template, TemplateBody=serverless)[1] == \
        "Template format error: Unrecognized resource types: [AWS::Serverless::Function]"  # SAM's need the transform
    assert cfn.validate_template(TemplateBody="Transform: AWS::Serverless-2016-10-31\n" + serverless)
    known = "Resources:\n  T: {Type: AWS::DynamoDB::Table}\n  C: {Type: Custom::Anything, Properties: {ServiceToken: x}}\n"
    assert cfn.validate_template(TemplateBody=known)["Parameters"] == []


def test_errors(server, cfn) -> None:
    assert error_of(cfn.describe_stacks, StackName="nope") == ("ValidationError", "Stack with id nope does not exist", 400)
    code, msg, _ = error_of(cfn.create_stack, StackName=unique("bad"), TemplateBody="Resources: [oops")
    assert code == "ValidationError" and msg.startswith("Template format error: YAML not well-formed.")
    code, msg, _ = error_of(cfn.create_stack, StackName=unique("bad"), TemplateBody='{"Resources": ')
    assert msg.startswith("Template format error: JSON not well-formed.")
    assert error_of(cfn.create_stack, StackName=unique("bad"), TemplateBody="Description: x")[1] == \
        "Template format error: At least one Resources member must be defined."
    assert error_of(cfn.validate_template, TemplateBody="Resources: {B: {Type: Bucket}}")[1] == \
        "Template format error: Unrecognized resource types: [Bucket]"
    assert error_of(cfn.create_stack, StackName=unique("bad"),
                    TemplateBody="Resources: {B: {Type: AWS::S3::Bucket, Properties: {BucketName: !Ref Nope}}}")[1] == \
        "Template format error: Unresolved resource dependencies [Nope] in the Resources block of the template"
    for malformed, message in (
            ('{"Resources": {"Q": {"Type": "AWS::SNS::Topic", "DependsOn": 5}}}',
             "Template format error: DependsOn must be a string or list of strings."),
            ('{"Resources": {"Q": {"Type": "AWS::SNS::Topic", "DependsOn": [{"Ref": "X"}]}}}',
             "Template format error: DependsOn must be a string or list of strings."),
            ('{"Resources": {"Q": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": {"Fn::Sub": 5}}}}}',
             "Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments."),
            ('{"Resources": {"Q": {"Type": "AWS::SNS::Topic"}}, "Outputs": {"O": {"Value": {"Fn::Sub": ["${X}", 5]}}}}',
             "Template error: One or more Fn::Sub intrinsic functions don't specify expected arguments."),
            ('{"Resources": {"Q": {"Type": "AWS::SNS::Topic", "Condition": ["C"]}}}',
             "Template format error: [/Resources/Q/Condition] Condition must be the name of a condition"),
            ('{"Resources": {"Q": {"Type": "AWS::SNS::Topic", "Properties": "x"}}}',
             "Template format error: [/Resources/Q/Properties] Properties must be an object"),
            ('{"Parameters": {"P": {"Type": "String", "AllowedValues": 5}}, "Resources": {"Q": {"Type": "AWS::SNS::Topic"}}}',
             "Template format error: [/Parameters/P/AllowedValues] AllowedValues must be a list"),
            ('{"Transform": 5, "Resources": {"Q": {"Type": "AWS::SNS::Topic"}}}',
             "Template format error: Transform must be a macro name")):
        for call in (cfn.validate_template, functools.partial(cfn.create_stack, StackName=unique("bad"))):
            code, msg, status = error_of(call, TemplateBody=malformed)  # AWS's 400, not a 500
            assert (code, status) == ("ValidationError", 400) and msg.startswith(message), msg
    assert "Circular dependency between resources: [A, B]" == error_of(
        cfn.create_stack, StackName=unique("bad"), TemplateBody="""
Resources:
  A: {Type: AWS::SNS::Topic, Properties: {DisplayName: !GetAtt B.TopicName}}
  B: {Type: AWS::SNS::Topic, Properties: {DisplayName: !GetAtt A.TopicName}}""")[1]
    param_tpl = """
Parameters:
  Env: {Type: String, AllowedValues: [dev, prod]}
Resources:
  T: {Type: AWS::SNS::Topic}
"""
    assert error_of(cfn.create_stack, StackName=unique("p"), TemplateBody=param_tpl)[1] == \
        "Parameters: [Env] must have values"
    assert error_of(cfn.create_stack, StackName=unique("p"), TemplateBody=param_tpl,
                    Parameters=[{"ParameterKey": "Env", "ParameterValue": "qa"}])[1] == \
        "Parameter 'Env' must be one of AllowedValues"
    assert error_of(cfn.create_stack, StackName=unique("p"), TemplateBody=param_tpl,
                    Parameters=[{"ParameterKey": "Env", "ParameterValue": "dev"},
                                {"ParameterKey": "Other", "ParameterValue": "x"}])[1] == \
        "Parameters: [Other] do not exist in the template"
    role = "Resources: {R: {Type: AWS::IAM::Role, Properties: {AssumeRolePolicyDocument: {}}}}"
    assert error_of(cfn.create_stack, StackName=unique("caps"), TemplateBody=role) == \
        ("InsufficientCapabilitiesException", "Requires capabilities : [CAPABILITY_IAM]", 400)
    named = "Resources: {R: {Type: AWS::IAM::Role, Properties: {RoleName: x, AssumeRolePolicyDocument: {}}}}"
    assert error_of(cfn.create_stack, StackName=unique("caps"), TemplateBody=named,
                    Capabilities=["CAPABILITY_IAM"])[1] == "Requires capabilities : [CAPABILITY_NAMED_IAM]"
    sam = ("Transform: AWS::Serverless-2016-10-31\nResources:\n  F:\n    Type: AWS::Serverless::Function\n"
           "    Properties: {Runtime: python3.12, Handler: index.handler, InlineCode: 'def handler(e, c): pass'}\n")
    assert error_of(cfn.create_stack, StackName=unique("sam"), TemplateBody=sam,
                    Capabilities=["CAPABILITY_IAM"])[1] == "Requires capabilities : [CAPABILITY_AUTO_EXPAND]"
    assert "Transform AWS::Serverless-2016-10-31 failed with" in error_of(
        cfn.create_stack, StackName=unique("sam"), Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        TemplateBody=sam.replace("InlineCode", "Nonsense"))[1]
    assert error_of(cfn.create_stack, StackName=unique("t")) [1] == \
        "Either Template URL or Template Body must be specified."
    assert error_of(cfn.create_stack, StackName="1-starts-with-a-digit", TemplateBody=role)[0] == "ValidationError"

    name = unique("dup")
    topic = "Resources: {T: {Type: AWS::SNS::Topic}}"
    cfn.create_stack(StackName=name, TemplateBody=topic)
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    assert error_of(cfn.create_stack, StackName=name, TemplateBody=topic) == \
        ("AlreadyExistsException", f"Stack [{name}] already exists", 400)
    assert error_of(cfn.update_stack, StackName=name, TemplateBody=topic)[1] == "No updates are to be performed."
    assert error_of(cfn.update_stack, StackName="nope", TemplateBody=topic)[1] == "Stack with id nope does not exist"
    assert error_of(cfn.describe_change_set, StackName=name, ChangeSetName="nope") == \
        ("ChangeSetNotFound", "ChangeSet [nope] does not exist", 404)
    assert error_of(cfn.describe_stack_resource, StackName=name, LogicalResourceId="X")[1] == \
        f"Resource X does not exist for stack {name}"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    cfn.delete_stack(StackName=name)  # deleting a stack that is gone is not an error


def test_unsupported_resource_type_fails_and_rolls_back(server, cfn) -> None:
    name = unique("unsup")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps({"Resources": {
        "Bucket": {"Type": "AWS::S3::Bucket"},
        "Table": {"Type": "AWS::DynamoDB::Table", "DependsOn": "Bucket", "Properties": {}}}}))
    with pytest.raises(Exception):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "ROLLBACK_COMPLETE"
    evs = events(cfn, name)
    assert ("Table", "CREATE_FAILED", "Resource type AWS::DynamoDB::Table is not supported by nubis") in evs
    assert (name, "ROLLBACK_IN_PROGRESS",
            "The following resource(s) failed to create: [Table]. Rollback requested by user.") in evs
    bucket = next(e for e in cfn.describe_stack_events(StackName=name)["StackEvents"]
                  if e["LogicalResourceId"] == "Bucket" and e["ResourceStatus"] == "CREATE_COMPLETE")["PhysicalResourceId"]
    assert ("Bucket", "DELETE_COMPLETE", "") in evs
    with pytest.raises(ClientError):
        server.client("s3").head_bucket(Bucket=bucket)
    assert cfn.list_stack_resources(StackName=name)["StackResourceSummaries"] == []
    assert "ROLLBACK_COMPLETE state and can not be updated" in error_of(
        cfn.update_stack, StackName=name, TemplateBody="Resources: {B: {Type: AWS::S3::Bucket}}")[1]
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)


FUNCTION = """
Resources:
  Role:
    Type: AWS::IAM::Role
    Properties: {AssumeRolePolicyDocument: {}}
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: NAME
      Runtime: python3.12
      Handler: index.handler
      Role: !GetAtt Role.Arn
      MemorySize: MEMORY
      Code:
        ZipFile: "def handler(event, context):\\n    return 'VERSION'\\n"
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: DISPLAY
"""


def function_template(name: str, memory: int = 128, version: str = "v1", display: str = "one") -> str:
    return (FUNCTION.replace("NAME", name).replace("MEMORY", str(memory)).replace("VERSION", version)
            .replace("DISPLAY", display))


def test_change_sets_with_boto3_waiters(server, cfn) -> None:
    name, fn = unique("cs"), unique("csfn")
    cs = cfn.create_change_set(StackName=name, ChangeSetName="first", ChangeSetType="CREATE",
                               TemplateBody=function_template(fn), Capabilities=["CAPABILITY_IAM"])
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"
    cfn.get_waiter("change_set_create_complete").wait(ChangeSetName=cs["Id"], WaiterConfig=FAST)
    desc = cfn.describe_change_set(ChangeSetName="first", StackName=name)
    assert (desc["Status"], desc["ExecutionStatus"]) == ("CREATE_COMPLETE", "AVAILABLE")
    assert sorted((c["ResourceChange"]["Action"], c["ResourceChange"]["LogicalResourceId"]) for c in desc["Changes"]) \
        == [("Add", "Fn"), ("Add", "Role"), ("Add", "Topic")]
    cfn.execute_change_set(ChangeSetName=cs["Id"])
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    lam = server.client("lambda")
    assert lam.invoke(FunctionName=fn)["Payload"].read() == b'"v1"'
    assert cfn.describe_change_set(ChangeSetName=cs["Id"])["ExecutionStatus"] == "EXECUTE_COMPLETE"

    # an UPDATE change set: modified in place (code, memory) and a property that means a new topic? no:
    # DisplayName is updated in place too
    cs2 = cfn.create_change_set(StackName=name, ChangeSetName="second", TemplateBody=function_template(
        fn, memory=256, version="v2", display="two"), Capabilities=["CAPABILITY_IAM"])
    cfn.get_waiter("change_set_create_complete").wait(ChangeSetName="second", StackName=name, WaiterConfig=FAST)
    changes = {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"]
               for c in cfn.describe_change_set(ChangeSetName=cs2["Id"])["Changes"]}
    assert set(changes) == {"Fn", "Topic"}
    assert changes["Fn"]["Action"] == "Modify" and changes["Fn"]["Replacement"] == "False"
    assert changes["Fn"]["PhysicalResourceId"] == fn
    assert sorted(d["Target"]["Name"] for d in changes["Fn"]["Details"]) == ["Code", "MemorySize"]
    names = [s["ChangeSetName"] for s in cfn.list_change_sets(StackName=name)["Summaries"]]
    assert names == ["first", "second"]
    cfn.execute_change_set(ChangeSetName="second", StackName=name)
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert lam.invoke(FunctionName=fn)["Payload"].read() == b'"v2"'
    assert lam.get_function_configuration(FunctionName=fn)["MemorySize"] == 256
    topic = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Topic")["StackResourceDetail"]
    attrs = server.client("sns").get_topic_attributes(TopicArn=topic["PhysicalResourceId"])["Attributes"]
    assert attrs["DisplayName"] == "two"

    # the same template again: a FAILED change set with CloudFormation's reason
    cfn.create_change_set(StackName=name, ChangeSetName="same", TemplateBody=function_template(
        fn, memory=256, version="v2", display="two"), Capabilities=["CAPABILITY_IAM"])
    with pytest.raises(Exception):
        cfn.get_waiter("change_set_create_complete").wait(ChangeSetName="same", StackName=name, WaiterConfig=FAST)
    same = cfn.describe_change_set(ChangeSetName="same", StackName=name)
    assert same["Status"] == "FAILED" and "didn't contain changes" in same["StatusReason"]
    assert error_of(cfn.execute_change_set, ChangeSetName="same", StackName=name)[0] == "InvalidChangeSetStatus"
    cfn.delete_change_set(ChangeSetName="same", StackName=name)
    assert error_of(cfn.describe_change_set, ChangeSetName="same", StackName=name)[0] == "ChangeSetNotFound"
    # missing capabilities: the change set fails with the reason
    cfn.create_change_set(StackName=name, ChangeSetName="nocaps", TemplateBody=function_template(fn, memory=512))
    assert cfn.describe_change_set(ChangeSetName="nocaps", StackName=name)["StatusReason"] == \
        "Requires capabilities : [CAPABILITY_IAM]"

    # replacement: a new FunctionName makes a new function; the old one goes in the cleanup phase
    fn2 = unique("csfn")
    cfn.update_stack(StackName=name, TemplateBody=function_template(fn2, memory=256, version="v3", display="two"),
                     Capabilities=["CAPABILITY_IAM"])
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert lam.invoke(FunctionName=fn2)["Payload"].read() == b'"v3"'
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=fn)
    evs = events(cfn, name)
    assert ("Fn", "UPDATE_IN_PROGRESS",
            "Requested update requires the creation of a new physical resource; hence creating one.") in evs
    cleanup = evs.index((name, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", ""))
    assert ("Fn", "DELETE_COMPLETE", "") in evs[cleanup:]

    # a failing update rolls back: the function keeps its configuration
    cfn.update_stack(StackName=name, TemplateBody=function_template(fn2, memory=1, version="v4", display="three"),
                     Capabilities=["CAPABILITY_IAM"])
    with pytest.raises(Exception):
        cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    failed = [e for e in events(cfn, name) if e[1] == "UPDATE_FAILED"]
    assert failed[-1][0] == "Fn" and "MemorySize" in failed[-1][2]
    assert lam.invoke(FunctionName=fn2)["Payload"].read() == b'"v3"'
    attrs = server.client("sns").get_topic_attributes(TopicArn=topic["PhysicalResourceId"])["Attributes"]
    assert attrs["DisplayName"] == "two"  # updated before Fn failed, then rolled back
    assert "UPDATE_ROLLBACK_COMPLETE" in [e[1] for e in events(cfn, name)]

    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=fn2)


def test_template_url_from_nubis_s3(server, cfn) -> None:
    s3 = server.client("s3")
    bucket = unique("templates")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="dir/topic.json",
                  Body=json.dumps({"Resources": {"T": {"Type": "AWS::SNS::Topic"}},
                                   "Outputs": {"Arn": {"Value": {"Ref": "T"}}}}).encode())
    port = server.endpoint.rsplit(":", 1)[1]
    for url in (f"{server.endpoint}/{bucket}/dir/topic.json", f"s3://{bucket}/dir/topic.json",
                f"https://{bucket}.s3.amazonaws.com/dir/topic.json",
                f"http://{bucket}.s3.localhost:{port}/dir/topic.json"):
        name = unique("url")
        cfn.create_stack(StackName=name, TemplateURL=url)
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
        arn = cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"][0]["OutputValue"]
        assert arn.startswith("arn:aws:sns:us-east-1:000000000000:")
        summary = cfn.get_template_summary(TemplateURL=url)
        assert summary["ResourceTypes"] == ["AWS::SNS::Topic"]
        cfn.delete_stack(StackName=name)
    assert error_of(cfn.create_stack, StackName=unique("url"), TemplateURL=f"s3://{bucket}/missing.json")[1] == \
        "S3 error: The specified key does not exist."
    assert error_of(cfn.validate_template, TemplateURL="ftp://x/y")[1] == "TemplateURL must be a supported URL."


def test_validate_template_and_summary(cfn) -> None:
    out = cfn.validate_template(TemplateBody=INTRINSICS)
    params = {p["ParameterKey"]: p for p in out["Parameters"]}
    assert params["Greeting"]["DefaultValue"] == "hello" and params["Secret"]["NoEcho"] is True
    assert out["Capabilities"] == ["CAPABILITY_IAM"] and out["Description"] == "intrinsics"
    summary = cfn.get_template_summary(TemplateBody=INTRINSICS)
    assert summary["ResourceTypes"] == ["AWS::IAM::Role", "AWS::Lambda::Function", "AWS::S3::Bucket"]
    greeting = next(p for p in summary["Parameters"] if p["ParameterKey"] == "Greeting")
    assert greeting["ParameterConstraints"]["AllowedValues"] == ["hello", "hi"]
    assert greeting["ParameterType"] == "String"
    dangling = '{"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Ref": "Missing"}}}}}'
    with pytest.raises(ClientError) as err:
        cfn.validate_template(TemplateBody=dangling)
    assert err.value.response["Error"]["Message"] == (
        "Template format error: Unresolved resource dependencies [Missing] in the Resources block of the template")
    sub = '{"Resources": {"B": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": {"Fn::Sub": "${Missing}-x"}}}}}'
    for call in (cfn.validate_template, functools.partial(cfn.create_stack, StackName=unique("sub"))):
        with pytest.raises(ClientError) as err:
            call(TemplateBody=sub)  # refused up front, not a CREATE_FAILED resource
        assert err.value.response["Error"]["Message"] == (
            "Template format error: Unresolved resource dependencies [Missing] in the Resources block of the template")
    cycle = """
Resources:
  A: {Type: AWS::SNS::Topic, Properties: {DisplayName: !GetAtt B.TopicName}}
  B: {Type: AWS::SNS::Topic, Properties: {DisplayName: !GetAtt A.TopicName}}
"""
    with pytest.raises(ClientError) as err:
        cfn.validate_template(TemplateBody=cycle)  # as CreateStack refuses it (test_errors)
    assert err.value.response["Error"]["Message"] == "Circular dependency between resources: [A, B]"


def test_http_api_from_plain_resources(server, cfn, tmp_path) -> None:
    """AWS::ApiGatewayV2::Api/Integration/Route/Stage and AWS::Lambda::Permission written out by hand."""
    import subprocess
    name = unique("v2")
    template = {
        "Resources": {
            "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {}}},
            "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
                "Runtime": "python3.12", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"ZipFile": "def handler(e, c):\n    return {'statusCode': 200, 'body': e['rawPath']}\n"}}},
            "Api": {"Type": "AWS::ApiGatewayV2::Api", "Properties": {"Name": "plain", "ProtocolType": "HTTP"}},
            "Integ": {"Type": "AWS::ApiGatewayV2::Integration", "Properties": {
                "ApiId": {"Ref": "Api"}, "IntegrationType": "AWS_PROXY", "PayloadFormatVersion": "2.0",
                "IntegrationUri": {"Fn::GetAtt": ["Fn", "Arn"]}}},
            "Route": {"Type": "AWS::ApiGatewayV2::Route", "Properties": {
                "ApiId": {"Ref": "Api"}, "RouteKey": "GET /things/{id}",
                "Target": {"Fn::Join": ["/", ["integrations", {"Ref": "Integ"}]]}}},
            "Stage": {"Type": "AWS::ApiGatewayV2::Stage", "Properties": {
                "ApiId": {"Ref": "Api"}, "StageName": "$default", "AutoDeploy": True}},
            "Perm": {"Type": "AWS::Lambda::Permission", "Properties": {
                "FunctionName": {"Ref": "Fn"}, "Action": "lambda:InvokeFunction",
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${Api}/*"}}},
        },
        "Outputs": {"Url": {"Value": {"Fn::GetAtt": ["Api", "ApiEndpoint"]}}},
    }
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template), Capabilities=["CAPABILITY_IAM"])
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    url = cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"][0]["OutputValue"]
    out = subprocess.run(["curl", "-sS", url + "/things/7"], capture_output=True, text=True, timeout=60)
    assert out.stdout == "/things/7"
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", url + "/things/7"],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout == "404"


def test_sqs_queue_resource(server, cfn) -> None:
    """AWS::SQS::Queue works when this server has SQS, and fails clearly when it does not."""
    try:
        server.client("sqs").list_queues()
        has_sqs = True
    except ClientError as e:
        assert e.response["Error"]["Code"] == "NotImplementedException"
        has_sqs = False
    name = unique("sqs")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps({
        "Resources": {"Q": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": 45}}},
        "Outputs": {"Url": {"Value": {"Ref": "Q"}}, "Arn": {"Value": {"Fn::GetAtt": ["Q", "Arn"]}}}}))
    waiter = cfn.get_waiter("stack_create_complete")
    if has_sqs:
        waiter.wait(StackName=name, WaiterConfig=FAST)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}
        attrs = server.client("sqs").get_queue_attributes(QueueUrl=outputs["Url"], AttributeNames=["All"])["Attributes"]
        assert attrs["VisibilityTimeout"] == "45" and attrs["QueueArn"] == outputs["Arn"]
    else:
        with pytest.raises(Exception):
            waiter.wait(StackName=name, WaiterConfig=FAST)
        assert ("Q", "CREATE_FAILED", "Resource type AWS::SQS::Queue is not supported by this nubis server "
                "(it has no SQS service)") in events(cfn, name)
    cfn.delete_stack(StackName=name)


def test_stacks_survive_a_restart(tmp_path) -> None:
    srv = start_server(tmp_path / "data")
    try:
        cfn = srv.client("cloudformation")
        cfn.create_stack(StackName="kept", TemplateBody="Resources: {T: {Type: AWS::SNS::Topic}}")
        cfn.get_waiter("stack_create_complete").wait(StackName="kept", WaiterConfig=FAST)
    finally:
        stop_server(srv)
    srv = start_server(tmp_path / "data")
    try:
        cfn = srv.client("cloudformation")
        stack = cfn.describe_stacks(StackName="kept")["Stacks"][0]
        assert stack["StackStatus"] == "CREATE_COMPLETE"
        topic = cfn.describe_stack_resource(StackName="kept", LogicalResourceId="T")["StackResourceDetail"]
        srv.client("sns").get_topic_attributes(TopicArn=topic["PhysicalResourceId"])
        cfn.delete_stack(StackName="kept")
        cfn.get_waiter("stack_delete_complete").wait(StackName="kept", WaiterConfig=FAST)
        with pytest.raises(ClientError):
            srv.client("sns").get_topic_attributes(TopicArn=topic["PhysicalResourceId"])
    finally:
        stop_server(srv)


SAM_BODY = """
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: live}
Resources:
  Alerts:
    Type: AWS::SNS::Topic
  Results:
    Type: AWS::S3::Bucket
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: !Ref Stage
  Rest:
    Type: AWS::Serverless::Api
    Properties:
      StageName: v1
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Environment:
        Variables:
          RESULTS: !Ref Results
      InlineCode: |
        import json, os, boto3
        def handler(event, context):
            if "Records" in event:
                msg = event["Records"][0]["Sns"]["Message"]
                boto3.client("s3").put_object(Bucket=os.environ["RESULTS"], Key="sns", Body=msg.encode())
                return None
            return {"statusCode": 200, "body": json.dumps({"route": event.get("routeKey") or event.get("resource")})}
      Events:
        Get:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /work, Method: get}
        Post:
          Type: Api
          Properties: {RestApiId: !Ref Rest, Path: /jobs, Method: post}
        Alert:
          Type: SNS
          Properties: {Topic: !Ref Alerts}
Outputs:
  Url:
    Value: !Sub "${Api.ApiEndpoint}/${Stage}"
  RestId:
    Value: !Ref Rest
  Topic:
    Value: !Ref Alerts
  Results:
    Value: !Ref Results
"""


def test_sam_template_body_with_boto3(server, cfn) -> None:
    import subprocess
    name = unique("sam")
    cfn.create_stack(StackName=name, TemplateBody=SAM_BODY, Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}
    out = subprocess.run(["curl", "-sS", outputs["Url"] + "/work"], capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout) == {"route": "GET /work"}
    out = subprocess.run(["curl", "-sS", "-X", "POST", f"{server.endpoint}/_aws/execute-api/{outputs['RestId']}/v1/jobs"],
                         capture_output=True, text=True, timeout=60)
    assert json.loads(out.stdout) == {"route": "/jobs"}
    server.client("sns").publish(TopicArn=outputs["Topic"], Message="hello from sns")
    s3 = server.client("s3")
    deadline = time.time() + 60
    while True:
        try:
            assert s3.get_object(Bucket=outputs["Results"], Key="sns")["Body"].read() == b"hello from sns"
            break
        except ClientError:
            assert time.time() < deadline, "the SNS-subscribed function did not run"
            time.sleep(0.2)
    # Original is the SAM template as sent; Processed is what the transform made of it
    assert cfn.get_template(StackName=name)["TemplateBody"] == SAM_BODY
    processed = cfn.get_template(StackName=name, TemplateStage="Processed")["TemplateBody"]
    processed = processed if isinstance(processed, dict) else json.loads(processed)
    types = {r["Type"] for r in processed["Resources"].values()}
    assert {"AWS::Lambda::Function", "AWS::ApiGatewayV2::Api", "AWS::ApiGateway::RestApi",
            "AWS::SNS::Subscription"} <= types
    assert cfn.get_template_summary(StackName=name)["DeclaredTransforms"] == ["AWS::Serverless-2016-10-31"]
    s3.delete_object(Bucket=outputs["Results"], Key="sns")
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    with pytest.raises(ClientError):
        server.client("sns").get_topic_attributes(TopicArn=outputs["Topic"])


LAMBDA_EXTRAS = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: "def handler(e, c):\\n    return {'statusCode': 200, 'body': 'VERSION'}\\n"
      AutoPublishAlias: live
      FunctionUrlConfig: {AuthType: NONE}
      EventInvokeConfig: {MaximumRetryAttempts: 0}
  Logs:
    Type: AWS::Logs::LogGroup
    Properties: {RetentionInDays: 7}
  Topic:
    Type: AWS::SNS::Topic
  Sub:
    Type: AWS::SNS::Subscription
    Properties: {TopicArn: !Ref Topic, Protocol: lambda, Endpoint: !Ref Fn.Alias}
EVENTS
Outputs:
  Url:
    Value: !GetAtt FnUrl.FunctionUrl
  Log:
    Value: !Ref Logs
"""


def test_sam_alias_url_and_invoke_config(server, cfn) -> None:
    import subprocess
    caps = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    name = unique("extras")
    body = LAMBDA_EXTRAS.replace("EVENTS\n", "")
    cfn.create_stack(StackName=name, TemplateBody=body.replace("VERSION", "one"), Capabilities=caps)
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}
    curl = lambda: subprocess.run(["curl", "-sS", outputs["Url"]], capture_output=True, text=True, timeout=60).stdout
    assert curl() == "one"
    fn = cfn.describe_stack_resource(StackName=name, LogicalResourceId="Fn")["StackResourceDetail"]["PhysicalResourceId"]
    lam = server.client("lambda")
    assert lam.get_alias(FunctionName=fn, Name="live")["FunctionVersion"] == "1"
    assert lam.get_function_event_invoke_config(FunctionName=fn, Qualifier="live")["MaximumRetryAttempts"] == 0
    groups = server.client("logs").describe_log_groups(logGroupNamePrefix=outputs["Log"])["logGroups"]
    assert groups[0]["retentionInDays"] == 7

    cfn.update_stack(StackName=name, TemplateBody=body.replace("VERSION", "two"), Capabilities=caps)
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert curl() == "two"  # the URL is on the alias, which moved to the new version
    assert lam.get_alias(FunctionName=fn, Name="live")["FunctionVersion"] == "2"
    evs = events(cfn, name)
    assert [e[1] for e in evs if e[0].startswith("FnVersion")][-1] == "DELETE_SKIPPED"  # SAM retains versions

    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=fn)
    assert server.client("logs").describe_log_groups(logGroupNamePrefix=outputs["Log"])["logGroups"] == []


def test_function_properties_removed_from_the_template_go_back_to_defaults(server, cfn) -> None:
    """An update that drops LoggingConfig, TracingConfig, EphemeralStorage, KmsKeyArn (or a LoggingConfig
    field) leaves the function as if they had never been set, as Timeout/Description/Environment already
    were; KmsKeyArn reaches Lambda as its API spells it (KMSKeyArn)."""
    lam = server.client("lambda")
    full = {"LoggingConfig": {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "LogGroup": "/custom/cfn-logs"},
            "TracingConfig": {"Mode": "Active"}, "EphemeralStorage": {"Size": 1024}, "Timeout": 9,
            "KmsKeyArn": "arn:aws:kms:us-east-1:000000000000:key/k1"}  # the API's KMSKeyArn

    def template(extra: dict) -> str:
        return json.dumps({"Resources": {"F": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.12", "Handler": "index.handler", "Role": "arn:aws:iam::000000000000:role/r",
            "Code": {"ZipFile": "def handler(e, c):\n    return 1\n"}, **extra}}}})

    def config(fn: str) -> dict:
        cfg = lam.get_function_configuration(FunctionName=fn)
        return {k: cfg.get(k) for k in ("LoggingConfig", "TracingConfig", "EphemeralStorage", "Timeout")}

    name = unique("props")
    cfn.create_stack(StackName=name, TemplateBody=template(full))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    fn = cfn.describe_stack_resource(StackName=name, LogicalResourceId="F")["StackResourceDetail"]["PhysicalResourceId"]
    assert config(fn)["LoggingConfig"] == {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "INFO",
                                           "LogGroup": "/custom/cfn-logs"}
    assert lam.get_function_configuration(FunctionName=fn)["KMSKeyArn"] == "arn:aws:kms:us-east-1:000000000000:key/k1"
    cfn.update_stack(StackName=name, TemplateBody=template({"LoggingConfig": {"LogFormat": "JSON"}}))
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert config(fn) == {"LoggingConfig": {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO",
                                            "LogGroup": f"/aws/lambda/{fn}"},
                          "TracingConfig": {"Mode": "PassThrough"}, "EphemeralStorage": {"Size": 512}, "Timeout": 3}
    assert not lam.get_function_configuration(FunctionName=fn).get("KMSKeyArn")
    cfn.update_stack(StackName=name, TemplateBody=template({}))
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    assert config(fn)["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{fn}"}


LOGS_SUBSCRIBER = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Source:
    Type: AWS::Logs::LogGroup
  Results:
    Type: AWS::S3::Bucket
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      Environment:
        Variables:
          RESULTS: !Ref Results
      InlineCode: |
        import base64, gzip, json, os, uuid, boto3
        def handler(event, context):
            doc = json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"])))
            body = json.dumps([e["message"] for e in doc["logEvents"]]).encode()
            boto3.client("s3").put_object(Bucket=os.environ["RESULTS"], Key=uuid.uuid4().hex, Body=body)
      Events:
        Logs:
          Type: CloudWatchLogs
          Properties:
            LogGroupName: !Ref Source
            FilterPattern: PATTERN
Outputs:
  Group:
    Value: !Ref Source
  Results:
    Value: !Ref Results
"""


def test_sam_cloudwatch_logs_event_subscription_filter(server, cfn) -> None:
    """SAM's CloudWatchLogs event is an AWS::Logs::SubscriptionFilter (and a Permission for logs): the
    function receives the matching log events; an update changes the pattern in place; delete removes it."""
    caps = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
    name = unique("logsub")
    cfn.create_stack(StackName=name, TemplateBody=LOGS_SUBSCRIBER.replace("PATTERN", "ERROR"), Capabilities=caps)
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=name)["Stacks"][0]["Outputs"]}
    group = outputs["Group"]
    resources = {r["ResourceType"]: r for r in cfn.describe_stack_resources(StackName=name)["StackResources"]}
    logs, s3 = server.client("logs"), server.client("s3")
    filters = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert [f["filterName"] for f in filters] == [resources["AWS::Logs::SubscriptionFilter"]["PhysicalResourceId"]]
    assert filters[0]["filterPattern"] == "ERROR" and ":function:" in filters[0]["destinationArn"]

    def received() -> list[str]:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=outputs["Results"]).get("Contents", [])]
        return sorted(m for k in keys for m in json.loads(s3.get_object(Bucket=outputs["Results"], Key=k)["Body"].read()))

    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
        {"timestamp": now, "message": "ERROR disk full"}, {"timestamp": now, "message": "INFO all good"},
        {"timestamp": now + 1, "message": "ERROR again"}])
    deadline = time.time() + 60
    while received() != ["ERROR again", "ERROR disk full"]:
        assert time.time() < deadline, f"the subscribed function did not get the events: {received()}"
        time.sleep(0.2)

    cfn.update_stack(StackName=name, TemplateBody=LOGS_SUBSCRIBER.replace("PATTERN", "WARN"), Capabilities=caps)
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    filters = logs.describe_subscription_filters(logGroupName=group)["subscriptionFilters"]
    assert [(f["filterName"], f["filterPattern"]) for f in filters] == [
        (resources["AWS::Logs::SubscriptionFilter"]["PhysicalResourceId"], "WARN")]

    for obj in s3.list_objects_v2(Bucket=outputs["Results"]).get("Contents", []):
        s3.delete_object(Bucket=outputs["Results"], Key=obj["Key"])
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []


def test_subscription_filter_to_a_function_logs_may_not_invoke_fails_the_stack(server, cfn) -> None:
    """Without a Permission for logs.amazonaws.com, PutSubscriptionFilter refuses, as on AWS: CREATE_FAILED
    with CloudWatch Logs' message, and the stack rolls back."""
    body = {"Resources": {
        "Group": {"Type": "AWS::Logs::LogGroup"},
        "Role": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": {"Statement": []}}},
        "Fn": {"Type": "AWS::Lambda::Function", "Properties": {
            "Runtime": "python3.12", "Handler": "index.handler", "Role": {"Fn::GetAtt": ["Role", "Arn"]},
            "Code": {"ZipFile": "def handler(e, c):\n    return 1\n"}}},
        "Filter": {"Type": "AWS::Logs::SubscriptionFilter", "Properties": {
            "LogGroupName": {"Ref": "Group"}, "FilterPattern": "", "DestinationArn": {"Fn::GetAtt": ["Fn", "Arn"]}}}}}
    name = unique("logsubno")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(body), Capabilities=["CAPABILITY_IAM"])
    with pytest.raises(Exception):
        cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    reasons = {e[0]: e[2] for e in events(cfn, name) if e[1] == "CREATE_FAILED"}
    assert "Make sure you have given CloudWatch Logs permission to execute your function" in reasons["Filter"]
    assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
    cfn.delete_stack(StackName=name)


def test_malformed_outputs_policies_mappings_and_tags_are_refused_cleanly(server, cfn) -> None:
    """Malformed template parts get CloudFormation's ValidationError at ValidateTemplate and CreateStack;
    malformed Tags (checked by the resource's schema, as on AWS) fail the resource with AWS's message.
    None of it leaves a traceback in the server log."""
    start = len(server.log())
    topic = {"Type": "AWS::SNS::Topic"}
    refused = [
        ({"Resources": {"T": topic}, "Outputs": {"O": {"Value": "x", "Export": 5}}},
         "Template format error: Output O is malformed. The Name field of every Export member must be specified "
         "and consist only of alphanumeric characters, colons, or hyphens."),
        ({"Resources": {"T": topic}, "Outputs": {"O": {"Value": "x", "Export": {"Name": "has space"}}}},
         "Template format error: Output O is malformed."),
        ({"Resources": {"T": {**topic, "Properties": {"DisplayName": {"Fn::ToJsonString": 5}}}}},
         "Template format error: Fn::ToJsonString layout is incorrect"),
        ({"Resources": {"T": {**topic, "DeletionPolicy": 5}}},
         "Template format error: Every DeletionPolicy member must be a string."),
        ({"Resources": {"T": {**topic, "DeletionPolicy": "Keep"}}},
         "Template format error: Unrecognized DeletionPolicy Keep for resource T"),
        ({"Resources": {"T": {**topic, "UpdateReplacePolicy": "RetainExceptOnCreate"}}},
         "Template format error: Unrecognized UpdateReplacePolicy RetainExceptOnCreate for resource T"),
        ({"Mappings": 5, "Resources": {"T": topic}}, "Template format error: Mappings must be an object"),
        ({"Mappings": {"M": 5}, "Resources": {"T": topic}},
         "Template format error: [/Mappings/M] Every Mappings member M must be a map"),
        ({"Mappings": {"M": {"k": 5}}, "Resources": {"T": topic}},
         "Template format error: [/Mappings/M/k] Every Mappings attribute must be a map"),
    ]
    for body, message in refused:
        for call, extra in ((cfn.validate_template, {}), (cfn.create_stack, {"StackName": unique("bad")})):
            code, text, status = error_of(call, TemplateBody=json.dumps(body), **extra)
            assert (code, status) == ("ValidationError", 400) and text.startswith(message), (body, text)

    bad_tags = [(5, "#/Tags: expected type: JSONArray, found: Integer"),
                ({"a": "b"}, "#/Tags: expected type: JSONArray, found: JSONObject"),
                (["x"], "#/Tags/0: expected type: JSONObject, found: String"),
                ([{"Key": "a"}], "#/Tags/0: required key [Value] not found")]
    for tags, problem in bad_tags:
        body = {"Resources": {"T": {**topic, "Properties": {"Tags": tags}}}}
        assert cfn.validate_template(TemplateBody=json.dumps(body))  # ValidateTemplate does not check properties
        name = unique("badtags")
        cfn.create_stack(StackName=name, TemplateBody=json.dumps(body))
        with pytest.raises(Exception):
            cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
        reasons = [e[2] for e in events(cfn, name) if e[:2] == ("T", "CREATE_FAILED")]
        assert reasons == [f"Properties validation failed for resource T with message: {problem}"]
        assert cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "ROLLBACK_COMPLETE"
        cfn.delete_stack(StackName=name)
    # well-formed ones still work: a list of {Key, Value}, and ToJsonString of an object
    body = {"Resources": {"T": {**topic, "Properties": {"Tags": [{"Key": "team", "Value": 7}],
                                                       "DisplayName": {"Fn::ToJsonString": {"a": [1]}}}}}}
    name = unique("goodtags")
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(body))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    arn = cfn.describe_stack_resource(StackName=name, LogicalResourceId="T")["StackResourceDetail"]["PhysicalResourceId"]
    sns = server.client("sns")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == '{"a":[1]}'
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "7"}]
    cfn.delete_stack(StackName=name)
    assert "Traceback" not in server.log()[start:]
