"""Every operation of several services: what boto3 sends, parse() must route and decode back.

Inputs are generated from the model (required members, then all top-level members), sent through a
real client, and compared with what the server-side parser returns. This catches routing
ambiguities and binding mistakes across hundreds of operations no hand-written test would cover.
"""
from __future__ import annotations

import pytest
from proto_rig import Loopback, example_params

SERVICES = ["lambda", "logs", "apigateway", "scheduler", "dynamodb", "sqs", "stepfunctions", "events", "kinesis",
            "sns", "s3", "route53", "iam"]

_clients: dict[str, Loopback] = {}


def _lb(service: str) -> Loopback:
    if service not in _clients:
        extra = {"s3": {"addressing_style": "path"}} if service == "s3" else {}
        _clients[service] = Loopback(service, **({"s3": extra["s3"]} if extra else {}))
    return _clients[service]


# operations sharing a route with another: told apart by endpoint (S3 Express), or deprecated aliases
# that lose to their current form (both parse the same wire request)
_UNREACHABLE = {"s3.ListDirectoryBuckets", "s3.GetBucketLifecycle", "s3.PutBucketLifecycle",
                "s3.GetBucketNotification", "s3.PutBucketNotification"}


def _cases():
    from nubis.server.protocol import load_service

    for service in SERVICES:
        model = load_service(service).model
        for name in model.operation_names:
            if f"{service}.{name}" not in _UNREACHABLE:
                yield pytest.param(service, name, id=f"{service}.{name}")


def _auto_members(op) -> set[str]:
    """Members botocore may add on its own (idempotency tokens, checksum algorithm headers)."""
    shape = op.input_shape
    if shape is None:
        return set()
    return {n for n, m in shape.members.items()
            if m.metadata.get("idempotencyToken") or "checksum" in n.lower()
            or m.serialization.get("name") in ("Accept", "Content-Length")  # set by the client itself
            or (n == "EncodingType" and op.service_model.service_name == "s3")}  # S3 lists ask for url


def _check(lb: Loopback, op, params: dict) -> None:
    method = lb.client.meta.method_to_api_mapping
    py_name = {v: k for k, v in method.items()}[op.name]
    name, parsed = lb.capture(py_name, **params)
    assert name == op.name
    extra = set(parsed) - set(params) - _auto_members(op)
    assert not extra, f"unexpected members {extra}"
    for key, value in params.items():
        if value in ({}, [{}]):
            continue  # an empty structure is indistinguishable from an absent one on the wire
        assert parsed.get(key) == value, f"{key}: sent {value!r}, parsed {parsed.get(key)!r}"


@pytest.mark.parametrize("service,op_name", list(_cases()))
def test_required_members_round_trip(service: str, op_name: str) -> None:
    lb = _lb(service)
    op = lb.svc.operation(op_name)
    params = example_params(op.input_shape) if op.input_shape is not None else {}
    _check(lb, op, params)


@pytest.mark.parametrize("service,op_name", list(_cases()))
def test_all_top_level_members_round_trip(service: str, op_name: str) -> None:
    lb = _lb(service)
    op = lb.svc.operation(op_name)
    if op.input_shape is None:
        pytest.skip("no input")
    params = example_params(op.input_shape, all_members=True)
    if op.name == "PutEvents":
        params.pop("EndpointId")  # global endpoints need SigV4a (awscrt), not a protocol concern
    _check(lb, op, params)


def _normalize(value):
    """Read streaming bodies so results compare as plain values."""
    if hasattr(value, "read"):
        return value.read()
    if isinstance(value, dict):
        return {k: _normalize(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalize(v) for v in value]
    return value


@pytest.mark.parametrize("service,op_name", list(_cases()))
def test_output_round_trip(service: str, op_name: str) -> None:
    """serialize() output read back by botocore's own response parser gives the result again."""
    lb = _lb(service)
    op = lb.svc.operation(op_name)
    shape = op.output_shape
    if shape is None or op.has_event_stream_output:
        pytest.skip("no output / event stream")
    result = example_params(shape, all_members=True)
    for name, member in shape.members.items():
        if member.serialization.get("location") == "statusCode":
            result[name] = 203
        if member.serialization.get("name") == "Content-Length":
            result.pop(name)  # the HTTP layer owns Content-Length
    if service == "s3":
        result.pop("EncodingType", None)  # would make botocore url-decode keys the example lacks
    if int(op.http.get("responseCode", 200)) == 204:
        pytest.skip("204 responses have no body")
    lb.answer(result)
    py_name = {v: k for k, v in lb.client.meta.method_to_api_mapping.items()}[op.name]
    params = example_params(op.input_shape) if op.input_shape is not None else {}
    got = _normalize(getattr(lb.client, py_name)(**params))
    got.pop("ResponseMetadata")
    payload = shape.serialization.get("payload")
    for key, value in result.items():
        if value == {}:
            continue
        if key == payload and shape.members[key].type_name == "string" and isinstance(got.get(key), bytes):
            got[key] = got[key].decode()
        assert got.get(key) == value, f"{key}: sent {value!r}, boto3 saw {got.get(key)!r}"
