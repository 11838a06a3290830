"""The `rest-xml` protocol (S3; also Route 53, CloudFront): REST bindings + XML bodies.

S3 differs from the other rest-xml services in its error document (`<Error>` at the root, with
RequestId/HostId inside) and request id headers (`x-amz-request-id`, `x-amz-id-2`), and errors on
HEAD carry no body (boto3 then reports the bare status, e.g. '404'). Streaming uploads that boto3
sends with `Content-Encoding: aws-chunked` are de-chunked here, trailing checksums becoming headers.
"""
from __future__ import annotations

import dataclasses
import secrets
from typing import Any
from urllib.parse import unquote

from botocore.model import OperationModel, ServiceModel, Shape

from ..errors import AwsError
from ..messages import HttpRequest, HttpResponse
from .rest import RestProtocol, _OutputPlan
from .values import DecodeError
from .xmlshape import decode_xml, encode_xml, parse_xml, xml_text

__all__ = ["RestXmlProtocol", "decode_aws_chunked", "AwsChunkedStream"]

_S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
_XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>'
# Root element names AWS uses where the model has none (botocore ignores the root name; people don't).
_ROOTS = {
    "ListObjectsOutput": "ListBucketResult",
    "ListObjectsV2Output": "ListBucketResult",
    "ListBucketsOutput": "ListAllMyBucketsResult",
    "ListObjectVersionsOutput": "ListVersionsResult",
    "ListMultipartUploadsOutput": "ListMultipartUploadsResult",
    "ListPartsOutput": "ListPartsResult",
    "CreateMultipartUploadOutput": "InitiateMultipartUploadResult",
    "CompleteMultipartUploadOutput": "CompleteMultipartUploadResult",
    "DeleteObjectsOutput": "DeleteResult",
    "GetBucketLocationOutput": "LocationConstraint",
    "GetBucketTaggingOutput": "Tagging",
    "GetObjectTaggingOutput": "Tagging",
    "GetBucketAclOutput": "AccessControlPolicy",
    "GetObjectAclOutput": "AccessControlPolicy",
}


def decode_aws_chunked(body: bytes) -> tuple[bytes, dict[str, str]]:
    """`<hex-size>[;chunk-signature=..]\\r\\n<data>\\r\\n ... 0\\r\\n<trailers>\\r\\n` -> (data, trailers)."""
    out = bytearray()
    trailers: dict[str, str] = {}
    pos = 0
    while True:
        eol = body.find(b"\r\n", pos)
        if eol < 0:
            raise DecodeError("truncated aws-chunked body")
        size = int(body[pos:eol].split(b";", 1)[0].strip() or b"0", 16)
        pos = eol + 2
        if size == 0:
            break
        out += body[pos:pos + size]
        pos += size + 2
    for line in body[pos:].split(b"\r\n"):
        if b":" in line:
            name, _, value = line.partition(b":")
            trailers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return bytes(out), trailers


class AwsChunkedStream:
    """Streaming `decode_aws_chunked`: iterate the data of an aws-chunked body as it arrives.

    Trailing headers (checksums) are in `trailers` once the iteration has finished. A malformed or
    truncated body raises DecodeError.
    """

    def __init__(self, source: Any) -> None:
        self.source = source
        self.trailers: dict[str, str] = {}

    async def __aiter__(self):  # type: ignore[no-untyped-def]
        buf = bytearray()
        it = self.source.__aiter__()
        eof = False

        async def more() -> bool:
            nonlocal eof
            if eof:
                return False
            try:
                chunk = await it.__anext__()
            except StopAsyncIteration:
                eof = True
                return False
            buf.extend(chunk)
            return True

        while True:
            while (eol := buf.find(b"\r\n")) < 0:
                if len(buf) > 4096 or not await more():
                    raise DecodeError("truncated aws-chunked body")
            try:
                size = int(bytes(buf[:eol]).split(b";", 1)[0].strip() or b"0", 16)
            except ValueError:
                raise DecodeError("malformed aws-chunked header") from None
            del buf[:eol + 2]
            if size == 0:
                break
            left = size
            while left > 0:
                if not buf and not await more():
                    raise DecodeError("truncated aws-chunked body")
                take = min(left, len(buf))
                data = bytes(buf[:take])
                del buf[:take]
                left -= take
                yield data
            while len(buf) < 2:
                if not await more():
                    raise DecodeError("truncated aws-chunked body")
            del buf[:2]
        while await more():  # trailers, up to the end of the body
            pass
        for line in bytes(buf).split(b"\r\n"):
            if b":" in line:
                name, _, value = line.partition(b":")
                self.trailers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")


