"""The HTTP client of HTTP targets: urllib3, pinned to the checked address, with bounded reads.

A connection goes to the IP address the guard checked (:func:`squall.targets.guard.resolve`), while the Host
header, TLS SNI and the certificate check use the hostname, so DNS cannot change between check and connect.
Pools are kept per (scheme, host, IP, port) at module level, created on first use (never at import), so a warm
Lambda reuses its connections across invocations. urllib3 follows no redirect and retries nothing: Squall's
queue does both. The response body is read up to a cap, within one deadline for the whole exchange (a timer cuts
the connection when it passes, :class:`_Exchange`); whatever the response holds (bad headers, bad encoding, a
huge or slow body) ends as a :class:`Response` or a :class:`TransportError`, never as another exception.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import urllib3

from squall import limits
from squall.targets.guard import IPAddress, Target

#: Bytes read from the body per call.
_CHUNK_BYTES = 16 * 1024

_pools: dict[tuple[str, str, str, int], urllib3.HTTPConnectionPool] = {}
_pools_lock = threading.Lock()
#: The exchange the calling thread is making, if any (its connection registers itself there).
_current = threading.local()


class TransportError(Exception):
    """No usable answer: the connection failed, timed out or broke, or the response was malformed."""


@dataclass(frozen=True, slots=True)
class Response:
    """What the target answered: the status, its headers (lowercase names) and the first bytes of its body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    truncated: bool

    def text(self) -> str:
        """The body as text: UTF-8, with undecodable bytes replaced (JSON can carry any result)."""
        return self.body.decode("utf-8", errors="replace")


class _Exchange:
    """One request's deadline. urllib3's read timeout bounds each wait for a byte, not the whole answer (a receiver
    sending a byte a second would hold the worker for as many seconds as it has bytes, past the Lambda's own
    timeout and with it the whole batch): a timer shuts the connection's socket down at the deadline, which ends
    any read blocked on it. (A TLS handshake needs no cut: CPython bounds the whole handshake by the timeout.)"""

    def __init__(self, timeout: float) -> None:
        #: The connection's socket, kept here: http.client drops ``connection.sock`` once a response that closes
        #: the connection has its headers, while the response goes on reading from the same socket.
        self.sock: socket.socket | None = None
        self.expired = False
        self._timer = threading.Timer(timeout, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> _Exchange:
        _current.exchange = self
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        _current.exchange = None

    def carried_by(self, sock: socket.socket | None) -> None:
        """Note the socket the request goes over (once there is one); cut it at once if the deadline has passed."""
        if sock is not None:
            self.sock = sock
        if self.expired:
            _cut(self.sock)

    def _expire(self) -> None:
        self.expired = True  # set before reading the socket: carried_by sees one or the other
        _cut(self.sock)


def _cut(sock: socket.socket | None) -> None:
    if sock is None:
        return
    # socket.socket's own shutdown, also for a TLS socket: its reader then meets end-of-file, not a torn wrapper.
    # OSError: already closed by its reader, nothing left to cut.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _note(sock: socket.socket | None) -> None:
    exchange: _Exchange | None = getattr(_current, "exchange", None)
    if exchange is not None:
        exchange.carried_by(sock)


class _HTTPConnection(urllib3.connection.HTTPConnection):
    """A connection that registers its socket with the calling thread's exchange when it connects and when used."""

    def connect(self) -> None:
        super().connect()
        _note(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        _note(self.sock)
        super().request(*args, **kwargs)


class _HTTPSConnection(_HTTPConnection, urllib3.connection.HTTPSConnection):
    """:class:`_HTTPConnection`, over TLS (its ``connect`` and ``request`` come first, then TLS's)."""


def pool_for(target: Target, address: IPAddress) -> urllib3.HTTPConnectionPool:
    """The pool for this target at this address, created on first use."""
    key = (target.scheme, target.host, str(address), target.port)
    pool = _pools.get(key)
    if pool is None:
        with _pools_lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = _new_pool(target, address)
    return pool


def _new_pool(target: Target, address: IPAddress) -> urllib3.HTTPConnectionPool:
    common: dict[str, Any] = {"maxsize": limits.HTTP_TARGET_POOL_SIZE, "block": False, "retries": False}
    if target.scheme == "https":
        secure = urllib3.HTTPSConnectionPool(
            str(address),
            target.port,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            **common,
        )
        secure.ConnectionCls = _HTTPSConnection
        return secure
    plain = urllib3.HTTPConnectionPool(str(address), target.port, **common)
    plain.ConnectionCls = _HTTPConnection
    return plain


def close_pools() -> None:
    """Close every kept connection (tests, and a process that stops calling targets)."""
    with _pools_lock:
        for pool in _pools.values():
            pool.close()
        _pools.clear()


def send(
    target: Target,
    address: IPAddress,
    method: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    timeout: float,
    max_body: int = limits.HTTP_TARGET_MAX_BODY_BYTES,
) -> Response:
    """Make one request to ``address``; the answer, or TransportError. ``timeout`` bounds the whole exchange."""
    deadline = time.monotonic() + timeout
    sent = {**headers, "Host": target.host_header, "Accept-Encoding": "identity"}
    if body or method not in ("GET", "HEAD"):
        sent["Content-Length"] = str(len(body))
    pool = pool_for(target, address)
    with _Exchange(timeout) as exchange:
        try:
            response = pool.urlopen(
                method,
                target.path,
                body=body or None,
                headers=sent,
                redirect=False,
                retries=False,
                assert_same_host=False,
                preload_content=False,
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
            )
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError) as exc:
            raise TransportError(_late(timeout) if exchange.expired else f"{type(exc).__name__}: {exc}") from None
        try:
            return _read(response, method, deadline, max_body)
        except TransportError:
            if exchange.expired:
                raise TransportError(_late(timeout)) from None
            raise
        finally:
            if exchange.expired and response.connection is not None:
                response.connection.close()  # cut: never back into the pool
            response.release_conn()


def _late(timeout: float) -> str:
    return f"no complete answer within the timeout ({timeout:g} s)"


def _read(response: urllib3.BaseHTTPResponse, method: str, deadline: float, max_body: int) -> Response:
    status = int(response.status)
    names: dict[str, str] = {}
    try:
        for name, value in response.headers.items():
            key = str(name).lower()
            names[key] = f"{names[key]}, {value}" if key in names else str(value)
    except (UnicodeError, ValueError) as exc:
        response.drain_conn()
        raise TransportError(f"unreadable response headers: {exc}") from None
    chunks: list[bytes] = []
    size = 0
    truncated = False
    if method != "HEAD":
        try:
            while size <= max_body:
                if time.monotonic() > deadline:
                    raise TransportError("the response body did not arrive within the timeout")
                chunk = response.read(min(_CHUNK_BYTES, max_body + 1 - size), decode_content=False)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError, ValueError) as exc:
            raise TransportError(f"the response broke off: {type(exc).__name__}: {exc}") from None
        if size > max_body:
            truncated = True
            # The rest is not read: the connection cannot be reused, so it is closed, not returned.
            response.close()
            if response.connection is not None:
                response.connection.close()
    data = b"".join(chunks)[:max_body]
    return Response(status, names, data, truncated)
