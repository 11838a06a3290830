"""What a target receives: the event, a constant Input, a part of the event (InputPath), or an
InputTransformer's InputTemplate filled from InputPathsMap."""
from __future__ import annotations

import re
from typing import Any

import orjson

_STEP = re.compile(r"\.([^.\[\]]+)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")
_PLACEHOLDER = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_MISSING = object()


class BadPath(ValueError):
    """Not a JSON path EventBridge accepts."""


def path_steps(path: str) -> list[str | int]:
    """The steps of a JSON path such as `$.detail.items[0]`; BadPath if it is not one."""
    if not path.startswith("$"):
        raise BadPath(path)
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        if not m:
            raise BadPath(path)
        steps.append(int(m.group(2)) if m.group(2) is not None else (m.group(1) or m.group(3) or m.group(4) or ""))
        pos = m.end()
    return steps


def select(doc: Any, path: str) -> Any:
    value = doc
    for step in path_steps(path):
        if isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        elif isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        else:
            return _MISSING
    return value


def _in_string(template: str, pos: int) -> bool:
    """Is `pos` inside a JSON string literal of the template (counting unescaped quotes before it)?"""
    inside, i = False, 0
    while i < pos:
        c = template[i]
        if c == "\\" and inside:
            i += 2
            continue
        if c == '"':
            inside = not inside
        i += 1
    return inside


def render(template: str, values: dict[str, Any]) -> str:
    """Fill `<name>` placeholders: inside a JSON string a value goes in as escaped text; elsewhere as
    JSON (a missing one as null). A template that is not JSON (plain text) takes string values as is."""
    json_like = _looks_json(template)

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name not in values:
            return m.group(0)
        value = values[name]
        quoted = json_like and _in_string(template, m.start())
        if value is _MISSING:
            return "" if quoted or not json_like else "null"
        if quoted:
            text = value if isinstance(value, str) else orjson.dumps(value).decode()
            return orjson.dumps(text).decode()[1:-1]
        if isinstance(value, str) and not json_like:
            return value
        return orjson.dumps(value).decode()

    return _PLACEHOLDER.sub(sub, template)


def _looks_json(template: str) -> bool:
    t = template.strip()
    return t.startswith(("{", "[", '"'))


def target_input(target: dict, event: dict, rule_arn: str, rule_name: str) -> bytes:
    """The payload a target receives for an event."""
    if "Input" in target and target["Input"] is not None:
        return target["Input"].encode()
    if target.get("InputPath"):
        value = select(event, target["InputPath"])
        return b"null" if value is _MISSING else orjson.dumps(value)
    transformer = target.get("InputTransformer")
    if transformer:
        values = {name: select(event, path) for name, path in (transformer.get("InputPathsMap") or {}).items()}
        values.update({"aws.events.rule-arn": rule_arn, "aws.events.rule-name": rule_name,
                       "aws.events.event.ingestion-time": event.get("time", ""), "aws.events.event": event,
                       "aws.events.event.json": event})
        return render(transformer["InputTemplate"], values).encode()
    return orjson.dumps(event)