class RestXmlProtocol(RestProtocol):
    protocol = "rest-xml"
    content_type = "application/xml"

    def __init__(self, model: ServiceModel) -> None:
        super().__init__(model)
        self.is_s3 = model.metadata.get("serviceId") in ("S3", "S3 Control")
        self.xmlns = model.metadata.get("xmlNamespace") or (_S3_NS if self.is_s3 else "")

    def _parse(self, req: HttpRequest) -> tuple[OperationModel, dict[str, Any]]:
        if req.stream is not None and "aws-chunked" in req.headers.get("content-encoding", ""):
            headers = dict(req.headers)
            decoded = headers.get("x-amz-decoded-content-length")
            if decoded is not None:
                headers["content-length"] = decoded
            else:
                headers.pop("content-length", None)
            encodings = [e.strip() for e in headers.pop("content-encoding", "").split(",")]
            rest = ", ".join(e for e in encodings if e and e != "aws-chunked")
            if rest:
                headers["content-encoding"] = rest
            req = dataclasses.replace(req, headers=headers, stream=AwsChunkedStream(req.stream))
        elif "aws-chunked" in req.headers.get("content-encoding", ""):
            try:
                body, trailers = decode_aws_chunked(req.body)
            except ValueError as e:
                raise AwsError("IncompleteBody", f"The request body could not be decoded: {e}", 400) from None
            headers = {**req.headers, **trailers, "content-length": str(len(body))}
            encodings = [e.strip() for e in headers.pop("content-encoding", "").split(",")]
            rest = ", ".join(e for e in encodings if e and e != "aws-chunked")
            if rest:
                headers["content-encoding"] = rest  # only the object's own encoding is a member value
            req = dataclasses.replace(req, body=body, headers=headers)
        op, params = super()._parse(req)
        if self.is_s3 and isinstance(params.get("CopySource"), str):
            params["CopySource"] = unquote(params["CopySource"])  # S3 URL-encodes x-amz-copy-source
        return op, params

    def _parse_body(self, op: OperationModel, plan: Any, req: HttpRequest, params: dict[str, Any]) -> None:
        super()._parse_body(op, plan, req, params)
        if plan.payload is not None and not plan.raw_payload and req.stream is None:
            name, shape = plan.payload
            if name not in params and shape.type_name == "structure" and req.body.strip():
                params[name] = {}  # an explicitly empty element: S3's <NotificationConfiguration/> clears it

    def _malformed(self, detail: str) -> AwsError:
        return AwsError("MalformedXML", "The XML you provided was not well-formed or did not validate against "
                                        f"our published schema ({detail})", 400)

    # -- body codec -----------------------------------------------------------------------------------
    def _decode_body(self, shape: Shape, body: bytes) -> Any:
        return decode_xml(shape, parse_xml(body))

    def _encode_body(self, shape: Shape, value: Any) -> bytes:
        if self.is_s3 and shape.name == "GetBucketLocationOutput":
            # S3 quirk: the root element's text is the value (botocore has a handler for it)
            region = xml_text(str(value.get("LocationConstraint") or ""))
            return f'{_XML_DECL}<LocationConstraint xmlns="{_S3_NS}">{region}</LocationConstraint>'.encode()
        name = shape.serialization.get("name") or _ROOTS.get(shape.name) or shape.name.removesuffix("Output")
        ns = None if shape.serialization.get("xmlNamespace") else (f' xmlns="{self.xmlns}"' if self.xmlns else "")
        out = [_XML_DECL]
        encode_xml(shape, value, name, out, ns=ns)
        return "".join(out).encode("utf-8")

    def _content_type(self, plan: _OutputPlan, result: dict[str, Any]) -> str:
        return "binary/octet-stream" if plan.raw_payload else self.content_type

    def _add_request_id(self, headers: dict[str, tuple[str, str]], rid: str) -> None:
        if self.is_s3:
            headers["x-amz-request-id"] = ("x-amz-request-id", rid)
            headers["x-amz-id-2"] = ("x-amz-id-2", secrets.token_urlsafe(48))
        else:
            super()._add_request_id(headers, rid)

    # -- errors ---------------------------------------------------------------------------------------
    def serialize_error(self, err: AwsError, op: OperationModel | None = None) -> HttpResponse:
        shape, headers, fields, rid = self._error_parts(err)
        info = shape.metadata.get("error", {}) if shape is not None else {}
        code = info.get("code") or err.code
        if op is not None and op.http.get("method") == "HEAD":
            return HttpResponse(err.status, self._response_headers(headers, self.content_type, rid), b"")
        inner = [f"<Code>{xml_text(code)}</Code>"]
        if err.message is not None:
            inner.append(f"<Message>{xml_text(err.message)}</Message>")
        members = shape.members if shape is not None else {}
        for key, value in fields.items():
            if key in members:
                encode_xml(members[key], value, members[key].serialization.get("name", key), inner)
            else:
                inner.append(f"<{key}>{xml_text(str(value))}</{key}>")
        if self.is_s3:
            body = f"{_XML_DECL}<Error>{''.join(inner)}<RequestId>{xml_text(rid)}</RequestId></Error>"
        else:
            ns = f' xmlns="{self.xmlns}"' if self.xmlns else ""
            fault = "Sender" if info.get("senderFault", err.status < 500) else "Receiver"
            body = (f"{_XML_DECL}<ErrorResponse{ns}><Error><Type>{fault}</Type>{''.join(inner)}</Error>"
                    f"<RequestId>{xml_text(rid)}</RequestId></ErrorResponse>")
        return HttpResponse(err.status, self._response_headers(headers, self.content_type, rid), body.encode("utf-8"))
