"""WebSocket API pieces without a server: route selection expressions and the frame session."""
from __future__ import annotations

import pytest
from wsproto.connection import Connection, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Message, Ping, Pong, TextMessage

from nubis.services.apigatewayv2.selection import SelectionError, parse_selection
from nubis.services.apigatewayv2.websocket import MAX_MESSAGE, WsSession


@pytest.mark.parametrize("expression,body,key", [
    ("$request.body.action", '{"action": "send"}', "send"),
    ("$request.body.message.type", '{"message": {"type": "chat"}}', "chat"),
    ("${request.body.action}", '{"action": "send"}', "send"),
    ("${request.body.a}-${request.body.b}", '{"a": "x", "b": 2}', "x-2"),
    ("$request.body.action", '{"other": 1}', None),
    ("$request.body.action", "not json", None),
    ("$request.body.action", '{"action": {"nested": 1}}', None),
    ("$request.body.action", '[1, 2]', None),
])
def test_selection(expression, body, key):
    assert parse_selection(expression).select(body) == key


@pytest.mark.parametrize("expression", ["action", "$request.header.x", "$request.body.", "${request.body.a}$x", ""])
def test_selection_rejects(expression):
    with pytest.raises(SelectionError):
        parse_selection(expression)


class FakeUpgraded:
    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    async def drain(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True


def _client_events(client: Connection, data: bytes) -> list:
    client.receive_data(data)
    return list(client.events())


def test_session_messages_ping_and_close():
    up = FakeUpgraded()
    session = WsSession(up)
    client = Connection(ConnectionType.CLIENT)
    got: list = []
    # a fragmented text message, a binary one, a ping
    data = (client.send(Message(data="hel", message_finished=False)) + client.send(Message(data="lo"))
            + client.send(Message(data=b"\x00\x01")) + client.send(Ping(b"p")))
    assert session.receive(data, got.append) is None
    assert got == ["hello", b"\x00\x01"]
    assert _client_events(client, bytes(up.out)) == [Pong(payload=b"p")]
    up.out.clear()
    closed = session.receive(client.send(CloseConnection(code=1000, reason="bye")), got.append)
    assert closed[0] == 1000 and "bye" in closed[1]
    assert isinstance(_client_events(client, bytes(up.out))[0], CloseConnection)


def test_session_send_text_and_binary_and_oversized_message():
    import asyncio

    up = FakeUpgraded()
    session = WsSession(up)
    client = Connection(ConnectionType.CLIENT)
    asyncio.run(session.send(b'{"a": 1}'))
    asyncio.run(session.send(b"\xff"))
    events = _client_events(client, bytes(up.out))
    assert isinstance(events[0], TextMessage) and events[0].data == '{"a": 1}'
    assert isinstance(events[1], BytesMessage) and events[1].data == b"\xff"
    up.out.clear()
    closed = session.receive(client.send(Message(data=b"x" * (MAX_MESSAGE + 1))), lambda m: None)
    assert closed == (1009, "Message too big") and up.closed
    with pytest.raises(ConnectionError):
        asyncio.run(session.send(b"late"))
