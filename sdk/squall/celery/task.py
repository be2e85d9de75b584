"""Celery's ``Task``: what ``@app.task`` returns, and ``self`` in a bound task.

Each declared task is an instance of a subclass of :class:`Task` (or of the ``base=`` given), with the function as
its ``run``, as in Celery; it is registered with Squall as a task whose body runs it as Celery would
(:mod:`squall.celery.trace`), which gives Celery's semantics on Squall's worker:

* **no retry unless asked**: an exception makes the task FAILURE (Squall's DEAD) on its first run, unless it is in
  ``autoretry_for`` (Celery's exponential ``retry_backoff``, ``retry_kwargs``) or the task calls ``self.retry()``;
* ``self.retry()`` **raises** (``throw=False`` returns, and the run is retried when it returns), waits
  ``default_retry_delay`` (180 s) unless given ``countdown``/``eta``, and once ``max_retries`` (3) are spent raises
  ``MaxRetriesExceededError``, or ``exc`` when given;
* ``self.update_state(state=..., meta=...)`` writes a custom state, read back by ``AsyncResult.state`` and ``.info``;
* ``Ignore`` leaves the state as it was; ``Reject`` dead-letters the message with the reason (``requeue=True``:
  tried again); the ``on_success``/``on_failure``/``on_retry``/``after_return``/``before_start`` hooks run in the
  worker, and the signals of :mod:`squall.celery.signals` are sent.
"""

from __future__ import annotations

import datetime as dt
import traceback
import uuid
from typing import TYPE_CHECKING, Any, ClassVar

from squall import limits
from squall.celery import _context, states, trace
from squall.celery._context import Context
from squall.celery.exceptions import MaxRetriesExceededError, Retry
from squall.celery.result import IGNORED_KEY, AsyncResult, EagerResult
from squall.celery.trace import STATE_KEY as STATE_KEY  # re-exported (squall.celery.trace owns it)
from squall.celery.trace import Rejected as Rejected  # re-exported (squall.celery.trace owns it)
from squall.celery.trace import exponential_backoff as exponential_backoff  # re-exported (squall.celery.trace owns it)
from squall.celery.trace import squall_body as squall_body  # re-exported (squall.celery.trace owns it)

if TYPE_CHECKING:
    from squall.celery.app import Celery
    from squall.tasks.signature import Signature
    from squall.tasks.task import Task as SquallTask


