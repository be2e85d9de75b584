"""The dashboard's defences: CSRF tokens on every POST, a strict Content-Security-Policy, loopback Host names.

Each process draws a secret that signs the session cookie; each session holds a random token that every form
carries and every POST must echo (compared in constant time). The page never runs script (``script-src 'none'``)
and loads styles only from itself, so text that slipped past escaping could still not execute. Bound to a
loopback address, requests must name a loopback host, which stops DNS-rebinding pages from reaching it.
"""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, Response, abort, request, session

#: The form field (and session key) holding the CSRF token.
CSRF_FIELD = "csrf_token"
#: The default bind address: loopback only, so the dashboard is reachable from this machine alone.
DEFAULT_HOST = "127.0.0.1"
#: Host names a loopback-bound dashboard answers to.
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
#: Sent with every response: no script at all, styles and images from this origin, forms posted here only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; script-src 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def csrf_token() -> str:
    """This session's CSRF token, drawn on first use."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[CSRF_FIELD] = token
    return token


def install(app: Flask, *, host: str = DEFAULT_HOST) -> None:
    """Add the checks and headers to ``app``, served on ``host``."""
    app.secret_key = secrets.token_bytes(32)
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict")
    loopback = host in LOOPBACK_NAMES

    @app.before_request
    def check() -> None:
        if loopback and request.host.rsplit(":", 1)[0] not in LOOPBACK_NAMES and request.host not in LOOPBACK_NAMES:
            abort(400, description=f"host {request.host!r} is not a loopback name: open http://{host}/ instead")
        if request.method == "POST":
            sent = request.form.get(CSRF_FIELD, "")
            expected = session.get(CSRF_FIELD)
            if not isinstance(expected, str) or not hmac.compare_digest(sent, expected):
                abort(400, description="the form's CSRF token is missing or stale: reload the page and try again")

    @app.after_request
    def headers(response: Response) -> Response:
        response.headers.update(_HEADERS)
        return response

    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["csrf_field"] = CSRF_FIELD
