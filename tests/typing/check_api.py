"""Type-checked by ``mypy --strict`` in ``./run test`` (not collected by pytest).

Each ``# type: ignore[...]`` marks a call that must be rejected: with ``warn_unused_ignores`` (part of
--strict), mypy fails if a marked call stops being an error, so these lines prove that ``delay``, ``s`` and
``apply_async`` are checked against the task's own signature.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from squall import AsyncResult, Signature, Squall, TaskContext

app = Squall("typing")


@app.task(max_retries=5)
def charge(order_id: str, amount: int) -> dict[str, int]:
    return {order_id: amount}


@app.task(bind=True)
def build_report(task: TaskContext, month: str) -> str:
    task.progress(40, "aggregating")
    return month


@app.task
async def fetch(url: str, retries: int = 0) -> bytes:
    return url.encode()


@app.task(bind=True)
async def crawl(task: TaskContext, site: str) -> list[str]:
    task.progress(10, "starting")
    return [site]


def well_typed() -> None:
    result: AsyncResult[dict[str, int]] = charge.delay("o-1", 100)
    signature: Signature[dict[str, int]] = charge.s("o-1", amount=100)
    partial: Signature[dict[str, int]] = charge.s("o-1")  # a chain step: given its parent's result first
    del partial
    report: AsyncResult[str] = build_report.delay("2026-10")
    direct: dict[str, int] = charge("o-1", 100)
    del result, signature, report, direct


def async_tasks_carry_the_awaited_type() -> None:
    fetched: AsyncResult[bytes] = fetch.delay("https://example.com")
    later: AsyncResult[bytes] = fetch.apply_async(("https://example.com",), countdown=60)
    signature: Signature[bytes] = fetch.s("https://example.com", retries=2)
    pages: AsyncResult[list[str]] = crawl.delay("example.com")
    body: bytes | None = fetched.get()
    sent: AsyncResult[bytes] = signature.delay()
    coroutine: Coroutine[Any, Any, bytes] = fetch("https://example.com")  # a plain call returns the coroutine
    coroutine.close()
    del later, pages, body, sent


def ill_typed() -> None:
    charge.delay("o-1", "100")  # type: ignore[arg-type]
    charge.delay("o-1")  # type: ignore[call-arg]
    charge.si(1, 2)  # type: ignore[arg-type]
    build_report.delay(7)  # type: ignore[arg-type]
    wrong: AsyncResult[str] = charge.delay("o-1", 1)  # type: ignore[assignment]
    fetch.delay(42)  # type: ignore[call-overload]
    fetch.si()  # type: ignore[call-overload]
    crawl.delay()  # type: ignore[call-overload]
    unawaited: AsyncResult[Coroutine[Any, Any, bytes]] = fetch.delay("u")  # type: ignore[assignment]
    del wrong, unawaited
