"""The deployed entry point, squall.functions.api.handler's factory, answering API Gateway HTTP API 2.0 events
shaped as the front door sends them: IAM-authorized, and bearer tokens read from Secrets Manager."""

from __future__ import annotations

import base64
import json
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest

from squall import config, local
from squall.api.routes import handler_from_env
from squall.errors import ConfigurationError

ENTRY_APP = """
from squall import Squall

app = Squall("entry")


@app.task(name="add")
def add(a: int, b: int) -> int:
    return a + b
"""
TOKEN = "entry-token-0123456789abcdef"


def gateway_event(method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A payload format 2.0 event as API Gateway sends it for the ``ANY /{proxy+}`` route (body base64-encoded,
    as it is for a request without a text content type it recognises), with an IAM authorizer's context."""
    raw = b"" if body is None else json.dumps(body).encode()
    return {
        "version": "2.0",
        "routeKey": "ANY /{proxy+}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "*/*",
            "content-length": str(len(raw)),
            "content-type": "application/json",
            "host": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "user-agent": "curl/8.5.0",
            "x-amzn-trace-id": "Root=1-674ea3c0-0123456789abcdef01234567",
            "x-forwarded-for": "203.0.113.7",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **(headers or {}),
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "authorizer": {
                "iam": {
                    "accessKey": "AKIAIOSFODNN7EXAMPLE",
                    "accountId": "123456789012",
                    "callerId": "AIDAEXAMPLE",
                    "cognitoIdentity": None,
                    "principalOrgId": None,
                    "userArn": "arn:aws:iam::123456789012:user/ci",
                    "userId": "AIDAEXAMPLE",
                }
            },
            "domainName": "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": "a1b2c3d4e5",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "ANY /{proxy+}",
            "stage": "$default",
            "time": "03/Dec/2026:07:00:00 +0000",
            "timeEpoch": 1796281200000,
        },
        "pathParameters": {"proxy": path.lstrip("/")},
        "body": base64.b64encode(raw).decode() if raw else None,
        "isBase64Encoded": bool(raw),
    }


@pytest.fixture
def entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The app module the function imports from SQUALL_APP (a fresh name per test: nothing cached between them)."""
    name = f"entry_app_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(ENTRY_APP))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(config.ENV_APP, f"{name}:app")
    module = __import__(name)
    yield module
    sys.modules.pop(name, None)


def answer(result: dict[str, Any]) -> tuple[int, Any]:
    return result["statusCode"], json.loads(result["body"])


def test_an_iam_authorized_event_sends_a_task_and_reads_it_back(
    entry: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(config.ENV_API_AUTH, "iam")
    with local.run(entry.app) as rt:
        handler = handler_from_env()

        status, sent = answer(handler(gateway_event("POST", "/v1/tasks", {"task": "add", "args": [2, 3]}), None))
        rt.drain()
        read_status, read = answer(handler(gateway_event("GET", f"/v1/tasks/{sent['id']}"), None))

        assert status == 202
        assert sent["state"] == "PENDING"
        assert read_status == 200
        assert read["state"] == "SUCCESS"
        assert read["result"] == 5


def test_bearer_tokens_are_read_from_the_secret_and_checked(entry: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    with local.run(entry.app) as rt:
        secrets = boto3.client("secretsmanager", region_name=rt.settings.region)
        arn = secrets.create_secret(Name=f"api-{uuid.uuid4().hex[:8]}", SecretString=json.dumps([TOKEN]))["ARN"]
        monkeypatch.setenv(config.ENV_API_TOKEN_SECRET, arn)
        handler = handler_from_env()
        doc = {"task": "add", "args": [1, 1]}

        accepted, _ = answer(
            handler(gateway_event("POST", "/v1/tasks", doc, {"authorization": f"Bearer {TOKEN}"}), None)
        )
        refused, body = answer(
            handler(gateway_event("POST", "/v1/tasks", doc, {"authorization": "Bearer wrong"}), None)
        )
        public, contract = answer(handler(gateway_event("GET", "/v1/openapi.json"), None))

        assert accepted == 202
        assert refused == 401
        assert "not valid" in body["error"]
        assert public == 200
        assert contract["openapi"].startswith("3.1")


def test_the_function_refuses_to_start_with_neither_a_token_secret_nor_iam(
    entry: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(config.ENV_API_TOKEN_SECRET, raising=False)
    monkeypatch.delenv(config.ENV_API_AUTH, raising=False)

    with pytest.raises(ConfigurationError, match=config.ENV_API_TOKEN_SECRET):
        handler_from_env()
