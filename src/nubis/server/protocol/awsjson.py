"""The `json` protocol (CloudWatch Logs, DynamoDB, SQS, Kinesis, Step Functions, EventBridge, ...).

Every request is `POST /` with `X-Amz-Target: <targetPrefix>.<Operation>` and the whole input as a
JSON object; responses are JSON with `Content-Type: application/x-amz-json-<jsonVersion>`; errors
carry `{"__type": code, "message": ...}`. Services that moved from the query protocol
(`awsQueryCompatible`, e.g. SQS) also get `x-amzn-query-error: <legacy code>;Sender|Receiver`, from
which botocore recovers the old error codes; the legacy code comes from the error shape's
`error.code`, else the `__query_error__` field, else the code itself.
"""
from __future__ import annotations

from typing import Any

import orjson
from botocore.model import OperationModel, ServiceModel

from ..errors import AwsError
from ..messages import HttpRequest, HttpResponse
from .base import REQUEST_ID_KEY, ServiceProtocol
from .jsonshape import decode_json, encode_json

__all__ = ["JsonProtocol", "QUERY_ERROR_KEY"]

# AwsError field naming the legacy query-protocol code when the model lacks it (SQS models do):
# AwsError("QueueDoesNotExist", msg, __query_error__="AWS.SimpleQueueService.NonExistentQueue")
QUERY_ERROR_KEY = "__query_error__"


class JsonProtocol(ServiceProtocol):
    protocol = "json"

    def __init__(self, model: ServiceModel) -> None:
        super().__init__(model)
        meta = model.metadata
        self.target_prefix: str = meta.get("targetPrefix", "")
        self.content_type = f"application/x-amz-json-{meta.get('jsonVersion', '1.0')}"
        self._targets = {f"{self.target_prefix}.{name}": name for name in model.operation_names}
        self._query_compatible = "awsQueryCompatible" in meta

    def _parse(self, req: HttpRequest) -> tuple[OperationModel, dict[str, Any]]:
        target = req.headers.get("x-amz-target", "")
        name = self._targets.get(target)
        if name is None:
            raise AwsError("UnknownOperationException", f"Unknown operation: {target or '(no X-Amz-Target)'}", 400)
        op = self.operation(name)
        body = req.body
        if not body or not body.strip():
            return op, {}
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as e:
            raise self._malformed(f"Could not parse request body: {e}") from None
        if not isinstance(data, dict):
            raise self._malformed("Request body must be a JSON object")
        if op.input_shape is None:
            return op, {}
        return op, decode_json(op.input_shape, data)

    def serialize(self, op: OperationModel, result: dict[str, Any], status: int | None = None) -> HttpResponse:
        shape = op.output_shape
        if shape is None:
            body = b"{}"
        else:
            payload = {k: v for k, v in (result or {}).items() if k != REQUEST_ID_KEY}
            body = orjson.dumps(encode_json(shape, payload))
        headers = [("Content-Type", self.content_type), ("x-amzn-RequestId", self._request_id(result))]
        return HttpResponse(status or 200, headers, body)

    def serialize_error(self, err: AwsError, op: OperationModel | None = None) -> HttpResponse:
        shape = self.error_shape(err.code)
        members = shape.members if shape is not None else {}
        body: dict[str, Any] = {"__type": err.code}
        if err.message is not None:
            body["message"] = err.message
        for key, value in err.fields.items():
            if value is None or key in (REQUEST_ID_KEY, QUERY_ERROR_KEY):
                continue
            member = members.get(key)
            body[member.serialization.get("name", key) if member is not None else key] = (
                encode_json(member, value) if member is not None else value
            )
        headers = [
            ("Content-Type", self.content_type),
            ("x-amzn-RequestId", self._request_id(err.fields)),
            ("x-amzn-ErrorType", err.code),
        ]
        if self._query_compatible:
            info = shape.metadata.get("error", {}) if shape is not None else {}
            legacy = err.fields.get(QUERY_ERROR_KEY) or info.get("code") or err.code
            fault = "Sender" if info.get("senderFault", err.status < 500) else "Receiver"
            headers.append(("x-amzn-query-error", f"{legacy};{fault}"))
        return HttpResponse(err.status, headers, orjson.dumps(body, default=str))
