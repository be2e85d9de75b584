"""docs/http-tasks.md's receiver, run as written: it accepts Squall's deliveries and refuses altered ones."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from werkzeug.serving import make_server

from squall import Squall, State, local, new_webhook_secret
from squall.targets import client

DOC = Path(__file__).resolve().parents[2] / "docs" / "http-tasks.md"
_RECEIVER_BLOCK = re.compile(r"^```python receiver\n(.*?)^```", re.MULTILINE | re.DOTALL)


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    value = new_webhook_secret()
    monkeypatch.setenv("WEBHOOK_SECRET", value)
    return value


@pytest.fixture
def documented(secret: str, tmp_path: Path) -> ModuleType:
    """The doc's receiver block, written to a file and imported as a module."""
    (block,) = _RECEIVER_BLOCK.findall(DOC.read_text())
    path = tmp_path / "doc_receiver.py"
    path.write_text(block)
    module = ModuleType("doc_receiver")
    module.__file__ = str(path)
    exec(compile(block, str(path), "exec"), module.__dict__)  # noqa: S102  # the project's own documentation
    return module


@pytest.fixture
def served(documented: ModuleType) -> Iterator[str]:
    """The doc's Flask receiver on 127.0.0.1; its base URL."""
    server = make_server("127.0.0.1", 0, documented.receiver, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    client.close_pools()
    server.shutdown()


def test_the_documented_receiver_accepts_a_signed_delivery(secret: str, served: str) -> None:
    app = Squall(f"doc-{uuid.uuid4().hex[:8]}", webhook_secret=secret)
    with local.run(app, allow_private_targets=True) as rt:
        result = app.send_http(f"{served}/hooks/user-created", {"user_id": "123"})
        rt.drain()

        assert result.state is State.SUCCESS
        outcome: Any = result.get(timeout=0)
        assert outcome["status"] == 200
        assert '"welcomed":"123"' in outcome["body"].replace(" ", "")


def test_the_documented_receiver_refuses_a_delivery_signed_with_another_secret(served: str) -> None:
    app = Squall(f"doc-{uuid.uuid4().hex[:8]}", webhook_secret=new_webhook_secret())
    with local.run(app, allow_private_targets=True) as rt:
        result = app.send_http(f"{served}/hooks/user-created", {"user_id": "123"}, max_retries=3)
        rt.drain()

        assert result.state is State.DEAD
        record = result.record
        assert record is not None
        assert record.attempt == 1
        assert record.reason is not None
        assert "answered 400" in record.reason


def test_the_documented_receiver_accepts_a_retry_of_a_handled_delivery(
    documented: ModuleType, secret: str, served: str
) -> None:
    app = Squall(f"doc-{uuid.uuid4().hex[:8]}", webhook_secret=secret)
    with local.run(app, allow_private_targets=True) as rt:
        documented.handled.add("evt-1")
        result = app.send_http(f"{served}/hooks/user-created", {"user_id": "9"}, task_id="evt-1")
        rt.drain()

        outcome: Any = result.get(timeout=0)
        assert '"duplicate":true' in outcome["body"].replace(" ", "")
