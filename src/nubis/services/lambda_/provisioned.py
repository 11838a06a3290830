"""Provisioned concurrency: environments of a published version (directly or through an alias) kept
initialised ahead of invocations by the engine (`Engine.provision`).

The configurations live in the function record (`extras["provisioned"]`, qualifier -> requested count and
LastModified), so they survive a restart and are provisioned again on start. Status is read from the engine:
IN_PROGRESS while environments initialise, READY once they have, FAILED when an INIT failed.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ...server.context import RequestContext
from ...server.errors import AwsError
from .functions import FunctionRecord, lambda_timestamp
from .names import function_arn, parse_function_name
from .versions import paginate

if TYPE_CHECKING:
    from .provider import LambdaProvider

log = logging.getLogger("nubis.lambda")

EXTRA = "provisioned"
INIT_FAILURE = "FUNCTION_ERROR_INIT_FAILURE"
NOT_PUBLISHED = "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
NOT_ALIAS_OR_VERSION = "The function resource provided must be an alias or a published version."


def configs(rec: FunctionRecord) -> dict[str, dict]:
    """qualifier -> {"Requested": n, "LastModified": "..."}"""
    return rec.extras.get(EXTRA) or {}


def requested_total(rec: FunctionRecord) -> int:
    return sum(c["Requested"] for c in configs(rec).values())


def split(rec: FunctionRecord, qualifier: str, n: int) -> dict[str, int]:
    """Versions a configuration keeps environments of: a version itself, or an alias's versions (a weighted
    alias shares the environments between its two versions by weight, as Lambda does)."""
    alias = rec.aliases.get(qualifier)
    if alias is None:
        return {qualifier: n}
    out: dict[str, int] = {}
    rest = n
    for version, weight in ((alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}).items():
        share = min(rest, round(n * weight))
        out[version] = out.get(version, 0) + share
        rest -= share
    out[alias["FunctionVersion"]] = out.get(alias["FunctionVersion"], 0) + rest
    return out


def plan(rec: FunctionRecord) -> dict[str, int]:
    """version -> environments to keep, over all of the function's configurations."""
    out: dict[str, int] = {}
    for qualifier, cfg in configs(rec).items():
        for version, n in split(rec, qualifier, cfg["Requested"]).items():
            out[version] = out.get(version, 0) + n
    return out


