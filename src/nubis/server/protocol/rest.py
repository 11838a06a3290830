"""HTTP bindings shared by the REST protocols (rest-json, rest-xml).

Members bound to the URI, query string, headers, header prefixes and status code are handled here,
the same way for both; only the body encoding differs, so subclasses supply `_decode_body`,
`_encode_body` and the error format. Binding plans are built once per operation because the
Invoke path is hot: parsing is then a route match plus a few dict lookups.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from botocore.model import OperationModel, ServiceModel, Shape

from ..errors import AwsError
from ..messages import HttpRequest, HttpResponse
from .base import REQUEST_ID_KEY, ServiceProtocol
from .router import Router, compile_route, query_literals
from .values import decode_text, encode_text, split_header_list

__all__ = ["RestProtocol"]


@dataclass(slots=True)
class _InputPlan:
    uri: list[tuple[str, str, Shape]] = field(default_factory=list)  # member, label, shape
    query: list[tuple[str, str, Shape]] = field(default_factory=list)  # member, key, shape
    query_map: tuple[str, Shape] | None = None
    headers: list[tuple[str, str, Shape]] = field(default_factory=list)  # member, lower-case header
    header_maps: list[tuple[str, str, Shape]] = field(default_factory=list)  # member, lower prefix
    payload: tuple[str, Shape] | None = None
    raw_payload: bool = False  # blob/string payload = the body bytes themselves
    body_members: frozenset[str] = frozenset()
    claimed_query: frozenset[str] = frozenset()


@dataclass(slots=True)
class _OutputPlan:
    headers: list[tuple[str, str, Shape]] = field(default_factory=list)  # member, header name
    header_maps: list[tuple[str, str, Shape]] = field(default_factory=list)
    status_member: str | None = None
    payload: tuple[str, Shape] | None = None
    raw_payload: bool = False
    body_members: frozenset[str] = frozenset()


def _query_dict(raw: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for k, v in parse_qsl(raw, keep_blank_values=True):
        out.setdefault(k, []).append(v)
    return out


class RestProtocol(ServiceProtocol):
    """Base for rest-json and rest-xml."""

    content_type = "application/octet-stream"
    header_timestamp = "rfc822"

    def __init__(self, model: ServiceModel) -> None:
        super().__init__(model)
        routes = []
        for name in model.operation_names:
            op = self.operation(name)
            routes.append(compile_route(name, op.http.get("method", "POST"), op.http.get("requestUri", "/"),
                                        op.input_shape, bool(op.deprecated)))
        self.router = Router(routes)
        self._in_plans: dict[str, _InputPlan] = {}
        self._out_plans: dict[str, _OutputPlan] = {}

    # -- parsing --------------------------------------------------------------------------------------
    def _parse(self, req: HttpRequest) -> tuple[OperationModel, dict[str, Any]]:
        query = _query_dict(req.query) if req.query else {}
        hit = self.router.match(req.method.upper(), req.path, query, req.headers)
        if hit is None:
            raise self._unknown_operation(req)
        route, labels = hit
        op = self.operation(route.op_name)
        plan = self._input_plan(op)
        params: dict[str, Any] = {}
        if plan.body_members or plan.payload is not None:
            self._parse_body(op, plan, req, params)
        for name, label, shape in plan.uri:
            params[name] = decode_text(shape, labels[label])
        if query:
            for name, key, shape in plan.query:
                values = query.get(key)
                if values is not None:
                    if shape.type_name == "list":
                        params[name] = [decode_text(shape.member, v) for v in values]
                    else:
                        params[name] = decode_text(shape, values[0])
            if plan.query_map is not None:
                self._parse_query_map(plan, query, params)
        headers = req.headers
        for name, hname, shape in plan.headers:
            text = headers.get(hname)
            if text is not None:
                if shape.type_name == "list":
                    params[name] = [decode_text(shape.member, v) for v in split_header_list(text)]
                else:
                    params[name] = decode_text(shape, text)
        for name, prefix, shape in plan.header_maps:
            found = {h[len(prefix):]: v for h, v in headers.items() if h.startswith(prefix)}
            if found:
                params[name] = found
        return op, params

    def _parse_query_map(self, plan: _InputPlan, query: dict[str, list[str]], params: dict[str, Any]) -> None:
        name, shape = plan.query_map  # type: ignore[misc]
        as_list = shape.value.type_name == "list"
        found = {k: (v if as_list else v[0]) for k, v in query.items() if k not in plan.claimed_query}
        if found:
            params[name] = found

    def _parse_body(self, op: OperationModel, plan: _InputPlan, req: HttpRequest, params: dict[str, Any]) -> None:
        body = req.body
        if plan.payload is not None:
            name, shape = plan.payload
            if req.stream is not None:  # a large upload still arriving: the service reads it chunk by chunk
                if not plan.raw_payload:
                    raise AwsError("MaxMessageLengthExceeded", "Your request was too big.", 400)
                params[name] = req.stream
                return
            if plan.raw_payload:
                if body:
                    params[name] = bytes(body) if shape.type_name == "blob" else bytes(body).decode("utf-8")
            elif body and body.strip():
                value = self._decode_body(shape, body)
                if value is not None and value != {}:  # botocore sends `{}` for an absent payload
                    params[name] = value
            return
        if body and body.strip():
            decoded = self._decode_body(op.input_shape, body) or {}
            for key, value in decoded.items():
                if key in plan.body_members:
                    params[key] = value

    def _input_plan(self, op: OperationModel) -> _InputPlan:
        plan = self._in_plans.get(op.name)
        if plan is not None:
            return plan
        plan = _InputPlan()
        shape = op.input_shape
        if shape is not None:
            route_literals = {k for k, _ in query_literals(op.http.get("requestUri", "/"))}
            body: set[str] = set()
            claimed = set(route_literals)
            for name, member in shape.members.items():
                loc = member.serialization.get("location")
                wire = member.serialization.get("name", name)
                if loc == "uri":
                    plan.uri.append((name, wire, member))
                elif loc == "querystring":
                    if member.type_name == "map":
                        plan.query_map = (name, member)
                    else:
                        plan.query.append((name, wire, member))
                        claimed.add(wire)
                elif loc == "header":
                    plan.headers.append((name, wire.lower(), member))
                elif loc == "headers":
                    plan.header_maps.append((name, wire.lower(), member))
                elif loc is None:
                    body.add(name)
            payload = shape.serialization.get("payload")
            if payload:
                member = shape.members[payload]
                plan.payload = (payload, member)
                plan.raw_payload = member.type_name in ("blob", "string")
                body.discard(payload)
                plan.body_members = frozenset()
            else:
                plan.body_members = frozenset(body)
            plan.claimed_query = frozenset(claimed)
        self._in_plans[op.name] = plan
        return plan

    # -- serializing ----------------------------------------------------------------------------------
    def serialize(self, op: OperationModel, result: dict[str, Any], status: int | None = None) -> HttpResponse:
        """Output members -> status, headers and body (raw payload, or the body members encoded)."""
        result = result or {}
        plan = self._output_plan(op)
        headers: dict[str, tuple[str, str]] = {}  # lower name -> (name, value)
        for name, hname, shape in plan.headers:
            value = result.get(name)
            if value is not None:
                headers[hname.lower()] = (hname, self._header_text(shape, value))
        for name, prefix, shape in plan.header_maps:
            for key, value in (result.get(name) or {}).items():
                if value is not None:
                    headers[(prefix + key).lower()] = (prefix + key, str(value))
        code = status
        if code is None and plan.status_member is not None and result.get(plan.status_member) is not None:
            code = int(result[plan.status_member])
        if code is None:
            code = int(op.http.get("responseCode", 200))
        body = b"" if code in (204, 304) else self._body_bytes(op, plan, result)
        headers.setdefault("content-type", ("Content-Type", self._content_type(plan, result)))
        self._add_request_id(headers, self._request_id(result))
        return HttpResponse(code, list(headers.values()), body)

    def _body_bytes(self, op: OperationModel, plan: _OutputPlan, result: dict[str, Any]) -> bytes:
        if plan.payload is not None:
            name, shape = plan.payload
            value = result.get(name)
            if value is None:
                return b""
            if plan.raw_payload:
                return self._raw_bytes(value)
            return self._encode_body(shape, value)
        if not plan.body_members:
            return b""
        body = {k: v for k, v in result.items() if k in plan.body_members and v is not None}
        return self._encode_body(op.output_shape, body)

    def _raw_bytes(self, value: Any) -> bytes:
        if isinstance(value, bytes):
            return value
        if isinstance(value, str):
            return value.encode("utf-8")
        if isinstance(value, (bytearray, memoryview)):
            return bytes(value)
        if hasattr(value, "read"):
            return value.read()
        return orjson.dumps(value)  # a dict/list payload (e.g. an Invoke result) goes as its JSON text

    def _header_text(self, shape: Shape, value: Any) -> str:
        if shape.type_name == "list":
            items = []
            for v in value:
                text = encode_text(shape.member, v, self.header_timestamp)
                items.append('"' + text.replace('"', '\\"') + '"' if ('"' in text or "," in text) else text)
            return ",".join(items)
        return encode_text(shape, value, self.header_timestamp)

    def _content_type(self, plan: _OutputPlan, result: dict[str, Any]) -> str:
        return self.content_type

    def _add_request_id(self, headers: dict[str, tuple[str, str]], rid: str) -> None:
        headers["x-amzn-requestid"] = ("x-amzn-RequestId", rid)

    def _output_plan(self, op: OperationModel) -> _OutputPlan:
        plan = self._out_plans.get(op.name)
        if plan is not None:
            return plan
        plan = _OutputPlan()
        shape = op.output_shape
        if shape is not None:
            body: set[str] = set()
            for name, member in shape.members.items():
                loc = member.serialization.get("location")
                wire = member.serialization.get("name", name)
                if loc == "header":
                    plan.headers.append((name, wire, member))
                elif loc == "headers":
                    plan.header_maps.append((name, wire, member))
                elif loc == "statusCode":
                    plan.status_member = name
                elif loc is None:
                    body.add(name)
            payload = shape.serialization.get("payload")
            if payload:
                member = shape.members[payload]
                plan.payload = (payload, member)
                plan.raw_payload = member.type_name in ("blob", "string")
            else:
                plan.body_members = frozenset(body)
        self._out_plans[op.name] = plan
        return plan

    # -- errors ---------------------------------------------------------------------------------------
    def _unknown_operation(self, req: HttpRequest) -> AwsError:
        return AwsError("UnknownOperationException", f"Unknown operation: {req.method.upper()} {req.path}", 404)

    def _error_parts(
        self, err: AwsError
    ) -> tuple[Shape | None, dict[str, tuple[str, str]], dict[str, Any], str]:
        """Split err.fields into headers (members bound to a header), body fields and the request id."""
        shape = self.error_shape(err.code)
        rid = self._request_id(err.fields)
        headers: dict[str, tuple[str, str]] = {}
        fields: dict[str, Any] = {}
        members = shape.members if shape is not None else {}
        for key, value in err.fields.items():
            if value is None or key == REQUEST_ID_KEY:
                continue
            member = members.get(key)
            if member is not None and member.serialization.get("location") == "header":
                hname = member.serialization.get("name", key)
                headers[hname.lower()] = (hname, self._header_text(member, value))
            else:
                fields[key] = value
        return shape, headers, fields, rid

    def _response_headers(
        self, headers: dict[str, tuple[str, str]], content_type: str, rid: str
    ) -> list[tuple[str, str]]:
        headers.setdefault("content-type", ("Content-Type", content_type))
        self._add_request_id(headers, rid)
        return list(headers.values())

    # -- body codec, per protocol -------------------------------------------------------------------------
    def _decode_body(self, shape: Shape, body: bytes) -> Any:
        raise NotImplementedError

    def _encode_body(self, shape: Shape, value: Any) -> bytes:
        raise NotImplementedError
