"""When SNS tries a failed delivery again: the delivery policies of AWS's documentation.

HTTP/S endpoints follow the topic's or subscription's `healthyRetryPolicy` (default: 3 retries,
20 s apart). Lambda and SQS endpoints are AWS-managed: 3 immediate retries, 2 at 1 s, 10 backing off
from 1 s to 20 s, then 100,000 at 20 s. Delays are multiplied by the server's retry scale (tests
run with a small one: `nubis server --async-retry-scale 0.01`).
"""
from __future__ import annotations

import json
from typing import Any

DEFAULT_HTTP_POLICY: dict[str, Any] = {
    "minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numMaxDelayRetries": 0,
    "numNoDelayRetries": 0, "numMinDelayRetries": 0, "backoffFunction": "linear"}

EFFECTIVE_TOPIC_DELIVERY_POLICY = {"http": {"defaultHealthyRetryPolicy": DEFAULT_HTTP_POLICY,
                                            "disableSubscriptionOverrides": False,
                                            "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}}}

MANAGED_PHASES = ((3, None), (2, 1.0), (10, "backoff"), (100_000, 20.0))


def http_policy(topic_policy: str | None, subscription_policy: str | None) -> dict[str, Any]:
    """The healthyRetryPolicy in force for an HTTP/S subscription."""
    policy = dict(DEFAULT_HTTP_POLICY)
    topic = _load(topic_policy).get("http") or {}
    policy.update(topic.get("defaultHealthyRetryPolicy") or {})
    if not topic.get("disableSubscriptionOverrides"):
        policy.update(_load(subscription_policy).get("healthyRetryPolicy") or {})
    return policy


def _load(text: str | None) -> dict[str, Any]:
    try:
        doc = json.loads(text) if text else {}
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def http_delay(policy: dict[str, Any], retry: int) -> float | None:
    """Seconds before retry number `retry` (1-based); None when the policy allows no more."""
    total = int(policy.get("numRetries", 3))
    if retry > total:
        return None
    lo, hi = float(policy.get("minDelayTarget", 20)), float(policy.get("maxDelayTarget", 20))
    no_delay = int(policy.get("numNoDelayRetries", 0))
    at_min = int(policy.get("numMinDelayRetries", 0))
    at_max = int(policy.get("numMaxDelayRetries", 0))
    if retry <= no_delay:
        return 0.0
    if retry <= no_delay + at_min:
        return lo
    backoff = max(0, total - no_delay - at_min - at_max)
    step = retry - no_delay - at_min
    if step > backoff:
        return hi
    return _backoff(policy.get("backoffFunction", "linear"), lo, hi, step, backoff)


def _backoff(kind: str, lo: float, hi: float, step: int, steps: int) -> float:
    t = step / steps if steps else 1.0
    if kind in ("geometric", "exponential") and lo > 0:
        return lo * (hi / lo) ** t
    if kind == "arithmetic":
        return lo + (hi - lo) * t * t
    return lo + (hi - lo) * t


def managed_delay(retry: int) -> float | None:
    """AWS-managed endpoints (Lambda, SQS): seconds before retry number `retry`; None after the last."""
    n = retry
    for count, delay in MANAGED_PHASES:
        if n <= count:
            if delay is None:
                return 0.0
            if delay == "backoff":
                return _backoff("exponential", 1.0, 20.0, n, count)
            return float(delay)
        n -= count
    return None
