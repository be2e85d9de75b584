"""Benchmark 4: the functions' code bundle, its size and its cold start, as Lambda loads it.

The bundle is staged as the stack stages it (:func:`squall.cdk.packaging.stage_bundle`, the example shop's code):
as source only (what a synth without an interpreter of the functions' Python ships), with bytecode
(:mod:`squall.cdk.bytecode`), and, for its size only, with the whole ``squall`` package. Every interpreter imports
from one bundle alone, as Lambda does from /var/task: it starts in the bundle's directory with ``-S`` (no
site-packages hooks, so the repository's editable install is out of reach) and PYTHONPATH = the bundle + this
venv's site-packages (boto3 and Powertools, which Lambda's runtime and the Powertools layer provide). The entry
module builds the handler for the app named by ``SQUALL_APP``, traced (as deployed by default) or not.
Two measures, each in fresh interpreters:

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

#: What the worker's execution environment imports: the entry module of its handler string (which builds it), and
#: boto3, which the worker imports when its first record makes a client (inside the first invocation, not the
#: import): both are counted, as the baseline counts boto3.
WORKER = f"import boto3, {packaging.HANDLER.rpartition('.')[0]}"
#: The baseline: what any Powertools SQS batch handler imports.
BASELINE = "import boto3, aws_lambda_powertools.utilities.batch"
#: The baseline with tracing: a Powertools handler that wears a Tracer builds one, which imports the X-Ray SDK.
TRACED_BASELINE = BASELINE + "; from aws_lambda_powertools import Tracer; Tracer(service='shop')"
EMPTY = "pass"
#: Set to "true" by the stack when tracing is off (``squall:tracing=false``); unset, the worker builds its Tracer.
TRACE_DISABLED = "POWERTOOLS_TRACE_DISABLED"
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
            TRACE_DISABLED: "true",
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
        """An interpreter that sees ``bundle`` as Lambda would, tracing off."""
        return cls(bundle, bundle_environment(bundle))

    def traced(self) -> Interpreter:
        """The same, as the stack deploys with tracing on: no ``POWERTOOLS_TRACE_DISABLED``. (Outside Lambda
        Powertools' Tracer still records nothing and patches nothing, for the worker and the baseline alike: what
        is measured is the import and the construction.)"""
        return Interpreter(self.bundle, {k: v for k, v in self.env.items() if k != TRACE_DISABLED})

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
    """Sizes of the bundles; wall and import times of the worker in each variant, the baselines and an empty
    interpreter (medians, seconds)."""

    deployed: BundleSize
    compiled: BundleSize
    whole: BundleSize
    wall: dict[str, float]
    imports: dict[str, float]
    runs: int
    largest: list[tuple[str, int]]


#: The measured variants: (label, bundle, traced, statement). Bundles: "source" as staged where no interpreter of
#: the functions' Python is at hand, "bytecode" compiled by this machine's interpreter (standing in for one of the
#: runtime's version, which writes the same kind of files for its own).
VARIANTS = (
    ("worker, source, untraced", "source", False, WORKER),
    ("worker, bytecode, untraced", "bytecode", False, WORKER),
    ("baseline, untraced", "source", False, BASELINE),
    ("worker, source, traced", "source", True, WORKER),
    ("worker, bytecode, traced", "bytecode", True, WORKER),
    ("baseline, traced", "source", True, TRACED_BASELINE),
    ("empty", "source", False, EMPTY),
)


def measure(runs: int = 20) -> ColdStart:
    """Stage the bundles and measure every variant, ``runs`` fresh interpreters each (interleaved)."""
    code = SHOP.code
    source = Interpreter.on(packaging.stage_bundle(code, bytecode=False))
    compiled = Interpreter.on(packaging.stage_bundle(code, bytecode=sys.executable))
    whole = packaging.stage_bundle(code, not_run=(), bytecode=False)
    bundles = {"source": source, "bytecode": compiled}
    plans = [
        (label, (bundles[bundle].traced() if traced else bundles[bundle]), statement)
        for label, bundle, traced, statement in VARIANTS
    ]
    startup = set(source.import_times(EMPTY))
    walls: dict[str, list[float]] = {label: [] for label, _i, _s in plans}
    imports: dict[str, list[float]] = {label: [] for label, _i, _s in plans if label != "empty"}
    for round_ in range(runs):
        for label, interpreter, statement in plans:
            walls[label].append(interpreter.wall_seconds(statement))
        if round_ % 4 == 0:  # -X importtime costs more per run: a quarter as many samples, interleaved too
            for label, interpreter, statement in plans:
                if label in imports:
                    imports[label].append(interpreter.importtime_seconds(statement, startup))
    return ColdStart(
        deployed=bundle_size(source.bundle),
        compiled=bundle_size(compiled.bundle),
        whole=bundle_size(whole),
        wall={label: statistics.median(values) for label, values in walls.items()},
        imports={label: statistics.median(values) for label, values in imports.items()},
        runs=runs,
        largest=compiled.largest_imports(WORKER),
    )


def ratios(result: ColdStart) -> dict[str, float]:
    """Each worker variant's wall time over its baseline's, both less an empty interpreter's."""
    wall, empty = result.wall, result.wall["empty"]
    out = {}
    for label in wall:
        if label.startswith("worker"):
            baseline = "baseline, traced" if label.endswith(", traced") else "baseline, untraced"
            out[label] = (wall[label] - empty) / (wall[baseline] - empty)
    return out


