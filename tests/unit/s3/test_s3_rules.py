"""S3's rules as pure functions: ranges, conditional requests, bucket names, key encodings, presigned expiry."""
from __future__ import annotations

import datetime as dt

import pytest

from nubis.server.errors import AwsError
from nubis.server.messages import HttpRequest
from nubis.services.s3.conditions import NotModified, check_read, etag_matches, parse_range
from nubis.services.s3.names import bucket_name_problem, event_key, url_encode_key
from nubis.services.s3.presign import check_presigned


@pytest.mark.parametrize("header,size,expected", [
    (None, 10, None),
    ("bytes=0-4", 10, (0, 4)),
    ("bytes=5-", 10, (5, 9)),
    ("bytes=-3", 10, (7, 9)),
    ("bytes=-30", 10, (0, 9)),
    ("bytes=8-100", 10, (8, 9)),
    ("bytes=4-2", 10, None),  # unsatisfiable syntax: ignored, whole object
    ("bytes=0-1,3-4", 10, None),  # several ranges: S3 sends the whole object
    ("items=0-1", 10, None),
    ("bytes=9-9", 10, (9, 9)),
])
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header,size", [("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=-0", 10), ("bytes=0-", 0)])
def test_unsatisfiable_range(header, size):
    with pytest.raises(AwsError) as info:
        parse_range(header, size)
    assert (info.value.code, info.value.status) == ("InvalidRange", 416)
    assert info.value.fields == {"RangeRequested": header, "ActualObjectSize": str(size)}


def test_etag_matching():
    assert etag_matches('"abc"', '"abc"') and etag_matches("abc", '"abc"') and etag_matches("*", '"x"')
    assert etag_matches('"x", "abc"', '"abc"') and etag_matches('W/"abc"', '"abc"')
    assert not etag_matches('"abd"', '"abc"')


T = 1_700_000_000.0
BEFORE = dt.datetime.fromtimestamp(T - 60, tz=dt.timezone.utc)
AT = dt.datetime.fromtimestamp(T, tz=dt.timezone.utc)


def outcome(**params) -> str:
    try:
        check_read(params, '"e"', T)
    except NotModified:
        return "304"
    except AwsError as e:
        return f"{e.status}:{e.fields.get('Condition')}"
    return "200"


def test_conditional_read_precedence():
    assert outcome() == "200"
    assert outcome(IfMatch='"e"') == "200"
    assert outcome(IfMatch='"other"') == "412:If-Match"
    assert outcome(IfUnmodifiedSince=BEFORE) == "412:If-Unmodified-Since"
    assert outcome(IfMatch='"e"', IfUnmodifiedSince=BEFORE) == "200"  # If-Match true wins
    assert outcome(IfNoneMatch='"e"') == "304"
    assert outcome(IfNoneMatch='"other"') == "200"
    assert outcome(IfModifiedSince=AT) == "304"
    assert outcome(IfModifiedSince=BEFORE) == "200"
    assert outcome(IfNoneMatch='"other"', IfModifiedSince=AT) == "200"  # If-None-Match decides
    assert outcome(IfNoneMatch='"e"', IfModifiedSince=BEFORE) == "304"


def test_copy_source_conditions_fail_with_412():
    with pytest.raises(AwsError) as info:
        check_read({"CopySourceIfNoneMatch": '"e"'}, '"e"', T, prefix="CopySource")
    assert info.value.fields["Condition"] == "x-amz-copy-source-If-None-Match"
    with pytest.raises(AwsError):
        check_read({"CopySourceIfModifiedSince": AT}, '"e"', T, prefix="CopySource")


@pytest.mark.parametrize("name,bad", [
    ("abc", False), ("my.bucket-1", False), ("a" * 63, False), ("ab", True), ("a" * 64, True), ("Abc", True),
    ("a_b", True), ("-ab", True), ("ab-", True), ("a..b", True), ("a.-b", True), ("10.0.0.1", True),
    ("xn--abc", True), ("sthree-x", True), ("abc-s3alias", True), ("abc--ol-s3", True), ("abc.mrap", True),
])
def test_bucket_names(name, bad):
    assert bucket_name_problem(name) is bad


def test_key_encodings():
    assert url_encode_key("a b/c+d%e~f.g") == "a%20b/c%2Bd%25e~f.g"
    assert event_key("photos/my image+1.jpg") == "photos/my+image%2B1.jpg"
    assert event_key("ü.jpg") == "%C3%BC.jpg"


def _req(query: str) -> HttpRequest:
    return HttpRequest("GET", "/b/k", query)


def test_presigned_v4_expiry():
    ok = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240101T000000Z&X-Amz-Expires=60&X-Amz-Signature=x"
    start = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp()
    check_presigned(_req(ok), now=start + 60)
    with pytest.raises(AwsError) as info:
        check_presigned(_req(ok), now=start + 61)
    assert (info.value.code, info.value.message, info.value.status) == ("AccessDenied", "Request has expired", 403)
    assert info.value.fields == {"X-Amz-Expires": "60", "Expires": "2024-01-01T00:01:00Z",
                                 "ServerTime": "2024-01-01T00:01:01Z"}
    with pytest.raises(AwsError) as info:
        check_presigned(_req(ok.replace("Expires=60", "Expires=604801")), now=start)
    assert info.value.code == "AuthorizationQueryParametersError"


def test_presigned_v2_expiry():
    q = "AWSAccessKeyId=test&Signature=abc&Expires=1000"
    check_presigned(_req(q), now=999)
    with pytest.raises(AwsError) as info:
        check_presigned(_req(q), now=1001)
    assert info.value.message == "Request has expired"
    check_presigned(_req("versionId=1&max-keys=3"), now=10 ** 10)  # not presigned: nothing to check
