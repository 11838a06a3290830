"""One request on its way through a REST API: what each step (authorizer, key check, validator,
integration, access log) needs to know and records."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from ...events.http_events import request_time
from ...server.messages import HttpRequest
from .matching import Match
from .store import RestApiRecord


@dataclass(slots=True)
class Call:
    req: HttpRequest
    rec: RestApiRecord
    stage_name: str
    stage: dict
    snapshot: dict
    stage_path: str  # the path after /<stage>
    host: str
    request_id: str
    extended_id: str
    match: Match | None = None
    started: float = field(default_factory=time.time)
    authorizer: dict | None = None  # requestContext.authorizer
    api_key: dict | None = None  # the API key the request used
    status: int = 0
    error: str = ""  # $context.error.message for access logs
    response_length: int = 0
    integration_latency: int | None = None
    integration_status: str = "-"

    @property
    def resource_path(self) -> str:
        return self.match.resource["path"] if self.match else ""

    @property
    def stage_variables(self) -> dict:
        return self.stage.get("variables") or {}

    def method_arn(self) -> str:
        """arn:aws:execute-api:<region>:<account>:<api-id>/<stage>/<METHOD>/<request path>."""
        rec = self.rec
        return (f"arn:aws:execute-api:{rec.region}:{rec.account}:{rec.api_id}/{self.stage_name}/{self.req.method}"
                f"{self.stage_path if self.stage_path.startswith('/') else '/' + self.stage_path}")

    def header(self, name: str) -> str | None:
        return self.req.headers.get(name.lower())

    def query(self) -> dict[str, str]:
        """Single-value query parameters (the last value of a repeated one, as REST APIs pass them)."""
        return {k: v for k, v in parse_qsl(self.req.query, keep_blank_values=True)}

    def vtl_params(self) -> dict[str, dict[str, str]]:
        return {"path": dict(self.match.path_parameters) if self.match else {}, "querystring": self.query(),
                "header": dict(self.req.headers)}

    def context(self) -> dict:
        """`$context` for mapping templates and access logs."""
        rec, req = self.rec, self.req
        identity = {"sourceIp": req.remote or "127.0.0.1", "userAgent": req.headers.get("user-agent", ""),
                    "apiKey": (self.api_key or {}).get("value", ""), "apiKeyId": (self.api_key or {}).get("id", ""),
                    "accountId": "", "caller": "", "user": "", "userArn": ""}
        return {
            "accountId": rec.account, "apiId": rec.api_id, "domainName": self.host.split(":", 1)[0],
            "domainPrefix": rec.api_id, "extendedRequestId": self.extended_id, "httpMethod": req.method,
            "identity": identity, "path": f"/{self.stage_name}{self.stage_path}", "protocol": "HTTP/1.1",
            "requestId": self.request_id, "requestTime": request_time(self.started),
            "requestTimeEpoch": int(self.started * 1000),
            "resourceId": self.match.resource["id"] if self.match else "", "resourcePath": self.resource_path,
            "stage": self.stage_name, "authorizer": dict(self.authorizer or {}),
            "error": {"message": self.error, "messageString": f'"{self.error}"' if self.error else "",
                      "responseType": ""},
            "responseOverride": {"status": None, "header": {}},
        }

