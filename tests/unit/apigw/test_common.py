"""The pieces both API Gateway providers share (services/apigw_common)."""
import asyncio

from nubis.services.apigw_common.authorizers import AuthorizerCache, identity_values, policy_verdict
from nubis.services.apigw_common.gateway import TokenBucket, take_token

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc/prod/GET/items"


def test_identity_values_by_source_kind():
    headers, query = {"authorization": "t"}, {"q": "1"}
    context = {"requestId": "r", "identity.sourceIp": "1.2.3.4"}
    assert identity_values(["request.header.Authorization", "request.querystring.q", "stageVariables.v",
                            "context.identity.sourceIp"], headers, query, {"v": "s"}, context) == ["t", "1", "s",
                                                                                                   "1.2.3.4"]
    assert identity_values(["request.header.Missing"], headers, query, {}, context) is None
    assert identity_values(["request.querystring.q"], headers, {"q": ""}, {}, context) is None  # empty = missing
    assert identity_values(["body.x"], headers, query, {}, context) is None
    assert identity_values([], headers, query, {}, context) == []


def test_policy_verdict():
    def policy(*statements):
        return {"Version": "2012-10-17", "Statement": list(statements)}

    allow = {"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": "arn:aws:execute-api:*:*:abc/*"}
    deny = {"Effect": "Deny", "Action": ["execute-api:*"], "Resource": [ARN]}
    assert policy_verdict(policy(allow), ARN) == "allow"
    assert policy_verdict({"Statement": allow}, ARN) == "allow"  # a single statement object
    assert policy_verdict(policy(allow, deny), ARN) == "deny"  # an explicit deny wins
    assert policy_verdict(policy({**allow, "Resource": "arn:aws:execute-api:*:*:other/*"}), ARN) == "none"
    assert policy_verdict(policy({**allow, "Action": "s3:GetObject"}), ARN) == "none"
    assert policy_verdict(policy({**allow, "Action": "execute-api:Inv*"}), ARN) == "allow"
    assert policy_verdict(policy(), ARN) == "none"


class _Decision:
    expires = 0.0


def test_authorizer_cache_ttl_and_forget():
    cache = AuthorizerCache()
    made = []

    async def make():
        made.append(1)
        return _Decision()

    async def run():
        key = ("api", "prod", "auth", ("t",))
        first = await cache.get_or_make(key, 300, make)
        assert await cache.get_or_make(key, 300, make) is first and len(made) == 1
        cache.forget("api", "dev")
        assert await cache.get_or_make(key, 300, make) is first
        cache.forget("api", "prod")
        assert await cache.get_or_make(key, 300, make) is not first and len(made) == 2
        await cache.get_or_make(("api", "prod", "auth", ("u",)), 0, make)  # TTL 0: never cached
        await cache.get_or_make(("api", "prod", "auth", ("u",)), 0, make)
        assert len(made) == 4

    asyncio.run(run())


def test_take_token_starts_afresh_when_limits_change():
    buckets: dict[tuple, TokenBucket] = {}
    assert take_token(buckets, ("k",), 0.0, 1) and not take_token(buckets, ("k",), 0.0, 1)
    assert take_token(buckets, ("k",), 0.0, 2)  # new limits: a new, full bucket
