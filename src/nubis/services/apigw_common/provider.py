"""What both API Gateway providers answer alike: constraint failures as BadRequestException, and an
API id that is unknown (or another account's or region's) as NotFoundException."""
from __future__ import annotations

from typing import Any, Generic

from ...server.context import RequestContext
from ...server.errors import AwsError
from ..base import Provider
from .errors import api_not_found, bad_request
from .store import ApiRecords, R


class ApiGatewayBase(Provider, Generic[R]):
    store: ApiRecords[R]

    def validation_error(self, operation: str, violations: list[Any]) -> AwsError | None:
        from ...server.protocol.validation import format_violations

        return bad_request(format_violations(violations))

    def api_record(self, ctx: RequestContext, api_id: str) -> R:
        rec = self.store.owned(ctx.account, ctx.region, api_id)
        if rec is None:
            raise api_not_found(ctx.account, api_id)
        return rec
