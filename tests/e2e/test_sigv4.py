"""Signature verification: requests signed with credentials the server knows (a credentials file) are
verified as AWS does; other keys are accepted, unless the server runs with NUBIS_VERIFY_SIGNATURES=strict."""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client as httpclient
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from nubis_testing import create_function, start_server, stop_server, unique

KNOWN, KNOWN_SECRET = "AKIDKNOWNEXAMPLE", "known/secret+value"
ACCOUNT, ACCOUNT_SECRET = "123456789012", "account-secret"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.")
S3_MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your key "
               "and signing method.")

# A function that uses the credentials nubis gives it, against S3 and Lambda.
USES_CREDENTIALS = """
import boto3
def handler(event, context):
    s3 = boto3.client("s3")
    s3.put_object(Bucket=event["bucket"], Key="from-function", Body=b"hi")
    body = s3.get_object(Bucket=event["bucket"], Key="from-function")["Body"].read().decode()
    url = s3.generate_presigned_url("get_object", Params={"Bucket": event["bucket"], "Key": "from-function"})
    import urllib.request
    presigned = urllib.request.urlopen(url).read().decode()
    fn = boto3.client("lambda").get_function(FunctionName=context.function_name)["Configuration"]["FunctionName"]
    return {"body": body, "presigned": presigned, "fn": fn}
"""


def _start(tmp_path_factory, name: str, mode: str | None):
    data = tmp_path_factory.mktemp(name) / "data"
    data.mkdir()
    (data / "credentials").write_text(f"[default]\naws_access_key_id = {KNOWN}\naws_secret_access_key = "
                                      f"{KNOWN_SECRET}\n")
    extra = data.parent / "more-credentials"
    extra.write_text(f"[acct]\naws_access_key_id={ACCOUNT}\naws_secret_access_key={ACCOUNT_SECRET}\n"
                     "region=us-east-1\n")
    if mode:  # the command-line flags (the default server: the environment variables)
        return start_server(data, "--credentials", str(extra), "--verify-signatures", mode)
    return start_server(data, env={"NUBIS_CREDENTIALS": str(extra)})


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = _start(tmp_path_factory, "sigv4", None)
    yield s
    stop_server(s)


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    s = _start(tmp_path_factory, "sigv4-strict", "strict")
    yield s
    stop_server(s)


def client(server, service: str, key: str = KNOWN, secret: str = KNOWN_SECRET, **config):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 0}, **config))


def http(url: str, method: str = "GET", data: bytes | None = None, headers: dict | None = None):
    req = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def send_signed(server, method: str, path: str, body: bytes, creds: Credentials, service: str = "s3",
                headers: dict | None = None, signer=S3SigV4Auth):
    """A request signed by botocore over `body` (send it with raw_send, with that body or another)."""
    req = AWSRequest(method=method, url=server.endpoint + path, data=body, headers=dict(headers or {}))
    signer(creds, service, "us-east-1").add_auth(req)
    return req.prepare()


def raw_send(server, prepared, body: bytes):
    parts = urlsplit(prepared.url)
    conn = httpclient.HTTPConnection(parts.hostname, parts.port, timeout=60)
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()}
    headers["Content-Length"] = str(len(body))
    headers.pop("Expect", None)
    conn.request(prepared.method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body,
                 headers=headers)
    resp = conn.getresponse()
    out = resp.status, resp.read()
    conn.close()
    return out


def error_of(exc: ClientError) -> tuple[int, dict]:
    return exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]


# --------------------------------------------------------------------------- known keys


def test_known_key_with_the_right_secret_works(srv):
    s3 = client(srv, "s3")
    bucket = unique("bkt")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a b/c(d)~é+x", Body=b"hello", Metadata={"k": "v  w"})
    assert s3.get_object(Bucket=bucket, Key="a b/c(d)~é+x")["Body"].read() == b"hello"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="a b/")["Contents"]] == ["a b/c(d)~é+x"]
    s3.upload_fileobj(__import__("io").BytesIO(b"m" * (6 * 1024 * 1024)), bucket, "big")  # > 1 MiB: streamed
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == 6 * 1024 * 1024
    assert "Functions" in client(srv, "lambda").list_functions()
    client(srv, "logs").describe_log_groups()
    assert "Functions" in client(srv, "lambda", ACCOUNT, ACCOUNT_SECRET).list_functions()  # the second file


