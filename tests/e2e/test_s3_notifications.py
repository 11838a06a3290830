"""S3 event notifications to Lambda: configuration validated as S3 does, S3's event record delivered
through the durable async invoke queue, and the Lambda <-> S3 integration (code packages in S3, boto3
inside a function)."""
from __future__ import annotations

import json
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

from nubis_testing import RECORDER, ROLE, create_function, make_zip, unique, wait_for

DEADLINE_S = 90

@pytest.fixture(scope="module")
def s3(server):
    return server.client("s3")


def records(out: Path) -> list[dict]:
    found = []
    for p in sorted(out.glob("*.json")):
        found += json.loads(p.read_text())["Records"]
    return found


def recorder(lam, out: Path, bucket: str, allow: bool = True) -> str:
    name = create_function(lam, RECORDER, Environment={"Variables": {"OUT_DIR": str(out)}})
    if allow:
        lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{bucket}")
    return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def lambda_config(arn: str, events: list[str], prefix: str = "", suffix: str = "", ident: str | None = None) -> dict:
    cfg: dict = {"LambdaFunctionArn": arn, "Events": events}
    rules = [{"Name": n, "Value": v} for n, v in (("prefix", prefix), ("suffix", suffix)) if v]
    if rules:
        cfg["Filter"] = {"Key": {"FilterRules": rules}}
    if ident:
        cfg["Id"] = ident
    return cfg


def test_configuration_is_validated(s3, lam, tmp_path):
    bucket = unique("nv")
    s3.create_bucket(Bucket=bucket)
    arn = recorder(lam, tmp_path, bucket, allow=False)

    with pytest.raises(ClientError) as info:  # no resource policy for s3.amazonaws.com
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "LambdaFunctionConfigurations": [lambda_config(arn, ["s3:ObjectCreated:*"])]})
    err = info.value.response["Error"]
    assert (err["Code"], err["Message"]) == ("InvalidArgument",
                                             "Unable to validate the following destination configurations")
    assert err["ArgumentName1"] == f"{arn}, null"
    assert err["ArgumentValue1"] == f"Not authorized to invoke function [{arn}]"

    name = arn.rsplit(":", 1)[1]
    lam.add_permission(FunctionName=name, StatementId="other", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::some-other-bucket")
    with pytest.raises(ClientError) as info:  # a policy for another bucket does not count
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "LambdaFunctionConfigurations": [lambda_config(arn, ["s3:ObjectCreated:*"], ident="mine")]})
    assert info.value.response["Error"]["ArgumentName1"] == f"{arn}, mine"

    missing = arn.replace(name, "no-such-function")
    with pytest.raises(ClientError) as info:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "LambdaFunctionConfigurations": [lambda_config(missing, ["s3:ObjectCreated:*"])]})
    assert info.value.response["Error"]["ArgumentValue1"] == f"Not authorized to invoke function [{missing}]"

    lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn=f"arn:aws:s3:::{bucket}")
    for bad, message in ((["s3:ObjectCreated:Nope"], "The event is not supported for notifications"),):
        with pytest.raises(ClientError) as info:
            s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
                "LambdaFunctionConfigurations": [lambda_config(arn, bad)]})
        assert (info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]) == (
            "InvalidArgument", message)
    with pytest.raises(ClientError) as info:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"],
                                              "Filter": {"Key": {"FilterRules": [{"Name": "middle", "Value": "x"}]}}}]})
    assert info.value.response["Error"]["Message"] == "filter rule name must be either prefix or suffix"
    with pytest.raises(ClientError) as info:  # same event type, overlapping prefixes
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "LambdaFunctionConfigurations": [lambda_config(arn, ["s3:ObjectCreated:*"], prefix="a/"),
                                             lambda_config(arn, ["s3:ObjectCreated:Put"], prefix="a/b/")]})
    assert info.value.response["Error"]["Message"].startswith("Configurations overlap.")
    with pytest.raises(ClientError) as info:  # nubis has no SQS yet: S3 cannot validate a queue
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": "arn:aws:sqs:us-east-1:000000000000:q",
                                     "Events": ["s3:ObjectCreated:*"]}]})
    assert info.value.response["Error"]["ArgumentValue1"] == "The destination queue does not exist"

    # disjoint filters on the same events are fine; skipping validation stores anything well-formed
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [lambda_config(arn, ["s3:ObjectCreated:*"], prefix="a/"),
                                         lambda_config(arn, ["s3:ObjectCreated:*"], prefix="b/", ident="b-only")]})
    got = s3.get_bucket_notification_configuration(Bucket=bucket)["LambdaFunctionConfigurations"]
    assert [c["Filter"]["Key"]["FilterRules"] for c in got] == [[{"Name": "prefix", "Value": "a/"}],
                                                                [{"Name": "prefix", "Value": "b/"}]]
    assert got[0]["Id"] and got[1]["Id"] == "b-only"
    s3.put_bucket_notification_configuration(Bucket=bucket, SkipDestinationValidation=True,
                                              NotificationConfiguration={"LambdaFunctionConfigurations": [
                                                  lambda_config(missing, ["s3:ObjectRemoved:*"])]})
    assert s3.get_bucket_notification_configuration(Bucket=bucket)["LambdaFunctionConfigurations"][0][
        "LambdaFunctionArn"] == missing
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(Bucket=bucket)


