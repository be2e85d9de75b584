"""Run the workflow fault suite at any size: ``.venv/bin/python -m tests.reliability.run_workflows --n 1000``.

Prints the workload, the faults injected, how the workflows ended and any invariant that failed (exit status 1
then), as Markdown ready for docs/reliability.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import platform
import sys

from tests.reliability.workflow_suite import run_workflow_suite
from tests.reliability.workflows import WorkflowPlan


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the suite, print the report; 1 if any invariant failed."""
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.run_workflows", description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="workflows to send (default 1000)")
    parser.add_argument(
        "--seed", type=int, default=WorkflowPlan.seed, help=f"random seed (default {WorkflowPlan.seed})"
    )
    parser.add_argument("--intensity", type=float, default=1.0, help="multiply every fault rate (default 1)")
    args = parser.parse_args(argv)
    plan = WorkflowPlan(n=args.n, seed=args.seed).intensified(args.intensity)
    with contextlib.redirect_stdout(io.StringIO()):  # Powertools prints metrics even when they are disabled
        report = run_workflow_suite(plan)
    options = f" --intensity {args.intensity:g}" if args.intensity != 1 else ""
    print(f"command: .venv/bin/python -m tests.reliability.run_workflows --n {plan.n} --seed {plan.seed}{options}")
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}")
    print(f"python: {platform.python_version()}")
    print(f"wall time: {report.wall_seconds:.1f} s; simulated time: {report.fake_seconds / 3600:.1f} h\n")
    print(report.table())
    print()
    if report.violations:
        print("INVARIANTS VIOLATED:")
        for invariant, samples in report.violations.items():
            print(f"- {invariant}: {len(samples)} ({', '.join(samples[:5])})")
        return 1
    print("every invariant held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
