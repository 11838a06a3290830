"""WebSocket route selection: a RouteSelectionExpression such as `$request.body.action` evaluated on
an incoming message.

Forms accepted (as API Gateway documents them): `$request.body.<path>` alone, or text with
`${request.body.<path>}` parts, where <path> is dot-separated JSON member names
(`$request.body.message.type`). A message that is not JSON, or lacks the member, selects nothing
(the `$default` route then applies).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import orjson

_NAME = r"[A-Za-z0-9_\-]+"
_BARE = re.compile(rf"\$request\.body((?:\.{_NAME})+)")
_PART = re.compile(rf"\$\{{request\.body((?:\.{_NAME})+)\}}")


class SelectionError(ValueError):
    """Not a route selection expression API Gateway accepts for WebSocket APIs."""


@dataclass(frozen=True, slots=True)
class Selector:
    parts: tuple[str | tuple[str, ...], ...]  # literal text, or a JSON member path

    def select(self, body: str | bytes) -> str | None:
        """The route key a message selects, or None."""
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        out = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            value = doc
            for name in part:
                if not isinstance(value, dict) or name not in value:
                    return None
                value = value[name]
            if isinstance(value, (dict, list)) or value is None:
                return None
            out.append(value if isinstance(value, str) else orjson.dumps(value).decode())
        return "".join(out)


def parse_selection(expression: str) -> Selector:
    bare = _BARE.fullmatch(expression)
    if bare:
        return Selector((tuple(bare.group(1)[1:].split(".")),))
    parts: list[str | tuple[str, ...]] = []
    pos = 0
    for m in _PART.finditer(expression):
        if m.start() > pos:
            parts.append(expression[pos:m.start()])
        parts.append(tuple(m.group(1)[1:].split(".")))
        pos = m.end()
    if pos < len(expression):
        parts.append(expression[pos:])
    if not any(isinstance(p, tuple) for p in parts) or any(isinstance(p, str) and "$" in p for p in parts):
        raise SelectionError(f"Invalid route selection expression specified: {expression}. Use "
                             "$request.body.<member>, e.g. $request.body.action")
    return Selector(tuple(parts))