def test_queue_and_topic_destinations_fail_as_s3_does(s3, lam, tmp_path):
    """A queue or topic that does not exist: S3 refuses such a configuration with
    InvalidArgument listing each destination it could not validate, and keeps the previous one."""
    bucket = unique("nq")
    s3.create_bucket(Bucket=bucket)
    arn = recorder(lam, tmp_path, bucket)
    kept = {"LambdaFunctionConfigurations": [lambda_config(arn, ["s3:ObjectRemoved:*"], ident="kept")]}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=kept)
    queue, topic = "arn:aws:sqs:us-east-1:000000000000:uploads", "arn:aws:sns:us-east-1:000000000000:uploads"
    for conf, expected in (
        ({"TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectCreated:*"]}]},
         [(topic, "The destination topic does not exist")]),
        ({"QueueConfigurations": [{"QueueArn": queue, "Events": ["s3:ObjectCreated:Put"]}],
          "TopicConfigurations": [{"TopicArn": topic, "Events": ["s3:ObjectRemoved:*"]}],
          "LambdaFunctionConfigurations": [lambda_config(arn, ["s3:ObjectCreated:Copy"])]},
         [(queue, "The destination queue does not exist"), (topic, "The destination topic does not exist")]),
    ):
        with pytest.raises(ClientError) as info:
            s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=conf)
        err = info.value.response["Error"]
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert (err["Code"], err["Message"]) == ("InvalidArgument",
                                                 "Unable to validate the following destination configurations")
        got = [(err[f"ArgumentName{i}"], err[f"ArgumentValue{i}"]) for i in range(1, len(expected) + 1)]
        assert got == expected and f"ArgumentName{len(expected) + 1}" not in err
        current = s3.get_bucket_notification_configuration(Bucket=bucket)
        assert "QueueConfigurations" not in current and "TopicConfigurations" not in current
        assert current["LambdaFunctionConfigurations"][0]["Id"] == "kept"
    with pytest.raises(ClientError) as info:  # an ARN of the wrong service is refused before any lookup
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": topic, "Events": ["s3:ObjectCreated:*"]}]})
    err = info.value.response["Error"]
    assert (err["Message"], err["ArgumentName"], err["ArgumentValue"]) == ("The ARN could not be parsed", "Queue",
                                                                           topic)
    # x-amz-skip-destination-validation stores it, as S3 does (events for a missing queue are dropped)
    s3.put_bucket_notification_configuration(Bucket=bucket, SkipDestinationValidation=True, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": queue, "Events": ["s3:ObjectCreated:*"], "Id": "q"}]})
    assert s3.get_bucket_notification_configuration(Bucket=bucket)["QueueConfigurations"] == [
        {"Id": "q", "QueueArn": queue, "Events": ["s3:ObjectCreated:*"]}]


def test_events_are_delivered_as_s3_records(s3, lam, tmp_path):
    bucket = unique("ne")
    s3.create_bucket(Bucket=bucket)
    created, removed = tmp_path / "created", tmp_path / "removed"
    created.mkdir()
    removed.mkdir()
    arn_c, arn_r = recorder(lam, created, bucket), recorder(lam, removed, bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [
            lambda_config(arn_c, ["s3:ObjectCreated:*"], prefix="in/", suffix=".jpg", ident="created-jpg"),
            lambda_config(arn_r, ["s3:ObjectRemoved:*"], ident="removed")]})

    s3.put_object(Bucket=bucket, Key="in/my photo+1.jpg", Body=b"jpeg bytes")
    s3.put_object(Bucket=bucket, Key="in/skip.png", Body=b"png")  # suffix does not match
    s3.put_object(Bucket=bucket, Key="out/skip.jpg", Body=b"jpg")  # prefix does not match
    s3.copy_object(Bucket=bucket, Key="in/copy.jpg", CopySource={"Bucket": bucket, "Key": "in/my photo+1.jpg"})
    uid = s3.create_multipart_upload(Bucket=bucket, Key="in/multi.jpg")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="in/multi.jpg", UploadId=uid, PartNumber=1, Body=b"mp")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="in/multi.jpg", UploadId=uid,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    s3.delete_object(Bucket=bucket, Key="in/skip.png")
    form = s3.generate_presigned_post(bucket, "in/${filename}", ExpiresIn=300)
    boundary = uuid.uuid4().hex
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                   for k, v in form["fields"].items())
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="posted.jpg"\r\n\r\n'
             f"form bytes\r\n--{boundary}--\r\n")
    urllib.request.urlopen(urllib.request.Request(
        form["url"], data=body.encode(), method="POST",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})).read()

    got = wait_for(lambda: len(records(created)) >= 4 and records(created))
    names = sorted((r["eventName"], unquote_plus(r["s3"]["object"]["key"])) for r in got)
    assert names == [("ObjectCreated:CompleteMultipartUpload", "in/multi.jpg"), ("ObjectCreated:Copy", "in/copy.jpg"),
                     ("ObjectCreated:Post", "in/posted.jpg"), ("ObjectCreated:Put", "in/my photo+1.jpg")]
    put = next(r for r in got if r["eventName"] == "ObjectCreated:Put")
    assert put["eventVersion"] == "2.1" and put["eventSource"] == "aws:s3" and put["awsRegion"] == "us-east-1"
    assert put["eventTime"].endswith("Z") and put["userIdentity"]["principalId"]
    assert put["requestParameters"]["sourceIPAddress"] == "127.0.0.1"
    assert put["responseElements"]["x-amz-request-id"]
    s3rec = put["s3"]
    assert s3rec["s3SchemaVersion"] == "1.0" and s3rec["configurationId"] == "created-jpg"
    assert s3rec["bucket"]["name"] == bucket and s3rec["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    assert s3rec["object"]["key"] == "in/my+photo%2B1.jpg"  # URL-encoded, space as '+'
    assert s3rec["object"]["size"] == len(b"jpeg bytes")
    assert s3rec["object"]["eTag"] == s3.head_object(Bucket=bucket, Key="in/my photo+1.jpg")["ETag"].strip('"')
    assert len(s3rec["object"]["sequencer"]) >= 16

    gone = wait_for(lambda: records(removed))
    assert [(r["eventName"], r["s3"]["object"]["key"]) for r in gone] == [("ObjectRemoved:Delete", "in/skip.png")]
    assert "size" not in gone[0]["s3"]["object"] and gone[0]["s3"]["configurationId"] == "removed"
    time.sleep(0.5)  # nothing else trickles in for the keys that did not match
    assert len(records(created)) == 4 and len(records(removed)) == 1


def test_versioned_bucket_events_carry_version_ids(s3, lam, tmp_path):
    bucket = unique("nvv")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    arn = recorder(lam, tmp_path, bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={
        "LambdaFunctionConfigurations": [lambda_config(arn, ["s3:ObjectCreated:Put", "s3:ObjectRemoved:*"])]})
    vid = s3.put_object(Bucket=bucket, Key="k", Body=b"v")["VersionId"]
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    got = wait_for(lambda: len(records(tmp_path)) >= 2 and records(tmp_path))
    by_name = {r["eventName"]: r["s3"]["object"] for r in got}
    assert by_name["ObjectCreated:Put"]["versionId"] == vid
    assert by_name["ObjectRemoved:DeleteMarkerCreated"]["versionId"] == marker
    seqs = [by_name["ObjectCreated:Put"]["sequencer"], by_name["ObjectRemoved:DeleteMarkerCreated"]["sequencer"]]
    assert seqs[0] < seqs[1]  # sequencers order events on the same key


# -- Lambda integration ---------------------------------------------------------------------------------------

def test_function_code_from_s3(s3, lam):
    bucket = unique("code")
    s3.create_bucket(Bucket=bucket)
    v1 = make_zip({"app.py": "def handler(event, context):\n    return 'from s3 v1'\n"})
    v2 = make_zip({"app.py": "def handler(event, context):\n    return 'from s3 v2'\n"})
    s3.put_object(Bucket=bucket, Key="pkg/fn.zip", Body=v1)
    name = unique("s3code")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="app.handler",
                        Code={"S3Bucket": bucket, "S3Key": "pkg/fn.zip"})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    assert lam.invoke(FunctionName=name)["Payload"].read() == b'"from s3 v1"'
    s3.put_object(Bucket=bucket, Key="pkg/fn2.zip", Body=v2)
    lam.update_function_code(FunctionName=name, S3Bucket=bucket, S3Key="pkg/fn2.zip")
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300})
    assert lam.invoke(FunctionName=name)["Payload"].read() == b'"from s3 v2"'

    for code, s3_code, s3_message in (
            ({"S3Bucket": bucket, "S3Key": "missing.zip"}, "NoSuchKey", "The specified key does not exist."),
            ({"S3Bucket": unique("nobucket"), "S3Key": "x.zip"}, "NoSuchBucket", "The specified bucket does not exist")):
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as info:
            lam.create_function(FunctionName=unique("bad"), Runtime="python3.12", Role=ROLE, Handler="app.handler",
                                Code=code)
        assert info.value.response["Error"]["Message"] == (
            f"Error occurred while GetObject. S3 Error Code: {s3_code}. S3 Error Message: {s3_message}")


