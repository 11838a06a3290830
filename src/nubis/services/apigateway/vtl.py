"""Mapping templates: Velocity (VTL, rendered by the `airspeed` library) with the variables API
Gateway defines — `$input`, `$util`, `$context`, `$stageVariables` — and the JSONPath subset
`$input.json()`/`$input.path()` need (`$`, `.name`, `['name']`, `[n]`, `[*]`).
"""
from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import quote, unquote_plus

import airspeed
import orjson

_STEP = re.compile(r"\.([A-Za-z_$][\w$-]*)|\[\s*'([^']*)'\s*\]|\[\s*\"([^\"]*)\"\s*\]|\[\s*(-?\d+)\s*\]|\[\s*\*\s*\]|\.\*")


class TemplateError(Exception):
    """The template cannot be rendered (API Gateway answers 500)."""


def json_path(value: Any, expr: str) -> Any:
    """Evaluate a JSONPath of the subset above; None when a step does not exist."""
    expr = (expr or "$").strip()
    if not expr.startswith("$"):
        raise TemplateError(f"Invalid JSONPath {expr!r}")
    pos, current, spread = 1, value, False
    while pos < len(expr):
        m = _STEP.match(expr, pos)
        if m is None:
            raise TemplateError(f"Invalid JSONPath {expr!r}")
        pos = m.end()
        name = m.group(1) or m.group(2) or m.group(3)
        index = m.group(4)

        def step(v: Any) -> Any:
            if name is not None:
                return v.get(name) if isinstance(v, dict) else None
            if index is not None:
                return v[int(index)] if isinstance(v, list) and -len(v) <= int(index) < len(v) else None
            return list(v.values()) if isinstance(v, dict) else v  # [*] / .*

        if spread:
            current = [step(v) for v in current] if isinstance(current, list) else None
        else:
            current = step(current)
        if name is None and index is None:
            spread = True
    return current


class Input:
    """`$input`: the request (integration request) or integration response being mapped."""

    def __init__(self, body: str, params: dict[str, dict[str, str]] | None = None) -> None:
        self.body = body
        self._params = params or {"path": {}, "querystring": {}, "header": {}}
        self._parsed: Any = ...

    def _value(self) -> Any:
        if self._parsed is ...:
            if not self.body.strip():
                self._parsed = {}
            else:
                try:
                    self._parsed = orjson.loads(self.body)
                except orjson.JSONDecodeError:
                    raise TemplateError("Unable to parse the body as JSON") from None
        return self._parsed

    def json(self, path: str = "$") -> str:
        value = json_path(self._value(), path)
        return orjson.dumps(value).decode()

    def path(self, path: str = "$") -> Any:
        return json_path(self._value(), path)

    def params(self, name: str | None = None) -> Any:
        if name is None:
            return self._params
        for where in ("path", "querystring", "header"):
            values = self._params.get(where) or {}
            if where == "header":
                for k, v in values.items():
                    if k.lower() == name.lower():
                        return v
            elif name in values:
                return values[name]
        return ""


def escape_javascript(text: Any) -> str:
    """Apache Commons' StringEscapeUtils.escapeJavaScript, which API Gateway's $util uses."""
    out = []
    for ch in "" if text is None else str(text):
        code = ord(ch)
        if ch in "\"'\\/":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif code < 0x20 or code > 0x7E:
            out.append(f"\\u{code:04X}" if code <= 0xFFFF else ch)
        else:
            out.append(ch)
    return "".join(out)


class Util:
    """`$util`."""

    escapeJavaScript = staticmethod(escape_javascript)

    @staticmethod
    def base64Encode(text: Any) -> str:  # noqa: N802 - the VTL name
        return base64.b64encode(str(text).encode()).decode()

    @staticmethod
    def base64Decode(text: Any) -> str:  # noqa: N802
        return base64.b64decode(str(text)).decode("utf-8", "replace")

    @staticmethod
    def urlEncode(text: Any) -> str:  # noqa: N802
        return quote(str(text), safe="").replace("%20", "+")

    @staticmethod
    def urlDecode(text: Any) -> str:  # noqa: N802
        return unquote_plus(str(text))

    @staticmethod
    def parseJson(text: Any) -> Any:  # noqa: N802
        try:
            return orjson.loads(str(text))
        except orjson.JSONDecodeError:
            raise TemplateError("$util.parseJson: not JSON") from None


_CACHE: dict[str, airspeed.Template] = {}


def render(template: str, variables: dict[str, Any]) -> str:
    compiled = _CACHE.get(template)
    if compiled is None:
        if len(_CACHE) > 500:
            _CACHE.clear()
        compiled = _CACHE[template] = airspeed.Template(template)
    try:
        return compiled.merge({"util": Util, **variables})
    except TemplateError:
        raise
    except Exception as err:  # airspeed's syntax/evaluation errors, and errors of the helpers above
        raise TemplateError(f"{type(err).__name__}: {err}") from None
