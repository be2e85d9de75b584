"""Signatures: one call of a task as data, to send now, later, in a batch, or inside another message.

A signature is a task *name*, its arguments and a few per-call options; it holds no live task, so it can
travel. Its document (:meth:`Signature.to_dict`, read back by :meth:`Signature.from_dict`; its JSON is
:meth:`Signature.to_json`)::

    {"task": "shop.charge", "args": ["o-1", 100], "kwargs": {}, "options": {"countdown": 30, "queue": "reports"}}

Argument values are :mod:`squall.wire.codec` values (a date stays a date; its JSON is a tagged value), so the
document can be put as it is in an envelope option. ``options`` holds what :meth:`Squall.send
<squall.app.Squall.send>` takes per call (:class:`CallOptions`) and is omitted when empty. The document is
closed: a key or an option this SDK does not know is refused rather than ignored (a call is not made half
right), as is a value that cannot be used. The task is looked up by name in the app's registry only when it
is needed (to send, or to check the arguments). See docs/wire-format.md.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeAlias, TypedDict, TypeVar, cast

from squall.errors import ConfigurationError, DecodeError, InvalidArguments
from squall.tasks import flow
from squall.tasks.options import limit_problem
from squall.wire import codec
from squall.wire.envelope import max_retries_problem, valid_queue_name, valid_task_id, valid_task_name

if TYPE_CHECKING:
    from typing import Unpack

    from squall.protocols import App
    from squall.state.result import AsyncResult, GroupResult
    from squall.tasks.task import Task

R = TypeVar("R")

OnFailure = Literal["dead", "run"]
#: What a chord does when a member is DEAD: make its body DEAD naming the member (the default), or run it.
ON_FAILURE: tuple[OnFailure, ...] = ("dead", "run")

#: The keys of a signature document.
_KEYS = ("task", "args", "kwargs", "options", "immutable")


class CallOptions(TypedDict, total=False):
    """The per-call options, declared once: what :meth:`Task.apply_async <squall.tasks.task.Task.apply_async>`,
    :meth:`Squall.send <squall.app.Squall.send>` and :meth:`Signature.set` take, and what a signature carries.

    None means "not given" (a signature keeps only the options given).
    """

    #: Seconds to wait before the task is due.
    countdown: float | None
    #: When the task is due (an aware datetime); not with ``countdown``.
    eta: dt.datetime | None
    #: The task id (the idempotency key); a new one per send when not given.
    task_id: str | None
    #: The queue, instead of the task's own.
    queue: str | None
    #: The retry budget of this call, instead of the task's own.
    max_retries: int | None
    #: When this call expires (seconds from send, or an aware datetime), instead of the task's ``expires``.
    expires: float | dt.datetime | None
    #: The key of this call's rate and concurrency limits, instead of the one its ``flow_key`` argument gives.
    flow_key: str | None
    #: The priority lane of a queue declared with lanes (its name), instead of the queue's first lane.
    priority: str | None
    #: The SQS message group id: the tenant on a fair (standard) queue; instead of the task's ``tenant_key``.
    message_group_id: str | None
    #: This call's hard and soft time limits (seconds), instead of the task's ``time_limit``/``soft_time_limit``.
    time_limit: float | None
    soft_time_limit: float | None


def _countdown_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return f"must be a finite number of seconds >= 0, got {codec.short_repr(value)}"
    return None


def _eta_problem(value: object) -> str | None:
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        return f"must be an aware datetime (with its time zone), got {codec.short_repr(value)}"
    return None


def _task_id_problem(value: object) -> str | None:
    if not valid_task_id(value):
        return f"must be a task id (letters, digits and _.:@+=/-, starting with a letter or digit), got {value!r:.80}"
    return None


def _queue_problem(value: object) -> str | None:
    if not valid_queue_name(value):
        return f"must be a queue name of 1-80 characters, none a control character, got {codec.short_repr(value)}"
    return None


#: The check of each per-call option: the problem with a value, or None.
_OPTION_CHECKS: dict[str, Callable[[object], str | None]] = {
    "countdown": _countdown_problem,
    "eta": _eta_problem,
    "task_id": _task_id_problem,
    "queue": _queue_problem,
    "max_retries": max_retries_problem,
    "expires": flow.call_expires_problem,
    "flow_key": flow.key_problem,
    "priority": flow.key_problem,
    "message_group_id": flow.key_problem,
    "time_limit": functools.partial(limit_problem, "time_limit"),
    "soft_time_limit": functools.partial(limit_problem, "soft_time_limit"),
}


def options_problems(options: Mapping[str, object]) -> list[str]:
    """What is wrong with per-call ``options`` (unknown names, unusable values, countdown with eta)."""
    problems = []
    for name, value in options.items():
        check = _OPTION_CHECKS.get(name)
        if check is None:
            known = ", ".join(_OPTION_CHECKS)
            problems.append(f"option {codec.short_repr(name)} is not one this SDK knows ({known})")
        elif (problem := check(value)) is not None:
            problems.append(f"option {name!r} {problem}")
    if "countdown" in options and "eta" in options:
        problems.append("options 'countdown' and 'eta' are both given: give one")
    return problems


def document_problems(doc: object) -> list[str]:
    """What is wrong with a signature document (its structure; the task need not be registered here)."""
    if not isinstance(doc, dict):
        return [f"a signature is an object, got {type(doc).__name__}"]
    problems = [
        f"key {codec.short_repr(key)} is not one of a signature ({', '.join(_KEYS)})" for key in doc if key not in _KEYS
    ]
    name = doc.get("task")
    if not valid_task_name(name):
        problems.append(f"field 'task' {codec.short_repr(name)} is not a task name")
    args, kwargs, options = doc.get("args", []), doc.get("kwargs", {}), doc.get("options") or {}
    if not isinstance(args, (list, tuple)):
        problems.append(f"field 'args' must be a list, got {type(args).__name__}")
    if not (isinstance(kwargs, dict) and all(isinstance(key, str) for key in kwargs)):
        problems.append(f"field 'kwargs' must be an object, got {codec.short_repr(kwargs)}")
    if isinstance(options, dict):
        problems += options_problems({key: value for key, value in options.items() if value is not None})
    else:
        problems.append(f"field 'options' must be an object, got {type(options).__name__}")
    if "immutable" in doc and not isinstance(doc["immutable"], bool):
        problems.append(f"field 'immutable' must be true or false, got {codec.short_repr(doc['immutable'])}")
    if codec.too_deep(doc):
        problems.append(f"it is nested too deeply (over {codec.MAX_DEPTH} levels)")
    return problems


def document_problem(value: object) -> str | None:
    """The problem with one signature document, as an envelope option check phrases it (None: usable)."""
    problems = document_problems(value)
    return f"is not a signature: {'; '.join(problems)}" if problems else None


def documents_problem(value: object) -> str | None:
    """The problem with a list of signature documents (a callback option's value), or None."""
    if not isinstance(value, (list, tuple)):
        return f"must be a list of signatures, got {type(value).__name__}"
    for index, doc in enumerate(value):
        problems = document_problems(doc)
        if problems:
            return f"item {index} is not a signature: {'; '.join(problems)}"
    return None


@dataclass(frozen=True, slots=True)
class Signature(Generic[R]):
    """One call of a task, as data: ``charge.s("o-1", 100)``. ``R`` is its result (awaited, for async tasks).

    Send it with :meth:`delay`, ``app.send(signature)`` or ``app.send_batch([...])``; carry it with
    :meth:`to_dict` / :meth:`from_dict` (or :meth:`to_json` / :meth:`from_json`).
    """

    #: The task's registered name.
    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: Per-call options (:class:`CallOptions`), only those given.
    options: CallOptions = field(default_factory=lambda: CallOptions())
    #: The app whose registry holds the task (not data: it is neither compared nor carried).
    app: App | None = field(default=None, compare=False, repr=False)
    #: In a workflow, whether the parent's result is *not* prepended to the arguments (``task.si(...)``).
    immutable: bool = False
    #: Callbacks sent when this call succeeds (given its result first), and when it is DEAD (given its task id
    #: first): :meth:`link` and :meth:`link_error` add them.
    callbacks: tuple[Signature[Any], ...] = ()
    errbacks: tuple[Signature[Any], ...] = ()

    def __post_init__(self) -> None:
        # Frozen: normalise through object.__setattr__ (a list of arguments reads back as the tuple it sends).
        object.__setattr__(self, "args", tuple(self.args))
        object.__setattr__(self, "kwargs", dict(self.kwargs))
        object.__setattr__(self, "options", cast(CallOptions, {k: v for k, v in self.options.items() if v is not None}))
        problems = [] if valid_task_name(self.name) else [f"{self.name!r} is not a task name"]
        problems += [f"keyword {key!r} is not a str" for key in self.kwargs if not isinstance(key, str)]
        problems += options_problems(self.options)
        if problems:
            raise InvalidArguments(f"signature of {self.name!r}: {'; '.join(problems)}")

    def __or__(self, other: Node) -> Chain:
        """``a.s() | b.s()``: a chain."""
        return chain(self, other)

    def link(self, *callbacks: Signature[Any]) -> Signature[R]:
        """This call with callbacks sent when it succeeds, each given its result first (a new signature: this one
        is frozen, so unlike Celery's ``link`` nothing is changed in place)."""
        return replace(self, callbacks=(*self.callbacks, *_signatures(callbacks)))

    def link_error(self, *errbacks: Signature[Any]) -> Signature[R]:
        """This call with callbacks sent when it is DEAD, each given its task id first (a new signature)."""
        return replace(self, errbacks=(*self.errbacks, *_signatures(errbacks)))

    @property
    def task(self) -> Task[..., Any]:
        """The task this calls, looked up by name in the app (TaskNotRegistered if it has none so named)."""
        return self._app().get_task(self.name)

    def set(self, **options: Unpack[CallOptions]) -> Signature[R]:
        """This call with options added or replaced: ``charge.s("o-1", 100).set(countdown=30)``."""
        merged: CallOptions = {**self.options, **options}
        if "countdown" in options:
            merged.pop("eta", None)  # the later choice of delay wins: one of the two, never both
        elif "eta" in options:
            merged.pop("countdown", None)
        return replace(self, options=merged)

    def delay(self) -> AsyncResult[R]:
        """Send this call now, with its options (and its callbacks, if it has any)."""
        if self.callbacks or self.errbacks:
            return self._app().send_workflow(self, **self.options)  # type: ignore[return-value]
        return self._app().send(self, **self.options)

    def to_dict(self) -> dict[str, Any]:
        """The signature as a document of codec values (see the module docstring)."""
        doc: dict[str, Any] = {"task": self.name, "args": list(self.args), "kwargs": dict(self.kwargs)}
        if self.options:
            doc["options"] = dict(self.options)
        if self.immutable:
            doc["immutable"] = True
        return doc

    @classmethod
    def from_dict(cls, app: App | None, doc: object) -> Signature[Any]:
        """The signature a document of codec values describes (as :meth:`to_dict` returns it, or a message
        holds it), bound to ``app``; DecodeError names what is wrong with it."""
        problems = document_problems(doc)
        if problems:
            raise DecodeError(f"signature: {'; '.join(problems)}")
        assert isinstance(doc, dict)  # noqa: S101  # document_problems refuses anything else
        options = cast(CallOptions, doc.get("options") or {})
        args, kwargs = tuple(doc.get("args", ())), dict(doc.get("kwargs", {}))
        return cls(doc["task"], args, kwargs, options, app, immutable=bool(doc.get("immutable", False)))

    def to_json(self) -> str:
        """The document as JSON text; EncodeError names a value the codec cannot carry."""
        return codec.dumps(self.to_dict(), f"signature of {self.name}")

    @classmethod
    def from_json(cls, app: App | None, text: str | bytes) -> Signature[Any]:
        """The signature of a JSON document; DecodeError says what is wrong with it."""
        try:
            doc = codec.loads(text)
        except ValueError as exc:  # the one error codec.loads raises, whatever the input
            raise DecodeError(f"signature is not valid JSON: {str(exc)[:200]}") from exc
        return cls.from_dict(app, doc)

    def _app(self) -> App:
        if self.app is None:
            raise ConfigurationError(
                f"the signature of {self.name!r} belongs to no app: make it with task.s(...) or "
                "Signature.from_dict(app, doc), or give app= when building it"
            )
        return self.app


@dataclass(frozen=True)
class Group:
    """Tasks that run in parallel, ``group(fetch.s(i) for i in range(30))`` (a workflow: squall.tasks.canvas)."""

    members: tuple[Node, ...]
    id: str | None = None

    def __or__(self, other: Node) -> Chain:
        return Chain((self, other))

    def delay(self) -> GroupResult:
        return self.apply_async()

    def apply_async(self, **options: Any) -> GroupResult:
        """Send every member now (or with ``countdown``/``eta``, ``queue``); see :func:`send`."""
        return cast("GroupResult", _app_of(self).send_workflow(self, **options))  # a group's handle


@dataclass(frozen=True)
class Chain:
    """Tasks that run one after another, each given its parent's result first: ``add.s(2, 2) | mul.s(4)``."""

    links: tuple[Node, ...]

    def __or__(self, other: Node) -> Chain:
        return Chain((*self.links, other))

    def delay(self) -> AsyncResult[Any] | GroupResult:
        return self.apply_async()

    def apply_async(self, **options: Any) -> AsyncResult[Any] | GroupResult:
        """Send the first step; the handle is the last step's (``.parent`` walks back)."""
        return _app_of(self).send_workflow(self, **options)


@dataclass(frozen=True)
class Chord:
    """A group and a body that runs once, after every member finished, with their results in order."""

    header: Group
    body: Node | None = None
    on_failure: OnFailure = "dead"

    def __call__(self, body: Node) -> AsyncResult[Any] | GroupResult:
        """``chord(header)(body)``: send at once with this body."""
        return replace(self, body=body).apply_async()

    def __or__(self, other: Node) -> Chain:
        return Chain((self, other))

    def delay(self) -> AsyncResult[Any] | GroupResult:
        return self.apply_async()

    def apply_async(self, **options: Any) -> AsyncResult[Any] | GroupResult:
        if self.body is None:
            raise InvalidArguments(
                "chord(header) has no body: call it with one, chord(header)(body), or chord(header, body)"
            )
        return _app_of(self).send_workflow(self, **options)


Node: TypeAlias = "Signature[Any] | Group | Chain | Chord"


def chain(*links: Node | Iterable[Node]) -> Chain:
    """``chain(a.s(), b.s(), c.s())`` (or one iterable of steps): nested chains are flattened."""
    steps = _steps(links)
    flat: list[Node] = []
    for step in steps:
        flat.extend(step.links if isinstance(step, Chain) else (step,))
    return Chain(tuple(flat))


def group(*members: Node | Iterable[Node]) -> Group:
    """``group(fetch.s(i) for i in range(30))`` (or the members as arguments): nested groups are flattened."""
    flat: list[Node] = []
    for member in _steps(members):
        flat.extend(member.members if isinstance(member, Group) else (member,))
    return Group(tuple(flat))


def chord(header: Group | Iterable[Node], body: Node | None = None, *, on_failure: OnFailure = "dead") -> Chord:
    """``chord(group(...), merge.s())``; ``on_failure="run"`` runs the body with DEAD members marked."""
    if on_failure not in ON_FAILURE:
        raise InvalidArguments(f"chord on_failure must be one of {', '.join(ON_FAILURE)}, got {on_failure!r}")
    return Chord(header if isinstance(header, Group) else group(header), body, on_failure)


def _signatures(given: Iterable[Any]) -> tuple[Signature[Any], ...]:
    found = tuple(given)
    for callback in found:
        if not isinstance(callback, Signature):
            raise InvalidArguments(f"a callback (link, link_error) is a signature, task.s(...): got {callback!r:.80}")
    return found


def _app_of(node: Node) -> App:
    if isinstance(node, Signature):
        return node._app()
    parts = node.links if isinstance(node, Chain) else node.members if isinstance(node, Group) else (node.header,)
    for part in parts:
        return _app_of(part)
    raise InvalidArguments("an empty workflow belongs to no app: give it at least one task")


def _steps(given: Sequence[Any]) -> list[Node]:
    if len(given) == 1 and not isinstance(given[0], (Signature, Group, Chain, Chord)):
        given = list(given[0])
    for step in given:
        if not isinstance(step, (Signature, Group, Chain, Chord)):
            raise InvalidArguments(
                f"a workflow step must be a signature (task.s(...)), group, chain or chord: got {step!r:.80}"
            )
    return list(given)
