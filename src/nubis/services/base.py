"""What every service provider looks like to the edge."""
from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any

from ..server.context import RequestContext
from ..server.errors import AwsError
from ..server.messages import HttpRequest, HttpResponse

RawRoute = Callable[[HttpRequest], Awaitable[HttpResponse]]

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@functools.lru_cache(maxsize=4096)
def snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


class Provider:
    """A provider implements a botocore service model's operations as `async def op_name(ctx, params)`.

    Results are dicts shaped like the operation's output (what boto3 returns); an HttpResponse may be
    returned for operations the model cannot express. Errors are raised as AwsError.
    """

    service: str = ""  # botocore model name

    def handle(self, ctx: RequestContext, operation: str, params: dict) -> Awaitable[dict | HttpResponse]:
        """The operation's coroutine, to be awaited (a plain function, not a coroutine of its own:
        one frame less to suspend and resume on every request); raises at once if there is none."""
        method = getattr(self, snake(operation), None)
        if method is None:
            raise AwsError("NotImplementedException",
                           f"nubis does not implement {self.service}:{operation} yet", 501)
        return method(ctx, params)

    def validation_error(self, operation: str, violations: list[Any]) -> AwsError | None:
        """Let a service answer some constraint failures with its own error code (None: the default)."""
        return None

    def fast_params(self, req: HttpRequest) -> tuple[str, dict] | None:
        """(operation, params) for a hot request this provider can parse faster than the model
        layer, already valid; None (the default) sends it through the general parse."""
        return None

    def checked_violations(self, operation: str, violations: list[Any]) -> list[Any]:
        """The model constraint failures this service really enforces (default: all of them)."""
        return violations

    def wire_protocol(self, req: HttpRequest) -> str | None:
        """The wire protocol of this request when it differs from the model's (SQS: old clients speak
        `query`); None for the model's own."""
        return None

    def host_route(self, req: HttpRequest) -> Awaitable[HttpResponse] | None:
        """Claim a request by its Host header before AWS API routing (e.g. Lambda function URLs)."""
        return None

    def raw_routes(self) -> dict[str, RawRoute]:
        """Extra plain-HTTP routes under /_nubis/ (prefix -> handler), e.g. code downloads."""
        return {}

    async def start(self) -> None:
        """Begin background work (queue consumers, pollers)."""

    async def stop(self) -> None:
        """Stop background work; nothing accepted may be lost."""
