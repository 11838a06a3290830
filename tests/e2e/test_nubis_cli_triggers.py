"""`nubis ls` TRIGGERS against a real server: buckets, SQS event source mappings (with a disabled one's
state), SNS subscriptions and API Gateway routes (HTTP and REST) that invoke a function, in the table and
in `--json`. Each source is made with boto3, as a user would, in an account of the test's own."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from apigw_testing import allow_apigw, invocation_uri
from nubis_testing import create_function, unique, wait_for

ACCOUNT = "414141414141"  # ls lists the caller's account: a fresh one holds only this test's functions
CODE = "def handler(event, context):\n    return event\n"


def nubis_ls(server, *extra: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "NUBIS_"))}
    env.update(AWS_ACCESS_KEY_ID=ACCOUNT, AWS_SECRET_ACCESS_KEY="x")
    proc = subprocess.run([sys.executable, "-m", "nubis", "ls", *extra, "--endpoint", server.endpoint],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_ls_shows_every_kind_of_trigger(server):
    lam, s3, sqs, sns = (server.client(s, account=ACCOUNT) for s in ("lambda", "s3", "sqs", "sns"))
    gw, apigw = server.client("apigatewayv2", account=ACCOUNT), server.client("apigateway", account=ACCOUNT)
    busy, quiet = create_function(lam, CODE), create_function(lam, CODE)
    arn = lam.get_function(FunctionName=busy)["Configuration"]["FunctionArn"]

    bucket = unique("trig")
    s3.create_bucket(Bucket=bucket)
    lam.add_permission(FunctionName=busy, StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{bucket}")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]})

    queues = [unique("jobs"), unique("paused")]
    mappings = []
    for name in queues:
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        mappings.append(lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=busy,
                                                        Enabled=name.startswith("jobs"))["UUID"])
    for ident, want in zip(mappings, ("Enabled", "Disabled")):
        assert wait_for(lambda: lam.get_event_source_mapping(UUID=ident)["State"] == want), want

    topic = unique("news")
    topic_arn = sns.create_topic(Name=topic)["TopicArn"]
    lam.add_permission(FunctionName=busy, StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic_arn)
    sns.subscribe(TopicArn=topic_arn, Protocol="lambda", Endpoint=arn)

    http_api = gw.create_api(Name="trig", ProtocolType="HTTP", Target=arn)["ApiId"]
    gw.create_api(Name="unrouted", ProtocolType="HTTP")  # no route to the function: not a trigger
    rest_api = apigw.create_rest_api(name="trig")["id"]
    root = apigw.get_resources(restApiId=rest_api)["items"][0]["id"]
    apigw.put_method(restApiId=rest_api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apigw.put_integration(restApiId=rest_api, resourceId=root, httpMethod="GET", type="AWS_PROXY",
                          integrationHttpMethod="POST", uri=invocation_uri(arn))
    allow_apigw(lam, busy, source=f"arn:aws:execute-api:us-east-1:{ACCOUNT}:*")

    want = [f"s3:{bucket}", f"sqs:{queues[0]}", f"sqs:{queues[1]} (Disabled)", f"sns:{topic}",
            f"api:{http_api}", f"api:{rest_api}"]
    doc = json.loads(nubis_ls(server, "--json"))
    triggers = {f["FunctionName"]: f["Triggers"] for f in doc["Functions"]}
    assert triggers == {busy: want, quiet: []}
    rows = {line.split()[0]: line for line in nubis_ls(server).splitlines()[1:]}
    assert rows[busy].endswith("Active  " + ", ".join(want))
    assert rows[quiet].endswith("Active  -")

    # A mapping's state follows it; a removed source drops out.
    lam.update_event_source_mapping(UUID=mappings[1], Enabled=True)
    assert wait_for(lambda: lam.get_event_source_mapping(UUID=mappings[1])["State"] == "Enabled")
    sns.unsubscribe(SubscriptionArn=sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"][0]
                    ["SubscriptionArn"])
    gw.delete_api(ApiId=http_api)
    doc = json.loads(nubis_ls(server, "--json"))
    assert [f["Triggers"] for f in doc["Functions"] if f["FunctionName"] == busy] == \
        [[f"s3:{bucket}", f"sqs:{queues[0]}", f"sqs:{queues[1]}", f"api:{rest_api}"]]
