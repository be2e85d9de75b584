"""A scripted HTTP receiver on 127.0.0.1 for HTTP-target tests, and a resolver stand-in.

The receiver is the only thing these tests connect to: every other address is either refused by the guard
before any connection, or resolved by :func:`resolver_to` to this receiver.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from squall import new_webhook_secret

#: The webhook secret the test apps sign with (here, not in conftest.py: ``conftest`` is no unique module name).
SECRET = new_webhook_secret()


@dataclass
class Reply:
    """One scripted answer: a status, headers and body; or a misbehaviour (``action``)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok":true}'
    #: "close": drop the connection without answering; "stall": answer after ``seconds``; "drip": send the
    #: body one byte every ``seconds``; "reset": close with an RST.
    action: str | None = None
    seconds: float = 0.0


@dataclass
class Received:
    """A request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A threaded HTTP server on 127.0.0.1 answering from a script (the last reply repeats)."""

    def __init__(self, chooser: Callable[[Received], Reply] | None = None) -> None:
        #: When given, picks the reply to each request instead of the script (the fault suite's plans).
        self.chooser = chooser
        self.script: list[Reply] = [Reply()]
        self.received: list[Received] = []
        #: For each dripped body, the bytes written before it ended (all of them) or the client cut it.
        self.dripped: list[int] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver._lock:
                    receiver.received.append(request)
                    if receiver.chooser is not None:
                        reply = receiver.chooser(request)
                    else:
                        reply = receiver.script.pop(0) if len(receiver.script) > 1 else receiver.script[0]
                if reply.action == "close":
                    self.close_connection = True
                    return
                if reply.action == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.close_connection = True
                    return
                if reply.action == "stall":
                    time.sleep(reply.seconds)
                try:
                    self._reply(reply)
                except OSError:  # the client gave up (its timeout): what a stalled reply is for
                    self.close_connection = True

            def _reply(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                if reply.action == "drip":
                    sent = 0
                    try:
                        for byte in reply.body:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                            sent += 1
                            time.sleep(reply.seconds)
                    finally:
                        with receiver._lock:
                            receiver.dripped.append(sent)  # how far a drip got before it ended or was cut
                else:
                    self.wfile.write(reply.body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str = "/hook") -> str:
        """The receiver's URL for ``path``."""
        return f"http://127.0.0.1:{self.port}{path}"

    def answer(self, *replies: Reply) -> None:
        """Answer the next requests with ``replies`` (the last one repeats)."""
        self.script = list(replies)

    def close(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def resolver_to(*addresses: str) -> Callable[..., list[tuple[Any, ...]]]:
    """A getaddrinfo stand-in answering every name with ``addresses``."""

    def resolve(host: str, port: int, *_: Any) -> list[tuple[Any, ...]]:
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses
        ]

    return resolve
