"""A real LogStore on a temporary SQLite file, and a helper that drives LogsProvider like the edge does."""
from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from nubis.server.context import RequestContext
from nubis.server.errors import AwsError
from nubis.services.logs import LogsProvider
from nubis.store.db import BackgroundWriter, Database
from nubis.store.logs import LogStore

ACCOUNT, REGION = "123456789012", "eu-west-1"
_MODEL = botocore.session.get_session().get_service_model("logs")


def now_ms() -> int:
    return int(time.time() * 1000)


class Logs:
    """Calls operations by their AWS name and checks every reply against the botocore output shape."""

    account, region = ACCOUNT, REGION

    def __init__(self, store: LogStore) -> None:
        self.store = store
        self.provider = LogsProvider(store)
        self.ctx = RequestContext(account=ACCOUNT, region=REGION, service="logs", endpoint="http://127.0.0.1:1")

    def __call__(self, operation: str, **params: Any) -> dict:
        result = asyncio.run(self.provider.handle(self.ctx, operation, params))
        shape = _MODEL.operation_model(operation).output_shape
        if shape is not None:
            report = ParamValidator().validate(result, shape)
            assert not report.has_errors(), report.generate_report()
        return result

    def error(self, operation: str, **params: Any) -> AwsError:
        with pytest.raises(AwsError) as info:
            asyncio.run(self.provider.handle(self.ctx, operation, params))
        return info.value

    @staticmethod
    def now() -> int:
        return now_ms()

    def put(self, group: str, stream: str, *events: tuple[int, str]) -> dict:
        return self("PutLogEvents", logGroupName=group, logStreamName=stream,
                    logEvents=[{"timestamp": t, "message": m} for t, m in events])


@pytest.fixture
def store(tmp_path) -> Iterator[LogStore]:
    db = Database(tmp_path / "nubis.db")
    writer = BackgroundWriter(tmp_path / "nubis.db")
    yield LogStore(db, writer)
    writer.close()
    db.close()


@pytest.fixture
def logs(store: LogStore) -> Logs:
    return Logs(store)