def test_layer_from_s3(s3, lam):
    bucket = unique("layer")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="layer.zip", Body=make_zip({"python/shared_thing.py": "VALUE = 42\n"}))
    layer = lam.publish_layer_version(LayerName=unique("lyr"), Content={"S3Bucket": bucket, "S3Key": "layer.zip"},
                                      CompatibleRuntimes=["python3.12"])
    assert layer["Version"] == 1 and layer["Content"]["CodeSize"] > 0


def test_boto3_inside_a_function_reaches_s3(s3, lam):
    bucket = unique("inside")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="in.txt", Body=b"hello from the test")
    code = """
import boto3


def handler(event, context):
    s3 = boto3.client("s3")  # AWS_ENDPOINT_URL and credentials come from nubis
    body = s3.get_object(Bucket=event["bucket"], Key="in.txt")["Body"].read()
    s3.put_object(Bucket=event["bucket"], Key="out.txt", Body=body.upper())
    return [o["Key"] for o in s3.list_objects_v2(Bucket=event["bucket"])["Contents"]]
"""
    name = create_function(lam, code, Timeout=60)
    out = lam.invoke(FunctionName=name, Payload=json.dumps({"bucket": bucket}))
    assert "FunctionError" not in out, out["Payload"].read()
    assert json.loads(out["Payload"].read()) == ["in.txt", "out.txt"]
    assert s3.get_object(Bucket=bucket, Key="out.txt")["Body"].read() == b"HELLO FROM THE TEST"


