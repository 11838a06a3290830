"""The verifier against botocore's own signers: every signature botocore makes verifies, and any change
to what was signed (secret, path, query, header, body) is refused with the service's error."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth, S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from nubis.server.context import parse_scope
from nubis.server.credentials import KnownCredentials, function_credentials, read_credentials_file
from nubis.server.errors import AwsError
from nubis.server.messages import HttpRequest
from nubis.server.sigv4 import Verifier, signing_key
from nubis.server.sigv4_body import EMPTY_SHA256

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
GOOD = Credentials(KEY, SECRET)
BAD = Credentials(KEY, "not-the-secret")


def verifier(mode: str = "known", skew: float = 0.0) -> Verifier:
    return Verifier(KnownCredentials({KEY: SECRET}, b"server-secret"), mode, clock=lambda: time.time() + skew)


def to_http(req: AWSRequest) -> HttpRequest:
    prepared = req.prepare()
    parts = urlsplit(prepared.url)
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()}
    headers.setdefault("host", parts.netloc)
    body = prepared.body or b""
    return HttpRequest(prepared.method, parts.path or "/", parts.query, headers,
                       body if isinstance(body, bytes) else body.encode())


def sign(signer_cls, creds, method, url, body=b"", headers=None, service="lambda", **kw) -> HttpRequest:
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    if signer_cls in (HmacV1Auth,):
        signer_cls(creds).add_auth(req)
    elif signer_cls is HmacV1QueryAuth:
        signer_cls(creds, expires=300).add_auth(req)
    elif signer_cls is S3SigV4QueryAuth:
        signer_cls(creds, "s3", "us-east-1", expires=300).add_auth(req)
    else:
        signer_cls(creds, service, "eu-west-1").add_auth(req)
    return to_http(req)


def check(v: Verifier, req: HttpRequest, family: str):
    return v.check(req, parse_scope(req.headers.get("authorization"), req.query), family)


LAMBDA_URLS = [
    ("GET", "http://127.0.0.1:8750/2015-03-31/functions/", b""),
    ("POST", "http://127.0.0.1:8750/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A000000000000%3Afunction"
             "%3Af/invocations?Qualifier=%24LATEST", b'{"a": 1}'),
    ("GET", "http://127.0.0.1:8750/2015-03-31/functions/?MaxItems=5&Marker=a%2Fb+c&FunctionVersion=ALL", b""),
    ("GET", "http://127.0.0.1:8750/2015-03-31/functions/f%20g/../h/policy", b""),
]


@pytest.mark.parametrize("method,url,body", LAMBDA_URLS)
def test_botocore_sigv4_verifies_and_wrong_secret_does_not(method, url, body):
    v = verifier()
    assert check(v, sign(SigV4Auth, GOOD, method, url, body), "rest-json") is None
    with pytest.raises(AwsError) as e:
        check(v, sign(SigV4Auth, BAD, method, url, body), "rest-json")
    assert (e.value.code, e.value.status) == ("InvalidSignatureException", 403)
    assert e.value.message.startswith("The request signature we calculated does not match the signature you "
                                      "provided. Check your AWS Secret Access Key and signing method.")
    assert "The Canonical String for this request should have been" in e.value.message


def test_json_protocol_services_answer_400():
    req = sign(SigV4Auth, BAD, "POST", "http://127.0.0.1:8750/", b"{}", {"X-Amz-Target": "Logs_20140328.X"},
               service="logs")
    with pytest.raises(AwsError) as e:
        check(verifier(), req, "json")
    assert (e.value.code, e.value.status) == ("InvalidSignatureException", 400)


S3_KEYS = ["plain.txt", "a b/c(d)~é", "x+y=z&w", "dir//double/./dot/../k", "%2F-literal", "*!'()"]


@pytest.mark.parametrize("key", S3_KEYS)
def test_s3_sigv4_header_auth_paths_are_not_normalised(key):
    from urllib.parse import quote
    url = "http://127.0.0.1:8750/bucket/" + quote(key, safe="/~")
    body = b"hello"
    headers = {"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest(), "Content-Type": "text/plain"}
    assert check(verifier(), sign(S3SigV4Auth, GOOD, "PUT", url, body, headers, service="s3"), "s3") is None
    with pytest.raises(AwsError) as e:
        check(verifier(), sign(S3SigV4Auth, BAD, "PUT", url, body, headers, service="s3"), "s3")
    err = e.value
    assert (err.code, err.status) == ("SignatureDoesNotMatch", 403)
    assert list(err.fields) == ["AWSAccessKeyId", "StringToSign", "SignatureProvided", "StringToSignBytes",
                                "CanonicalRequest", "CanonicalRequestBytes"]
    assert err.fields["CanonicalRequest"].startswith("PUT\n/bucket/")
    assert err.fields["StringToSign"].startswith("AWS4-HMAC-SHA256\n")


def test_s3_query_and_subresources():
    url = "http://127.0.0.1:8750/bucket?list-type=2&prefix=a%20b%2F%2B%3D%26&delimiter=%2F&encoding-type=url"
    headers = {"X-Amz-Content-SHA256": EMPTY_SHA256}
    assert check(verifier(), sign(S3SigV4Auth, GOOD, "GET", url, b"", headers, service="s3"), "s3") is None
    url = "http://127.0.0.1:8750/bucket/k?uploads"
    assert check(verifier(), sign(S3SigV4Auth, GOOD, "POST", url, b"", headers, service="s3"), "s3") is None


def test_tampering_is_refused():
    url = "http://127.0.0.1:8750/bucket/key?versionId=1"
    headers = {"X-Amz-Content-SHA256": EMPTY_SHA256, "X-Amz-Meta-A": "1"}
    good = sign(S3SigV4Auth, GOOD, "GET", url, b"", headers, service="s3")
    for change in ({"path": "/bucket/other"}, {"query": "versionId=2"}, {"method": "DELETE"}):
        req = HttpRequest(**{**{"method": good.method, "path": good.path, "query": good.query,
                                "headers": good.headers}, **change})
        with pytest.raises(AwsError, match="does not match"):
            check(verifier(), req, "s3")
    req = HttpRequest(good.method, good.path, good.query, {**good.headers, "x-amz-meta-a": "2"})
    with pytest.raises(AwsError, match="does not match"):
        check(verifier(), req, "s3")


def test_content_sha256_mismatch_buffered():
    url = "http://127.0.0.1:8750/bucket/key"
    headers = {"X-Amz-Content-SHA256": hashlib.sha256(b"original").hexdigest()}
    req = sign(S3SigV4Auth, GOOD, "PUT", url, b"original", headers, service="s3")
    req.body = b"tampered"
    with pytest.raises(AwsError) as e:
        check(verifier(), req, "s3")
    assert e.value.code == "XAmzContentSHA256Mismatch"
    assert e.value.fields == {"ClientComputedContentSHA256": hashlib.sha256(b"original").hexdigest(),
                              "S3ComputedContentSHA256": hashlib.sha256(b"tampered").hexdigest()}


async def _drain(stream) -> bytes:
    out = bytearray()
    async for chunk in stream:
        out += chunk
    return bytes(out)


async def _source(chunks):
    for c in chunks:
        yield c


def test_content_sha256_checked_while_streaming():
    url = "http://127.0.0.1:8750/bucket/key"
    body = b"x" * 300_000
    headers = {"X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()}
    req = sign(S3SigV4Auth, GOOD, "PUT", url, body, headers, service="s3")
    req.body = b""
    req.stream = _source([body[:100_000], body[100_000:]])
    wrapped = check(verifier(), req, "s3")
    assert asyncio.run(_drain(wrapped)) == body
    req.stream = _source([body[:100_000], b"y" * 200_000])
    with pytest.raises(AwsError, match="x-amz-content-sha256"):
        asyncio.run(_drain(check(verifier(), req, "s3")))


def _chunked(key: bytes, amz_date: str, scope: str, seed: str, data: bytes, size: int,
             trailer: dict[str, str] | None = None, corrupt: int = -1) -> bytes:
    out = bytearray()
    prev = seed
    pieces = [data[i:i + size] for i in range(0, len(data), size)] + [b""]
    for n, piece in enumerate(pieces):
        sts = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{prev}\n{EMPTY_SHA256}\n" \
              f"{hashlib.sha256(piece).hexdigest()}"
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        prev = sig
        if n == corrupt:
            piece = b"Z" + piece[1:]
        out += f"{len(piece):x};chunk-signature={sig}\r\n".encode() + piece
        if piece:
            out += b"\r\n"
    if trailer is None:
        out += b"\r\n"
    else:
        text = "".join(f"{k}:{v}\n" for k, v in trailer.items())
        sts = f"AWS4-HMAC-SHA256-TRAILER\n{amz_date}\n{scope}\n{prev}\n{hashlib.sha256(text.encode()).hexdigest()}"
        sig = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        out += "".join(f"{k}:{v}\r\n" for k, v in trailer.items()).encode()
        out += f"x-amz-trailer-signature:{sig}\r\n\r\n".encode()
    return bytes(out)


def _streaming_request(content_sha: str, data: bytes, trailer=None, corrupt=-1, secret=SECRET):
    """The seed request as the Java/Go SDKs sign it (botocore never sends signed chunks)."""
    class Streaming(S3SigV4Auth):
        def payload(self, request):
            return content_sha

    url = "http://127.0.0.1:8750/bucket/key"
    headers = {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(data))}
    req = sign(Streaming, Credentials(KEY, secret), "PUT", url, b"", headers, service="s3")
    assert req.headers["x-amz-content-sha256"] == content_sha
    auth = req.headers["authorization"]
    seed = auth.rsplit("Signature=", 1)[1]
    amz_date = req.headers["x-amz-date"]
    scope = f"{amz_date[:8]}/eu-west-1/s3/aws4_request"
    key = signing_key(SECRET, amz_date[:8], "eu-west-1", "s3")
    req.body = _chunked(key, amz_date, scope, seed, data, 65536, trailer, corrupt)
    return req


@pytest.mark.parametrize("trailer", [None, {"x-amz-checksum-crc32": "AAAAAA=="}])
def test_signed_chunks(trailer):
    mode = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer else "")
    data = bytes(range(256)) * 1000
    req = _streaming_request(mode, data, trailer)
    assert check(verifier(), req, "s3") is None  # buffered: checked at once
    body = req.body
    for size in (1, 7, 4096, len(body)):  # streamed, in pieces that split headers and CRLFs anywhere
        req.body, req.stream = b"", _source([body[i:i + size] for i in range(0, len(body), size)])
        assert asyncio.run(_drain(check(verifier(), req, "s3"))) == body
    bad = _streaming_request(mode, data, trailer, corrupt=2)
    with pytest.raises(AwsError) as e:
        check(verifier(), bad, "s3")
    assert e.value.code == "SignatureDoesNotMatch"
    assert e.value.fields["StringToSign"].startswith("AWS4-HMAC-SHA256-PAYLOAD\n")


def test_presigned_sigv4_and_sigv2():
    url = "http://127.0.0.1:8750/bucket/a%20key?versionId=3"
    req = sign(S3SigV4QueryAuth, GOOD, "GET", url, service="s3")
    assert "X-Amz-Signature=" in req.query
    assert check(verifier(), req, "s3") is None
    tampered = HttpRequest("GET", req.path, req.query.replace("X-Amz-Signature=", "X-Amz-Signature=0"), req.headers)
    with pytest.raises(AwsError, match="does not match"):
        check(verifier(), tampered, "s3")
    v2 = sign(HmacV1QueryAuth, GOOD, "GET", url, service="s3")
    assert check(verifier(), v2, "s3") is None
    with pytest.raises(AwsError) as e:
        check(verifier(), sign(HmacV1QueryAuth, BAD, "GET", url, service="s3"), "s3")
    assert e.value.code == "SignatureDoesNotMatch" and e.value.fields["StringToSign"].startswith("GET\n\n\n")
    hv2 = sign(HmacV1Auth, GOOD, "PUT", "http://127.0.0.1:8750/bucket/k?tagging", b"x",
               {"Content-Type": "text/plain", "x-amz-meta-a": " b "}, service="s3")
    assert check(verifier(), hv2, "s3") is None
    with pytest.raises(AwsError):
        check(verifier(), sign(HmacV1Auth, BAD, "PUT", "http://127.0.0.1:8750/bucket/k", b"x", service="s3"), "s3")


def test_unknown_keys_accepted_unless_strict():
    other = Credentials("SOMEONE", "whatever")
    req = sign(SigV4Auth, other, "GET", LAMBDA_URLS[0][1])
    assert check(verifier(), req, "rest-json") is None
    with pytest.raises(AwsError) as e:
        check(verifier("strict"), req, "rest-json")
    assert (e.value.code, e.value.status, e.value.message) == (
        "UnrecognizedClientException", 403, "The security token included in the request is invalid.")
    s3req = sign(S3SigV4Auth, other, "GET", "http://127.0.0.1:8750/b", b"", {"X-Amz-Content-SHA256": EMPTY_SHA256},
                 service="s3")
    with pytest.raises(AwsError) as e:
        check(verifier("strict"), s3req, "s3")
    assert (e.value.code, e.value.fields) == ("InvalidAccessKeyId", {"AWSAccessKeyId": "SOMEONE"})
    with pytest.raises(AwsError) as e:
        check(verifier("strict"), HttpRequest("GET", "/2015-03-31/functions/"), "rest-json")
    assert e.value.code == "MissingAuthenticationTokenException"
    assert check(verifier("off"), sign(SigV4Auth, BAD, "GET", LAMBDA_URLS[0][1]), "rest-json") is None


def test_skew():
    req = sign(SigV4Auth, GOOD, "GET", LAMBDA_URLS[0][1])
    assert check(verifier(skew=14 * 60), req, "rest-json") is None
    with pytest.raises(AwsError) as e:
        check(verifier(skew=16 * 60), req, "rest-json")
    assert e.value.code == "InvalidSignatureException" and e.value.message.startswith("Signature expired: ")
    assert "- 15 min.)" in e.value.message
    with pytest.raises(AwsError) as e:
        check(verifier(skew=-16 * 60), req, "rest-json")
    assert e.value.message.startswith("Signature not yet current: ")
    s3req = sign(S3SigV4Auth, GOOD, "GET", "http://127.0.0.1:8750/b", b"", {"X-Amz-Content-SHA256": EMPTY_SHA256},
                 service="s3")
    with pytest.raises(AwsError) as e:
        check(verifier(skew=3600), s3req, "s3")
    assert e.value.code == "RequestTimeTooSkewed"
    assert e.value.fields["MaxAllowedSkewMilliseconds"] == "900000"


def test_function_session_credentials_verify_in_strict_mode():
    key, secret, token = function_credentials(b"server-secret", "123456789012")
    creds = Credentials(key, secret, token)
    req = sign(SigV4Auth, creds, "GET", LAMBDA_URLS[0][1])
    assert check(verifier("strict"), req, "rest-json") is None
    forged = sign(SigV4Auth, Credentials(key, "guess", token), "GET", LAMBDA_URLS[0][1])
    with pytest.raises(AwsError, match="does not match"):
        check(verifier(), forged, "rest-json")


def test_credentials_file(tmp_path):
    f = tmp_path / "credentials"
    f.write_text("[default]\naws_access_key_id = AK1\naws_secret_access_key = s1\n\n[other]\n"
                 "aws_access_key_id=AK2\naws_secret_access_key=s%2\nregion = eu-west-1\n")
    assert read_credentials_file(f) == {"AK1": "s1", "AK2": "s%2"}
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "credentials").write_text("[x]\naws_access_key_id=AK3\naws_secret_access_key=s3\n")
    known = KnownCredentials.load(tmp_path / "data", [f])
    assert known.keys == {"AK1": "s1", "AK2": "s%2", "AK3": "s3"}


def test_presigned_with_session_token():
    key, secret, token = function_credentials(b"server-secret", "123456789012")
    creds = Credentials(key, secret, token)
    url = "http://127.0.0.1:8750/bucket/k"
    for signer in (HmacV1QueryAuth, S3SigV4QueryAuth):
        req = sign(signer, creds, "GET", url, service="s3")
        assert "security-token=" in req.query.lower()
        assert check(verifier("strict"), req, "s3") is None
