"""The ``timeout`` of an HTTP target bounds the whole exchange: a receiver that sends its headers or its body a
byte at a time, each byte within the read timeout, is cut off at the deadline, not after every byte has come.

No wall-clock assertion: each receiver counts the bytes it got out before the client cut it (without the cut it
sends them all, 20 s later); every wait is bounded."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from http_receiver import Receiver, Reply

from squall import Squall, State
from squall.local import Runtime
from squall.targets import client, guard

LOOPBACK = ipaddress.ip_address("127.0.0.1")
#: The exchange's timeout in these tests; each receiver drips 200 bytes, 0.1 s apart (20 s in all).
TIMEOUT = 0.5
DRIPPED = 200
#: Longest wait for a receiver to notice the cut (its next write fails), in seconds.
NOTICE_TIMEOUT = 10.0


def dripping_server(first: bytes, drip: bytes) -> Iterator[tuple[int, list[int], threading.Thread]]:
    """A server on 127.0.0.1 that reads the request, sends ``first``, then ``drip`` every 0.1 s, DRIPPED times: its
    port, the drips it sent before the client cut it, and its thread."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    sent: list[int] = []

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        count = 0
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(first)
                for _ in range(DRIPPED):
                    if stop.wait(0.1):
                        break
                    conn.sendall(drip)
                    count += 1
            except OSError:  # the client cut the connection: what the test expects
                pass
        sent.append(count)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], sent, thread
    stop.set()
    client.close_pools()
    server.close()


@pytest.fixture
def header_drip() -> Iterator[tuple[int, list[int], threading.Thread]]:
    """A valid status line, then one header byte every 0.1 s, for 20 s."""
    yield from dripping_server(b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a")


@pytest.mark.parametrize("headers", [{}, {"Connection": "close"}], ids=["kept-alive", "connection-close"])
def test_a_body_dripped_past_the_timeout_is_cut_at_the_deadline(receiver: Receiver, headers: dict[str, str]) -> None:
    # 20 s in all, 0.1 s per byte. With "Connection: close" http.client hands the socket to the response alone.
    receiver.answer(Reply(200, headers, b"x" * DRIPPED, action="drip", seconds=0.1))
    target = guard.parse_target(receiver.url())

    with pytest.raises(client.TransportError, match="within the timeout"):
        client.send(target, LOOPBACK, "POST", {}, b"{}", timeout=TIMEOUT)

    deadline = time.monotonic() + NOTICE_TIMEOUT
    while not receiver.dripped and time.monotonic() < deadline:
        time.sleep(0.05)
    assert receiver.dripped
    assert receiver.dripped[0] < DRIPPED


def test_headers_dripped_past_the_timeout_are_cut_at_the_deadline(
    header_drip: tuple[int, list[int], threading.Thread],
) -> None:
    port, sent, thread = header_drip
    target = guard.parse_target(f"http://127.0.0.1:{port}/hook")

    with pytest.raises(client.TransportError, match="within the timeout"):
        client.send(target, LOOPBACK, "POST", {}, b"{}", timeout=TIMEOUT)

    thread.join(NOTICE_TIMEOUT)
    assert sent
    assert sent[0] < DRIPPED


def test_a_cut_exchange_is_retried_and_the_next_attempt_gets_a_fresh_connection(
    app: Squall, rt: Runtime, receiver: Receiver
) -> None:
    receiver.answer(Reply(200, body=b"y" * DRIPPED, action="drip", seconds=0.1), Reply(200, body=b"done"))

    result = app.send_http(receiver.url(), {}, timeout=TIMEOUT, max_retries=1)
    rt.drain()

    assert result.state is State.SUCCESS
    outcome = result.get(timeout=0)
    assert outcome is not None
    assert outcome["body"] == "done"
    assert len(receiver.received) == 2


@pytest.fixture
def handshake_drip() -> Iterator[tuple[int, list[int], threading.Thread]]:
    """A TLS ClientHello answered with a record header (a handshake record of 16 KiB, announced), then one byte
    every 0.1 s."""
    yield from dripping_server(b"\x16\x03\x03\x40\x00", b"\x02")


def test_a_tls_handshake_dripped_past_the_timeout_is_cut_at_the_deadline(
    handshake_drip: tuple[int, list[int], threading.Thread],
) -> None:
    port, sent, thread = handshake_drip
    target = guard.parse_target(f"https://hooks.example.com:{port}/hook")

    # CPython bounds a whole TLS handshake by the socket's timeout, so its read timeout may end it first
    with pytest.raises(client.TransportError, match=r"within the timeout|timed out"):
        client.send(target, LOOPBACK, "POST", {}, b"{}", timeout=TIMEOUT)

    thread.join(NOTICE_TIMEOUT)
    assert sent
    assert sent[0] < DRIPPED


def _self_signed(directory: Path, host: str) -> tuple[Path, Path]:
    """A certificate for ``host`` that no CA signed, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_a_certificate_no_ca_signed_is_refused(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path, "hooks.example.com")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = socket.create_server(("127.0.0.1", 0))
    handshakes: list[str] = []

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
                handshakes.append("completed")
        except (OSError, ssl.SSLError) as exc:  # the client refused the certificate: what the test expects
            handshakes.append(type(exc).__name__)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    target = guard.parse_target(f"https://hooks.example.com:{server.getsockname()[1]}/hook")
    try:
        with pytest.raises(client.TransportError, match="CERTIFICATE_VERIFY_FAILED"):
            client.send(target, LOOPBACK, "POST", {}, b"{}", timeout=5)
        thread.join(NOTICE_TIMEOUT)
    finally:
        client.close_pools()
        server.close()

    assert handshakes
    assert handshakes != ["completed"]
