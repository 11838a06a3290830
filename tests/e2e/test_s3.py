"""S3 through boto3 against a real nubis server: buckets, objects, errors, listings, copies, tagging,
versioning, presigned URLs and virtual-hosted addressing."""
from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import socket
import time
import urllib.error
import urllib.request
import uuid
from xml.etree import ElementTree as ET

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError


def unique(prefix: str = "bkt") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def s3(server):
    return server.client("s3")


@pytest.fixture()
def bucket(s3):
    name = unique()
    s3.create_bucket(Bucket=name)
    return name


def code_of(info) -> str:
    return info.value.response["Error"]["Code"]


def status_of(info) -> int:
    return info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def raw(server, method: str, path: str, body: bytes = b"", headers: dict | None = None):
    host, port = server.endpoint.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    auth = {"Authorization": "AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/s3/aws4_request, "
                             "SignedHeaders=host, Signature=00"}
    conn.request(method, path, body=body, headers={**auth, **(headers or {})})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


# -- buckets ----------------------------------------------------------------------------------------------

def test_bucket_create_head_list_delete(s3):
    name = unique()
    out = s3.create_bucket(Bucket=name)
    assert out["Location"] == f"/{name}"
    assert s3.head_bucket(Bucket=name)["BucketRegion"] == "us-east-1"
    assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_bucket_location(Bucket=name)["LocationConstraint"] is None
    # us-east-1 keeps S3's legacy answer for re-creating your own bucket: 200
    s3.create_bucket(Bucket=name)
    s3.delete_bucket(Bucket=name)
    with pytest.raises(ClientError) as info:
        s3.head_bucket(Bucket=name)
    assert code_of(info) == "404"
    with pytest.raises(s3.exceptions.NoSuchBucket) as info:
        s3.list_objects_v2(Bucket=name)
    assert info.value.response["Error"]["BucketName"] == name
    assert status_of(info) == 404


def test_bucket_already_owned_by_you_outside_us_east_1(server):
    s3w = boto3.client(
        "s3", endpoint_url=server.endpoint, region_name="eu-west-1", aws_access_key_id="test",
        aws_secret_access_key="test", config=Config(retries={"max_attempts": 0}))
    name = unique()
    s3w.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert s3w.get_bucket_location(Bucket=name)["LocationConstraint"] == "eu-west-1"
    with pytest.raises(s3w.exceptions.BucketAlreadyOwnedByYou) as info:
        s3w.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert status_of(info) == 409
    with pytest.raises(ClientError) as info:
        s3w.create_bucket(Bucket=unique())  # no LocationConstraint outside us-east-1
    assert code_of(info) == "IllegalLocationConstraintException"
    for bad in ("us-east-1", "moon-1"):  # us-east-1 is never a LocationConstraint; moon-1 is no region
        with pytest.raises(ClientError) as info:
            server.client("s3").create_bucket(Bucket=unique(), CreateBucketConfiguration={"LocationConstraint": bad})
        assert (code_of(info), info.value.response["Error"]["Message"]) == (
            "InvalidLocationConstraint", "The specified location-constraint is not valid")


def test_bucket_names_are_global_across_accounts(server):
    a, b = server.client("s3", account="111111111111"), server.client("s3", account="222222222222")
    name = unique()
    a.create_bucket(Bucket=name)
    with pytest.raises(b.exceptions.BucketAlreadyExists) as info:
        b.create_bucket(Bucket=name)
    assert status_of(info) == 409
    with pytest.raises(ClientError) as info:
        b.put_object(Bucket=name, Key="k", Body=b"x")
    assert code_of(info) == "AccessDenied" and status_of(info) == 403
    assert name not in [x["Name"] for x in b.list_buckets()["Buckets"]]
    assert name in [x["Name"] for x in a.list_buckets()["Buckets"]]


@pytest.mark.parametrize("name", ["ab", "UpperCase", "has_underscore", "-starts-with-dash", "ends-with-dash-",
                                  "two..dots", "192.168.1.1", "xn--punycode", "a" * 64])
