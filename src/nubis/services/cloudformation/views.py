"""Stacks, resources and change sets as the API describes them."""
from __future__ import annotations

from .store import ChangeSet, Resource, Stack
from .template import NO_ECHO_MASK


def parameters(values: dict[str, str], no_echo: list[str]) -> list[dict]:
    return [{"ParameterKey": k, "ParameterValue": NO_ECHO_MASK if k in no_echo else v} for k, v in values.items()]


def stack(s: Stack) -> dict:
    out = {"StackId": s.stack_id, "StackName": s.name, "Parameters": parameters(s.parameters, s.no_echo),
           "CreationTime": s.created, "RollbackConfiguration": {}, "StackStatus": s.status,
           "DisableRollback": s.disable_rollback, "NotificationARNs": s.notification_arns,
           "Capabilities": s.capabilities, "Outputs": s.outputs, "Tags": s.tags,
           "EnableTerminationProtection": s.termination_protection,
           "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"}}
    if s.reason:
        out["StackStatusReason"] = s.reason
    if s.description is not None:
        out["Description"] = s.description
    if s.updated is not None:
        out["LastUpdatedTime"] = s.updated
    if s.deleted_at is not None:
        out["DeletionTime"] = s.deleted_at
    if s.change_set_id:
        out["ChangeSetId"] = s.change_set_id
    return out


def stack_summary(s: Stack) -> dict:
    out = {"StackId": s.stack_id, "StackName": s.name, "CreationTime": s.created, "StackStatus": s.status,
           "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"}}
    if s.description is not None:
        out["TemplateDescription"] = s.description
    if s.reason:
        out["StackStatusReason"] = s.reason
    if s.updated is not None:
        out["LastUpdatedTime"] = s.updated
    if s.deleted_at is not None:
        out["DeletionTime"] = s.deleted_at
    return out


def resource(s: Stack, r: Resource, detail: bool = False) -> dict:
    out = {"StackName": s.name, "StackId": s.stack_id, "LogicalResourceId": r.logical_id,
           "PhysicalResourceId": r.physical_id, "ResourceType": r.type, "ResourceStatus": r.status,
           "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"}}
    out["LastUpdatedTimestamp" if detail else "Timestamp"] = r.updated
    if r.reason:
        out["ResourceStatusReason"] = r.reason
    if detail and "Metadata" in (r.definition or {}):
        import json
        out["Metadata"] = json.dumps(r.definition["Metadata"])
    return out


def resource_summary(r: Resource) -> dict:
    out = {"LogicalResourceId": r.logical_id, "PhysicalResourceId": r.physical_id, "ResourceType": r.type,
           "LastUpdatedTimestamp": r.updated, "ResourceStatus": r.status,
           "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"}}
    if r.reason:
        out["ResourceStatusReason"] = r.reason
    return out


def change_set(c: ChangeSet) -> dict:
    out = {"ChangeSetName": c.name, "ChangeSetId": c.arn, "StackId": c.stack_id, "StackName": c.stack_name,
           "Parameters": parameters(c.parameters, c.no_echo), "CreationTime": c.created,
           "ExecutionStatus": c.execution_status, "Status": c.status, "NotificationARNs": c.notification_arns,
           "RollbackConfiguration": {}, "Capabilities": c.capabilities, "Tags": c.tags or [], "Changes": c.changes,
           "IncludeNestedStacks": False}
    if c.reason:
        out["StatusReason"] = c.reason
    if c.description is not None:
        out["Description"] = c.description
    return out


def change_set_summary(c: ChangeSet) -> dict:
    out = {"StackId": c.stack_id, "StackName": c.stack_name, "ChangeSetId": c.arn, "ChangeSetName": c.name,
           "ExecutionStatus": c.execution_status, "Status": c.status, "CreationTime": c.created,
           "IncludeNestedStacks": False}
    if c.reason:
        out["StatusReason"] = c.reason
    if c.description is not None:
        out["Description"] = c.description
    return out
