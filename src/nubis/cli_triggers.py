"""The TRIGGERS of `nubis ls`: which sources invoke which function, each read through the public API that
owns it — S3 bucket notifications (`s3:<bucket>`), SQS event source mappings (`sqs:<queue>`, with the
mapping's state unless it is Enabled), SNS subscriptions (`sns:<topic>`) and API Gateway integrations
that routes use (`api:<api-id>`). Plain functions over boto3 clients; nothing here knows about argparse."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from nubis.cli_api import pages
from nubis.cli_errors import error_code
from nubis.services.arns import parse_arn

Triggers = dict[str, list[str]]  # function ARN (as the source names it) -> labels
_FUNCTION_ARN = re.compile(r"arn:aws[a-zA-Z-]*:lambda:[^:/]+:\d{12}:function:[^/]+")
_ABSENT = ("NotImplementedException", "UnknownServiceException", "UnknownOperationException")


def _add(triggers: Triggers, function_arn: str, label: str) -> None:
    labels = triggers.setdefault(function_arn, [])
    if label not in labels:
        labels.append(label)


def _resource(text: str) -> str:
    """`arn:aws:sqs:us-east-1:000000000000:jobs` -> `jobs`."""
    arn = parse_arn(text)
    return arn.resource if arn else text


def bucket_triggers(s3: Any, triggers: Triggers) -> None:
    """`s3:<bucket>` for each bucket whose notifications invoke a function (any event)."""
    for bucket in s3.list_buckets().get("Buckets", []):
        try:
            config = s3.get_bucket_notification_configuration(Bucket=bucket["Name"])
        except Exception as e:
            if error_code(e) == "NoSuchBucket":  # deleted while we listed
                continue
            raise
        for entry in config.get("LambdaFunctionConfigurations", []):
            _add(triggers, entry["LambdaFunctionArn"], f"s3:{bucket['Name']}")


def mapping_triggers(lam: Any, triggers: Triggers) -> None:
    """`sqs:<queue>` for each event source mapping; `sqs:<queue> (Disabled)` (or another state) unless Enabled."""
    for page in lam.get_paginator("list_event_source_mappings").paginate():
        for mapping in page.get("EventSourceMappings", []):
            source = mapping.get("EventSourceArn") or ""
            arn = parse_arn(source)
            label = f"{arn.service}:{arn.resource}" if arn else source
            state = mapping.get("State")
            _add(triggers, mapping["FunctionArn"], label if state == "Enabled" else f"{label} ({state})")


def subscription_triggers(sns: Any, triggers: Triggers) -> None:
    """`sns:<topic>` for each confirmed subscription with the lambda protocol."""
    for page in sns.get_paginator("list_subscriptions").paginate():
        for sub in page.get("Subscriptions", []):
            if sub.get("Protocol") == "lambda" and sub.get("SubscriptionArn", "").startswith("arn:"):
                _add(triggers, sub["Endpoint"], f"sns:{_resource(sub['TopicArn'])}")


def http_api_triggers(gw: Any, triggers: Triggers) -> None:
    """`api:<api-id>` for each HTTP/WebSocket API a route of which reaches a function (AWS_PROXY)."""
    for api in pages(gw, "get_apis", "Items"):
        integrations = {i["IntegrationId"]: i for i in pages(gw, "get_integrations", "Items", ApiId=api["ApiId"])}
        for route in pages(gw, "get_routes", "Items", ApiId=api["ApiId"]):
            integration = integrations.get((route.get("Target") or "").partition("/")[2]) or {}
            m = _FUNCTION_ARN.search(integration.get("IntegrationUri") or "")
            if m and integration.get("IntegrationType") == "AWS_PROXY":
                _add(triggers, m.group(0), f"api:{api['ApiId']}")


def rest_api_triggers(apigw: Any, triggers: Triggers) -> None:
    """`api:<api-id>` for each REST API a method of which integrates a function (AWS or AWS_PROXY)."""
    for page in apigw.get_paginator("get_rest_apis").paginate():
        for api in page.get("items", []):
            for resources in apigw.get_paginator("get_resources").paginate(restApiId=api["id"], embed=["methods"]):
                for resource in resources.get("items", []):
                    for method in (resource.get("resourceMethods") or {}).values():
                        integration = method.get("methodIntegration") or {}
                        m = _FUNCTION_ARN.search(integration.get("uri") or "")
                        if m and integration.get("type") in ("AWS", "AWS_PROXY"):
                            _add(triggers, m.group(0), f"api:{api['id']}")


SOURCES: tuple[tuple[str, Callable[[Any, Triggers], None]], ...] = (
    ("s3", bucket_triggers), ("lambda", mapping_triggers), ("sns", subscription_triggers),
    ("apigatewayv2", http_api_triggers), ("apigateway", rest_api_triggers))


def all_triggers(client_for: Callable[[str], Any]) -> Triggers:
    """Every source's triggers, in the order of SOURCES; a service the server lacks adds none."""
    triggers: Triggers = {}
    for service, collect in SOURCES:
        try:
            collect(client_for(service), triggers)
        except Exception as e:
            if error_code(e) not in _ABSENT:
                raise
    return triggers


def function_triggers(function_arn: str, triggers: Triggers) -> list[str]:
    """The triggers aimed at a function, whether they name it by its unqualified ARN or a qualifier."""
    found: list[str] = []
    for arn, labels in triggers.items():
        if arn == function_arn or arn.startswith(function_arn + ":"):
            found.extend(label for label in labels if label not in found)
    return found
