"""Type-checked by ``mypy --strict`` in ``./run test`` (not collected by pytest): the options of ``@app.task``.

The options are one ``TypedDict`` (``squall.tasks.options.TaskOptionArgs``) unpacked into the decorator's
overloads, so each is checked by name and type. Each ``# type: ignore[...]`` marks a declaration that must be
rejected; with ``warn_unused_ignores`` (part of --strict), mypy fails if one of them stops being an error.
"""

from __future__ import annotations

from squall import AsyncResult, Squall, TaskContext

app = Squall("typing-options")


@app.task(max_retries=5, retry_backoff=False, autoretry_for=(OSError,), expected_duration=30.0, queue="default")
def charge(order_id: str, amount: int) -> int:
    return amount


@app.task(bind=True, result_ttl=3600, extra={"rate_limit": "10/s", "weights": [1, 2.5], "tags": {"a": None}})
def report(task: TaskContext, month: str) -> str:
    return month


@app.task(max_retry=5)  # type: ignore[call-overload, untyped-decorator]  # a misspelt core option
def misspelt(x: int) -> int:
    return x


@app.task(max_retries="5")  # type: ignore[call-overload, untyped-decorator]  # a core option of the wrong type
def ill_typed(x: int) -> int:
    return x


@app.task(quota="10/s")  # type: ignore[call-overload, untyped-decorator]  # an extension's option belongs in extra={...}
def outside_extra(x: int) -> int:
    return x


@app.task(extra={"quota": object()})  # type: ignore[dict-item]  # extension options are JSON values
def not_json(x: int) -> int:
    return x


def options_keep_the_task_typed() -> None:
    charged: AsyncResult[int] = charge.delay("o-1", 100)
    built: AsyncResult[str] = report.delay("2026-10")
    charge.delay("o-1", "100")  # type: ignore[arg-type]
    report.delay(7)  # type: ignore[arg-type]
    del charged, built


@app.task(rate_limit="10/s", concurrency_limit=2, flow_key="x", expires=60, track=False)  # flow control: core options
def limited(x: int) -> int:
    return x