def test_wrong_secret_s3_signature_does_not_match(srv):
    bucket = unique("bkt")
    client(srv, "s3").create_bucket(Bucket=bucket)
    bad = client(srv, "s3", secret="wrong")
    with pytest.raises(ClientError) as e:
        bad.put_object(Bucket=bucket, Key="k", Body=b"data")
    status, err = error_of(e.value)
    assert (status, err["Code"], err["Message"]) == (403, "SignatureDoesNotMatch", S3_MISMATCH)
    assert err["AWSAccessKeyId"] == KNOWN
    assert err["StringToSign"].startswith("AWS4-HMAC-SHA256\n")
    assert err["CanonicalRequest"].startswith(f"PUT\n/{bucket}/k\n")
    assert err["StringToSignBytes"].startswith("41 57 53 34")
    with pytest.raises(ClientError) as e:
        bad.head_object(Bucket=bucket, Key="k")
    assert error_of(e.value)[0] == 403
    # The raw document, as S3 writes it.
    prepared = send_signed(srv, "GET", f"/{bucket}", b"", Credentials(KNOWN, "wrong"),
                           headers={"X-Amz-Content-SHA256": EMPTY_SHA256})
    status, body = raw_send(srv, prepared, b"")
    text = body.decode()
    assert status == 403 and text.startswith('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch')
    for element in ("AWSAccessKeyId", "StringToSign", "SignatureProvided", "StringToSignBytes", "CanonicalRequest",
                    "CanonicalRequestBytes", "RequestId"):
        assert f"<{element}>" in text
    assert "NoSuchKey" not in text
    with pytest.raises(ClientError):
        client(srv, "s3").get_object(Bucket=bucket, Key="k")  # nothing was stored


def test_wrong_secret_lambda_and_logs(srv):
    with pytest.raises(ClientError) as e:
        client(srv, "lambda", secret="wrong").list_functions()
    status, err = error_of(e.value)
    assert (status, err["Code"]) == (403, "InvalidSignatureException")
    assert err["Message"].startswith(MISMATCH)
    assert "\n\nThe Canonical String for this request should have been\n'GET\n/2015-03-31/functions\n" in err["Message"]
    assert "\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n" in err["Message"]
    with pytest.raises(ClientError) as e:
        client(srv, "lambda", ACCOUNT, "wrong").invoke(FunctionName="anything", Payload=b"{}")
    assert error_of(e.value)[1]["Code"] == "InvalidSignatureException"
    with pytest.raises(ClientError) as e:
        client(srv, "logs", secret="wrong").describe_log_groups()
    status, err = error_of(e.value)
    assert (status, err["Code"]) == (400, "InvalidSignatureException")


def test_presigned_urls(srv):
    s3 = client(srv, "s3")
    bucket = unique("bkt")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"presigned body")
    v4 = boto3.client(
        "s3", endpoint_url=srv.endpoint, region_name="us-east-1", aws_access_key_id=KNOWN,
        aws_secret_access_key=KNOWN_SECRET, config=Config(signature_version="s3v4"))
    for signer in (s3, v4):  # boto3's default (signature version 2) and SigV4
        url = signer.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "doc.txt"})
        assert http(url)[0:3:2] == (200, b"presigned body")
        sig_name = "X-Amz-Signature=" if "X-Amz-Signature=" in url else "Signature="
        head, _, rest = url.partition(sig_name)
        tampered = head + sig_name + ("0" if rest[0] != "0" else "1") + rest[1:]
        status, _, body = http(tampered)
        assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in body and b"<StringToSign>" in body
        other_key = url.replace("doc.txt", "other.txt")
        assert http(other_key)[0] == 403
    put = v4.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "up.txt"})
    assert http(put, "PUT", b"uploaded")[0] == 200
    wrong = boto3.client("s3", endpoint_url=srv.endpoint, region_name="us-east-1", aws_access_key_id=KNOWN,
                         aws_secret_access_key="wrong")
    assert http(wrong.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "doc.txt"}))[0] == 403


def test_unknown_keys_are_accepted_by_default(srv):
    assert "Functions" in client(srv, "lambda", "SOMEONEELSE", "anything").list_functions()
    client(srv, "s3", "SOMEONEELSE", "anything").list_buckets()
    # the same key with a secret nubis knows for it would be checked; a key it does not know never is
    assert "Functions" in client(srv, "lambda", "999999999999", "x").list_functions()


