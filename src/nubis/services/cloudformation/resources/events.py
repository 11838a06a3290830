"""AWS::Events::Rule: an EventBridge rule (schedule or event pattern) and its targets, made through the
events API. SAM's `Schedule` / `EventBridgeRule` function events expand to this (and to an
AWS::Lambda::Permission for events.amazonaws.com)."""
from __future__ import annotations

import json
from typing import Any

from .base import Env, Handler, Result, api_params, call, quiet

_RULE_PROPS = ("Description", "EventPattern", "ScheduleExpression", "State", "RoleArn")


def _rule_params(props: dict) -> dict[str, Any]:
    out = {k: props[k] for k in _RULE_PROPS if props.get(k) is not None}
    if isinstance(out.get("EventPattern"), (dict, list)):
        out["EventPattern"] = json.dumps(out["EventPattern"])
    return out


def _bus(props: dict) -> str | None:
    bus = props.get("EventBusName")
    return str(bus) if bus else None


def _targets(env: Env, props: dict) -> list[dict]:
    events = env.client("events")
    out = []
    for t in props.get("Targets") or []:
        t = dict(t)
        if isinstance(t.get("Input"), (dict, list)):
            t["Input"] = json.dumps(t["Input"])
        out.append(api_params(events, "put_targets", {"Targets": [t]})["Targets"][0])
    return out


class Rule(Handler):
    type = "AWS::Events::Rule"
    replace_on = ("Name", "EventBusName")

    def create(self, env: Env, props: dict) -> Result:
        events = env.client("events")
        name = props.get("Name") or env.physical_name(64)
        bus = _bus(props)
        arn = call(events, "put_rule", Name=name, EventBusName=bus, **_rule_params(props))["RuleArn"]
        targets = _targets(env, props)
        if targets:
            call(events, "put_targets", Rule=name, EventBusName=bus, Targets=targets)
        physical = name if not bus or bus == "default" else f"{bus}|{name}"
        return Result(physical, {"Arn": arn})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        events = env.client("events")
        bus, _, name = physical_id.rpartition("|")
        bus_name = bus or None
        call(events, "put_rule", Name=name, EventBusName=bus_name, **_rule_params(new))
        targets = _targets(env, new)
        gone = {t["Id"] for t in old.get("Targets") or []} - {t["Id"] for t in targets}
        if gone:
            call(events, "remove_targets", Rule=name, EventBusName=bus_name, Ids=sorted(gone))
        if targets:
            call(events, "put_targets", Rule=name, EventBusName=bus_name, Targets=targets)
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        events = env.client("events")
        bus, _, name = physical_id.rpartition("|")
        quiet(events, "delete_rule", "ResourceNotFoundException", Name=name, EventBusName=bus or None, Force=True)


class EventBus(Handler):
    type = "AWS::Events::EventBus"
    required = ("Name",)
    replace_on = ("Name",)

    def create(self, env: Env, props: dict) -> Result:
        out = call(env.client("events"), "create_event_bus", Name=props["Name"], Description=props.get("Description"))
        return Result(props["Name"], {"Arn": out["EventBusArn"], "Name": props["Name"]})

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        return Result(physical_id, attributes)

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        quiet(env.client("events"), "delete_event_bus", "ResourceNotFoundException", Name=physical_id)


HANDLERS = [Rule(), EventBus()]
