"""Run ``squall dev`` as a real subprocess on loopback, and other processes against it; never real AWS.

Every process gets an environment built here from scratch: no AWS variable from the machine running the
tests, dummy credentials, no config files, no instance metadata, and AWS_ENDPOINT_URL only once the dev
server printed it (checked to be 127.0.0.1). Every wait is bounded.
"""

from __future__ import annotations

import os
import queue
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

#: Longest wait for the dev server to print its environment (moto's server imports take a few seconds).
START_TIMEOUT = 90.0
#: Longest wait for one command run against it, and for a clean exit after a signal.
COMMAND_TIMEOUT = 60.0
_EXPORT = re.compile(r"^\s*export (.+)$")


def squall_command() -> list[str]:
    """How to run the ``squall`` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "squall"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from squall.cli import main; main()"]


def sandbox_env(cwd: Path, **extra: str) -> dict[str, str]:
    """This process's environment without anything that could reach AWS, plus dummy credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SQUALL_", "BOTO"))}
    missing = str(cwd / "no-aws-config")
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_CONFIG_FILE=missing,
        AWS_SHARED_CREDENTIALS_FILE=missing,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )
    env.update(extra)
    return env


class DevServer:
    """A ``squall --app APP dev`` subprocess: its printed environment and everything it printed."""

    def __init__(self, app: str, cwd: Path, *args: str) -> None:
        self.cwd = cwd
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        # Any free ports unless the test names one: tests run side by side must not meet on the default port.
        ports = () if "--port" in args else ("--port", "0")
        self.process = subprocess.Popen(  # noqa: S603  # our own console script, fixed arguments
            [*squall_command(), "--app", app, "dev", *ports, *args],
            cwd=cwd,
            env=sandbox_env(cwd),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.env = self._wait_for_environment()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line)
        self._queue.put(None)

    def _wait_for_environment(self) -> dict[str, str]:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.stop(signal.SIGKILL)
                raise TimeoutError(f"squall dev printed no environment in {START_TIMEOUT} s: {self.lines}") from None
            if line is None:
                raise RuntimeError(f"squall dev exited with {self.process.wait()}: {self.lines}")
            match = _EXPORT.match(line)
            if match:
                exported = dict(item.split("=", 1) for item in shlex.split(match.group(1)))
                if not exported.get("AWS_ENDPOINT_URL", "").startswith("http://127.0.0.1:"):
                    self.stop(signal.SIGKILL)
                    raise AssertionError(f"squall dev must serve loopback only, printed {line!r}")
                return sandbox_env(self.cwd, **exported)

    def run(self, *command: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in a second process with the dev server's environment."""
        return subprocess.run(  # noqa: S603  # test commands, fixed arguments
            list(command),
            cwd=self.cwd,
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    def squall(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``squall ARGS...`` in a second process."""
        return self.run(*squall_command(), *args)

    def wait_for_output(self, pattern: str, timeout: float = COMMAND_TIMEOUT) -> str:
        """The first line the server printed that matches ``pattern`` (a regex), waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if re.search(pattern, line):
                    return line
            time.sleep(0.05)
        raise AssertionError(f"squall dev never printed {pattern!r}; it printed: {self.lines}")

    def stop(self, how: signal.Signals = signal.SIGINT) -> int:
        """Signal the server and wait for it to exit; returns its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(how)
        try:
            return self.process.wait(timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise
