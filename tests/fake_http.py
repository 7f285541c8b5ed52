"""What the fake services' request handlers share (fakeapi.py, fake_tenant_query.py): HTTP/1.1 keep-alive
as the real services, TCP_NODELAY, connections tracked on the fake so that stopping it closes them, quiet
logs, every method to `_dispatch`, the request read, and a connection dropped on purpose."""

from __future__ import annotations

import contextlib
import socket
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit


class KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real services
    state: Any  # the fake this handler serves: its .lock and ._connections

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes; without this, Nagle + delayed ACK add ~40 ms per answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.state.lock:
            self.state._connections.add(self.connection)
            self.opened()

    def opened(self) -> None:
        """Called under the fake's lock when a connection opens."""

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # the client went away
            super().finish()
        with self.state.lock:
            self.state._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the default writes every request line to stderr

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        raise NotImplementedError

    def read_request(self) -> tuple[str, dict[str, str], bytes]:
        """The request's path, its query parameters (the first value of each) and its raw body."""
        parts = urlsplit(self.path)
        query = {key: values[0] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        return parts.path, query, self.rfile.read(length) if length > 0 else b""

    def drop_connection(self) -> None:
        """Close the connection without an answer (a fault the client must survive)."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
