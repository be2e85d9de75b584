"""Benchmark 4: cold start, as import time of the worker's entry point vs. boto3 + Powertools' batch utility.

Lambda imports ``functions/worker.py`` once per execution environment; that module builds the handler for
the app named by ``SQUALL_APP`` (here the example shop). Two measures, each in fresh interpreters:

* ``python -X importtime``: the sum of the cumulative times of the top-level imports, less those an empty
  interpreter makes anyway (site, encodings): what the import statement itself costs;
* wall time of ``python -c "import ..."`` over many runs (median), less an empty interpreter's.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.report import Table, millis, ratio

ROOT = Path(__file__).resolve().parent.parent
#: What the worker's execution environment imports: the entry module (which builds the handler).
WORKER = "import worker"
#: The baseline: what any Powertools SQS batch handler imports.
BASELINE = "import boto3, aws_lambda_powertools.utilities.batch"
#: The baseline with tracing: Squall's worker wears Powertools' Tracer, which imports the X-Ray SDK.
TRACED_BASELINE = BASELINE + ", aws_xray_sdk.core"
EMPTY = "pass"


def worker_environment() -> dict[str, str]:
    """The environment the stack gives the worker: the app to import and where its resources are."""
    settings = {
        "app": "shop",
        "region": "us-east-1",
        "table": "squall-shop-tasks",
        "queues": {
            name: {
                "url": f"https://sqs.us-east-1.amazonaws.com/123456789012/squall-shop-{name}",
                "arn": f"arn:aws:sqs:us-east-1:123456789012:squall-shop-{name}",
                "dlq_url": f"https://sqs.us-east-1.amazonaws.com/123456789012/squall-shop-{name}-dlq",
                "dlq_arn": f"arn:aws:sqs:us-east-1:123456789012:squall-shop-{name}-dlq",
                "max_receive_count": 10,
            }
            for name in ("default", "reports")
        },
    }
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SQUALL_", "POWERTOOLS_", "PYTHON"))}
    env.update(
        {
            "SQUALL_APP": "examples.shop.tasks:app",
            "SQUALL_CONFIG": json.dumps(settings),
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "shop",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONPATH": os.pathsep.join([str(ROOT / "functions"), str(ROOT)]),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def _run(code: str, env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    )


def import_times(code: str, env: dict[str, str]) -> dict[str, int]:
    """Top-level modules ``code`` imports and each one's cumulative import time, in microseconds."""
    stderr = _run(code, env, "-X", "importtime").stderr
    out: dict[str, int] = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|", 2)
        if name.startswith("  ") or not name.strip():
            continue  # nested under a top-level import; its time is in that import's cumulative
        out[name.strip()] = int(cumulative)
    return out


def importtime_seconds(code: str, env: dict[str, str], runs: int, startup: set[str]) -> float:
    """Median over ``runs`` of the top-level cumulative import time of ``code``, less the modules an empty
    interpreter imports anyway (``startup``)."""
    samples = []
    for _ in range(runs):
        times = import_times(code, env)
        samples.append(sum(us for name, us in times.items() if name not in startup) / 1e6)
    return statistics.median(samples)


def wall_seconds(code: str, env: dict[str, str], runs: int) -> float:
    """Median wall time of a fresh interpreter running ``code``."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        _run(code, env)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


@dataclass
class ColdStart:
    """Import and wall times of the worker, the baseline and an empty interpreter, in seconds."""

    worker_import: float
    baseline_import: float
    traced_import: float
    worker_wall: float
    baseline_wall: float
    traced_wall: float
    empty_wall: float
    runs: int
    largest: list[tuple[str, int]]


def measure(runs: int = 20) -> ColdStart:
    """Measure both, ``runs`` fresh interpreters each (interleaved)."""
    env = worker_environment()
    startup = set(import_times(EMPTY, env))
    walls: dict[str, list[float]] = {WORKER: [], BASELINE: [], TRACED_BASELINE: [], EMPTY: []}
    for _ in range(runs):
        for code, samples in walls.items():
            samples.append(wall_seconds(code, env, 1))
    imports = max(1, runs // 4)
    return ColdStart(
        worker_import=importtime_seconds(WORKER, env, imports, startup),
        baseline_import=importtime_seconds(BASELINE, env, imports, startup),
        traced_import=importtime_seconds(TRACED_BASELINE, env, imports, startup),
        worker_wall=statistics.median(walls[WORKER]),
        baseline_wall=statistics.median(walls[BASELINE]),
        traced_wall=statistics.median(walls[TRACED_BASELINE]),
        empty_wall=statistics.median(walls[EMPTY]),
        runs=runs,
        largest=largest_imports(env),
    )


def largest_imports(env: dict[str, str], count: int = 6) -> list[tuple[str, int]]:
    """The worker's heaviest imports one or two levels down (cumulative microseconds)."""
    stderr = _run(WORKER, env, "-X", "importtime").stderr
    found = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|", 2)
        depth = (len(name) - len(name.lstrip())) // 2
        if depth in (1, 2) and name.strip().split(".")[0] in ("squall", "aws_xray_sdk", "aws_lambda_powertools"):
            found.append((name.strip(), int(cumulative)))
    return sorted(found, key=lambda item: -item[1])[:count]


def tables(result: ColdStart) -> list[Table]:
    """The cold-start table."""
    r = result

    def row(label: str, worker: float, baseline: float, traced: float) -> list[str]:
        return [
            label,
            millis(worker),
            millis(baseline),
            ratio(worker / baseline),
            millis(traced),
            ratio(worker / traced),
        ]

    rows = [
        row("python -X importtime (sum of top-level cumulative)", r.worker_import, r.baseline_import, r.traced_import),
        row("wall time of a fresh interpreter (median)", r.worker_wall, r.baseline_wall, r.traced_wall),
        row(
            "wall time less an empty interpreter's",
            r.worker_wall - r.empty_wall,
            r.baseline_wall - r.empty_wall,
            r.traced_wall - r.empty_wall,
        ),
    ]
    return [
        Table(
            "Cold start: importing the worker entry point vs. boto3 + Powertools batch (target ≤ 1.3x)",
            [
                "measure",
                "worker (functions/worker.py + the shop app)",
                "boto3 + powertools batch",
                "ratio (target ≤ 1.3x)",
                "… + aws_xray_sdk.core (traced baseline)",
                "ratio to traced",
            ],
            rows,
            notes=[
                f"Worker: `{WORKER}` with functions/ on the path, SQUALL_APP=examples.shop.tasks:app and a "
                f"SQUALL_CONFIG document, which builds the handler (Logger, Metrics, Tracer with tracing off). "
                f"Baseline: `{BASELINE}`. {r.runs} interleaved fresh interpreters each for wall time; "
                f"an empty interpreter takes {millis(r.empty_wall)}.",
                "Largest imports inside the worker, as -X importtime reports them (cumulative; importtime "
                "inflates every figure): " + ", ".join(f"{name} {us / 1000:.1f} ms" for name, us in r.largest),
                "Powertools' Tracer imports the X-Ray SDK when it is constructed, even with tracing disabled; "
                "the stack turns active tracing on, so the deployed worker pays it. The traced baseline shows "
                "what is left once both sides trace.",
            ],
        )
    ]
