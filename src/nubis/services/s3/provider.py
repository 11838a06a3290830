"""The S3 API (2006-03-01): buckets, objects, listings, multipart uploads, tagging, notifications.

Each job lives in its own module (buckets, objects, listing, multipart, tagging, notifications) as a
mixin; this class holds the shared state and helpers, and `handle` adds what every S3 request needs:
presigned-URL expiry, S3's error for unsupported operations, streamed GET responses, and error
responses that carry headers (x-amz-delete-marker).
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
from pathlib import Path
from typing import Any

from ...events.bus import Bus
from ...server.context import RequestContext
from ...server.errors import AwsError
from ...server.http import BodyIncomplete, BodyTimeout
from ...server.messages import HttpRequest, HttpResponse
from ...server.protocol import REQUEST_ID_KEY, load_service
from ...server.protocol.values import DecodeError
from ...store.db import Database
from ..base import Provider
from . import errors
from .buckets import BucketOps
from .errors import S3Error
from .files import BodyError, BodyTooLarge, ObjectFiles
from .listing import ListingOps
from .multipart import MultipartOps
from .names import check_bucket_name
from .notifications import NotificationOps
from .objects import ObjectOps, StreamBody
from .postobject import PostObjectOps
from .presign import check_presigned
from .reader import ObjectReader
from .store import Bucket, S3Store
from .tagging import TaggingOps
from .transfer import wants_stream

log = logging.getLogger("nubis.s3")


class S3Provider(BucketOps, ObjectOps, ListingOps, MultipartOps, TaggingOps, NotificationOps, PostObjectOps,
                 Provider):
    service = "s3"

    def __init__(self, db: Database, data_dir: Path, bus: Bus) -> None:
        self.store = S3Store(db)
        self.files = ObjectFiles(data_dir / "s3")
        self.bus = bus
        self.protocol = load_service("s3")
        self.reader = ObjectReader(self)
        removed = self.files.sweep(self.store.all_files())
        if removed:
            log.info("s3: removed %d unreferenced object files left by an interrupted write", removed)
        self._outbox_wakeup = asyncio.Event()
        self._outbox_task: asyncio.Task | None = None

    # -- lifecycle
    async def start(self) -> None:
        self._outbox_task = asyncio.get_running_loop().create_task(self._deliver_outbox())
        self._outbox_wakeup.set()  # events committed before a crash are delivered now

    async def stop(self) -> None:
        if self._outbox_task is not None:
            self._outbox_task.cancel()
            await asyncio.gather(self._outbox_task, return_exceptions=True)

    # -- the edge's view
    def host_route(self, req: HttpRequest) -> Any:
        """Browser form uploads (POST Object) have no operation in the model: claimed before routing."""
        return self.post_object_route(req)

    def wants_stream(self, method: str, url: bytes, headers: dict[str, str]) -> bool:
        return wants_stream(method, url, headers)

    async def handle(self, ctx: RequestContext, operation: str, params: dict) -> dict | HttpResponse:
        ctx.request_id = secrets.token_hex(8).upper()  # S3's request ids: 16 hex digits
        op = self.protocol.operation(operation)
        try:
            if ctx.http is not None:
                check_presigned(ctx.http)
            method = getattr(self, _snake(operation), None)
            if method is None:
                raise AwsError("NotImplemented", "A header you provided implies functionality that is not "
                               f"implemented (nubis does not implement S3 {operation} yet)", 501)
            try:
                result = await method(ctx, params)
            except BodyTooLarge as e:
                raise errors.entity_too_large(e.size, e.limit) from None
            except BodyTimeout:
                raise errors.request_timeout() from None
            except (BodyError, BodyIncomplete, DecodeError) as e:
                raise errors.incomplete_body(str(e)) from None
        except AwsError as err:
            err.fields.setdefault(REQUEST_ID_KEY, ctx.request_id)
            resp = self.protocol.serialize_error(err, op)
            if isinstance(err, S3Error):
                resp.headers.extend(err.headers)
            return resp
        if isinstance(result, HttpResponse):
            return result
        status = result.pop("__status__", None)
        body = result.get("Body")
        if isinstance(body, StreamBody):
            result.pop("Body")
            result.setdefault("__request_id__", ctx.request_id)
            resp = self.protocol.serialize(op, result, status)
            resp.stream = body.open()
            return resp
        if status is not None:
            result.setdefault("__request_id__", ctx.request_id)
            return self.protocol.serialize(op, result, status)
        return result

    def validation_error(self, operation: str, violations: list) -> AwsError | None:
        """S3 never answers ValidationException: model constraint failures become S3's own errors."""
        v = violations[0]
        path = getattr(v, "path", "")
        if path.endswith("events") or ".events." in path:
            return errors.invalid_argument("The event is not supported for notifications", "Event", str(v.value))
        if ".filterRules." in path:
            return errors.invalid_argument("filter rule name must be either prefix or suffix", "FilterRule.Name",
                                           str(v.value))
        if path.endswith("locationConstraint"):  # e.g. us-east-1, which the model's enum leaves out
            return AwsError("InvalidLocationConstraint", "The specified location-constraint is not valid", 400,
                            LocationConstraint=str(v.value))
        if path.endswith("storageClass"):
            return AwsError("InvalidStorageClass", "The storage class you specified is not valid", 400,
                            StorageClassRequested=str(v.value))
        return errors.invalid_argument(f"{v.constraint} ({path})", path, None if v.sensitive else str(v.value))

    # -- shared helpers
    def bucket_for(self, ctx: RequestContext, name: str, expected_owner: str | None = None) -> Bucket:
        bucket = self.store.bucket(name)
        if bucket is None:
            check_bucket_name_loose(name)
            raise errors.no_such_bucket(name)
        if bucket.account != ctx.account or (expected_owner and expected_owner != bucket.account):
            raise errors.access_denied()
        return bucket

    @staticmethod
    def canonical_id(account: str) -> str:
        return hashlib.sha256(f"nubis-canonical-user:{account}".encode()).hexdigest()

    def owner(self, account: str) -> dict:
        return {"ID": self.canonical_id(account), "DisplayName": f"account-{account}"}



def check_bucket_name_loose(name: str) -> None:
    """Names S3 never accepts get InvalidBucketName even on reads; legacy-valid ones get NoSuchBucket."""
    if not name or len(name) > 255 or "/" in name:
        check_bucket_name(name)


def _snake(name: str) -> str:
    from ..base import snake

    return snake(name)
