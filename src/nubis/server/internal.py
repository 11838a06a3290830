"""nubis's own routes under /_nubis/: health and usage (what `nubis usage` reads)."""
from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs

import orjson

from .. import __version__
from ..billing import UsageRecord, load_pricing, summarize
from ..engine.isolation import probe
from ..store.usage import UsageStore
from .messages import HttpRequest, HttpResponse

STARTED = time.time()


def _json(status: int, doc: object) -> HttpResponse:
    return HttpResponse(status, [("Content-Type", "application/json")], orjson.dumps(doc))


def health_route(data_dir: Path, python: str):
    async def health(req: HttpRequest) -> HttpResponse:
        return _json(200, {"status": "ok", "version": __version__, "uptime_s": round(time.time() - STARTED, 3),
                           "data_dir": str(data_dir), "python": python, "isolation": probe()})
    return health


def usage_route(usage: UsageStore, data_dir: Path):
    async def usage_report(req: HttpRequest) -> HttpResponse:
        q = {k: v[0] for k, v in parse_qs(req.query).items()}
        try:
            since = float(q["since"]) if q.get("since") else None
            until = float(q["until"]) if q.get("until") else None
            pricing = load_pricing(data_dir)
        except ValueError as exc:
            return _json(400, {"__type": "ValidationException", "message": str(exc)})
        rows = usage.records(account=q.get("account"), region=q.get("region"), function=q.get("function"),
                             since=since, until=until)
        records = [UsageRecord(request_id=r["request_id"], function_name=r["function"], version=r["version"],
                               start=r["start"], duration_ms=r["duration_ms"], billed_ms=r["billed_ms"],
                               memory_mb=r["memory_mb"], max_memory_mb=r["max_memory_mb"], init_ms=r["init_ms"],
                               cold=bool(r["cold"]), outcome=r["outcome"], architecture=r["architecture"])
                   for r in rows]
        return _json(200, summarize(records, pricing))
    return usage_report
