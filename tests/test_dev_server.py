"""``squall dev`` as a real subprocess on loopback, used by other processes exactly as an app on AWS is.

One server for the module (starting moto's server takes seconds); the last test stops it with Ctrl-C.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.dev_process import DevServer

APP = "examples.shop.tasks:app"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def server() -> Iterator[DevServer]:
    dev = DevServer(APP, ROOT)
    yield dev
    dev.stop(signal.SIGKILL)


def test_it_prints_the_environment_a_second_process_needs(server: DevServer) -> None:
    assert server.env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert server.env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert (server.env["AWS_ACCESS_KEY_ID"], server.env["AWS_SECRET_ACCESS_KEY"]) == ("testing", "testing")
    assert "SQUALL_CONFIG" not in server.env  # found in SSM, as producers find a deployed stack's


def test_squall_send_and_result_wait_from_a_second_process(server: DevServer) -> None:
    sent = server.squall("--app", APP, "send", "charge", "--args", '["o-1", 100]')
    assert sent.returncode == 0, sent.stderr
    task_id = sent.stdout.strip()

    result = server.squall("--app", APP, "result", task_id, "--wait", "--timeout", "20")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"order_id": "o-1", "charged": 100, "currency": "EUR"}
    server.wait_for_output(rf"SUCCESS .*examples\.shop\.tasks\.charge +{task_id}")


def test_the_sdk_in_a_second_process_discovers_the_app_and_reads_results(server: DevServer) -> None:
    script = (
        "import json\n"
        "from examples.shop.tasks import build_report, charge\n"
        "report = build_report.delay('2026-10')\n"
        "print(json.dumps(report.get(timeout=20)))\n"
        "broken = charge.delay('o-2', 0)\n"
        "try:\n"
        "    broken.get(timeout=20)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
        "print(broken.id)\n"
    )

    done = server.run(sys.executable, "-c", script)

    assert done.returncode == 0, done.stderr
    report, failure, broken_id = done.stdout.splitlines()
    assert (json.loads(report), failure) == ("report-2026-10.pdf", "TaskFailed")
    listed = server.squall("--app", APP, "dlq", "list", "--json")
    assert [m["task_id"] for m in json.loads(listed.stdout)] == [broken_id]


def test_the_live_view_shows_tasks_moving_through_states(server: DevServer) -> None:
    started = server.wait_for_output(r"STARTED .*examples\.shop\.tasks\.build_report")
    task_id = started.split()[-1]

    server.wait_for_output(rf"SUCCESS .*examples\.shop\.tasks\.build_report +{task_id}")
    server.wait_for_output(r"FAILURE .*examples\.shop\.tasks\.charge")
    server.wait_for_output(r"DEAD .*examples\.shop\.tasks\.charge")


def test_schedules_fire_on_the_wall_clock(server: DevServer) -> None:
    script = (
        "from datetime import UTC, datetime, timedelta\n"
        "from examples.shop.tasks import app, charge\n"
        "when = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)\n"
        "app.schedules.create('soon', charge.s('o-9', 9), at=when)\n"
        "print(f'd.soon@{when:%Y-%m-%dT%H:%M:%SZ}')\n"
    )
    created = server.run(sys.executable, "-c", script)
    assert created.returncode == 0, created.stderr
    firing = created.stdout.strip()

    result = server.squall("--app", APP, "result", firing, "--wait", "--timeout", "20")

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"order_id": "o-9", "charged": 9, "currency": "EUR"}


def test_ctrl_c_stops_it_cleanly(server: DevServer) -> None:
    status = server.stop(signal.SIGINT)

    assert status == 0
    assert server.lines[-1] == "squall dev: stopped"
    assert not any("Traceback" in line for line in server.lines)
