"""Flow-control options, declared once: rate and concurrency limits, flow keys, expiry, tracking, tenants.

A task declares them with ``@app.task(rate_limit="100/s", concurrency_limit=2, flow_key="customer_id",
expires=3600, track=False, tenant_key="tenant")``; a call may give ``flow_key=``, ``expires=``, ``priority=``
and ``message_group_id=``. This module parses and checks their values (a problem phrase, or None, as every
option check in Squall) and declares the envelope options that carry them; the worker's limiter
(:mod:`squall.worker.limiter`) and the producer read them. See docs/flow-control.md.

Rates are Celery's syntax: ``"N/s"``, ``"N/m"``, ``"N/h"`` (and a bare ``N``, per second, as Celery reads it).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from squall import limits
from squall.errors import InvalidArguments
from squall.wire import codec
from squall.wire.options import declare_option

if TYPE_CHECKING:
    from squall.tasks.options import TaskOptions
    from squall.tasks.task import Task

#: Seconds in each unit of a rate.
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(?:/\s*([smh]))?\s*")
#: Flow keys and message group ids travel in envelopes, DynamoDB keys and SQS's MessageGroupId (128 characters).
MAX_KEY_CHARS = limits.SQS_MAX_MESSAGE_GROUP_ID_CHARS


@dataclass(frozen=True, slots=True)
class Rate:
    """A rate limit: ``count`` admissions per ``per`` seconds, spaced ``interval`` seconds apart."""

    count: float
    per: float

    @property
    def interval(self) -> float:
        """Seconds between two admissions (the emission interval of the limiter)."""
        return self.per / self.count

    def __str__(self) -> str:
        unit = next(name for name, seconds in _UNITS.items() if seconds == self.per)
        return f"{self.count:g}/{unit}"


def parse_rate(text: object) -> Rate:
    """Parse ``"100/s"``, ``"5/m"``, ``"1/h"`` or ``"10"`` (per second); ValueError says what is accepted."""
    match = _RATE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"must be a rate like '100/s', '5/m' or '1/h' (a count per second, minute or hour), got "
            f"{codec.short_repr(text)}"
        )
    count = float(match.group(1))
    if not (count > 0 and math.isfinite(count)):
        raise ValueError(f"must allow more than 0 per unit, got {codec.short_repr(text)}")
    per = _UNITS[match.group(2) or "s"]
    if per / count < limits.MIN_RATE_INTERVAL_SECONDS:
        raise ValueError(
            f"allows {count / per:g} per second, more than the {1 / limits.MIN_RATE_INTERVAL_SECONDS:g} per second "
            f"one limiter item can admit (a DynamoDB item takes {limits.DYNAMODB_ITEM_WRITES_PER_SECOND:,} writes a "
            "second); split the work over flow keys or drop the limit"
        )
    return Rate(count, per)


def rate_problem(value: object) -> str | None:
    """What is wrong with a ``rate_limit`` value (None: usable)."""
    if value is None:
        return None
    try:
        parse_rate(value)
    except ValueError as exc:
        return str(exc)
    return None


def positive_int_problem(value: object, most: int) -> str | None:
    """What is wrong with a count limit: an int from 1 to ``most``."""
    if value is None or (codec.is_int(value) and 1 <= value <= most):
        return None
    return f"must be an int from 1 to {most:,}, got {codec.short_repr(value)}"


def key_problem(value: object) -> str | None:
    """What is wrong with a flow key or message group id: 1-128 printable ASCII characters."""
    if value is None:
        return None
    if isinstance(value, str) and 0 < len(value) <= MAX_KEY_CHARS and value.isascii() and value.isprintable():
        return None
    return f"must be 1-{MAX_KEY_CHARS} printable ASCII characters, got {codec.short_repr(value)}"


def key_value(value: object) -> str:
    """The flow key (or message group id) an argument's value gives: its text (a str as is, else its JSON)."""
    text = value if isinstance(value, str) else codec.dumps(value, "flow key")
    return text[:MAX_KEY_CHARS]


def expires_seconds_problem(value: object) -> str | None:
    """What is wrong with a task's ``expires``: seconds from send, more than 0, at most the longest wait."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return f"must be a number of seconds > 0, got {codec.short_repr(value)}"
    if value > limits.MAX_ETA_AHEAD_SECONDS:
        return f"must be at most {limits.MAX_ETA_AHEAD_SECONDS:,} s (the longest wait Squall accepts), got {value:g}"
    return None


def call_expires_problem(value: object) -> str | None:
    """What is wrong with a call's ``expires``: seconds from send, or an aware datetime."""
    if isinstance(value, dt.datetime):
        return None if value.utcoffset() is not None else "must be an aware datetime (with its time zone)"
    return expires_seconds_problem(value)