def test_invalid_bucket_names(s3, name):
    with pytest.raises(ClientError) as info:
        s3.create_bucket(Bucket=name)
    assert code_of(info) == "InvalidBucketName" and status_of(info) == 400


def test_bucket_not_empty(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ClientError) as info:
        s3.delete_bucket(Bucket=bucket)
    assert code_of(info) == "BucketNotEmpty" and status_of(info) == 409
    s3.delete_object(Bucket=bucket, Key="k")
    s3.delete_bucket(Bucket=bucket)


# -- objects ----------------------------------------------------------------------------------------------

def test_put_get_head_with_metadata(s3, bucket):
    body = b"\x00binary\xffdata" * 100
    put = s3.put_object(Bucket=bucket, Key="dir/a b+c ü.bin", Body=body, ContentType="application/x-test",
                        Metadata={"Owner": "me", "x-y": "z"}, CacheControl="no-cache",
                        ContentDisposition="attachment", ContentLanguage="en")
    etag = f'"{hashlib.md5(body).hexdigest()}"'
    assert put["ETag"] == etag
    got = s3.get_object(Bucket=bucket, Key="dir/a b+c ü.bin")
    assert got["Body"].read() == body
    assert (got["ETag"], got["ContentType"], got["ContentLength"]) == (etag, "application/x-test", len(body))
    assert got["Metadata"] == {"owner": "me", "x-y": "z"}
    assert (got["CacheControl"], got["ContentDisposition"], got["ContentLanguage"]) == ("no-cache", "attachment", "en")
    assert got["AcceptRanges"] == "bytes"
    assert abs((got["LastModified"] - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 600
    head = s3.head_object(Bucket=bucket, Key="dir/a b+c ü.bin")
    assert (head["ETag"], head["ContentLength"], head["Metadata"]) == (etag, len(body), {"owner": "me", "x-y": "z"})


def test_default_content_type_and_empty_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b""
    assert got["ContentType"] == "binary/octet-stream"
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'


def test_overwrite_replaces_object(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"one")
    s3.put_object(Bucket=bucket, Key="k", Body=b"two", Metadata={"v": "2"})
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"two" and got["Metadata"] == {"v": "2"}


def test_no_such_key_error_document(server, s3, bucket):
    with pytest.raises(s3.exceptions.NoSuchKey) as info:
        s3.get_object(Bucket=bucket, Key="missing/key")
    err = info.value.response["Error"]
    assert (err["Code"], err["Message"], err["Key"]) == ("NoSuchKey", "The specified key does not exist.",
                                                         "missing/key")
    resp, data = raw(server, "GET", f"/{bucket}/missing")
    assert resp.status == 404
    root = ET.fromstring(data)
    assert root.tag == "Error"
    assert [c.tag for c in root] == ["Code", "Message", "Key", "RequestId"]
    assert root.findtext("RequestId") == resp.getheader("x-amz-request-id")
    assert len(root.findtext("RequestId")) == 16
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="missing")
    assert code_of(info) == "404"
    resp, data = raw(server, "HEAD", f"/{bucket}/missing")
    assert resp.status == 404 and data == b""


def test_delete_object_is_idempotent(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert s3.delete_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.delete_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="k")


def test_content_md5_is_checked(server, bucket):
    import base64

    resp, data = raw(server, "PUT", f"/{bucket}/k", b"hello",
                     {"Content-MD5": base64.b64encode(hashlib.md5(b"other").digest()).decode()})
    assert resp.status == 400 and b"<Code>BadDigest</Code>" in data
    resp, data = raw(server, "PUT", f"/{bucket}/k", b"hello", {"Content-MD5": "not-base64!"})
    assert resp.status == 400 and b"<Code>InvalidDigest</Code>" in data
    resp, _ = raw(server, "PUT", f"/{bucket}/k", b"hello",
                  {"Content-MD5": base64.b64encode(hashlib.md5(b"hello").digest()).decode()})
    assert resp.status == 200


def test_checksum_is_stored_and_returned(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"checked", ChecksumAlgorithm="SHA256")
    assert put["ChecksumSHA256"]
    got = s3.get_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert got["ChecksumSHA256"] == put["ChecksumSHA256"] and got["Body"].read() == b"checked"


def test_key_too_long(s3, bucket):
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"x")
    assert code_of(info) == "KeyTooLongError"


