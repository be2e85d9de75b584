"""The worker's extension points: narrow on purpose, so that the executor keeps owning every outcome.

Three typed points, run by :class:`squall.worker.execution.Executor` for each delivery of a registered task:

* ``before_claim(envelope, task) -> Admission``: admit the delivery, or defer it for some seconds. A deferred
  delivery goes back to its queue without spending an attempt (rate limits, maintenance windows, expiry).
* ``around_call(call, proceed) -> value``: wrap the task's run (tracing, timing, time limits). ``proceed()``
  runs the task (or the next extension) and returns its value or raises its exception.
* ``after_outcome(event)``: learn how the delivery ended (the outcome, the state written, the result or the
  error), after the state is written and before the message is acknowledged. It may run more than once for
  one task (deliveries are at least once), so what it does must be safe to repeat.

An extension that raises is isolated: the error is logged and counted in :attr:`ExtensionChain.failures`
by extension and point, and the delivery goes on as if the extension had done nothing — a raising
``before_claim`` admits, a raising ``around_call`` that had not yet called ``proceed`` lets the task run
unwrapped (one that had keeps the task's own value or error), a raising ``after_outcome`` changes nothing.
See docs/extending.md.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from squall.state.schema import ErrorInfo
    from squall.states import State
    from squall.tasks.options import OptionCheck
    from squall.tasks.resources import ExtensionResource
    from squall.tasks.task import Task
    from squall.wire.bodies import BodyCodec
    from squall.wire.envelope import Envelope

logger = logging.getLogger("squall.tasks.extensions")


@dataclass(frozen=True, slots=True)
class Admission:
    """What ``before_claim`` decided: run now (``defer`` is None), or come back in ``defer`` seconds."""

    defer: float | None = None
    #: Why it was deferred, for the logs.
    reason: str = ""


#: Admit the delivery: the default answer of ``before_claim``.
ADMIT = Admission()


@dataclass(frozen=True, slots=True)
class Call:
    """One run of a task, as ``around_call`` sees it."""

    envelope: Envelope
    task: Task[..., Any]
    attempt: int


@dataclass(frozen=True, slots=True)
class OutcomeEvent:
    """How one delivery ended, as ``after_outcome`` receives it.

    ``outcome`` is the worker's :class:`~squall.worker.delivery.Outcome` value (``"succeeded"``, ``"dead"``,
    ``"retrying"``, ...); ``state`` the task state written, if any; ``envelope`` and ``task`` are None for a
    message that could not be decoded or names no registered task.
    """

    outcome: str
    envelope: Envelope | None
    task: Task[..., Any] | None
    state: State | None = None
    result: Any = None
    error: ErrorInfo | None = None
    reason: str | None = None


class Extension:
    """Base class of a worker extension: override the points you need; the defaults do nothing."""

    #: Names the extension in logs and in failure counts.
    name = "extension"
    #: Task options this extension adds, by name, each with its check (what is wrong with a value, or None).
    #: A task sets them with ``@app.task(extra={name: value})``; the extension reads ``task.options.extra``.
    task_options: Mapping[str, OptionCheck] = MappingProxyType({})
    #: A body codec (text in, text out) this extension adds to the app's chain, or None: see squall.wire.bodies.
    body_codec: BodyCodec | None = None

    def resources(self) -> Sequence[ExtensionResource]:
        """The tables and buckets this extension needs deployed, with the worker's grants (squall.tasks.resources)."""
        return ()

    def before_claim(self, envelope: Envelope, task: Task[..., Any]) -> Admission:
        """Admit this delivery now, or defer it (no attempt is spent)."""
        return ADMIT

    def around_call(self, call: Call, proceed: Callable[[], Any]) -> Any:
        """Run the task through ``proceed()`` and return its value (or let its exception through)."""
        return proceed()

    def after_outcome(self, event: OutcomeEvent) -> None:
        """Called once the outcome is recorded, before the message is acknowledged; must be safe to repeat."""


class ExtensionChain:
    """Runs an app's extensions at each point, in order, each one isolated from the others and from the worker."""

    def __init__(self, extensions: Iterable[Extension]) -> None:
        self.extensions = tuple(extensions)
        #: Those that override ``around_call``: the others are not wrapped around each run.
        self.wrapping = tuple(e for e in self.extensions if type(e).around_call is not Extension.around_call)
        #: Failures by (extension name, point).
        self.failures: Counter[tuple[str, str]] = Counter()

    def _failed(self, extension: Extension, point: str) -> None:
        self.failures[(extension.name, point)] += 1
        logger.exception("extension %r failed in %s; the delivery goes on without it", extension.name, point)

    def before_claim(self, envelope: Envelope, task: Task[..., Any]) -> Admission:
        """The longest deferral any extension asks for, or ADMIT."""
        answer = ADMIT
        for extension in self.extensions:
            try:
                admission = extension.before_claim(envelope, task)
            except Exception:
                self._failed(extension, "before_claim")
                continue
            if admission.defer is not None and (answer.defer is None or admission.defer > answer.defer):
                answer = admission
        return answer

    def call(self, call: Call, run: Callable[[], Any]) -> Any:
        """Run ``run`` wrapped by every extension's ``around_call`` (the first extension outermost)."""
        wrapped = run
        for extension in reversed(self.wrapping):
            wrapped = self._isolated(extension, call, wrapped)
        return wrapped()

    def _isolated(self, extension: Extension, call: Call, inner: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            seen: dict[str, Any] = {}

            def proceed() -> Any:
                seen["called"] = True
                try:
                    seen["value"] = inner()
                except BaseException as exc:
                    seen["error"] = exc
                    raise
                return seen["value"]

            try:
                return extension.around_call(call, proceed)
            except BaseException as exc:
                if exc is seen.get("error") or not isinstance(exc, Exception):
                    raise  # the task's own error (or a BaseException: a timeout, an exit), as it was
                self._failed(extension, "around_call")
                if "error" in seen:
                    raise seen["error"] from None
                if "value" in seen:
                    return seen["value"]
                return inner()

        return run

    def after_outcome(self, event: OutcomeEvent) -> None:
        """Tell every extension how the delivery ended."""
        for extension in self.extensions:
            try:
                extension.after_outcome(event)
            except Exception:
                self._failed(extension, "after_outcome")
