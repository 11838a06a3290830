"""Carrying out a stack operation, resource by resource, with the events and status transitions of
CloudFormation: create (rollback on failure), update (cleanup, or rollback to the previous template)
and delete. Runs in a worker thread: the handlers call nubis's APIs over HTTP, synchronously."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from .clients import Clients
from .errors import TemplateError
from .intrinsics import Resolver, pseudo_parameters
from .plan import Plan, build, dependency_order
from .resources import REGISTRY, Env, ResourceFailed
from .store import CfnStore, Resource, Stack

log = logging.getLogger("nubis.cloudformation")
STACK_TYPE = "AWS::CloudFormation::Stack"


@dataclass
class Target:
    """What the stack should become: a processed template and parameter values."""

    template_body: str
    processed: dict
    parameters: dict[str, str]
    values: dict[str, Any]
    no_echo: list[str] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=list)
    tags: list[dict] | None = None
    description: str | None = None


def output_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Deployer:
    def __init__(self, store: CfnStore, clients: Clients) -> None:
        self.store = store
        self.clients = clients

    # -- helpers
    def _env(self, stack: Stack, logical_id: str) -> Env:
        return Env(self.clients, stack.account, stack.region, stack.name, stack.stack_id, logical_id)

    def _status(self, stack: Stack, status: str, reason: str = "") -> None:
        stack.status, stack.reason = status, reason
        self.store.put_stack(stack)
        self.store.add_event(stack, stack.name, stack.stack_id, STACK_TYPE, status, reason)

    def _pseudo(self, stack: Stack) -> dict:
        return pseudo_parameters(stack.region, stack.account, stack.name, stack.stack_id)

    def _bind(self, resolver: Resolver, state: dict[str, Resource], stack: Stack) -> None:
        def ref(name: str) -> Any:
            r = state.get(name)
            if r is None:
                raise TemplateError(f"Template error: resource {name} is not available", full=True)
            return r.physical_id

        def get_att(name: str, attr: str) -> Any:
            r = state.get(name)
            if r is None:
                raise TemplateError(f"Template error: resource {name} is not available", full=True)
            if attr not in r.attributes:
                raise TemplateError(f"Template error: resource {name} does not support attribute type {attr} in "
                                    "Fn::GetAtt", full=True)
            return r.attributes[attr]

        exports = self.store.exports(stack.account, stack.region)
        resolver.ref, resolver.get_att = ref, get_att
        resolver.import_value = lambda name: exports.get(name, (None, None))[1]

    def _outputs(self, doc: dict, resolver: Resolver) -> list[dict]:
        out = []
        for key, spec in (doc.get("Outputs") or {}).items():
            cond = spec.get("Condition")
            if cond is not None and not resolver.conditions.get(cond, False):
                continue
            item = {"OutputKey": key, "OutputValue": output_text(resolver.resolve(spec["Value"]))}
            if "Description" in spec:
                item["Description"] = str(resolver.resolve(spec["Description"]))
            if "Export" in spec and "Name" in (spec["Export"] or {}):
                item["ExportName"] = str(resolver.resolve(spec["Export"]["Name"]))
            out.append(item)
        return out

    def _create_one(self, stack: Stack, plan: Plan, state: dict[str, Resource], logical_id: str) -> Resource:
        """Create one resource (events included); ResourceFailed after its CREATE_FAILED event."""
        res = plan.resources[logical_id]
        rtype = res["Type"]
        self.store.add_event(stack, logical_id, "", rtype, "CREATE_IN_PROGRESS")
        try:
            handler = REGISTRY.get(rtype)
            if handler is None:
                raise ResourceFailed(f"Resource type {rtype} is not supported by nubis")
            props = plan.resolver.resolve(res.get("Properties") or {})
            handler.check(logical_id, props)
            result = handler.create(self._env(stack, logical_id), props)
        except (ResourceFailed, TemplateError) as e:
            self.store.add_event(stack, logical_id, "", rtype, "CREATE_FAILED", _reason(e))
            raise ResourceFailed(_reason(e)) from None
        except Exception as e:  # a bug in a handler must not leave the stack in progress
            log.exception("creating %s (%s)", logical_id, rtype)
            self.store.add_event(stack, logical_id, "", rtype, "CREATE_FAILED", f"Internal failure: {e}")
            raise ResourceFailed(str(e)) from None
        r = Resource(logical_id, rtype, result.physical_id, "CREATE_COMPLETE", "", props, result.attributes,
                     definition=res)
        state[logical_id] = r
        self.store.put_resource(stack.stack_id, r)
        self.store.add_event(stack, logical_id, r.physical_id, rtype, "CREATE_COMPLETE")
        return r

    def _delete_one(self, stack: Stack, r: Resource, rollback: bool = False) -> bool:
        """Delete one resource with its events; False when it failed (DELETE_FAILED). DeletionPolicy
        Retain keeps it (RetainExceptOnCreate too, except when a create is rolled back)."""
        policy = (r.definition or {}).get("DeletionPolicy")
        if policy == "Retain" or (policy == "RetainExceptOnCreate" and not rollback):
            self.store.add_event(stack, r.logical_id, r.physical_id, r.type, "DELETE_SKIPPED")
            self.store.drop_resource(stack.stack_id, r.logical_id)
            return True
        self.store.add_event(stack, r.logical_id, r.physical_id, r.type, "DELETE_IN_PROGRESS")
        r.status = "DELETE_IN_PROGRESS"
        self.store.put_resource(stack.stack_id, r)
        handler = REGISTRY.get(r.type)
        try:
            if handler is not None and r.physical_id:
                handler.delete(self._env(stack, r.logical_id), r.physical_id, r.properties, r.attributes)
        except Exception as e:
            if not isinstance(e, ResourceFailed):
                log.exception("deleting %s (%s)", r.logical_id, r.type)
            r.status, r.reason = "DELETE_FAILED", _reason(e)
            self.store.put_resource(stack.stack_id, r)
            self.store.add_event(stack, r.logical_id, r.physical_id, r.type, "DELETE_FAILED", r.reason)
            return False
        self.store.drop_resource(stack.stack_id, r.logical_id)
        self.store.add_event(stack, r.logical_id, r.physical_id, r.type, "DELETE_COMPLETE")
        return True

    def _delete_all(self, stack: Stack, resources: dict[str, Resource], rollback: bool = False) -> list[str]:
        """Delete in reverse dependency order; the logical ids that failed."""
        defs = {k: (r.definition or {"Type": r.type}) for k, r in resources.items()}
        try:
            order, _ = dependency_order(defs)
        except TemplateError:
            order = list(defs)
        failed = []
        for k in reversed(order):
            if not self._delete_one(stack, resources[k], rollback):
                failed.append(k)
        return failed

    # -- operations
    def create(self, stack: Stack, target: Target, disable_rollback: bool = False) -> None:
        state: dict[str, Resource] = {}
        self._status(stack, "CREATE_IN_PROGRESS", "User Initiated")
        try:
            plan = build(target.processed, target.values, self._pseudo(stack))
            self._bind(plan.resolver, state, stack)
            for k in plan.order:
                self._create_one(stack, plan, state, k)
            stack.outputs = self._outputs(target.processed, plan.resolver)
        except (ResourceFailed, TemplateError) as e:
            failed = [k for k, r in self.store.resources(stack.stack_id).items() if r.status.endswith("FAILED")]
            failing = _failed_logical(self.store, stack) or failed
            reason = (f"The following resource(s) failed to create: [{', '.join(failing)}]. "
                      if failing else _reason(e) + " ")
            if disable_rollback:
                self._status(stack, "CREATE_FAILED", reason.strip())
                return
            self._status(stack, "ROLLBACK_IN_PROGRESS", reason + "Rollback requested by user.")
            left = self._delete_all(stack, self.store.resources(stack.stack_id), rollback=True)
            if left:
                self._status(stack, "ROLLBACK_FAILED", f"The following resource(s) failed to delete: [{', '.join(left)}]. ")
            else:
                self._status(stack, "ROLLBACK_COMPLETE")
            return
        self._status(stack, "CREATE_COMPLETE")

    def update(self, stack: Stack, target: Target, disable_rollback: bool = False) -> None:
        before = self.store.resources(stack.stack_id)
        previous = {"template_body": stack.template_body, "processed": stack.processed,
                    "parameters": stack.parameters, "no_echo": stack.no_echo, "outputs": stack.outputs,
                    "capabilities": stack.capabilities, "description": stack.description}
        state: dict[str, Resource] = dict(before)
        journal: list[tuple[str, str, Resource | None, Resource]] = []  # (action, logical, old, new)
        stack.updated = time.time()
        self._status(stack, "UPDATE_IN_PROGRESS", "User Initiated")
        try:
            plan = build(target.processed, target.values, self._pseudo(stack))
            self._bind(plan.resolver, state, stack)
            for k in plan.order:
                res = plan.resources[k]
                old = before.get(k)
                if old is None:
                    new = self._create_one(stack, plan, state, k)
                    journal.append(("add", k, None, new))
                    continue
                if old.type != res["Type"]:
                    raise ResourceFailed("Update of resource type is not permitted. The new template modifies "
                                         f"resource type of the following resources: [{k}]")
                applied = self._update_one(stack, plan, state, old, res, journal)
                if applied is not None:
                    journal.append(applied)
            stack.outputs = self._outputs(target.processed, plan.resolver)
        except (ResourceFailed, TemplateError) as e:
            failing = _failed_logical(self.store, stack, since_status="UPDATE_IN_PROGRESS")
            reason = (f"The following resource(s) failed to update: [{', '.join(failing)}]. " if failing
                      else _reason(e) + " ")
            self._status(stack, "UPDATE_ROLLBACK_IN_PROGRESS", reason)
            self._roll_back(stack, journal, state)
            for key, value in previous.items():
                setattr(stack, key, value)
            self._status(stack, "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
            for action, k, old, new in reversed(journal):
                if action == "replace":
                    self._delete_one_quietly(stack, new)
                    self.store.put_resource(stack.stack_id, old)
            self._status(stack, "UPDATE_ROLLBACK_COMPLETE")
            return
        stack.template_body, stack.processed = target.template_body, target.processed
        stack.parameters, stack.no_echo = target.parameters, target.no_echo
        stack.capabilities, stack.description = target.capabilities, target.description
        if target.tags is not None:
            stack.tags = target.tags
        self._status(stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
        for action, k, old, new in reversed(journal):
            if action == "replace" and old is not None:
                old.logical_id = k
                self._delete_one_quietly(stack, old)
        removed = {k: r for k, r in before.items() if k not in plan.resources}
        self._delete_all(stack, removed)
        self._status(stack, "UPDATE_COMPLETE")

    def _delete_one_quietly(self, stack: Stack, old: Resource) -> None:
        """The old physical resource of a replaced one: deleted, without touching the new record."""
        handler = REGISTRY.get(old.type)
        self.store.add_event(stack, old.logical_id, old.physical_id, old.type, "DELETE_IN_PROGRESS")
        try:
            if handler is not None:
                handler.delete(self._env(stack, old.logical_id), old.physical_id, old.properties, old.attributes)
            self.store.add_event(stack, old.logical_id, old.physical_id, old.type, "DELETE_COMPLETE")
        except Exception as e:
            self.store.add_event(stack, old.logical_id, old.physical_id, old.type, "DELETE_FAILED", _reason(e))

    def _update_one(self, stack: Stack, plan: Plan, state: dict[str, Resource], old: Resource,
                    res: dict, journal: list) -> tuple[str, str, Resource | None, Resource] | None:
        k, rtype = old.logical_id, old.type
        try:
            props = plan.resolver.resolve(res.get("Properties") or {})
        except TemplateError as e:
            self.store.add_event(stack, k, old.physical_id, rtype, "UPDATE_FAILED", _reason(e))
            raise
        if props == old.properties:
            if res != old.definition:
                old.definition = res
                self.store.put_resource(stack.stack_id, old)
            return None
        handler = REGISTRY.get(rtype)
        if handler is None:
            self.store.add_event(stack, k, old.physical_id, rtype, "UPDATE_FAILED",
                                 f"Resource type {rtype} is not supported by nubis")
            raise ResourceFailed(f"Resource type {rtype} is not supported by nubis")
        env = self._env(stack, k)
        replace = handler.needs_replacement(old.properties, props)
        self.store.add_event(stack, k, old.physical_id, rtype, "UPDATE_IN_PROGRESS",
                             "Requested update requires the creation of a new physical resource; hence creating one."
                             if replace else "")
        try:
            handler.check(k, props)
            if replace:
                result = handler.create(env, props)
            else:
                result = handler.update(env, old.physical_id, old.properties, props, old.attributes)
        except Exception as e:
            if not isinstance(e, (ResourceFailed, TemplateError)):
                log.exception("updating %s (%s)", k, rtype)
            self.store.add_event(stack, k, old.physical_id, rtype, "UPDATE_FAILED", _reason(e))
            if not replace:  # partly applied, maybe: the rollback re-applies the old properties
                journal.append(("modify", k, old, Resource(k, rtype, old.physical_id, "UPDATE_FAILED", "", props,
                                                           old.attributes, definition=res)))
            raise ResourceFailed(_reason(e)) from None
        new = Resource(k, rtype, result.physical_id, "UPDATE_COMPLETE", "", props, result.attributes, definition=res)
        state[k] = new
        self.store.put_resource(stack.stack_id, new)
        self.store.add_event(stack, k, new.physical_id, rtype, "UPDATE_COMPLETE")
        return ("replace" if replace else "modify", k, old, new)

    def _roll_back(self, stack: Stack, journal: list, state: dict[str, Resource]) -> None:
        """Undo applied changes, newest first: delete additions, re-apply old properties to modified ones."""
        for action, k, old, new in reversed(journal):
            if action == "add":
                self._delete_one(stack, new, rollback=True)
                state.pop(k, None)
            elif action == "modify":
                handler = REGISTRY[new.type]
                self.store.add_event(stack, k, new.physical_id, new.type, "UPDATE_IN_PROGRESS")
                try:
                    handler.update(self._env(stack, k), new.physical_id, new.properties, old.properties, new.attributes)
                    self.store.add_event(stack, k, new.physical_id, new.type, "UPDATE_COMPLETE")
                except Exception as e:
                    self.store.add_event(stack, k, new.physical_id, new.type, "UPDATE_FAILED", _reason(e))
                self.store.put_resource(stack.stack_id, old)
                state[k] = old
            elif action == "replace":
                state[k] = old
        failed = [r for r in self.store.resources(stack.stack_id).values() if r.status in ("CREATE_FAILED",
                                                                                            "UPDATE_FAILED")]
        for r in failed:
            self.store.drop_resource(stack.stack_id, r.logical_id)

    def delete(self, stack: Stack) -> None:
        self._status(stack, "DELETE_IN_PROGRESS", "User Initiated")
        failed = self._delete_all(stack, self.store.resources(stack.stack_id))
        if failed:
            self._status(stack, "DELETE_FAILED", f"The following resource(s) failed to delete: [{', '.join(failed)}]. ")
            return
        stack.deleted_at = time.time()
        self._status(stack, "DELETE_COMPLETE")
        self.store.drop_change_sets(stack.stack_id)


def _reason(e: BaseException) -> str:
    if isinstance(e, TemplateError):
        return e.text
    return str(e)


def _failed_logical(store: CfnStore, stack: Stack, since_status: str = "CREATE_IN_PROGRESS") -> list[str]:
    """Logical ids with a *_FAILED event in the current operation."""
    out: list[str] = []
    for ev in store.events(stack.stack_id):  # newest first
        if ev["LogicalResourceId"] == stack.name and ev["ResourceType"] == STACK_TYPE and \
                ev["ResourceStatus"] == since_status:
            break
        if ev["ResourceStatus"].endswith("_FAILED") and ev["ResourceType"] != STACK_TYPE:
            out.append(ev["LogicalResourceId"])
    return out