# -- ranges and conditions ------------------------------------------------------------------------------

def test_ranged_get(s3, bucket):
    body = bytes(range(256)) * 4  # 1024 bytes
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == body[10:20]
    assert (got["ContentRange"], got["ContentLength"]) == ("bytes 10-19/1024", 10)
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-")["Body"].read() == body[1000:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-24")["Body"].read() == body[-24:]
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=1000-5000")["ContentRange"] == "bytes 1000-1023/1024"
    whole = s3.get_object(Bucket=bucket, Key="r", Range="bytes=5-2")  # unparseable: S3 sends it all
    assert whole["ResponseMetadata"]["HTTPStatusCode"] == 200 and whole["Body"].read() == body
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=1024-")
    assert (code_of(info), status_of(info)) == ("InvalidRange", 416)
    err = info.value.response["Error"]
    assert (err["Message"], err["ActualObjectSize"], err["RangeRequested"]) == (
        "The requested range is not satisfiable", "1024", "bytes=1024-")
    head = s3.head_object(Bucket=bucket, Key="r", Range="bytes=0-99")
    assert head["ContentLength"] == 100 and head["ResponseMetadata"]["HTTPStatusCode"] == 206


def test_conditional_get(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"cond")["ETag"]
    modified = s3.head_object(Bucket=bucket, Key="c")["LastModified"]
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag)["Body"].read() == b"cond"
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="c", IfMatch='"0000"')
    assert (code_of(info), status_of(info)) == ("PreconditionFailed", 412)
    assert info.value.response["Error"]["Condition"] == "If-Match"
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=etag)
    assert (code_of(info), status_of(info)) == ("304", 304)
    assert s3.get_object(Bucket=bucket, Key="c", IfNoneMatch='"0000"')["Body"].read() == b"cond"
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=modified)
    assert status_of(info) == 304
    earlier = modified - dt.timedelta(hours=1)
    assert s3.get_object(Bucket=bucket, Key="c", IfModifiedSince=earlier)["Body"].read() == b"cond"
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="c", IfUnmodifiedSince=earlier)
    assert status_of(info) == 412
    # If-Match true wins over If-Unmodified-Since false; If-None-Match wins over If-Modified-Since
    assert s3.get_object(Bucket=bucket, Key="c", IfMatch=etag, IfUnmodifiedSince=earlier)["Body"].read() == b"cond"
    with pytest.raises(ClientError) as info:
        s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=etag, IfModifiedSince=earlier)
    assert status_of(info) == 304


def test_conditional_put(s3, bucket):
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    with pytest.raises(ClientError) as info:
        s3.put_object(Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*")
    assert (code_of(info), status_of(info)) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"1"


# -- copy and batch delete --------------------------------------------------------------------------------

def test_copy_object_metadata_directive(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"copy me", ContentType="text/plain", Metadata={"a": "1"},
                  Tagging="t=1")
    out = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert out["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(b"copy me").hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"copy me", "text/plain", {"a": "1"})
    assert s3.get_object_tagging(Bucket=bucket, Key="dst")["TagSet"] == [{"Key": "t", "Value": "1"}]
    s3.copy_object(Bucket=bucket, Key="dst2", CopySource=f"{bucket}/src", MetadataDirective="REPLACE",
                   ContentType="application/json", Metadata={"b": "2"})
    got = s3.head_object(Bucket=bucket, Key="dst2")
    assert (got["ContentType"], got["Metadata"]) == ("application/json", {"b": "2"})
    # copying onto itself needs a change
    with pytest.raises(ClientError) as info:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert code_of(info) == "InvalidRequest"
    s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"},
                   MetadataDirective="REPLACE", Metadata={"c": "3"})
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"c": "3"}
    # the source survives deleting the copy and vice versa
    s3.delete_object(Bucket=bucket, Key="dst")
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == b"copy me"
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "nope"})
    with pytest.raises(ClientError) as info:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "src"},
                       CopySourceIfMatch='"0000"')
    assert code_of(info) == "PreconditionFailed"


