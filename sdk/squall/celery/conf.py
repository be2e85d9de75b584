"""Celery's settings (``app.conf``): which ones Squall reads, which mean nothing here, and how they are loaded.

``app.conf`` is a dict with attribute access, as Celery's is: ``app.conf.update(...)``, ``app.conf.timezone =
"Europe/Berlin"``, ``app.config_from_object("proj.settings", namespace="CELERY")``. Every name is one of three:

* **read** (:data:`READ`): it changes what the face does; docs/coming-from-celery.md says how;
* **no effect** (:data:`NO_EFFECT`): it means nothing without a broker and worker processes (``broker_url``,
  ``task_acks_late``: always on, in effect, ``worker_prefetch_multiplier``...): accepted, and said so once in the
  log;
* any other name that reads like a Celery setting (``task_...``, ``worker_...``): a warning names it, once; other
  names are the application's own (``conf.update(flask_app.config)``) and are kept quietly.

A few settings are refused outright, because keeping them would silently change what a task does: a serializer
other than JSON (Squall carries JSON only).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from squall.celery.exceptions import ImproperlyConfigured

logger = logging.getLogger("squall.celery")

#: Settings the face reads, with their defaults (Celery's).
READ: dict[str, Any] = {
    "task_default_queue": "celery",
    "task_queues": None,
    "task_routes": None,
    "task_default_retry_delay": 180,
    "task_ignore_result": False,
    "task_store_errors_even_if_ignored": False,
    "task_track_started": False,
    "task_always_eager": False,
    "task_eager_propagates": False,
    "task_store_eager_result": False,
    "result_expires": 86400,
    "timezone": "UTC",
    "enable_utc": True,
    "beat_schedule": None,
    "include": (),
    "imports": (),
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ("json",),
    "result_accept_content": None,
    # Read: the rate limit of every task that sets none (enforced globally by Squall's limiter).
    "task_default_rate_limit": None,
    # Read: every task's time limits unless it sets its own (enforced by the worker, docs/time-limits.md).
    "task_time_limit": None,
    "task_soft_time_limit": None,
    # Read: how a numeric priority picks a lane of a queue declared with lanes (squall.celery.routes.lane_for):
    # the priority of calls that give none, the top of the range (RabbitMQ's x-max-priority), and, with
    # broker_transport_options {"queue_order_strategy": "priority"}, Redis's order (0 the most urgent).
    "task_default_priority": None,
    "task_queue_max_priority": None,
    "broker_transport_options": None,
}

#: Settings that mean nothing without a broker and worker processes: accepted, noted once in the log.
NO_EFFECT = frozenset(
    {
        "broker_url",
        "broker",
        "result_backend",
        "backend",
        "broker_connection_retry",
        "broker_connection_retry_on_startup",
        "broker_connection_max_retries",
        "broker_pool_limit",
        "broker_heartbeat",
        "broker_transport",
        "broker_login_method",
        "broker_use_ssl",
        "result_backend_transport_options",
        "result_extended",
        "result_persistent",
        "result_compression",
        "redis_backend_health_check_interval",
        "task_acks_late",
        "task_acks_on_failure_or_timeout",
        "task_reject_on_worker_lost",
        "task_send_sent_event",
        "task_create_missing_queues",
        "task_default_exchange",
        "task_default_exchange_type",
        "task_default_routing_key",
        "task_compression",
        "task_publish_retry",
        "task_publish_retry_policy",
        "worker_prefetch_multiplier",
        "worker_concurrency",
        "worker_max_tasks_per_child",
        "worker_max_memory_per_child",
        "worker_send_task_events",
        "worker_hijack_root_logger",
        "worker_redirect_stdouts",
        "worker_redirect_stdouts_level",
        "worker_log_format",
        "worker_task_log_format",
        "worker_disable_rate_limits",
        "worker_pool",
        "worker_pool_restarts",
        "worker_cancel_long_running_tasks_on_connection_loss",
        "worker_enable_remote_control",
        "event_queue_ttl",
        "event_queue_expires",
        "beat_scheduler",
        "beat_max_loop_interval",
        "beat_schedule_filename",
        "security_key",
        "security_certificate",
        "security_cert_store",
    }
)

#: Celery 3's upper-case names of the settings code bases still use, to today's.
OLD_NAMES = {
    "BROKER_URL": "broker_url",
    "CELERY_RESULT_BACKEND": "result_backend",
    "CELERY_ALWAYS_EAGER": "task_always_eager",
    "CELERY_EAGER_PROPAGATES_EXCEPTIONS": "task_eager_propagates",
    "CELERY_DEFAULT_QUEUE": "task_default_queue",
    "CELERY_QUEUES": "task_queues",
    "CELERY_ROUTES": "task_routes",
    "CELERY_IGNORE_RESULT": "task_ignore_result",
    "CELERY_TRACK_STARTED": "task_track_started",
    "CELERY_TASK_RESULT_EXPIRES": "result_expires",
    "CELERY_TIMEZONE": "timezone",
    "CELERY_ENABLE_UTC": "enable_utc",
    "CELERYBEAT_SCHEDULE": "beat_schedule",
    "CELERY_IMPORTS": "imports",
    "CELERY_INCLUDE": "include",
    "CELERY_TASK_SERIALIZER": "task_serializer",
    "CELERY_RESULT_SERIALIZER": "result_serializer",
    "CELERY_ACCEPT_CONTENT": "accept_content",
    "CELERY_ACKS_LATE": "task_acks_late",
    "CELERYD_PREFETCH_MULTIPLIER": "worker_prefetch_multiplier",
    "CELERYD_CONCURRENCY": "worker_concurrency",
    "CELERYD_TASK_TIME_LIMIT": "task_time_limit",
    "CELERYD_TASK_SOFT_TIME_LIMIT": "task_soft_time_limit",
    "CELERY_DEFAULT_RETRY_DELAY": "task_default_retry_delay",
}

_SERIALIZERS = ("task_serializer", "result_serializer")
#: How Celery's setting names start: a name like these that the face does not know is warned about.
CELERY_PREFIXES = ("task_", "worker_", "broker_", "result_", "beat_", "event_", "security_", "celery")


class Conf(dict[str, Any]):
    """Celery's ``app.conf``: the settings given, over Celery's defaults for those the face reads."""

    def __init__(self, given: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self._noted: set[str] = set()
        if given:
            self.update(given)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __missing__(self, key: str) -> Any:
        if key in READ:
            return READ[key]
        raise KeyError(f"no setting {key!r}")

    def __setitem__(self, key: str, value: Any) -> None:
        key = OLD_NAMES.get(key, key)
        self._note(key, value)
        super().__setitem__(key, value)

    def get(self, key: str, default: Any = None) -> Any:  # defaults apply, as Celery's
        """The setting, its Celery default, or ``default``."""
        try:
            return self[key]
        except KeyError:
            return default

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Set many settings at once, each checked as one set alone is."""
        items = other.items() if isinstance(other, Mapping) else other
        for key, value in [*items, *kwargs.items()]:
            self[key] = value

    def setdefault(self, key: str, default: Any = None) -> Any:
        """The setting if given, else set it to ``default``."""
        if not dict.__contains__(self, key):
            self[key] = default
        return self[key]

    def _note(self, key: str, value: Any) -> None:
        if key in _SERIALIZERS and str(value).lower() != "json":
            raise ImproperlyConfigured(
                f"{key}={value!r}: Squall carries JSON only (never pickle); set it to 'json' or remove it, and pass "
                "JSON-ready values (see docs/coming-from-celery.md, 'JSON only')"
            )
        if key in READ or key in self._noted:
            return
        self._noted.add(key)
        if key in NO_EFFECT:
            logger.info("squall.celery: setting %s has no effect here (no broker, no worker processes)", key)
        elif key.startswith(CELERY_PREFIXES):  # other names are the application's own (Flask's SECRET_KEY...)
            logger.warning("squall.celery: %s is not a setting squall.celery knows; it does nothing", key)


def settings_of(source: Any, namespace: str | None) -> dict[str, Any]:
    """The settings an object or module (``"pkg.module"``, ``"pkg.module:attr"``) holds, as Celery reads them.

    With ``namespace`` (``"CELERY"``), only the names ``CELERY_<SETTING>`` count, as ``<setting>`` in lower case
    (Django's settings); without, the lower-case names and Celery 3's upper-case ones.
    """
    obj = _resolve(source)
    names: Iterable[str] = [name for name in dir(obj) if not name.startswith("_")]
    found: dict[str, Any] = {}
    prefix = f"{namespace}_" if namespace else None
    for name in names:
        if prefix is not None:
            if name.startswith(prefix):
                found[OLD_NAMES.get(name, name[len(prefix) :].lower())] = getattr(obj, name)
        elif name.islower() or name in OLD_NAMES:
            found[name] = getattr(obj, name)
    return found


def _resolve(source: Any) -> Any:
    if not isinstance(source, str):
        return source
    module_name, _, attribute = source.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ImproperlyConfigured(f"config_from_object({source!r}): cannot import {module_name!r}: {exc}") from exc
    if not attribute:
        return module
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ImproperlyConfigured(f"config_from_object({source!r}): {module_name} has no {attribute!r}") from None
