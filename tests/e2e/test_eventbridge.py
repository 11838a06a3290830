"""EventBridge end to end: rules and targets with boto3 and the AWS CLI, every error path, scheduled
rules firing real Python functions, PutEvents pattern matching, a SAM Schedule event, and schedules
surviving a restart. The server runs with NUBIS_SCHEDULE_SCALE=0.01 (a scheduled minute lasts 0.6 s):
the firing path is the real one, only the scheduler's clock runs faster."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from nubis_testing import RECORDER, create_function, recorded, start_server, stop_server, unique, wait_for

SCALE = {"NUBIS_SCHEDULE_SCALE": "0.01"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start_server(tmp_path_factory.mktemp("events") / "data", env=SCALE)
    yield s
    stop_server(s)


@pytest.fixture(scope="module")
def ev(srv):
    return srv.client("events")


def recorder(srv, out: Path) -> str:
    lam = srv.client("lambda")
    name = create_function(lam, RECORDER, Environment={"Variables": {"OUT_DIR": str(out)}})
    return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def allow_events(srv, fn_arn: str, rule_arn: str) -> None:
    srv.client("lambda").add_permission(FunctionName=fn_arn, StatementId=unique("ev"), Action="lambda:InvokeFunction",
                                        Principal="events.amazonaws.com", SourceArn=rule_arn)


def error(call, *args, **kwargs) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    r = e.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_rule_lifecycle_listing_and_tags(ev) -> None:
    prefix = unique("r")
    arns = [ev.put_rule(Name=f"{prefix}-{i}", ScheduleExpression="rate(5 minutes)", Description=f"d{i}",
                        Tags=[{"Key": "n", "Value": str(i)}])["RuleArn"] for i in range(3)]
    assert arns[0] == f"arn:aws:events:us-east-1:000000000000:rule/{prefix}-0"
    got = ev.describe_rule(Name=f"{prefix}-1")
    assert {k: got[k] for k in ("Name", "Arn", "State", "ScheduleExpression", "Description", "EventBusName")} == {
        "Name": f"{prefix}-1", "Arn": arns[1], "State": "ENABLED", "ScheduleExpression": "rate(5 minutes)",
        "Description": "d1", "EventBusName": "default"}
    page1 = ev.list_rules(NamePrefix=prefix, Limit=2)
    assert [r["Name"] for r in page1["Rules"]] == [f"{prefix}-0", f"{prefix}-1"] and page1["NextToken"]
    page2 = ev.list_rules(NamePrefix=prefix, Limit=2, NextToken=page1["NextToken"])
    assert [r["Name"] for r in page2["Rules"]] == [f"{prefix}-2"] and "NextToken" not in page2
    ev.disable_rule(Name=f"{prefix}-2")
    assert ev.describe_rule(Name=f"{prefix}-2")["State"] == "DISABLED"
    ev.enable_rule(Name=f"{prefix}-2")
    assert ev.describe_rule(Name=f"{prefix}-2")["State"] == "ENABLED"
    ev.put_rule(Name=f"{prefix}-2", EventPattern=json.dumps({"source": ["a"]}))  # PutRule updates in place
    assert ev.describe_rule(Name=f"{prefix}-2")["EventPattern"] == '{"source": ["a"]}'
    assert ev.list_tags_for_resource(ResourceARN=arns[0])["Tags"] == [{"Key": "n", "Value": "0"}]
    ev.tag_resource(ResourceARN=arns[0], Tags=[{"Key": "x", "Value": "y"}])
    ev.untag_resource(ResourceARN=arns[0], TagKeys=["n"])
    assert ev.list_tags_for_resource(ResourceARN=arns[0])["Tags"] == [{"Key": "x", "Value": "y"}]

    ev.put_targets(Rule=f"{prefix}-0", Targets=[
        {"Id": "a", "Arn": "arn:aws:lambda:us-east-1:000000000000:function:f", "Input": '{"k": 1}'},
        {"Id": "b", "Arn": "arn:aws:sqs:us-east-1:000000000000:q", "InputPath": "$.detail"}])
    assert [t["Id"] for t in ev.list_targets_by_rule(Rule=f"{prefix}-0")["Targets"]] == ["a", "b"]
    first = ev.list_targets_by_rule(Rule=f"{prefix}-0", Limit=1)
    assert [t["Id"] for t in first["Targets"]] == ["a"] and first["Targets"][0]["Input"] == '{"k": 1}'
    rest = ev.list_targets_by_rule(Rule=f"{prefix}-0", Limit=1, NextToken=first["NextToken"])
    assert [t["Id"] for t in rest["Targets"]] == ["b"] and "NextToken" not in rest
    assert ev.list_rule_names_by_target(TargetArn="arn:aws:sqs:us-east-1:000000000000:q")["RuleNames"] == [f"{prefix}-0"]
    assert error(ev.delete_rule, Name=f"{prefix}-0") == (
        "ValidationException", "Rule can't be deleted since it has targets.", 400)
    assert ev.remove_targets(Rule=f"{prefix}-0", Ids=["a", "b"])["FailedEntryCount"] == 0
    for i in range(3):
        ev.delete_rule(Name=f"{prefix}-{i}")
    ev.delete_rule(Name=f"{prefix}-0")  # an unknown rule: success, as on AWS
    assert ev.list_rules(NamePrefix=prefix)["Rules"] == []


def test_error_paths(ev) -> None:
    name = unique("bad")
    invalid = ("ValidationException", "Parameter ScheduleExpression is not valid.", 400)
    for expr in ("rate(1 minutes)", "rate(5 minute)", "rate(0 minutes)", "cron(0 12 * * * *)", "cron(0 12 * *)",
                 "cron(0 25 ? * * *)", "every day"):
        assert error(ev.put_rule, Name=name, ScheduleExpression=expr) == invalid, expr
    assert error(ev.put_rule, Name=name) == (
        "ValidationException", "Parameter(s) EventPattern or ScheduleExpression must be specified.", 400)
    code, msg, status = error(ev.put_rule, Name=name, EventPattern='{"source": "not-a-list"}')
    assert (code, status) == ("InvalidEventPatternException", 400) and msg.startswith("Event pattern is not valid. Reason: ")
    assert error(ev.put_rule, Name=name, EventPattern="{nope")[0] == "InvalidEventPatternException"
    assert error(ev.put_rule, Name="has space", ScheduleExpression="rate(1 day)")[0] == "ValidationException"
    assert error(ev.describe_rule, Name=name) == (
        "ResourceNotFoundException", f"Rule {name} does not exist on EventBus default.", 400)
    assert error(ev.enable_rule, Name=name)[0] == "ResourceNotFoundException"
    assert error(ev.list_targets_by_rule, Rule=name)[0] == "ResourceNotFoundException"
    assert error(ev.put_targets, Rule=name, Targets=[{"Id": "a", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}]) == (
        "ResourceNotFoundException", f"Rule {name} does not exist on EventBus default.", 400)
    ev.put_rule(Name=name, ScheduleExpression="rate(1 day)")
    assert error(ev.put_targets, Rule=name, Targets=[{"Id": "a", "Arn": "arn:aws:sqs:us-east-1:000000000000:q",
                                                      "Input": "{}", "InputPath": "$"}]) == (
        "ValidationException", "Only one of Input, InputPath, or InputTransformer must be provided for target a.", 400)
    assert error(ev.put_targets, Rule=name, Targets=[{"Id": "a", "Arn": "arn:aws:sqs:us-east-1:000000000000:q",
                                                      "Input": "not json"}])[0] == "ValidationException"
    assert error(ev.put_targets, Rule=name, Targets=[{"Id": str(i), "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}
                                                     for i in range(6)])[0] == "LimitExceededException"
    bus = unique("bus")
    assert error(ev.list_rules, EventBusName=bus) == ("ResourceNotFoundException", f"Event bus {bus} does not exist.", 400)
    ev.create_event_bus(Name=bus)
    assert error(ev.create_event_bus, Name=bus) == (
        "ResourceAlreadyExistsException", f"Event bus {bus} already exists.", 400)
    assert error(ev.put_rule, Name=name, EventBusName=bus, ScheduleExpression="rate(1 day)") == (
        "ValidationException", "ScheduleExpression is supported only on the default event bus.", 400)
    assert error(ev.test_event_pattern, EventPattern='{"a": ["b"]}', Event='{"a": "b"}') == (
        "ValidationException", "Parameter Event is not valid.", 400)
    assert error(ev.describe_rule, Name=name, EventBusName=bus)[0] == "ResourceNotFoundException"
    ev.delete_event_bus(Name=bus)
    ev.delete_rule(Name=name)


def test_custom_buses(ev) -> None:
    bus = unique("bus")
    arn = ev.create_event_bus(Name=bus, Description="mine")["EventBusArn"]
    assert arn == f"arn:aws:events:us-east-1:000000000000:event-bus/{bus}"
    assert ev.describe_event_bus(Name=bus)["Description"] == "mine"
    assert ev.describe_event_bus()["Name"] == "default"
    names = [b["Name"] for b in ev.list_event_buses()["EventBuses"]]
    assert "default" in names and bus in names
    rule = ev.put_rule(Name="r", EventBusName=arn, EventPattern='{"source": ["x"]}')["RuleArn"]
    assert rule == f"arn:aws:events:us-east-1:000000000000:rule/{bus}/r"
    assert [r["Name"] for r in ev.list_rules(EventBusName=bus)["Rules"]] == ["r"]
    ev.delete_event_bus(Name=bus)
    assert error(ev.describe_event_bus, Name=bus)[0] == "ResourceNotFoundException"


def test_test_event_pattern(ev) -> None:
    event = {"id": "1", "account": "000000000000", "source": "com.shop", "time": "2026-01-01T00:00:00Z",
             "region": "us-east-1", "detail-type": "Order", "resources": [], "detail": {"total": 120, "state": "NEW"}}
    ok = {"source": [{"prefix": "com."}], "detail": {"total": [{"numeric": [">", 100]}],
                                                     "state": [{"equals-ignore-case": "new"}]}}
    assert ev.test_event_pattern(EventPattern=json.dumps(ok), Event=json.dumps(event))["Result"] is True
    no = {"$or": [{"source": ["x"]}, {"detail": {"state": [{"anything-but": "NEW"}]}}]}
    assert ev.test_event_pattern(EventPattern=json.dumps(no), Event=json.dumps(event))["Result"] is False


def test_schedule_fires_a_python_function(srv, ev, tmp_path) -> None:
    out, quiet_out = tmp_path / "tick", tmp_path / "quiet"
    fn, quiet_fn = recorder(srv, out), recorder(srv, quiet_out)
    name, off = unique("tick"), unique("off")
    rule_arn = ev.put_rule(Name=name, ScheduleExpression="cron(* * * * ? *)")["RuleArn"]
    off_arn = ev.put_rule(Name=off, ScheduleExpression="rate(1 minute)", State="DISABLED")["RuleArn"]
    allow_events(srv, fn, rule_arn)
    allow_events(srv, quiet_fn, off_arn)
    ev.put_targets(Rule=off, Targets=[{"Id": "1", "Arn": quiet_fn}])
    ev.put_targets(Rule=name, Targets=[{"Id": "1", "Arn": fn}])
    got = wait_for(lambda: len(recorded(out)) >= 3 and recorded(out))
    assert got, srv.log()[-3000:]
    e = got[0]
    assert set(e) == {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
    assert (e["version"], e["detail-type"], e["source"], e["account"], e["region"], e["resources"], e["detail"]) == (
        "0", "Scheduled Event", "aws.events", "000000000000", "us-east-1", [rule_arn], {})
    assert e["time"].endswith(":00Z") and len({r["id"] for r in got}) == len(got)  # whole minutes, a new id each
    assert recorded(quiet_out) == []  # the disabled rule never fired while the other fired three times
    # a function whose policy does not let events.amazonaws.com invoke it is not invoked (logged, as a
    # FailedInvocation would be on AWS)
    denied_out = tmp_path / "denied"
    denied = recorder(srv, denied_out)
    ev.put_targets(Rule=name, Targets=[{"Id": "denied", "Arn": denied}])
    assert wait_for(lambda: "could not deliver" in srv.log() and denied in srv.log().split("could not deliver", 1)[1])
    ev.remove_targets(Rule=name, Ids=["denied"])
    assert recorded(denied_out) == []
    ev.disable_rule(Name=name)
    ev.remove_targets(Rule=name, Ids=["1"])
    ev.remove_targets(Rule=off, Ids=["1"])
    ev.delete_rule(Name=name)
    ev.delete_rule(Name=off)


def test_put_events_match_patterns_and_transform(srv, ev, tmp_path) -> None:
    out = tmp_path / "orders"
    fn = recorder(srv, out)
    name = unique("orders")
    pattern = {"source": ["com.shop"], "detail-type": ["Order Placed"], "detail": {"total": [{"numeric": [">=", 100]}]}}
    rule_arn = ev.put_rule(Name=name, EventPattern=json.dumps(pattern))["RuleArn"]
    allow_events(srv, fn, rule_arn)
    ev.put_targets(Rule=name, Targets=[
        {"Id": "whole", "Arn": fn},
        {"Id": "shaped", "Arn": fn, "InputTransformer": {
            "InputPathsMap": {"total": "$.detail.total", "who": "$.detail.customer"},
            "InputTemplate": '{"summary": "<who> spent <total>", "total": <total>, "rule": "<aws.events.rule-name>"}'}}])
    resp = ev.put_events(Entries=[
        {"Source": "com.shop", "DetailType": "Order Placed", "Detail": json.dumps({"total": 150, "customer": "ann"})},
        {"Source": "com.shop", "DetailType": "Order Placed", "Detail": json.dumps({"total": 5, "customer": "bob"})},
        {"Source": "com.shop", "DetailType": "Order Placed"},
        {"Source": "com.shop", "DetailType": "Order Placed", "Detail": "[1"},
    ])
    assert resp["FailedEntryCount"] == 2
    assert "EventId" in resp["Entries"][0] and "EventId" in resp["Entries"][1]
    assert resp["Entries"][2] == {"ErrorCode": "InvalidArgument",
                                  "ErrorMessage": "Parameter Detail is not valid. Reason: Detail is a required argument."}
    assert resp["Entries"][3] == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    got = wait_for(lambda: len(recorded(out)) >= 2 and recorded(out))
    whole = next(r for r in got if "detail" in r)
    shaped = next(r for r in got if "summary" in r)
    assert whole["id"] == resp["Entries"][0]["EventId"] and whole["detail"] == {"total": 150, "customer": "ann"}
    assert whole["source"] == "com.shop" and whole["detail-type"] == "Order Placed"
    assert shaped == {"summary": "ann spent 150", "total": 150, "rule": name}
    # the unmatched event (total 5) reached nobody: the same two records after a later matching event
    ev.put_events(Entries=[{"Source": "com.shop", "DetailType": "Order Placed", "Detail": '{"total": 100}'}])
    assert wait_for(lambda: len(recorded(out)) >= 4)
    assert all(r.get("detail", {}).get("total", r.get("total")) in (150, 100) for r in recorded(out))


def test_sqs_target_and_aws_cli(srv, ev, tmp_path) -> None:
    sqs = srv.client("sqs")
    url = sqs.create_queue(QueueName=unique("q"))["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    name = unique("cli")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"))
    aws = [sys.executable, str(Path(sys.executable).parent / "aws"), "--endpoint-url", srv.endpoint, "--output", "json"]
    proc = subprocess.run([*aws, "events", "put-rule", "--name", name, "--event-pattern", '{"source": ["cli"]}'],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["RuleArn"].endswith(f":rule/{name}")
    bad = subprocess.run([*aws, "events", "put-rule", "--name", name, "--schedule-expression", "rate(2 minute)"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 255 and "Parameter ScheduleExpression is not valid." in bad.stderr
    ev.put_targets(Rule=name, Targets=[{"Id": "q", "Arn": qarn, "InputPath": "$.detail"}])
    ev.put_events(Entries=[{"Source": "cli", "DetailType": "t", "Detail": '{"hello": "queue"}'}])
    msgs = wait_for(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages"))
    assert json.loads(msgs[0]["Body"]) == {"hello": "queue"}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"])

    # a rule on a custom bus sees only that bus's events (PutEvents delivers before it answers)
    bus = unique("bus")
    ev.create_event_bus(Name=bus)
    ev.put_rule(Name="on-bus", EventBusName=bus, EventPattern='{"source": ["cli"]}')
    ev.put_targets(Rule="on-bus", EventBusName=bus, Targets=[{"Id": "q", "Arn": qarn}])
    ev.remove_targets(Rule=name, Ids=["q"])
    when = datetime(2026, 5, 4, 3, 2, 1, tzinfo=timezone.utc)
    resp = ev.put_events(Entries=[
        {"Source": "cli", "DetailType": "t", "Detail": '{"bus": "default"}'},
        {"Source": "cli", "DetailType": "t", "Detail": '{"bus": "custom"}', "EventBusName": bus, "Time": when},
        {"Source": "cli", "DetailType": "t", "Detail": '{}', "EventBusName": "no-such-bus"}])
    assert resp["FailedEntryCount"] == 1 and resp["Entries"][2] == {
        "ErrorCode": "ResourceNotFoundException", "ErrorMessage": "Event bus no-such-bus does not exist."}
    msgs = wait_for(lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages"))
    event = json.loads(msgs[0]["Body"])
    assert event["detail"] == {"bus": "custom"} and event["time"] == "2026-05-04T03:02:01Z"
    assert event["id"] == resp["Entries"][1]["EventId"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msgs[0]["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)


SAM = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Ticker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: index.handler
      InlineCode: |
        import json, os, uuid
        def handler(event, context):
            path = os.path.join("OUT", uuid.uuid4().hex)
            with open(path + ".tmp", "w") as f:
                json.dump(event, f)
            os.rename(path + ".tmp", path)
      Events:
        Tick:
          Type: Schedule
          Properties: {Schedule: rate(1 minute)}
Outputs:
  Rule:
    Value: !GetAtt TickerTick.Arn
"""


