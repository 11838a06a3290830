"""rest-xml (S3) requests, results and errors through a real boto3 S3 client."""
from __future__ import annotations

import datetime as dt
import io
from xml.etree import ElementTree as ET

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from proto_rig import Loopback, to_http_request

from nubis.server.errors import AwsError
from nubis.server.messages import HttpRequest
from nubis.server.protocol import load_service
from nubis.server.protocol.restxml import decode_aws_chunked

WHEN = dt.datetime(2024, 2, 3, 4, 5, 6, tzinfo=dt.timezone.utc)


@pytest.fixture(scope="module")
def s3_lb() -> Loopback:
    return Loopback("s3", s3={"addressing_style": "path"})


def test_put_object_body_metadata_and_greedy_key(s3_lb):
    key = "photos/2024/a b+c/ü.jpg"
    name, parsed = s3_lb.capture("put_object", Bucket="bkt", Key=key, Body=b"\x00binary\xff",
                                 ContentType="image/jpeg", Metadata={"owner": "me", "x-y": "z"},
                                 CacheControl="no-cache")
    assert name == "PutObject"
    assert parsed["Key"] == key and parsed["Bucket"] == "bkt"
    assert parsed["Body"] == b"\x00binary\xff"
    assert parsed["Metadata"] == {"owner": "me", "x-y": "z"}
    assert parsed["ContentType"] == "image/jpeg" and parsed["CacheControl"] == "no-cache"


def test_put_object_vs_upload_part_vs_copy(s3_lb):
    assert s3_lb.capture("upload_part", Bucket="b", Key="k", PartNumber=2, UploadId="u", Body=b"x")[1] == {
        "Bucket": "b", "Key": "k", "PartNumber": 2, "UploadId": "u", "Body": b"x", "ContentLength": 1,
        **{k: v for k, v in s3_lb.params.items() if k.startswith("Checksum")}}
    name, parsed = s3_lb.capture("copy_object", Bucket="b", Key="k", CopySource="src/dir/a b.txt")
    assert (name, parsed["CopySource"]) == ("CopyObject", "src/dir/a b.txt")
    name, parsed = s3_lb.capture("upload_part_copy", Bucket="b", Key="k", CopySource="s/k", PartNumber=1,
                                 UploadId="u")
    assert name == "UploadPartCopy"


def test_list_objects_v2_vs_list_objects(s3_lb):
    name, parsed = s3_lb.capture("list_objects_v2", Bucket="b", Prefix="p/", MaxKeys=10, StartAfter="p/a")
    assert name == "ListObjectsV2"
    assert {k: parsed[k] for k in ("Bucket", "Prefix", "MaxKeys", "StartAfter")} == {
        "Bucket": "b", "Prefix": "p/", "MaxKeys": 10, "StartAfter": "p/a"}
    assert s3_lb.capture("list_objects", Bucket="b")[0] == "ListObjects"


