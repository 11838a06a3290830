"""Resource-based policies (AddPermission/RemovePermission/GetPolicy) and the small per-function settings
that are answered faithfully but change nothing at run time (recursion, runtime management)."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

import orjson

from ...server.context import RequestContext
from ...server.errors import AwsError
from .functions import FunctionRecord, new_revision
from .names import function_arn

if TYPE_CHECKING:
    from .provider import LambdaProvider

POLICY_MAX_BYTES = 20 * 1024
_ACCOUNT = re.compile(r"\d{12}")
_IAM_ARN = re.compile(r"arn:aws[a-zA-Z-]*:(iam|sts)::\d{12}:.+")
_SERVICE = re.compile(r"[a-z0-9.-]+\.amazonaws\.com(\.cn)?")

NOT_FOUND = "The resource you requested does not exist."


def principal_of(value: str) -> dict | str:
    if value == "*":
        return "*"
    if _ACCOUNT.fullmatch(value):
        return {"AWS": f"arn:aws:iam::{value}:root"}
    if _IAM_ARN.fullmatch(value):
        return {"AWS": value}
    if _SERVICE.fullmatch(value):
        return {"Service": value}
    raise AwsError("InvalidParameterValueException",
                   "The provided principal was invalid. Please check the principal and try again.")


def statement(p: dict, resource: str) -> dict:
    stmt: dict = {"Sid": p["StatementId"], "Effect": "Allow", "Principal": principal_of(p["Principal"]),
                  "Action": p["Action"], "Resource": resource}
    condition: dict = {}
    if p.get("SourceArn"):
        condition.setdefault("ArnLike", {})["AWS:SourceArn"] = p["SourceArn"]
    for member, key in (("SourceAccount", "AWS:SourceAccount"), ("PrincipalOrgID", "aws:PrincipalOrgID"),
                        ("FunctionUrlAuthType", "lambda:FunctionUrlAuthType"),
                        ("EventSourceToken", "lambda:EventSourceToken")):
        if p.get(member):
            condition.setdefault("StringEquals", {})[key] = p[member]
    if p.get("InvokedViaFunctionUrl"):
        condition.setdefault("Bool", {})["lambda:InvokedViaFunctionUrl"] = "true"
    if condition:
        stmt["Condition"] = condition
    return stmt


def statements(rec: FunctionRecord, qualifier: str | None) -> list[dict]:
    return (rec.extras.get("policies") or {}).get(qualifier or "$LATEST") or []


def revision_id(rec: FunctionRecord, qualifier: str | None) -> str:
    """The RevisionId of what a policy is attached to: $LATEST, a version or an alias."""
    if qualifier in rec.aliases:
        return rec.aliases[qualifier]["RevisionId"]
    rev = rec.revision(qualifier or "$LATEST")
    return rev.config["RevisionId"] if rev is not None else rec.config["RevisionId"]


def _check_revision(rec: FunctionRecord, qualifier: str | None, wanted: str | None) -> None:
    if wanted and wanted != revision_id(rec, qualifier):
        raise AwsError("PreconditionFailedException",
                       "The Revision Id provided does not match the latest Revision Id. Call the "
                       "GetFunction/GetAlias API to retrieve the latest Revision Id", 412, Type="User")


class PolicyOps:
    """Resource policy and configuration-only settings, mixed into the provider."""

    def _policy_target(self: LambdaProvider, ctx: RequestContext, p: dict) -> tuple[FunctionRecord, str | None]:
        rec, ref = self.resolve(ctx, p["FunctionName"], p.get("Qualifier"))
        q = ref.qualifier
        if q and rec.revision(q) is None and q not in rec.aliases:
            raise AwsError("ResourceNotFoundException",
                           f"Function not found: {function_arn(rec.region, rec.account, rec.name, q)}", 404, Type="User")
        return rec, q

    async def add_permission(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, q = self._policy_target(ctx, p)
        if q == "$LATEST":
            raise AwsError("InvalidParameterValueException", "We currently do not support adding policies for $LATEST.")
        _check_revision(rec, q, p.get("RevisionId"))
        current = statements(rec, q)
        if any(s["Sid"] == p["StatementId"] for s in current):
            raise AwsError("ResourceConflictException",
                           f"The statement id ({p['StatementId']}) provided already exists. Please provide a new "
                           "statement id, or remove the existing statement.", 409, Type="User")
        stmt = statement(p, function_arn(rec.region, rec.account, rec.name, q))
        updated = [*current, stmt]
        if len(orjson.dumps(updated)) > POLICY_MAX_BYTES:
            raise AwsError("PolicyLengthExceededException",
                           "The final policy size (bigger than the limit of 20480 bytes) is too large.", 400,
                           Type="User")
        rec.extras.setdefault("policies", {})[q or "$LATEST"] = updated
        self._policy_changed(rec, q)
        return {"Statement": orjson.dumps(stmt).decode()}

    async def get_policy(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, q = self._policy_target(ctx, p)
        current = statements(rec, q)
        if not current:
            raise AwsError("ResourceNotFoundException", NOT_FOUND, 404, Type="User")
        doc = {"Version": "2012-10-17", "Id": "default", "Statement": current}
        return {"Policy": orjson.dumps(doc).decode(), "RevisionId": revision_id(rec, q)}

    async def remove_permission(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, q = self._policy_target(ctx, p)
        current = statements(rec, q)
        if not current:
            raise AwsError("ResourceNotFoundException", "No policy is associated with the given resource.", 404,
                           Type="User")
        _check_revision(rec, q, p.get("RevisionId"))
        remaining = [s for s in current if s["Sid"] != p["StatementId"]]
        if len(remaining) == len(current):
            raise AwsError("ResourceNotFoundException",
                           f"Statement {p['StatementId']} is not found in resource policy.", 404, Type="User")
        rec.extras["policies"][q or "$LATEST"] = remaining
        self._policy_changed(rec, q)
        return {}

    def _policy_changed(self: LambdaProvider, rec: FunctionRecord, q: str | None) -> None:
        """Save, with a new RevisionId for what the policy is attached to (as AWS does). The engine's pool
        key does not include the RevisionId, so warm environments survive a policy change."""
        if q in rec.aliases:
            self.functions.save_alias(rec, dict(rec.aliases[q], RevisionId=new_revision()))
        elif q and q != "$LATEST":
            rev = rec.versions[q]
            rev.config = dict(rev.config, RevisionId=new_revision())
            self.functions.update_version(rec, rev)
        else:
            rec.config = dict(rec.config, RevisionId=new_revision())
        self.functions.save(rec)

    # -- settings answered faithfully (nubis has no recursion detection or runtime updates to manage)
    async def put_function_recursion_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self._unqualified(ctx, p["FunctionName"])
        rec.extras["recursive_loop"] = p["RecursiveLoop"]
        self.functions.save(rec)
        return {"RecursiveLoop": p["RecursiveLoop"]}

    async def get_function_recursion_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec = self._unqualified(ctx, p["FunctionName"])
        return {"RecursiveLoop": rec.extras.get("recursive_loop", "Terminate")}

    async def put_runtime_management_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, q = self._policy_target(ctx, p)
        mode = p["UpdateRuntimeOn"]
        if mode == "Manual" and not p.get("RuntimeVersionArn"):
            raise AwsError("InvalidParameterValueException",
                           "RuntimeVersionArn must be specified when UpdateRuntimeOn is Manual.")
        if mode != "Manual" and p.get("RuntimeVersionArn"):
            raise AwsError("InvalidParameterValueException",
                           "RuntimeVersionArn can only be specified when UpdateRuntimeOn is Manual.")
        config = {"UpdateRuntimeOn": mode}
        if p.get("RuntimeVersionArn"):
            config["RuntimeVersionArn"] = p["RuntimeVersionArn"]
        rec.extras.setdefault("runtime_management", {})[q or "$LATEST"] = config
        self.functions.save(rec)
        return dict(config, FunctionArn=function_arn(rec.region, rec.account, rec.name, q or "$LATEST"))

    async def get_runtime_management_config(self: LambdaProvider, ctx: RequestContext, p: dict) -> dict:
        rec, q = self._policy_target(ctx, p)
        config = (rec.extras.get("runtime_management") or {}).get(q or "$LATEST") or {"UpdateRuntimeOn": "Auto"}
        return dict(config, FunctionArn=function_arn(rec.region, rec.account, rec.name, q or "$LATEST"))
