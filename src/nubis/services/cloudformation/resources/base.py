"""What a resource type handler is: create / update / delete one resource through a service's API."""
from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from botocore.client import BaseClient
from botocore.exceptions import ClientError

from ..clients import Clients

_ALPHABET = string.ascii_uppercase + string.digits


class ResourceFailed(Exception):
    """A resource operation failed; the message is the event's ResourceStatusReason."""


@dataclass
class Env:
    """Where a handler acts: the stack's account and region, and the resource's names."""

    clients: Clients
    account: str
    region: str
    stack_name: str
    stack_id: str
    logical_id: str

    def client(self, service: str) -> BaseClient:
        return self.clients.get(service, self.account, self.region)

    def physical_name(self, max_len: int = 64, lower: bool = False, suffix: str = "") -> str:
        """CloudFormation's generated names: `<stack>-<logical id>-<random>`, shortened to fit."""
        rand = "".join(secrets.choice(_ALPHABET) for _ in range(12))
        room = max_len - len(rand) - len(suffix) - 2
        stack, logical = self.stack_name, self.logical_id
        if len(stack) + len(logical) > room:
            half = max(room // 2, 1)
            stack = stack[:max(half, room - len(logical))]
            logical = logical[:room - len(stack)]
        name = f"{stack}-{logical}-{rand}{suffix}"
        return name.lower() if lower else name

    def arn(self, service: str, resource: str, region: bool = True, account: bool = True) -> str:
        return f"arn:aws:{service}:{self.region if region else ''}:{self.account if account else ''}:{resource}"


@dataclass
class Result:
    physical_id: str
    attributes: dict[str, Any]


class Handler:
    """One resource type. `replace_on`: properties whose change means a new physical resource."""

    type: ClassVar[str] = ""
    required: ClassVar[tuple[str, ...]] = ()
    replace_on: ClassVar[tuple[str, ...]] = ()
    always_replace: ClassVar[bool] = False
    tags_map: ClassVar[bool] = False  # Tags is a {key: value} object (ApiGatewayV2), not a list of {Key, Value}

    def create(self, env: Env, props: dict) -> Result:
        raise NotImplementedError

    def update(self, env: Env, physical_id: str, old: dict, new: dict, attributes: dict) -> Result:
        raise NotImplementedError

    def delete(self, env: Env, physical_id: str, props: dict, attributes: dict) -> None:
        raise NotImplementedError

    def needs_replacement(self, old: dict, new: dict) -> bool:
        if self.always_replace or type(self).update is Handler.update:
            return True
        return any(old.get(p) != new.get(p) for p in self.replace_on)

    def check(self, logical_id: str, props: dict) -> None:
        """The resource schema checks CloudFormation makes before calling the service, with its messages."""
        missing = [p for p in self.required if p not in props]
        problem = f"#: required key [{missing[0]}] not found" if missing else None
        if problem is None and "Tags" in props:
            problem = _tags_problem(props["Tags"], self.tags_map)
        if problem:
            raise ResourceFailed(f"Properties validation failed for resource {logical_id} with message: {problem}")


_JSON_TYPES = ((bool, "Boolean"), (int, "Integer"), (float, "Number"), (str, "String"), (list, "JSONArray"),
               (dict, "JSONObject"))


def _json_type(value: Any) -> str:
    return next((name for t, name in _JSON_TYPES if isinstance(value, t)), "Null")


def _tags_problem(tags: Any, as_map: bool) -> str | None:
    """What is wrong with a Tags property, in the JSON-schema wording of CloudFormation's resource handlers."""
    if as_map:
        if not isinstance(tags, dict):
            return f"#/Tags: expected type: JSONObject, found: {_json_type(tags)}"
        return None
    if not isinstance(tags, list):
        return f"#/Tags: expected type: JSONArray, found: {_json_type(tags)}"
    for i, tag in enumerate(tags):
        if not isinstance(tag, dict):
            return f"#/Tags/{i}: expected type: JSONObject, found: {_json_type(tag)}"
        for key in ("Key", "Value"):
            if key not in tag:
                return f"#/Tags/{i}: required key [{key}] not found"
            if isinstance(tag[key], (dict, list)) or tag[key] is None:
                return f"#/Tags/{i}/{key}: expected type: String, found: {_json_type(tag[key])}"
        extra = sorted(set(tag) - {"Key", "Value"})
        if extra:
            return f"#/Tags/{i}: extraneous key [{extra[0]}] is not permitted"
    return None


def call(client: BaseClient, op: str, **params: Any) -> dict:
    """Call an operation; ResourceFailed carries the service's error as CloudFormation reports it."""
    params = {k: v for k, v in params.items() if v is not None}
    try:
        return getattr(client, op)(**params)
    except ClientError as e:
        err = e.response.get("Error", {})
        meta = e.response.get("ResponseMetadata", {})
        service = client.meta.service_model.service_id
        raise ResourceFailed(
            f"Resource handler returned message: \"{err.get('Message') or err.get('Code')}\" (Service: {service}, "
            f"Status Code: {meta.get('HTTPStatusCode')}, Request ID: {meta.get('RequestId', '')})") from None
    except Exception as e:  # parameter validation of the client, connection errors
        raise ResourceFailed(f"Resource handler returned message: \"{e}\"") from None


def quiet(client: BaseClient, op: str, *ignore: str, **params: Any) -> dict | None:
    """Call an operation, treating the listed error codes (typically not-found on delete) as done."""
    try:
        return getattr(client, op)(**{k: v for k, v in params.items() if v is not None})
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ignore:
            return None
        err = e.response.get("Error", {})
        raise ResourceFailed(f"Resource handler returned message: \"{err.get('Message') or err.get('Code')}\"") from None


def wait_until(check: Callable[[], bool], what: str, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while not check():
        if time.monotonic() > deadline:
            raise ResourceFailed(f"Timed out waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def tags_list_to_map(tags: Any) -> dict[str, str] | None:
    if isinstance(tags, list):
        return {str(t["Key"]): str(t["Value"]) for t in tags if isinstance(t, dict) and "Key" in t}
    if isinstance(tags, dict):
        return {str(k): str(v) for k, v in tags.items()}
    return None


def boolean(value: Any) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def integer(value: Any) -> int | None:
    return None if value is None else int(value)


def _coerce(shape: Any, value: Any) -> Any:
    """A template value as the API shape wants it (templates carry numbers and booleans as strings)."""
    t = shape.type_name
    if t == "structure" and isinstance(value, dict):
        members = shape.members
        return {k: _coerce(members[k], v) for k, v in value.items() if k in members}
    if t == "list" and isinstance(value, list):
        return [_coerce(shape.member, v) for v in value]
    if t == "map" and isinstance(value, dict):
        return {str(k): _coerce(shape.value, v) for k, v in value.items()}
    if t in ("integer", "long") and isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    if t in ("double", "float") and isinstance(value, (str, int)) and not isinstance(value, bool):
        try:
            return float(value)
        except ValueError:
            return value
    if t == "boolean" and isinstance(value, str):
        return value.lower() == "true"
    if t == "string" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if t == "string" and isinstance(value, bool):
        return "true" if value else "false"
    return value


def api_params(client: BaseClient, op: str, props: dict, camel: bool = False, skip: tuple[str, ...] = ()) -> dict:
    """The template properties that are members of an operation's input, named and typed as the API wants
    (`camel`: API Gateway v1 names members restApiId where the template says RestApiId)."""
    model = client.meta.service_model.operation_model(client.meta.method_to_api_mapping[op])
    members = model.input_shape.members
    out: dict[str, Any] = {}
    for key, value in props.items():
        name = key[:1].lower() + key[1:] if camel else key
        if name in members and key not in skip and value is not None:
            out[name] = _coerce(members[name], value)
    return out
