"""Amazon Resource Names, `arn:<partition>:<service>:<region>:<account>:<resource>`: the one reading of their
shape for every provider (ARNs name queues, topics, functions and mappings across services)."""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Arn", "parse_arn"]


@dataclass(frozen=True, slots=True)
class Arn:
    partition: str
    service: str
    region: str
    account: str
    resource: str  # the rest, colons and all: `my-queue`, `function:name:qualifier`, `layer:name:3`

    def typed(self, kind: str) -> str | None:
        """What follows `<kind>:` in the resource (`function:f:live` -> `f:live` for "function"), else None."""
        head, sep, rest = self.resource.partition(":")
        return rest if sep and head == kind and rest else None


def parse_arn(text: str | None, service: str | None = None) -> Arn | None:
    """The parts of `text`, or None when it is not an ARN (or not one of `service`, when given)."""
    parts = (text or "").split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1].startswith("aws"):
        return None
    arn = Arn(*parts[1:])
    return arn if service is None or arn.service == service else None
