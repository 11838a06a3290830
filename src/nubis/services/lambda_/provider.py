"""The Lambda API (2015-03-31): control plane here, the Invoke data path in invoke.py."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from pathlib import Path
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qs

from ...engine import Engine
from ...events.bus import Bus, ObjectError
from ...server.context import RequestContext
from ...server.errors import AwsError
from ...server.messages import HttpRequest, HttpResponse
from ...store.blobs import BlobStore
from ...store.db import Database
from ..base import Provider, RawRoute
from . import configuration as conf
from . import limits, validation
from .code import CodePackage, accept_zip, extract
from .code_signing import EXTRA as CODE_SIGNING, CodeSigningOps, CodeSigningStore, attached as signing_config
from .aliases import AliasOps, pick_version
from .event_invoke import EventInvokeConfigOps
from .event_sources import EventSourceMappingOps
from .fast_lane import invoke_params
from .functions import FunctionRecord, FunctionRepository, Revision
from .invoke import Invoker
from .layers import LAYER_DIGESTS, LayerOps, LayerStore, merged_opt_dir
from .policy import PolicyOps
from .provisioned import ProvisionedConcurrencyOps, configs as provisioned_configs
from .snapstart import SnapStartOps, check as check_snapstart
from .triggers import TriggerOps
from .urls import PATH_PREFIX, FunctionUrlOps
from .names import FunctionRef, function_arn, parse_function_name
from .versions import VersionOps, paginate

log = logging.getLogger("nubis.lambda")

CODE_URL_TTL_S = 600


def not_found(arn: str) -> AwsError:
    return AwsError("ResourceNotFoundException", f"Function not found: {arn}", 404, Type="User")


class LambdaProvider(VersionOps, AliasOps, EventInvokeConfigOps, PolicyOps, FunctionUrlOps, LayerOps, TriggerOps,
                     ProvisionedConcurrencyOps, CodeSigningOps, EventSourceMappingOps, SnapStartOps, Provider):
    service = "lambda"

    def __init__(self, db: Database, blobs: BlobStore, engine: Engine, invoker_queue: Any, data_dir: Path,
                 secret: bytes, account_concurrency: int = limits.ACCOUNT_CONCURRENCY,
                 async_retry_scale: float = 1.0) -> None:
        self.db = db
        self.blobs = blobs
        self.engine = engine
        self.code_root = data_dir / "code"
        self.secret = secret
        self.account_concurrency = account_concurrency
        self.functions = FunctionRepository(db)
        self.layers = LayerStore(db)
        self.code_signing = CodeSigningStore(db)
        self.opt_root = data_dir / "opt"
        self.invoker = Invoker(self, engine, invoker_queue, async_retry_scale)
        self.endpoint = ""  # this server's base URL, set once it listens (functions call back to it)
        self.bus: Bus | None = None  # set by the app: Code.S3Bucket/S3Key are read through bus.objects
        self.verifier: Any = None  # set by the app: SigV4 checks for function URLs with AuthType AWS_IAM
        self._index_urls()
        self._tasks: set[asyncio.Task] = set()
        self._pc_init()
        self._esm_init()
        for rec in self.functions.all():
            if rec.reserved is not None:
                engine.set_reserved(self.scope(rec.account, rec.region), rec.arn, rec.reserved)

    # -- lifecycle
    async def start(self) -> None:
        for rec in self.functions.all():  # finish what a crash interrupted
            if rec.state == "Pending" or rec.config.get("LastUpdateStatus") == "InProgress":
                self._prepare(rec)
            if provisioned_configs(rec):  # provisioned concurrency outlives a restart
                self.apply_provisioning(rec)
        await self.invoker.start()
        await self._esm_start()

    async def stop(self) -> None:
        await self._esm_stop()
        await self.invoker.stop()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    @staticmethod
    def scope(account: str, region: str) -> str:
        return f"{account}/{region}"

    def validation_error(self, operation: str, violations: list[Any]) -> AwsError | None:
        for v in violations:
            if getattr(v, "path", "") == "runtime":
                return validation.runtime_enum_error(v.value)
        return None

    # -- lookup helpers
    def resolve(self, ctx: RequestContext, name: str, qualifier: str | None = None, *,
                invoke: bool = False) -> tuple[FunctionRecord, FunctionRef]:
        """The function named in `{FunctionName}` (404 if it does not exist in the caller's account/region)."""
        ref = parse_function_name(name, qualifier, ctx.region)
        rec = self.functions.get(ctx.account, ctx.region, ref.name)
        if rec is None or (ref.account and ref.account != ctx.account):
            raise not_found(function_arn(ctx.region, ctx.account, ref.name,
                                         ref.qualifier or ("$LATEST" if invoke else None)))
        return rec, ref

    def target(self, ctx: RequestContext, name: str, qualifier: str | None = None, *,
               invoke: bool = False) -> tuple[FunctionRecord, Revision, str | None]:
        """Function, the revision a qualifier selects ($LATEST, a version, or an alias's weighted pick), qualifier."""
        rec, ref = self.resolve(ctx, name, qualifier, invoke=invoke)
        q = ref.qualifier
        rev = rec.revision(q or "$LATEST")
        if rev is None and q in rec.aliases:
            rev = rec.revision(pick_version(rec.aliases[q]))
        if rev is None:
            raise not_found(function_arn(ctx.region, ctx.account, rec.name, q))
        return rec, rev, q

    def _unqualified(self, ctx: RequestContext, name: str) -> FunctionRecord:
        ref = parse_function_name(name, region=ctx.region)
        if ref.qualifier is not None:
            raise AwsError("InvalidParameterValueException",
                           "This operation is permitted on Lambda functions only. Aliases and versions do not support "
                           "this operation. Please specify either a function name or an unqualified function ARN.")
        rec = self.functions.get(ctx.account, ctx.region, ref.name)
        if rec is None:
            raise not_found(function_arn(ctx.region, ctx.account, ref.name))
        return rec

    # -- code
    def _code_from(self, code: dict | None, ctx: RequestContext | None = None) -> CodePackage:
        code = code or {}
        if code.get("ZipFile") is not None:
            return accept_zip(code["ZipFile"], self.blobs)
        if code.get("S3Bucket") or code.get("S3Key"):
            return accept_zip(self.s3_object(ctx, code), self.blobs)
        if code.get("ImageUri"):
            raise AwsError("InvalidParameterValueException",
                           "nubis does not run container images; deploy a zip package instead.")
        raise AwsError("InvalidParameterValueException", "Please provide a source for function code.")

    def s3_object(self, ctx: RequestContext | None, code: dict) -> bytes:
        """A package named by S3Bucket/S3Key/S3ObjectVersion, with Lambda's error when S3 has none."""
        reader = self.bus.objects if self.bus is not None else None
        try:
            if reader is None or ctx is None:
                raise ObjectError("NoSuchBucket", "The specified bucket does not exist")
            return reader.get(ctx.account, ctx.region, code.get("S3Bucket") or "", code.get("S3Key") or "",
                              code.get("S3ObjectVersion"))
        except ObjectError as e:
            raise AwsError("InvalidParameterValueException", f"Error occurred while GetObject. S3 Error Code: "
                           f"{e.code}. S3 Error Message: {e.message}") from None

    def _prepare(self, rec: FunctionRecord, publish: bool = False, endpoint: str = "") -> None:
        """Extract and compile the code off the event loop, then mark the function ready (and publish)."""
        async def run() -> None:
            try:
                await asyncio.to_thread(extract, self.blobs, rec.code_digest, self.code_root)
                await asyncio.to_thread(merged_opt_dir, self.blobs, rec.config.get(LAYER_DIGESTS, []), self.opt_root)
                rec.config = conf.mark_ready(rec.config)
            except Exception as exc:  # a broken disk, not bad input: that was checked on upload
                log.exception("preparing %s failed", rec.arn)
                rec.config = conf.mark_failed(rec.config, f"nubis could not prepare the code: {exc}")
            if self.functions.get(*rec.key) is rec:
                self.functions.save(rec)
                if endpoint and rec.state == "Active":
                    # Its first invocation needs a new environment: launched now, it only runs INIT then.
                    self.engine.prime(self.invoker.spec(rec, rec.latest, endpoint))
                if publish and rec.state == "Active":
                    await self.publish_version(_system_context(rec), {"FunctionName": rec.name})

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def code_dir(self, rev: Revision) -> Path:
        return self.code_root / rev.code_digest

    def opt_dir(self, rev: Revision) -> Path | None:
        """The function's layers merged in order (what Lambda mounts at /opt), or None without layers."""
        return merged_opt_dir(self.blobs, rev.config.get(LAYER_DIGESTS, []), self.opt_root)

    def _layers_param(self, ctx: RequestContext, p: dict) -> dict:
        """`Layers` (ARNs) -> the configuration's entries plus the private list of content digests."""
        if p.get("Layers") is None:
            return {}
        entries, digests = self.resolve_layers(ctx, p["Layers"])
        return {"Layers": entries, LAYER_DIGESTS: digests}

    def code_location(self, ctx: RequestContext, digest: str) -> str:
        expires = int(time.time()) + CODE_URL_TTL_S
        sig = self._sign(digest, expires)
        return f"{ctx.endpoint}/_nubis/lambda/code/{digest}.zip?Expires={expires}&Signature={sig}"

    def _sign(self, digest: str, expires: int) -> str:
        return hmac.new(self.secret, f"{digest}:{expires}".encode(), hashlib.sha256).hexdigest()

    def fast_params(self, req: HttpRequest) -> tuple[str, dict] | None:
        params = invoke_params(req)
        return ("Invoke", params) if params is not None else None

    def raw_routes(self) -> dict[str, RawRoute]:
        return {"/_nubis/lambda/code/": self._download_code, PATH_PREFIX: self._serve_url_path}

    async def _download_code(self, req: HttpRequest) -> HttpResponse:
        digest = req.path.rsplit("/", 1)[-1].removesuffix(".zip")
        q = {k: v[0] for k, v in parse_qs(req.query).items()}
        try:
            expires = int(q.get("Expires", "0"))
        except ValueError:
            expires = 0
        if expires < time.time() or not hmac.compare_digest(self._sign(digest, expires), q.get("Signature", "")):
            return HttpResponse(403, [("Content-Type", "application/xml")],
                                b"<Error><Code>AccessDenied</Code><Message>Request has expired or the signature "
                                b"does not match</Message></Error>")
        if not self.blobs.exists(digest):
            return HttpResponse(404, [("Content-Type", "application/xml")],
                                b"<Error><Code>NoSuchKey</Code><Message>The specified key does not exist."
                                b"</Message></Error>")
        return HttpResponse(200, [("Content-Type", "application/zip")], self.blobs.get(digest))

    # -- operations: functions
    async def create_function(self, ctx: RequestContext, p: dict) -> dict:
        if ctx.body_size > limits.CREATE_REQUEST_MAX:
            raise AwsError("RequestEntityTooLargeException",
                           f"Request must be smaller than {limits.CREATE_REQUEST_MAX} bytes for the CreateFunction "
                           "operation", 413, Type="User")
        name = p["FunctionName"]
        ref = parse_function_name(name, region=ctx.region)
        if ref.qualifier or ref.name != name:
            name = ref.name
        if (p.get("PackageType") or "Zip") == "Zip" and (not p.get("Runtime") or not p.get("Handler")):
            raise AwsError("InvalidParameterValueException",
                           "Runtime and Handler are mandatory parameters for functions created with deployment "
                           "packages.")
        validation.check_config(p)
        validation.check_architectures(p.get("Architectures"))
        check_snapstart(p)
        self.check_dead_letter(p)
        if self.functions.get(ctx.account, ctx.region, name):
            raise AwsError("ResourceConflictException", f"Function already exist: {name}", 409, Type="User")
        layers = self._layers_param(ctx, p)
        self.check_code_signing(ctx, name, p.get("CodeSigningConfigArn"))
        code = self._code_from(p.get("Code"), ctx)
        cfg = conf.new_configuration(ctx.account, ctx.region, dict(p, FunctionName=name, **layers), code)
        rec = FunctionRecord(ctx.account, ctx.region, name, cfg, code.digest, dict(p.get("Tags") or {}))
        if p.get("CodeSigningConfigArn"):
            rec.extras[CODE_SIGNING] = p["CodeSigningConfigArn"]
        self.functions.save(rec)
        self._prepare(rec, publish=bool(p.get("Publish")), endpoint=ctx.endpoint)
        # With Publish, AWS answers with the version it is creating; the ARN stays unqualified.
        return dict(cfg, Version="1") if p.get("Publish") else dict(cfg)

    async def get_function(self, ctx: RequestContext, p: dict) -> dict:
        rec, rev, _ = self.target(ctx, p["FunctionName"], p.get("Qualifier"))
        out: dict = {"Configuration": dict(rev.config),
                     "Code": {"RepositoryType": "S3", "Location": self.code_location(ctx, rev.code_digest)}}
        if rec.tags:
            out["Tags"] = dict(rec.tags)
        if rec.reserved is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": rec.reserved}
        return out

    async def get_function_configuration(self, ctx: RequestContext, p: dict) -> dict:
        return dict(self.target(ctx, p["FunctionName"], p.get("Qualifier"))[1].config)

    async def list_functions(self, ctx: RequestContext, p: dict) -> dict:
        items = []
        for rec in self.functions.in_scope(ctx.account, ctx.region):
            if p.get("FunctionVersion") == "ALL":
                items.append(dict(conf.list_item(rec.config), FunctionArn=f"{rec.arn}:$LATEST"))
                items += [conf.list_item(rec.versions[v].config) for v in sorted(rec.versions, key=int)]
            else:
                items.append(conf.list_item(rec.config))
        return paginate(items, p, "Functions", key="FunctionArn")

    async def update_function_code(self, ctx: RequestContext, p: dict) -> dict:
        rec = self._mutable(ctx, p)
        self.check_code_signing(ctx, rec.name, signing_config(rec))
        code = self._code_from({k: p.get(k) for k in ("ZipFile", "S3Bucket", "S3Key", "S3ObjectVersion", "ImageUri")},
                               ctx)
        if p.get("Architectures"):
            validation.check_architectures(p["Architectures"])
        if p.get("DryRun"):
            return dict(conf.apply_code(rec.config, code))
        self.engine.retire(rec.engine_prefix)
        rec.config = conf.apply_code(rec.config, code)
        if p.get("Architectures"):
            rec.config["Architectures"] = p["Architectures"]
        rec.code_digest = code.digest
        self.functions.save(rec)
        self._prepare(rec, publish=bool(p.get("Publish")), endpoint=ctx.endpoint)
        # With Publish, AWS answers with the version it is publishing, as CreateFunction does.
        return dict(rec.config, Version=str(rec.last_version + 1)) if p.get("Publish") else dict(rec.config)

    async def update_function_configuration(self, ctx: RequestContext, p: dict) -> dict:
        rec = self._mutable(ctx, p)
        validation.check_config(p)
        check_snapstart(p, rec.config)
        self.check_dead_letter(p)
        layers = self._layers_param(ctx, p)
        self.engine.retire(rec.engine_prefix)
        rec.config = conf.apply_update(rec.config, dict(p, **layers))
        self.functions.save(rec)
        self._prepare(rec)
        return dict(rec.config)

    def _mutable(self, ctx: RequestContext, p: dict) -> FunctionRecord:
        rec, _ = self.resolve(ctx, p["FunctionName"])
        if rec.config.get("LastUpdateStatus") == "InProgress" or rec.state == "Pending":
            raise AwsError("ResourceConflictException",
                           "The operation cannot be performed at this time. An update is in progress for resource: "
                           f"{rec.arn}", 409, Type="User")
        if p.get("RevisionId") and p["RevisionId"] != rec.config["RevisionId"]:
            raise AwsError("PreconditionFailedException",
                           "The Revision Id provided does not match the latest Revision Id. Call the "
                           "GetFunction/GetAlias API to retrieve the latest Revision Id", 412, Type="User")
        return rec

    async def delete_function(self, ctx: RequestContext, p: dict) -> HttpResponse:
        rec, ref = self.resolve(ctx, p["FunctionName"], p.get("Qualifier"))
        if ref.qualifier:
            self._delete_version(rec, ref.qualifier)
        else:
            for rev in [rec.latest, *rec.versions.values()]:
                self.engine.retire(rev.engine_prefix)
            if rec.reserved is not None:
                self.engine.set_reserved(self.scope(rec.account, rec.region), rec.arn, None)
            self.forget_provisioning(rec)
            self.functions.delete(rec)
        return HttpResponse(204, [("x-amzn-RequestId", ctx.request_id)], b"")  # AWS answers 204, not the model's 200

    def _delete_version(self, rec: FunctionRecord, version: str) -> None:
        if version == "$LATEST":
            raise AwsError("InvalidParameterValueException",
                           "$LATEST version cannot be deleted without deleting the function.")
        if version not in rec.versions:
            raise not_found(function_arn(rec.region, rec.account, rec.name, version))
        users = sorted(name for name, a in rec.aliases.items()
                       if version in (a["FunctionVersion"], *((a.get("RoutingConfig") or {})
                                                              .get("AdditionalVersionWeights") or {})))
        if users:
            raise AwsError("ResourceConflictException",
                           f"Unable to delete version because the following aliases reference it: [{', '.join(users)}]",
                           409, Type="User")
        self.engine.retire(rec.versions[version].engine_prefix)
        self.functions.delete_version(rec, version)
        if version in provisioned_configs(rec):
            self.forget_provisioning(rec, version)
            self.functions.save(rec)

    # -- account and concurrency
    async def get_account_settings(self, ctx: RequestContext, p: dict) -> dict:
        recs = self.functions.in_scope(ctx.account, ctx.region)
        # Provisioned concurrency of functions without a reservation is claimed from the unreserved pool.
        reserved = sum(r.reserved or 0 for r in recs) + self.provisioned_claim(ctx.account, ctx.region)
        total = sum(r.config.get("CodeSize", 0) for r in recs)
        return {
            "AccountLimit": {"TotalCodeSize": limits.TOTAL_CODE_SIZE, "CodeSizeUnzipped": limits.UNZIPPED_MAX,
                             "CodeSizeZipped": limits.ZIPPED_MAX, "ConcurrentExecutions": self.account_concurrency,
                             "UnreservedConcurrentExecutions": self.account_concurrency - reserved},
            "AccountUsage": {"TotalCodeSize": total, "FunctionCount": len(recs)},
        }

    def min_unreserved(self) -> int:
        return min(limits.MIN_UNRESERVED, self.account_concurrency // 10)

    async def put_function_concurrency(self, ctx: RequestContext, p: dict) -> dict:
        rec = self._unqualified(ctx, p["FunctionName"])
        want = p["ReservedConcurrentExecutions"]
        others = (sum(r.reserved or 0 for r in self.functions.in_scope(ctx.account, ctx.region) if r is not rec)
                  + self.provisioned_claim(ctx.account, ctx.region, rec))
        floor = self.min_unreserved()
        if self.account_concurrency - others - want < floor:
            raise AwsError("InvalidParameterValueException",
                           "Specified ReservedConcurrentExecutions for function decreases account's "
                           f"UnreservedConcurrentExecution below its minimum value of [{floor}].")
        rec.reserved = want
        self.functions.save(rec)
        self.engine.set_reserved(self.scope(rec.account, rec.region), rec.arn, want)
        return {"ReservedConcurrentExecutions": want}

    async def get_function_concurrency(self, ctx: RequestContext, p: dict) -> dict:
        rec = self._unqualified(ctx, p["FunctionName"])
        return {} if rec.reserved is None else {"ReservedConcurrentExecutions": rec.reserved}

    async def delete_function_concurrency(self, ctx: RequestContext, p: dict) -> HttpResponse:
        rec = self._unqualified(ctx, p["FunctionName"])
        rec.reserved = None
        self.functions.save(rec)
        self.engine.set_reserved(self.scope(rec.account, rec.region), rec.arn, None)
        return HttpResponse(204, [("x-amzn-RequestId", ctx.request_id)], b"")

    # -- tags (functions and code signing configurations are taggable)
    def _tagged(self, ctx: RequestContext, resource: str) -> tuple[dict[str, str], Callable[[], None]]:
        """The resource's tags, and how to save them."""
        if ":code-signing-config:" in resource:
            config, tags = self.code_signing_tags(ctx, resource)
            return tags, lambda: self.code_signing.save(ctx.account, ctx.region, config, tags)
        ref = parse_function_name(resource, region=ctx.region)
        if ref.qualifier:
            raise AwsError("InvalidParameterValueException",
                           "Tags on function aliases and versions are not supported. Please specify a function ARN.")
        rec = self.functions.get(ctx.account, ctx.region, ref.name)
        if rec is None:
            raise not_found(function_arn(ctx.region, ctx.account, ref.name))
        return rec.tags, lambda: self.functions.save(rec)

    async def tag_resource(self, ctx: RequestContext, p: dict) -> HttpResponse:
        tags, save = self._tagged(ctx, p["Resource"])
        tags.update(p.get("Tags") or {})
        save()
        return HttpResponse(204, [("x-amzn-RequestId", ctx.request_id)], b"")

    async def untag_resource(self, ctx: RequestContext, p: dict) -> HttpResponse:
        tags, save = self._tagged(ctx, p["Resource"])
        for key in p.get("TagKeys") or []:
            tags.pop(key, None)
        save()
        return HttpResponse(204, [("x-amzn-RequestId", ctx.request_id)], b"")

    async def list_tags(self, ctx: RequestContext, p: dict) -> dict:
        return {"Tags": dict(self._tagged(ctx, p["Resource"])[0])}

    # -- invocation (see invoke.py)
    def invoke(self, ctx: RequestContext, p: dict) -> Awaitable[dict]:
        return self.invoker.invoke(ctx, p)  # the coroutine itself: no frame of its own on the hot path

    # The deprecated InvokeAsync operation is dispatched in `handle`: the name `invoke_async` belongs to
    # the bus capability (events.bus.FunctionTriggers, in triggers.py) that S3 and others call.
    def handle(self, ctx: RequestContext, operation: str, params: dict) -> Awaitable[dict | HttpResponse]:
        if operation == "InvokeAsync":
            return self.invoker.invoke_async(ctx, params)
        return super().handle(ctx, operation, params)



def _system_context(rec: FunctionRecord) -> RequestContext:
    """Context for work nubis starts itself on behalf of the function's owner."""
    return RequestContext(account=rec.account, region=rec.region, service="lambda", endpoint="")