def test_create_bucket_xml_payload(s3_lb):
    name, parsed = s3_lb.capture("create_bucket", Bucket="b",
                                 CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert (name, parsed) == ("CreateBucket", {"Bucket": "b", "CreateBucketConfiguration": {
        "LocationConstraint": "eu-west-1"}})


def test_delete_objects_flattened_list(s3_lb):
    delete = {"Objects": [{"Key": "a"}, {"Key": "b/c", "VersionId": "v1"}], "Quiet": True}
    name, parsed = s3_lb.capture("delete_objects", Bucket="b", Delete=delete)
    assert (name, parsed["Delete"]) == ("DeleteObjects", delete)


def test_get_object_result(s3_lb):
    s3_lb.answer({"Body": b"hello", "ContentType": "text/plain", "ETag": '"abc"', "LastModified": WHEN,
                  "Metadata": {"owner": "me"}, "ContentLength": 5})
    out = s3_lb.client.get_object(Bucket="b", Key="k")
    assert out["Body"].read() == b"hello"
    assert (out["ContentType"], out["ETag"], out["LastModified"]) == ("text/plain", '"abc"', WHEN)
    assert out["Metadata"] == {"owner": "me"}
    assert s3_lb.response.header("Last-Modified") == "Sat, 03 Feb 2024 04:05:06 GMT"
    assert out["ResponseMetadata"]["RequestId"] == s3_lb.response.header("x-amz-request-id")


def test_list_objects_v2_result(s3_lb):
    s3_lb.answer({"Name": "b", "KeyCount": 2, "IsTruncated": False, "MaxKeys": 1000,
                  "Contents": [{"Key": "a", "Size": 1, "LastModified": WHEN, "ETag": '"e"'},
                               {"Key": "b&<c>", "Size": 2, "LastModified": WHEN, "StorageClass": "STANDARD"}],
                  "CommonPrefixes": [{"Prefix": "d/"}]})
    out = s3_lb.client.list_objects_v2(Bucket="b", EncodingType="url")
    assert [o["Key"] for o in out["Contents"]] == ["a", "b&<c>"]
    assert out["Contents"][0]["LastModified"] == WHEN
    assert out["CommonPrefixes"] == [{"Prefix": "d/"}]
    root = ET.fromstring(s3_lb.response.body)
    assert root.tag == "{http://s3.amazonaws.com/doc/2006-03-01/}ListBucketResult"
    assert len(root.findall("{http://s3.amazonaws.com/doc/2006-03-01/}Contents")) == 2  # flattened


def test_get_bucket_location_quirk(s3_lb):
    s3_lb.answer({"LocationConstraint": "eu-west-1"})
    assert s3_lb.client.get_bucket_location(Bucket="b")["LocationConstraint"] == "eu-west-1"


def test_acl_grantee_xml_attribute(s3_lb):
    grants = [{"Grantee": {"Type": "CanonicalUser", "ID": "abc"}, "Permission": "READ"}]
    s3_lb.answer({"Owner": {"ID": "abc"}, "Grants": grants})
    assert s3_lb.client.get_bucket_acl(Bucket="b")["Grants"] == grants
    assert b'xsi:type="CanonicalUser"' in s3_lb.response.body
    name, parsed = s3_lb.capture("put_bucket_acl", Bucket="b",
                                 AccessControlPolicy={"Grants": grants, "Owner": {"ID": "abc"}})
    assert parsed["AccessControlPolicy"] == {"Grants": grants, "Owner": {"ID": "abc"}}


def test_no_such_key_error(s3_lb):
    s3_lb.answer(AwsError("NoSuchKey", "The specified key does not exist.", 404, Key="k"))
    with pytest.raises(s3_lb.client.exceptions.NoSuchKey) as info:
        s3_lb.client.get_object(Bucket="b", Key="k")
    err = info.value.response["Error"]
    assert (err["Code"], err["Message"], err["Key"]) == ("NoSuchKey", "The specified key does not exist.", "k")
    root = ET.fromstring(s3_lb.response.body)
    assert root.tag == "Error" and root.find("RequestId") is not None


def test_head_error_has_no_body(s3_lb):
    s3_lb.answer(AwsError("NoSuchKey", "The specified key does not exist.", 404))
    with pytest.raises(ClientError) as info:
        s3_lb.client.head_object(Bucket="b", Key="k")
    assert info.value.response["Error"]["Code"] == "404"
    assert s3_lb.response.body == b""


def test_malformed_xml():
    req = HttpRequest("PUT", "/b", headers={}, body=b"<CreateBucketConfiguration><Loc")
    with pytest.raises(AwsError) as info:
        load_service("s3").parse(req)
    assert (info.value.status, info.value.code) == (400, "MalformedXML")


def test_aws_chunked_upload_over_https():
    """Over https boto3 streams uploads as aws-chunked with a trailing checksum."""
    client = boto3.client("s3", region_name="us-east-1", endpoint_url="https://localhost:1",
                          aws_access_key_id="x", aws_secret_access_key="y",
                          config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))
    seen = {}

    def hook(request, **_):
        seen["req"] = to_http_request(request)
        raise RuntimeError("captured")

    client.meta.events.register("before-send", hook)
    with pytest.raises(RuntimeError):
        client.put_object(Bucket="b", Key="k", Body=io.BytesIO(b"hello world" * 100), ContentEncoding="gzip")
    req = seen["req"]
    assert "aws-chunked" in req.headers["content-encoding"]
    op, params = load_service("s3").parse(req)
    assert params["Body"] == b"hello world" * 100
    assert params["ChecksumCRC32"] == req.body.rsplit(b"x-amz-checksum-crc32:", 1)[1].split(b"\r\n")[0].decode()
    assert params["ContentEncoding"] == "gzip"
    assert params["ContentLength"] == 1100


def test_decode_aws_chunked_signed_chunks():
    body = b"5;chunk-signature=abc\r\nhello\r\n6;chunk-signature=def\r\n world\r\n0;chunk-signature=0\r\n\r\n"
    assert decode_aws_chunked(body) == (b"hello world", {})
    with pytest.raises(ValueError):
        decode_aws_chunked(b"5\r\nhel")
