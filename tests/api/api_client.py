"""An in-process client of the REST API: v2 events into the resolver, each answer checked against the OpenAPI
document's schema for its route and status."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from squall.api import openapi

TOKEN = "test-token-0123456789abcdef"
DOCUMENT = openapi.document()


@dataclass(frozen=True)
class Answer:
    """One response: its status, headers and JSON body."""

    status: int
    headers: dict[str, str]
    body: Any


def operation_for(method: str, path: str) -> dict[str, Any] | None:
    """The document's operation whose path template matches ``path``."""
    for template, item in DOCUMENT["paths"].items():
        pattern = "^" + re.sub(r"\\\{[a-z_]+\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path) and method.lower() in item:
            return dict(item[method.lower()])
    return None


def check_against_document(method: str, path: str, answer: Answer, sent: str | None = None) -> None:
    """The answer's status is documented for its operation, and its body fits the documented schema; a request
    the API accepted (2xx) fits the documented request body too."""
    operation = operation_for(method, path)
    if operation is None:
        assert answer.status == 404, f"{method} {path} is not in the OpenAPI document but answered {answer.status}"
        return
    responses = operation["responses"]
    assert str(answer.status) in responses, f"{method} {path} answered {answer.status}, not in {sorted(responses)}"
    ref = responses[str(answer.status)]["content"]["application/json"]["schema"]["$ref"]
    jsonschema.Draft202012Validator({**DOCUMENT, "$ref": ref}).validate(answer.body)
    if 200 <= answer.status < 300 and "requestBody" in operation:
        request = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        jsonschema.Draft202012Validator({**DOCUMENT, "$ref": request}).validate(json.loads(sent or "null"))


def v2_event(method: str, path: str, body: str | None, headers: dict[str, str]) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) event, as the front door sends it."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in headers.items()},
        "requestContext": {
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
            "requestId": "r-1",
            "routeKey": "$default",
            "stage": "$default",
        },
        "body": body,
        "isBase64Encoded": False,
    }


class Client:
    """Calls the resolver in process; every answer is checked against the OpenAPI document."""

    def __init__(self, resolver: APIGatewayHttpResolver) -> None:
        self.resolver = resolver

    def call(
        self,
        method: str,
        path: str,
        doc: Any = None,
        *,
        raw: str | None = None,
        token: str | None = TOKEN,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        sent = dict(headers or {})
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        body = raw if raw is not None else (None if doc is None else json.dumps(doc))
        if body is not None:
            sent.setdefault("Content-Type", "application/json")
        out = self.resolver.resolve(v2_event(method, path, body, sent), None)  # type: ignore[arg-type]
        answer = Answer(out["statusCode"], dict(out.get("headers") or {}), json.loads(out["body"]))
        check_against_document(method, path, answer, body)
        return answer

    def get(self, path: str, **kw: Any) -> Answer:
        return self.call("GET", path, **kw)

    def post(self, path: str, doc: Any = None, **kw: Any) -> Answer:
        return self.call("POST", path, doc, **kw)

    def delete(self, path: str, **kw: Any) -> Answer:
        return self.call("DELETE", path, **kw)
