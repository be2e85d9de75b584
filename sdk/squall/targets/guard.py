"""The address guard: which HTTP targets Squall may call (SSRF protection).

Only ``http`` and ``https``; and only addresses that are globally routable. "Private" is decided by an explicit
table of networks (below) *and* ``ipaddress``'s ``is_global``, never by one stdlib predicate alone
(``is_private`` misses CGNAT, some multicast reads as global). IPv6 forms that embed an IPv4 address
(IPv4-mapped, -translated and -compatible, NAT64, 6to4, Teredo) are judged by that address too; any other IPv6
address must lie in global unicast ``2000::/3``.

A host that spells an IPv4 address (``2130706433``, ``0177.0.0.1``, ``0x7f.1``, ``127.1``) is read the way
``inet_aton`` and browsers read it, so no spelling slips through as a "hostname". The worker resolves every
hostname itself and refuses it if *any* of its addresses is refused, then connects to the address it checked
(:mod:`squall.targets.client`): nothing can change between the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeAlias
from urllib.parse import SplitResult, urlsplit

from squall.errors import TargetRefused

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
#: Resolves (host, port) to getaddrinfo's answer; :func:`socket.getaddrinfo` unless a test gives another.
Resolver: TypeAlias = Callable[..., Sequence[tuple[object, ...]]]

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

#: Networks never called, with what they are (IANA special-purpose registries, RFC 6890 and successors).
REFUSED_NETWORKS: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network'"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "carrier-grade NAT (RFC 6598)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (the instance metadata address among them)"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("255.255.255.255/32", "broadcast"),
    ("240.0.0.0/4", "reserved"),
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("64:ff9b:1::/48", "local-use NAT64"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignments (Teredo among them)"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local"),
    ("ff00::/8", "multicast"),
)
_TABLE = tuple((ipaddress.ip_network(net), what) for net, what in REFUSED_NETWORKS)
_MAPPED = ipaddress.ip_network("::ffff:0:0/96")
_TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")  # IPv4-translated (RFC 2765)
_COMPATIBLE = ipaddress.ip_network("::/96")
#: The only IPv6 space assigned for global unicast (IANA); the rest is reserved or special-purpose.
_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: its scheme, host (lowercase, IDNA), port, and the path with its query."""

    url: str
    scheme: str
    host: str
    port: int
    path: str

    @property
    def host_header(self) -> str:
        """The Host header: the host, with the port when it is not the scheme's default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    @property
    def origin(self) -> tuple[str, str, int]:
        """(scheme, host, port): what a redirect must keep for credentials to go along."""
        return (self.scheme, self.host, self.port)


def parse_target(url: str) -> Target:
    """Check the URL's form (scheme, host, port, no credentials); TargetRefused or ValueError says what is wrong."""
    if not isinstance(url, str) or not url:
        raise TargetRefused(str(url), "the URL must be a non-empty string")
    if any(ch in url for ch in "\r\n\t\x00 "):
        raise TargetRefused(url, "the URL holds whitespace or control characters")
    parts: SplitResult = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise TargetRefused(url, f"scheme {parts.scheme or '(none)'!r} is not http or https")
    if parts.username is not None or parts.password is not None:
        raise TargetRefused(url, "credentials in the URL are not sent; give them in headers=")
    try:
        port = parts.port or DEFAULT_PORTS[scheme]
    except ValueError as exc:
        raise TargetRefused(url, f"bad port ({exc})") from None
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise TargetRefused(url, "the URL has no host")
    if "%" in host:
        raise TargetRefused(url, "an IPv6 zone (interface) is not a routable address")
    if ":" not in host:
        try:
            host = host.encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise TargetRefused(url, f"host {host!r} is not a valid domain name") from None
    path = parts.path or "/"
    return Target(url, scheme, host, port, f"{path}?{parts.query}" if parts.query else path)


def ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` spells, in any form ``inet_aton`` and browsers accept; None for a hostname."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    return _ipv4_any_form(host)


def _ipv4_any_form(host: str) -> ipaddress.IPv4Address | None:
    """``a``, ``a.b``, ``a.b.c`` or ``a.b.c.d``, each part decimal, octal (0-prefixed) or hex (0x), as inet_aton."""
    labels = host.split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels = labels[:-1]
    if not 1 <= len(labels) <= 4:
        return None
    numbers: list[int] = []
    for label in labels:
        value = _number(label)
        if value is None:
            # A last label of digits makes a browser treat the host as an address (WHATWG "ends in a number").
            return None
        numbers.append(value)
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        # Out of range: not an address, and not a usable hostname either (browsers fail such a host).
        raise TargetRefused(host, "the host looks like an IPv4 address but is out of range")
    value = 0
    for n in leading:
        value = value * 256 + n
    value = value * 256 ** (5 - len(numbers)) + last
    return ipaddress.IPv4Address(value)


def _number(label: str) -> int | None:
    text = label.lower()
    try:
        if text.startswith("0x"):
            return int(text[2:] or "0", 16)
        if len(text) > 1 and text.startswith("0"):
            return int(text[1:], 8)
        return int(text, 10) if text.isdigit() else None
    except ValueError:
        return None


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` may not be called, or None when it is globally routable."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        inner = address_problem(embedded)
        if inner is not None:
            return f"{address} embeds {inner}"
        if address in _MAPPED or address in _TRANSLATED or address in _NAT64:
            return None  # another spelling of a public IPv4 address (6to4 and Teredo go on to the table)
    for network, what in _TABLE:
        if address.version == network.version and address in network:
            return f"{address} is {what} ({network})"
    if isinstance(address, ipaddress.IPv6Address) and address not in _GLOBAL_UNICAST:
        return f"{address} is outside IPv6 global unicast ({_GLOBAL_UNICAST})"
    if not address.is_global or address.is_multicast:
        return f"{address} is not globally routable"
    return None


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if (
        address in _MAPPED
        or address in _TRANSLATED
        or address in _NAT64
        or (address in _COMPATIBLE and int(address) > 1)
    ):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in _SIXTOFOUR:
        return address.sixtofour
    if address in _TEREDO and address.teredo is not None:
        return address.teredo[1]  # the client's address (the server's is checked by the table too)
    return None


def check_literal(target: Target, *, allow_private: bool = False) -> IPAddress | None:
    """Refuse a target whose host spells a refused address (at send time); its address, or None for a name."""
    address = ip_literal(target.host)
    if address is not None and not allow_private:
        problem = address_problem(address)
        if problem is not None:
            raise TargetRefused(target.url, problem)
    return address


def resolve(target: Target, *, allow_private: bool = False, resolver: Resolver | None = None) -> IPAddress:
    """The address to connect to: the literal, or the first of the host's addresses when *every* one passes.

    TargetRefused when one is refused (a name with a private answer among public ones is refused whole: the
    connection could go to any of them) or when the name does not resolve.
    """
    literal = check_literal(target, allow_private=allow_private)
    if literal is not None:
        return literal
    lookup = resolver or socket.getaddrinfo
    try:
        answers = lookup(target.host, target.port, 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise TargetRefused(target.url, f"host {target.host!r} does not resolve ({exc})") from None
    addresses: list[IPAddress] = []
    for answer in answers:
        sockaddr = answer[4]
        text = str(sockaddr[0]) if isinstance(sockaddr, tuple) and sockaddr else ""
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            raise TargetRefused(target.url, f"host {target.host!r} resolved to {text!r}, not an address") from None
        if not allow_private:
            problem = address_problem(address)
            if problem is not None:
                raise TargetRefused(target.url, f"host {target.host!r} resolves to {problem}")
        addresses.append(address)
    if not addresses:
        raise TargetRefused(target.url, f"host {target.host!r} has no address")
    return addresses[0]
