"""`load_service(name)`: one ServiceProtocol per botocore service, built once and reused.

Loading a model and compiling its routes costs milliseconds; requests must not pay that, so the
instances are cached per (service, protocol). `protocol` may override the model's own, e.g. to accept
SQS requests from old clients that still speak `query`.
"""
from __future__ import annotations

import importlib
import threading

from botocore.loaders import Loader
from botocore.model import ServiceModel

from .base import ServiceProtocol

__all__ = ["load_service", "protocol_class"]

# wire protocol -> (module, class); imported on first use so a process only loads what it serves
_PROTOCOLS = {
    "rest-json": ("restjson", "RestJsonProtocol"),
    "json": ("awsjson", "JsonProtocol"),
    "query": ("query", "QueryProtocol"),
    "rest-xml": ("restxml", "RestXmlProtocol"),
}

_lock = threading.Lock()
_cache: dict[tuple[str, str | None], ServiceProtocol] = {}
_loader: Loader | None = None


def protocol_class(wire: str) -> type[ServiceProtocol]:
    """The implementation for a wire protocol name; ValueError if there is none."""
    if wire not in _PROTOCOLS:
        raise ValueError(f"protocol {wire!r} is not supported")
    module, cls = _PROTOCOLS[wire]
    return getattr(importlib.import_module(f"{__package__}.{module}"), cls)


def load_service(name: str, protocol: str | None = None) -> ServiceProtocol:
    """The cached protocol handler for botocore service `name` (e.g. "lambda", "logs")."""
    key = (name, protocol)
    hit = _cache.get(key)
    if hit is not None:
        return hit
    with _lock:
        hit = _cache.get(key)
        if hit is None:
            global _loader
            if _loader is None:
                _loader = Loader()
            data = _loader.load_service_model(name, "service-2")
            wire = protocol or data["metadata"]["protocol"]
            if protocol and protocol != data["metadata"]["protocol"]:
                data = dict(data, metadata=dict(data["metadata"], protocol=protocol, protocols=[protocol]))
                if (name, protocol) == ("sqs", "query"):
                    from . import sqs_query

                    data = sqs_query.apply(data)
            hit = _cache[key] = protocol_class(wire)(ServiceModel(data, service_name=name))
    return hit