def expires_at(value: float | dt.datetime, now: float) -> float:
    """The epoch second a call's (or task's) ``expires`` names."""
    return value.timestamp() if isinstance(value, dt.datetime) else now + float(value)


def _name_problem(value: object) -> str | None:
    if value is None or (isinstance(value, str) and value.isidentifier()):
        return None
    return f"must name one of the task's arguments, got {codec.short_repr(value)}"


def task_problem(options: TaskOptions) -> str | None:
    """What is wrong with a task's flow-control options, as "option 'x' must ..." (None: all usable).

    Whether ``flow_key`` and ``tenant_key`` name a parameter is checked by the task, which knows its function.
    """
    checks = (
        ("rate_limit", rate_problem(options.rate_limit)),
        ("burst", positive_int_problem(options.burst, limits.MAX_RATE_BURST)),
        ("concurrency_limit", positive_int_problem(options.concurrency_limit, limits.MAX_CONCURRENCY_LIMIT)),
        ("flow_key", _name_problem(options.flow_key)),
        ("expires", expires_seconds_problem(options.expires)),
        ("tenant_key", _name_problem(options.tenant_key)),
    )
    for name, problem in checks:
        if problem is not None:
            return f"option {name!r} {problem}"
    if not isinstance(options.track, bool):
        return f"option 'track' must be True or False, got {codec.short_repr(options.track)}"
    if options.burst != 1 and options.rate_limit is None:
        return "option 'burst' shapes a rate limit: give rate_limit too, or drop burst"
    if options.flow_key is not None and options.rate_limit is None and options.concurrency_limit is None:
        return "option 'flow_key' keys a limit: give rate_limit or concurrency_limit too, or drop flow_key"
    return None


def _epoch_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return f"must be epoch seconds >= 0, got {codec.short_repr(value)}"
    return None


def _attempt_problem(value: object) -> str | None:
    if codec.is_int(value) and 1 <= value <= limits.MAX_RETRIES_CEILING + 1:
        return None
    return f"must be an attempt number from 1 to {limits.MAX_RETRIES_CEILING + 1}, got {codec.short_repr(value)}"


# The envelope options flow control carries (squall.wire.options). None is required: a worker that does not
# know them runs the task unlimited, which is what it did before they existed.
#: When the task expires (epoch seconds): a delivery after it is REVOKED as expired, never run.
declare_option("expires_at", _epoch_problem)
#: Seconds after ``created`` when the task expires: what a periodic schedule's firings carry (``expires=``).
declare_option("expires_after", expires_seconds_problem)
#: The call's flow key, overriding the one the task's ``flow_key`` argument gives.
declare_option("flow_key", key_problem)
#: The SQS message group id (a tenant on a standard queue, the order group on a FIFO one), kept by retries.
declare_option("message_group_id", key_problem)
#: An untracked task's attempt number (it has no record to count attempts in).
declare_option("attempt", _attempt_problem)


def call_options(
    task: Task[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    now: float,
    *,
    expires: float | dt.datetime | None,
    flow_key: str | None,
    message_group_id: str | None,
) -> dict[str, Any]:
    """The envelope options one call of ``task`` carries for flow control (those given, checked).

    ``expires`` becomes option ``expires_at``, an epoch second (the call's, else the task's); ``flow_key``
    travels only when the call gives one (the worker reads the task's ``flow_key`` argument otherwise); the
    message group id is the call's, else the value of the task's ``tenant_key`` argument. InvalidArguments
    names an unusable value.
    """
    name = task.name
    for label, value, check in (
        ("expires", expires, call_expires_problem),
        ("flow_key", flow_key, key_problem),
        ("message_group_id", message_group_id, key_problem),
    ):
        problem = check(value)
        if problem is not None:
            raise InvalidArguments(f"task {name!r}: option {label!r} {problem}")
    options: dict[str, Any] = {}
    given = expires if expires is not None else task.options.expires
    if given is not None:
        options["expires_at"] = expires_at(given, now)
    if flow_key is not None:
        options["flow_key"] = flow_key
    tenant = task.options.tenant_key
    if message_group_id is None and tenant is not None:
        message_group_id = key_value(task.argument(tenant, args, kwargs))
    if message_group_id is not None:
        options["message_group_id"] = message_group_id
    return options
