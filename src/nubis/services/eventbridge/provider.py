"""The EventBridge API (events, 2015-10-07, JSON protocol): event buses, rules, targets, PutEvents,
TestEventPattern and tags; scheduled rules fire through scheduler.py, matched events go to targets
through the bus (delivery.py)."""
from __future__ import annotations

import base64
import binascii
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import orjson

from ...events.bus import Bus
from ...server.context import RequestContext
from ...server.errors import AwsError
from ...store.db import Database
from ..arns import parse_arn
from ..base import Provider
from . import errors
from .clock import Clock
from .delivery import deliver
from .patterns import InvalidPattern, matches, validate
from .schedule import InvalidSchedule, parse
from .scheduler import Scheduler
from .store import Bus as EventBus
from .store import EventsStore, Rule
from .transform import BadPath, path_steps

MAX_TARGETS = 5
_EVENT_FIELDS = ("id", "account", "source", "time", "region", "detail-type")


def _iso(t: datetime) -> str:
    return t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventsProvider(Provider):
    service = "events"

    def __init__(self, db: Database, bus: Bus, clock: Clock | None = None) -> None:
        self.store = EventsStore(db)
        self.bus = bus
        self.scheduler = Scheduler(self.store, self._fire_scheduled, clock or Clock.from_env())

    async def start(self) -> None:
        await self.scheduler.start()

    async def stop(self) -> None:
        await self.scheduler.stop()

    # -- helpers
    def _bus_name(self, ctx: RequestContext, value: str | None) -> str:
        name = value or "default"
        if name.startswith("arn:"):
            parsed = parse_arn(name, "events")
            if parsed is None or not parsed.resource.startswith("event-bus/"):
                raise errors.validation("Parameter EventBusName is not valid.")
            name = parsed.resource.split("/", 1)[1]
        if self.store.bus(ctx.account, ctx.region, name) is None:
            raise errors.bus_not_found(name)
        return name

    def _rule(self, ctx: RequestContext, params: dict, key: str = "Name") -> Rule:
        bus = self._bus_name(ctx, params.get("EventBusName"))
        rule = self.store.rule(ctx.account, ctx.region, bus, params[key])
        if rule is None:
            raise errors.rule_not_found(params[key], bus)
        return rule

    @staticmethod
    def _token(name: str) -> str:
        return base64.urlsafe_b64encode(f"events:{name}".encode()).decode()

    @staticmethod
    def _after(token: str | None) -> str:
        if not token:
            return ""
        try:
            kind, _, name = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            kind, name = "", ""
        if kind != "events":
            raise errors.validation("The nextToken provided is invalid.")
        return name

    @staticmethod
    def _pattern(text: str) -> dict:
        try:
            doc = orjson.loads(text)
        except orjson.JSONDecodeError as e:
            raise errors.bad_pattern(f"Filter is not valid JSON: {e}") from None
        try:
            validate(doc)
        except InvalidPattern as e:
            raise errors.bad_pattern(str(e)) from None
        return doc

    # -- event buses
    async def create_event_bus(self, ctx: RequestContext, params: dict) -> dict:
        name = params["Name"]
        if name == "default" or self.store.bus(ctx.account, ctx.region, name) is not None:
            raise errors.exists(f"Event bus {name} already exists.")
        if "/" in name:
            raise errors.validation("Event bus name must not contain '/'.")
        b = EventBus(ctx.account, ctx.region, name, params.get("Description"),
                     {t["Key"]: t["Value"] for t in params.get("Tags") or []})
        self.store.insert_bus(b)
        out: dict[str, Any] = {"EventBusArn": b.arn}
        if b.description:
            out["Description"] = b.description
        return out

    async def describe_event_bus(self, ctx: RequestContext, params: dict) -> dict:
        b = self.store.bus(ctx.account, ctx.region, self._bus_name(ctx, params.get("Name")))
        assert b is not None
        out: dict[str, Any] = {"Name": b.name, "Arn": b.arn, "CreationTime": b.created, "LastModifiedTime": b.created}
        if b.description:
            out["Description"] = b.description
        return out

    async def delete_event_bus(self, ctx: RequestContext, params: dict) -> dict:
        name = params["Name"]
        if name == "default":
            raise errors.validation("Cannot delete event bus default.")
        self.store.delete_bus(ctx.account, ctx.region, name)  # an unknown bus: success, as on AWS
        self.scheduler.forget_bus(ctx.account, ctx.region, name)
        return {}

    async def list_event_buses(self, ctx: RequestContext, params: dict) -> dict:
        prefix = params.get("NamePrefix") or ""
        after = self._after(params.get("NextToken"))
        limit = params.get("Limit") or 100
        buses = [b for b in self.store.buses(ctx.account, ctx.region) if b.name.startswith(prefix) and b.name > after]
        page = buses[:limit]
        out: dict[str, Any] = {"EventBuses": [{"Name": b.name, "Arn": b.arn, "CreationTime": b.created,
                                               "LastModifiedTime": b.created,
                                               **({"Description": b.description} if b.description else {})}
                                              for b in page]}
        if len(buses) > limit:
            out["NextToken"] = self._token(page[-1].name)
        return out

    # -- rules
    async def put_rule(self, ctx: RequestContext, params: dict) -> dict:
        bus = self._bus_name(ctx, params.get("EventBusName"))
        schedule, pattern = params.get("ScheduleExpression"), params.get("EventPattern")
        if not schedule and not pattern:
            raise errors.validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        if pattern:
            self._pattern(pattern)
        if schedule:
            if bus != "default":
                raise errors.validation("ScheduleExpression is supported only on the default event bus.")
            try:
                parse(schedule)
            except InvalidSchedule:
                raise errors.validation("Parameter ScheduleExpression is not valid.") from None
        state = params.get("State") or None
        if state not in (None, "ENABLED", "DISABLED"):
            raise errors.validation("Parameter State is not valid.")
        old = self.store.rule(ctx.account, ctx.region, bus, params["Name"])
        rule = Rule(ctx.account, ctx.region, bus, params["Name"], schedule or None, pattern or None,
                    state or (old.state if old else "ENABLED"), params.get("Description"), params.get("RoleArn"),
                    old.tags if old else {t["Key"]: t["Value"] for t in params.get("Tags") or []},
                    self.scheduler.clock.now().timestamp())
        if old is not None and old.schedule == rule.schedule and old.state == rule.state:
            rule.anchor = old.anchor  # re-putting the same schedule does not restart it
        self.store.save_rule(rule)
        self.scheduler.plan(rule, rule.key)
        return {"RuleArn": rule.arn}

    def _describe(self, rule: Rule) -> dict:
        out: dict[str, Any] = {"Name": rule.name, "Arn": rule.arn, "State": rule.state, "EventBusName": rule.bus}
        for key, value in (("EventPattern", rule.pattern), ("ScheduleExpression", rule.schedule),
                           ("Description", rule.description), ("RoleArn", rule.role_arn)):
            if value:
                out[key] = value
        return out

    async def describe_rule(self, ctx: RequestContext, params: dict) -> dict:
        rule = self._rule(ctx, params)
        return {**self._describe(rule), "CreatedBy": rule.account}

    async def list_rules(self, ctx: RequestContext, params: dict) -> dict:
        bus = self._bus_name(ctx, params.get("EventBusName"))
        limit = params.get("Limit") or 100
        rules = self.store.rules(ctx.account, ctx.region, bus, params.get("NamePrefix") or "",
                                 self._after(params.get("NextToken")), limit + 1)
        out: dict[str, Any] = {"Rules": [self._describe(r) for r in rules[:limit]]}
        if len(rules) > limit:
            out["NextToken"] = self._token(rules[limit - 1].name)
        return out

    async def _set_state(self, ctx: RequestContext, params: dict, state: str) -> dict:
        rule = self._rule(ctx, params)
        if rule.state != state:
            rule.state = state
            if state == "ENABLED":
                rule.anchor = self.scheduler.clock.now().timestamp()
            self.store.save_rule(rule)
            self.scheduler.plan(rule, rule.key)
        return {}

    async def enable_rule(self, ctx: RequestContext, params: dict) -> dict:
        return await self._set_state(ctx, params, "ENABLED")

    async def disable_rule(self, ctx: RequestContext, params: dict) -> dict:
        return await self._set_state(ctx, params, "DISABLED")

    async def delete_rule(self, ctx: RequestContext, params: dict) -> dict:
        bus = self._bus_name(ctx, params.get("EventBusName"))
        rule = self.store.rule(ctx.account, ctx.region, bus, params["Name"])
        if rule is None:
            return {}  # deleting an unknown rule succeeds, as on AWS
        if self.store.targets(rule) and not params.get("Force"):
            raise errors.validation("Rule can't be deleted since it has targets.")
        if self.store.targets(rule):
            self.store.remove_targets(rule, [t["Id"] for t in self.store.targets(rule)])
        self.store.delete_rule(rule)
        self.scheduler.plan(None, rule.key)
        return {}

    # -- targets
    @staticmethod
    def _check_target(t: dict) -> None:
        tid = t["Id"]
        if sum(1 for k in ("Input", "InputPath", "InputTransformer") if t.get(k) is not None) > 1:
            raise errors.validation(f"Only one of Input, InputPath, or InputTransformer must be provided for "
                                    f"target {tid}.")
        if not str(t["Arn"]).startswith("arn:") or str(t["Arn"]).count(":") < 5:
            raise errors.validation(f"Parameter {t['Arn']} is not valid. Reason: Provided Arn is not in correct format.")
        if t.get("Input") is not None:
            try:
                orjson.loads(t["Input"])
            except orjson.JSONDecodeError:
                raise errors.validation(f"Input for target {tid} is not valid JSON text.") from None
        if t.get("InputPath") is not None:
            try:
                path_steps(t["InputPath"])
            except BadPath:
                raise errors.validation(f"Parameter InputPath is not valid for target {tid}.") from None
        transformer = t.get("InputTransformer")
        if transformer is not None:
            for name, path in (transformer.get("InputPathsMap") or {}).items():
                try:
                    path_steps(path)
                except BadPath:
                    raise errors.validation(f"Parameter InputPath for key {name} is not valid for target {tid}."
                                            ) from None

    async def put_targets(self, ctx: RequestContext, params: dict) -> dict:
        rule = self._rule(ctx, params, "Rule")
        targets = params["Targets"]
        for t in targets:
            self._check_target(t)
        existing = {t["Id"] for t in self.store.targets(rule)}
        if len(existing | {t["Id"] for t in targets}) > MAX_TARGETS:
            raise errors.limit("The requested resource exceeds the maximum number allowed.")
        self.store.put_targets(rule, targets)
        return {"FailedEntryCount": 0, "FailedEntries": []}

    async def remove_targets(self, ctx: RequestContext, params: dict) -> dict:
        rule = self._rule(ctx, params, "Rule")
        self.store.remove_targets(rule, params["Ids"])
        return {"FailedEntryCount": 0, "FailedEntries": []}

    async def list_targets_by_rule(self, ctx: RequestContext, params: dict) -> dict:
        rule = self._rule(ctx, params, "Rule")
        targets = self.store.targets(rule)
        after = self._after(params.get("NextToken"))
        start = int(after) if after.isdigit() else 0
        limit = params.get("Limit") or 100
        out: dict[str, Any] = {"Targets": targets[start:start + limit]}
        if len(targets) > start + limit:
            out["NextToken"] = self._token(str(start + limit))
        return out

    async def list_rule_names_by_target(self, ctx: RequestContext, params: dict) -> dict:
        bus = self._bus_name(ctx, params.get("EventBusName"))
        names = [r.name for r in self.store.rules(ctx.account, ctx.region, bus)
                 if any(t["Arn"] == params["TargetArn"] for t in self.store.targets(r))]
        return {"RuleNames": names}

    # -- tags
    def _tagged(self, ctx: RequestContext, arn: str) -> Rule | EventBus:
        parsed = parse_arn(arn, "events")
        if parsed is None:
            raise errors.validation("Parameter ResourceARN is not valid.")
        kind, _, path = parsed.resource.partition("/")
        if kind == "rule":
            bus, _, name = path.rpartition("/")
            rule = self.store.rule(parsed.account, parsed.region, bus or "default", name)
            if rule is None or parsed.account != ctx.account:
                raise errors.rule_not_found(name, bus or "default")
            return rule
        if kind == "event-bus":
            b = self.store.bus(parsed.account, parsed.region, path)
            if b is None or parsed.account != ctx.account:
                raise errors.bus_not_found(path)
            return b
        raise errors.validation("Parameter ResourceARN is not valid.")

    def _save_tags(self, res: Rule | EventBus) -> None:
        if isinstance(res, Rule):
            self.store.save_rule(res)
        elif res.name != "default":
            self.store.save_bus_tags(res)

    async def tag_resource(self, ctx: RequestContext, params: dict) -> dict:
        res = self._tagged(ctx, params["ResourceARN"])
        res.tags.update({t["Key"]: t["Value"] for t in params["Tags"]})
        self._save_tags(res)
        return {}

    async def untag_resource(self, ctx: RequestContext, params: dict) -> dict:
        res = self._tagged(ctx, params["ResourceARN"])
        for key in params["TagKeys"]:
            res.tags.pop(key, None)
        self._save_tags(res)
        return {}

    async def list_tags_for_resource(self, ctx: RequestContext, params: dict) -> dict:
        res = self._tagged(ctx, params["ResourceARN"])
        return {"Tags": [{"Key": k, "Value": v} for k, v in res.tags.items()]}

    # -- events
    async def put_events(self, ctx: RequestContext, params: dict) -> dict:
        results: list[dict] = []
        failed = 0
        for entry in params["Entries"]:
            try:
                event, bus = self._event(ctx, entry)
            except _EntryError as e:
                failed += 1
                results.append({"ErrorCode": e.code, "ErrorMessage": e.message})
                continue
            results.append({"EventId": event["id"]})
            for rule in self.store.rules(ctx.account, ctx.region, bus):
                if rule.pattern and rule.state == "ENABLED" and matches(orjson.loads(rule.pattern), event):
                    await deliver(self.bus, rule, self.store.targets(rule), event)
        return {"FailedEntryCount": failed, "Entries": results}

    def _event(self, ctx: RequestContext, entry: dict) -> tuple[dict, str]:
        for key in ("Source", "DetailType", "Detail"):
            if not entry.get(key):
                raise _EntryError("InvalidArgument", f"Parameter {key} is not valid. Reason: {key} is a required "
                                                     f"argument.")
        try:
            detail = orjson.loads(entry["Detail"])
        except orjson.JSONDecodeError:
            detail = None
        if not isinstance(detail, dict):
            raise _EntryError("MalformedDetail", "Detail is malformed.")
        try:
            bus = self._bus_name(ctx, entry.get("EventBusName"))
        except AwsError as e:
            raise _EntryError(e.code, e.message) from None
        when = entry.get("Time")
        stamp = _iso(when if isinstance(when, datetime) else datetime.fromtimestamp(when or time.time(), timezone.utc))
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": entry["DetailType"],
                 "source": entry["Source"], "account": ctx.account, "time": stamp, "region": ctx.region,
                 "resources": list(entry.get("Resources") or []), "detail": detail}
        return event, bus

    async def test_event_pattern(self, ctx: RequestContext, params: dict) -> dict:
        pattern = self._pattern(params["EventPattern"])
        try:
            event = orjson.loads(params["Event"])
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict) or any(k not in event for k in _EVENT_FIELDS):
            raise errors.validation("Parameter Event is not valid.")
        return {"Result": matches(pattern, event)}

    # -- schedules
    async def _fire_scheduled(self, rule: Rule, due: datetime) -> None:
        current = self.store.rule(*rule.key)
        if current is None or current.state != "ENABLED" or current.schedule != rule.schedule:
            return
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
                 "account": rule.account, "time": _iso(due), "region": rule.region, "resources": [rule.arn],
                 "detail": {}}
        await deliver(self.bus, current, self.store.targets(current), event)


class _EntryError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

