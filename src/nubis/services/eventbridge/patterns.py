"""EventBridge event patterns: validation and matching.

A pattern mirrors the event's structure; its leaves are arrays of match values, any of which may
match. A match value is a literal (string, number, true, false, null) or an operator object:
`prefix`, `suffix` (each optionally `{"equals-ignore-case": ...}`), `anything-but` (a value, a list, or
`{"prefix"|"suffix"|"equals-ignore-case"|"wildcard": ...}`), `numeric` (comparison pairs),
`exists`, `equals-ignore-case`, `wildcard` and `cidr`. `$or` takes a list of alternative patterns.
When the event's value is an array, the leaf matches if any element does.
"""
from __future__ import annotations

import ipaddress
import re
from typing import Any

_MISSING = object()
_NUMERIC_OPS = {"=", "<", "<=", ">", ">="}
_OPERATORS = {"prefix", "suffix", "anything-but", "numeric", "exists", "equals-ignore-case", "wildcard", "cidr"}


class InvalidPattern(ValueError):
    """The pattern is not valid; the message is the reason EventBridge gives."""


# -- validation ------------------------------------------------------------------------------------
def validate(pattern: Any) -> None:
    if not isinstance(pattern, dict):
        raise InvalidPattern("Filter is not an object")
    for key, value in pattern.items():
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise InvalidPattern("Or relationship should have at least 2 patterns")
            for alt in value:
                validate(alt)
        elif isinstance(value, dict):
            validate(value)
        elif isinstance(value, list):
            for item in value:
                _validate_value(key, item)
        else:
            raise InvalidPattern(f"\"{key}\" must be an object or an array")


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _validate_value(key: str, item: Any) -> None:
    if item is None or isinstance(item, (str, bool)) or _is_number(item):
        return
    if not isinstance(item, dict):
        raise InvalidPattern("Match value must be String, number, true, false, or null")
    if len(item) != 1:
        raise InvalidPattern(f"\"{key}\" match pattern must have exactly one match type")
    op, arg = next(iter(item.items()))
    if op not in _OPERATORS:
        raise InvalidPattern(f"Unrecognized match type {op}")
    if op in ("prefix", "suffix"):
        if isinstance(arg, dict) and set(arg) == {"equals-ignore-case"} and isinstance(arg["equals-ignore-case"], str):
            return
        if not isinstance(arg, str):
            raise InvalidPattern(f"{op} match pattern must be a string")
    elif op in ("equals-ignore-case", "wildcard"):
        if not isinstance(arg, str):
            raise InvalidPattern(f"{op} match pattern must be a string")
        if op == "wildcard" and "**" in arg:
            raise InvalidPattern("Consecutive wildcard characters at pos 0")
    elif op == "exists":
        if not isinstance(arg, bool):
            raise InvalidPattern("exists match pattern must be either true or false.")
    elif op == "numeric":
        _numeric_terms(arg)
    elif op == "cidr":
        try:
            ipaddress.ip_network(str(arg), strict=False)
        except ValueError:
            raise InvalidPattern(f"Nonstandard IP address: {arg}") from None
    elif op == "anything-but":
        if isinstance(arg, dict):
            if len(arg) != 1 or next(iter(arg)) not in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
                raise InvalidPattern("Unsupported anything-but pattern: " + ",".join(arg))
            inner = next(iter(arg.values()))
            if not isinstance(inner, (str, list)) or (isinstance(inner, list)
                                                      and not all(isinstance(s, str) for s in inner)):
                raise InvalidPattern("anything-but pattern must be a string or an array of strings")
        elif isinstance(arg, list):
            if not arg or not all(isinstance(v, str) or _is_number(v) for v in arg):
                raise InvalidPattern("Inside anything but list, start|null|boolean is not supported.")
        elif not (isinstance(arg, str) or _is_number(arg)):
            raise InvalidPattern("Inside anything but list, start|null|boolean is not supported.")


def _numeric_terms(arg: Any) -> list[tuple[str, float]]:
    if not isinstance(arg, list) or not arg or len(arg) % 2:
        raise InvalidPattern("Value of numeric must be an array.")
    terms = []
    for i in range(0, len(arg), 2):
        op, value = arg[i], arg[i + 1]
        if op not in _NUMERIC_OPS:
            raise InvalidPattern(f"Unrecognized numeric range operator: {op}")
        if not _is_number(value):
            raise InvalidPattern("Value of < must be numeric")
        terms.append((op, float(value)))
    return terms


# -- matching --------------------------------------------------------------------------------------
def matches(pattern: dict, event: Any) -> bool:
    """Does the event (a JSON document) match the (validated) pattern?"""
    if not isinstance(event, dict):
        return False
    for key, want in pattern.items():
        if key == "$or":
            if not any(matches(alt, event) for alt in want):
                return False
            continue
        value = event.get(key, _MISSING)
        if isinstance(want, dict):
            if isinstance(value, list):
                if not any(matches(want, v) for v in value):
                    return False
            elif not matches(want, value if isinstance(value, dict) else {}):
                return False
        elif not _leaf(want, value):
            return False
    return True


def _leaf(wants: list, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    for want in wants:
        if isinstance(want, dict) and "exists" in want:
            present = value is not _MISSING and not isinstance(value, dict)
            if present == want["exists"]:
                return True
            continue
        if value is _MISSING:
            continue
        if any(_one(want, v) for v in values):
            return True
    return False


def _same(want: Any, v: Any) -> bool:
    if _is_number(want) and _is_number(v):
        return float(want) == float(v)
    return type(want) is type(v) and want == v


def _wildcard(pattern: str, text: str) -> bool:
    parts = re.split(r"(?<!\\)\*", pattern)
    regex = ".*".join(re.escape(p.replace("\\*", "*")) for p in parts)
    return re.fullmatch(regex, text, re.S) is not None


def _string_op(op: str, arg: Any, v: Any) -> bool:
    if not isinstance(v, str):
        return False
    fold = isinstance(arg, dict)
    text = arg["equals-ignore-case"] if fold else arg
    if op == "prefix":
        return v.casefold().startswith(text.casefold()) if fold else v.startswith(text)
    if op == "suffix":
        return v.casefold().endswith(text.casefold()) if fold else v.endswith(text)
    if op == "equals-ignore-case":
        return v.casefold() == arg.casefold()
    if op == "wildcard":
        return _wildcard(arg, v)
    return False


def _one(want: Any, v: Any) -> bool:
    if not isinstance(want, dict):
        return _same(want, v)
    op, arg = next(iter(want.items()))
    if op in ("prefix", "suffix", "equals-ignore-case", "wildcard"):
        return _string_op(op, arg, v)
    if op == "numeric":
        if not _is_number(v):
            return False
        x = float(v)
        return all({"=": x == n, "<": x < n, "<=": x <= n, ">": x > n, ">=": x >= n}[o] for o, n in _numeric_terms(arg))
    if op == "cidr":
        try:
            return isinstance(v, str) and ipaddress.ip_address(v) in ipaddress.ip_network(arg, strict=False)
        except ValueError:
            return False
    if op == "anything-but":
        if isinstance(arg, dict):
            inner_op, inner = next(iter(arg.items()))
            options = inner if isinstance(inner, list) else [inner]
            return isinstance(v, str) and not any(_string_op(inner_op, o, v) for o in options)
        options = arg if isinstance(arg, list) else [arg]
        return not any(_same(o, v) for o in options)
    return False