#: Each target of the issue: the variant it is met by, and its ceiling.
TARGETS = {"worker, bytecode, traced": 1.15, "worker, bytecode, untraced": 1.3}


def tables(result: ColdStart) -> list[Table]:
    """The bundle-size table and the cold-start table."""
    r = result

    def size_row(label: str, size: BundleSize) -> list[str]:
        return [label, f"{size.files:,}", f"{size.bytes:,}", f"{size.zipped_bytes:,}"]

    sizes = Table(
        "Code bundle: what the worker and the reconciler ship",
        ["bundle", "files", "bytes", "zipped bytes"],
        [
            size_row("as deployed, source only (squall less squall.cdk.packaging.NOT_RUN)", r.deployed),
            size_row("as deployed, with bytecode (__pycache__, unchecked-hash)", r.compiled),
            size_row("with the whole squall package, source only", r.whole),
        ],
        notes=[
            "Staged by squall.cdk.packaging.stage_bundle with the example shop's code (examples/) and squall "
            "(its entry points are squall.functions). Zipped: deflate, every file, as a Lambda asset is. Left out "
            f"as deployed: {', '.join(packaging.NOT_RUN)}.",
        ],
    )
    ratio_of = ratios(r)
    empty = r.wall["empty"]
    rows = []
    for label, _bundle, _traced, _statement in VARIANTS:
        if label == "empty":
            continue
        target = TARGETS.get(label)
        verdict = "" if target is None else f"≤ {target}x: {'met' if ratio_of[label] <= target else 'NOT met'}"
        rows.append(
            [
                label,
                millis(r.wall[label]),
                millis(r.wall[label] - empty),
                millis(r.imports[label]),
                ratio(ratio_of[label]) if label in ratio_of else "",
                verdict,
            ]
        )
    cold = Table(
        "Cold start: the worker's import from its bundle vs. a Powertools batch handler's (targets: ≤ 1.15x traced, "
        "≤ 1.3x untraced)",
        [
            "variant",
            "wall time (median)",
            "less an empty interpreter's",
            "python -X importtime (sum of top-level cumulative)",
            "ratio to its baseline (wall less empty)",
            "target",
        ],
        rows,
        notes=[
            f"Worker: `{WORKER}` (handler {packaging.HANDLER}) in a fresh `python {NO_SITE}` started in the staged "
            "bundle, PYTHONPATH = the bundle + this venv's site-packages, SQUALL_APP=examples.shop.tasks:app and a "
            "SQUALL_CONFIG document; it builds the handler. Untraced: POWERTOOLS_TRACE_DISABLED=true, as the stack "
            "sets it for `squall:tracing=false`: the worker builds no Tracer and never imports the X-Ray SDK. "
            "Traced: unset, as deployed by default: the worker builds Powertools' Tracer. "
            f"Baselines: `{BASELINE}`, and traced `{TRACED_BASELINE}`; same interpreter, paths and environment. "
            f"{r.runs} interleaved fresh interpreters per variant; an empty interpreter takes {millis(empty)}.",
            "'source': the bundle as staged when the synth has no interpreter of the functions' Python "
            f"({packaging.PYTHON_VERSION}): every squall module is compiled at each cold start, as /var/task is "
            "read-only. 'bytecode': compiled at synth (squall.cdk.bytecode), here by this machine's Python "
            f"{sys.version_info.major}.{sys.version_info.minor} standing in for the runtime's.",
            "Largest imports inside the worker (bytecode, untraced), as -X importtime reports them (cumulative; "
            "importtime inflates every figure): " + ", ".join(f"{name} {us / 1000:.1f} ms" for name, us in r.largest),
        ],
    )
    return [sizes, cold]
