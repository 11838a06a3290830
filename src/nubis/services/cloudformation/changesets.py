"""Change sets: what `aws cloudformation deploy` and `sam deploy` use. A change set is computed when it
is created (template processed, capabilities checked, resource changes listed): a failure there is a
FAILED change set with the reason, as on AWS; executing it runs the stack operation."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from ...server.context import RequestContext
from ...server.errors import AwsError
from . import views
from .deployer import Target
from .errors import change_set_not_found, stack_not_found, validation
from .resources import REGISTRY
from .store import ChangeSet, Stack

if TYPE_CHECKING:
    from .provider import CloudFormationProvider

NO_CHANGES = "The submitted information didn't contain changes. Submit different information to create a change set."


def resource_changes(old: dict[str, dict], new: dict[str, dict], physical: dict[str, str]) -> list[dict]:
    """Add / Modify / Remove entries between two processed templates' Resources."""
    out: list[dict] = []

    def entry(action: str, k: str, rtype: str, **extra: Any) -> dict:
        rc = {"Action": action, "LogicalResourceId": k, "ResourceType": rtype, "Scope": [], "Details": [], **extra}
        if k in physical and action != "Add":
            rc["PhysicalResourceId"] = physical[k]
        return {"Type": "Resource", "ResourceChange": rc}

    for k, r in new.items():
        if k not in old:
            out.append(entry("Add", k, r["Type"]))
        elif old[k] != r:
            before, after = old[k].get("Properties") or {}, r.get("Properties") or {}
            changed = sorted(n for n in set(before) | set(after) if before.get(n) != after.get(n))
            handler = REGISTRY.get(r["Type"])
            replace = handler is not None and handler.needs_replacement(before, after) if changed else False
            scope = ["Properties"] if changed else []
            details = [{"Target": {"Attribute": "Properties", "Name": n, "RequiresRecreation":
                                   "Always" if handler is not None and handler.needs_replacement(
                                       {n: before.get(n)}, {n: after.get(n)}) else "Never"},
                        "Evaluation": "Static", "ChangeSource": "DirectModification"} for n in changed]
            out.append(entry("Modify", k, r["Type"], Replacement="True" if replace else "False", Scope=scope,
                             Details=details))
    for k, r in old.items():
        if k not in new:
            out.append(entry("Remove", k, r["Type"]))
    return out


