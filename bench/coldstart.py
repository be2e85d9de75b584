"""Benchmark 4: the functions' code bundle, its size and its cold start, as Lambda loads it.

The bundle is staged as the stack stages it (:func:`squall.cdk.packaging.stage_bundle`, the example shop's code), twice:
as deployed, and with the whole ``squall`` package (``not_run=()``: what the stack shipped before it left out the
CLI, the local runtime, the cost model and the test helpers). Every interpreter imports from one bundle alone, as
Lambda does from /var/task: it starts in the bundle's directory with ``-S`` (no site-packages hooks, so the
repository's editable install is out of reach) and PYTHONPATH = the bundle + this venv's site-packages (boto3 and
Powertools, which Lambda's runtime and the Powertools layer provide). The entry module builds the handler for the
app named by ``SQUALL_APP``. Two measures, each in fresh interpreters:

* ``python -X importtime``: the sum of the cumulative times of the top-level imports, less those an empty
  interpreter makes anyway (encodings): what the import statement itself costs;
* wall time of ``python -c "import ..."`` over many runs (median), less an empty interpreter's.
"""

from __future__ import annotations

import io
import json
import os
import statistics
import subprocess
import sys
import sysconfig
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bench.report import Table, millis, ratio
from squall.cdk import packaging
from squall.cdk.options import DeployOptions

#: The deployment measured: the example shop, as cdk.json deploys it.
SHOP = DeployOptions(app_spec="examples.shop.tasks:app", code=(Path(__file__).resolve().parents[1] / "examples",))

#: What the worker's execution environment imports: the entry module of its handler string (which builds it).
WORKER = f"import {packaging.HANDLER.rpartition('.')[0]}"
#: The baseline: what any Powertools SQS batch handler imports.
BASELINE = "import boto3, aws_lambda_powertools.utilities.batch"
#: The baseline with tracing: Squall's worker wears Powertools' Tracer, which imports the X-Ray SDK.
TRACED_BASELINE = BASELINE + ", aws_xray_sdk.core"
EMPTY = "pass"
#: The interpreter flag every measure runs with: no site module, so only PYTHONPATH names what can be imported.
NO_SITE = "-S"


@dataclass(frozen=True)
class BundleSize:
    """A staged bundle's size: files, bytes, and bytes once zipped (deflate, as a Lambda asset is)."""

    files: int
    bytes: int
    zipped_bytes: int


def bundle_size(bundle: Path) -> BundleSize:
    """Count and zip every file of ``bundle``."""
    files = sorted(path for path in bundle.rglob("*") if path.is_file())
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path in files:
            zipped.write(path, path.relative_to(bundle).as_posix())
    return BundleSize(len(files), sum(path.stat().st_size for path in files), len(archive.getvalue()))


def bundle_environment(bundle: Path) -> dict[str, str]:
    """The environment the stack gives the worker, with ``bundle`` and site-packages as the only import paths."""
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
            "SQUALL_APP": SHOP.app_spec,
            "SQUALL_CONFIG": json.dumps(settings),
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "shop",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "PYTHONPATH": os.pathsep.join([str(bundle), sysconfig.get_paths()["purelib"]]),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


@dataclass(frozen=True)
class Interpreter:
    """How a fresh interpreter is started on one bundle."""

    bundle: Path
    env: dict[str, str]

    @classmethod
    def on(cls, bundle: Path) -> Interpreter:
        """An interpreter that sees ``bundle`` as Lambda would."""
        return cls(bundle, bundle_environment(bundle))

    def run(self, code: str, *flags: str) -> subprocess.CompletedProcess[str]:
        """Run ``code`` in a fresh interpreter."""
        command = [sys.executable, NO_SITE, *flags, "-c", code]
        return subprocess.run(command, env=self.env, cwd=self.bundle, capture_output=True, text=True, check=True)

    def import_times(self, code: str) -> dict[str, int]:
        """Top-level modules ``code`` imports and each one's cumulative import time, in microseconds."""
        out: dict[str, int] = {}
        for depth, name, cumulative in _importtime_lines(self.run(code, "-X", "importtime").stderr):
            if depth == 0:
                out[name] = cumulative
        return out

    def importtime_seconds(self, code: str, startup: set[str]) -> float:
        """The top-level cumulative import time of ``code`` in one fresh interpreter, less the modules an empty
        interpreter imports anyway (``startup``)."""
        return sum(us for name, us in self.import_times(code).items() if name not in startup) / 1e6

    def wall_seconds(self, code: str) -> float:
        """Wall time of one fresh interpreter running ``code``."""
        started = time.perf_counter()
        self.run(code)
        return time.perf_counter() - started

    def largest_imports(self, code: str, count: int = 6) -> list[tuple[str, int]]:
        """The heaviest imports of ``code`` one or two levels down (cumulative microseconds)."""
        found = [
            (name, cumulative)
            for depth, name, cumulative in _importtime_lines(self.run(code, "-X", "importtime").stderr)
            if depth in (1, 2) and name.split(".")[0] in ("squall", "aws_xray_sdk", "aws_lambda_powertools")
        ]
        return sorted(found, key=lambda item: -item[1])[:count]


