"""Real boto3 against LogsProvider through the protocol layer (json 1.1), without a socket:
botocore's `before-send` hook hands each signed request to the same steps the edge runs."""
from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from nubis.server.errors import AwsError
from nubis.server.messages import HttpRequest

registry = pytest.importorskip("nubis.server.protocol.registry")

G = "/aws/lambda/demo"


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def stream(self, **_: object):
        yield self.data


@pytest.fixture
def client(logs):
    proto = registry.load_service("logs")
    loop = asyncio.new_event_loop()

    async def edge(req: HttpRequest):
        op = None
        try:
            op, params = proto.parse(req)
            violations = proto.validate(op, params)
            if violations:
                raise logs.provider.validation_error(op.name, violations) or proto.validation_error(violations)
            return proto.serialize(op, await logs.provider.handle(logs.ctx, op.name, params))
        except AwsError as err:
            return proto.serialize_error(err, op)

    def send(request, **_: object) -> AWSResponse:
        url = urlsplit(request.url)
        body = request.body or b""
        headers = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        resp = loop.run_until_complete(edge(HttpRequest(request.method, url.path or "/", url.query, headers,
                                                        body.encode() if isinstance(body, str) else body)))
        return AWSResponse(request.url, resp.status, dict(resp.headers), _Body(resp.body))

    c = boto3.client("logs", endpoint_url="http://nubis.invalid", region_name=logs.region,
                     aws_access_key_id="x", aws_secret_access_key="y")
    c.meta.events.register("before-send.logs", send)
    yield c
    loop.close()


def test_boto3_round_trip(client, logs) -> None:
    client.create_log_group(logGroupName=G)
    client.create_log_stream(logGroupName=G, logStreamName="s1")
    t = logs.now()
    client.put_log_events(logGroupName=G, logStreamName="s1",
                          logEvents=[{"timestamp": t + i, "message": f"m{i} ERROR" if i % 2 else f"m{i}"}
                                     for i in range(25)])
    page = client.get_log_events(logGroupName=G, logStreamName="s1", limit=5)
    assert [e["message"] for e in page["events"]] == ["m20", "m21 ERROR", "m22", "m23 ERROR", "m24"]
    again = client.get_log_events(logGroupName=G, logStreamName="s1", nextToken=page["nextForwardToken"])
    assert again["events"] == [] and again["nextForwardToken"] == page["nextForwardToken"]

    pages = list(client.get_paginator("filter_log_events").paginate(
        logGroupName=G, filterPattern="ERROR", PaginationConfig={"PageSize": 4}))
    assert len(pages) == 3 and sum(len(p["events"]) for p in pages) == 12
    assert [g["logGroupName"] for g in client.describe_log_groups()["logGroups"]] == [G]

    with pytest.raises(ClientError) as info:
        client.describe_log_groups(nextToken="garbage")
    assert info.value.response["Error"] == {"Code": "InvalidParameterException",
                                            "Message": "The specified nextToken is invalid."}
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.get_log_events(logGroupName=G, logStreamName="nope")
    with pytest.raises(ClientError) as info:
        client.put_retention_policy(logGroupName=G, retentionInDays=2)
    assert info.value.response["Error"]["Code"] == "InvalidParameterException"
