"""Worker functions: the default one every queue shares, and one per queue that declares its own sizing.

``Queue("reports", timeout=900, memory=1024)`` gets a function of its own; a queue without sizing is served by
the default worker (``squall:timeout`` / ``squall:memory``). Each function's timeout is what its queues' visibility
timeouts, the deadline its invocations see and the time limits its tasks may declare derive from
(:mod:`squall.deploy.topology`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from squall import limits
from squall.errors import TaskDefinitionError

if TYPE_CHECKING:
    from squall.protocols import App


class SizedQueue(Protocol):
    """What a queue declares about its own worker (:class:`squall.deploy.topology.Queue`)."""

    @property
    def name(self) -> str: ...
    @property
    def timeout(self) -> int | None: ...
    @property
    def memory(self) -> int | None: ...
    @property
    def reserved_concurrency(self) -> int | None: ...
    @property
    def ephemeral_storage(self) -> int | None: ...


def sizing_problem(
    timeout: int | None, memory: int | None, reserved_concurrency: int | None, ephemeral_storage: int | None
) -> str | None:
    """What is wrong with a worker's sizing, against Lambda's ranges (squall.limits), or None; None values are unset."""
    checks = (
        ("timeout", timeout, limits.LAMBDA_MIN_TIMEOUT_SECONDS, limits.LAMBDA_MAX_TIMEOUT_SECONDS, " seconds"),
        ("memory", memory, limits.LAMBDA_MIN_MEMORY_MB, limits.LAMBDA_MAX_MEMORY_MB, " MB"),
        (
            "ephemeral_storage",
            ephemeral_storage,
            limits.LAMBDA_MIN_EPHEMERAL_STORAGE_MB,
            limits.LAMBDA_MAX_EPHEMERAL_STORAGE_MB,
            " MB",
        ),
        ("reserved_concurrency", reserved_concurrency, limits.LAMBDA_MIN_RESERVED_CONCURRENCY, None, ""),
    )
    for label, value, low, high, unit in checks:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{label} {value!r} must be a whole number{unit}"
        if value < low or (high is not None and value > high):
            bounds = f"{low}-{high}{unit}" if high is not None else f"at least {low}"
            return f"{label} {value} must be {bounds}"
    return None


@dataclass(frozen=True, slots=True)
class WorkerSizing:
    """A worker function's timeout (seconds) and memory (MB), and, if set, its reserved concurrency and
    ephemeral storage (MB; None: Lambda's defaults, no reservation and 512 MB)."""

    timeout: int = limits.DEFAULT_WORKER_TIMEOUT_SECONDS
    memory: int = limits.DEFAULT_WORKER_MEMORY_MB
    reserved_concurrency: int | None = None
    ephemeral_storage: int | None = None

    def __post_init__(self) -> None:
        problem = sizing_problem(self.timeout, self.memory, self.reserved_concurrency, self.ephemeral_storage)
        if problem is not None:
            raise TaskDefinitionError(f"worker {problem}")


@dataclass(frozen=True, slots=True)
class WorkerResource:
    """The function of one queue that declares its own sizing."""

    #: The declared queue it consumes (every lane of it).
    queue: str
    #: Its physical name, ``<prefix>-worker-<queue>`` (Lambda's 64-character limit is checked at synth).
    function_name: str
    sizing: WorkerSizing


def is_sized(queue: SizedQueue) -> bool:
    """Whether ``queue`` declares any sizing, and so gets its own function."""
    return any(
        value is not None
        for value in (queue.timeout, queue.memory, queue.reserved_concurrency, queue.ephemeral_storage)
    )


def queue_worker(queue: SizedQueue, default: WorkerSizing, prefix: str) -> WorkerResource | None:
    """The function of ``queue`` if it declares sizing (what it leaves unset is the default worker's), else None."""
    if not is_sized(queue):
        return None
    sizing = WorkerSizing(
        timeout=queue.timeout if queue.timeout is not None else default.timeout,
        memory=queue.memory if queue.memory is not None else default.memory,
        reserved_concurrency=queue.reserved_concurrency,
        ephemeral_storage=queue.ephemeral_storage,
    )
    return WorkerResource(queue=queue.name, function_name=f"{prefix}-worker-{queue.name}", sizing=sizing)


def check_reservation(what: str, reserved_concurrency: int | None, polling_concurrency: int | None) -> None:
    """Refuse a reservation ``what`` (``queue 'reports'``, or the default worker)'s event sources could outgrow.

    An event source does not account for the function's reserved concurrency: it may receive more batches than
    the function can run, and Lambda throttles those (AWS re:Post knowledge center, "lambda-sqs-scaling"), each
    spending a receive of its messages toward the redrive policy's maxReceiveCount. So the sum of the event
    sources' MaximumConcurrency (``polling_concurrency``; None: one has no cap) must stay within the reservation.
    0 is Lambda's way to stop a function and is accepted as that.
    """
    if not reserved_concurrency:
        return
    if polling_concurrency is None or polling_concurrency > reserved_concurrency:
        polls = "a queue without max_concurrency" if polling_concurrency is None else f"{polling_concurrency}"
        raise TaskDefinitionError(
            f"{what}: reserved_concurrency {reserved_concurrency} is below what its event sources may run "
            f"({polls}: max_concurrency of every queue and lane it consumes, together); cap them to at most "
            f"{reserved_concurrency} in all or raise reserved_concurrency"
        )


def check_fits(app: App, sizing: WorkerSizing, queues: Mapping[str, WorkerSizing] | None = None) -> None:
    """Refuse a task whose declared ``expected_duration`` or time limits can never fit in one invocation of the
    worker of its queue (``queues``: the sized queues' own; the others' is ``sizing``): a limit past the function's
    timeout would never be what stops the run."""
    default = sizing
    for task in app.tasks.values():
        sizing = (queues or {}).get(task.options.queue, default)
        room = sizing.timeout - limits.DEADLINE_MARGIN_SECONDS
        setting = (
            f"Queue({task.options.queue!r}, timeout=...)" if task.options.queue in (queues or {}) else "squall:timeout"
        )
        for label in ("time_limit", "soft_time_limit"):
            limit = getattr(task.options, label)
            if limit is not None and limit > room:
                raise TaskDefinitionError(
                    f"task {task.name!r}: {label} {limit:g} s does not fit in the worker's {sizing.timeout} s timeout "
                    f"less the {limits.DEADLINE_MARGIN_SECONDS:g} s kept for its writes; raise the worker timeout "
                    f"({setting}) to at least {limit + limits.DEADLINE_MARGIN_SECONDS:g} or lower {label}"
                )
        expected = task.options.expected_duration
        if expected is not None and expected > room:
            raise TaskDefinitionError(
                f"task {task.name!r}: expected_duration {expected:g} s cannot fit in the worker's {sizing.timeout} s "
                f"timeout less the {limits.DEADLINE_MARGIN_SECONDS:g} s kept for its writes; raise the worker timeout "
                f"({setting}) or split the task"
            )
