"""The address guard against hostile HTTP targets: every refused target is refused with no connection made.

The only server these tests connect to is their own on 127.0.0.1 (and, for the rebinding test, a listener on
127.0.0.2 that must stay untouched). Hostnames are answered by a stand-in resolver, never by real DNS.
"""

from __future__ import annotations

import ipaddress
import socket
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from http_receiver import Receiver, Reply, resolver_to

from squall import Squall, State, TargetRefused, local
from squall.local import Runtime
from squall.targets import TASK_NAME, client, guard, spec

#: IP-literal targets, each with a word of the cause the refusal must name.
HOSTILE_LITERALS: list[tuple[str, str]] = [
    ("http://127.0.0.1/", "loopback"),
    ("http://127.255.255.254:8080/x", "loopback"),
    ("http://2130706433/", "loopback"),
    ("http://0x7f.1/", "loopback"),
    ("http://0x7F000001/", "loopback"),
    ("http://0177.0.0.1/", "loopback"),
    ("http://017700000001/", "loopback"),
    ("http://127.1/", "loopback"),
    ("http://127.0.1/", "loopback"),
    ("http://127.0.0.1./", "loopback"),
    ("http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/", "loopback"),  # full-width digits
    ("http://\u2460\u2461\u2466.0.0.1/", "loopback"),  # circled digits, folded by IDNA
    ("http://0x7f.0.0.0x1/", "loopback"),  # hex and decimal mixed
    ("http://127.000.000.001/", "loopback"),  # zero-padded (read as octal, as inet_aton does)
    ("http://[0:0::1]/", "loopback"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "loopback"),
    ("http://[0:0:0:0:0:ffff:7f00:1]/", "loopback"),
    ("http://[::127.0.0.1]/", "loopback"),  # IPv4-compatible
    ("http://[::ffff:0:7f00:1]/", "loopback"),  # IPv4-translated
    ("http://[64:ff9b::7f00:1]/", "loopback"),  # NAT64
    ("http://[2002:7f00:1::]/", "loopback"),  # 6to4
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", "loopback"),  # Teredo, client 127.0.0.1
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://0xa9.0xfe.0xa9.0xfe/", "link-local"),
    ("http://2852039166/", "link-local"),
    ("http://[::ffff:169.254.169.254]/", "link-local"),
    ("http://[2002:a9fe:a9fe::1]/", "link-local"),
    ("http://[fd00:ec2::254]/", "unique local"),  # the IPv6 instance metadata address
    ("http://[fe80::1]/", "link-local"),
    ("http://10.0.0.1/", "private"),
    ("http://172.16.0.1/", "private"),
    ("http://172.31.255.255/", "private"),
    ("http://192.168.1.1/", "private"),
    ("http://0300.0250.0.1/", "private"),
    ("http://3232235521/", "private"),
    ("http://[64:ff9b::a00:1]/", "private"),
    ("http://[fc00::1]/", "unique local"),
    ("http://100.64.0.1/", "carrier-grade NAT"),
    ("http://100.127.255.254/", "carrier-grade NAT"),
    ("http://[::ffff:100.64.0.1]/", "carrier-grade NAT"),
    ("http://224.0.0.1/", "multicast"),
    ("http://239.255.255.250:1900/", "multicast"),
    ("http://233.252.0.1/", "multicast"),
    ("http://[ff02::1]/", "multicast"),
    ("http://[ff0e::1]/", "multicast"),
    ("http://255.255.255.255/", "broadcast"),
    ("http://0.0.0.0/", "'this network'"),
    ("http://0/", "'this network'"),
    ("http://[::]/", "unspecified"),
    ("http://240.0.0.1/", "reserved"),
    ("http://192.0.0.8/", "IETF protocol assignments"),
    ("http://192.0.2.1/", "documentation"),
    ("http://198.18.0.1/", "benchmarking"),
    ("http://[2001:db8::1]/", "documentation"),
    ("http://[100::1]/", "discard-only"),
    ("http://[fec0::1]/", "site-local"),
    ("http://[4000::1]/", "global unicast"),
    ("http://[64:ff9b:1::1]/", "local-use NAT64"),
]