def _importtime_lines(stderr: str) -> list[tuple[int, str, int]]:
    """(nesting depth, module, cumulative microseconds) for each line ``-X importtime`` wrote."""
    lines = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "cumulative" in line:
            continue
        _self, cumulative, name = line.removeprefix("import time:").split("|", 2)
        if name.strip():
            lines.append(((len(name) - len(name.lstrip()) - 1) // 2, name.strip(), int(cumulative)))
    return lines


@dataclass
class ColdStart:
    """Sizes of both bundles, and import and wall times of their workers, the baselines and an empty interpreter."""

    deployed: BundleSize
    whole: BundleSize
    worker_import: float
    whole_import: float
    baseline_import: float
    traced_import: float
    worker_wall: float
    whole_wall: float
    baseline_wall: float
    traced_wall: float
    empty_wall: float
    runs: int
    largest: list[tuple[str, int]]


def measure(runs: int = 20) -> ColdStart:
    """Stage both bundles and measure them, ``runs`` fresh interpreters each (interleaved)."""
    code = SHOP.code
    deployed = Interpreter.on(packaging.stage_bundle(code))
    whole = Interpreter.on(packaging.stage_bundle(code, not_run=()))
    plans = [(deployed, WORKER), (whole, WORKER), (deployed, BASELINE), (deployed, TRACED_BASELINE), (deployed, EMPTY)]
    startup = set(deployed.import_times(EMPTY))
    walls: list[list[float]] = [[] for _ in plans]
    imports: list[list[float]] = [[] for _ in plans[:4]]
    for round_ in range(runs):
        for (interpreter, statement), samples in zip(plans, walls, strict=True):
            samples.append(interpreter.wall_seconds(statement))
        if round_ % 4 == 0:  # -X importtime costs more per run: a quarter as many samples, interleaved too
            for (interpreter, statement), samples in zip(plans, imports, strict=False):
                samples.append(interpreter.importtime_seconds(statement, startup))
    worker_wall, whole_wall, baseline_wall, traced_wall, empty_wall = map(statistics.median, walls)
    worker_import, whole_import, baseline_import, traced_import = map(statistics.median, imports)
    return ColdStart(
        deployed=bundle_size(deployed.bundle),
        whole=bundle_size(whole.bundle),
        worker_import=worker_import,
        whole_import=whole_import,
        baseline_import=baseline_import,
        traced_import=traced_import,
        worker_wall=worker_wall,
        whole_wall=whole_wall,
        baseline_wall=baseline_wall,
        traced_wall=traced_wall,
        empty_wall=empty_wall,
        runs=runs,
        largest=deployed.largest_imports(WORKER),
    )


def tables(result: ColdStart) -> list[Table]:
    """The bundle-size table and the cold-start table."""
    r = result

    def size_row(label: str, size: BundleSize) -> list[str]:
        return [label, f"{size.files:,}", f"{size.bytes:,}", f"{size.zipped_bytes:,}"]

    def row(label: str, worker: float, whole: float, baseline: float, traced: float) -> list[str]:
        return [
            label,
            millis(worker),
            millis(whole),
            millis(baseline),
            ratio(worker / baseline),
            millis(traced),
            ratio(worker / traced),
        ]

    sizes = Table(
        "Code bundle: what the worker and the reconciler ship",
        ["bundle", "files", "bytes", "zipped bytes"],
        [
            size_row("as deployed (squall less squall.cdk.packaging.NOT_RUN)", r.deployed),
            size_row("with the whole squall package (before)", r.whole),
        ],
        notes=[
            "Both staged by squall.cdk.packaging.stage_bundle with the example shop's code (examples/) and squall "
            "(its entry points are squall.functions); the second with `not_run=()`. Zipped: deflate, every file, "
            f"as a Lambda asset is. Left out as deployed: {', '.join(packaging.NOT_RUN)}.",
            f"{r.whole.files - r.deployed.files} files and {r.whole.zipped_bytes - r.deployed.zipped_bytes:,} zipped "
            "bytes fewer; tests/infra/test_cdk_bundle.py runs a task through both functions from the deployed bundle.",
        ],
    )
    cold = Table(
        "Cold start: importing the worker entry point from its bundle vs. boto3 + Powertools batch (target ≤ 1.3x)",
        [
            "measure",
            "worker (deployed bundle)",
            "worker (whole-package bundle)",
            "boto3 + powertools batch",
            "ratio (target ≤ 1.3x)",
            "… + aws_xray_sdk.core (traced baseline)",
            "ratio to traced",
        ],
        [
            row(
                "python -X importtime (sum of top-level cumulative)",
                r.worker_import,
                r.whole_import,
                r.baseline_import,
                r.traced_import,
            ),
            row(
                "wall time of a fresh interpreter (median)", r.worker_wall, r.whole_wall, r.baseline_wall, r.traced_wall
            ),
            row(
                "wall time less an empty interpreter's",
                r.worker_wall - r.empty_wall,
                r.whole_wall - r.empty_wall,
                r.baseline_wall - r.empty_wall,
                r.traced_wall - r.empty_wall,
            ),
        ],
        notes=[
            f"Worker: `{WORKER}` (handler {packaging.HANDLER}) in a fresh `python {NO_SITE}` started in the staged "
            "bundle, PYTHONPATH = the bundle + this venv's site-packages, SQUALL_APP=examples.shop.tasks:app and a "
            "SQUALL_CONFIG document; it builds the handler (Logger, Metrics, Tracer with tracing off). Baseline: "
            f"`{BASELINE}`, same interpreter and paths. {r.runs} interleaved fresh interpreters each for wall time; "
            f"an empty interpreter takes {millis(r.empty_wall)}.",
            "Largest imports inside the worker, as -X importtime reports them (cumulative; importtime inflates every "
            "figure): " + ", ".join(f"{name} {us / 1000:.1f} ms" for name, us in r.largest),
            "Powertools' Tracer imports the X-Ray SDK when it is constructed, even with tracing disabled; the stack "
            "turns active tracing on, so the deployed worker pays it. The traced baseline shows what is left once "
            "both sides trace.",
        ],
    )
    return [sizes, cold]
