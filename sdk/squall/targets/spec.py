"""The request an HTTP-target task makes, as plain JSON data: ``{url, method, headers, payload, timeout}``.

It is the built-in task's argument, so it travels in the envelope like any task's arguments (a schedule, a
workflow step or the REST API carries it unchanged). :func:`build` checks it when it is sent; the worker reads
it back with :func:`read`, which refuses anything :func:`build` would not have made.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from squall import limits
from squall.errors import InvalidArguments
from squall.targets.guard import Target, parse_target

#: Methods a target may be called with.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
#: Methods sent without a body when the payload is None.
BODYLESS = ("GET", "HEAD", "DELETE", "OPTIONS")
#: Headers Squall sets itself (the signature, framing, the address it checked); a request may not give them.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "content-type", "accept-encoding", "te", "upgrade"}
    | {"webhook-id", "webhook-timestamp", "webhook-signature"}
)
#: A header name (RFC 9110 token); values may not hold CR, LF or NUL.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP target call: where, how, and the JSON payload sent as its body."""

    url: str
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)
    payload: Any = None
    timeout: float = limits.HTTP_TARGET_DEFAULT_TIMEOUT_SECONDS

    @property
    def target(self) -> Target:
        """The parsed URL (checked when the request was built)."""
        return parse_target(self.url)

    def body(self) -> bytes:
        """The body: the payload as compact JSON (UTF-8), or nothing for a bodyless method with no payload."""
        if self.payload is None and self.method in BODYLESS:
            return b""
        return json.dumps(self.payload, separators=(",", ":"), ensure_ascii=False).encode()

    def to_json(self) -> dict[str, Any]:
        """The spec as the built-in task's argument."""
        return {
            "url": self.url,
            "method": self.method,
            "headers": dict(self.headers),
            "payload": self.payload,
            "timeout": self.timeout,
        }


def build(
    url: str,
    payload: Any = None,
    *,
    method: str = "POST",
    headers: Mapping[str, str] | None = None,
    timeout: float = limits.HTTP_TARGET_DEFAULT_TIMEOUT_SECONDS,
) -> HttpRequest:
    """A checked request; TargetRefused for a URL Squall will not call, InvalidArguments for the rest."""
    parse_target(url)
    verb = method.upper() if isinstance(method, str) else method
    if verb not in METHODS:
        raise InvalidArguments(f"HTTP method {method!r} is not supported; use one of {', '.join(METHODS)}")
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not _TOKEN.fullmatch(name):
            raise InvalidArguments(f"header name {name!r} is not a valid HTTP header name")
        if name.lower() in RESERVED_HEADERS:
            raise InvalidArguments(f"header {name!r} is set by Squall; leave it out of headers=")
        if not isinstance(value, str) or any(ch in value for ch in "\r\n\x00"):
            raise InvalidArguments(f"header {name!r} must be a string without CR, LF or NUL")
        checked[name] = value
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or not 0 < timeout <= limits.HTTP_TARGET_MAX_TIMEOUT_SECONDS
    ):
        raise InvalidArguments(
            f"timeout={timeout!r}: give seconds above 0 and at most {limits.HTTP_TARGET_MAX_TIMEOUT_SECONDS}"
        )
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidArguments(f"the payload of an HTTP target must be a JSON value: {exc}") from None
    return HttpRequest(url, verb, checked, payload, float(timeout))


def read(doc: object) -> HttpRequest:
    """The request a task's argument holds; InvalidArguments (the task goes DEAD) when it is not one."""
    if not isinstance(doc, dict) or not isinstance(doc.get("url"), str):
        raise InvalidArguments('an HTTP target task takes {"url", "method", "headers", "payload", "timeout"}')
    unknown = set(doc) - {"url", "method", "headers", "payload", "timeout"}
    if unknown:
        raise InvalidArguments(f"unknown fields in an HTTP target request: {', '.join(sorted(unknown))}")
    headers = doc.get("headers") or {}
    if not isinstance(headers, dict):
        raise InvalidArguments("the headers of an HTTP target request must be an object of strings")
    return build(
        doc["url"],
        doc.get("payload"),
        method=doc.get("method") or "POST",
        headers=headers,
        timeout=doc.get("timeout") or limits.HTTP_TARGET_DEFAULT_TIMEOUT_SECONDS,
    )
