"""Open WebSocket connections: what API Gateway knows about each (for events and GetConnection) and
the live session that carries frames to the client (for PostToConnection / DeleteConnection).

Connections live in memory only: a restart closes them all, as a deployment of a new API Gateway
fleet would; clients reconnect.
"""
from __future__ import annotations

import base64
import os
from dataclasses import dataclass, field
from typing import Protocol


def new_connection_id() -> str:
    """AWS's connection ids are 10 random bytes, base64: `L0SM9cOFvHcCIhw=`. The URL-safe alphabet keeps
    '/' out: botocore leaves '/' unescaped in `/@connections/{connectionId}`."""
    return base64.urlsafe_b64encode(os.urandom(10)).decode()


class Session(Protocol):
    async def send(self, data: bytes) -> None:
        """Send one message to the client (text if `data` is UTF-8, binary otherwise)."""

    def close(self, code: int, reason: str) -> None:
        """Close the connection from the server side; $disconnect follows."""


@dataclass(slots=True)
class WsConnection:
    connection_id: str
    api_id: str
    stage: str
    domain_name: str  # host[:port] the client connected to
    source_ip: str
    user_agent: str
    connected_at: int  # epoch milliseconds
    last_active_at: int
    authorizer: dict | None = None  # requestContext.authorizer from the $connect authorizer
    session: Session | None = field(default=None, repr=False)
    # Set when the server side ends it (DeleteConnection, idle timeout): the $disconnect reason.
    closing_reason: str | None = None


class ConnectionRegistry:
    def __init__(self) -> None:
        self._by_id: dict[str, WsConnection] = {}

    def add(self, conn: WsConnection) -> None:
        self._by_id[conn.connection_id] = conn

    def get(self, connection_id: str) -> WsConnection | None:
        return self._by_id.get(connection_id)

    def remove(self, connection_id: str) -> None:
        self._by_id.pop(connection_id, None)

    def all(self) -> list[WsConnection]:
        return list(self._by_id.values())
