"""Type-checked by ``mypy --strict`` in ``./run test`` (not collected by pytest).

Each ``# type: ignore[...]`` marks a call that must be rejected: with ``warn_unused_ignores`` (part of
--strict), mypy fails if a marked call stops being an error, so these lines prove that ``delay``, ``s`` and
``apply_async`` are checked against the task's own signature.
"""

from __future__ import annotations

from squall import AsyncResult, Signature, Squall, TaskContext

app = Squall("typing")


@app.task(max_retries=5)
def charge(order_id: str, amount: int) -> dict[str, int]:
    return {order_id: amount}


@app.task(bind=True)
def build_report(task: TaskContext, month: str) -> str:
    task.progress(40, "aggregating")
    return month


def well_typed() -> None:
    result: AsyncResult[dict[str, int]] = charge.delay("o-1", 100)
    signature: Signature[dict[str, int]] = charge.s("o-1", amount=100)
    report: AsyncResult[str] = build_report.delay("2026-10")
    direct: dict[str, int] = charge("o-1", 100)
    del result, signature, report, direct


def ill_typed() -> None:
    charge.delay("o-1", "100")  # type: ignore[arg-type]
    charge.delay("o-1")  # type: ignore[call-arg]
    charge.s(1, 2)  # type: ignore[arg-type]
    build_report.delay(7)  # type: ignore[arg-type]
    wrong: AsyncResult[str] = charge.delay("o-1", 1)  # type: ignore[assignment]
    del wrong
