"""What S3 offers other services through the bus: reading an object (Lambda's Code.S3Bucket/S3Key)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ...events.bus import ObjectError

if TYPE_CHECKING:
    from .provider import S3Provider

MAX_READ = 512 * 1024 * 1024  # far above Lambda's package limits, which the caller enforces


class ObjectReader:
    """Implements events.bus.ObjectReader, with the owner checks S3 applies to the caller's account."""

    def __init__(self, provider: S3Provider) -> None:
        self.provider = provider

    def get(self, account: str, region: str, bucket: str, key: str, version: str | None = None) -> bytes:
        store = self.provider.store
        b = store.bucket(bucket)
        if b is None:
            raise ObjectError("NoSuchBucket", "The specified bucket does not exist")
        if b.account != account:
            raise ObjectError("AccessDenied", "Access Denied")
        if b.region != region:
            raise ObjectError("PermanentRedirect", f"The bucket is in this region: {b.region}. Please use this "
                              "region to retry the request")
        obj = store.version(bucket, key, version) if version else store.latest(bucket, key)
        if obj is None or (obj.delete_marker and not version):
            if version:
                raise ObjectError("NoSuchVersion", "The specified version does not exist.")
            raise ObjectError("NoSuchKey", "The specified key does not exist.")
        if obj.delete_marker:
            raise ObjectError("MethodNotAllowed", "The specified method is not allowed against this resource.")
        if obj.size > MAX_READ:
            raise ObjectError("EntityTooLarge", "Your proposed upload exceeds the maximum allowed object size.")
        return self.provider.files.read_small(obj.file) if obj.file else b""