def test_tampered_body_is_x_amz_content_sha256_mismatch(srv):
    bucket = unique("bkt")
    client(srv, "s3").create_bucket(Bucket=bucket)
    creds = Credentials(KNOWN, KNOWN_SECRET)
    for size in (100, 3 * 1024 * 1024):  # buffered, and streamed to disk
        original = b"o" * size
        prepared = send_signed(srv, "PUT", f"/{bucket}/obj-{size}", original, creds)
        status, body = raw_send(srv, prepared, b"t" * size)
        assert status == 400, body
        assert b"<Code>XAmzContentSHA256Mismatch</Code>" in body
        assert f"<ClientComputedContentSHA256>{hashlib.sha256(original).hexdigest()}<".encode() in body
        assert f"<S3ComputedContentSHA256>{hashlib.sha256(b't' * size).hexdigest()}<".encode() in body
        with pytest.raises(ClientError) as e:
            client(srv, "s3").head_object(Bucket=bucket, Key=f"obj-{size}")
        assert error_of(e.value)[0] == 404  # nothing stored
        status, _ = raw_send(srv, send_signed(srv, "PUT", f"/{bucket}/obj-{size}", original, creds), original)
        assert status == 200


def _chunked_body(key: bytes, amz_date: str, scope: str, seed: str, data: bytes, size: int, corrupt: int = -1):
    out, prev = bytearray(), seed
    pieces = [data[i:i + size] for i in range(0, len(data), size)] + [b""]
    for n, piece in enumerate(pieces):
        sts = (f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n{prev}\n{EMPTY_SHA256}\n"
               f"{hashlib.sha256(piece).hexdigest()}")
        prev = hmac.new(key, sts.encode(), hashlib.sha256).hexdigest()
        if n == corrupt:
            piece = b"X" + piece[1:]
        out += f"{len(piece):x};chunk-signature={prev}\r\n".encode() + piece + b"\r\n"
    return bytes(out)


