"""The uvicorn protocol sets TCP_NODELAY even on sockets bound the multi-worker way (proto 0)."""

from __future__ import annotations

import socket

import uvicorn
from uvicorn.server import ServerState

from api_service.server import NoDelayH11Protocol


class Transport:
    """Just enough of an asyncio transport for connection_made."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def get_extra_info(self, name: str) -> object:
        return {
            "socket": self.sock,
            "peername": self.sock.getpeername(),
            "sockname": self.sock.getsockname(),
        }.get(name)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        pass


async def test_connections_get_tcp_nodelay_when_asyncio_would_skip_it() -> None:
    with socket.socket(socket.AF_INET) as listener:  # how uvicorn binds for workers > 1
        assert listener.proto == 0
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.create_connection(listener.getsockname()) as _client:
            conn, _ = listener.accept()
            with conn:
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
                config = uvicorn.Config(app=lambda scope, receive, send: None)
                config.load()
                protocol = NoDelayH11Protocol(
                    config=config, server_state=ServerState(), app_state={}
                )
                protocol.connection_made(Transport(conn))  # type: ignore[arg-type]
                assert conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
                protocol.connection_lost(None)
