"""Subscription filter policies: validated as SNS validates them, matched as SNS matches them.

A policy is a JSON object whose keys name message attributes (FilterPolicyScope MessageAttributes) or
properties of a JSON message body (MessageBody, where objects may nest). Each leaf is an array of
conditions, any of which may match: a literal (string, number, true/false/null) or one operator object
- `prefix`, `suffix`, `equals-ignore-case`, `anything-but` (a value, a list, or {prefix|suffix: ...}),
`numeric` ranges, `exists`, `cidr`. `$or` takes a list of alternative policies. Every key must match
(AND); a key whose attribute is absent matches only `{"exists": false}`.
"""
from __future__ import annotations

import ipaddress
import json
import math
from typing import Any

from .errors import invalid

MAX_KEYS = 5
MAX_COMBINATIONS = 150
NUMERIC_LIMIT = 1e9
_NUMERIC_OPS = ("<", "<=", "=", ">", ">=")
_STRING_OPS = ("prefix", "suffix", "equals-ignore-case")

Policy = dict[str, Any]


class _Reject(Exception):
    """A policy SNS refuses; the reason follows `FilterPolicy: ` in the error."""


class _ScopeReject(Exception):
    """A policy the scope does not allow (nesting under MessageAttributes); said without `FilterPolicy: `."""


# -- validation ---------------------------------------------------------------------------------------
def parse_policy(text: str, scope: str, *, subscribe: bool) -> Policy | None:
    """The policy as a dict (None for an empty policy), or SNS's InvalidParameter error.

    Subscribe words its errors `Invalid parameter: Attributes Reason: FilterPolicy: ...`,
    SetSubscriptionAttributes `Invalid parameter: FilterPolicy: ...`."""
    prefix = "Invalid parameter: Attributes Reason: " if subscribe else "Invalid parameter: "
    if not text or not text.strip():
        return None
    try:
        policy = json.loads(text)
    except ValueError:
        raise invalid(f"{prefix}FilterPolicy: failed to parse JSON.") from None
    if not isinstance(policy, dict):
        raise invalid(f"{prefix}FilterPolicy: Filter policy must be a JSON object")
    if not policy:
        return None
    try:
        check_policy(policy, scope)
    except _Reject as r:
        raise invalid(f"{prefix}FilterPolicy: {r}") from None
    except _ScopeReject as r:
        raise invalid(f"{prefix}{r}") from None
    return policy


def check_policy(policy: Policy, scope: str) -> None:
    """Raise _Reject for a policy SNS would refuse (limits, shapes, operator arguments)."""
    keys = [k for k in policy if k != "$or"] + [k for alt in policy.get("$or") or [] if isinstance(alt, dict)
                                                for k in alt]
    if len(set(keys)) > MAX_KEYS:
        raise _Reject(f"Filter policy can not have more than {MAX_KEYS} keys")
    combos = _combinations(policy, scope, 1)
    if combos > MAX_COMBINATIONS:
        raise _Reject("Filter policy is too complex")


def _combinations(policy: Policy, scope: str, depth: int) -> int:
    total = 1
    for key, value in policy.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2 or not all(isinstance(v, dict) for v in value):
                raise _Reject("$or must be an array of at least two objects")
            total *= sum(_combinations(alt, scope, depth) for alt in value)
        elif isinstance(value, dict):
            if scope == "MessageAttributes":
                raise _ScopeReject("Filter policy scope MessageAttributes does not support nested filter policy")
            total *= _combinations(value, scope, depth + 1)
        elif isinstance(value, list):
            if not value:
                raise _Reject("Empty arrays are not allowed")
            for rule in value:
                _check_rule(rule)
            total *= len(value) * depth
        else:
            raise _Reject(f'"{key}" must be an object or an array')
    return total