def test_copy_across_buckets_with_special_key(s3, bucket):
    other = unique()
    s3.create_bucket(Bucket=other)
    key = "dir/with space & plus+?.txt"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.copy_object(Bucket=other, Key=key, CopySource={"Bucket": bucket, "Key": key})
    assert s3.get_object(Bucket=other, Key=key)["Body"].read() == b"x"


def test_delete_objects(s3, bucket):
    for k in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "zzz"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["a", "b", "zzz"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["c"]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in quiet
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# -- listings ---------------------------------------------------------------------------------------------

KEYS = ["a.txt", "b/1.txt", "b/2.txt", "b/c/3.txt", "d/4.txt", "e f/5+6.txt", "z%25.txt", "ü/7.txt"]


@pytest.fixture(scope="module")
def listed(s3):
    name = unique("list")
    s3.create_bucket(Bucket=name)
    for k in KEYS:
        s3.put_object(Bucket=name, Key=k, Body=k.encode())
    return name


def test_list_v2_all_and_prefix(s3, listed):
    out = s3.list_objects_v2(Bucket=listed)
    assert [o["Key"] for o in out["Contents"]] == sorted(KEYS, key=lambda k: k.encode())
    assert out["KeyCount"] == len(KEYS) and out["IsTruncated"] is False
    first = out["Contents"][0]
    assert first["Size"] == len(b"a.txt") and first["StorageClass"] == "STANDARD"
    assert first["ETag"] == f'"{hashlib.md5(b"a.txt").hexdigest()}"'
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=listed, Prefix="b/")["Contents"]] == [
        "b/1.txt", "b/2.txt", "b/c/3.txt"]
    assert "Contents" not in s3.list_objects_v2(Bucket=listed, Prefix="nothing")


def test_list_v2_delimiter(s3, listed):
    out = s3.list_objects_v2(Bucket=listed, Delimiter="/")
    assert [o["Key"] for o in out["Contents"]] == ["a.txt", "z%25.txt"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["b/", "d/", "e f/", "ü/"]
    assert out["KeyCount"] == 6
    out = s3.list_objects_v2(Bucket=listed, Delimiter="/", Prefix="b/")
    assert [o["Key"] for o in out["Contents"]] == ["b/1.txt", "b/2.txt"]
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["b/c/"]


def test_list_v2_pagination(s3, listed):
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"ContinuationToken": token} if token else {}
        out = s3.list_objects_v2(Bucket=listed, MaxKeys=3, Delimiter="/", **kwargs)
        pages += 1
        seen += [o["Key"] for o in out.get("Contents", [])] + [p["Prefix"] for p in out.get("CommonPrefixes", [])]
        assert out["KeyCount"] <= 3
        if not out["IsTruncated"]:
            break
        token = out["NextContinuationToken"]
    assert pages == 2 and sorted(seen) == sorted(["a.txt", "z%25.txt", "b/", "d/", "e f/", "ü/"])
    paginator = s3.get_paginator("list_objects_v2")
    keys = [o["Key"] for page in paginator.paginate(Bucket=listed, PaginationConfig={"PageSize": 2})
            for o in page.get("Contents", [])]
    assert keys == sorted(KEYS, key=lambda k: k.encode())
    out = s3.list_objects_v2(Bucket=listed, StartAfter="b/c/3.txt")
    assert [o["Key"] for o in out["Contents"]][0] == "d/4.txt" and out["StartAfter"] == "b/c/3.txt"
    assert s3.list_objects_v2(Bucket=listed, MaxKeys=0)["KeyCount"] == 0
    with pytest.raises(ClientError) as info:
        s3.list_objects_v2(Bucket=listed, ContinuationToken="%%%not-a-token")
    assert code_of(info) == "InvalidArgument"


