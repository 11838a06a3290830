"""Request limits: stage/method throttling (methodSettings), and per API key the usage plan's
throttle and quota. Counters live in memory (a restart resets them, as a new quota period would)."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from ..apigw_common.gateway import TokenBucket, take_token
from .gateway_responses import GatewayError
from .stages import method_settings_key
from .store import RestStore


def period_start(quota: dict, day: dt.date) -> dt.date:
    """The first day of the quota period `day` falls in (`offset` days after the period's natural start)."""
    period, offset = quota.get("period", "DAY"), int(quota.get("offset") or 0)
    if period == "WEEK":
        start = day - dt.timedelta(days=(day.weekday() + 1) % 7) + dt.timedelta(days=offset)  # weeks start Sunday
        return start if start <= day else start - dt.timedelta(days=7)
    if period == "MONTH":
        start = day.replace(day=1) + dt.timedelta(days=offset)
        if start <= day:
            return start
        previous = (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        return previous + dt.timedelta(days=offset)
    return day


class Limits:
    def __init__(self, store: RestStore) -> None:
        self.store = store
        self._buckets: dict[tuple, TokenBucket] = {}
        self._daily: dict[tuple[str, str], dict[dt.date, int]] = defaultdict(dict)

    def forget(self, api_id: str, stage: str | None = None) -> None:
        self._buckets = {k: v for k, v in self._buckets.items()
                         if not (k[0] == "stage" and k[1] == api_id and (stage is None or k[2] == stage))}

    def forget_plan(self, plan_id: str) -> None:
        self._buckets = {k: v for k, v in self._buckets.items() if not (k[0] == "plan" and k[1] == plan_id)}

    # -- stage throttling
    def check_stage(self, api_id: str, stage: dict, resource_path: str, http_method: str) -> None:
        settings = stage.get("methodSettings") or {}
        key = method_settings_key(resource_path, http_method)
        chosen = settings.get(key) or settings.get("*/*")
        if not chosen:
            return
        rate, burst = float(chosen.get("throttlingRateLimit", 10000.0)), int(chosen.get("throttlingBurstLimit", 5000))
        which = key if key in settings else "*/*"
        if not take_token(self._buckets, ("stage", api_id, stage["stageName"], which), rate, burst):
            raise GatewayError("THROTTLED")

    # -- API keys and usage plans
    def check_key(self, account: str, region: str, api_id: str, stage_name: str, value: str | None) -> dict:
        """The API key doc for `value` if it may call this stage; its plan's throttle and quota applied."""
        if not value:
            raise GatewayError("INVALID_API_KEY")
        key = next((k for k in self.store.objects("apikey", account, region) if k.get("value") == value), None)
        if key is None or not key.get("enabled"):
            raise GatewayError("INVALID_API_KEY")
        plan = next((p for p in self.store.objects("usageplan", account, region)
                     if key["id"] in p.get("_keys", [])
                     and any(s.get("apiId") == api_id and s.get("stage") == stage_name
                             for s in p.get("apiStages") or [])), None)
        if plan is None:
            raise GatewayError("INVALID_API_KEY")
        throttle = plan.get("throttle")
        if throttle and (throttle.get("rateLimit") is not None or throttle.get("burstLimit") is not None):
            rate = float(throttle.get("rateLimit") if throttle.get("rateLimit") is not None else 10000.0)
            burst = int(throttle.get("burstLimit") if throttle.get("burstLimit") is not None else max(1, int(rate)))
            if not take_token(self._buckets, ("plan", plan["id"], key["id"]), rate, burst):
                raise GatewayError("THROTTLED")
        today = dt.datetime.now(dt.timezone.utc).date()
        quota = plan.get("quota")
        if quota and quota.get("limit") is not None:
            if self._used_in_period(plan["id"], key["id"], quota, today) >= int(quota["limit"]):
                raise GatewayError("QUOTA_EXCEEDED")
        daily = self._daily[(plan["id"], key["id"])]
        daily[today] = daily.get(today, 0) + 1
        return key

    def _used_in_period(self, plan_id: str, key_id: str, quota: dict, day: dt.date) -> int:
        start = period_start(quota, day)
        return sum(n for d, n in self._daily.get((plan_id, key_id), {}).items() if start <= d <= day)

    def used_on(self, plan_id: str, key_id: str, day: dt.date) -> int:
        return self._daily.get((plan_id, key_id), {}).get(day, 0)

    def remaining(self, plan: dict, key_id: str, day: dt.date) -> int:
        quota = plan.get("quota")
        if not quota or quota.get("limit") is None:
            return 0
        return max(0, int(quota["limit"]) - self._used_in_period(plan["id"], key_id, quota, day))