class ChangeSetOps:
    def find_change_set(self: "CloudFormationProvider", name: str, stack: Stack | None) -> ChangeSet:
        if not name.startswith("arn:") and stack is None:
            raise validation("StackName must be specified if ChangeSetName is not specified as an ARN.")
        cs = self.store.change_set(name, stack.stack_id if stack else None)
        if cs is None:
            raise change_set_not_found(name)
        return cs

    def _stack_for(self: "CloudFormationProvider", ctx: RequestContext, p: dict) -> Stack | None:
        name = p.get("StackName")
        if not name:
            return None
        return self.get_stack(ctx, name)

    async def create_change_set(self: "CloudFormationProvider", ctx: RequestContext, p: dict) -> dict:
        from .provider import check_stack_name
        cs_name = p["ChangeSetName"]
        name = p["StackName"] if p["StackName"].startswith("arn:") else check_stack_name(p["StackName"])
        kind = p.get("ChangeSetType", "UPDATE")
        if kind not in ("CREATE", "UPDATE"):
            raise validation(f"nubis does not support ChangeSetType {kind}")
        stack = self.store.stack(ctx.account, ctx.region, name)
        if kind == "CREATE":
            if stack is not None and stack.status != "REVIEW_IN_PROGRESS":
                raise validation(f"Stack [{name}] already exists and cannot be created again with the changeSet "
                                 f"[{cs_name}].")
        else:
            if stack is None or stack.status == "DELETE_COMPLETE":
                raise validation(f"Stack [{name}] does not exist")
            if stack.status == "REVIEW_IN_PROGRESS":
                raise validation(f"Stack [{name}] does not exist")
            self.check_updatable(stack)
        if stack is not None and self.store.change_set(cs_name, stack.stack_id) is not None:
            raise AwsError("AlreadyExistsException", f"ChangeSet {cs_name} already exists", 400)
        if p.get("UsePreviousTemplate"):
            if stack is None or kind == "CREATE":
                raise validation("Cannot use previous template for a stack that does not exist")
            text = stack.template_body
        else:
            text = await self.template_text(ctx, p)
        doc = self.parse(text)
        from .template import resolve_parameters
        params = resolve_parameters(doc, p.get("Parameters") or [], stack.parameters if stack and kind == "UPDATE" else None)
        new_stack = stack is None
        if new_stack:
            stack = Stack(self.new_stack_id(ctx, name), ctx.account, ctx.region, name, "REVIEW_IN_PROGRESS")
            desc = doc.get("Description")
            stack.description = str(desc) if desc is not None else None
            stack.template_body = text
            self.store.put_stack(stack)
            self.store.add_event(stack, name, stack.stack_id, "AWS::CloudFormation::Stack", "REVIEW_IN_PROGRESS",
                                 "User Initiated")
        arn = f"arn:aws:cloudformation:{ctx.region}:{ctx.account}:changeSet/{cs_name}/{uuid.uuid4()}"
        cs = ChangeSet(arn, cs_name, stack.stack_id, stack.name, kind, template_body=text, parameters=params.raw,
                       no_echo=sorted(params.no_echo), capabilities=p.get("Capabilities") or [], tags=p.get("Tags"),
                       description=p.get("Description"), notification_arns=p.get("NotificationARNs") or [])
        self.store.put_change_set(cs)
        await self._compute(ctx, cs, stack, doc, params.values)
        return {"Id": arn, "StackId": stack.stack_id}

    async def _compute(self: "CloudFormationProvider", ctx: RequestContext, cs: ChangeSet, stack: Stack, doc: dict,
                       values: dict) -> None:
        from .errors import TemplateError
        from .template import check_capabilities
        try:
            processed = await self.blocking(self.process, doc, values, ctx.account, ctx.region, stack.name,
                                            stack.stack_id)
            check_capabilities(processed["Resources"], cs.capabilities, False, False)
        except TemplateError as e:
            cs.status, cs.reason = "FAILED", e.text
            self.store.put_change_set(cs)
            return
        except AwsError as e:
            cs.status, cs.reason = "FAILED", e.message
            self.store.put_change_set(cs)
            return
        cs.processed = processed
        old = stack.processed.get("Resources", {}) if cs.type == "UPDATE" else {}
        physical = {k: r.physical_id for k, r in self.store.resources(stack.stack_id).items()}
        cs.changes = resource_changes(old, processed["Resources"], physical)
        if cs.type == "UPDATE" and processed == stack.processed and cs.parameters == stack.parameters and \
                (cs.tags is None or cs.tags == stack.tags):
            cs.status, cs.reason = "FAILED", NO_CHANGES
        else:
            cs.status, cs.execution_status = "CREATE_COMPLETE", "AVAILABLE"
        self.store.put_change_set(cs)

    async def describe_change_set(self: "CloudFormationProvider", ctx: RequestContext, p: dict) -> dict:
        cs = self.find_change_set(p["ChangeSetName"], self._stack_for(ctx, p))
        return views.change_set(cs)

    async def list_change_sets(self: "CloudFormationProvider", ctx: RequestContext, p: dict) -> dict:
        stack = self.get_stack(ctx, p["StackName"])
        return self.page(p, [views.change_set_summary(c) for c in self.store.change_sets(stack.stack_id)],
                         "Summaries")

    async def delete_change_set(self: "CloudFormationProvider", ctx: RequestContext, p: dict) -> dict:
        cs = self.find_change_set(p["ChangeSetName"], self._stack_for(ctx, p))
        if cs.execution_status in ("EXECUTE_IN_PROGRESS",):
            raise AwsError("InvalidChangeSetStatusException",
                           f"Cannot delete ChangeSet in status {cs.execution_status}", 400)
        self.store.drop_change_set(cs.arn)
        return {}

    async def execute_change_set(self: "CloudFormationProvider", ctx: RequestContext, p: dict) -> dict:
        cs = self.find_change_set(p["ChangeSetName"], self._stack_for(ctx, p))
        if cs.status != "CREATE_COMPLETE" or cs.execution_status != "AVAILABLE":
            raise AwsError("InvalidChangeSetStatusException",
                           f"ChangeSet [{cs.arn}] cannot be executed in its current status of [{cs.status}]", 400)
        stack = self.store.stack(ctx.account, ctx.region, cs.stack_id)
        if stack is None or stack.status == "DELETE_COMPLETE":
            raise stack_not_found(cs.stack_name)
        if cs.type == "UPDATE":
            self.check_updatable(stack)
        values = self._values(cs)
        target = Target(cs.template_body, cs.processed, cs.parameters, values, cs.no_echo, cs.capabilities, cs.tags,
                        stack.description)
        doc_desc = self.parse(cs.template_body).get("Description")
        target.description = str(doc_desc) if doc_desc is not None else None
        cs.execution_status = "EXECUTE_IN_PROGRESS"
        self.store.put_change_set(cs)
        for other in self.store.change_sets(stack.stack_id):
            if other.arn != cs.arn and other.execution_status == "AVAILABLE":
                other.execution_status = "OBSOLETE"
                self.store.put_change_set(other)
        stack.change_set_id = cs.arn
        disable = bool(p.get("DisableRollback"))
        if cs.type == "CREATE":
            self.apply_target(stack, target)
            stack.disable_rollback = disable
            stack.status = "CREATE_IN_PROGRESS"
            self.store.put_stack(stack)
            await self.run_operation(stack.stack_id, self._execute, cs.arn, stack, target, disable)
        else:
            if target.tags is None:
                target.tags = stack.tags
            await self.run_operation(stack.stack_id, self._execute, cs.arn, stack, target, disable)
        return {}

    def _values(self: "CloudFormationProvider", cs: ChangeSet) -> dict:
        from .template import resolve_parameters
        doc = self.parse(cs.template_body)
        given = [{"ParameterKey": k, "ParameterValue": v} for k, v in cs.parameters.items()]
        return resolve_parameters(doc, given).values

    def _execute(self: "CloudFormationProvider", arn: str, stack: Stack, target: Target, disable: bool) -> None:
        if stack.status == "CREATE_IN_PROGRESS":
            self.deployer.create(stack, target, disable)
            ok = stack.status == "CREATE_COMPLETE"
        else:
            self.deployer.update(stack, target, disable)
            ok = stack.status == "UPDATE_COMPLETE"
        cs = self.store.change_set(arn, None)
        if cs is not None:
            cs.execution_status = "EXECUTE_COMPLETE" if ok else "EXECUTE_FAILED"
            self.store.put_change_set(cs)