def test_list_v1_marker(s3, listed):
    out = s3.list_objects(Bucket=listed, MaxKeys=2)
    assert [o["Key"] for o in out["Contents"]] == ["a.txt", "b/1.txt"] and out["IsTruncated"] is True
    assert "NextMarker" not in out  # only with a delimiter
    out = s3.list_objects(Bucket=listed, Marker="b/1.txt", MaxKeys=2)
    assert [o["Key"] for o in out["Contents"]] == ["b/2.txt", "b/c/3.txt"]
    assert "Owner" in out["Contents"][0]
    out = s3.list_objects(Bucket=listed, Delimiter="/", MaxKeys=2)
    assert out["NextMarker"] == "b/" and out["IsTruncated"]
    out = s3.list_objects(Bucket=listed, Delimiter="/", Marker=out["NextMarker"])
    assert [p["Prefix"] for p in out["CommonPrefixes"]] == ["d/", "e f/", "ü/"]
    keys = [o["Key"] for page in s3.get_paginator("list_objects").paginate(
        Bucket=listed, PaginationConfig={"PageSize": 3}) for o in page.get("Contents", [])]
    assert keys == sorted(KEYS, key=lambda k: k.encode())


def test_list_url_encoding_on_the_wire(server, listed):
    resp, data = raw(server, "GET", f"/{listed}?list-type=2&encoding-type=url&prefix=e%20f/")
    root = ET.fromstring(data)
    ns = "{http://s3.amazonaws.com/doc/2006-03-01/}"
    assert root.findtext(f"{ns}Contents/{ns}Key") == "e%20f/5%2B6.txt"
    assert root.findtext(f"{ns}Prefix") == "e%20f/" and root.findtext(f"{ns}EncodingType") == "url"


# -- multipart --------------------------------------------------------------------------------------------

MB = 1024 * 1024


def test_multipart_upload(s3, bucket):
    up = s3.create_multipart_upload(Bucket=bucket, Key="big", ContentType="video/mp4", Metadata={"m": "1"})
    uid = up["UploadId"]
    p1, p2, p3 = b"a" * (5 * MB), b"b" * (5 * MB), b"tail"
    etags = [s3.upload_part(Bucket=bucket, Key="big", UploadId=uid, PartNumber=n, Body=b)["ETag"]
             for n, b in ((1, p1), (2, p2), (3, p3))]
    assert [e for e in etags] == [f'"{hashlib.md5(p).hexdigest()}"' for p in (p1, p2, p3)]
    parts = s3.list_parts(Bucket=bucket, Key="big", UploadId=uid)["Parts"]
    assert [(p["PartNumber"], p["Size"], p["ETag"]) for p in parts] == [
        (1, 5 * MB, etags[0]), (2, 5 * MB, etags[1]), (3, 4, etags[2])]
    page = s3.list_parts(Bucket=bucket, Key="big", UploadId=uid, MaxParts=2)
    assert page["IsTruncated"] and page["NextPartNumberMarker"] == 2
    assert uid in [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"]]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": e} for n, e in zip((1, 2, 3), etags)]})
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in (p1, p2, p3))).hexdigest() + "-3"
    assert done["ETag"] == f'"{expected}"'
    got = s3.get_object(Bucket=bucket, Key="big")
    assert hashlib.md5(got["Body"].read()).hexdigest() == hashlib.md5(p1 + p2 + p3).hexdigest()
    assert (got["ContentType"], got["Metadata"], got["ETag"]) == ("video/mp4", {"m": "1"}, f'"{expected}"')
    part2 = s3.get_object(Bucket=bucket, Key="big", PartNumber=2)
    assert part2["PartsCount"] == 3 and part2["ContentLength"] == 5 * MB
    assert part2["ContentRange"] == f"bytes {5 * MB}-{10 * MB - 1}/{10 * MB + 4}"
    assert uid not in [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
    with pytest.raises(s3.exceptions.NoSuchUpload):
        s3.list_parts(Bucket=bucket, Key="big", UploadId=uid)


def test_multipart_errors(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    e1 = s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"small")["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=2, Body=b"last")["ETag"]
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 2, "ETag": e2}]})
    assert code_of(info) == "EntityTooSmall" and status_of(info) == 400
    err = info.value.response["Error"]
    assert (err["MinSizeAllowed"], err["ProposedSize"], err["PartNumber"]) == (str(5 * MB), "5", "1")
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 2, "ETag": e2}, {"PartNumber": 1, "ETag": e1}]})
    assert code_of(info) == "InvalidPartOrder"
    with pytest.raises(ClientError) as info:
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": '"00000000000000000000000000000000"'}]})
    assert code_of(info) == "InvalidPart"
    with pytest.raises(ClientError) as info:
        s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=10001, Body=b"x")
    assert code_of(info) == "InvalidArgument"
    # a single small part is a valid (last) part
    one = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=uid, MultipartUpload={
        "Parts": [{"PartNumber": 2, "ETag": e2}]})
    assert one["ETag"].endswith('-1"') and s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"last"


