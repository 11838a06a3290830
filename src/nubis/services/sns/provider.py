"""The SNS provider: topics, subscriptions, publish, and the durable delivery behind them."""
from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Awaitable
from pathlib import Path
from urllib.parse import parse_qs

from ...events.async_invoke import AsyncInvokeQueue
from ...events.bus import Bus
from ...server.context import DEFAULT_ACCOUNT, RequestContext
from ...server.errors import AwsError
from ...server.messages import HttpRequest, HttpResponse
from ...server.protocol import load_service
from ...store.db import BackgroundWriter, Database
from ...store.queue import DurableQueue
from ..arns import parse_arn
from ..base import Provider, RawRoute
from .delivery import Delivery
from .errors import invalid
from .publish import PublishOps
from .publisher import Publisher
from .signing import CERT_PATH, Signer
from .store import SnsStore
from .subscriptions import SubscriptionOps
from .topics import TopicOps

log = logging.getLogger("nubis.sns")
# Actions a subscriber's HTTP endpoint reaches by following SubscribeURL / UnsubscribeURL: unsigned GETs.
_URL_ACTIONS = {"ConfirmSubscription", "Unsubscribe"}


class SnsProvider(TopicOps, SubscriptionOps, PublishOps, Provider):
    service = "sns"

    def __init__(self, db: Database, writer: BackgroundWriter, bus: Bus, data_dir: Path, endpoint: str,
                 retry_scale: float = 1.0) -> None:
        self.store = SnsStore(db)
        self.bus = bus
        self.endpoint = endpoint
        self.signer = Signer(data_dir)
        self.protocol = load_service("sns")
        queue = AsyncInvokeQueue(DurableQueue(db, writer, "sns-delivery"))
        self.delivery = Delivery(queue, self.store, bus, endpoint, self.signer, retry_scale)
        self.publisher = Publisher(self)  # the bus's Topics capability (events/bus.py)

    async def start(self) -> None:
        await self.delivery.start()

    async def stop(self) -> None:
        await self.delivery.stop()

    # -- paging
    @staticmethod
    def make_token(seq: int) -> str:
        return base64.urlsafe_b64encode(f"sns:{seq}".encode()).decode()

    @staticmethod
    def page_token(token: str | None) -> int:
        if not token:
            return 0
        try:
            kind, _, seq = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
            if kind == "sns" and seq.isdigit():
                return int(seq)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            pass
        raise invalid("Invalid parameter: NextToken")

    # -- plain HTTP: the signing certificate, and the links in confirmation messages
    def raw_routes(self) -> dict[str, RawRoute]:
        return {CERT_PATH: self._certificate}

    async def _certificate(self, req: HttpRequest) -> HttpResponse:
        await self.signer.ready()
        if req.method in ("GET", "HEAD") and req.path == CERT_PATH + self.signer.cert_name:
            return HttpResponse(200, [("Content-Type", "application/x-pem-file")], self.signer.cert_pem)
        return HttpResponse(404, [("Content-Type", "text/plain")], b"Not Found")

    def host_route(self, req: HttpRequest) -> Awaitable[HttpResponse] | None:
        """Claim the unsigned GET a subscriber makes to SubscribeURL or UnsubscribeURL (AWS accepts
        both without credentials); signed requests take the usual route."""
        if req.method != "GET" or req.path != "/" or "Action=" not in req.query or "authorization" in req.headers:
            return None
        if "X-Amz-Credential=" in req.query:
            return None
        action = (parse_qs(req.query).get("Action") or [""])[0]
        return self._url_action(req) if action in _URL_ACTIONS else None

    async def _url_action(self, req: HttpRequest) -> HttpResponse:
        op = None
        try:
            op, params = self.protocol.parse(req)
            violations = self.protocol.validate(op, params)
            if violations:
                raise self.protocol.validation_error(violations)
            arn = params.get("TopicArn") or params.get("SubscriptionArn") or ""
            parsed = parse_arn(arn)
            region = parsed.region if parsed else "us-east-1"
            account = parsed.account if parsed else DEFAULT_ACCOUNT
            ctx = RequestContext(account=account, region=region, service="sns", endpoint=self.endpoint, http=req)
            result = await self.handle(ctx, op.name, params)
            assert isinstance(result, dict)
            result.setdefault("__request_id__", ctx.request_id)
            return self.protocol.serialize(op, result)
        except AwsError as err:
            return self.protocol.serialize_error(err, op)