class Task:
    """A Celery task. Subclass it and give ``base=`` to share hooks and attributes among tasks."""

    #: The app the task belongs to, and its name (set when it is declared).
    app: ClassVar[Celery]
    name: ClassVar[str] = ""
    typing: ClassVar[bool] = True
    max_retries: ClassVar[int | None] = 3
    default_retry_delay: ClassVar[float] = 180
    autoretry_for: ClassVar[tuple[type[BaseException], ...]] = ()
    dont_autoretry_for: ClassVar[tuple[type[BaseException], ...]] = ()
    retry_kwargs: ClassVar[dict[str, Any]] = {}
    retry_backoff: ClassVar[bool | float] = False
    retry_backoff_max: ClassVar[float] = 600
    retry_jitter: ClassVar[bool] = True
    throws: ClassVar[tuple[type[BaseException], ...]] = ()
    ignore_result: ClassVar[bool] = False
    store_errors_even_if_ignored: ClassVar[bool] = False
    track_started: ClassVar[bool | None] = None
    queue: ClassVar[str | None] = None
    # Accepted, with no effect here (docs/coming-from-celery.md says why for each).
    acks_late: ClassVar[bool | None] = None
    reject_on_worker_lost: ClassVar[bool | None] = None
    serializer: ClassVar[str | None] = None
    #: Routes the task's calls to the queue it reaches when the task names no queue (squall.celery.routes).
    routing_key: ClassVar[str | None] = None
    #: Enforced by Squall's limiter (global across workers) and worker: see docs/flow-control.md.
    rate_limit: ClassVar[str | None] = None
    expires: ClassVar[float | None] = None
    #: Enforced by the worker (seconds; the conf's task_time_limit / task_soft_time_limit otherwise).
    time_limit: ClassVar[float | None] = None
    soft_time_limit: ClassVar[float | None] = None
    #: The lane of the queue its calls travel on, unless a call gives one (squall.celery.routes.lane_for).
    priority: ClassVar[int | None] = None

    #: The Squall task this one is registered as.
    _squall: SquallTask[..., Any]

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """The task's body: the declared function."""
        raise NotImplementedError(f"task {self.name!r} has no body: declare it with @app.task on a function")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the body here, as a plain call (``request.called_directly`` is True)."""
        with _context.executing(self, Context(task=self.name, args=args, kwargs=kwargs)):
            return self.run(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<@task: {self.name} of {self.app.main}>"

    @property
    def request(self) -> Context:
        """The current execution (a context with ``called_directly`` True outside any)."""
        now = _context.running()
        return now[1] if now is not None and now[0] is self else Context(task=self.name)

    # --- sending ------------------------------------------------------------------------------------------

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult | EagerResult:
        """Send the task with these arguments."""
        return self.apply_async(args, kwargs)

    def apply_async(
        self,
        args: Any = None,
        kwargs: dict[str, Any] | None = None,
        task_id: str | None = None,
        producer: Any = None,
        link: Any = None,
        link_error: Any = None,
        shadow: str | None = None,
        **options: Any,
    ) -> AsyncResult | EagerResult:
        """Send the task (Celery's options: ``countdown``, ``eta``, ``queue``, ``task_id``, ``link``...)."""
        args, kwargs = tuple(args or ()), dict(kwargs or {})
        if self.app.conf.task_always_eager:
            return self.apply(args, kwargs, task_id=task_id, link=link, link_error=link_error, **options)
        call = self.app.call_options(self.name, args, kwargs, {**options, "task_id": task_id})
        sent = self._squall.apply_async(args, kwargs, link=_as_tuple(link), link_error=_as_tuple(link_error), **call)
        return AsyncResult(sent.id, app=self.app, task_name=self.name)

    def s(self, *args: Any, **kwargs: Any) -> Signature[Any]:
        """A signature of this call (partial in a chain, as Celery's)."""
        return self._squall.s(*args, **kwargs)

    def si(self, *args: Any, **kwargs: Any) -> Signature[Any]:
        """An immutable signature: it ignores its parent's result."""
        return self._squall.si(*args, **kwargs)

    def signature(
        self, args: Any = None, kwargs: dict[str, Any] | None = None, *, immutable: bool = False, **options: Any
    ) -> Signature[Any]:
        """Celery's ``task.signature(args, kwargs, **options)`` (also ``subtask``)."""
        args, kwargs = tuple(args or ()), dict(kwargs or {})
        base = self.si(*args, **kwargs) if immutable else self.s(*args, **kwargs)
        call = self.app.call_options(self.name, args, kwargs, options, route=False)
        return base.set(**call) if call else base

    subtask = signature

    def AsyncResult(self, task_id: str, **kwargs: Any) -> AsyncResult:  # Celery's name
        """A handle on task ``task_id`` of this task."""
        return AsyncResult(task_id, app=self.app, task_name=self.name)

    def apply(
        self,
        args: Any = None,
        kwargs: dict[str, Any] | None = None,
        link: Any = None,
        link_error: Any = None,
        task_id: str | None = None,
        retries: int | None = None,
        throw: bool | None = None,
        **options: Any,
    ) -> EagerResult:
        """Run the task here and now, retries included (their delays skipped), as Celery's eager mode does."""
        args, kwargs = tuple(args or ()), dict(kwargs or {})
        task_id = task_id or str(uuid.uuid4())
        throw = self.app.conf.task_eager_propagates if throw is None else throw
        tries = retries or 0
        while True:
            request = Context(
                id=task_id,
                task=self.name,
                args=args,
                kwargs=kwargs,
                retries=tries,
                is_eager=True,
                called_directly=False,
            )
            try:
                value = trace.traced(self, request, args, kwargs)
            except Retry:
                tries += 1
                continue
            except Exception as exc:
                if throw:
                    raise
                return EagerResult(task_id, None, states.FAILURE, exception=exc, traceback=traceback.format_exc())
            if isinstance(value, dict) and IGNORED_KEY in value:
                custom = request.custom_state
                return EagerResult(task_id, None, custom[0] if custom else states.PENDING, meta=custom and custom[1])
            return EagerResult(task_id, value, states.SUCCESS)

    # --- inside a run -------------------------------------------------------------------------------------

    def retry(
        self,
        args: Any = None,
        kwargs: dict[str, Any] | None = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: dt.datetime | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Retry:
        """Retry this run: raises :class:`Retry` (see the module docstring for the rules)."""
        request = self.request
        if args is not None or kwargs is not None:
            raise NotImplementedError(
                f"task {self.name!r}: retry(args=..., kwargs=...) is not supported: a retry runs the same call again; "
                "send a new task with the new arguments instead"
            )
        if request.called_directly:
            raise exc if exc is not None else Retry("Task can be retried", None)
        limit = self.max_retries if max_retries is None else max_retries
        if eta is None and countdown is None:
            countdown = self.default_retry_delay
        if limit is not None and request.retries + 1 > limit:
            if exc is not None:
                raise exc
            raise MaxRetriesExceededError(
                f"Can't retry {self.name}[{request.id}] args:{request.args} kwargs:{request.kwargs}",
                task_args=request.args,
                task_kwargs=request.kwargs,
            )
        wait = countdown if eta is None else max(0.0, (_aware(eta, self.app) - dt.datetime.now(dt.UTC)).total_seconds())
        ret = Retry(exc=exc, when=eta or countdown, is_eager=request.is_eager, max_retries=_budget(max_retries))
        ret.countdown = float(wait) if wait is not None else None
        if throw:
            raise ret
        request.pending_retry = ret
        return ret

    def update_state(
        self, task_id: str | None = None, state: str | None = None, meta: Any = None, **kwargs: Any
    ) -> None:
        """Set this run's state to ``state`` (a custom one, such as ``"PROGRESS"``) with ``meta``."""
        request = self.request
        if task_id is not None and task_id != request.id:
            raise NotImplementedError(
                f"update_state(task_id={task_id!r}) from task {request.id}: a task may only set its own state here"
            )
        if state is None:
            raise ValueError("update_state needs a state, such as state='PROGRESS'")
        request.custom_state = (state, meta)
        if request.report is not None:
            request.report(state, meta)

    # Celery's hooks: override them in a base class.
    def before_start(self, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Called before the body runs."""

    def on_success(self, retval: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Called when the body returned."""

    def on_failure(
        self, exc: BaseException, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        """Called when the body raised (and is not retried)."""

    def on_retry(
        self, exc: BaseException | None, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        """Called when the run is to be retried (``exc``: what ``retry(exc=...)`` was given, or None)."""

    def after_return(
        self, status: str, retval: Any, task_id: str, args: tuple[Any, ...], kwargs: dict[str, Any], einfo: Any
    ) -> None:
        """Called after the run, whatever its outcome."""


def _budget(max_retries: int | None) -> int | None:
    return None if max_retries is None else min(max_retries, limits.MAX_RETRIES_CEILING)


def _aware(moment: dt.datetime, app: Celery) -> dt.datetime:
    return app.aware(moment)


def _as_tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, list | tuple) else (value,)
