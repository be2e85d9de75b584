"""Task options, declared once: what ``@app.task(...)`` takes, and the frozen options a task keeps.

:class:`TaskOptionArgs` types the keyword arguments of ``@app.task`` (the overloads of :meth:`squall.Squall.task`
take ``**options: Unpack[TaskOptionArgs]``, so mypy checks each one); :class:`TaskOptions` is what a declared task
keeps; :func:`task_options` is the one place that turns the first into the second and validates them.

Options an extension adds are declared once by the extension, in its ``task_options`` mapping (option name to a
check returning a problem or None, see :class:`squall.tasks.extensions.Extension`), and passed in one keyword,
``extra``: ``@app.task(extra={"rate_limit": "10/s"})``. Keeping them out of the keywords keeps the core ones
typed: a misspelt ``max_retry=3`` is a mypy error, and an unknown key of ``extra`` is refused when the decorator
is applied, naming the options that exist. The task reads them back from ``task.options.extra``.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

from squall import limits
from squall.errors import InvalidArguments, TaskDefinitionError
from squall.tasks import flow
from squall.wire.codec import MAX_DEPTH, short_repr
from squall.wire.envelope import valid_task_name
from squall.wire.options import declare_option

if TYPE_CHECKING:
    from squall.protocols import App
    from squall.tasks.extensions import Extension

#: A value JSON carries as itself: what an extension's task option may hold.
JSONValue: TypeAlias = "bool | int | float | str | Sequence[JSONValue] | Mapping[str, JSONValue] | None"
#: An extension's check of one of its task options: what is wrong with a value, or None if it is usable.
OptionCheck: TypeAlias = Callable[[Any], "str | None"]

#: An extension option's name: like an envelope option's (squall.wire.envelope), 1-64 of a-z, 0-9 and _.
_EXTRA_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class TaskOptionArgs(TypedDict, total=False):
    """The keyword arguments of ``@app.task(...)`` besides ``bind`` (which decides the decorator's type).

    Each is described on :class:`TaskOptions`, which holds the defaults.
    """

    name: str | None
    queue: str | None
    max_retries: int
    retry_backoff: float | bool
    retry_backoff_max: float
    retry_jitter: bool
    autoretry_for: Sequence[type[BaseException]]
    dont_autoretry_for: Sequence[type[BaseException]]
    ignore_result: bool
    result_ttl: int
    expected_duration: float | None
    rate_limit: str | None
    burst: int
    concurrency_limit: int | None
    flow_key: str | None
    expires: float | None
    track: bool
    tenant_key: str | None
    time_limit: float | None
    soft_time_limit: float | None
    extra: Mapping[str, JSONValue]


#: The options ``@app.task`` takes besides ``bind``, in the order error messages list them.
CORE_OPTIONS: tuple[str, ...] = tuple(TaskOptionArgs.__annotations__)


@dataclass(frozen=True, slots=True)
class TaskOptions:
    """How a task is queued, retried and recorded."""

    name: str
    queue: str = limits.DEFAULT_QUEUE
    max_retries: int = limits.DEFAULT_MAX_RETRIES
    #: Base of the exponential backoff, in seconds (False: retry with no delay).
    retry_backoff: float = limits.DEFAULT_RETRY_BACKOFF
    #: Cap on one backoff delay, in seconds.
    retry_backoff_max: float = limits.DEFAULT_RETRY_BACKOFF_MAX
    retry_jitter: bool = True
    #: Exceptions retried automatically; anything else makes the task DEAD at once.
    autoretry_for: tuple[type[BaseException], ...] = (Exception,)
    #: Exceptions never retried, even when they match autoretry_for.
    dont_autoretry_for: tuple[type[BaseException], ...] = ()
    ignore_result: bool = False
    #: Seconds a finished task's result stays readable.
    result_ttl: int = limits.DEFAULT_RESULT_TTL_SECONDS
    bind: bool = False
    #: Seconds one run is expected to take at most: a record is not started with less time left in the
    #: invocation (it goes back to the queue without spending an attempt). None: the longest run seen so far.
    expected_duration: float | None = None
    #: A global rate limit (Celery's syntax, "100/s", "5/m", "1/h"), shared by every worker: per flow key when
    #: ``flow_key`` is given. None: unlimited. See squall.tasks.flow and docs/flow-control.md.
    rate_limit: str | None = None
    #: Admissions a rate limit may let through at once after an idle spell (1: evenly spaced, no burst).
    burst: int = 1
    #: Runs of this task (per flow key) at one time across every worker. None: unlimited.
    concurrency_limit: int | None = None
    #: The argument whose value keys the limits (one budget per value); None: one budget for the task.
    flow_key: str | None = None
    #: Seconds after sending when the task expires: a delivery after it is REVOKED as expired, never run.
    expires: float | None = None
    #: False: no DynamoDB record at all (no state, no result, no claim): at-least-once from the envelope alone.
    track: bool = True
    #: The argument whose value names the call's tenant: the SQS message group id of a fair queue.
    tenant_key: str | None = None
    #: Seconds one run may take: past it the run is stopped and the attempt fails with TimeLimitExceeded (must fit
    #: the worker's timeout, checked when the app is deployed or run locally). None: the invocation's own limit.
    time_limit: float | None = None
    #: Seconds after which SoftTimeLimitExceeded is raised inside the run, once, so it can clean up. None: never.
    soft_time_limit: float | None = None
    #: The options the app's extensions declare, by name (read-only; checked by :func:`task_options`).
    extra: Mapping[str, JSONValue] = field(default_factory=lambda: _EMPTY, hash=False)

    def __post_init__(self) -> None:
        if not valid_task_name(self.name):
            raise TaskDefinitionError(
                f"task name {self.name!r} cannot travel in an envelope: use up to 256 ASCII letters, digits "
                "and _.:<>- starting with a letter or '_' (give name='...' to @app.task)"
            )
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or not 0 <= self.max_retries <= limits.MAX_RETRIES_CEILING
        ):
            raise TaskDefinitionError(
                f"task {self.name!r}: max_retries must be an int 0-{limits.MAX_RETRIES_CEILING} "
                f"(SQS's maxReceiveCount bounds attempts), got {self.max_retries!r}"
            )
        if self.retry_backoff < 0 or self.retry_backoff_max < 0:
            raise TaskDefinitionError(f"task {self.name!r}: retry_backoff and retry_backoff_max must be >= 0")
        if self.retry_backoff_max > limits.MAX_ETA_AHEAD_SECONDS:
            raise TaskDefinitionError(
                f"task {self.name!r}: retry_backoff_max {self.retry_backoff_max} exceeds "
                f"{limits.MAX_ETA_AHEAD_SECONDS} s, the longest wait Squall accepts"
            )
        if self.expected_duration is not None and not (
            0 < self.expected_duration <= limits.LAMBDA_MAX_TIMEOUT_SECONDS - limits.DEADLINE_MARGIN_SECONDS
        ):
            raise TaskDefinitionError(
                f"task {self.name!r}: expected_duration {self.expected_duration!r} must be more than 0 and at most "
                f"{limits.LAMBDA_MAX_TIMEOUT_SECONDS - limits.DEADLINE_MARGIN_SECONDS:g} s (Lambda's longest timeout "
                "less the margin kept for writes)"
            )
        limits_problem = time_limits_problem(self.time_limit, self.soft_time_limit)
        if limits_problem is not None:
            raise TaskDefinitionError(f"task {self.name!r}: {limits_problem}")
        flow_problem = flow.task_problem(self)
        if flow_problem is not None:
            raise TaskDefinitionError(f"task {self.name!r}: {flow_problem}")
        if self.result_ttl < 1:
            raise TaskDefinitionError(f"task {self.name!r}: result_ttl must be at least 1 second")
        for label, kinds in (("autoretry_for", self.autoretry_for), ("dont_autoretry_for", self.dont_autoretry_for)):
            if not all(isinstance(k, type) and issubclass(k, BaseException) for k in kinds):
                raise TaskDefinitionError(f"task {self.name!r}: {label} must be a tuple of exception classes")

    def should_retry(self, exc: BaseException) -> bool:
        """Whether ``exc`` is retried automatically."""
        return isinstance(exc, self.autoretry_for) and not isinstance(exc, self.dont_autoretry_for)


def limit_problem(label: str, value: object) -> str | None:
    """What is wrong with one time limit called ``label`` (None: usable, or not given)."""
    most = limits.LAMBDA_MAX_TIMEOUT_SECONDS - limits.DEADLINE_MARGIN_SECONDS
    if value is None or (not isinstance(value, bool) and isinstance(value, int | float) and 0 < value <= most):
        return None
    return (
        f"{label} {value!r} must be a number of seconds more than 0 and at most {most:g} (Lambda's longest "
        "timeout less the margin kept for writes)"
    )


def time_limits_problem(hard: float | None, soft: float | None) -> str | None:
    """What is wrong with a ``time_limit`` / ``soft_time_limit`` pair, or None; the worker's timeout is checked
    where it is known (squall.deploy.topology.check_fits)."""
    for label, value in (("time_limit", hard), ("soft_time_limit", soft)):
        problem = limit_problem(label, value)
        if problem is not None:
            return problem
    if hard is not None and soft is not None and soft >= hard:
        return f"soft_time_limit {soft:g} s must be less than time_limit {hard:g} s, so the task can clean up first"
    return None


def call_time_limits(name: str, hard: float | None, soft: float | None) -> dict[str, float]:
    """The envelope options of one call's own time limits (those given, each checked; both given, the soft one
    first), overriding task ``name``'s. InvalidArguments names the problem."""
    problem = time_limits_problem(hard, soft)
    if problem is not None:
        raise InvalidArguments(f"task {name!r}: {problem}")
    given = (("time_limit", hard), ("soft_time_limit", soft))
    return {label: float(value) for label, value in given if value is not None}


