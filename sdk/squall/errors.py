"""Squall's errors: one root, a small tree, context on attributes, messages that say what to do.

``Retry`` is not here: it is control flow, raised by a task to ask for another attempt.
"""

from __future__ import annotations

from collections.abc import Sequence


class SquallError(Exception):
    """Root of every error Squall raises."""


class ConfigurationError(SquallError):
    """Squall cannot find or accept its settings (queue URLs, table name, region...)."""

    def __init__(self, message: str, *, missing: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.missing = tuple(missing)


class TaskDefinitionError(SquallError, ValueError):
    """A task was declared with options that cannot work (a bad name, retry setting or queue)."""


class TaskNotRegistered(SquallError, LookupError):
    """No task of this name is registered with the app."""

    def __init__(self, name: str, known: Sequence[str] = ()) -> None:
        hint = f" Registered tasks: {', '.join(sorted(known))}." if known else ""
        super().__init__(
            f"no task named {name!r} is registered with this app.{hint} "
            "Check the task's name, and that the module defining it is imported by the worker."
        )
        self.name = name


class EncodeError(SquallError, ValueError):
    """A value cannot be carried as JSON; ``path`` names the argument and where inside it."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class InvalidArguments(SquallError, TypeError):
    """The arguments do not bind to the task's signature."""


class InvalidTaskId(SquallError, ValueError):
    """A task id that cannot be used (DynamoDB keys, SQS attributes and schedule names carry it)."""


class MessageTooLarge(SquallError, ValueError):
    """An encoded task exceeds the size limit of the service carrying it (SQS, or EventBridge Scheduler)."""

    def __init__(self, task_name: str, size: int, limit: int, *, service: str = "SQS") -> None:
        super().__init__(
            f"task {task_name!r} encodes to {size:,} bytes, over the {service} limit of {limit:,} bytes. "
            "Pass a reference (an S3 key, a database id) instead of the data itself."
        )
        self.size = size
        self.limit = limit


class DecodeError(SquallError, ValueError):
    """A message body is not a valid Squall envelope; ``reason`` says what is wrong."""

    def __init__(self, reason: str, *, task_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.task_id = task_id


class SignatureError(DecodeError):
    """A message is unsigned, malformed, signed with an unknown key, or altered; ``reason`` says which."""


class NotIndexed(SquallError, ValueError):
    """A listing asked for a state the index does not hold; the message says why and what to do."""


class DrainError(SquallError, RuntimeError):
    """The local runtime's ``drain`` gave up: work kept coming past its invocation or time budget."""


class InvalidSchedule(SquallError, ValueError):
    """A schedule expression, time zone or delay cannot be used; the message names the field."""


class EnqueueError(SquallError):
    """Some tasks were not enqueued; ``failed`` maps each task id to why, ``sent`` lists those that went."""

    def __init__(self, failed: dict[str, str], sent: Sequence[str] = ()) -> None:
        detail = "; ".join(f"{task_id}: {why}" for task_id, why in list(failed.items())[:5])
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        super().__init__(
            f"{len(failed)} task(s) were not enqueued: {detail}{more}. "
            "They may be sent again with the same task ids; duplicates are run once."
        )
        self.failed = dict(failed)
        self.sent = tuple(sent)


class StoreError(SquallError):
    """A task-state write was refused or could not be understood; the message says which task and why."""


class ItemTooLarge(StoreError):
    """DynamoDB refused a write because the item would exceed its size limit; nothing was applied."""


class LeaseLost(StoreError):
    """This attempt's claim on the task lapsed and another attempt took it over; stop working on it."""


class SoftTimeLimitExceeded(SquallError):
    """Raised inside a task that ran past its ``soft_time_limit``: catch it to clean up, then return or raise.

    Raised once per run, at the point the task had reached (sync and ``async def`` tasks alike); the hard
    ``time_limit``, if the task has one, still stops it later.
    """


class TimeLimitExceeded(SquallError):
    """The task ran past its hard ``time_limit`` and was stopped: the error of that failed attempt."""


class ResultTimeout(SquallError, TimeoutError):
    """``AsyncResult.get`` waited its whole timeout without the task finishing."""


class TaskFailed(SquallError):
    """The task is DEAD: its retries are exhausted or its message could not be run.

    The original exception is never rebuilt; its type, message and traceback are kept as strings.
    """

    def __init__(self, task_id: str, exc_type: str, message: str, traceback: str = "") -> None:
        super().__init__(f"task {task_id} failed: {exc_type}: {message}")
        self.task_id = task_id
        self.exc_type = exc_type
        self.message = message
        self.traceback = traceback


class TaskRevoked(SquallError):
    """The task was revoked before it ran."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id} was revoked before it ran")
        self.task_id = task_id


class TaskUntracked(SquallError, LookupError):
    """The task is declared ``track=False``: no state or result of it is kept, so there is nothing to read."""

    def __init__(self, task_id: str, task_name: str | None = None) -> None:
        named = f" of {task_name}" if task_name else ""
        super().__init__(
            f"task {task_id}{named} is untracked (track=False): no state, result or progress is kept for it; "
            "declare the task with track=True (the default) to read them"
        )
        self.task_id = task_id


class ScheduleNotFound(SquallError, LookupError):
    """No dynamic schedule of this name exists in the app's schedule group."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no schedule named {name!r} exists; app.schedules.list() shows the existing ones")
        self.name = name


class ScheduleExists(SquallError):
    """A dynamic schedule of this name already exists; delete it first or pick another name."""

    def __init__(self, name: str) -> None:
        super().__init__(
            f"a schedule named {name!r} already exists; delete it first (app.schedules.delete) or pick another name"
        )
        self.name = name


class ApiRequestError(SquallError, ValueError):
    """A REST API request that cannot be served; ``status`` is the HTTP status it answers with (400, 404...)."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class TargetRefused(SquallError, ValueError):
    """An HTTP target that Squall will not call: not http(s), or an address that is not globally routable."""

    def __init__(self, url: str, cause: str) -> None:
        super().__init__(
            f"HTTP target {url!r} refused: {cause}; call a public http(s) address "
            "(private ones only with local.run(app, allow_private_targets=True) or squall dev --allow-private-targets)"
        )
        self.url = url
        self.cause = cause


class DeliveryFailed(SquallError):
    """An HTTP target answered in a way that another attempt will not change (a 4xx, too many redirects)."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"HTTP target {url!r} {problem}; fix the target or the request and send it again")
        self.url = url
        self.problem = problem