def test_abort_multipart_upload(s3, bucket):
    uid = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="k", UploadId=uid, PartNumber=1, Body=b"x")
    assert s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(s3.exceptions.NoSuchUpload) as info:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=uid)
    assert status_of(info) == 404 and info.value.response["Error"]["UploadId"] == uid
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_upload_part_copy(s3, bucket):
    src = bytes(range(256)) * (6 * 4096)  # 6 MiB
    s3.put_object(Bucket=bucket, Key="src", Body=src)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    r1 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes=0-{5 * MB - 1}")
    r2 = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=uid, PartNumber=2,
                             CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange=f"bytes={5 * MB}-{6 * MB - 1}")
    s3.complete_multipart_upload(Bucket=bucket, Key="dst", UploadId=uid, MultipartUpload={"Parts": [
        {"PartNumber": 1, "ETag": r1["CopyPartResult"]["ETag"]}, {"PartNumber": 2, "ETag": r2["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == src


def test_upload_file_and_download_file(s3, bucket, tmp_path):
    from boto3.s3.transfer import TransferConfig

    data = bytes(range(256)) * (17 * 4096)  # 17 MiB: three 8 MiB-or-less parts
    src, dst = tmp_path / "src.bin", tmp_path / "dst.bin"
    src.write_bytes(data)
    cfg = TransferConfig(multipart_threshold=8 * MB, multipart_chunksize=8 * MB, max_concurrency=2)
    s3.upload_file(str(src), bucket, "file.bin", Config=cfg)
    assert s3.head_object(Bucket=bucket, Key="file.bin")["ETag"].endswith('-3"')
    s3.download_file(bucket, "file.bin", str(dst), Config=cfg)
    assert dst.read_bytes() == data


# -- tagging ----------------------------------------------------------------------------------------------

def test_bucket_tagging(s3, bucket):
    with pytest.raises(ClientError) as info:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code_of(info) == "NoSuchTagSet" and status_of(info) == 404
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "env", "Value": "dev"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "env", "Value": "dev"}]
    with pytest.raises(ClientError) as info:
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]})
    assert code_of(info) == "InvalidTag"
    s3.delete_bucket_tagging(Bucket=bucket)
    with pytest.raises(ClientError):
        s3.get_bucket_tagging(Bucket=bucket)


def test_object_tagging(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1&b=two%20words")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [
        {"Key": "a", "Value": "1"}, {"Key": "b", "Value": "two words"}]
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 2
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == [{"Key": "c", "Value": "3"}]
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    with pytest.raises(ClientError) as info:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [
            {"Key": f"k{i}", "Value": "v"} for i in range(11)]})
    assert code_of(info) == "BadRequest"
    with pytest.raises(ClientError) as info:
        s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "k" * 129, "Value": "v"}]})
    assert code_of(info) == "InvalidTag"
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object_tagging(Bucket=bucket, Key="missing")


