"""Route keys and route selection, as HTTP APIs do it.

A route key is `$default` or `<METHOD> <path>`, where METHOD is an HTTP method or ANY and the path
has literal segments, `{param}` segments and at most one greedy `{param+}` as its last segment.
API Gateway picks the most specific match: a full match (literal segments beat `{param}` ones,
segment by segment from the left; a named method beats ANY), then a greedy route (longest literal
prefix first), then `$default`. A greedy variable needs at least one segment: `/{proxy+}` does not
match `/`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"})
_PARAM = re.compile(r"\{([A-Za-z0-9._\-]+)(\+?)\}")


class RouteKeyError(ValueError):
    """The route key is not valid for an HTTP API."""


@dataclass(frozen=True, slots=True)
class RouteKey:
    method: str | None  # None for $default
    segments: tuple[str, ...]  # literal text, or "{name}" / "{name+}"
    params: tuple[str | None, ...]  # per segment: the parameter name, or None for a literal
    greedy: str | None  # name of the trailing greedy parameter

    @property
    def is_default(self) -> bool:
        return self.method is None

    @property
    def path(self) -> str:
        return "/" + "/".join(self.segments)


DEFAULT_KEY = RouteKey(None, (), (), None)


@lru_cache(maxsize=4096)
def parse_route_key(key: str) -> RouteKey:
    if key == "$default":
        return DEFAULT_KEY
    method, sep, path = key.partition(" ")
    if not sep or method not in METHODS:
        raise RouteKeyError(f"Unable to create Route. Route key '{key}' must be '$default' or start with a "
                            f"supported HTTP method ({', '.join(sorted(METHODS))}) followed by a space and a path.")
    if not path.startswith("/") or " " in path:
        raise RouteKeyError(f"Unable to create Route. The path of route key '{key}' must start with '/'.")
    segments = tuple(path[1:].split("/")) if path != "/" else ()
    params: list[str | None] = []
    greedy = None
    for i, seg in enumerate(segments):
        m = _PARAM.fullmatch(seg)
        if m is None:
            if not seg or "{" in seg or "}" in seg:
                raise RouteKeyError(f"Unable to create Route. Invalid path '{path}' in route key '{key}'.")
            params.append(None)
            continue
        if m.group(2):
            if i != len(segments) - 1:
                raise RouteKeyError(f"Unable to create Route. A greedy path variable must be the last segment "
                                    f"of the path in route key '{key}'.")
            greedy = m.group(1)
        if m.group(1) in params:
            raise RouteKeyError(f"Unable to create Route. Duplicate path variable '{m.group(1)}' in route key "
                                f"'{key}'.")
        params.append(m.group(1))
    return RouteKey(method, segments, tuple(params), greedy)


@dataclass(frozen=True, slots=True)
class Match:
    route: dict
    path_parameters: dict[str, str]


class RouteTable:
    """Routes of one deployment, ordered so that the first match is the most specific one."""

    def __init__(self, routes: dict[str, dict]) -> None:
        entries = []
        self.default: dict | None = None
        for route in routes.values():
            try:
                key = parse_route_key(route["RouteKey"])
            except RouteKeyError:
                continue  # not an HTTP route (e.g. a WebSocket key); never matches a request
            if key.is_default:
                self.default = route
                continue
            n = len(key.segments) - (1 if key.greedy else 0)
            shape = tuple(0 if p is None else 1 for p in key.params[:n])
            order = (1, -n, shape, key.method == "ANY") if key.greedy else (0, 0, shape, key.method == "ANY")
            entries.append((order, key, route))
        entries.sort(key=lambda e: e[0])
        self.entries: list[tuple[RouteKey, dict]] = [(k, r) for _, k, r in entries]

    def match(self, method: str, path: str) -> Match | None:
        """`path` is the raw (percent-encoded) path relative to the stage, starting with '/'."""
        raw = path[1:].split("/") if path not in ("", "/") else []
        segments = [unquote(s) for s in raw]
        for key, route in self.entries:
            if key.method != "ANY" and key.method != method:
                continue
            params = _match_segments(key, segments, raw)
            if params is not None:
                return Match(route, params)
        if self.default is not None:
            return Match(self.default, {})
        return None


def _match_segments(key: RouteKey, segments: list[str], raw: list[str]) -> dict[str, str] | None:
    fixed = len(key.segments) - (1 if key.greedy else 0)
    if key.greedy:
        if len(segments) <= fixed or not any(raw[fixed:]):
            return None
    elif len(segments) != fixed:
        return None
    params: dict[str, str] = {}
    for i in range(fixed):
        name = key.params[i]
        if name is None:
            if segments[i] != key.segments[i]:
                return None
        elif not segments[i]:
            return None
        else:
            params[name] = segments[i]
    if key.greedy:
        params[key.greedy] = unquote("/".join(raw[fixed:]))
    return params
