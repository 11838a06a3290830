"""The `rest-json` protocol (Lambda, API Gateway, Scheduler, ...): REST bindings + JSON bodies.

Errors go out the way AWS sends them and botocore reads them: status, `x-amzn-ErrorType: <code>`
and a JSON body whose message key has the casing of the modeled error shape (Lambda mixes
`Message` and `message`), plus the shape's other members such as Lambda's `Type` and `Reason`.
"""
from __future__ import annotations

from typing import Any

import orjson
from botocore.model import OperationModel, Shape

from ..errors import AwsError
from ..messages import HttpResponse
from .jsonshape import decode_json, encode_json
from .rest import RestProtocol

__all__ = ["RestJsonProtocol"]


class RestJsonProtocol(RestProtocol):
    protocol = "rest-json"
    content_type = "application/json"

    def _decode_body(self, shape: Shape, body: bytes) -> Any:
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise self._malformed(f"Could not parse payload into json: {e}") from None
        return decode_json(shape, data)

    def _encode_body(self, shape: Shape, value: Any) -> bytes:
        return orjson.dumps(encode_json(shape, value))

    def _malformed(self, detail: str) -> AwsError:
        """Lambda answers InvalidRequestContentException; services without that shape, SerializationException."""
        code = "InvalidRequestContentException" if self.error_shape("InvalidRequestContentException") else \
            "SerializationException"
        return AwsError(code, f"Could not parse request body into json: {detail}", 400)

    def serialize_error(self, err: AwsError, op: OperationModel | None = None) -> HttpResponse:
        shape, headers, fields, rid = self._error_parts(err)
        body: dict[str, Any] = {}
        members = shape.members if shape is not None else {}
        if shape is not None and "Type" in members and "Type" not in fields:
            body["Type"] = "User" if err.status < 500 else "Service"
        if err.message is not None:
            body[self._message_member(shape)] = err.message
        for key, value in fields.items():
            member = members.get(key)
            if member is not None:
                body[member.serialization.get("name", key)] = encode_json(member, value)
            else:
                body[key] = value
        headers["x-amzn-errortype"] = ("x-amzn-ErrorType", err.code)
        return HttpResponse(
            err.status,
            self._response_headers(headers, "application/json", rid),
            orjson.dumps(body, default=str),
        )
