"""``squall dev`` for daily use, as real processes on loopback: ``eval "$(squall dev --env)"`` and ``--reload``.

Subprocesses on purpose: ``--env`` is for a second shell, whose environment comes from the printed lines only,
and ``--reload`` restarts the server's own process when a module file changes. Every wait is bounded.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from click.testing import CliRunner
from tests.dev_process import COMMAND_TIMEOUT, DevServer, sandbox_env, squall_command

import squall.cli.dev  # noqa: F401  # adds the dev command to the group
from squall.cli import cli

SHOP = "examples.shop.tasks:app"
ROOT = Path(__file__).resolve().parent.parent
GREETER = """
from squall import Squall

app = Squall("greeter")


@app.task
def greet(name: str) -> str:
    return "{greeting}, " + name
"""
ADDED = """

@app.task
def shout(name: str) -> str:
    return name.upper()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def exports_of(text: str) -> dict[str, str]:
    """The variables ``export NAME=value`` lines set; comments aside, any other line fails the test."""
    exported = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        assert line.startswith("export "), line
        name, value = shlex.split(line.removeprefix("export "))[0].split("=", 1)
        exported[name] = value
    return exported


def test_eval_of_dev_env_lets_a_second_shell_send_and_read_results() -> None:
    port = free_port()
    server = DevServer(SHOP, ROOT, "--port", str(port), "--api-port", "0", "--ui-port", "0")
    try:
        shell = sandbox_env(ROOT)
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            del shell[name]  # nothing but what eval sets: no endpoint, region, credentials or app
        squall = shlex.join(squall_command())
        script = (
            f'eval "$({squall} dev --env --app {SHOP} --port {port})"\n'
            f"id=$({squall} send charge --args '[\"o-7\", 70]')\n"
            f'{squall} result "$id" --wait --timeout 20\n'
        )

        done = subprocess.run(  # noqa: S603  # bash running our own console script
            ["/bin/bash", "-euo", "pipefail", "-c", script],
            cwd=ROOT,
            env=shell,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == {"order_id": "o-7", "charged": 70, "currency": "EUR"}
    finally:
        server.stop(signal.SIGINT)


def test_dev_env_prints_what_a_second_process_needs_without_starting_anything() -> None:
    port = free_port()  # nothing listens there

    result = CliRunner().invoke(cli, ["--app", SHOP, "dev", "--env", "--port", str(port)], catch_exceptions=False)

    assert result.exit_code == 0, result.output
    exported = exports_of(result.stdout)
    assert exported["AWS_ENDPOINT_URL"] == f"http://127.0.0.1:{port}"
    assert exported["AWS_DEFAULT_REGION"] == exported["AWS_REGION"] == "us-east-1"
    assert exported["AWS_ACCESS_KEY_ID"] == exported["AWS_SECRET_ACCESS_KEY"] == "testing"
    assert exported["SQUALL_APP"] == SHOP
    assert f"# dashboard: http://127.0.0.1:{port + 2}/" in result.stdout
    assert (
        result.stderr
        == f"no squall dev is listening on 127.0.0.1:{port} yet: start it with `squall dev --port {port}`\n"
    )


def test_dev_env_needs_a_fixed_port() -> None:
    result = CliRunner().invoke(cli, ["--app", SHOP, "dev", "--env", "--port", "0"], catch_exceptions=False)

    assert result.exit_code == 1
    assert (
        result.stderr
        == "error: squall dev --env needs the dev server's own port: give the --port it was started with\n"
    )


def count_lines(server: DevServer, pattern: str, count: int, timeout: float = COMMAND_TIMEOUT) -> None:
    """Wait until ``count`` lines the server printed match ``pattern``."""
    deadline = time.monotonic() + timeout
    while sum(1 for line in list(server.lines) if re.search(pattern, line)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} lines match {pattern!r}: {server.lines}"
        time.sleep(0.05)


def test_reload_runs_changed_code_and_keeps_what_the_server_held(tmp_path: Path) -> None:
    module = tmp_path / "tasks.py"
    module.write_text(GREETER.format(greeting="hello"))
    server = DevServer(
        "tasks:app", tmp_path, "--reload", "--port", str(free_port()), "--api-port", "0", "--ui-port", "0"
    )
    try:
        sent = server.squall("--app", "tasks:app", "send", "greet", "--args", '["ada"]')
        assert sent.returncode == 0, sent.stderr
        before = server.squall("--app", "tasks:app", "result", sent.stdout.strip(), "--wait", "--timeout", "20")
        assert json.loads(before.stdout) == "hello, ada"
        # A producer with newer code than the server's: it sends a task the server has not loaded.
        unknown = server.run(sys.executable, "-c", "from tasks import app; print(app.send_task('tasks.shout').id)")
        assert unknown.returncode == 0, unknown.stderr
        server.wait_for_output(r"DEAD .*tasks\.shout")
        dead = server.squall("--app", "tasks:app", "status", unknown.stdout.strip(), "--json")
        assert "task 'tasks.shout' is not registered in this worker; restart squall dev" in dead.stdout

        module.write_text(GREETER.format(greeting="bonjour") + ADDED)
        server.wait_for_output(r"^squall dev: the code changed, restarting$")
        count_lines(server, r"^Ctrl-C stops", 2)

        after = server.squall("--app", "tasks:app", "send", "greet", "--args", '["ada"]')
        shouted = server.squall("--app", "tasks:app", "send", "shout", "--args", '["ada"]')
        again = server.squall("--app", "tasks:app", "result", after.stdout.strip(), "--wait", "--timeout", "20")
        loud = server.squall("--app", "tasks:app", "result", shouted.stdout.strip(), "--wait", "--timeout", "20")
        kept = server.squall("--app", "tasks:app", "result", sent.stdout.strip())
        assert again.returncode == 0, (again.stderr, server.lines)
        assert json.loads(again.stdout) == "bonjour, ada"  # the new code runs
        assert json.loads(loud.stdout) == "ADA"  # and the task added since the start is registered
        assert json.loads(kept.stdout) == "hello, ada"  # the result from before the reload is still there
        assert any(re.match(r"^squall dev: restored \d+ item", line) for line in server.lines)
    finally:
        status = server.stop(signal.SIGINT)
    assert status == 0
    assert server.lines[-1] == "squall dev: stopped"
    assert not any("Traceback" in line for line in server.lines)


def test_with_a_state_directory_results_and_queued_tasks_survive_a_stop_and_a_start(tmp_path: Path) -> None:
    module, state = tmp_path / "tasks.py", tmp_path / ".squall" / "dev"
    module.write_text(GREETER.format(greeting="hello"))
    first = DevServer("tasks:app", tmp_path, "--state", str(state))
    sent = first.squall("--app", "tasks:app", "send", "greet", "--args", '["ada"]')
    done = first.squall("--app", "tasks:app", "result", sent.stdout.strip(), "--wait", "--timeout", "20")
    # Delayed past the first server's stop even on a loaded machine (it stops right after this send).
    later = first.squall("--app", "tasks:app", "send", "greet", "--args", '["bob"]', "--countdown", "8")
    assert first.stop(signal.SIGINT) == 0
    assert json.loads(done.stdout) == "hello, ada"

    second = DevServer("tasks:app", tmp_path, "--state", str(state))
    try:
        kept = second.squall("--app", "tasks:app", "result", sent.stdout.strip())
        delayed = second.squall("--app", "tasks:app", "result", later.stdout.strip(), "--wait", "--timeout", "30")

        assert json.loads(kept.stdout) == "hello, ada"
        assert json.loads(delayed.stdout) == "hello, bob"  # the delayed message came back and ran
        assert any(re.match(r"squall dev: restored \d+ item\(s\), 1 message\(s\)", line) for line in second.lines)
    finally:
        second.stop(signal.SIGINT)