# A call's own limits travel as envelope options (squall.wire.options), kept by its retries. Neither is required:
# a worker that does not know them applies the task's limits, as it did before they existed.
#: The call's hard limit (seconds), instead of the task's ``time_limit``.
declare_option("time_limit", functools.partial(limit_problem, "time_limit"))
#: The call's soft limit (seconds), instead of the task's ``soft_time_limit``.
declare_option("soft_time_limit", functools.partial(limit_problem, "soft_time_limit"))


def task_options(args: Mapping[str, Any], *, name: str, bind: bool, app: App) -> TaskOptions:
    """Turn ``@app.task`` arguments into TaskOptions, or raise TaskDefinitionError naming the option at fault.

    ``name`` is the task's name when ``args`` gives none; a task that names no queue goes to the app's default
    queue. Each key of ``extra`` must be declared by one of the app's extensions and pass its check.
    """
    task = args.get("name") or name
    declared = declared_options(app.extensions)
    unknown = [key for key in args if key not in CORE_OPTIONS]
    if unknown:
        hints = "".join(
            f"; {key!r} is an extension's option: pass it as extra={{{key!r}: ...}}"
            for key in unknown
            if key in declared
        )
        raise TaskDefinitionError(
            f"task {task!r}: @app.task takes no option {', '.join(map(repr, unknown))}; its options are "
            f"bind, {', '.join(CORE_OPTIONS)}{hints}"
        )
    queue = args.get("queue") or app.default_queue
    if queue not in app.queues:
        raise TaskDefinitionError(
            f"task {task!r} names queue {queue!r}, which app {app.name!r} does not declare; "
            f"declared: {', '.join(app.queues)}"
        )
    values: dict[str, Any] = {k: v for k, v in args.items() if k not in ("name", "queue", "extra")}
    if "retry_backoff" in values:
        values["retry_backoff"] = 0.0 if values["retry_backoff"] is False else float(values["retry_backoff"])
    for label in ("autoretry_for", "dont_autoretry_for"):
        if label in values:
            values[label] = tuple(values[label])
    extra = _checked_extra(task, args.get("extra"), declared)
    return TaskOptions(name=task, queue=queue, bind=bind, extra=extra, **values)