# -- versioning -------------------------------------------------------------------------------------------

def test_versioned_bucket_not_empty_message(s3):
    name = unique()
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.delete_object(Bucket=name, Key="k")  # leaves the version and a delete marker
    with pytest.raises(ClientError) as info:
        s3.delete_bucket(Bucket=name)
    assert info.value.response["Error"]["Message"] == (
        "The bucket you tried to delete is not empty. You must delete all versions in the bucket.")


def test_versioning(s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")  # the 'null' version
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    v2 = s3.put_object(Bucket=bucket, Key="k", Body=b"two")["VersionId"]
    assert v1 != v2 and "null" not in (v1, v2)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"one"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"before"
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    with pytest.raises(s3.exceptions.NoSuchKey) as info:
        s3.get_object(Bucket=bucket, Key="k")
    assert info.value.response["ResponseMetadata"]["HTTPHeaders"]["x-amz-delete-marker"] == "true"
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="k", VersionId=marker)
    assert status_of(info) == 405
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    versions = s3.list_object_versions(Bucket=bucket)
    assert [(v["VersionId"], v["IsLatest"]) for v in versions["Versions"]] == [(v2, False), (v1, False), ("null", False)]
    assert [(m["VersionId"], m["IsLatest"]) for m in versions["DeleteMarkers"]] == [(marker, True)]
    page = s3.list_object_versions(Bucket=bucket, MaxKeys=2)
    assert page["IsTruncated"] and page["NextKeyMarker"] == "k"
    rest = s3.list_object_versions(Bucket=bucket, KeyMarker=page["NextKeyMarker"],
                                   VersionIdMarker=page["NextVersionIdMarker"])
    assert [v["VersionId"] for v in rest["Versions"]] == [v1, "null"]
    # deleting the marker brings the object back
    s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"two"
    s3.delete_object(Bucket=bucket, Key="k", VersionId=v2)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"
    with pytest.raises(ClientError) as info:
        s3.get_object(Bucket=bucket, Key="k", VersionId=v2)
    assert code_of(info) == "NoSuchVersion"


# -- presigned URLs ----------------------------------------------------------------------------------------

def test_presigned_get_and_put(s3, bucket):
    s3.put_object(Bucket=bucket, Key="p.txt", Body=b"presigned")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p.txt"}, ExpiresIn=300)
    with urllib.request.urlopen(url) as resp:
        assert resp.read() == b"presigned"
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"}, ExpiresIn=300)
    with urllib.request.urlopen(urllib.request.Request(url, data=b"uploaded", method="PUT")) as resp:
        assert resp.status == 200
    assert s3.get_object(Bucket=bucket, Key="up.txt")["Body"].read() == b"uploaded"


def test_presigned_sigv4(server, bucket):
    v4 = server.client("s3", signature_version="s3v4")
    v4.put_object(Bucket=bucket, Key="v4.txt", Body=b"sigv4")
    url = v4.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "v4.txt"}, ExpiresIn=300)
    assert "X-Amz-Expires=300" in url
    with urllib.request.urlopen(url) as resp:
        assert resp.read() == b"sigv4"


@pytest.mark.parametrize("version", ["s3", "s3v4"])
def test_presigned_url_expiry_is_enforced(server, bucket, version):
    client = server.client("s3", signature_version=version)
    client.put_object(Bucket=bucket, Key="e.txt", Body=b"x")
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "e.txt"}, ExpiresIn=1)
    deadline = time.time() + 30
    while time.time() < deadline:  # wait for the URL to expire (polling: no timing assumptions)
        try:
            urllib.request.urlopen(url).read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
            break
        time.sleep(0.25)
    else:
        pytest.fail("the presigned URL never expired")
    assert status == 403
    root = ET.fromstring(body)
    assert (root.findtext("Code"), root.findtext("Message")) == ("AccessDenied", "Request has expired")
    assert root.findtext("Expires") and root.findtext("ServerTime")
    if version == "s3v4":
        assert root.findtext("X-Amz-Expires") == "1"


