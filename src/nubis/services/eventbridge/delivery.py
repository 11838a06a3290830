"""Sends a matched event to a rule's targets through the bus (Lambda asynchronously, as EventBridge
does; SQS queues and SNS topics). A target that cannot be reached is logged and skipped, as EventBridge
counts a FailedInvocation."""
from __future__ import annotations

import logging

from ...events.bus import Bus, TriggerError
from ..arns import parse_arn
from .store import Rule
from .transform import target_input

log = logging.getLogger("nubis.events")
PRINCIPAL = "events.amazonaws.com"


async def deliver(bus: Bus, rule: Rule, targets: list[dict], event: dict) -> None:
    for target in targets:
        arn = str(target.get("Arn", ""))
        try:
            payload = target_input(target, event, rule.arn, rule.name)
            parsed = parse_arn(arn)
            service = parsed.service if parsed else ""
            if service == "lambda":
                if bus.functions is None:
                    raise TriggerError("this server has no Lambda service")
                await bus.functions.invoke_async(arn, payload, principal=PRINCIPAL, source_arn=rule.arn,
                                                 source_account=rule.account)
            elif service == "sqs":
                if bus.queues is None:
                    raise TriggerError("this server has no SQS service")
                group = (target.get("SqsParameters") or {}).get("MessageGroupId")
                await bus.queues.send(arn, payload.decode(), None, group_id=group,
                                      dedup_id=event["id"] if arn.endswith(".fifo") else None)
            elif service == "sns":
                if bus.topics is None:
                    raise TriggerError("this server has no SNS service")
                await bus.topics.publish(arn, payload.decode())
            else:
                raise TriggerError(f"targets of this kind are not supported by nubis: {arn}")
        except Exception as err:  # one target's failure does not stop the others
            log.warning("events: rule %s could not deliver event %s to %s: %s", rule.arn, event.get("id"), arn, err)
