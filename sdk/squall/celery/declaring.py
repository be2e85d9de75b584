"""How Celery's task and call options become Squall's: what each one means here, checked or noted once.

``@app.task`` options and class attributes map to :func:`squall.tasks.options.task_options`
(:func:`task_declaration`; time limits, rate limits, expiry: :func:`time_limits`, :func:`flow_options`);
``apply_async`` options to Squall's call options (:func:`call_options`). What means nothing without a broker is
accepted silently (:data:`NO_EFFECT_OPTIONS`); what means something and is not carried is logged once
(:func:`note_once`). Which queue a task or a call goes to is :mod:`squall.celery.routes`'s.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from squall import limits
from squall.celery import conf
from squall.celery.exceptions import ImproperlyConfigured

if TYPE_CHECKING:
    from squall.celery.task import Task as CeleryTask
    from squall.tasks.signature import CallOptions

logger = logging.getLogger("squall.celery")

#: Options of ``apply_async`` that mean nothing without a broker (publishing, exchanges, serializers...).
NO_EFFECT_OPTIONS = frozenset(
    {"producer", "connection", "exchange", "retry", "retry_policy", "serializer", "compression",
     "headers", "add_to_parent", "shadow", "ignore_result", "reply_to", "mandatory", "delivery_mode"}
)  # fmt: skip
#: apply_async options that become Squall's call options as they are (a naive datetime read in the app's zone).
#: ``priority`` becomes a lane (:func:`squall.celery.routes.call_lane`), ``queue`` the routed queue.
CARRIED_OPTIONS = ("countdown", "eta", "task_id", "expires", "time_limit", "soft_time_limit")
_noted: set[str] = set()


def note_once(key: str, message: str) -> None:
    """Log ``message`` the first time ``key`` is seen in this process."""
    if key not in _noted:
        _noted.add(key)
        logger.warning("squall.celery: %s", message)


def call_options(options: Mapping[str, Any], aware: Callable[[dt.datetime], dt.datetime]) -> CallOptions:
    """Squall's options for an ``apply_async`` call's ``options`` (all but the queue, which the app routes)."""
    call: CallOptions = {}
    for key in CARRIED_OPTIONS:
        value = options.get(key)
        if value is not None:
            call[key] = aware(value) if isinstance(value, dt.datetime) else value  # type: ignore[literal-required]
    for key in options:
        if key not in (*CARRIED_OPTIONS, "queue", "routing_key", "priority", *NO_EFFECT_OPTIONS):
            note_once(f"option {key}", f"apply_async option {key}= is not one squall.celery knows; ignored")
    if "soft_time_limit" in call and raised_soft(call.get("time_limit"), call["soft_time_limit"], "a call") is None:
        del call["soft_time_limit"]
    return call


def raised_soft(hard: Any, soft: Any, where: str) -> Any:
    """``soft``, or None when it falls at or past ``hard`` (noted once): Celery accepts such a pair and never raises
    the soft limit, as the hard one strikes first; Squall refuses the pair, so the face drops the soft one."""
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (hard, soft))
    if numbers and soft >= hard:
        note_once(f"soft {where}", f"{where}: soft_time_limit {soft} >= time_limit {hard}: never raised")
        return None
    return soft


def check_task_options(name: str, options: dict[str, Any]) -> None:
    serializer = options.get("serializer")
    if serializer is not None and str(serializer).lower() != "json":
        raise ImproperlyConfigured(f"task {name!r}: serializer={serializer!r}: Squall carries JSON only")


def task_declaration(task: CeleryTask, name: str, queue: str, settings: conf.Conf) -> dict[str, Any]:
    """Squall's declared options for Celery task ``task`` (called ``name``, on ``queue``), from its attributes
    and the app's settings; Celery's retry rules are the face's own (:mod:`squall.celery.trace`), not Squall's."""
    return {
        "name": name,
        "queue": queue,
        "max_retries": limits.MAX_RETRIES_CEILING if task.max_retries is None else task.max_retries,
        "autoretry_for": (),
        "ignore_result": bool(task.ignore_result or settings.task_ignore_result),
        "result_ttl": max(1, int(seconds(settings.result_expires))),
        **flow_options(task, settings.task_default_rate_limit),
        **time_limits(task, settings.task_time_limit, settings.task_soft_time_limit),
    }


def time_limits(task: CeleryTask, default_hard: Any, default_soft: Any) -> dict[str, Any]:
    """Squall's time limits for a Celery task: its own ``time_limit``/``soft_time_limit``, else the conf's
    ``task_time_limit``/``task_soft_time_limit`` (seconds); enforced by the worker (docs/time-limits.md)."""
    hard = task.time_limit if task.time_limit is not None else default_hard
    soft = raised_soft(hard, task.soft_time_limit if task.soft_time_limit is not None else default_soft, task.name)
    return {
        **({} if hard is None else {"time_limit": float(hard)}),
        **({} if soft is None else {"soft_time_limit": float(soft)}),
    }


def flow_options(task: CeleryTask, default_rate: Any) -> dict[str, Any]:
    """Squall's flow-control options for a Celery task: its ``rate_limit`` (Celery's syntax; a number is per
    second) and ``expires`` (seconds), enforced globally by Squall's limiter and worker."""
    options: dict[str, Any] = {}
    rate = task.rate_limit if task.rate_limit is not None else default_rate
    if rate is not None:
        options["rate_limit"] = rate if isinstance(rate, str) else f"{rate:g}/s"
    if task.expires is not None:
        options["expires"] = float(task.expires)
    return options


def seconds(value: Any) -> float:
    if value is None:
        return float(conf.READ["result_expires"])
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
