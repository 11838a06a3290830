"""Matching a request path to a deployed resource: literal path parts win over `{param}`, which wins
over a greedy `{proxy+}` (that needs at least one segment); then the method, or ANY."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import unquote


@dataclass
class _Node:
    resource: dict
    literal: dict[str, _Node] = field(default_factory=dict)
    param: tuple[str, _Node] | None = None
    greedy: tuple[str, _Node] | None = None


@dataclass(frozen=True, slots=True)
class Match:
    resource: dict
    method: dict
    path_parameters: dict[str, str]


class ResourceTree:
    def __init__(self, resources: dict[str, dict]) -> None:
        nodes = {rid: _Node(r) for rid, r in resources.items()}
        self.root: _Node | None = None
        for rid, node in nodes.items():
            parent_id = node.resource.get("parentId")
            if parent_id is None:
                self.root = node
                continue
            parent = nodes.get(parent_id)
            if parent is None:
                continue
            part = node.resource["pathPart"]
            if part.startswith("{") and part.endswith("+}"):
                parent.greedy = (part[1:-2], node)
            elif part.startswith("{") and part.endswith("}"):
                parent.param = (part[1:-1], node)
            else:
                parent.literal[part] = node

    def match(self, method: str, path: str) -> Match | None | bool:
        """The match; None when no resource has that path; False when one has but not that method."""
        if self.root is None:
            return None
        segments = [unquote(s) for s in path.split("/") if s]
        params: dict[str, str] = {}
        node = self._walk(self.root, segments, params)
        if node is None:
            return None
        methods = node.resource.get("resourceMethods") or {}
        chosen = methods.get(method) or methods.get("ANY")
        if chosen is None:
            return False
        return Match(node.resource, chosen, params)

    def _walk(self, node: _Node, segments: list[str], params: dict[str, str]) -> _Node | None:
        if not segments:
            return node
        head, rest = segments[0], segments[1:]
        child = node.literal.get(head)
        if child is not None:
            found = self._walk(child, rest, params)
            if found is not None:
                return found
        if node.param is not None:
            name, child = node.param
            found = self._walk(child, rest, params)
            if found is not None:
                params[name] = head
                return found
        if node.greedy is not None:
            name, child = node.greedy
            params[name] = "/".join(segments)
            return child
        return None