@pytest.mark.parametrize("size", [300_000, 3 * 1024 * 1024])
def test_signed_aws_chunked_upload(srv, size):
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD, as the Java and Go SDKs send it: every chunk signature checked."""
    from nubis.server.sigv4 import signing_key

    class Streaming(S3SigV4Auth):
        def payload(self, request):
            return "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"

    bucket = unique("bkt")
    client(srv, "s3").create_bucket(Bucket=bucket)
    data = os.urandom(size)
    for key_name, corrupt in (("good", -1), ("bad", 3)):
        headers = {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(size)}
        prepared = send_signed(srv, "PUT", f"/{bucket}/{key_name}", b"", Credentials(KNOWN, KNOWN_SECRET),
                               headers=headers, signer=Streaming)
        amz_date = prepared.headers["X-Amz-Date"]
        amz_date = amz_date.decode() if isinstance(amz_date, bytes) else amz_date
        seed = (prepared.headers["Authorization"].decode() if isinstance(prepared.headers["Authorization"], bytes)
                else prepared.headers["Authorization"]).rsplit("Signature=", 1)[1]
        body = _chunked_body(signing_key(KNOWN_SECRET, amz_date[:8], "us-east-1", "s3"), amz_date,
                             f"{amz_date[:8]}/us-east-1/s3/aws4_request", seed, data, 64 * 1024, corrupt)
        status, resp = raw_send(srv, prepared, body)
        if corrupt < 0:
            assert status == 200, resp
            got = client(srv, "s3").get_object(Bucket=bucket, Key=key_name)
            assert got["Body"].read() == data
        else:
            assert status == 403 and b"<Code>SignatureDoesNotMatch</Code>" in resp
            assert b"<StringToSign>AWS4-HMAC-SHA256-PAYLOAD\n" in resp
            with pytest.raises(ClientError):
                client(srv, "s3").head_object(Bucket=bucket, Key=key_name)


def test_request_time_too_skewed(srv):
    late = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=20)
    with mock.patch("botocore.auth.get_current_datetime", return_value=late):
        with pytest.raises(ClientError) as e:
            client(srv, "s3").list_buckets()
        status, err = error_of(e.value)
        assert (status, err["Code"]) == (403, "RequestTimeTooSkewed")
        assert err["MaxAllowedSkewMilliseconds"] == "900000" and err["RequestTime"] == late.strftime("%Y%m%dT%H%M%SZ")
        with pytest.raises(ClientError) as e:
            client(srv, "lambda").list_functions()
        status, err = error_of(e.value)
        assert (status, err["Code"]) == (403, "InvalidSignatureException")
        assert err["Message"].startswith(f"Signature expired: {late.strftime('%Y%m%dT%H%M%SZ')} is now earlier than ")
        assert client(srv, "lambda", "SOMEONEELSE").list_functions()  # unknown keys are not checked at all


def test_aws_cli_with_a_wrong_secret(srv, tmp_path):
    aws = Path(sys.executable).parent / "aws"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=KNOWN, AWS_SECRET_ACCESS_KEY="wrong", AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(tmp_path / "none"), AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_MAX_ATTEMPTS="1", AWS_EC2_METADATA_DISABLED="true")

    def run(*args):
        return subprocess.run([sys.executable, str(aws), "--endpoint-url", srv.endpoint, *args], env=env,
                              capture_output=True, text=True, timeout=120)

    out = run("s3api", "list-buckets")
    assert out.returncode != 0
    assert "An error occurred (SignatureDoesNotMatch) when calling the ListBuckets operation: " + S3_MISMATCH \
        in out.stderr
    out = run("lambda", "list-functions")
    assert out.returncode != 0
    assert "An error occurred (InvalidSignatureException) when calling the ListFunctions operation: " + MISMATCH \
        in out.stderr
    env["AWS_SECRET_ACCESS_KEY"] = KNOWN_SECRET
    assert run("lambda", "list-functions").returncode == 0


def test_function_url_aws_iam(srv):
    lam = client(srv, "lambda")
    name = create_function(lam, "def handler(e, c):\n    return {'statusCode': 200, 'body': 'ok'}\n")
    url = lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")["FunctionUrl"]
    url_id = url.split("//", 1)[1].split(".", 1)[0]
    path = f"/_nubis/lambda/url/{url_id}/hello?x=1"
    good = send_signed(srv, "GET", path, b"", Credentials(KNOWN, KNOWN_SECRET), "lambda", signer=SigV4Auth)
    assert raw_send(srv, good, b"") == (200, b"ok")
    bad = send_signed(srv, "GET", path, b"", Credentials(KNOWN, "wrong"), "lambda", signer=SigV4Auth)
    status, body = raw_send(srv, bad, b"")
    assert status == 403 and json.loads(body)["Message"].startswith(MISMATCH)
    other = send_signed(srv, "GET", path, b"", Credentials("SOMEONEELSE", "x"), "lambda", signer=SigV4Auth)
    assert raw_send(srv, other, b"")[0] == 200


def _run_function_using_credentials(server, key: str, secret: str):
    lam = client(server, "lambda", key, secret)
    s3 = client(server, "s3", key, secret)
    bucket = unique("fnb")
    s3.create_bucket(Bucket=bucket)
    name = create_function(lam, USES_CREDENTIALS, Timeout=60)
    out = lam.invoke(FunctionName=name, Payload=json.dumps({"bucket": bucket}).encode())
    payload = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, payload
    assert payload == {"body": "hi", "presigned": "hi", "fn": name}


def test_functions_credentials_are_verified_and_work(srv):
    """The function's account (123456789012) is also a key in the credentials file, with another secret:
    the function's session token tells nubis which secret to check."""
    _run_function_using_credentials(srv, ACCOUNT, ACCOUNT_SECRET)


# --------------------------------------------------------------------------- strict mode


def test_strict_mode_rejects_unknown_keys(strict):
    with pytest.raises(ClientError) as e:
        client(strict, "s3", "SOMEONEELSE", "x").list_buckets()
    status, err = error_of(e.value)
    assert (status, err["Code"], err["Message"], err["AWSAccessKeyId"]) == (
        403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", "SOMEONEELSE")
    with pytest.raises(ClientError) as e:
        client(strict, "lambda", "SOMEONEELSE", "x").list_functions()
    status, err = error_of(e.value)
    assert (status, err["Code"], err["Message"]) == (
        403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    with pytest.raises(ClientError) as e:
        client(strict, "lambda", secret="wrong").list_functions()
    assert error_of(e.value)[1]["Code"] == "InvalidSignatureException"
    status, headers, body = http(strict.endpoint + "/2015-03-31/functions/")  # unsigned
    assert status == 403 and headers.get("x-amzn-ErrorType") == "MissingAuthenticationTokenException"
    assert client(strict, "lambda").list_functions()["Functions"] is not None


def test_strict_mode_functions_still_work(strict):
    _run_function_using_credentials(strict, ACCOUNT, ACCOUNT_SECRET)
