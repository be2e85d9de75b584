"""Celery's ``shared_task`` (a task of every app, made now or later) and Celery's task naming.

A shared task's function and options are kept here; each ``Celery(...)`` declares every one kept so far
(:func:`declare_all`), and :func:`shared_task` declares it with every app alive. What ``@shared_task`` returns is
a proxy of the current app's task, resolved at each use, as Celery's is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from squall.celery import _context

if TYPE_CHECKING:
    from squall.celery.app import Celery

#: Every shared task declared in this process: its function and its ``@shared_task`` options.
_SHARED: list[tuple[Callable[..., Any], dict[str, Any]]] = []


def gen_task_name(app: Celery | None, name: str, module: str) -> str:
    """Celery's task naming: ``<module>.<function>``, the app's ``main`` for a script run as ``__main__``."""
    if module == "__main__" and app is not None and app.main:
        module = app.main
    return ".".join(part for part in (module, name) if part)


def shared_task(*args: Any, **options: Any) -> Any:
    """A task of every app (Celery's ``shared_task``): registered with each app made, now and later; what it
    returns is the current app's task at each use, as in Celery."""

    def declare(fn: Callable[..., Any]) -> Any:
        _SHARED.append((fn, options))
        for app in _context.current_apps():
            app._declare(fn, dict(options))
        name = options.get("name") or gen_task_name(None, fn.__name__, fn.__module__)
        return _context.Proxy(lambda: _context.get_current_app().celery_task(name), name)

    if len(args) == 1 and callable(args[0]) and not options:
        return declare(args[0])
    return declare


def declare_all(app: Celery) -> None:
    """Declare every shared task kept so far with ``app`` (a new app has them all, as in Celery)."""
    for fn, options in _SHARED:
        app._declare(fn, dict(options))
