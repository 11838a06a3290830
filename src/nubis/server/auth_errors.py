"""The errors AWS answers when authentication fails, in each service family's words.

`family` is "s3" or the service's protocol. S3 has its own codes and adds the details as elements of
`<Error>`; the JSON services answer InvalidSignatureException / UnrecognizedClientException (status 400
for `json`-protocol services such as CloudWatch Logs, 403 for `rest-json` ones such as Lambda); `query`
(and other XML) services answer SignatureDoesNotMatch / InvalidClientTokenId (403).
"""
from __future__ import annotations

import datetime as dt

from .errors import AwsError

MISMATCH_S3 = ("The request signature we calculated does not match the signature you provided. Check your key "
               "and signing method.")
MISMATCH = ("The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.")
BAD_TOKEN = "The security token included in the request is invalid."


def _bytes(text: str) -> str:
    return " ".join(f"{b:02x}" for b in text.encode("utf-8"))


def _status(protocol: str) -> int:
    return 400 if protocol == "json" else 403


def iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def amz(t: float) -> str:
    return dt.datetime.fromtimestamp(t, tz=dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def signature_mismatch(protocol: str, access_key: str, string_to_sign: str, provided: str,
                       canonical_request: str | None) -> AwsError:
    if protocol == "s3":
        fields = {"AWSAccessKeyId": access_key, "StringToSign": string_to_sign, "SignatureProvided": provided,
                  "StringToSignBytes": _bytes(string_to_sign)}
        if canonical_request is not None:
            fields.update(CanonicalRequest=canonical_request, CanonicalRequestBytes=_bytes(canonical_request))
        return AwsError("SignatureDoesNotMatch", MISMATCH_S3, 403, **fields)
    message = MISMATCH
    if canonical_request is not None:
        message += (f"\n\nThe Canonical String for this request should have been\n'{canonical_request}'\n\n"
                    f"The String-to-Sign should have been\n'{string_to_sign}'\n")
    code = "InvalidSignatureException" if protocol in ("json", "rest-json") else "SignatureDoesNotMatch"
    return AwsError(code, message, _status(protocol))


def unknown_key(protocol: str, access_key: str) -> AwsError:
    if protocol == "s3":
        return AwsError("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.",
                        403, AWSAccessKeyId=access_key)
    if protocol not in ("json", "rest-json"):
        return AwsError("InvalidClientTokenId", BAD_TOKEN, 403)
    return AwsError("UnrecognizedClientException", BAD_TOKEN, _status(protocol))


def missing_auth(protocol: str) -> AwsError:
    if protocol == "s3":
        return AwsError("AccessDenied", "Access Denied", 403)
    if protocol not in ("json", "rest-json"):
        return AwsError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
    return AwsError("MissingAuthenticationTokenException", "Missing Authentication Token", _status(protocol))


def malformed(protocol: str, detail: str) -> AwsError:
    if protocol == "s3":
        return AwsError("AuthorizationHeaderMalformed", f"The authorization header is malformed; {detail}", 400)
    return AwsError("IncompleteSignatureException", detail, 400 if protocol != "rest-json" else 403)


def too_skewed(protocol: str, request_time: str, request_t: float, now: float, max_skew_s: int) -> AwsError:
    if protocol == "s3":
        return AwsError("RequestTimeTooSkewed", "The difference between the request time and the current time is "
                        "too large.", 403, RequestTime=request_time, ServerTime=iso(now),
                        MaxAllowedSkewMilliseconds=str(max_skew_s * 1000))
    minutes = max_skew_s // 60
    if request_t < now:
        message = (f"Signature expired: {request_time} is now earlier than {amz(now - max_skew_s)} "
                   f"({amz(now)} - {minutes} min.)")
    else:
        message = (f"Signature not yet current: {request_time} is still later than {amz(now + max_skew_s)} "
                   f"({amz(now)} + {minutes} min.)")
    code = "InvalidSignatureException" if protocol in ("json", "rest-json") else "SignatureDoesNotMatch"
    return AwsError(code, message, _status(protocol))


def content_sha256_mismatch(client: str, computed: str) -> AwsError:
    return AwsError("XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what "
                    "was computed.", 400, ClientComputedContentSHA256=client, S3ComputedContentSHA256=computed)


def missing_content_sha256() -> AwsError:
    return AwsError("InvalidRequest", "Missing required header for this request: x-amz-content-sha256", 400)


def invalid_content_sha256(value: str) -> AwsError:
    return AwsError("InvalidArgument", "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
                    "STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
                    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, "
                    "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.", 400,
                    ArgumentName="x-amz-content-sha256", ArgumentValue=value)
