"""The dashboard in a real headless browser (Debian's Chromium), served on 127.0.0.1 with tasks in every state.

Pages are loaded and clicked as an operator would; screenshots of each page go to $SQUALL_SCREENSHOTS, or to
the run's temporary directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.dev_process import DevServer, squall_command
from tests.ui.chromium import CHROMIUM, Chromium
from tests.ui.conftest import XSS, Tasks

from squall.ops import dlq
from squall.states import State
from squall.ui import DashboardServer

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"no browser at {CHROMIUM}: apt-get install chromium (./run installs it on CI)"
)

#: The example app ``squall dev`` and ``squall ui`` serve, and where it lives.
SHOP = "examples.shop.tasks:app"
ROOT = Path(__file__).resolve().parents[2]
#: Each page, the heading it must show, and the screenshot's name.
PAGES = [
    ("", "Queues", "overview"),
    ("tasks", "Tasks", "tasks"),
    ("dlq", "Dead letters", "dlq"),
    ("schedules", "Schedules", "schedules"),
    ("cost", "Cost", "cost"),
    ("dlq/purge?queue=default", "Purge", "purge"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    chromium = Chromium()
    yield chromium
    chromium.close()


@pytest.fixture
def served(tasks: Tasks) -> Iterator[str]:
    """The dashboard's URL, served by a real WSGI server on a free port of 127.0.0.1."""
    server = DashboardServer(tasks.app, port=0, recent=tasks.recent).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("SQUALL_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def dead_letters(tasks: Tasks) -> set[str | None]:
    return {letter.task_id for letter in dlq.peek(tasks.app, None)}


def heading(browser: Chromium) -> str:
    return str(browser.evaluate("document.querySelector('h1').textContent"))


@pytest.mark.parametrize(("path", "title", "shot"), PAGES, ids=[shot for _, _, shot in PAGES])
def test_every_page_renders_in_the_browser(
    browser: Chromium, served: str, screenshots: Path, path: str, title: str, shot: str
) -> None:
    browser.open(served + path)

    assert heading(browser).startswith(title)
    assert browser.screenshot(screenshots / f"{shot}.png").stat().st_size > 1_000


def test_the_task_list_shows_every_state_in_the_browser(browser: Chromium, served: str, screenshots: Path) -> None:
    browser.open(served + "tasks")
    shown = browser.evaluate("[...document.querySelectorAll('td.state')].map(e => e.textContent.trim())")

    assert {"SUCCESS", "DEAD", "RETRY", "REVOKED"} <= set(shown)
    browser.screenshot(screenshots / "tasks.png")


def test_a_task_page_shows_its_result(browser: Chromium, served: str, tasks: Tasks, screenshots: Path) -> None:
    browser.open(f"{served}tasks/{tasks.success}")

    assert browser.evaluate("document.getElementById('result').textContent") == "5"
    browser.screenshot(screenshots / "task.png")


def test_redriving_a_dead_letter_by_clicking_its_button(browser: Chromium, served: str, tasks: Tasks) -> None:
    browser.open(served + "dlq")

    browser.click(f"button.redrive-one[value={json.dumps(tasks.dead)}]")

    assert tasks.app.store.get(tasks.dead).state is not State.DEAD  # type: ignore[union-attr]
    assert tasks.dead not in dead_letters(tasks)
    assert tasks.xss_dead in dead_letters(tasks)


def test_pausing_and_resuming_a_schedule_by_clicking(browser: Chromium, served: str, tasks: Tasks) -> None:
    browser.open(served + "schedules")

    browser.click("#dynamic button.pause")
    paused = tasks.app.schedules.get("nightly").enabled
    shown = browser.evaluate("document.querySelector('#dynamic td.schedule-state').textContent")
    browser.click("#dynamic button.resume")

    assert paused is False
    assert shown == "PAUSED"
    assert tasks.app.schedules.get("nightly").enabled


@pytest.mark.parametrize("bypass_csp", [False, True], ids=["as-served", "without-csp"])
def test_an_xss_payload_in_arguments_and_error_renders_inert(
    browser: Chromium, served: str, tasks: Tasks, bypass_csp: bool
) -> None:
    # Without the Content-Security-Policy too: escaping alone must keep the payload from running.
    browser.page("Page.setBypassCSP", enabled=bypass_csp)
    dialogs = len(browser.dialogs())
    browser.open(f"{served}tasks/{tasks.xss_dead}")
    arguments = browser.evaluate("document.getElementById('arguments').textContent")
    error = browser.evaluate("document.getElementById('error').textContent")
    for path in (f"tasks/{tasks.xss_dead}", "tasks", "dlq"):
        browser.open(served + path)

        assert browser.evaluate("typeof window.__xss") == "undefined"
        assert browser.evaluate("document.querySelectorAll('img[src=x], script').length") == 0

    assert len(browser.dialogs()) == dialogs
    assert json.dumps(XSS) in arguments  # shown as the JSON text it is
    assert error == f"ValueError: {XSS}"


@pytest.fixture(scope="module")
def dev_server() -> Iterator[DevServer]:
    """``squall dev`` as a separate process (moto served on 127.0.0.1, the worker polling)."""
    dev = DevServer(SHOP, ROOT)
    yield dev
    dev.stop(signal.SIGKILL)


def test_squall_dev_serves_the_dashboard_on_loopback(browser: Chromium, dev_server: DevServer) -> None:
    url = dev_server.wait_for_output(r"^dashboard: http://127\.0\.0\.1:\d+/$").split(" ", 1)[1]

    browser.open(url)

    assert heading(browser) == "Queues"
    assert "<td>reports</td>" in browser.dom()


def test_squall_ui_serves_the_deployed_app_on_loopback(browser: Chromium, dev_server: DevServer) -> None:
    # The dev server stands in for AWS: `squall ui` sees only the endpoint and credentials, as an operator's would.
    ui = subprocess.Popen(  # noqa: S603  # our own console script, fixed arguments
        [*squall_command(), "--app", SHOP, "ui", "--port", "0"],
        cwd=ROOT,
        env=dev_server.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert ui.stdout is not None
        line = ui.stdout.readline()
        url = line.split()[1]
        browser.open(url + "schedules")
        shown = heading(browser)
    finally:
        ui.send_signal(signal.SIGINT)
        status = ui.wait(timeout=30)

    assert url.startswith("http://127.0.0.1:")
    assert shown == "Schedules"
    assert status == 0
