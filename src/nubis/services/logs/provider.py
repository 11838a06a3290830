"""CloudWatch Logs API (botocore `logs` 2014-03-28): what boto3, the AWS CLI and `aws logs tail` use.

Lambda writes function output straight into the LogStore; this provider only reads it back and
serves the management calls, so it never touches the engine.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from ...events.bus import Bus
from ...server.context import RequestContext
from ...server.errors import AwsError
from ...store.logs import LogEvent, LogStore
from ..arns import parse_arn
from ..base import Provider
from . import shapes
from .errors import (check_retention, group_exists, group_not_found, invalid, invalid_token, limit_of,
                     stream_exists, stream_not_found)
from .patterns import Pattern, compile_pattern
from .subscriptions import Filter, Subscriptions, now_ms, principals
from .tokens import END, LIMIT, START, Position, opaque, parse_int, parse_opaque, parse_stream_token, stream_token

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
MAX_BATCH_BYTES = 1_048_576


def _key(event: LogEvent) -> Position:
    return Position(event.timestamp, event.id)


def _time(params: dict, name: str, add: int = 0) -> int | None:
    """A startTime/endTime bound, clamped so that no long a client may send overflows SQLite."""
    value = params.get(name)
    return None if value is None else max(-LIMIT, min(int(value) + add, LIMIT))


class LogsProvider(Provider):
    service = "logs"

    def __init__(self, store: LogStore, bus: Bus | None = None) -> None:
        self.store = store
        self.subscriptions = Subscriptions(store, bus)
        self.bus = bus

    async def start(self) -> None:
        await self.subscriptions.start()

    async def stop(self) -> None:
        await self.subscriptions.stop()

    def validation_error(self, operation: str, violations: list[Any]) -> AwsError | None:
        """CloudWatch Logs words model constraint failures like everyone else but codes them
        InvalidParameterException, not ValidationException (recorded against AWS, 2026)."""
        from ...server.protocol.validation import format_violations

        return invalid(format_violations(violations))

    async def _sync(self) -> None:
        """Let reads see every event appended so far (Lambda appends through the background writer)."""
        await self.store.writer.aflush()

    def _require_group(self, ctx: RequestContext, group: str) -> None:
        if self.store.group(ctx.account, ctx.region, group) is None:
            raise group_not_found()

    # -- groups
    async def create_log_group(self, ctx: RequestContext, params: dict) -> dict:
        if not self.store.create_group(ctx.account, ctx.region, params["logGroupName"]):
            raise group_exists()
        return {}

    async def delete_log_group(self, ctx: RequestContext, params: dict) -> dict:
        if not self.store.delete_group(ctx.account, ctx.region, params["logGroupName"]):
            raise group_not_found()
        self.subscriptions.delete(ctx.account, ctx.region, params["logGroupName"])
        return {}

    async def describe_log_groups(self, ctx: RequestContext, params: dict) -> dict:
        prefix, pattern = params.get("logGroupNamePrefix") or "", params.get("logGroupNamePattern") or ""
        if prefix and pattern:
            raise invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
        limit = limit_of(params, 50, 50)
        after = parse_opaque(params["nextToken"], "dlg", 1)[0] if params.get("nextToken") else ""
        if params.get("logGroupClass") not in (None, "STANDARD"):
            return {"logGroups": []}  # every nubis group is STANDARD
        await self._sync()
        wanted = {shapes.group_name({"logGroupIdentifier": i}) for i in params.get("logGroupIdentifiers") or ()}
        if wanted:
            rows = [r for r in self.store.groups(ctx.account, ctx.region, after=after, limit=2**31)
                    if r["name"] in wanted][:limit + 1]
        else:
            rows = self.store.groups(ctx.account, ctx.region, prefix=prefix, after=after, limit=limit + 1,
                                     contains=pattern)
        out: dict[str, Any] = {"logGroups": [shapes.group_view(r, ctx.account, ctx.region, brief=bool(pattern))
                                             for r in rows[:limit]]}
        if len(rows) > limit:
            out["nextToken"] = opaque("dlg", rows[limit - 1]["name"])
        return out

    async def put_retention_policy(self, ctx: RequestContext, params: dict) -> dict:
        days = check_retention(params.get("retentionInDays"))
        if not self.store.set_retention(ctx.account, ctx.region, params["logGroupName"], days):
            raise group_not_found()
        return {}

    async def delete_retention_policy(self, ctx: RequestContext, params: dict) -> dict:
        if not self.store.set_retention(ctx.account, ctx.region, params["logGroupName"], None):
            raise group_not_found()
        return {}

    # -- streams
    async def create_log_stream(self, ctx: RequestContext, params: dict) -> dict:
        group = params["logGroupName"]
        self._require_group(ctx, group)
        if not self.store.create_stream(ctx.account, ctx.region, group, params["logStreamName"]):
            raise stream_exists()
        return {}

    async def delete_log_stream(self, ctx: RequestContext, params: dict) -> dict:
        group = params["logGroupName"]
        self._require_group(ctx, group)
        if not self.store.delete_stream(ctx.account, ctx.region, group, params["logStreamName"]):
            raise stream_not_found()
        return {}

    async def describe_log_streams(self, ctx: RequestContext, params: dict) -> dict:
        group = shapes.group_name(params)
        prefix = params.get("logStreamNamePrefix") or ""
        by_time = params.get("orderBy") == "LastEventTime"
        if by_time and prefix:
            raise invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        limit = limit_of(params, 50, 50)
        offset = parse_int(parse_opaque(params["nextToken"], "dls", 1)[0]) if params.get("nextToken") else 0
        if offset < 0:
            raise invalid_token()
        await self._sync()
        self._require_group(ctx, group)
        rows = self.store.streams(ctx.account, ctx.region, group, prefix=prefix, order_by_time=by_time,
                                  descending=bool(params.get("descending")), offset=offset, limit=limit + 1)
        out: dict[str, Any] = {"logStreams": [shapes.stream_view(r, ctx.account, ctx.region, group)
                                              for r in rows[:limit]]}
        if len(rows) > limit:
            out["nextToken"] = opaque("dls", offset + limit)
        return out

    # -- events
    async def put_log_events(self, ctx: RequestContext, params: dict) -> dict:
        group, stream = params["logGroupName"], params["logStreamName"]
        events: list[dict] = params["logEvents"]
        await self._sync()
        row = self.store.group(ctx.account, ctx.region, group)
        if row is None:
            raise group_not_found()
        if self.store.stream(ctx.account, ctx.region, group, stream) is None:
            raise stream_not_found()
        stamps = [int(e["timestamp"]) for e in events]
        if any(b < a for a, b in zip(stamps, stamps[1:])):
            raise invalid("Log events in a single PutLogEvents request must be in chronological order.")
        size = sum(len(e["message"].encode()) + 26 for e in events)
        if size > MAX_BATCH_BYTES:
            raise invalid(f"Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}")
        now = int(time.time() * 1000)
        too_old = sum(1 for t in stamps if t < now - 14 * DAY_MS)
        expired = (sum(1 for t in stamps if t < now - row["retention_days"] * DAY_MS)
                   if row["retention_days"] else 0)
        too_new = next((i for i, t in enumerate(stamps) if t > now + 2 * HOUR_MS), len(stamps))
        first = max(too_old, expired)
        accepted = list(range(first, too_new))
        if accepted and stamps[accepted[-1]] - stamps[accepted[0]] > DAY_MS:
            raise invalid("The batch of log events in a single PutLogEvents request cannot span more than 24 hours.")
        fut = self.store.append(ctx.account, ctx.region, group, stream,
                                [(stamps[i], events[i]["message"]) for i in accepted], urgent=True)
        if fut is not None:
            await asyncio.wrap_future(fut)  # answer only once the events are committed
        out: dict[str, Any] = {"nextSequenceToken": shapes.sequence_token(now)}
        rejected: dict[str, int] = {}
        if too_new < len(stamps):
            rejected["tooNewLogEventStartIndex"] = too_new
        if too_old:
            rejected["tooOldLogEventEndIndex"] = too_old
        if expired > too_old:
            rejected["expiredLogEventEndIndex"] = expired
        if rejected:
            out["rejectedLogEventsInfo"] = rejected
        return out

    async def get_log_events(self, ctx: RequestContext, params: dict) -> dict:
        """One stream, paged by position; with no new events the forward token comes back unchanged."""
        group, stream = shapes.group_name(params), params["logStreamName"]
        limit = limit_of(params, 10000, 10000)
        if params.get("nextToken"):
            direction, pos = parse_stream_token(params["nextToken"])
        else:
            direction = "f" if params.get("startFromHead") else "b"
            pos = START if direction == "f" else END
        await self._sync()
        self._require_group(ctx, group)
        if self.store.stream(ctx.account, ctx.region, group, stream) is None:
            raise stream_not_found()
        start, end = _time(params, "startTime"), _time(params, "endTime")

        def read(**where: Any) -> list[LogEvent]:
            return shapes.cap_bytes(self.store.events(ctx.account, ctx.region, group, streams=[stream],
                                                      start=start, end=end, limit=limit, **where))

        if direction == "f":
            page = read(after=pos)
            forward = _key(page[-1]) if page else pos
            backward = _key(page[0]) if page else Position(pos.ts, pos.id + 1)  # i.e. "up to and including pos"
        else:
            page = read(before=pos, descending=True)
            page.reverse()
            backward = _key(page[0]) if page else pos
            if page:
                forward = _key(page[-1])
            else:  # nothing before pos: poll forward from pos itself (or from the start of an empty stream)
                forward = START if pos == END else Position(pos.ts, pos.id - 1)
        return {"events": [shapes.output_event(e) for e in page],
                "nextForwardToken": stream_token("f", forward),
                "nextBackwardToken": stream_token("b", backward)}

    def _matching(self, ctx: RequestContext, group: str, pattern: Pattern, query: dict[str, Any],
                  pos: Position | None, want: int) -> list[LogEvent]:
        """Up to `want` events past `pos` that match: SQL alone for plain terms, else SQL narrows and
        the pattern decides, a chunk at a time."""
        descending = query["descending"]

        def read(at: Position | None, limit: int) -> list[LogEvent]:
            return self.store.events(ctx.account, ctx.region, group, after=None if descending else at,
                                     before=at if descending else None, limit=limit, **query)

        if pattern.exact:
            return read(pos, want)
        out: list[LogEvent] = []
        chunk = max(want, 1000)
        while len(out) < want:
            rows = read(pos, chunk)
            out += [e for e in rows if pattern.matches(e.message)]
            if len(rows) < chunk:
                break
            pos = _key(rows[-1])
        return out[:want]

    async def filter_log_events(self, ctx: RequestContext, params: dict) -> dict:
        """Events of a group across streams in timestamp order; `aws logs tail --follow` polls this."""
        group = shapes.group_name(params)
        names, prefix = params.get("logStreamNames") or None, params.get("logStreamNamePrefix") or ""
        if names and prefix:
            raise invalid("logStreamNames and logStreamNamePrefix are mutually exclusive.")
        limit = limit_of(params, 10000, 10000)
        text = compile_pattern(params.get("filterPattern"))
        pos: Position | None = None
        descending = params.get("startFromHead") is False
        if params.get("nextToken"):
            direction, ts, eid = parse_opaque(params["nextToken"], "fle", 3)
            if direction not in ("a", "d"):
                raise invalid_token()
            descending, pos = direction == "d", Position(parse_int(ts), parse_int(eid))
        await self._sync()
        self._require_group(ctx, group)
        query = dict(streams=names, stream_prefix=prefix, start=_time(params, "startTime"),
                     end=_time(params, "endTime", 1),  # endTime is inclusive here
                     contains_all=list(text.all_of), contains_any=list(text.any_of),
                     contains_none=list(text.none_of), descending=descending)
        rows = self._matching(ctx, group, text, query, pos, limit + 1)
        page = shapes.cap_bytes(rows[:limit])
        out: dict[str, Any] = {"events": [shapes.filtered_event(e) for e in page], "searchedLogStreams": []}
        if len(page) < len(rows):
            last = page[-1]
            out["nextToken"] = opaque("fle", "d" if descending else "a", last.timestamp, last.id)
        return out

    # -- filters
    async def test_metric_filter(self, ctx: RequestContext, params: dict) -> dict:
        pattern = compile_pattern(params["filterPattern"])
        return {"matches": [{"eventNumber": i, "eventMessage": m, "extractedValues": {}}
                            for i, m in enumerate(params["logEventMessages"], 1) if pattern.matches(m)]}

    async def put_subscription_filter(self, ctx: RequestContext, params: dict) -> dict:
        group, name, dest = params["logGroupName"], params["filterName"], params["destinationArn"]
        await self._sync()
        self._require_group(ctx, group)
        compile_pattern(params["filterPattern"])  # malformed: InvalidParameterException
        functions = self.bus.functions if self.bus else None
        arn = parse_arn(dest, "lambda")
        if arn is None or arn.typed("function") is None:
            raise invalid("Could not deliver test message to specified destination. Check if the destination "
                          "is valid.")
        source = shapes.group_arn(ctx.region, ctx.account, group) + ":*"
        if functions is None or not any(functions.can_invoke(dest, principal=p, source_arn=source,
                                                             source_account=ctx.account)
                                        for p in principals(ctx.region)):
            raise invalid("Could not execute the lambda function. Make sure you have given CloudWatch Logs "
                          "permission to execute your function.")
        old = {f.name: f for f in self.subscriptions.get(ctx.account, ctx.region, group)}.get(name)
        f = Filter(ctx.account, ctx.region, group, name, params["filterPattern"], dest, params.get("roleArn"),
                   params.get("distribution") or "ByLogStream", old.created if old else now_ms(),
                   old.cursor if old else self.subscriptions.high_water())
        if not self.subscriptions.put(f):
            raise AwsError("LimitExceededException", "Resource limit exceeded.", 400)
        return {}

    async def describe_subscription_filters(self, ctx: RequestContext, params: dict) -> dict:
        group = params["logGroupName"]
        await self._sync()
        self._require_group(ctx, group)
        limit = limit_of(params, 50, 50)
        prefix = params.get("filterNamePrefix") or ""
        after = parse_opaque(params["nextToken"], "dsf", 1)[0] if params.get("nextToken") else ""
        found = [f for f in self.subscriptions.get(ctx.account, ctx.region, group)
                 if f.name.startswith(prefix) and f.name > after]
        out: dict[str, Any] = {"subscriptionFilters": [f.view() for f in found[:limit]]}
        if len(found) > limit:
            out["nextToken"] = opaque("dsf", found[limit - 1].name)
        return out

    async def delete_subscription_filter(self, ctx: RequestContext, params: dict) -> dict:
        group = params["logGroupName"]
        await self._sync()
        self._require_group(ctx, group)
        if not self.subscriptions.delete(ctx.account, ctx.region, group, params["filterName"]):
            raise AwsError("ResourceNotFoundException", "The specified subscription filter does not exist.", 400)
        return {}