def queue_messages(sqs, url: str, want: int) -> list[dict]:
    got: list[dict] = []
    deadline = time.time() + DEADLINE_S
    while len(got) < want and time.time() < deadline:
        for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", []):
            got.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def test_queue_notifications(s3, server):
    sqs = server.client("sqs")
    bucket = unique("sq")
    s3.create_bucket(Bucket=bucket)
    url = sqs.create_queue(QueueName=unique("events"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": [
        {"Id": "uploads", "QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:Delete"],
         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}}}]})
    [test_event] = queue_messages(sqs, url, 1)  # S3 announces the configuration to the queue
    assert (test_event["Service"], test_event["Event"], test_event["Bucket"]) == ("Amazon S3", "s3:TestEvent", bucket)
    assert test_event["Time"].endswith("Z") and test_event["RequestId"]

    s3.put_object(Bucket=bucket, Key="out/ignored.txt", Body=b"no")
    s3.put_object(Bucket=bucket, Key="in/hello world.txt", Body=b"hello")
    s3.delete_object(Bucket=bucket, Key="in/hello world.txt")
    events = queue_messages(sqs, url, 2)
    recs = [r for e in events for r in e["Records"]]
    assert [r["eventName"] for r in recs] == ["ObjectCreated:Put", "ObjectRemoved:Delete"]
    created = recs[0]
    assert (created["eventSource"], created["eventVersion"], created["awsRegion"]) == ("aws:s3", "2.1", "us-east-1")
    assert created["s3"]["configurationId"] == "uploads" and created["s3"]["bucket"]["name"] == bucket
    assert created["s3"]["bucket"]["arn"] == f"arn:aws:s3:::{bucket}"
    assert unquote_plus(created["s3"]["object"]["key"]) == "in/hello world.txt"
    assert created["s3"]["object"]["size"] == 5
    assert created["s3"]["object"]["eTag"] == "5d41402abc4b2a76b9719d911017c592"
    assert queue_messages(sqs, url, 1) == []  # nothing for the key outside the prefix