#: Hostnames whose (stand-in) DNS answers are refused, with a word of the cause.
HOSTILE_NAMES: list[tuple[str, tuple[str, ...], str]] = [
    ("localhost", ("127.0.0.1",), "loopback"),
    ("metadata.example.com", ("169.254.169.254",), "link-local"),
    ("v6-loopback.example.com", ("::1",), "loopback"),
    ("mapped.example.com", ("::ffff:10.0.0.5",), "private"),
    ("internal.example.com", ("10.1.2.3",), "private"),
    ("cgnat.example.com", ("100.100.100.200",), "carrier-grade NAT"),
    ("mixed.example.com", ("93.184.215.14", "192.168.0.10"), "private"),  # one bad answer refuses the name
    ("multicast.example.com", ("ff05::2",), "multicast"),
    ("ula.example.com", ("fd12:3456::1",), "unique local"),
    ("nat64.example.com", ("64:ff9b::a9fe:a9fe",), "link-local"),
]


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every connection attempted (socket connect, urllib3 connect, pool creation); each one also fails."""
    attempted: list[str] = []

    def refuse(what: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> Any:
            attempted.append(f"{what}{args[1:] if what == 'socket.connect' else args}")
            raise AssertionError(f"a connection was attempted: {what}{args}")

        return record

    monkeypatch.setattr(socket.socket, "connect", refuse("socket.connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("socket.create_connection"))
    monkeypatch.setattr("urllib3.util.connection.create_connection", refuse("urllib3"))
    monkeypatch.setattr(client, "pool_for", refuse("client.pool_for"))
    return attempted


@pytest.fixture
def guarded() -> Iterator[tuple[Squall, Runtime]]:
    """An app on the local runtime with the address rule on (the default)."""
    app = Squall(f"test-{uuid.uuid4().hex[:8]}")
    with local.run(app) as runtime:
        yield app, runtime


def test_the_table_is_large_enough() -> None:
    assert len(HOSTILE_LITERALS) + len(HOSTILE_NAMES) >= 40
    assert len({url for url, _ in HOSTILE_LITERALS}) == len(HOSTILE_LITERALS)


@pytest.mark.parametrize(("url", "cause"), HOSTILE_LITERALS)
def test_an_ip_literal_target_is_refused_when_sent(
    guarded: tuple[Squall, Runtime], connections: list[str], url: str, cause: str
) -> None:
    app, _ = guarded

    with pytest.raises(TargetRefused, match="refused") as refusal:
        app.send_http(url, {"x": 1})

    assert cause in refusal.value.cause
    assert connections == []


@pytest.mark.parametrize(("url", "cause"), HOSTILE_LITERALS)
def test_an_ip_literal_target_that_reaches_the_queue_is_dead_at_delivery(
    guarded: tuple[Squall, Runtime], connections: list[str], url: str, cause: str
) -> None:
    app, rt = guarded
    request = spec.build(url, {"x": 1})  # the form check only: as a producer without the guard would send it

    result = app.send_task(TASK_NAME, [request.to_json(), request.target.host], max_retries=5)
    rt.drain()

    assert result.state is State.DEAD
    record = result.record
    assert record is not None
    assert record.attempt == 1
    assert record.reason is not None
    assert "refused" in record.reason
    assert cause in record.reason
    assert connections == []


@pytest.mark.parametrize(("host", "answers", "cause"), HOSTILE_NAMES)
def test_a_hostname_resolving_to_a_refused_address_is_dead_on_its_first_attempt(
    guarded: tuple[Squall, Runtime], connections: list[str], host: str, answers: tuple[str, ...], cause: str
) -> None:
    app, rt = guarded
    app.http_targets.resolver = resolver_to(*answers)

    result = app.send_http(f"https://{host}/hook", {"x": 1}, max_retries=5)  # a name passes the send-time check
    rt.drain()

    assert result.state is State.DEAD
    record = result.record
    assert record is not None
    assert record.attempt == 1
    assert record.reason is not None
    assert "refused" in record.reason
    assert host in record.reason
    assert cause in record.reason
    assert connections == []


def test_a_name_that_does_not_resolve_is_refused_without_a_connection(
    guarded: tuple[Squall, Runtime], connections: list[str]
) -> None:
    app, rt = guarded

    def no_such_host(*_: Any) -> Any:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    app.http_targets.resolver = no_such_host

    result = app.send_http("https://nowhere.invalid/hook", {})
    rt.drain()

    assert result.state is State.DEAD
    record = result.record
    assert record is not None
    assert record.reason is not None
    assert "does not resolve" in record.reason
    assert connections == []


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"])
def test_a_public_address_passes_the_guard(address: str) -> None:
    assert guard.address_problem(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1:70/", "ws://127.0.0.1/"]
)
def test_the_private_address_opt_in_never_relaxes_the_scheme_rule(url: str) -> None:
    app = Squall(f"test-{uuid.uuid4().hex[:8]}")
    with local.run(app, allow_private_targets=True):
        assert app.http_targets.allow_private is True
        with pytest.raises(TargetRefused, match=r"refused.*scheme"):
            app.send_http(url, {})
    assert app.http_targets.allow_private is False


def test_the_opt_in_lets_a_private_address_through(receiver: Receiver) -> None:
    app = Squall(f"test-{uuid.uuid4().hex[:8]}")
    with local.run(app, allow_private_targets=True) as rt:
        result = app.send_http(receiver.url(), {})
        rt.drain()

        assert result.state is State.SUCCESS


def _as_public(monkeypatch: pytest.MonkeyPatch, public: str) -> list[str]:
    """Make ``public`` (a global address the guard accepts) reach the receiver on 127.0.0.1; the addresses used."""
    used: list[str] = []
    real_pool_for = client.pool_for

    def pool_for(target: guard.Target, address: guard.IPAddress) -> Any:
        used.append(str(address))
        assert str(address) == public, f"a connection was attempted to {address}"
        return real_pool_for(target, ipaddress.ip_address("127.0.0.1"))

    monkeypatch.setattr(client, "pool_for", pool_for)
    return used


@pytest.mark.parametrize(
    ("location", "cause"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://127.1:{port}/hook", "loopback"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://internal.example.com/admin", "private"),
    ],
)
def test_a_redirect_to_a_refused_address_is_refused_without_following_it(
    guarded: tuple[Squall, Runtime], receiver: Receiver, monkeypatch: pytest.MonkeyPatch, location: str, cause: str
) -> None:
    app, rt = guarded
    public = "93.184.215.14"
    names = {"hooks.example.com": public, "internal.example.com": "10.20.30.40"}
    app.http_targets.resolver = lambda host, port, *_: resolver_to(names[host])(host, port)
    used = _as_public(monkeypatch, public)
    receiver.answer(Reply(302, {"Location": location.format(port=receiver.port)}))

    result = app.send_http(f"http://hooks.example.com:{receiver.port}/hook", {}, max_retries=5)
    rt.drain()

    assert result.state is State.DEAD
    record = result.record
    assert record is not None
    assert record.attempt == 1
    assert record.reason is not None
    assert "refused" in record.reason
    assert cause in record.reason
    assert used == [public]
    assert len(receiver.received) == 1


def test_the_connection_goes_to_the_checked_address_even_if_dns_answers_otherwise_later(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A second listener on the same port of 127.0.0.2: where a rebinding answer would send the connection.
    decoy = socket.create_server(("127.0.0.2", receiver.port))
    decoy.setblocking(False)
    lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def rebinding(host: Any, port: Any, *rest: Any, **kwargs: Any) -> Any:
        if host != "rebind.example.com":
            return real_getaddrinfo(host, port, *rest, **kwargs)
        lookups.append(host)
        return resolver_to("127.0.0.1" if len(lookups) == 1 else "127.0.0.2")(host, port)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)  # any lookup anywhere, the client's included
    app = Squall(f"test-{uuid.uuid4().hex[:8]}")
    try:
        with local.run(app, allow_private_targets=True) as rt:
            app.http_targets.resolver = rebinding
            first = app.send_http(f"http://rebind.example.com:{receiver.port}/hook", {"n": 1})
            rt.drain()

            assert first.state is State.SUCCESS
            assert lookups == ["rebind.example.com"]
            (request,) = receiver.received
            assert request.headers["host"] == f"rebind.example.com:{receiver.port}"
            with pytest.raises(BlockingIOError):
                decoy.accept()
    finally:
        decoy.close()


def test_resolve_checks_every_answer_and_pins_the_first() -> None:
    target = guard.parse_target("https://api.example.com/x")

    address = guard.resolve(target, resolver=resolver_to("93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"))

    assert str(address) == "93.184.215.14"
    with pytest.raises(TargetRefused, match="refused"):
        guard.resolve(target, resolver=resolver_to("93.184.215.14", "fd00::1"))


def test_an_out_of_range_address_spelling_is_refused() -> None:
    with pytest.raises(TargetRefused, match="out of range"):
        guard.check_literal(guard.parse_target("http://1.2.3.256/"))
