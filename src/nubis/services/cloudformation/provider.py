"""The CloudFormation provider: stacks and change sets whose resources are nubis's own services.

Stack operations run in the background (a worker thread; handlers call nubis's APIs over HTTP, as a
client would), with CloudFormation's statuses and events. A request that starts one answers when it
has finished or after GRACE_S seconds, whichever comes first, so that waiters polling every 30 s
(`aws cloudformation deploy`) usually find the stack done on their first look."""
from __future__ import annotations

import asyncio
import logging
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from ...server.context import RequestContext
from ...server.errors import AwsError
from ...server.protocol.validation import format_violations
from ...store.db import Database
from ..arns import parse_arn
from ..base import Provider
from . import views
from .changesets import ChangeSetOps
from .clients import Clients
from .deployer import Deployer, Target
from .errors import TemplateError, already_exists, stack_not_found, validation
from .intrinsics import pseudo_parameters
from .plan import build, check_references, dependency_order
from .sam import expand
from .sources import fetch
from .store import IN_PROGRESS_FAILED, CfnStore, Stack
from .template import (MAX_BODY, SAM_TRANSFORM, check_capabilities, check_shape, describe_parameters, parse_body,
                       required_capabilities, resolve_parameters, transforms)

log = logging.getLogger("nubis.cloudformation")
GRACE_S = 20.0
UPDATABLE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE",
             "IMPORT_ROLLBACK_COMPLETE"}
PAGE = 100
_STACK_NAME = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")


def check_stack_name(name: str) -> str:
    if not _STACK_NAME.fullmatch(name) or len(name) > 128:
        raise validation(f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy constraint: "
                         "Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*|arn:[-a-zA-Z0-9:/._+]*")
    return name


