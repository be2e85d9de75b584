"""Deploying needs none of the worker's runtime: building the stack imports no Powertools (nor the X-Ray SDK).

Each probe runs in a fresh interpreter, since this test process imports the worker's handler elsewhere.
"""

from __future__ import annotations

import json
import subprocess
import sys

from cdk_support import ROOT

from squall import handler
from squall.worker import metrics

#: Packages only the Lambda functions need: the Powertools layer provides them there.
WORKER_RUNTIME = ("aws_lambda_powertools", "aws_xray_sdk")
#: What ``cdk synth`` runs before it writes the assembly: the app module, and every construct of the stack.
BUILD_THE_STACK = (
    "import aws_cdk as cdk\nfrom squall.cdk.app import build\n"
    "build(cdk.App(context={'squall:app': 'examples.shop.tasks:app', 'squall:code': 'examples'}))"
)


def worker_runtime_imported_by(code: str) -> list[str]:
    """The WORKER_RUNTIME packages a fresh interpreter holds after running ``code``."""
    probe = (
        f"{code}\nimport json, sys\n"
        f"print(json.dumps(sorted({{name.split('.')[0] for name in sys.modules}} & {set(WORKER_RUNTIME)!r})))"
    )
    command = [sys.executable, "-c", probe]  # this interpreter, a probe written here
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)  # noqa: S603
    found: list[str] = json.loads(done.stdout.splitlines()[-1])
    return found


def test_building_the_stack_imports_no_powertools() -> None:
    assert worker_runtime_imported_by(BUILD_THE_STACK) == []


def test_the_probe_finds_powertools_where_the_worker_handler_is_imported() -> None:
    assert worker_runtime_imported_by(f"{BUILD_THE_STACK}\nimport squall.handler") == ["aws_lambda_powertools"]


def test_the_metric_names_import_no_powertools_and_the_handler_publishes_the_same_ones() -> None:
    assert worker_runtime_imported_by("import squall.worker.metrics") == []
    assert handler.METRICS_NAMESPACE == metrics.METRICS_NAMESPACE
    assert handler.OUTCOME_METRICS is metrics.OUTCOME_METRICS
    assert handler.RECONCILED_METRICS is metrics.RECONCILED_METRICS
    assert handler.ERROR_METRIC == metrics.ERROR_METRIC
