"""Resource type handlers, by CloudFormation type name."""
from __future__ import annotations

from . import apigateway, events, iam, lambda_, messaging, s3
from .base import Env, Handler, ResourceFailed, Result

REGISTRY: dict[str, Handler] = {h.type: h for mod in (lambda_, iam, s3, messaging, apigateway, events) for h in mod.HANDLERS}

__all__ = ["REGISTRY", "Env", "Handler", "ResourceFailed", "Result"]
