"""SnapStart (`SnapStart: {ApplyOn: PublishedVersions}`) in the control plane.

Accepted for the runtimes AWS supports it on (of those nubis runs: python3.12 and later); refused as
AWS refuses it otherwise. A published version of such a function shows `OptimizationStatus: On`
($LATEST always `Off`); PublishVersion answers with the version `Pending` while the engine makes its
snapshot (INIT once, then the before-snapshot hooks), then the version is `Active`, or `Failed` with
`StateReasonCode: FunctionError` when INIT failed.
"""
from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from ...server.errors import AwsError
from .functions import FunctionRecord, Revision

if TYPE_CHECKING:
    from .provider import LambdaProvider

log = logging.getLogger("nubis.lambda.snapstart")

SUPPORTED = frozenset({"python3.12", "python3.13", "python3.14"})  # and java11+, dotnet8+ on AWS
MAX_EPHEMERAL_MB = 512


def requested(cfg: dict) -> bool:
    return (cfg.get("SnapStart") or {}).get("ApplyOn") == "PublishedVersions"


def check(params: dict, current: dict | None = None) -> None:
    """CreateFunction / UpdateFunctionConfiguration: the resulting configuration must allow SnapStart."""
    merged = dict(current or {})
    merged.update({k: v for k, v in params.items() if v is not None})
    if not requested(merged):
        return
    runtime = merged.get("Runtime")
    if runtime not in SUPPORTED:
        raise AwsError("InvalidParameterValueException", f"{runtime} is not supported for SnapStart enabled functions.")
    size = (merged.get("EphemeralStorage") or {}).get("Size") or 512
    if size > MAX_EPHEMERAL_MB:
        raise AwsError("InvalidParameterValueException",
                       f"SnapStart is not supported for functions with ephemeral storage greater than "
                       f"{MAX_EPHEMERAL_MB} MB.")
    if merged.get("FileSystemConfigs"):
        raise AwsError("InvalidParameterValueException",
                       "SnapStart is not supported for functions with an Amazon EFS file system.")


def on(cfg: dict) -> bool:
    """Is the snapshot in use for this revision (a published version of a SnapStart function)?"""
    return (cfg.get("SnapStart") or {}).get("OptimizationStatus") == "On"


def version_config(cfg: dict) -> dict:
    """A new version's configuration: `OptimizationStatus: On` and `Pending` while the snapshot is made."""
    if not requested(cfg) or cfg.get("Runtime") not in SUPPORTED:
        return cfg
    return dict(cfg, SnapStart={"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}, State="Pending",
                StateReason="The function is being created.", StateReasonCode="Creating")


class SnapStartOps:
    """Making a published version's snapshot, mixed into the provider."""

    def start_snapshot(self: LambdaProvider, rec: FunctionRecord, rev: Revision) -> None:
        """Run the version's INIT once in the background; the version becomes Active or Failed."""
        if rev.config.get("State") != "Pending" or not on(rev.config):
            return
        spec = self.invoker.spec(rec, rev, self.endpoint)

        async def run() -> None:
            cfg = dict(rev.config)
            try:
                result = await self.engine.snapshot(spec)
            except Exception as exc:  # the engine is shutting down, or a bug: never leave it Pending
                log.exception("SnapStart snapshot of %s failed", cfg["FunctionArn"])
                result = None
                reason, code = f"nubis could not create the snapshot: {exc}", "InternalError"
            if result is not None and (result.ok or result.unavailable):
                if result.unavailable:
                    log.warning("%s: %s; its environments start on demand", cfg["FunctionArn"], result.unavailable)
                cfg["State"] = "Active"
                for key in ("StateReason", "StateReasonCode"):
                    cfg.pop(key, None)
            else:
                if result is not None:
                    reason = f"Init error: {result.error_type}: {result.error_message}".rstrip(": ")
                    code = "FunctionError"
                cfg.update(State="Failed", StateReason=reason, StateReasonCode=code)
            rev.config = cfg
            current = self.functions.get(*rec.key)
            if current is not None and current.versions.get(rev.version) is rev:
                self.functions.update_version(current, rev)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