class CloudFormationProvider(ChangeSetOps, Provider):
    service = "cloudformation"

    def __init__(self, db: Database, endpoint: str, server_secret: bytes) -> None:
        self.store = CfnStore(db)
        self.clients = Clients(endpoint, server_secret)
        self.deployer = Deployer(self.store, self.clients)
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="cfn")
        self.running: dict[str, asyncio.Future] = {}

    def validation_error(self, operation: str, violations: list[Any]) -> AwsError | None:
        return validation(format_violations(violations))

    async def start(self) -> None:
        for s in self.store.unfinished():  # the server stopped mid-operation: say so, as a failure
            s.status = IN_PROGRESS_FAILED.get(s.status, "UPDATE_ROLLBACK_FAILED")
            s.reason = "nubis stopped while this operation was in progress"
            self.store.put_stack(s)
            self.store.add_event(s, s.name, s.stack_id, "AWS::CloudFormation::Stack", s.status, s.reason)

    async def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -- shared plumbing
    async def blocking(self, fn: Callable, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def run_operation(self, stack_id: str, fn: Callable, *args: Any) -> None:
        """Start a stack operation after any running one on the same stack; wait up to GRACE_S for it."""
        previous = self.running.get(stack_id)

        async def chain() -> None:
            if previous is not None:
                await asyncio.wait({previous})
            try:
                await self.blocking(fn, *args)
            except Exception as e:  # the deployer records failures itself; this is a bug
                log.exception("stack operation failed")
                self.fail_broken_operation(stack_id, e)

        task = asyncio.ensure_future(chain())
        self.running[stack_id] = task
        task.add_done_callback(lambda t: self.running.pop(stack_id, None) if self.running.get(stack_id) is t else None)
        await asyncio.wait({task}, timeout=GRACE_S)

    def fail_broken_operation(self, stack_id: str, error: Exception) -> None:
        """An operation that broke off with an unexpected error must not leave its stack *_IN_PROGRESS for
        good (waiters would poll forever, and no update or delete could follow): it fails, as after a
        server stop, with the error as its reason."""
        arn = parse_arn(stack_id, "cloudformation")
        s = self.store.stack(arn.account, "", stack_id) if arn else None
        if s is None or s.status not in IN_PROGRESS_FAILED:
            return
        s.status = IN_PROGRESS_FAILED[s.status]
        s.reason = f"Internal failure: {error}"
        self.store.put_stack(s)
        self.store.add_event(s, s.name, s.stack_id, "AWS::CloudFormation::Stack", s.status, s.reason)

    def get_stack(self, ctx: RequestContext, name: str | None, include_deleted: bool = True) -> Stack:
        s = self.store.stack(ctx.account, ctx.region, name or "") if name else None
        if s is None or (not include_deleted and s.status == "DELETE_COMPLETE"):
            raise stack_not_found(name or "")
        return s

    async def template_text(self, ctx: RequestContext, p: dict) -> str:
        body, url = p.get("TemplateBody"), p.get("TemplateURL")
        if body is not None and url is not None:
            raise validation("Specify exactly one of TemplateBody or TemplateUrl.")
        if body is None and url is None:
            raise validation("Either Template URL or Template Body must be specified.")
        if body is not None:
            if len(body.encode()) > MAX_BODY:
                raise validation(f"1 validation error detected: Value '{body[:20]}...' at 'templateBody' failed to "
                                 f"satisfy constraint: Member must have length less than or equal to {MAX_BODY}")
            return body
        return await self.blocking(fetch, self.clients, ctx.account, ctx.region, url)

    @staticmethod
    def parse(text: str) -> dict:
        try:
            doc = parse_body(text)
            check_shape(doc)
        except TemplateError as e:
            raise e.as_aws() from None
        return doc

    def process(self, doc: dict, values: dict[str, Any], account: str, region: str, stack_name: str,
                stack_id: str) -> dict:
        """The template after transforms, checked as CloudFormation checks it before deploying (blocking)."""
        processed = doc
        if SAM_TRANSFORM in transforms(doc):
            processed = expand(doc, values, region, account, stack_name)
            processed.pop("Transform", None)
            check_shape(processed)
        build(processed, values, pseudo_parameters(region, account, stack_name, stack_id))
        return processed

    @staticmethod
    def new_stack_id(ctx: RequestContext, name: str) -> str:
        return f"arn:aws:cloudformation:{ctx.region}:{ctx.account}:stack/{name}/{uuid.uuid4()}"

    async def prepare(self, ctx: RequestContext, p: dict, name: str, stack_id: str, text: str,
                      previous: dict[str, str] | None, auto_expand: bool) -> Target:
        doc = self.parse(text)
        params = resolve_parameters(doc, p.get("Parameters") or [], previous)
        try:
            processed = await self.blocking(self.process, doc, params.values, ctx.account, ctx.region, name, stack_id)
        except TemplateError as e:
            raise e.as_aws() from None
        check_capabilities(processed["Resources"], p.get("Capabilities") or [], processed is not doc, auto_expand)
        desc = doc.get("Description")
        return Target(text, processed, params.raw, params.values, sorted(params.no_echo), p.get("Capabilities") or [],
                      p.get("Tags"), str(desc) if desc is not None else None)

    # -- stacks
    async def create_stack(self, ctx: RequestContext, p: dict) -> dict:
        name = check_stack_name(p["StackName"])
        existing = self.store.stack(ctx.account, ctx.region, name)
        if existing is not None and existing.status != "REVIEW_IN_PROGRESS":
            raise already_exists(name)
        stack_id = existing.stack_id if existing else self.new_stack_id(ctx, name)
        target = await self.prepare(ctx, p, name, stack_id, await self.template_text(ctx, p), None, True)
        on_failure = p.get("OnFailure", "ROLLBACK")
        if p.get("DisableRollback") and "OnFailure" in p:
            raise validation("You cannot specify both DisableRollback and OnFailure.")
        stack = existing or Stack(stack_id, ctx.account, ctx.region, name, "CREATE_IN_PROGRESS")
        self.apply_target(stack, target)
        stack.disable_rollback = bool(p.get("DisableRollback")) or on_failure == "DO_NOTHING"
        stack.notification_arns = p.get("NotificationARNs") or []
        stack.termination_protection = bool(p.get("EnableTerminationProtection"))
        stack.status = "CREATE_IN_PROGRESS"
        self.store.put_stack(stack)
        if on_failure == "DELETE":
            await self.run_operation(stack_id, self._create_or_delete, stack, target)
        else:
            await self.run_operation(stack_id, self.deployer.create, stack, target, stack.disable_rollback)
        return {"StackId": stack_id}

    def _create_or_delete(self, stack: Stack, target: Target) -> None:
        self.deployer.create(stack, target)
        if stack.status == "ROLLBACK_COMPLETE":
            self.deployer.delete(stack)

    @staticmethod
    def apply_target(stack: Stack, target: Target) -> None:
        stack.template_body, stack.processed = target.template_body, target.processed
        stack.parameters, stack.no_echo = target.parameters, target.no_echo
        stack.capabilities, stack.description = target.capabilities, target.description
        stack.tags = target.tags or []

    def check_updatable(self, stack: Stack) -> None:
        if stack.status not in UPDATABLE:
            raise validation(f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")

    async def update_stack(self, ctx: RequestContext, p: dict) -> dict:
        stack = self.get_stack(ctx, p["StackName"], include_deleted=False)
        self.check_updatable(stack)
        if p.get("UsePreviousTemplate"):
            if p.get("TemplateBody") is not None or p.get("TemplateURL") is not None:
                raise validation("You cannot specify both usePreviousTemplate and Template Body/Template URL.")
            text = stack.template_body
        else:
            text = await self.template_text(ctx, p)
        target = await self.prepare(ctx, p, stack.name, stack.stack_id, text, stack.parameters, True)
        if target.processed == stack.processed and target.parameters == stack.parameters and \
                (target.tags is None or target.tags == stack.tags):
            raise validation("No updates are to be performed.")
        if target.tags is None:
            target.tags = stack.tags
        await self.run_operation(stack.stack_id, self.deployer.update, stack, target, bool(p.get("DisableRollback")))
        return {"StackId": stack.stack_id}

    async def delete_stack(self, ctx: RequestContext, p: dict) -> dict:
        stack = self.store.stack(ctx.account, ctx.region, p["StackName"])
        if stack is None or stack.status == "DELETE_COMPLETE":
            return {}
        if stack.termination_protection:
            raise validation(f"Stack [{stack.name}] cannot be deleted while TerminationProtection is enabled")
        await self.run_operation(stack.stack_id, self._delete, stack.stack_id, ctx.account, ctx.region)
        return {}

    def _delete(self, stack_id: str, account: str, region: str) -> None:
        stack = self.store.stack(account, region, stack_id)  # fresh: a preceding operation may have changed it
        if stack is not None and stack.status != "DELETE_COMPLETE":
            self.deployer.delete(stack)

    async def update_termination_protection(self, ctx: RequestContext, p: dict) -> dict:
        stack = self.get_stack(ctx, p["StackName"], include_deleted=False)
        stack.termination_protection = bool(p["EnableTerminationProtection"])
        self.store.put_stack(stack)
        return {"StackId": stack.stack_id}

    async def describe_stacks(self, ctx: RequestContext, p: dict) -> dict:
        if p.get("StackName"):
            return {"Stacks": [views.stack(self.get_stack(ctx, p["StackName"]))]}
        stacks = self.store.stacks(ctx.account, ctx.region, include_deleted=False)
        return self.page(p, [views.stack(s) for s in stacks], "Stacks")

    async def list_stacks(self, ctx: RequestContext, p: dict) -> dict:
        wanted = set(p.get("StackStatusFilter") or [])
        stacks = [s for s in self.store.stacks(ctx.account, ctx.region, include_deleted=True)
                  if not wanted or s.status in wanted]
        return self.page(p, [views.stack_summary(s) for s in stacks], "StackSummaries")

    @staticmethod
    def page(p: dict, items: list, key: str) -> dict:
        token = p.get("NextToken")
        start = int(token) if token and token.isdigit() else 0
        out: dict[str, Any] = {key: items[start:start + PAGE]}
        if start + PAGE < len(items):
            out["NextToken"] = str(start + PAGE)
        return out

    # -- resources and events
    async def describe_stack_resources(self, ctx: RequestContext, p: dict) -> dict:
        if p.get("StackName"):
            stack = self.get_stack(ctx, p["StackName"])
        elif p.get("PhysicalResourceId"):
            stack = self._stack_of_physical(ctx, p["PhysicalResourceId"])
        else:
            raise validation("Either StackName or PhysicalResourceId must be specified.")
        resources = self.store.resources(stack.stack_id).values()
        if p.get("LogicalResourceId"):
            resources = [r for r in resources if r.logical_id == p["LogicalResourceId"]]
        if p.get("PhysicalResourceId"):
            resources = [r for r in resources if r.physical_id == p["PhysicalResourceId"]]
        return {"StackResources": [views.resource(stack, r) for r in resources]}

    def _stack_of_physical(self, ctx: RequestContext, physical_id: str) -> Stack:
        for s in self.store.stacks(ctx.account, ctx.region, include_deleted=False):
            if any(r.physical_id == physical_id for r in self.store.resources(s.stack_id).values()):
                return s
        raise validation(f"Stack for {physical_id} does not exist")

    async def describe_stack_resource(self, ctx: RequestContext, p: dict) -> dict:
        stack = self.get_stack(ctx, p["StackName"])
        r = self.store.resources(stack.stack_id).get(p["LogicalResourceId"])
        if r is None:
            raise validation(f"Resource {p['LogicalResourceId']} does not exist for stack {p['StackName']}")
        return {"StackResourceDetail": views.resource(stack, r, detail=True)}

    async def list_stack_resources(self, ctx: RequestContext, p: dict) -> dict:
        stack = self.get_stack(ctx, p["StackName"])
        items = [views.resource_summary(r) for r in self.store.resources(stack.stack_id).values()]
        return self.page(p, items, "StackResourceSummaries")

    async def describe_stack_events(self, ctx: RequestContext, p: dict) -> dict:
        stack = self.get_stack(ctx, p.get("StackName"))
        return self.page(p, self.store.events(stack.stack_id), "StackEvents")

    # -- templates
    async def get_template(self, ctx: RequestContext, p: dict) -> dict:
        stage = p.get("TemplateStage", "Original")
        if p.get("ChangeSetName"):
            stack = self.get_stack(ctx, p.get("StackName")) if p.get("StackName") else None
            cs = self.find_change_set(p["ChangeSetName"], stack)
            body, processed = cs.template_body, cs.processed
        else:
            stack = self.get_stack(ctx, p.get("StackName"))
            body, processed = stack.template_body, stack.processed
        transformed = SAM_TRANSFORM in transforms(self.parse(body)) if body else False
        stages = ["Original", "Processed"]
        if stage == "Processed" or not body:
            import json
            return {"TemplateBody": json.dumps(processed, indent=2) if transformed else body, "StagesAvailable": stages}
        return {"TemplateBody": body, "StagesAvailable": stages}

    async def validate_template(self, ctx: RequestContext, p: dict) -> dict:
        doc = self.parse(await self.template_text(ctx, p))
        if not transforms(doc):  # a SAM template's references are the transform's to resolve
            try:
                check_references(doc, set(doc["Resources"]) | set(doc.get("Parameters") or {}))
                dependency_order(doc["Resources"])  # a cycle is refused here too, as CreateStack refuses it
            except TemplateError as e:
                raise e.as_aws() from None
        caps, reason = required_capabilities(doc["Resources"])
        if transforms(doc):
            caps = caps + ["CAPABILITY_AUTO_EXPAND"]
            reason = reason or "The following resource(s) require capabilities: [AWS::Serverless]"
        params = [{k: v for k, v in item.items() if k in ("ParameterKey", "DefaultValue", "NoEcho", "Description")}
                  for item in describe_parameters(doc)]
        out: dict[str, Any] = {"Parameters": params, "Capabilities": caps}
        if reason:
            out["CapabilitiesReason"] = reason
        if doc.get("Description") is not None:
            out["Description"] = str(doc["Description"])
        if transforms(doc):
            out["DeclaredTransforms"] = transforms(doc)
        return out

    async def get_template_summary(self, ctx: RequestContext, p: dict) -> dict:
        if p.get("StackName"):
            stack = self.get_stack(ctx, p["StackName"])
            doc, processed = self.parse(stack.template_body), stack.processed
        else:
            doc = self.parse(await self.template_text(ctx, p))
            processed = doc
        caps, reason = required_capabilities(processed["Resources"])
        if transforms(doc):
            caps = caps + ["CAPABILITY_AUTO_EXPAND"]
        out: dict[str, Any] = {"Parameters": describe_parameters(doc), "Capabilities": caps,
                               "ResourceTypes": sorted({r["Type"] for r in doc["Resources"].values()}),
                               "Version": str(doc.get("AWSTemplateFormatVersion", "2010-09-09")),
                               "DeclaredTransforms": transforms(doc)}
        if reason:
            out["CapabilitiesReason"] = reason
        if doc.get("Description") is not None:
            out["Description"] = str(doc["Description"])
        if doc.get("Metadata") is not None:
            import json
            out["Metadata"] = json.dumps(doc["Metadata"])
        return out

    async def list_exports(self, ctx: RequestContext, p: dict) -> dict:
        items = [{"ExportingStackId": sid, "Name": name, "Value": value}
                 for name, (sid, value) in self.store.exports(ctx.account, ctx.region).items()]
        return self.page(p, items, "Exports")