class ProvisionedConcurrencyOps:
    """Put/Get/Delete/ListProvisionedConcurrencyConfig(s), mixed into the provider."""

    # (account, region, function, version) -> the latest provisioning round for that version
    _pc_rounds: dict[tuple[str, str, str, str], asyncio.Task]
    _pc_versions: dict[tuple[str, str, str], set[str]]  # versions with environments provisioned now

    def _pc_init(self) -> None:
        self._pc_rounds = {}
        self._pc_versions = {}

    # -- lookups
    def _pc_target(self: LambdaProvider, ctx: RequestContext, p: dict, latest_error: str) -> tuple[FunctionRecord, str]:
        ref = parse_function_name(p["FunctionName"], p.get("Qualifier"), ctx.region)
        q = ref.qualifier
        if q is None or q == "$LATEST":
            raise AwsError("InvalidParameterValueException", latest_error)
        rec = self.functions.get(ctx.account, ctx.region, ref.name)
        if rec is not None and ref.account and ref.account != ctx.account:
            rec = None
        arn = function_arn(ctx.region, ctx.account, ref.name, q)
        if q.isdigit():
            if rec is None or q not in rec.versions:
                raise AwsError("ResourceNotFoundException", f"Function not found: {arn}", 404, Type="User")
        elif rec is None or q not in rec.aliases:
            raise AwsError("ResourceNotFoundException", f"Cannot find alias arn: {arn}", 404, Type="User")
        return rec, q

    def _pc_state(self: LambdaProvider, rec: FunctionRecord, qualifier: str) -> dict:
        cfg = configs(rec)[qualifier]
        wanted = split(rec, qualifier, cfg["Requested"])
        ready = 0
        status, reason = "READY", None
        for version in wanted:
            task = self._pc_rounds.get((*rec.key, version))
            rev = rec.revision(version)
            state = (self.engine.provisioned(self.invoker.spec(rec, rev, self.endpoint)) if rev is not None
                     else {"ready": 0, "failed": 0})
            ready += state["ready"]
            if task is not None and not task.done():
                status = "IN_PROGRESS" if status != "FAILED" else status
            elif state["failed"] or (task is not None and not task.cancelled() and task.exception() is not None):
                status, reason = "FAILED", INIT_FAILURE
        available = min(cfg["Requested"], ready)
        out = {"RequestedProvisionedConcurrentExecutions": cfg["Requested"],
               "AvailableProvisionedConcurrentExecutions": available,
               "AllocatedProvisionedConcurrentExecutions": available,
               "Status": status, "LastModified": cfg["LastModified"]}
        if reason:
            out["StatusReason"] = reason
        return out

    # -- engine side
    def apply_provisioning(self: LambdaProvider, rec: FunctionRecord) -> None:
        """Bring the engine in line with the function's configurations: start rounds for versions that need
        environments, hand back those of versions that no longer do (they become on-demand)."""
        wanted = plan(rec)
        before = self._pc_versions.get(rec.key, set())
        for version in before | set(wanted):
            rev = rec.revision(version)
            if rev is None:
                continue
            spec = self.invoker.spec(rec, rev, self.endpoint)
            n = wanted.get(version, 0)
            if n and self.engine.provisioned(spec)["requested"] == n and (*rec.key, version) in self._pc_rounds:
                continue  # already provisioned (or being) at this count
            self._pc_rounds[(*rec.key, version)] = self._spawn(self._provision(rec, version, spec, n))
        self._pc_versions[rec.key] = set(wanted)
        for key in [k for k in self._pc_rounds if k[:3] == rec.key and k[3] not in wanted]:
            self._pc_rounds.pop(key, None)

    async def _provision(self: LambdaProvider, rec: FunctionRecord, version: str, spec, n: int) -> None:
        try:
            state = await self.engine.provision(spec, n)
        except Exception:
            log.exception("provisioning %s:%s failed", rec.arn, version)
            raise
        if state["failed"]:
            log.warning("provisioned concurrency for %s:%s: %d of %d environments failed to initialise",
                        rec.arn, version, state["failed"], n)

    def _spawn(self: LambdaProvider, coro) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda t: t.cancelled() or t.exception())  # reported through Status
        return task

    def forget_provisioning(self: LambdaProvider, rec: FunctionRecord, qualifier: str | None = None) -> None:
        """A version, an alias or the whole function is gone: drop its configurations (and hand its
        environments back). For the whole function the caller retires the engine's pools itself."""
        if qualifier is None:
            rec.extras.pop(EXTRA, None)
            self._pc_versions.pop(rec.key, None)
            for key in [k for k in self._pc_rounds if k[:3] == rec.key]:
                self._pc_rounds.pop(key, None)
            return
        if qualifier in configs(rec):
            del rec.extras[EXTRA][qualifier]
        else:
            return
        self.apply_provisioning(rec)

    # -- limits, as Lambda checks them
    def provisioned_claim(self: LambdaProvider, account: str, region: str, exclude: FunctionRecord | None = None) -> int:
        """Account concurrency claimed by provisioned concurrency of functions without a reservation (a
        function's reservation already covers its own provisioned concurrency)."""
        return sum(requested_total(r) for r in self.functions.in_scope(account, region)
                   if r.reserved is None and r is not exclude)

    def _check_limits(self: LambdaProvider, rec: FunctionRecord, qualifier: str, n: int) -> None:
        others = sum(c["Requested"] for q, c in configs(rec).items() if q != qualifier)
        if rec.reserved is not None and rec.reserved < others + n:
            raise AwsError("InvalidParameterValueException",
                           "Requested Provisioned Concurrency should not be greater than the "
                           "reservedConcurrentExecution for function")
        if n > self.account_concurrency:
            raise AwsError("InvalidParameterValueException",
                           "Specified ConcurrentExecutions for function is greater than account's unreserved "
                           f"concurrency [{self.account_concurrency}].")
        if rec.reserved is None:
            reserved = sum(r.reserved or 0 for r in self.functions.in_scope(rec.account, rec.region))
            unreserved = self.account_concurrency - reserved - self.provisioned_claim(rec.account, rec.region, rec)
            floor = self.min_unreserved()
            if unreserved - others - n < floor:
                raise AwsError("InvalidParameterValueException",
                               "Specified ConcurrentExecutions for function decreases account's "
                               f"UnreservedConcurrentExecution below its minimum value of [{floor}].")

    def _check_conflicts(self, rec: FunctionRecord, qualifier: str) -> None:
        existing = configs(rec)
        alias = rec.aliases.get(qualifier)
        if alias is not None:
            if alias["FunctionVersion"] == "$LATEST":
                raise AwsError("InvalidParameterValueException", NOT_PUBLISHED)
            if alias["FunctionVersion"] in existing:
                raise AwsError("ResourceConflictException", "Alias can't be used for Provisioned Concurrency "
                               "configuration on an already Provisioned version", 409, Type="User")
        elif any(a["FunctionVersion"] == qualifier for name, a in rec.aliases.items() if name in existing):
            raise AwsError("ResourceConflictException", "Version is pointed by a Provisioned Concurrency alias",
                           409, Type="User")

    # -- operations
    async def put_provisioned_concurrency_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, q = self._pc_target(ctx, p, NOT_PUBLISHED)
        n = p["ProvisionedConcurrentExecutions"]
        self._check_limits(rec, q, n)
        self._check_conflicts(rec, q)
        version = rec.aliases[q]["FunctionVersion"] if q in rec.aliases else q
        rev = rec.versions.get(version)
        if rev is not None and (rev.config.get("SnapStart") or {}).get("OptimizationStatus") == "On":
            raise AwsError("InvalidParameterValueException",
                           "Provisioned Concurrency is not supported for SnapStart enabled functions.")
        rec.extras.setdefault(EXTRA, {})[q] = {"Requested": n, "LastModified": lambda_timestamp()}
        self.functions.save(rec)
        for version in split(rec, q, n):  # a new round starts now, whatever ran before
            self._pc_rounds.pop((*rec.key, version), None)
        self.apply_provisioning(rec)
        return {"RequestedProvisionedConcurrentExecutions": n, "AvailableProvisionedConcurrentExecutions": 0,
                "AllocatedProvisionedConcurrentExecutions": 0, "Status": "IN_PROGRESS",
                "LastModified": rec.extras[EXTRA][q]["LastModified"]}

    async def get_provisioned_concurrency_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, q = self._pc_target(ctx, p, NOT_ALIAS_OR_VERSION)
        if q not in configs(rec):
            raise AwsError("ProvisionedConcurrencyConfigNotFoundException",
                           "No Provisioned Concurrency Config found for this function", 404, Type="User")
        return self._pc_state(rec, q)

    async def delete_provisioned_concurrency_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, q = self._pc_target(ctx, p, NOT_ALIAS_OR_VERSION)
        if q in configs(rec):  # idempotent, as on AWS
            self.forget_provisioning(rec, q)
            self.functions.save(rec)
        return {}

    async def list_provisioned_concurrency_configs(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self._unqualified(ctx, p["FunctionName"])
        items = [dict(self._pc_state(rec, q), FunctionArn=function_arn(rec.region, rec.account, rec.name, q))
                 for q in sorted(configs(rec), key=lambda q: (not q.isdigit(), q.zfill(10)))]
        return paginate(items, p, "ProvisionedConcurrencyConfigs", key="FunctionArn")
