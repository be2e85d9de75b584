"""Celery's routing on declared queues: which queue a task or a call goes to, and every queue the app can name.

**Queues are infrastructure here.** Every queue the app can name is declared, so that the deploy creates it:
``task_default_queue`` (Celery's default, ``celery``), each of ``task_queues`` (names, Squall ``Queue`` objects
with their batch size and concurrency, or kombu ``Queue`` objects, read by name), each queue ``task_routes`` maps
to, and each a task's ``queue=`` names (:func:`queues`). A queue named only at call time
(``apply_async(queue="new")``, or what a router function returns) is refused by :func:`route` with
:class:`~squall.celery.exceptions.QueueNotFound`, saying how to declare it: Celery would have created it on the
broker, but a queue here needs its DLQ, its worker mapping and its alarms.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from squall.celery.declaring import note_once
from squall.celery.exceptions import ImproperlyConfigured, QueueNotFound
from squall.deploy.topology import Queue
from squall.errors import InvalidArguments

if TYPE_CHECKING:
    from squall.celery.app import Celery
    from squall.celery.conf import Conf

#: The top of Celery's priority range when no maximum is set (``apply_async``: "a number between 0 and 9").
MAX_PRIORITY = 9


def queues(default: str, settings: Conf, declared: Iterable[Queue]) -> dict[str, Queue]:
    """Every queue the settings and the tasks' ``queue=`` name (see the module docstring), ``default`` first."""
    found: dict[str, Queue] = {}
    for queue in [default, *_setting_queues(settings), *declared]:
        named = queue if isinstance(queue, Queue) else Queue(queue_name(queue))
        if named.name not in found or isinstance(queue, Queue):
            found[named.name] = named
    return found


def default_queue(settings: Conf) -> str:
    """``task_default_queue``."""
    return queue_name(settings.task_default_queue)


def route(app: Celery, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], queue: Any = None) -> str:
    """The queue a call goes to: ``queue=``, the task's own, ``task_routes``, the default; declared or refused."""
    chosen = queue_name(queue) if queue is not None else None
    task = app._celery_tasks.get(name)
    if chosen is None and task is not None and task.queue:
        chosen = queue_name(task.queue)
    if chosen is None and task is not None and task.routing_key:
        chosen = keyed_queue(app, task.routing_key, name)
    if chosen is None:
        chosen = _routed(app, name, args, kwargs) or app.default_queue
    if chosen not in app.queues:
        raise QueueNotFound(
            f"queue {chosen!r} (task {name}) is not declared: Squall's queues are infrastructure; name it in "
            "task_queues, task_routes or the task's queue=, then deploy"
        )
    return chosen


def call_lane(app: Celery, name: str, queue: str | None, options: Mapping[str, Any]) -> str | None:
    """The lane a call of task ``name`` on ``queue`` (None: the task's own) travels on: its ``priority``, else the
    task's ``priority`` attribute, else ``task_default_priority``, read by :func:`lane_for`."""
    priority = options.get("priority")
    task = app._celery_tasks.get(name)
    if priority is None and task is not None:
        priority = task.priority
    if priority is None:
        priority = app.conf.task_default_priority
    if priority is None:
        return None
    if queue is None:
        queue = app.tasks[name].options.queue if name in app.tasks else app.default_queue
    return lane_for(app, queue, priority)


def lane_for(app: Celery, queue: str, priority: Any) -> str | None:
    """The lane of ``queue`` a Celery ``priority`` picks (None: the queue's default lane).

    A lane's name (Squall's own form) is kept as it is. A number is Celery's priority, 0 to the top of the range
    (``task_queue_max_priority``, else 9, Celery's documented range; with Redis's order, the highest of its
    ``priority_steps``). On a queue declared with lanes (the most urgent first) the range is split evenly over
    the lanes, the most urgent numbers on the first: the highest, as RabbitMQ orders them, or the lowest with
    ``broker_transport_options={"queue_order_strategy": "priority"}`` (Redis). On a queue without lanes a
    number does nothing, as on Celery's SQS transport (noted once).
    """
    if isinstance(priority, str):
        return priority
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise InvalidArguments(f"priority={priority!r}: give Celery's priority as an integer (0-9), or a lane's name")
    lanes = app.queues[queue].lanes if queue in app.queues else ()
    if not lanes:
        note_once(
            f"priority on {queue}",
            f"queue {queue!r} has no priority lanes, so priority= does nothing there (as on Celery's SQS transport); "
            f'declare Queue({queue!r}, lanes=("high", "low"), max_concurrency=...) in task_queues to use it',
        )
        return None
    transport = app.conf.broker_transport_options or {}
    redis = transport.get("queue_order_strategy") == "priority"
    top = max(transport.get("priority_steps") or [MAX_PRIORITY]) if redis else app.conf.task_queue_max_priority
    top = int(top if top is not None else MAX_PRIORITY)
    value = min(max(priority, 0), top)
    urgency = value if redis else top - value  # 0: the most urgent
    return lanes[urgency * len(lanes) // (top + 1)]


def keyed_queue(app: Celery, key: str, name: str) -> str:
    """The declared queue a Celery ``routing_key`` reaches: the ``task_queues`` entry bound with that key (a kombu
    ``Queue(name, routing_key=...)``), else the queue of that name, as Celery's default exchange routes."""
    for queue in app.conf.task_queues or ():
        if getattr(queue, "routing_key", None) == key:
            return queue_name(queue)
    if key in app.queues:
        return key
    raise QueueNotFound(
        f"routing_key {key!r} (task {name}) reaches no declared queue: give queue=, or declare a queue of that name "
        "(or a kombu Queue bound with that routing_key) in task_queues, then deploy"
    )


def static_queue(app: Celery, name: str, own: Any) -> str:
    """The queue a task is declared on: its own ``queue=``, else what ``task_routes`` tables map it to, else
    the default (router functions are asked per call, by :func:`route`)."""
    return queue_name(own) if own else (_routed(app, name, (), {}, static=True) or app.default_queue)


def queue_name(queue: Any) -> str:
    """The name of a queue given by name or as an object with a ``.name`` (Squall's or kombu's ``Queue``)."""
    name = getattr(queue, "name", queue)
    if not isinstance(name, str) or not name:
        raise ImproperlyConfigured(f"{queue!r} is not a queue: give its name, or an object with a .name")
    return name


def route_queue(target: Any) -> str | None:
    """The queue a ``task_routes`` target names (a queue name, or a mapping with ``"queue"``), if any."""
    if isinstance(target, str):
        return target
    if isinstance(target, Mapping):
        queue = target.get("queue")
        return None if queue is None else queue_name(queue)
    return None


def _setting_queues(settings: Conf) -> list[Any]:
    found: list[Any] = list(settings.task_queues or ())
    routes = settings.task_routes
    for table in routes if isinstance(routes, list | tuple) else [routes]:
        if isinstance(table, Mapping):
            found += [q for q in (route_queue(v) for v in table.values()) if q is not None]
    return found


def _routed(
    app: Celery, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, static: bool = False
) -> str | None:
    routes = app.conf.task_routes
    for router in routes if isinstance(routes, list | tuple) else [routes]:
        if router is None:
            continue
        if isinstance(router, Mapping):
            for pattern, target in router.items():
                if pattern == name or ("*" in pattern and fnmatch.fnmatchcase(name, pattern)):
                    return route_queue(target)
        elif callable(router) and not static:
            target = router(name, args, kwargs, {}, task=app._celery_tasks.get(name))
            if target:
                return route_queue(target)
    return None