def test_sam_schedule_event_deploys_and_fires(srv, tmp_path) -> None:
    from nubis_testing import writable_by_functions
    out = tmp_path / "sam"
    writable_by_functions(out)
    cfn = srv.client("cloudformation")
    stack = unique("sched")
    cfn.create_stack(StackName=stack, TemplateBody=SAM.replace("OUT", str(out)),
                     Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"])
    cfn.get_waiter("stack_create_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    rule_arn = cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"][0]["OutputValue"]
    got = wait_for(lambda: recorded(out))
    assert got and got[0]["resources"] == [rule_arn] and got[0]["detail-type"] == "Scheduled Event", srv.log()[-3000:]
    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    rule_name = rule_arn.rsplit("/", 1)[1]
    assert error(srv.client("events").describe_rule, Name=rule_name)[0] == "ResourceNotFoundException"


def test_schedules_survive_a_restart(tmp_path) -> None:
    s = start_server(tmp_path / "data", env=SCALE)
    try:
        out = tmp_path / "after"
        fn = recorder(s, out)
        ev = s.client("events")
        rule_arn = ev.put_rule(Name="durable", ScheduleExpression="rate(1 minute)", State="DISABLED")["RuleArn"]
        allow_events(s, fn, rule_arn)
        ev.put_targets(Rule="durable", Targets=[{"Id": "1", "Arn": fn, "Input": '{"from": "constant"}'}])
        ev.enable_rule(Name="durable")
    finally:
        stop_server(s)
    s = start_server(tmp_path / "data", env=SCALE)
    try:
        got = wait_for(lambda: recorded(out))
        assert got and got[0] == {"from": "constant"}, s.log()[-3000:]
        assert s.client("events").describe_rule(Name="durable")["State"] == "ENABLED"
    finally:
        stop_server(s)
