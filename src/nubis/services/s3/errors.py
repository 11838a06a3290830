"""S3's own errors: codes, statuses and messages exactly as S3 words them.

Extra keyword fields become elements of the `<Error>` document (`<Key>`, `<BucketName>`, ...), in the
order given, the way S3 adds them after `<Message>`.
"""
from __future__ import annotations

from ...server.errors import AwsError


def no_such_bucket(bucket: str) -> AwsError:
    return AwsError("NoSuchBucket", "The specified bucket does not exist", 404, BucketName=bucket)


def no_such_key(key: str) -> AwsError:
    return AwsError("NoSuchKey", "The specified key does not exist.", 404, Key=key)


def no_such_version(key: str, version_id: str) -> AwsError:
    return AwsError("NoSuchVersion", "The specified version does not exist.", 404, Key=key, VersionId=version_id)


def invalid_version(version_id: str) -> AwsError:
    return AwsError("InvalidArgument", "Invalid version id specified", 400, ArgumentName="versionId",
                    ArgumentValue=version_id)


def no_such_upload(upload_id: str) -> AwsError:
    return AwsError("NoSuchUpload", "The specified upload does not exist. The upload ID may be invalid, or the "
                    "upload may have been aborted or completed.", 404, UploadId=upload_id)


def access_denied() -> AwsError:
    return AwsError("AccessDenied", "Access Denied", 403)


def invalid_argument(message: str, name: str | None = None, value: str | None = None) -> AwsError:
    return AwsError("InvalidArgument", message, 400, ArgumentName=name, ArgumentValue=value)


def invalid_request(message: str) -> AwsError:
    return AwsError("InvalidRequest", message, 400)


def malformed_xml() -> AwsError:
    return AwsError("MalformedXML", "The XML you provided was not well-formed or did not validate against our "
                    "published schema", 400)


def precondition_failed(condition: str) -> AwsError:
    return AwsError("PreconditionFailed", "At least one of the pre-conditions you specified did not hold", 412,
                    Condition=condition)


def invalid_range(requested: str, size: int) -> AwsError:
    return AwsError("InvalidRange", "The requested range is not satisfiable", 416, RangeRequested=requested,
                    ActualObjectSize=str(size))


def entity_too_large(size: int, limit: int) -> AwsError:
    return AwsError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.", 400,
                    ProposedSize=str(size), MaxSizeAllowed=str(limit))


def incomplete_body(detail: str = "") -> AwsError:
    return AwsError("IncompleteBody", "You did not provide the number of bytes specified by the Content-Length "
                    "HTTP header" + (f" ({detail})" if detail else ""), 400)


def request_timeout() -> AwsError:
    return AwsError("RequestTimeout", "Your socket connection to the server was not read from or written to "
                    "within the timeout period. Idle connections will be closed.", 400)


def bad_digest_md5(expected: str, calculated: str) -> AwsError:
    return AwsError("BadDigest", "The Content-MD5 you specified did not match what we received.", 400,
                    ExpectedDigest=expected, CalculatedDigest=calculated)


def bad_checksum(algorithm: str) -> AwsError:
    return AwsError("BadDigest", f"The {algorithm.upper()} you specified did not match the calculated checksum.",
                    400)


def invalid_digest(value: str) -> AwsError:
    return AwsError("InvalidDigest", "The Content-MD5 you specified was invalid.", 400)


def not_implemented(what: str) -> AwsError:
    return AwsError("NotImplemented", "A header you provided implies functionality that is not implemented", 501,
                    Header=what)


def method_not_allowed(method: str, resource: str) -> AwsError:
    return AwsError("MethodNotAllowed", "The specified method is not allowed against this resource.", 405,
                    Method=method, ResourceType=resource)


def key_too_long(size: int) -> AwsError:
    return AwsError("KeyTooLongError", "Your key is too long", 400, Size=str(size), MaxSizeAllowed="1024")


class S3Error(AwsError):
    """An AwsError whose response also carries headers (S3 marks deleted keys with x-amz-delete-marker)."""

    def __init__(self, err: AwsError, headers: list[tuple[str, str]]) -> None:
        super().__init__(err.code, err.message, err.status, **err.fields)
        self.headers = headers


def malformed_post(detail: str) -> AwsError:
    return AwsError("MalformedPOSTRequest", "The body of your POST request is not well-formed "
                    f"multipart/form-data. ({detail})", 400)


def invalid_policy(message: str) -> AwsError:
    return AwsError("InvalidPolicyDocument", message, 400)
