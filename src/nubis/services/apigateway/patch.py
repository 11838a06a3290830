"""API Gateway's `patchOperations` (a JSON-Patch dialect) applied to a stored shape.

Each Update operation says which paths it accepts with a rule table: top-level member -> kind.
Values arrive as strings ("true", "10") and are converted to the member's type. Path segments use
JSON-pointer escapes (`~1` for '/', `~0` for '~'), e.g. `/binaryMediaTypes/image~1png`.

Kinds: str, bool, int, float (scalars: replace/add set, remove deletes); ("set", str) (add/remove of
the segment value or `value`, replace swaps one entry); ("map", kind) (`/member/key`); a nested dict
of rules (`/member/sub`).
"""
from __future__ import annotations

from typing import Any

from .errors import bad_request

Rules = dict[str, Any]


def unescape(segment: str) -> str:
    return segment.replace("~1", "/").replace("~0", "~")


def split_path(path: str) -> list[str]:
    if not path.startswith("/"):
        raise bad_request(f"Invalid patch path {path}")
    return [unescape(s) for s in path[1:].split("/")]


def convert(kind: Any, value: Any, path: str) -> Any:
    if value is None:
        raise bad_request(f"Invalid null value for {path}")
    if kind is str:
        return str(value)
    if kind is bool:
        text = str(value).lower()
        if text not in ("true", "false"):
            raise bad_request(f"Invalid value for {path}: expected true or false")
        return text == "true"
    if kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            raise bad_request(f"Invalid {'number' if kind is float else 'integer'} value for {path}: "
                              f"{value}") from None
    raise AssertionError(kind)


def apply_patch(doc: dict, operations: list[dict], rules: Rules) -> None:
    """Apply `operations` to `doc` in place; BadRequestException for any path the rules do not allow."""
    for op in operations or []:
        kind_of_op = op.get("op")
        path = op.get("path") or ""
        segments = split_path(path)
        value = op.get("value")
        if kind_of_op not in ("add", "remove", "replace", "copy", "move", "test"):
            raise bad_request("Invalid patch operation specified. Must be one of: [add, remove, replace, move, "
                              "copy, test]")
        if kind_of_op in ("copy", "move", "test"):
            raise bad_request(f"Invalid patch operation specified. {kind_of_op} is not supported for {path}")
        _apply(doc, segments, kind_of_op, value, rules, path)


def _apply(doc: dict, segments: list[str], op: str, value: Any, rules: Rules, path: str) -> None:
    head, rest = segments[0], segments[1:]
    if head not in rules:
        raise bad_request(f"Invalid patch path {path}")
    kind = rules[head]
    if isinstance(kind, dict):
        if not rest:
            if op == "remove":
                doc.pop(head, None)
                return
            raise bad_request(f"Invalid patch path {path}")
        _apply(doc.setdefault(head, {}), rest, op, value, kind, path)
        return
    if isinstance(kind, tuple) and kind[0] == "set":
        items = doc.setdefault(head, [])
        entry = rest[0] if rest else value
        if entry is None:
            raise bad_request(f"Invalid patch path {path}")
        if op == "add":
            if entry not in items:
                items.append(entry)
        elif op == "remove":
            if entry in items:
                items.remove(entry)
        else:  # replace /member/old with value
            if entry in items and value is not None:
                items[items.index(entry)] = value
        if not items:
            doc.pop(head, None)
        return
    if isinstance(kind, tuple) and kind[0] == "map":
        if not rest:
            if op == "remove":
                doc.pop(head, None)
                return
            raise bad_request(f"Invalid patch path {path}")
        key = "/".join(rest)
        target = doc.setdefault(head, {})
        if op == "remove":
            target.pop(key, None)
        else:
            target[key] = convert(kind[1], value, path)
        return
    if rest:
        raise bad_request(f"Invalid patch path {path}")
    if op == "remove":
        doc.pop(head, None)
    else:
        doc[head] = convert(kind, value, path)
