"""Tasks: the declared function and the context of a run (its options: squall.tasks.options; calls as data:
squall.tasks.signature)."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, Unpack, overload

from squall.errors import InvalidArguments, TaskDefinitionError
from squall.state.schema import Progress
from squall.tasks.options import TaskOptions as TaskOptions  # re-exported: declared once in squall.tasks.options
from squall.tasks.signature import CallOptions
from squall.tasks.signature import Signature as Signature  # re-exported: callers import it from here or from squall
from squall.wire import codec

if TYPE_CHECKING:
    from squall.protocols import App
    from squall.state.result import AsyncResult

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")


class Retry(Exception):
    """Raised by a task to ask for another attempt; not an error. ``countdown`` in seconds, or backoff."""

    def __init__(
        self, countdown: float | None = None, exc: BaseException | None = None, max_retries: int | None = None
    ) -> None:
        super().__init__(f"retry requested (countdown={countdown})")
        self.countdown = countdown
        self.exc = exc
        self.max_retries = max_retries


@dataclass(frozen=True, slots=True)
class Request:
    """The context of one execution: which task, which attempt."""

    id: str
    task: str
    attempt: int
    queue: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    eta: float | None = None
    receive_count: int = 1

    @property
    def retries(self) -> int:
        """Retries so far (Celery's ``request.retries``): attempt - 1."""
        return self.attempt - 1


#: How many fitting argument shapes a task remembers (:meth:`Task.check_arguments`).
_FITTING_SHAPES_KEPT = 64


class TaskContext:
    """What a ``bind=True`` task receives first: its request, and ways to report progress and retry."""

    def __init__(
        self,
        request: Request,
        report: Callable[[Progress], None],
        report_now: Callable[[Progress], None] | None = None,
    ) -> None:
        self.request = request
        self._report = report
        self._report_now = report_now or report

    def progress(self, percent: float, message: str | None = None, **meta: Any) -> None:
        """Report progress (0-100). Writes are coalesced; the last report lands with the final state."""
        if not 0 <= percent <= 100:
            raise ValueError(f"progress percent must be 0-100, got {percent}")
        self._report(Progress(float(percent), message, codec.to_json_ready(meta, "progress meta")))

    def progress_now(self, percent: float, message: str | None = None, **meta: Any) -> None:
        """Report progress with a write of its own, not coalesced (a write unit each call: Celery's
        ``update_state``, which ``squall.celery`` maps here, stores every call)."""
        if not 0 <= percent <= 100:
            raise ValueError(f"progress percent must be 0-100, got {percent}")
        self._report_now(Progress(float(percent), message, codec.to_json_ready(meta, "progress meta")))

    def retry(
        self, countdown: float | None = None, exc: BaseException | None = None, max_retries: int | None = None
    ) -> Retry:
        """Return a :class:`Retry` to raise: ``raise task.retry(countdown=30)``."""
        return Retry(countdown=countdown, exc=exc, max_retries=max_retries)


class Task(Generic[P, R]):
    """A registered task. Calling it runs the function here; ``delay`` sends it to the queue.

    An ``async def`` function is awaited by the worker; its handles carry the awaited type (``AsyncResult[T]``
    for a function returning ``Coroutine[Any, Any, T]``), while calling the task here returns the coroutine.
    """

    def __init__(self, app: App, fn: Callable[..., R], options: TaskOptions) -> None:
        self.app = app
        self.fn = fn
        self.options = options
        self.name = options.name
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            raise TaskDefinitionError(
                f"task {self.name!r} is a generator function: nothing would run until something iterated it, "
                "and a generator cannot be stored as a result; return a list instead of yielding"
            )
        #: Whether the function is ``async def``, so the worker awaits what it returns (decided here, once).
        self.is_async = inspect.iscoroutinefunction(fn)
        self._signature = inspect.signature(fn)
        params = list(self._signature.parameters.values())
        if options.bind:
            if not params:
                raise TaskDefinitionError(
                    f"task {self.name!r} has bind=True but takes no parameter to receive the task context"
                )
            self._signature = self._signature.replace(parameters=params[1:])
        #: Argument shapes (count, keyword names) known to fit: binding depends on nothing else.
        self._fitting: set[tuple[int, tuple[str, ...]]] = set()
        for label, argument in (("flow_key", options.flow_key), ("tenant_key", options.tenant_key)):
            if argument is not None and argument not in self._signature.parameters:
                raise TaskDefinitionError(
                    f"task {self.name!r}: option {label!r} names argument {argument!r}, which the task does not "
                    f"take; name one of: {', '.join(self._signature.parameters) or '(it takes none)'}"
                )
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    def argument(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """The value a call gives parameter ``name`` (its default when the call gives none); arguments bound."""
        bound = self.bind_arguments(args, kwargs)
        bound.apply_defaults()
        return bound.arguments[name]

    def __repr__(self) -> str:
        return f"<task {self.name} queue={self.options.queue}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function in this process, as a plain call (bound tasks get a local context)."""
        if self.options.bind:
            request = Request(
                id="local-call", task=self.name, attempt=1, queue=self.options.queue, args=args, kwargs=kwargs
            )
            return self.fn(TaskContext(request, lambda _progress: None), *args, **kwargs)
        return self.fn(*args, **kwargs)

    def bind_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> inspect.BoundArguments:
        """Check a call against the signature; InvalidArguments says what does not fit."""
        try:
            return self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidArguments(f"arguments do not fit {self.name}{self._signature}: {exc}") from exc

    def check_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """:meth:`bind_arguments` without its result, for the worker: a shape that fitted once is not bound again."""
        shape = (len(args), tuple(kwargs))
        if shape not in self._fitting:
            self.bind_arguments(args, kwargs)
            if len(self._fitting) < _FITTING_SHAPES_KEPT:  # bounded: the shapes come from messages
                self._fitting.add(shape)

    def positional_names(self, count: int) -> tuple[str, ...]:
        """Parameter names of the first ``count`` positional arguments, for error messages."""
        names: list[str] = []
        for param in self._signature.parameters.values():
            if param.kind is inspect.Parameter.VAR_POSITIONAL:
                names.extend(f"{param.name}[{i}]" for i in range(count - len(names)))
                break
            if param.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
                names.append(param.name)
        return tuple(names[:count])

    # Each sending method has two typed forms: an ``async def`` task's handle carries the awaited type ``T``,
    # any other task's its return type. A plain task matches only the second, so its mistakes read as before.

    # ``s`` takes any arguments, as type checkers see it: a step of a chain (or a chord's body) is usually partial,
    # given its parent's result first. The arguments are checked when the call is sent or frozen into a workflow;
    # ``si`` (complete as it stands) and ``delay`` are typed against the function.

    @overload
    def s(self: Task[P, Coroutine[Any, Any, T]], *args: Any, **kwargs: Any) -> Signature[T]: ...

    @overload
    def s(self: Task[P, T], *args: Any, **kwargs: Any) -> Signature[T]: ...

    def s(self, *args: Any, **kwargs: Any) -> Signature[Any]:
        """A signature of this call, to send later, in a batch or in a workflow.

        It may be partial: in a chain, a step is given its parent's result first, so ``mul.s(4)`` of a
        two-argument task is complete there. The arguments are checked when the call is sent (or frozen into a
        workflow), with the parent's result counted.
        """
        return Signature(self.name, args, kwargs, app=self.app)

    @overload
    def si(self: Task[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs) -> Signature[T]: ...

    @overload
    def si(self: Task[P, T], *args: P.args, **kwargs: P.kwargs) -> Signature[T]: ...

    def si(self, *args: Any, **kwargs: Any) -> Signature[Any]:
        """An immutable signature: in a workflow it ignores its parent's result (its arguments are checked now)."""
        self.bind_arguments(args, kwargs)
        return Signature(self.name, args, kwargs, app=self.app, immutable=True)

    @overload
    def delay(self: Task[P, Coroutine[Any, Any, T]], *args: P.args, **kwargs: P.kwargs) -> AsyncResult[T]: ...

    @overload
    def delay(self: Task[P, T], *args: P.args, **kwargs: P.kwargs) -> AsyncResult[T]: ...

    def delay(self, *args: Any, **kwargs: Any) -> AsyncResult[Any]:
        """Send the task with these arguments; returns its AsyncResult."""
        return self.apply_async(args, kwargs)

    @overload
    def apply_async(
        self: Task[P, Coroutine[Any, Any, T]],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        link: Signature[Any] | Sequence[Signature[Any]] = (),
        link_error: Signature[Any] | Sequence[Signature[Any]] = (),
        **options: Unpack[CallOptions],
    ) -> AsyncResult[T]: ...

    @overload
    def apply_async(
        self: Task[P, T],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        link: Signature[Any] | Sequence[Signature[Any]] = (),
        link_error: Signature[Any] | Sequence[Signature[Any]] = (),
        **options: Unpack[CallOptions],
    ) -> AsyncResult[T]: ...

    def apply_async(
        self,
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        *,
        link: Signature[Any] | Sequence[Signature[Any]] = (),
        link_error: Signature[Any] | Sequence[Signature[Any]] = (),
        **options: Unpack[CallOptions],
    ) -> AsyncResult[Any]:
        """Send the task with options (:class:`~squall.tasks.signature.CallOptions`): a delay (``countdown``
        seconds or an aware ``eta``), an id, a queue, and a retry budget for this call alone (``max_retries``).

        ``link`` callbacks are sent when it succeeds, given its result first; ``link_error`` ones when it is DEAD,
        given its task id first (``.si()`` callbacks are given nothing). See docs/workflows.md.
        """
        signature: Signature[Any] = Signature(
            self.name,
            tuple(args),
            dict(kwargs or {}),
            app=self.app,
            callbacks=(link,) if isinstance(link, Signature) else tuple(link),
            errbacks=(link_error,) if isinstance(link_error, Signature) else tuple(link_error),
        )
        if signature.callbacks or signature.errbacks:
            return self.app.send_workflow(signature, **options)  # type: ignore[return-value]
        return self.app.send(signature, **options)


def default_task_name(fn: Callable[..., Any]) -> str:
    """``module.qualname``, like Celery; a script run as ``__main__`` uses its file's name."""
    module = fn.__module__
    if module == "__main__":
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        file = getattr(main, "__file__", None)
        module = spec.name if spec is not None else Path(file).stem if file else "main"
    return f"{module}.{fn.__qualname__}"
