"""The one exception type every service raises for an AWS-style error response."""
from __future__ import annotations

from typing import Any


class AwsError(Exception):
    """An error AWS would return: a code (x-amzn-ErrorType / __type / <Code>), a message and a status.

    `fields` carries extra modeled members of the error shape (e.g. Lambda's `Type`, `Reason`).
    The protocol layer decides how each is written on the wire for the service's protocol.
    """

    def __init__(self, code: str, message: str, status: int = 400, **fields: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.fields = fields

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"AwsError({self.code!r}, {self.message!r}, {self.status})"