# -- addressing -------------------------------------------------------------------------------------------

@pytest.fixture()
def localhost_resolves(monkeypatch):
    """Resolve *.localhost to 127.0.0.1 in this process, as browsers and systemd-resolved do."""
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if isinstance(host, str) and host.endswith(".localhost"):
            host = "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_virtual_hosted_style(server, s3, bucket, localhost_resolves):
    port = server.endpoint.rsplit(":", 1)[1]
    vh = boto3.client("s3", endpoint_url=f"http://s3.localhost:{port}", region_name="us-east-1",
                      aws_access_key_id="test", aws_secret_access_key="test",
                      config=Config(s3={"addressing_style": "virtual"}, retries={"max_attempts": 0}))
    seen = []
    vh.meta.events.register("before-send", lambda request, **_: seen.append(request.url))
    vh.put_object(Bucket=bucket, Key="vh/key.txt", Body=b"virtual")
    assert seen[-1].startswith(f"http://{bucket}.s3.localhost:{port}/vh/key.txt")
    assert vh.get_object(Bucket=bucket, Key="vh/key.txt")["Body"].read() == b"virtual"
    assert [o["Key"] for o in vh.list_objects_v2(Bucket=bucket)["Contents"]] == ["vh/key.txt"]
    assert s3.get_object(Bucket=bucket, Key="vh/key.txt")["Body"].read() == b"virtual"  # same object, path style
    with pytest.raises(vh.exceptions.NoSuchKey):
        vh.get_object(Bucket=bucket, Key="nope")


def test_virtual_host_header_with_region(server, bucket, s3):
    s3.put_object(Bucket=bucket, Key="r.txt", Body=b"regional")
    resp, data = raw(server, "GET", "/r.txt", headers={"Host": f"{bucket}.s3.us-east-1.localhost"})
    assert resp.status == 200 and data == b"regional"


# -- browser uploads ----------------------------------------------------------------------------------------

def post_form(url: str, fields: dict, filename: str, data: bytes) -> tuple[int, dict, bytes]:
    boundary = uuid.uuid4().hex
    body = bytearray()
    for k, v in fields.items():
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
             "Content-Type: image/png\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(url, data=bytes(body), method="POST",
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_presigned_post_form_upload(s3, bucket):
    post = s3.generate_presigned_post(bucket, "uploads/${filename}", Fields={"x-amz-meta-who": "browser"},
                                      Conditions=[["starts-with", "$key", "uploads/"], {"x-amz-meta-who": "browser"},
                                                  ["content-length-range", 1, 1000]], ExpiresIn=300)
    png = b"\x89PNG fake"
    status, headers, _ = post_form(post["url"], post["fields"], "pic.png", png)
    assert status == 204 and headers["ETag"] == f'"{hashlib.md5(png).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="uploads/pic.png")
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"\x89PNG fake", "image/png",
                                                                         {"who": "browser"})
    status, _, body = post_form(post["url"], dict(post["fields"], success_action_status="201"), "b.png", b"x")
    assert status == 201 and b"<Key>uploads/b.png</Key>" in body
    status, _, body = post_form(post["url"], post["fields"], "big.png", b"x" * 2000)
    assert status == 400 and b"<Code>EntityTooLarge</Code>" in body
    wrong = dict(post["fields"], key="elsewhere/${filename}")
    status, _, body = post_form(post["url"], wrong, "c.png", b"x")
    assert status == 403 and b"Policy Condition failed" in body
    expired = s3.generate_presigned_post(bucket, "k", ExpiresIn=-60)
    status, _, body = post_form(expired["url"], expired["fields"], "d.png", b"x")
    assert status == 403 and b"Policy expired" in body
