"""Serving the REST API's resolver on 127.0.0.1: each HTTP request becomes a v2 (HTTP API) event, and back.

``squall dev`` starts :class:`LocalApi` beside moto, so a client sees locally what it sees behind API Gateway:
the same routes, statuses and bodies. Werkzeug (installed with ``moto[server]``) runs a threaded server; the
resolver keeps the current request on itself, so requests are resolved one at a time.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from squall.api.payloads import MAX_BODY_BYTES
from squall.api.routes import PREFIX, make_resolver

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from squall.api.auth import TokenSource
    from squall.app import Squall

#: Only loopback: the dev server is never reachable from another machine.
HOST = "127.0.0.1"

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _Quiet(WSGIRequestHandler):
    """No access log on stderr: ``squall dev`` prints task state changes there."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Log nothing."""


def event_from_environ(environ: dict[str, Any]) -> dict[str, Any]:
    """The API Gateway HTTP API (payload format 2.0) event for one WSGI request; the body read up to the cap + 1."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    raw = environ["wsgi.input"].read(min(length, MAX_BODY_BYTES + 1)) if length else b""
    headers = {
        key[5:].replace("_", "-").lower(): str(value) for key, value in environ.items() if key.startswith("HTTP_")
    }
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = str(environ[key])
    path = environ.get("PATH_INFO") or "/"
    query = environ.get("QUERY_STRING") or ""
    pairs = [part.split("=", 1) for part in query.split("&") if part]
    method = environ["REQUEST_METHOD"]
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": {pair[0]: pair[-1] if len(pair) == 2 else "" for pair in pairs} or None,
        "requestContext": {
            "http": {
                "method": method,
                "path": path,
                "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": environ.get("REMOTE_ADDR", HOST),
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": int(time.time() * 1000),
        },
        # Not UTF-8 cannot be JSON either: the replacement characters make the parse fail with a 400.
        "body": raw.decode("utf-8", errors="replace") if raw else None,
        "isBase64Encoded": False,
    }


def wsgi_app(resolver: APIGatewayHttpResolver) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    """A WSGI application answering each request with ``resolver``."""
    lock = threading.Lock()

    def application(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        event = event_from_environ(environ)
        with lock:
            answer = resolver.resolve(event, cast("LambdaContext", None))  # no Lambda here
        body = (answer.get("body") or "").encode()
        headers = [(k, str(v)) for k, v in (answer.get("headers") or {}).items()]
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{answer['statusCode']} {_reason(answer['statusCode'])}", headers)
        return [body]

    return application


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class LocalApi:
    """The API of ``app`` served on 127.0.0.1 in a thread, until :meth:`stop`."""

    def __init__(self, app: Squall, tokens: TokenSource, *, port: int = 0) -> None:
        self._server: BaseWSGIServer = make_server(
            HOST, port, wsgi_app(make_resolver(app, tokens)), threaded=True, request_handler=_Quiet
        )
        self.port = self._server.server_port
        #: The API's base URL, ``http://127.0.0.1:<port>/v1``.
        self.url = f"http://{HOST}:{self.port}{PREFIX}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="squall-api", daemon=True)

    def start(self) -> LocalApi:
        """Start serving; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> LocalApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
