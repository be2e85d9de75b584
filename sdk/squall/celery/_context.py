"""What is current: the app (Celery's default app), and the task running in this thread with its request.

``current_app`` and ``current_task`` are proxies, as Celery's are: attribute access goes to the object current at
that moment. The running task is held in a context variable, so threads and ``asyncio`` tasks each see their own.
"""

from __future__ import annotations

import contextvars
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from squall.celery.app import Celery
    from squall.celery.task import Task


@dataclass
class Context:
    """Celery's ``task.request``: the current execution of a task (``called_directly`` outside any worker)."""

    id: str | None = None
    task: str | None = None
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    retries: int = 0
    eta: str | None = None
    expires: str | None = None
    is_eager: bool = False
    called_directly: bool = True
    hostname: str | None = None
    delivery_info: dict[str, Any] = field(default_factory=dict)
    root_id: str | None = None
    parent_id: str | None = None
    group: str | None = None
    chord: Any = None
    correlation_id: str | None = None
    timelimit: tuple[float | None, float | None] = (None, None)
    #: What the face keeps for the run: the Retry that ``retry(throw=False)`` asked for, the last custom state.
    pending_retry: BaseException | None = None
    custom_state: tuple[str, Any] | None = None
    #: Writes a progress report (the Squall context's), or None outside a worker.
    report: Callable[[str, Any], None] | None = None

    def get(self, key: str, default: Any = None) -> Any:
        """Celery's ``request.get(...)``."""
        return getattr(self, key, default)


_running: contextvars.ContextVar[tuple[Task, Context] | None] = contextvars.ContextVar(
    "squall_celery_task", default=None
)
#: Every app made, weakly (as Celery's ``_state._apps``): an app nothing else holds goes; the current one is held.
_apps: weakref.WeakSet[Celery] = weakref.WeakSet()
_current: list[Celery] = []


def set_current_app(app: Celery) -> None:
    """Make ``app`` the current one (Celery's ``set_as_current``)."""
    _apps.add(app)
    _current[:] = [app]


def register_app(app: Celery) -> None:
    """Count ``app`` among the apps ``shared_task`` registers with, without making it current."""
    _apps.add(app)


def get_current_app() -> Celery:
    """The app made current last (Celery's default app); RuntimeError if none was."""
    if not _current:
        raise RuntimeError("no squall.celery app exists yet: create one with Celery('name') first")
    return _current[0]


def current_apps() -> list[Celery]:
    """Every app alive (``shared_task`` registers with each)."""
    return list(_apps)


def running() -> tuple[Task, Context] | None:
    """The task this thread is running and its request, if any."""
    return _running.get()


@contextmanager
def executing(task: Task, request: Context) -> Iterator[Context]:
    """Mark ``task`` running with ``request`` for the duration."""
    token = _running.set((task, request))
    try:
        yield request
    finally:
        _running.reset(token)


class Proxy:
    """An object that is whatever ``resolve()`` returns at each use (Celery's ``celery.local.Proxy``)."""

    def __init__(self, resolve: Callable[[], Any], name: str) -> None:
        object.__setattr__(self, "_resolve", resolve)
        object.__setattr__(self, "_name", name)

    def _get_current_object(self) -> Any:
        """The object proxied now."""
        return object.__getattribute__(self, "_resolve")()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._get_current_object(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._get_current_object(), name, value)

    def __bool__(self) -> bool:
        try:
            return bool(self._get_current_object())
        except RuntimeError:
            return False

    def __repr__(self) -> str:
        try:
            return repr(self._get_current_object())
        except RuntimeError:
            return f"<unbound {object.__getattribute__(self, '_name')}>"

    def __eq__(self, other: object) -> bool:
        return bool(self._get_current_object() == other)

    def __hash__(self) -> int:
        return hash(self._get_current_object())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._get_current_object()(*args, **kwargs)


def _current_task() -> Task | None:
    now = running()
    return None if now is None else now[0]


current_app: Any = Proxy(get_current_app, "current_app")
current_task: Any = Proxy(_current_task, "current_task")
