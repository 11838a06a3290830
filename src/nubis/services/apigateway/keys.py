"""API keys, usage plans and usage plan keys (account-level objects), and GetUsage.

A key is accepted on a method with `apiKeyRequired` when it is enabled and belongs to a usage plan
that lists the API's stage; the plan's throttle and quota then apply per key (see limits.py).
"""
from __future__ import annotations

import copy
import datetime as dt
import secrets
import string
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from .apis import paginate
from .errors import API_KEY, USAGE_PLAN, USAGE_PLAN_KEY, bad_request, conflict, found, not_found
from .patch import apply_patch, split_path
from .store import KEY_ID_LEN, SHORT_ID_LEN, now

if TYPE_CHECKING:
    from .provider import ApiGatewayProvider

API_KEY_PATCH = {"name": str, "description": str, "enabled": bool, "customerId": str, "stageKeys": ("set", str)}
USAGE_PLAN_PATCH = {"name": str, "description": str, "productCode": str,
                    "throttle": {"rateLimit": float, "burstLimit": int},
                    "quota": {"limit": int, "offset": int, "period": str}}
_VALUE_ALPHABET = string.ascii_letters + string.digits


def key_view(doc: dict, include_value: bool) -> dict:
    view = copy.deepcopy(doc)
    if not include_value:
        view.pop("value", None)
    return view


def plan_view(doc: dict) -> dict:
    return {k: copy.deepcopy(v) for k, v in doc.items() if not k.startswith("_")}


