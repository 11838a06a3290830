"""The protocol-independent half of a service front end: model access, validation, error lookup.

A `ServiceProtocol` turns HTTP requests into (operation, params) and results/errors back into HTTP
responses for one botocore service model. Subclasses (one module per wire protocol) implement
`_parse`, `serialize` and `serialize_error`; this class guarantees that `parse` raises nothing but
AwsError, because a malformed request must become an AWS error, never a 500.
"""
from __future__ import annotations

import uuid
from typing import Any

from botocore.model import OperationModel, ServiceModel, Shape

from ..errors import AwsError
from ..messages import HttpRequest, HttpResponse
from .validation import Violation, format_violations, validate_shape
from .values import DecodeError

__all__ = ["ServiceProtocol", "REQUEST_ID_KEY"]

REQUEST_ID_KEY = "__request_id__"


class ServiceProtocol:
    """Parse/serialize for one service; use `nubis.server.protocol.load_service(name)` to get one."""

    protocol: str = ""

    def __init__(self, model: ServiceModel) -> None:
        self.model = model
        self.service_name: str = model.service_name
        self._ops: dict[str, OperationModel] = {}
        self._errors: dict[str, Shape] = {}
        for shape in model.error_shapes:
            self._errors[shape.name] = shape
            wire = shape.metadata.get("error", {}).get("code")
            if wire:
                self._errors.setdefault(wire, shape)

    # -- public API ------------------------------------------------------------------------------------
    def parse(self, req: HttpRequest) -> tuple[OperationModel, dict[str, Any]]:
        """Find the operation and decode its params; any failure is an AwsError."""
        try:
            return self._parse(req)
        except AwsError:
            raise
        except DecodeError as e:
            raise self._malformed(str(e)) from None
        except Exception as e:  # defensive: bad input must never surface as a traceback
            raise self._malformed(f"{type(e).__name__}: {e}") from None

    def validate(self, op: OperationModel, params: dict[str, Any]) -> list[Violation]:
        """Model constraint violations of the input params, in member order."""
        return validate_shape(op.input_shape, params)

    def validation_error(self, violations: list[Violation]) -> AwsError:
        return AwsError("ValidationException", format_violations(violations), 400)

    def operation(self, name: str) -> OperationModel:
        op = self._ops.get(name)
        if op is None:
            op = self._ops[name] = self.model.operation_model(name)
        return op

    def error_shape(self, code: str) -> Shape | None:
        """The modeled error shape for a code (shape name or its wire `error.code`), if any."""
        return self._errors.get(code)

    def serialize(self, op: OperationModel, result: dict[str, Any], status: int | None = None) -> HttpResponse:
        raise NotImplementedError

    def serialize_error(self, err: AwsError, op: OperationModel | None = None) -> HttpResponse:
        raise NotImplementedError

    # -- for subclasses --------------------------------------------------------------------------------
    def _parse(self, req: HttpRequest) -> tuple[OperationModel, dict[str, Any]]:
        raise NotImplementedError

    def _malformed(self, detail: str) -> AwsError:
        """The protocol's error for a request that cannot be decoded."""
        return AwsError("SerializationException", detail, 400)

    @staticmethod
    def _request_id(result: dict[str, Any] | None) -> str:
        if result:
            rid = result.get(REQUEST_ID_KEY)
            if rid:
                return str(rid)
        return str(uuid.uuid4())

    def _message_member(self, shape: Shape | None, default: str = "message") -> str:
        """The casing the model uses for the error message member (`Message` vs `message`)."""
        if shape is not None:
            members = shape.members
            for name in ("message", "Message", "errorMessage", "ErrorMessage"):
                if name in members:
                    return members[name].serialization.get("name", name)
        return default
