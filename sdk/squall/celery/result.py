"""Celery's ``AsyncResult`` and ``GroupResult`` on Squall's records, and ``EagerResult`` for runs in process.

States read as Celery's (:func:`celery_state`): DEAD is FAILURE; STARTED is STARTED only for a task that tracks it
(``track_started`` or ``task_track_started``), PENDING otherwise; a custom state set by ``update_state`` reads as
set, its ``meta`` as ``info``. A failed task's ``result`` is its exception, rebuilt from the stored type name and
message (:func:`rebuild_exception`): the same class for Python's built-in exceptions, Celery's and those the app's
tasks name (``autoretry_for``, ``throws``...); another class of that name otherwise (no class is imported by name
from stored data). ``get()`` raises it (``propagate=False`` returns it), and waits forever by default, as Celery's.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
from typing import TYPE_CHECKING, Any

from squall import clock
from squall.celery import _context, states
from squall.celery import exceptions as celery_exceptions
from squall.errors import StoreError
from squall.state.result import AsyncResult as _SquallResult
from squall.state.result import GroupResult as _SquallGroup
from squall.states import State

if TYPE_CHECKING:
    from squall.celery.app import Celery
    from squall.state.schema import TaskRecord

#: The result a task that raised ``Ignore`` is recorded with: its state is left as its last ``update_state``.
IGNORED_KEY = "squall.celery:ignored"
#: Polling of ``get``: first interval and cap, in seconds (Celery's default interval is 0.5 s).
_POLL_FIRST, _POLL_MAX = 0.5, 2.0

_BUILTIN_EXCEPTIONS: dict[str, type[BaseException]] = {
    name: value
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, BaseException)
}
_CELERY_EXCEPTIONS: dict[str, type[BaseException]] = {
    f"{value.__module__}.{value.__qualname__}": value
    for value in vars(celery_exceptions).values()
    if isinstance(value, type) and issubclass(value, BaseException)
}
_MADE: dict[str, type[BaseException]] = {}


def rebuild_exception(kind: str, message: str, known: dict[str, type[BaseException]] | None = None) -> BaseException:
    """The exception a task raised, from its stored ``module.Name`` (or built-in ``Name``) and message."""
    cls = _BUILTIN_EXCEPTIONS.get(kind) or _CELERY_EXCEPTIONS.get(kind) or (known or {}).get(kind)
    if cls is None:
        cls = _MADE.get(kind)
        if cls is None:
            module, _, name = kind.rpartition(".")
            cls = _MADE[kind] = type(name or "Exception", (Exception,), {"__module__": module or "builtins"})
    try:
        return cls(message)
    except Exception:  # a class whose constructor takes other arguments: keep the message on a plain one
        return Exception(f"{kind}: {message}")


def celery_state(app: Celery, record: TaskRecord | None) -> str:
    """The state Celery would report for ``record`` (see the module docstring)."""
    if record is None:
        return states.PENDING
    state = record.state
    custom = _custom(record)
    if state in (State.SUCCESS, State.DEAD) and app.ignores_result(record.name, failed=state is State.DEAD):
        return custom[0] if custom else states.PENDING  # nothing was stored, as Celery's ignore_result
    if state is State.DEAD:
        return states.FAILURE
    if state is State.SUCCESS and _ignored(record):
        return custom[0] if custom else _running(app, record)
    if state is State.STARTED:
        return custom[0] if custom else _running(app, record)
    return str(state.value)


def _running(app: Celery, record: TaskRecord) -> str:
    """A running task without a custom state: STARTED if tracked, else what it read before (RETRY after one)."""
    if app.tracks_started(record.name):
        return states.STARTED
    return states.RETRY if record.attempt > 1 else states.PENDING


def _custom(record: TaskRecord) -> tuple[str, Any] | None:
    progress = record.progress
    doc = progress.meta.get("celery") if progress is not None else None
    if isinstance(doc, dict) and isinstance(doc.get("state"), str):
        return doc["state"], doc.get("meta")
    return None


def _ignored(record: TaskRecord) -> bool:
    return record.result_json is not None and IGNORED_KEY in record.result_json


def celery_handle(app: Celery, sent: Any) -> Any:
    """Squall's handle of a sent workflow as Celery's (a chain's parents kept)."""
    if isinstance(sent, GroupResult | AsyncResult):
        return sent
    face: Any = GroupResult(sent.id, app=app) if isinstance(sent, _SquallGroup) else AsyncResult(sent.id, app=app)
    face.parent = None if sent.parent is None else celery_handle(app, sent.parent)
    return face


class AsyncResult(_SquallResult[Any]):
    """Celery's ``AsyncResult(id)``: ``state``/``status``, ``info``/``result``, ``traceback``, ``get()``."""

    def __init__(
        self, id: str, backend: Any = None, task_name: str | None = None, app: Any = None, parent: Any = None
    ) -> None:
        celery_app: Celery = app if app is not None else _context.get_current_app()
        super().__init__(id, app=celery_app)
        self.celery_app = celery_app
        self.task_name = task_name
        self.parent = parent
        self.backend = backend

    def __repr__(self) -> str:
        return f"<AsyncResult: {self.id}>"

    @property
    def task_id(self) -> str:
        """The task's id (Celery's alias of ``id``)."""
        return self.id

    @property
    def state(self) -> str:  # type: ignore[override]  # Celery's state names, not Squall's
        """The task's state, as Celery names it."""
        return celery_state(self.celery_app, self.refresh())

    status = state

    def ready(self) -> bool:
        """Whether the task finished (SUCCESS, FAILURE or REVOKED)."""
        return self.state in states.READY_STATES

    def successful(self) -> bool:
        """Whether it finished with SUCCESS."""
        return self.state == states.SUCCESS

    def failed(self) -> bool:
        """Whether it is FAILURE."""
        return self.state == states.FAILURE

    @property
    def result(self) -> Any:
        """The return value on SUCCESS, the exception on FAILURE or RETRY, a custom state's meta, else None."""
        record = self.refresh()
        if record is None:
            return None
        if record.state is State.SUCCESS and not _ignored(record):
            return super().result
        if record.state in (State.DEAD, State.RETRY) and record.error is not None:
            return rebuild_exception(record.error.type, record.error.message, self.celery_app.known_exceptions())
        if record.state is State.REVOKED:
            return celery_exceptions.TaskRevokedError(f"task {self.id} was revoked")
        custom = _custom(record)
        return None if custom is None else custom[1]

    @property
    def info(self) -> Any:
        """Celery's ``info``: the same as ``result``."""
        return self.result

    @property
    def traceback(self) -> str | None:
        """The failed run's traceback, as text."""
        record = self.refresh()
        return record.error.traceback if record is not None and record.error is not None else None

    @property
    def date_done(self) -> dt.datetime | None:
        """When the task finished (an aware datetime), or None."""
        record = self.refresh()
        finished = record.finished_at if record is not None else None
        return None if finished is None else dt.datetime.fromtimestamp(finished, dt.UTC)

    def get(  # Celery's signature
        self,
        timeout: float | None = None,
        propagate: bool = True,
        interval: float = _POLL_FIRST,
        no_ack: bool = True,
        follow_parents: bool = True,
        disable_sync_subtasks: bool = True,
        **kwargs: Any,
    ) -> Any:
        """Wait for the task to finish; return its value, or raise its exception (return it with ``propagate``
        False). ``timeout`` None waits forever; past it, ``celery.exceptions.TimeoutError``."""
        deadline = None if timeout is None else clock.now() + timeout
        wait = max(0.01, interval)
        while True:
            state = self.state
            if state in states.READY_STATES:
                value = self.result
                if state in states.PROPAGATE_STATES and propagate:
                    raise value
                return value
            remaining = None if deadline is None else deadline - clock.now()
            if remaining is not None and remaining <= 0:
                raise celery_exceptions.TimeoutError(f"task {self.id} is still {state} after {timeout} s")
            clock.sleep(wait if remaining is None else min(wait, remaining))
            wait = min(wait * 1.5, _POLL_MAX)

    wait = get

    def forget(self) -> None:
        """Drop the stored result (a SUCCESS task's; the operator policy's UpdateItem). The state stays: it is what
        keeps a late copy of the task from running again."""
        with contextlib.suppress(StoreError):  # no record (unknown or expired): nothing to forget, as in Celery
            self.app.store.forget(self.id)
        self._record = None

    def revoke(self, connection: Any = None, terminate: bool = False, signal: Any = None, **kwargs: Any) -> Any:
        """Cancel the task if it has not started (``terminate=True`` cannot stop a running Lambda: refused)."""
        if terminate:
            raise NotImplementedError(
                "revoke(terminate=True): a running task cannot be stopped on Lambda; revoke(terminate=False) stops "
                "it if it has not started"
            )
        return self.celery_app.revoke(self.id)


class GroupResult(_SquallGroup):
    """Celery's ``GroupResult``: its members' results, in order; restored from its id alone."""

    def __init__(self, id: str, results: Any = None, app: Any = None, **kwargs: Any) -> None:
        celery_app: Celery = app if app is not None else _context.get_current_app()
        super().__init__(id, app=celery_app, results=results)
        self.celery_app = celery_app
        self.results = [AsyncResult(r.id, app=celery_app) for r in self.results]

    @classmethod
    def restore(cls, id: str, backend: Any = None, app: Any = None) -> GroupResult:
        """The group ``id`` (no ``save()`` needed: the id says its size)."""
        return cls(id, app=app)

    def save(self, backend: Any = None) -> None:
        """Nothing to save: the id alone restores the group."""

    def completed_count(self) -> int:
        """How many members finished with SUCCESS."""
        return sum(1 for r in self.results if r.successful())

    def ready(self) -> bool:
        """Whether every member finished."""
        return all(r.ready() for r in self.results)

    def successful(self) -> bool:
        """Whether every member finished with SUCCESS."""
        return all(r.successful() for r in self.results)

    def failed(self) -> bool:
        """Whether any member is FAILURE."""
        return any(r.failed() for r in self.results)

    def waiting(self) -> bool:
        """Whether any member has not finished."""
        return not self.ready()

    def get(self, timeout: float | None = None, propagate: bool = True, **kwargs: Any) -> list[Any]:
        """Every member's value in order; the first failure in order raises (unless ``propagate`` is False)."""
        deadline = None if timeout is None else clock.now() + timeout
        values = []
        members: list[AsyncResult] = [
            m if isinstance(m, AsyncResult) else AsyncResult(m.id, app=self.celery_app) for m in self.results
        ]
        for member in members:
            left = None if deadline is None else max(0.0, deadline - clock.now())
            values.append(member.get(timeout=left, propagate=propagate))
        return values

    join = get


class EagerResult:
    """The outcome of a run in process (``apply()``, ``task_always_eager``)."""

    def __init__(
        self,
        id: str,
        ret_value: Any,
        state: str,
        *,
        exception: BaseException | None = None,
        traceback: str | None = None,
        meta: Any = None,
    ) -> None:
        self.id = self.task_id = id
        self._value = ret_value
        self._state = state
        self._exception = exception
        self.traceback = traceback
        self._meta = meta

    def __repr__(self) -> str:
        return f"<EagerResult: {self.id}>"

    @property
    def state(self) -> str:
        """SUCCESS, FAILURE, or the custom state a task that raised Ignore left."""
        return self._state

    status = state

    @property
    def result(self) -> Any:
        """The value, the exception, or a custom state's meta."""
        if self._state == states.FAILURE:
            return self._exception
        return self._value if self._state == states.SUCCESS else self._meta

    info = result

    def ready(self) -> bool:
        """Always True once ``apply()`` returned, unless the task left its state unfinished (``Ignore``)."""
        return self._state in states.READY_STATES

    def successful(self) -> bool:
        """Whether it ended SUCCESS."""
        return self._state == states.SUCCESS

    def failed(self) -> bool:
        """Whether it ended FAILURE."""
        return self._state == states.FAILURE

    def get(self, timeout: float | None = None, propagate: bool = True, **kwargs: Any) -> Any:
        """The value; the exception raised (``propagate``) or returned."""
        if self._state == states.FAILURE and propagate and self._exception is not None:
            raise self._exception
        return self.result

    wait = get

    def forget(self) -> None:
        """Nothing is stored for an eager run."""

    def revoke(self, *args: Any, **kwargs: Any) -> None:
        """An eager run has finished: nothing to revoke."""