def _check_rule(rule: Any) -> None:
    if rule is None or isinstance(rule, (str, bool)):
        return
    if isinstance(rule, (int, float)):
        _check_number(rule)
        return
    if not isinstance(rule, dict):
        raise _Reject("Match value must be String, number, true, false, or null")
    if len(rule) != 1:
        raise _Reject("Only one key allowed in match expression")
    (op, arg), = rule.items()
    if op in _STRING_OPS:
        if not isinstance(arg, str):
            raise _Reject(f"{op} match pattern must be a string")
    elif op == "exists":
        if not isinstance(arg, bool):
            raise _Reject("exists match pattern must be either true or false.")
    elif op == "anything-but":
        if isinstance(arg, dict):
            if len(arg) != 1:
                raise _Reject("Only one key allowed in match expression")
            (inner, value), = arg.items()
            if inner not in ("prefix", "suffix", "equals-ignore-case"):
                raise _Reject(f"Unsupported anything-but pattern: {inner}")
            if not isinstance(value, str):
                raise _Reject(f"{inner} match pattern must be a string")
        elif isinstance(arg, list):
            if not arg:
                raise _Reject("Empty arrays are not allowed")
            for v in arg:
                if isinstance(v, (dict, list)):
                    raise _Reject("Inside anything but list, start|null|boolean is not supported.")
                _check_rule(v)
        elif arg is not None and not isinstance(arg, (str, int, float, bool)):
            raise _Reject("Value of anything-but must be an array or single string/number value.")
        elif isinstance(arg, (int, float)) and not isinstance(arg, bool):
            _check_number(arg)
    elif op == "numeric":
        _check_numeric(arg)
    elif op == "cidr":
        _check_cidr(arg)
    else:
        raise _Reject(f"Unrecognized match type {op}")


def _check_number(value: float) -> None:
    if not -NUMERIC_LIMIT <= value <= NUMERIC_LIMIT or (isinstance(value, float) and not math.isfinite(value)):
        raise _Reject("Numeric values must be between -1.0E9 and 1.0E9, inclusive")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_numeric(terms: Any) -> None:
    if not isinstance(terms, list) or not terms:
        raise _Reject("Invalid member in numeric match: ]")
    op = terms[0]
    if not isinstance(op, str):
        raise _Reject(f"Invalid member in numeric match: {op}")
    if op not in _NUMERIC_OPS:
        raise _Reject(f"Unrecognized numeric range operator: {op}")
    if len(terms) < 2 or not _is_number(terms[1]):
        raise _Reject(f"Value of {'equals' if op == '=' else op} must be numeric")
    _check_number(terms[1])
    if len(terms) == 2:
        return
    if op not in (">", ">="):
        raise _Reject("Too many elements in numeric expression")
    upper = terms[2]
    if not isinstance(upper, str):
        raise _Reject(f"Bad value in numeric range: {upper}")
    if upper not in ("<", "<="):
        raise _Reject(f"Bad numeric range operator: {upper}")
    if len(terms) < 4 or not _is_number(terms[3]):
        raise _Reject(f"Value of {upper} must be numeric")
    _check_number(terms[3])
    if terms[3] <= terms[1]:
        raise _Reject("Bottom must be less than top")
    if len(terms) > 4:
        raise _Reject("Too many terms in numeric range expression")


def _check_cidr(value: Any) -> None:
    if not isinstance(value, str):
        raise _Reject("prefix match pattern must be a string")
    if value.count("/") != 1:
        raise _Reject("Malformed CIDR, one '/' required")
    address, bits = value.split("/")
    if not bits.isdigit():
        raise _Reject("Malformed CIDR, mask bits must be an integer")
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise _Reject(f"Nonstandard IP address: {address}") from None


# -- matching -----------------------------------------------------------------------------------------
_MISSING = object()


