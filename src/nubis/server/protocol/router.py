"""Operation lookup for REST protocols: HTTP method + path (+ literal query) -> operation.

Each `requestUri` template (`/2015-03-31/functions/{FunctionName}/invocations`,
`/2018-10-31/layers?find=LayerVersion`, `/{Bucket}/{Key+}?uploads`) is compiled once into a regex
over the raw, still percent-encoded path, so an encoded '/' inside a label cannot split it; labels
are percent-decoded after matching. Candidates are bucketed by method and '/' count and ordered by
specificity (literal segments, literal query keys, literal characters, non-greedy, non-deprecated),
so a request is matched against a handful of regexes; a deprecated alias of an operation (S3's
PutBucketLifecycle vs PutBucketLifecycleConfiguration) loses to the current one. When several
templates still tie, the operation whose required query/header members are present wins (S3's
PutObject vs UploadPart vs CopyObject share one template).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import unquote

__all__ = ["Route", "Router", "compile_route", "query_literals"]

_LABEL = re.compile(r"\{([^}]+)\}")


@dataclass(slots=True, frozen=True)
class Route:
    op_name: str
    method: str
    template: str
    regex: re.Pattern[str]
    labels: tuple[str, ...]  # label names in regex group order, without the greedy '+'
    query_literals: tuple[tuple[str, str | None], ...]
    static_key: tuple[int, int, int, int, int]
    slashes: int
    greedy: bool
    required_query: tuple[str, ...]
    required_headers: tuple[str, ...]

    def literals_ok(self, query: dict[str, list[str]]) -> bool:
        for key, want in self.query_literals:
            got = query.get(key)
            if got is None or (want is not None and want not in got):
                return False
        return True

    def presence_score(self, query: dict[str, list[str]], headers: dict[str, str]) -> tuple[bool, int]:
        """(all required query/header members present, how many of them are present)."""
        present = sum(1 for k in self.required_query if k in query)
        present += sum(1 for h in self.required_headers if h in headers)
        return present == len(self.required_query) + len(self.required_headers), present


def query_literals(request_uri: str) -> tuple[tuple[str, str | None], ...]:
    """The literal query part of a template: `?find=LayerVersion` -> (("find", "LayerVersion"),)."""
    out: list[tuple[str, str | None]] = []
    for part in filter(None, request_uri.partition("?")[2].split("&")):
        key, eq, value = part.partition("=")
        out.append((key, value if eq else None))
    return tuple(out)


def compile_route(
    op_name: str, method: str, request_uri: str, input_shape: Any, deprecated: bool = False
) -> Route:
    path_tpl = request_uri.partition("?")[0]
    pattern: list[str] = []
    labels: list[str] = []
    greedy = False
    pos = 0
    for m in _LABEL.finditer(path_tpl):
        pattern.append(re.escape(path_tpl[pos:m.start()]))
        name = m.group(1)
        if name.endswith("+"):
            greedy = True
            labels.append(name[:-1])
            pattern.append("(.+)")
        else:
            labels.append(name)
            pattern.append("([^/]+)")
        pos = m.end()
    pattern.append(re.escape(path_tpl[pos:]))
    literals = query_literals(request_uri)
    segments = [s for s in path_tpl.split("/") if s]
    literal_segments = sum(1 for s in segments if "{" not in s)
    literal_chars = len(_LABEL.sub("", path_tpl))
    required_query: list[str] = []
    required_headers: list[str] = []
    if input_shape is not None:
        required = set(input_shape.required_members)
        for name, member in input_shape.members.items():
            if name not in required:
                continue
            loc = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if loc == "querystring" and member.type_name != "map":
                required_query.append(wire)
            elif loc == "header":
                required_headers.append(wire.lower())
    return Route(
        op_name=op_name,
        method=method.upper(),
        template=request_uri,
        regex=re.compile("".join(pattern), re.DOTALL),
        labels=tuple(labels),
        query_literals=literals,
        static_key=(literal_segments, len(literals), literal_chars, int(not greedy), int(not deprecated)),
        slashes=path_tpl.count("/"),
        greedy=greedy,
        required_query=tuple(required_query),
        required_headers=tuple(required_headers),
    )


class Router:
    """Finds the route for a request; built once per service model."""

    def __init__(self, routes: Iterable[Route]) -> None:
        self._exact: dict[tuple[str, int], list[Route]] = {}
        self._greedy: dict[str, list[Route]] = {}
        for r in routes:
            if r.greedy:
                self._greedy.setdefault(r.method, []).append(r)
            else:
                self._exact.setdefault((r.method, r.slashes), []).append(r)
        self._merged: dict[tuple[str, int], list[Route]] = {}

    def _candidates(self, method: str, slashes: int) -> list[Route]:
        key = (method, slashes)
        merged = self._merged.get(key)
        if merged is None:
            merged = list(self._exact.get(key, ()))
            merged += [r for r in self._greedy.get(method, ()) if r.slashes <= slashes]
            merged.sort(key=lambda r: r.static_key, reverse=True)
            if len(self._merged) < 4096:  # bounded: slash counts come from clients
                self._merged[key] = merged
        return merged

    def match(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[Route, dict[str, str]] | None:
        """Best route and its decoded labels, or None. Retries once with the trailing '/' toggled."""
        hit = self._match(method, path, query, headers)
        if hit is None and len(path) > 1:
            alt = path[:-1] if path.endswith("/") else path + "/"
            hit = self._match(method, alt, query, headers)
        return hit

    def _match(
        self, method: str, path: str, query: dict[str, list[str]], headers: dict[str, str]
    ) -> tuple[Route, dict[str, str]] | None:
        best: Route | None = None
        best_m: re.Match[str] | None = None
        best_score: tuple[bool, int] | None = None
        for r in self._candidates(method, path.count("/")):
            if best is not None and r.static_key < best.static_key:
                break
            m = r.regex.fullmatch(path)
            if m is None or (r.query_literals and not r.literals_ok(query)):
                continue
            score = r.presence_score(query, headers) if (r.required_query or r.required_headers) else (True, 0)
            if best is None or score > best_score:  # type: ignore[operator]
                best, best_m, best_score = r, m, score
        if best is None or best_m is None:
            return None
        return best, {name: unquote(value) for name, value in zip(best.labels, best_m.groups())}
