"""The worker builds Powertools' Tracer only when tracing is on, so an untraced worker never imports the X-Ray SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from squall.handler import tracing_enabled

#: Builds the worker's handler for an app with one task, and says whether the X-Ray SDK was imported.
PROBE = """
import json, sys
from squall import Squall
from squall.handler import make_handler
app = Squall("probe")
app.task(name="probe.noop")(lambda: None)
make_handler(app)
print(json.dumps({"xray": any(name.startswith("aws_xray_sdk") for name in sys.modules)}))
"""


def probe(disabled: str | None) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POWERTOOLS_")}
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    if disabled is not None:
        env["POWERTOOLS_TRACE_DISABLED"] = disabled
    done = subprocess.run(  # noqa: S603  # this interpreter, a fixed script
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    )
    return bool(json.loads(done.stdout.strip().splitlines()[-1])["xray"])


def test_an_untraced_worker_never_imports_the_xray_sdk_and_a_traced_one_does() -> None:
    assert probe("true") is False
    assert probe(None) is True


@pytest.mark.parametrize(
    ("value", "traced"), [("true", False), ("1", False), ("Yes", False), ("false", True), ("0", True), ("", True)]
)
def test_powertools_truthy_values_turn_tracing_off(monkeypatch: pytest.MonkeyPatch, value: str, traced: bool) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", value)

    assert tracing_enabled() is traced
