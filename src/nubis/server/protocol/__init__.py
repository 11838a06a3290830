"""The protocol layer: botocore service models turned into request parsers and response writers.

    svc = load_service("lambda")
    op, params = svc.parse(http_request)          # AwsError on anything malformed or unknown
    if (violations := svc.validate(op, params)):
        raise svc.validation_error(violations)
    response = svc.serialize(op, result)          # or svc.serialize_error(aws_error, op)

One module per wire protocol (restjson, awsjson, query, restxml) over a common base.
"""
from __future__ import annotations

from .base import REQUEST_ID_KEY, ServiceProtocol
from .registry import load_service
from .validation import Violation

__all__ = ["load_service", "ServiceProtocol", "Violation", "REQUEST_ID_KEY"]
