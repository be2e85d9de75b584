"""Run the fault-injection suite at any size: ``.venv/bin/python -m tests.reliability.run --n 5000``.

Prints the faults injected, the outcomes and any invariant that failed (exit status 1 then), as Markdown
ready for docs/reliability.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys

from tests.reliability.harness import FaultPlan, run_suite


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the suite, print the report; 1 if any invariant failed."""
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.run", description=__doc__)
    parser.add_argument("--n", type=int, default=5000, help="tasks to send (default 5000)")
    parser.add_argument("--seed", type=int, default=FaultPlan.seed, help=f"random seed (default {FaultPlan.seed})")
    parser.add_argument(
        "--intensity", type=float, default=1.0, help="multiply every infrastructure fault rate (default 1)"
    )
    args = parser.parse_args(argv)
    plan = FaultPlan(n=args.n, seed=args.seed).intensified(args.intensity)
    report = run_suite(plan)
    intensity = f" --intensity {args.intensity:g}" if args.intensity != 1 else ""
    print(f"command: .venv/bin/python -m tests.reliability.run --n {plan.n} --seed {plan.seed}{intensity}")
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}")
    print(f"python: {platform.python_version()}")
    print(f"wall time: {report.wall_seconds:.1f} s; simulated time: {report.fake_seconds / 3600:.1f} h\n")
    print(report.table())
    print()
    if report.violations:
        print("INVARIANTS VIOLATED:")
        for violation in report.violations:
            print(f"- {violation}")
        return 1
    print("every invariant held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
