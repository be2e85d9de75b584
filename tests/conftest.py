"""Fixtures for Squall's core tests: a sandboxed AWS environment, a fresh app, and the local runtime.

Layering, as in moto's docs: ``app`` (a fresh Squall per test) → ``tasks`` (a test module declares its
tasks on ``app`` by overriding this fixture) → ``rt`` (the app provisioned on moto with a fake clock, after
its tasks are declared, so derived settings such as the redrive count see them) → ``calls`` (every SQS and
DynamoDB request the app makes, counted).
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import settings

from squall import Squall, local
from squall.local import Runtime

# Hypothesis keeps nothing in the repository: no example database, and its caches in the temp dir.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(Path(tempfile.gettempdir()) / "squall-hypothesis"))
settings.register_profile("squall", database=None, deadline=None)
settings.load_profile("squall")

#: Environment variables that could point a test at a real account, or at settings from elsewhere.
_LEAKY = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ENDPOINT_URL",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "SQUALL_CONFIG",
    "SQUALL_CONFIG_PARAMETER",
    "SQUALL_APP",
)


#: A path that never exists: boto3 reads no config or credentials file from the developer's machine.
_NO_FILE = str(Path(tempfile.gettempdir()) / "squall-tests-no-such-dir" / "aws")


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_loader() -> Iterator[None]:
    """All boto3 sessions share one botocore loader, so service models are parsed once per run.

    Speed only (each local runtime opens a new session, and parsing the SQS and DynamoDB models again
    took most of a test's time): the loader reads botocore's static JSON files and caches them unchanged.
    """
    import botocore.session

    original = botocore.session.create_loader
    loaders: dict[str | None, Any] = {}

    def create_loader(search_path_string: str | None = None) -> Any:
        if search_path_string not in loaders:
            loaders[search_path_string] = original(search_path_string)
        return loaders[search_path_string]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", create_loader)
        yield


@pytest.fixture(scope="session", autouse=True)
def no_real_aws() -> Iterator[None]:
    """Any request that moto did not answer and that is not for a loopback server fails the test."""
    from urllib.parse import urlsplit

    from botocore.httpsession import URLLib3Session

    original = URLLib3Session.send

    def send(self: URLLib3Session, request: Any) -> Any:
        host = urlsplit(request.url).hostname
        if host not in ("127.0.0.1", "localhost"):
            raise AssertionError(f"a test tried to reach {request.url} outside moto")
        return original(self, request)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(URLLib3Session, "send", send)
        yield


@pytest.fixture(autouse=True)
def aws_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region; no profile, config file or endpoint from the developer's machine."""
    for name in _LEAKY:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", _NO_FILE)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", _NO_FILE)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def no_payload_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps as if deployed without a payload bucket: nothing is offloaded, so SQS's and the item's limits refuse."""
    monkeypatch.setattr("squall.offload.objects.PayloadObjects.bucket", property(lambda self: ""))


@pytest.fixture
def app() -> Squall:
    """A fresh app per test, so task names never clash between tests."""
    return Squall(f"test-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    """The tasks a test module declares on ``app``; override it in the module."""
    return SimpleNamespace()


@pytest.fixture
def rt(app: Squall, tasks: SimpleNamespace) -> Iterator[Runtime]:
    """``app`` (with its ``tasks``) running on moto, with a fake clock."""
    with local.run(app) as runtime:
        yield runtime


@dataclass
class ApiCalls:
    """Requests an app's SQS and DynamoDB clients made, in order, with their parameters."""

    made: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        body = params.get("body") or b"{}"
        self.made.append((model.service_model.service_name, model.name, json.loads(body)))

    def count(self, operation: str | None = None, *, service: str | None = None) -> int:
        """How many requests of ``operation`` (or of every operation of ``service``) were made."""
        return sum(
            1
            for svc, op, _ in self.made
            if (operation is None or op == operation) and (service is None or svc == service)
        )

    def params(self, operation: str) -> list[dict[str, Any]]:
        """The parameters of every ``operation`` request, in order."""
        return [params for _, op, params in self.made if op == operation]

    def by_operation(self, service: str | None = None) -> dict[str, int]:
        """Request counts keyed by operation name (of one ``service``, or of all)."""
        counts: dict[str, int] = {}
        for svc, op, _ in self.made:
            if service is None or svc == service:
                counts[op] = counts.get(op, 0) + 1
        return counts

    def reset(self) -> None:
        """Forget the requests so far."""
        self.made.clear()


@pytest.fixture
def calls(app: Squall, rt: Runtime) -> ApiCalls:
    """Counts every request the app's SQS and DynamoDB clients make (botocore ``before-call`` hooks)."""
    recorder = ApiCalls()
    app.sqs.meta.events.register("before-call.sqs", recorder.record)
    app.dynamodb.meta.events.register("before-call.dynamodb", recorder.record)
    return recorder


@pytest.fixture
def send_raw(rt: Runtime) -> Callable[..., str]:
    """Put a raw body straight on a queue, as a foreign or broken producer would; returns its message id."""

    def send(body: str, queue: str = "default") -> str:
        sqs = rt.session.client("sqs", region_name=rt.settings.region)
        return sqs.send_message(QueueUrl=rt.settings.queue(queue).url, MessageBody=body)["MessageId"]

    return send


@pytest.fixture
def envelope_body(rt: Runtime) -> Callable[..., str]:
    """A hand-built version-1 envelope body; keyword arguments override or add fields."""

    def build(task: str, /, *, args: list[Any] | None = None, **fields: Any) -> str:
        doc: dict[str, Any] = {
            "v": 1,
            "id": str(uuid.uuid4()),
            "task": task,
            "args": args or [],
            "kwargs": {},
            "queue": "default",
            "created": rt.clock.now(),
        }
        doc.update(fields)
        return json.dumps(doc)

    return build