def attribute_values(attributes: dict[str, dict]) -> dict[str, list[Any]]:
    """Publish's MessageAttributes as the values a policy sees: a String is a string, a Number a
    number, a String.Array its JSON elements; Binary attributes are invisible to filtering."""
    out: dict[str, list[Any]] = {}
    for name, attr in attributes.items():
        kind = attr.get("DataType", "")
        text = attr.get("StringValue")
        if kind.startswith("Binary") or text is None:
            continue
        if kind.startswith("Number"):
            try:
                out[name] = [float(text)]
            except ValueError:
                out[name] = []
        elif kind.startswith("String.Array"):
            try:
                items = json.loads(text)
            except ValueError:
                items = None
            out[name] = items if isinstance(items, list) else []
        else:
            out[name] = [text]
    return out


def matches_attributes(policy: Policy, attributes: dict[str, dict]) -> bool:
    values = attribute_values(attributes)
    return _match_flat(policy, values)


def _match_flat(policy: Policy, values: dict[str, list[Any]]) -> bool:
    for key, rules in policy.items():
        if key == "$or":
            if not any(_match_flat(alt, values) for alt in rules):
                return False
        elif not _match_leaf(rules, values.get(key, _MISSING)):
            return False
    return True


def matches_body(policy: Policy, body: str) -> bool:
    """A MessageBody-scoped policy against the message: it must be a JSON object to match anything."""
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and _match_object(policy, doc)


def _match_object(policy: Policy, doc: dict) -> bool:
    for key, rule in policy.items():
        if key == "$or":
            if not any(_match_object(alt, doc) for alt in rule):
                return False
            continue
        present = key in doc
        value = doc.get(key)
        if isinstance(rule, dict):
            children = [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, dict)]
            if not present or not children:
                children = [{}]  # an absent parent still lets {"exists": false} below it match
            if not any(_match_object(rule, child) for child in children):
                return False
        else:
            leaves = _leaves(value) if present else _MISSING
            if not _match_leaf(rule, leaves):
                return False
    return True


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, dict):
        return []
    return [value]


def _match_leaf(rules: list[Any], values: Any) -> bool:
    if values is _MISSING:
        return any(isinstance(r, dict) and r.get("exists") is False for r in rules)
    for rule in rules:
        if isinstance(rule, dict) and "exists" in rule:
            if rule["exists"] is True:
                return True
            continue
        if any(_match_value(rule, v) for v in values):
            return True
    return False


def _equal(literal: Any, value: Any) -> bool:
    if _is_number(literal):
        return _is_number(value) and math.isclose(float(literal), float(value), rel_tol=0, abs_tol=1e-6)
    if isinstance(literal, bool) or literal is None:
        return value is literal
    return isinstance(value, str) and value == literal


def _match_value(rule: Any, value: Any) -> bool:
    if not isinstance(rule, dict):
        return _equal(rule, value)
    (op, arg), = rule.items()
    if op == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if op == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == arg.casefold()
    if op == "anything-but":
        if isinstance(arg, dict):
            (inner, pattern), = arg.items()
            return isinstance(value, str) and not _match_value({inner: pattern}, value)
        excluded = arg if isinstance(arg, list) else [arg]
        return not any(_equal(x, value) for x in excluded)
    if op == "numeric":
        return _is_number(value) and _in_range(arg, float(value))
    if op == "cidr":
        try:
            return isinstance(value, str) and ipaddress.ip_address(value) in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            return False
    return False


def _in_range(terms: list[Any], value: float) -> bool:
    for op, bound in zip(terms[::2], terms[1::2]):
        bound = float(bound)
        ok = {"<": value < bound, "<=": value <= bound, "=": math.isclose(value, bound, rel_tol=0, abs_tol=1e-6),
              ">": value > bound, ">=": value >= bound}[op]
        if not ok:
            return False
    return True


def policy_matches(policy: Policy | None, scope: str, attributes: dict[str, dict], message: str) -> bool:
    """Does a message pass a subscription's filter policy (None: no policy, everything passes)?"""
    if not policy:
        return True
    if scope == "MessageBody":
        return matches_body(policy, message)
    return matches_attributes(policy, attributes)


__all__ = ["parse_policy", "policy_matches", "matches_attributes", "matches_body"]
