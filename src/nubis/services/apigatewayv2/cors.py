"""CORS as HTTP APIs do it: with a CorsConfiguration the gateway answers preflight requests itself
(no OPTIONS route needed), adds the configured headers to integration responses and ignores CORS
headers the backend sends."""
from __future__ import annotations

from ...server.messages import HttpRequest, HttpResponse


def is_preflight(req: HttpRequest) -> bool:
    return req.method == "OPTIONS" and "origin" in req.headers and "access-control-request-method" in req.headers


def _allowed_origin(cors: dict, origin: str) -> str | None:
    allowed = cors.get("AllowOrigins") or []
    if origin in allowed:
        return origin
    if "*" in allowed:
        return "*"
    return None


def preflight(cors: dict, req: HttpRequest) -> HttpResponse:
    headers: list[tuple[str, str]] = []
    origin = _allowed_origin(cors, req.headers["origin"])
    if origin is not None:
        headers.append(("access-control-allow-origin", origin))
        if cors.get("AllowCredentials"):
            headers.append(("access-control-allow-credentials", "true"))
        if cors.get("AllowMethods"):
            headers.append(("access-control-allow-methods", ",".join(cors["AllowMethods"])))
        if cors.get("AllowHeaders"):
            headers.append(("access-control-allow-headers", ",".join(cors["AllowHeaders"])))
        if cors.get("MaxAge") is not None and cors["MaxAge"] >= 0:
            headers.append(("access-control-max-age", str(cors["MaxAge"])))
    return HttpResponse(204, headers, b"")


def decorate(cors: dict, req: HttpRequest, resp: HttpResponse) -> HttpResponse:
    """Replace the backend's CORS headers with the configured ones."""
    resp.headers = [(k, v) for k, v in resp.headers if not k.lower().startswith("access-control-")]
    origin = req.headers.get("origin")
    allowed = _allowed_origin(cors, origin) if origin else None
    if allowed is not None:
        resp.headers.append(("access-control-allow-origin", allowed))
        if cors.get("AllowCredentials"):
            resp.headers.append(("access-control-allow-credentials", "true"))
        if cors.get("ExposeHeaders"):
            resp.headers.append(("access-control-expose-headers", ",".join(cors["ExposeHeaders"])))
    return resp
