"""Lambda Invoke's fast lane: the common Invoke request parsed without walking botocore's model.

The warm Invoke path is benchmarked (bench/invoke.py); the model parse and validation cost ~15 us
of the ~200 us the server spends per request. Only the unambiguous case takes this lane; anything
else (ARNs, qualifiers, unusual headers, bad values) gets the general parse and its errors.
"""
from __future__ import annotations

import re

from ...server.messages import HttpRequest

# A plain function name: no ARN, no qualifier, nothing to percent-decode.
_INVOKE_PATH = re.compile(r"/2015-03-31/functions/([A-Za-z0-9_.-]{1,64})/invocations")
_INVOKE_ENUMS = (("x-amz-invocation-type", "InvocationType", frozenset({"Event", "RequestResponse", "DryRun"})),
                 ("x-amz-log-type", "LogType", frozenset({"None", "Tail"})))
_INVOKE_OTHER = ("x-amz-durable-execution-name", "x-amz-tenant-id")  # present: the general path validates them


def invoke_params(req: HttpRequest) -> dict | None:
    """Lambda Invoke's parameters when the request is the common, unambiguous case (what
    botocore's model would parse it into, already valid); None for anything else (the general
    parse and validation answer it, errors included). Saves the model walk on the hot path."""
    if req.method != "POST" or req.query or not req.body or req.body_too_large or req.stream is not None:
        return None
    m = _INVOKE_PATH.fullmatch(req.path)
    if m is None:
        return None
    headers = req.headers
    params: dict = {"Payload": req.body, "FunctionName": m.group(1)}
    for header, name, allowed in _INVOKE_ENUMS:
        v = headers.get(header)
        if v is not None:
            if v not in allowed:
                return None
            params[name] = v
    cc = headers.get("x-amz-client-context")
    if cc is not None:
        params["ClientContext"] = cc
    for header in _INVOKE_OTHER:
        if header in headers:
            return None
    return params
