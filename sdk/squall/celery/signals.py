"""Celery's signals (``celery.signals``), sent by the face's task body in the worker (:mod:`squall.celery.task`).

``@task_success.connect`` (or ``.connect(receiver, sender=...)``) as in Celery. Sent: ``task_prerun`` before the
body, ``task_success`` / ``task_failure`` / ``task_retry`` as it ends (before Squall records the outcome: Celery
sends them after storing the result), ``task_postrun`` last, and ``worker_process_init`` once per worker process,
before its first task. A receiver that raises is logged and the others still run, as in Celery. Signals of the
parts Squall does not have (``worker_ready``, ``beat_init``, ``celeryd_init``...) exist so that modules connecting
to them import, and are never sent.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("squall.celery.signals")

Receiver = Callable[..., Any]


class Signal:
    """A signal: receivers connect to it, the face sends it."""

    def __init__(self, name: str, providing_args: Any = None) -> None:
        self.name = name
        self._receivers: list[tuple[Receiver, Any, Any]] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Signal: {self.name}>"

    def connect(self, *args: Any, sender: Any = None, weak: bool = True, dispatch_uid: Any = None) -> Any:
        """Connect a receiver: ``signal.connect(fn)``, ``@signal.connect`` or ``@signal.connect(sender=...)``.

        Receivers are held strongly (``weak`` is accepted): a receiver defined in a function stays connected.
        """

        def attach(receiver: Receiver) -> Receiver:
            with self._lock:
                if dispatch_uid is not None and any(uid == dispatch_uid for _, _, uid in self._receivers):
                    return receiver
                if not any(r is receiver and s is sender for r, s, _ in self._receivers):
                    self._receivers.append((receiver, sender, dispatch_uid))
            return receiver

        if args and callable(args[0]):
            return attach(args[0])
        return attach

    def disconnect(self, receiver: Receiver | None = None, sender: Any = None, dispatch_uid: Any = None) -> bool:
        """Disconnect a receiver (or the one connected with ``dispatch_uid``); whether one was."""
        with self._lock:
            before = len(self._receivers)
            self._receivers = [
                (r, s, uid)
                for r, s, uid in self._receivers
                if not ((dispatch_uid is not None and uid == dispatch_uid) or (r is receiver and s is sender))
            ]
            return len(self._receivers) != before

    @property
    def receivers(self) -> list[Receiver]:
        """The connected receivers."""
        return [r for r, _, _ in self._receivers]

    def send(self, sender: Any, **named: Any) -> list[tuple[Receiver, Any]]:
        """Call every receiver for ``sender``; each one's return value, or the exception it raised."""
        responses: list[tuple[Receiver, Any]] = []
        for receiver, wanted, _ in list(self._receivers):
            if wanted is not None and not _matches(wanted, sender):
                continue
            try:
                responses.append((receiver, receiver(signal=self, sender=sender, **named)))
            except Exception as exc:  # as Celery's: one receiver failing never stops the others or the task
                logger.exception("signal %s: receiver %r raised", self.name, receiver)
                responses.append((receiver, exc))
        return responses

    send_robust = send


def _matches(wanted: Any, sender: Any) -> bool:
    if wanted is sender:
        return True
    name = getattr(sender, "name", None)
    return isinstance(wanted, str) and wanted in (name, sender)


task_prerun = Signal("task_prerun")
task_postrun = Signal("task_postrun")
task_success = Signal("task_success")
task_failure = Signal("task_failure")
task_retry = Signal("task_retry")
task_revoked = Signal("task_revoked")
task_received = Signal("task_received")
task_rejected = Signal("task_rejected")
task_unknown = Signal("task_unknown")
before_task_publish = Signal("before_task_publish")
after_task_publish = Signal("after_task_publish")
worker_process_init = Signal("worker_process_init")
worker_process_shutdown = Signal("worker_process_shutdown")
worker_init = Signal("worker_init")
worker_ready = Signal("worker_ready")
worker_shutdown = Signal("worker_shutdown")
celeryd_init = Signal("celeryd_init")
celeryd_after_setup = Signal("celeryd_after_setup")
beat_init = Signal("beat_init")
setup_logging = Signal("setup_logging")
after_setup_logger = Signal("after_setup_logger")
after_setup_task_logger = Signal("after_setup_task_logger")
import_modules = Signal("import_modules")

_started = threading.Event()
_starting = threading.Lock()


def process_started() -> None:
    """Send ``worker_process_init`` if this process has not yet (the worker's first task)."""
    if _started.is_set():
        return
    with _starting:
        if not _started.is_set():
            worker_process_init.send(sender=None)
            _started.set()


__all__ = [
    "Signal",
    "after_setup_logger",
    "after_setup_task_logger",
    "after_task_publish",
    "beat_init",
    "before_task_publish",
    "celeryd_after_setup",
    "celeryd_init",
    "import_modules",
    "setup_logging",
    "task_failure",
    "task_postrun",
    "task_prerun",
    "task_received",
    "task_rejected",
    "task_retry",
    "task_revoked",
    "task_success",
    "task_unknown",
    "worker_init",
    "worker_process_init",
    "worker_process_shutdown",
    "worker_ready",
    "worker_shutdown",
]
