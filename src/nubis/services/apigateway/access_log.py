"""Access logs: one line per request, in the stage's `accessLogSettings.format`, written to the
CloudWatch Logs group named by `destinationArn` (read with `aws logs filter-log-events`).

`$context.<name>` variables are substituted; an unknown or empty one becomes `-`, as on AWS.
"""
from __future__ import annotations

import re
import time

import orjson

from ...store.logs import LogStore
from .call import Call

_VARIABLE = re.compile(r"\$context\.([A-Za-z0-9_.]+)")
_GROUP = re.compile(r"arn:aws[a-zA-Z-]*:logs:([^:]+):(\d{12}):log-group:([^:]+)(?::\*)?$")


def _flat(context: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in context.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, name + "."))
        elif value is not None and value != "":
            out[name] = value if isinstance(value, str) else orjson.dumps(value).decode()
    return out


def line(call: Call, fmt: str) -> str:
    context = call.context()
    context.update(status=call.status, responseLength=call.response_length,
                   responseLatency=int((time.time() - call.started) * 1000),
                   integrationLatency=call.integration_latency, integrationStatus=call.integration_status)
    context["integration"] = {"latency": call.integration_latency, "status": call.integration_status}
    values = _flat(context)
    return _VARIABLE.sub(lambda m: values.get(m.group(1), "-"), fmt)


def write(logs: LogStore | None, call: Call) -> None:
    settings = call.stage.get("accessLogSettings") or {}
    fmt, arn = settings.get("format"), settings.get("destinationArn")
    if logs is None or not fmt or not arn:
        return
    m = _GROUP.match(arn)
    if m is None:
        return
    region, account, group = m.groups()
    stream = f"{call.rec.api_id}-{call.stage_name}"
    logs.append(account, region, group, stream, [(int(time.time() * 1000), line(call, fmt))])