def declared_options(extensions: Iterable[Extension]) -> dict[str, OptionCheck]:
    """Every task option the extensions declare, by name; TaskDefinitionError if two declare one, or a core one."""
    declared: dict[str, OptionCheck] = {}
    owners: dict[str, str] = {}
    for extension in extensions:
        for option, check in extension.task_options.items():
            if not isinstance(option, str) or not _EXTRA_NAME.fullmatch(option):
                raise TaskDefinitionError(
                    f"extension {extension.name!r} declares task option {option!r}: name it with 1-64 of a-z, 0-9 "
                    "and _, starting with a letter"
                )
            if option in CORE_OPTIONS:
                raise TaskDefinitionError(
                    f"extension {extension.name!r} declares task option {option!r}, a core option of @app.task; "
                    "give it another name"
                )
            if option in owners:
                raise TaskDefinitionError(
                    f"extensions {owners[option]!r} and {extension.name!r} both declare task option {option!r}; "
                    "an option is declared once"
                )
            declared[option], owners[option] = check, extension.name
    return declared


def _checked_extra(task: str, extra: object, declared: Mapping[str, OptionCheck]) -> Mapping[str, JSONValue]:
    if extra is None:
        return _EMPTY
    if not isinstance(extra, Mapping):
        raise TaskDefinitionError(f"task {task!r}: extra must map extension option names to values, got {extra!r}")
    for key, value in extra.items():
        check = declared.get(key)
        if check is None:
            raise TaskDefinitionError(
                f"task {task!r}: no extension of this app declares task option {key!r}; declared: "
                f"{', '.join(sorted(declared)) or 'none'} (core options are keywords of @app.task, not extra)"
            )
        if not _is_json(value):
            raise TaskDefinitionError(
                f"task {task!r}: option {key!r} must be plain JSON data (None, bool, int, float, str, list, dict "
                f"with str keys), got {short_repr(value)}"
            )
        problem = check(value)
        if problem is not None:
            raise TaskDefinitionError(f"task {task!r}: option {key!r} {problem}")
    return MappingProxyType(dict(extra))


def _is_json(value: object, depth: int = 0) -> bool:
    """Whether ``value`` is plain JSON data (finite numbers, str keys), nested at most MAX_DEPTH levels."""
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if depth >= MAX_DEPTH:
        return False
    if isinstance(value, (list, tuple)):
        return all(_is_json(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_json(v, depth + 1) for k, v in value.items())
    return False