class KeyOps:
    # -- API keys
    def api_key(self: ApiGatewayProvider, ctx: RequestContext, key_id: str) -> dict:
        return found(self.store.object("apikey", ctx.account, ctx.region, key_id), API_KEY)

    async def create_api_key(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        value = p.get("value")
        if value is not None:
            if len(value) < 20:
                raise bad_request("API Key value should be at least 20 characters")
            if any(k.get("value") == value for k in self.store.objects("apikey", ctx.account, ctx.region)):
                raise conflict("API Key already exists")
        else:
            value = "".join(secrets.choice(_VALUE_ALPHABET) for _ in range(40))
        stage_keys = []
        for sk in p.get("stageKeys") or []:
            rec = self.api_record(ctx, sk.get("restApiId") or "")
            self.stage(rec, sk.get("stageName") or "")
            stage_keys.append(f"{rec.api_id}/{sk['stageName']}")
        t = now()
        doc = {"id": self.store.new_object_id("apikey", KEY_ID_LEN), "value": value, "name": p.get("name") or "",
               "enabled": bool(p.get("enabled")), "createdDate": t, "lastUpdatedDate": t, "stageKeys": stage_keys}
        if not doc["name"]:
            doc.pop("name")
        for member in ("description", "customerId"):
            if p.get(member) is not None:
                doc[member] = p[member]
        if p.get("tags"):
            doc["tags"] = dict(p["tags"])
        self.store.put_object("apikey", ctx.account, ctx.region, doc)
        return key_view(doc, True)

    async def get_api_key(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        return key_view(self.api_key(ctx, p["apiKey"]), bool(p.get("includeValue")))

    async def get_api_keys(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        keys = sorted(self.store.objects("apikey", ctx.account, ctx.region), key=lambda k: (k["createdDate"], k["id"]))
        if p.get("nameQuery"):
            keys = [k for k in keys if k.get("name", "").startswith(p["nameQuery"])]
        if p.get("customerId"):
            keys = [k for k in keys if k.get("customerId") == p["customerId"]]
        return paginate([key_view(k, bool(p.get("includeValues"))) for k in keys], p)

    async def update_api_key(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        doc = copy.deepcopy(self.api_key(ctx, p["apiKey"]))
        apply_patch(doc, p.get("patchOperations") or [], API_KEY_PATCH)
        doc.setdefault("stageKeys", [])
        doc["lastUpdatedDate"] = now()
        self.store.put_object("apikey", ctx.account, ctx.region, doc)
        return key_view(doc, False)

    async def delete_api_key(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        doc = self.api_key(ctx, p["apiKey"])
        for plan in self.store.objects("usageplan", ctx.account, ctx.region):
            if doc["id"] in plan.get("_keys", []):
                plan["_keys"].remove(doc["id"])
                self.store.put_object("usageplan", ctx.account, ctx.region, plan)
        self.store.delete_object("apikey", doc["id"])
        return {}

    # -- usage plans
    def usage_plan(self: ApiGatewayProvider, ctx: RequestContext, plan_id: str) -> dict:
        return found(self.store.object("usageplan", ctx.account, ctx.region, plan_id), USAGE_PLAN)

    def _check_plan(self: ApiGatewayProvider, ctx: RequestContext, plan: dict) -> None:
        for api_stage in plan.get("apiStages") or []:
            rec = self.store.owned(ctx.account, ctx.region, api_stage.get("apiId") or "")
            if rec is None or api_stage.get("stage") not in rec.stages:
                raise bad_request(f"Invalid API Stage {{api: {api_stage.get('apiId')}, stage: "
                                  f"{api_stage.get('stage')}}} specified for usageplan {plan['id']}")
        quota = plan.get("quota")
        if quota is not None:
            if quota.get("period") not in ("DAY", "WEEK", "MONTH"):
                raise bad_request("Invalid quota period specified. Valid options are DAY, WEEK, MONTH")
            if quota.get("limit", 0) < 0:
                raise bad_request("Quota limit should be a non-negative integer")
        throttle = plan.get("throttle")
        if throttle is not None and (throttle.get("rateLimit", 0) < 0 or throttle.get("burstLimit", 0) < 0):
            raise bad_request("Throttle limits should be non-negative")

    async def create_usage_plan(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        doc = {"id": self.store.new_object_id("usageplan", SHORT_ID_LEN), "name": p["name"],
               "apiStages": copy.deepcopy(p.get("apiStages") or []), "_keys": []}
        for member in ("description", "throttle", "quota"):
            if p.get(member) is not None:
                doc[member] = copy.deepcopy(p[member])
        if "quota" in doc:
            doc["quota"].setdefault("offset", 0)
        if p.get("tags"):
            doc["tags"] = dict(p["tags"])
        self._check_plan(ctx, doc)
        self.store.put_object("usageplan", ctx.account, ctx.region, doc)
        return plan_view(doc)

    async def get_usage_plan(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        return plan_view(self.usage_plan(ctx, p["usagePlanId"]))

    async def get_usage_plans(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        plans = sorted(self.store.objects("usageplan", ctx.account, ctx.region), key=lambda d: d["id"])
        if p.get("keyId"):
            plans = [d for d in plans if p["keyId"] in d.get("_keys", [])]
        return paginate([plan_view(d) for d in plans], p)

    async def update_usage_plan(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        doc = copy.deepcopy(self.usage_plan(ctx, p["usagePlanId"]))
        plain = []
        for op in p.get("patchOperations") or []:
            segments = split_path(op.get("path") or "")
            if segments[0] == "apiStages" and len(segments) == 1 and op.get("op") in ("add", "remove"):
                api_id, _, stage = str(op.get("value") or "").partition(":")
                entry = {"apiId": api_id, "stage": stage}
                stages = doc.setdefault("apiStages", [])
                if op["op"] == "add":
                    if not any(s["apiId"] == api_id and s["stage"] == stage for s in stages):
                        stages.append(entry)
                else:
                    doc["apiStages"] = [s for s in stages if (s["apiId"], s["stage"]) != (api_id, stage)]
            else:
                plain.append(op)
        apply_patch(doc, plain, USAGE_PLAN_PATCH)
        self._check_plan(ctx, doc)
        self.store.put_object("usageplan", ctx.account, ctx.region, doc)
        self.gateway.limits.forget_plan(doc["id"])
        return plan_view(doc)

    async def delete_usage_plan(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        doc = self.usage_plan(ctx, p["usagePlanId"])
        if doc.get("apiStages"):
            raise bad_request(f"Cannot delete Usage Plan {doc['id']} because it is associated with API stages")
        self.store.delete_object("usageplan", doc["id"])
        self.gateway.limits.forget_plan(doc["id"])
        return {}

    # -- usage plan keys
    async def create_usage_plan_key(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        plan = self.usage_plan(ctx, p["usagePlanId"])
        if p["keyType"] != "API_KEY":
            raise bad_request(f"Invalid key type specified: {p['keyType']}")
        key = self.api_key(ctx, p["keyId"])
        if key["id"] in plan["_keys"]:
            raise conflict(f"Usage Plan {plan['id']} already contains API Key {key['id']}")
        mine = {(s["apiId"], s["stage"]) for s in plan.get("apiStages") or []}
        for other in self.store.objects("usageplan", ctx.account, ctx.region):
            if other["id"] != plan["id"] and key["id"] in other.get("_keys", []):
                shared = mine & {(s["apiId"], s["stage"]) for s in other.get("apiStages") or []}
                if shared:
                    api_id, stage = sorted(shared)[0]
                    raise conflict(f"Usage Plan {plan['id']} cannot be added because API Key {key['id']} cannot "
                                   f"reference multiple Usage Plans with the same API Stage: {api_id}:{stage}")
        plan["_keys"].append(key["id"])
        self.store.put_object("usageplan", ctx.account, ctx.region, plan)
        return self._plan_key_view(key)

    @staticmethod
    def _plan_key_view(key: dict) -> dict:
        view = {"id": key["id"], "type": "API_KEY", "value": key["value"]}
        if key.get("name"):
            view["name"] = key["name"]
        return view

    def _plan_key(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> tuple[dict, dict]:
        plan = self.usage_plan(ctx, p["usagePlanId"])
        if p["keyId"] not in plan["_keys"]:
            raise not_found(USAGE_PLAN_KEY)
        return plan, self.api_key(ctx, p["keyId"])

    async def get_usage_plan_key(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        return self._plan_key_view(self._plan_key(ctx, p)[1])

    async def get_usage_plan_keys(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        plan = self.usage_plan(ctx, p["usagePlanId"])
        keys = [self._plan_key_view(k) for k in (self.store.object("apikey", ctx.account, ctx.region, i)
                                                  for i in plan["_keys"]) if k is not None]
        if p.get("nameQuery"):
            keys = [k for k in keys if k.get("name", "").startswith(p["nameQuery"])]
        return paginate(keys, p)

    async def delete_usage_plan_key(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        plan, key = self._plan_key(ctx, p)
        plan["_keys"].remove(key["id"])
        self.store.put_object("usageplan", ctx.account, ctx.region, plan)
        return {}

    async def get_usage(self: ApiGatewayProvider, ctx: RequestContext, p: dict) -> dict:
        """Per key, one [used, remaining] pair per day from startDate to endDate (YYYY-MM-DD)."""
        plan = self.usage_plan(ctx, p["usagePlanId"])
        try:
            start = dt.date.fromisoformat(p["startDate"])
            end = dt.date.fromisoformat(p["endDate"])
        except ValueError:
            raise bad_request("Invalid date format: dates must be YYYY-MM-DD") from None
        if end < start:
            raise bad_request("The end date must be on or after the start date")
        if (end - start).days > 90:
            raise bad_request("The usage data can be requested for at most 90 days")
        key_ids = [p["keyId"]] if p.get("keyId") else list(plan["_keys"])
        items = {}
        for key_id in key_ids:
            days = []
            day = start
            while day <= end:
                used = self.gateway.limits.used_on(plan["id"], key_id, day)
                remaining = self.gateway.limits.remaining(plan, key_id, day)
                days.append([used, remaining])
                day += dt.timedelta(days=1)
            items[key_id] = days
        return {"usagePlanId": plan["id"], "startDate": p["startDate"], "endDate": p["endDate"], "items": items}
