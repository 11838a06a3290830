"""Protocol test rig: a real boto3 client answered in-process by the protocol layer.

A `before-send` hook turns botocore's prepared request into an HttpRequest, runs `parse()`, hands
(op, params) to the test's handler, and turns `serialize()` / `serialize_error()` back into the
AWSResponse botocore parses. So every test sees exactly what boto3 sends and what boto3 makes of
the answer, with no network and no mocks of botocore.
"""
from __future__ import annotations

import datetime as dt
import io
from typing import Any, Callable
from urllib.parse import urlsplit

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config

from nubis.server.errors import AwsError
from nubis.server.messages import HttpRequest
from nubis.server.protocol import load_service

Handler = Callable[[Any, dict[str, Any]], Any]


class _Raw(io.BytesIO):
    """What AWSResponse expects of urllib3's raw response: `stream()` and `read()`."""

    def stream(self, *args: Any, **kwargs: Any):
        yield self.getvalue()


def to_http_request(prepared: Any) -> HttpRequest:
    parts = urlsplit(prepared.url)
    body = prepared.body
    if body is None:
        body = b""
    elif isinstance(body, str):
        body = body.encode("utf-8")
    elif hasattr(body, "read"):
        body = body.read()
    headers = {}
    for k, v in prepared.headers.items():
        headers[k.lower()] = v.decode("latin-1") if isinstance(v, bytes) else v
    return HttpRequest(prepared.method, parts.path or "/", parts.query, headers, bytes(body), "127.0.0.1")


class Loopback:
    """A boto3 client wired to a ServiceProtocol; `handler(op, params)` plays the service."""

    def __init__(self, service: str, protocol: str | None = None, **config: Any) -> None:
        self.svc = load_service(service, protocol) if protocol else load_service(service)
        self.client = boto3.client(
            service,
            region_name="us-east-1",
            endpoint_url="http://localhost:1",
            aws_access_key_id="x",
            aws_secret_access_key="y",
            config=Config(retries={"total_max_attempts": 1}, inject_host_prefix=False, **config),
        )
        self.client.meta.events.register("before-send", self._send)
        self.handler: Handler | None = None
        self.request: HttpRequest | None = None
        self.op: Any = None
        self.params: dict[str, Any] | None = None
        self.response: Any = None

    def _send(self, request: Any, **_: Any) -> AWSResponse:
        self.request = req = to_http_request(request)
        self.op = self.params = None
        try:
            self.op, self.params = self.svc.parse(req)
            out = self.handler(self.op, self.params) if self.handler else {}
            result, status = out if isinstance(out, tuple) else (out, None)
            resp = self.svc.serialize(self.op, result or {}, status)
        except AwsError as e:
            resp = self.svc.serialize_error(e, self.op)
        self.response = resp
        return AWSResponse(request.url, resp.status, resp.headers, _Raw(resp.body))

    def capture(self, method: str, **params: Any) -> tuple[str, dict[str, Any]]:
        """Call the client, return (operation name, params as parsed on the server side)."""
        self.handler = None
        self.op = self.params = self.response = None
        error: Exception | None = None
        try:
            getattr(self.client, method)(**params)
        except Exception as e:  # the empty result may not satisfy the client; the request was captured
            error = e
        assert self.op is not None, f"request not parsed: {error!r} {self.response}"
        assert self.params is not None
        return self.op.name, self.params

    def answer(self, handler: Handler | dict[str, Any] | AwsError) -> None:
        if isinstance(handler, AwsError):
            err = handler

            def raise_it(op: Any, params: dict[str, Any]) -> Any:
                raise err

            self.handler = raise_it
        elif isinstance(handler, dict):
            self.handler = lambda op, params: handler
        else:
            self.handler = handler


def example_params(shape: Any, depth: int = 0, all_members: bool = False) -> Any:
    """Model-valid-looking input for a shape: required members only (or all, shallowly)."""
    t = shape.type_name
    md = shape.metadata
    if t == "structure":
        if shape.is_document_type:
            return {"doc": [1, "two"]}
        if md.get("union"):
            name, member = next(iter(shape.members.items()))
            return {name: example_params(member, depth + 1)}
        names = list(shape.members) if (all_members and depth == 0) else shape.required_members
        out = {}
        for name in names:
            member = shape.members[name]
            if depth > 4 and name not in shape.required_members:
                continue
            if member.serialization.get("location") == "headers" or member.serialization.get("eventstream"):
                continue
            host = member.serialization.get("hostLabel") and member.type_name == "string"
            if host or (name == "Bucket" and member.type_name == "string"):
                out[name] = "host1"  # must be a DNS label / S3 bucket name for the client
            elif name == "Key" and member.serialization.get("location") == "uri":
                out[name] = "dir/sub dir/k+é.txt"  # greedy label with '/', ' ', '+' and non-ASCII
            else:
                out[name] = example_params(member, depth + 1)
        return out
    if t == "list":
        return [example_params(shape.member, depth + 1) for _ in range(max(int(md.get("min", 1)), 1))]
    if t == "map":
        return {"k1": example_params(shape.value, depth + 1)}
    if t == "string":
        if md.get("enum"):
            return md["enum"][0]
        if shape.serialization.get("jsonvalue"):
            return {"a": 1}
        n = max(int(md.get("min", 1)), 5)
        return ("v:1-" * n)[:n]
    if t in ("integer", "long"):
        return int(md.get("min", 7))
    if t in ("float", "double"):
        return float(md.get("min", 1.5))
    if t == "boolean":
        return True
    if t == "blob":
        return b"\x00\x01blob"
    if t == "timestamp":
        return dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)
    return "x"
