"""The `query` protocol (SNS; SQS for old clients): form-encoded `Action=...` in, XML out.

Inputs are flattened into dotted keys (`Attributes.entry.1.key`, `Tags.member.1.Key`,
`MessageAttributes.entry.1.Value.StringValue`), which are folded back into params by walking the
input shape. Results are `<OpResponse><OpResult>...</OpResult><ResponseMetadata>` documents and
errors `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>` with the legacy code
(the error's `__query_error__` field, else the error shape's `error.code`: SNS NotFoundException ->
NotFound).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from botocore.model import OperationModel, ServiceModel

from ..errors import AwsError
from ..messages import HttpRequest, HttpResponse
from .awsjson import QUERY_ERROR_KEY
from .base import REQUEST_ID_KEY, ServiceProtocol
from .values import decode_text
from .xmlshape import encode_xml, xml_text

__all__ = ["QueryProtocol"]


class _Flat:
    """The decoded form fields plus every dotted prefix of their keys, for O(1) presence tests."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.values: dict[str, str] = {}
        self.prefixes: set[str] = set()
        for key, value in pairs:
            self.values[key] = value
            parts = key.split(".")
            for i in range(1, len(parts)):
                self.prefixes.add(".".join(parts[:i]))

    def has(self, key: str) -> bool:
        return key in self.values or key in self.prefixes


class QueryProtocol(ServiceProtocol):
    protocol = "query"
    content_type = "text/xml"

    def __init__(self, model: ServiceModel) -> None:
        super().__init__(model)
        self.xmlns: str = model.metadata.get("xmlNamespace", "")
        self._actions = {name: name for name in model.operation_names}

    # -- parsing --------------------------------------------------------------------------------------
    def _parse(self, req: HttpRequest) -> tuple[OperationModel, dict[str, Any]]:
        pairs = parse_qsl(req.query, keep_blank_values=True) if req.query else []
        ctype = req.headers.get("content-type", "")
        if req.body and ("x-www-form-urlencoded" in ctype or not ctype):
            pairs += parse_qsl(req.body.decode("utf-8"), keep_blank_values=True)
        flat = _Flat(pairs)
        action = flat.values.get("Action", "")
        name = self._actions.get(action)
        if name is None:
            raise AwsError("InvalidAction", f"The action {action or '(none)'} is not valid for this web service.", 400)
        op = self.operation(name)
        if op.input_shape is None:
            return op, {}
        return op, self._dec_structure(op.input_shape, flat, "")

    def _malformed(self, detail: str) -> AwsError:
        return AwsError("MalformedQueryString", detail, 400)

    def _dec(self, shape: Any, flat: _Flat, key: str) -> Any:
        t = shape.type_name
        if t == "structure":
            return self._dec_structure(shape, flat, key + ".") if flat.has(key) else None
        if t == "list":
            return self._dec_list(shape, flat, key)
        if t == "map":
            return self._dec_map(shape, flat, key)
        text = flat.values.get(key)
        return None if text is None else decode_text(shape, text)

    def _dec_structure(self, shape: Any, flat: _Flat, prefix: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, member in shape.members.items():
            value = self._dec(member, flat, prefix + member.serialization.get("name", name))
            if value is not None:
                out[name] = value
        return out

    def _dec_list(self, shape: Any, flat: _Flat, key: str) -> list[Any] | None:
        if flat.values.get(key) == "":
            return []  # botocore sends `Name=` for an empty list
        member_name = shape.member.serialization.get("name")
        if shape.serialization.get("flattened"):
            base = ".".join(key.split(".")[:-1] + [member_name]) if member_name else key
        else:
            base = f"{key}.{member_name or 'member'}"
        items: list[Any] = []
        i = 1
        while flat.has(f"{base}.{i}"):
            items.append(self._dec(shape.member, flat, f"{base}.{i}"))
            i += 1
        return items if items else None

    def _dec_map(self, shape: Any, flat: _Flat, key: str) -> dict[str, Any] | None:
        base = key if shape.serialization.get("flattened") else f"{key}.entry"
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        out: dict[str, Any] = {}
        i = 1
        while flat.has(f"{base}.{i}"):
            k = self._dec(shape.key, flat, f"{base}.{i}.{key_name}")
            if k is not None:
                out[k] = self._dec(shape.value, flat, f"{base}.{i}.{value_name}")
            i += 1
        return out if out else None

    # -- serializing ----------------------------------------------------------------------------------
    def _envelope_open(self, root: str) -> str:
        ns = f' xmlns="{self.xmlns}"' if self.xmlns else ""
        return f"<{root}{ns}>"

    def serialize(self, op: OperationModel, result: dict[str, Any], status: int | None = None) -> HttpResponse:
        rid = self._request_id(result)
        out = [self._envelope_open(f"{op.name}Response")]
        shape = op.output_shape
        if shape is not None:
            wrapper = shape.serialization.get("resultWrapper", f"{op.name}Result")
            payload = {k: v for k, v in (result or {}).items() if k != REQUEST_ID_KEY}
            encode_xml(shape, payload, wrapper, out, ns="")
        out.append(f"<ResponseMetadata><RequestId>{xml_text(rid)}</RequestId></ResponseMetadata>")
        out.append(f"</{op.name}Response>")
        return HttpResponse(status or 200, [("Content-Type", self.content_type), ("x-amzn-RequestId", rid)],
                            "".join(out).encode("utf-8"))

    def serialize_error(self, err: AwsError, op: OperationModel | None = None) -> HttpResponse:
        shape = self.error_shape(err.code)
        info = shape.metadata.get("error", {}) if shape is not None else {}
        code = err.fields.get(QUERY_ERROR_KEY) or info.get("code") or err.code
        sender = info.get("senderFault", err.status < 500)
        rid = self._request_id(err.fields)
        parts = [self._envelope_open("ErrorResponse"), "<Error>",
                 f"<Type>{'Sender' if sender else 'Receiver'}</Type>",
                 f"<Code>{xml_text(code)}</Code>"]
        if err.message is not None:
            parts.append(f"<Message>{xml_text(err.message)}</Message>")
        members = shape.members if shape is not None else {}
        for key, value in err.fields.items():
            if value is None or key in (REQUEST_ID_KEY, QUERY_ERROR_KEY):
                continue
            if key in members:
                encode_xml(members[key], value, members[key].serialization.get("name", key), parts)
            else:
                parts.append(f"<{key}>{xml_text(str(value))}</{key}>")
        parts.append(f"</Error><RequestId>{xml_text(rid)}</RequestId></ErrorResponse>")
        return HttpResponse(err.status, [("Content-Type", self.content_type), ("x-amzn-RequestId", rid)],
                            "".join(parts).encode("utf-8"))
