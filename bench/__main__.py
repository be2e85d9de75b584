"""``python -m bench``: run the benchmark suite and print its tables as Markdown.

python -m bench                 # the documented run (docs/benchmarks.md): N = 1000, 10,000 enqueued
python -m bench --quick         # a few seconds: tiny N and few repetitions (CI's smoke run)
python -m bench --only per_task,cost --out results.md
python -m bench --only workflows --n 1000   # chains, a group and a chord of 1000 members
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import (
    api_requests,
    batch_concurrency,
    coldstart,
    enqueue,
    http_targets,
    offload,
    overhead,
    peers,
    per_task,
    scale_tables,
    send_concurrency,
    workflow_tables,
    workflows,
)
from bench.report import Table

SECTIONS = (
    "per_task",
    "peers",
    "http_targets",
    "api",
    "overhead",
    "batch_concurrency",
    "coldstart",
    "enqueue",
    "workflows",
    "scale",
    "offload",
)
#: Burst sizes of the scale model: the documented run, and the quick one (which leaves the committed chart alone).
SCALE_SIZES = (1_000_000, 10_000_000)
SCALE_QUICK_SIZES = (10_000, 100_000)


def machine() -> str:
    """This machine, as docs/benchmarks.md describes it."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: the platform string below still says what it is
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.machine()}, Python {platform.python_version()}"
    )


def run(
    *,
    n: int,
    enqueue_n: int,
    repetitions: int,
    coldstart_runs: int,
    celery_n: int,
    sections: Sequence[str] = SECTIONS,
    scale_sizes: Sequence[int] = SCALE_QUICK_SIZES,
) -> list[Table]:
    """Run the chosen sections; return their tables in order."""
    tables: list[Table] = []
    noop_usage = None
    if "per_task" in sections or "peers" in sections:
        results = per_task.run(n, only=() if "per_task" in sections else ("noop",))
        noop = next((m for m in results if m.key == "noop" and not m.unavailable), None)
        noop_usage = noop.usage() if noop else None
        if "per_task" in sections:
            tables += per_task.tables(results)
    if "peers" in sections:
        tables += peers.tables(noop_usage, peers.measure_celery(celery_n))
    if "http_targets" in sections:
        tables += http_targets.tables(http_targets.measure(n))
    if "api" in sections:
        tables += api_requests.tables(api_requests.measure(min(n, 500)))
    if "overhead" in sections:
        full = repetitions > 5
        measured = overhead.measure(
            overhead.BATCHES if full else (1, 10, 100),
            records_per_sample=1000 if full else 100,
            repetitions=repetitions,
        )
        tables += overhead.tables(measured, overhead.emf_bytes_per_invocation())
        tables.append(overhead.decomposition_table(overhead.decomposition(15 if full else 2, 2000 if full else 50)))
        if full:
            overhead.chart(measured)
    if "batch_concurrency" in sections:  # about a second per sequential batch: one each way in a quick run
        tables += batch_concurrency.tables(batch_concurrency.measure(20 if repetitions > 5 else 1))
    if "coldstart" in sections:
        tables += coldstart.tables(coldstart.measure(coldstart_runs))
    if "enqueue" in sections:
        tables += enqueue.tables(enqueue.measure(enqueue_n))
        tables += send_concurrency.tables(send_concurrency.measure(enqueue_n))
    if "workflows" in sections:
        tables += workflow_tables.render(workflows.run(n))
    if "offload" in sections:  # a few tasks (one at tiny sizes): each moves megabytes through moto
        tables += offload.tables(offload.measure(5 if n > 10 else 1))
    if "scale" in sections:
        drains = scale_tables.run(scale_sizes)
        tables += scale_tables.tables(drains)
        if tuple(scale_sizes) == SCALE_SIZES:
            scale_tables.chart(drains)
    return tables


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run, print (and optionally write) the report."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="tasks per per-task scenario (default 1000)")
    parser.add_argument("--enqueue", type=int, default=10_000, help="tasks to enqueue (default 10,000)")
    parser.add_argument("--celery", type=int, default=None, help="tasks through Celery (default: --n)")
    parser.add_argument("--repetitions", type=int, default=25, help="timed samples per overhead figure")
    parser.add_argument("--coldstart-runs", type=int, default=30, help="fresh interpreters per cold-start figure")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run in a few seconds")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, help="also write the Markdown report here")
    args = parser.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    if args.quick:
        args.n, args.enqueue, args.repetitions, args.coldstart_runs = 10, 50, 3, 2
        args.celery = args.celery or 10
    missing = peers.celery_available()
    if missing and "peers" in sections:
        print(f"note: Celery will not be measured: {missing}", file=sys.stderr)
    started = time.perf_counter()
    tables = run(
        n=args.n,
        enqueue_n=args.enqueue,
        repetitions=args.repetitions,
        coldstart_runs=args.coldstart_runs,
        celery_n=args.celery or args.n,
        sections=sections,
        scale_sizes=SCALE_QUICK_SIZES if args.quick else SCALE_SIZES,
    )
    command = "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:])
    header = (
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC on {machine()}; `{command.strip()}`; "
        f"took {time.perf_counter() - started:.0f} s.\n"
    )
    report = header + "\n" + "\n".join(t.markdown() for t in tables)
    print(report)
    if args.out:
        args.out.write_text(report, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
