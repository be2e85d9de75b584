"""``Celery``: Celery's app class on Squall. It is a :class:`squall.Squall`, so it deploys and runs as one.

What it adds is Celery's surface: ``app.conf`` (:mod:`squall.celery.conf`), ``config_from_object``,
``autodiscover_tasks`` and ``include`` (imported when the tasks are first needed, as Celery's finalize does),
``@app.task`` with Celery's options and ``base=`` (:mod:`squall.celery.task`), routing (``task_routes``,
``queue=``), ``send_task``, ``beat_schedule`` and ``add_periodic_task`` (:mod:`squall.celery.beat`), eager mode,
and results that read as Celery's (:mod:`squall.celery.result`).

**Queues are infrastructure here.** Every queue the app can name is declared, so that the deploy creates it:
``task_default_queue`` (Celery's default, ``celery``), each of ``task_queues`` (names, Squall ``Queue`` objects
with their batch size and concurrency, or kombu ``Queue`` objects, read by name), each queue ``task_routes`` maps
to, and each a task's ``queue=`` names. A queue named only at call time (``apply_async(queue="new")``, or what a
router function returns) is refused with :class:`~squall.celery.exceptions.QueueNotFound`, saying how to
declare it: Celery would have created it on the broker, but a queue here needs its DLQ, its worker mapping and
its alarms.

The app's Squall name comes from ``main``: lower-cased, other characters than letters, digits and ``-`` made
``-`` (``Celery("My Proj")`` deploys as ``my-proj``; no ``main`` or ``__main__``: ``celery``).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import importlib
import importlib.util
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from squall import limits
from squall.app import Squall
from squall.celery import _context, beat, conf, declaring, result
from squall.celery.exceptions import ImproperlyConfigured, QueueNotFound
from squall.celery.signals import Signal
from squall.celery.task import Task as CeleryTask
from squall.celery.task import squall_body
from squall.deploy.topology import Queue
from squall.tasks.options import task_options
from squall.tasks.task import Task as SquallTask

if TYPE_CHECKING:
    from squall.scheduler.periodic import PeriodicSchedule
    from squall.tasks.signature import CallOptions, Node, Signature

logger = logging.getLogger("squall.celery")

_SHARED: list[tuple[Callable[..., Any], dict[str, Any]]] = []


def squall_app_name(main: str | None) -> str:
    """The Squall app name for Celery's ``main`` (see the module docstring)."""
    name = re.sub(r"[^a-z0-9-]+", "-", (main or "").lower()).strip("-")
    name = re.sub(r"^[^a-z]+", "", name)[:40].rstrip("-")
    return name or "celery"


class _Control:
    """``app.control``: ``revoke`` only (``inspect``, ``broadcast`` have no workers to ask)."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def revoke(self, task_id: str | list[str], terminate: bool = False, **kwargs: Any) -> None:
        """Revoke each task (``terminate=True`` is refused: a running Lambda cannot be stopped)."""
        for one in [task_id] if isinstance(task_id, str) else task_id:
            result.AsyncResult(one, app=self.app).revoke(terminate=terminate)

    def inspect(self, *args: Any, **kwargs: Any) -> Any:
        """No worker processes to inspect: ``squall stats`` shows queues and failures."""
        raise NotImplementedError("app.control.inspect(): there are no worker processes to ask; use `squall stats`")


class Celery(Squall):
    """Celery's app: ``Celery("proj", broker=..., backend=..., include=[...])``, then ``@app.task``."""

    #: The base of this app's tasks (``class MyTask(app.Task)``).
    Task: type[CeleryTask] = CeleryTask

    def __init__(
        self,
        main: str | None = None,
        loader: Any = None,
        backend: Any = None,
        amqp: Any = None,
        events: Any = None,
        log: Any = None,
        control: Any = None,
        set_as_current: bool = True,
        tasks: Any = None,
        broker: Any = None,
        include: Iterable[str] | None = None,
        changes: Mapping[str, Any] | None = None,
        config_source: Any = None,
        fixups: Any = None,
        task_cls: type[CeleryTask] | str | None = None,
        autofinalize: bool = True,
        namespace: str | None = None,
        strict_typing: bool = True,
        **kwargs: Any,
    ) -> None:
        squall_options = {key: kwargs.pop(key) for key in _SQUALL_OPTIONS if key in kwargs}
        self.main = main
        self.conf = conf.Conf({**dict(changes or {}), **kwargs})
        self.namespace = namespace
        self._declared: dict[str, Queue] = {}
        self._celery_tasks: dict[str, CeleryTask] = {}
        self._tasks_by_name: dict[str, SquallTask[..., Any]] = {}
        self._periodic: dict[str, PeriodicSchedule] = {}
        self._include = list(include or ())
        self._discover: list[tuple[Any, str]] = []
        self._finalized = self._finalizing = False
        self._beat = beat.Beat(self)
        if isinstance(task_cls, type):
            self.Task = task_cls
        self.on_configure = Signal("on_configure")
        self.on_after_configure = Signal("on_after_configure")
        self.on_after_finalize = Signal("on_after_finalize")
        self.control = _Control(self)
        if broker is not None or backend is not None:
            logger.info("squall.celery: broker and backend are not used: SQS queues, DynamoDB holds results")
        super().__init__(squall_app_name(main), queues=[self.conf.task_default_queue], **squall_options)
        if config_source is not None:
            self.config_from_object(config_source)
        if set_as_current:
            _context.set_current_app(self)
        else:
            _context.register_app(self)
        for fn, options in _SHARED:
            self._declare(fn, dict(options))

    def __repr__(self) -> str:
        return f"<Celery {self.main} (squall app {self.name})>"

    # --- what Squall reads: queues, tasks and schedules, as Celery's settings declare them --------------

    @property
    def queues(self) -> dict[str, Queue]:
        """Every queue the app can name (see the module docstring), the default first."""
        found: dict[str, Queue] = {}
        for queue in [self.default_queue, *self._setting_queues(), *self._declared.values()]:
            declared = queue if isinstance(queue, Queue) else Queue(declaring.queue_name(queue))
            if declared.name not in found or isinstance(queue, Queue):
                found[declared.name] = declared
        return found

    @queues.setter
    def queues(self, value: dict[str, Queue]) -> None:
        pass  # Squall's constructor sets the default queue; the property derives the rest from the settings

    @property
    def default_queue(self) -> str:
        """``task_default_queue``."""
        return declaring.queue_name(self.conf.task_default_queue)

    @default_queue.setter
    def default_queue(self, value: str) -> None:
        pass  # from the settings, always

    @property
    def tasks(self) -> dict[str, SquallTask[..., Any]]:
        """The registered tasks (as Squall's); the ``include`` and discovered modules are imported first."""
        self.finalize(auto=True)
        return self._tasks_by_name

    @tasks.setter
    def tasks(self, value: dict[str, SquallTask[..., Any]]) -> None:
        self._tasks_by_name = value

    @property
    def periodic_schedules(self) -> dict[str, PeriodicSchedule]:
        """``beat_schedule``, ``add_periodic_task`` and ``@app.periodic`` schedules, by name."""
        if not self._finalizing and not self._beat.declaring:
            self.finalize(auto=True)
            self._beat.declare()
        return self._periodic

    @periodic_schedules.setter
    def periodic_schedules(self, value: dict[str, PeriodicSchedule]) -> None:
        self._periodic = value

    def _setting_queues(self) -> list[Any]:
        queues: list[Any] = list(self.conf.task_queues or ())
        routes = self.conf.task_routes
        for table in routes if isinstance(routes, list | tuple) else [routes]:
            if isinstance(table, Mapping):
                queues += [q for q in (declaring.route_queue(v) for v in table.values()) if q is not None]
        return queues

    # --- configuring ------------------------------------------------------------------------------------

    def config_from_object(
        self, obj: Any, silent: bool = False, force: bool = False, namespace: str | None = None
    ) -> None:
        """Read settings from an object or a module name (``"proj.celeryconfig"``, ``"django.conf:settings"``)."""
        try:
            found = conf.settings_of(obj, namespace or self.namespace)
        except ImproperlyConfigured:
            if silent:
                return
            raise
        self.conf.update(found)

    def autodiscover_tasks(
        self, packages: Iterable[str] | Callable[[], Iterable[str]] | None = None, related_name: str = "tasks",
        force: bool = False,
    ) -> None:  # fmt: skip
        """Import ``<package>.<related_name>`` of each package when the tasks are first needed (now with ``force``).

        No packages: Django's ``INSTALLED_APPS``, when Django is configured.
        """
        self._discover.append((packages, related_name))
        if force or self._finalized:
            self._import_discovered([(packages, related_name)])

    def finalize(self, auto: bool = False) -> None:
        """Import the task modules (``imports``, ``include``, discovered ones), then send ``on_after_finalize``."""
        if self._finalized or self._finalizing:
            return
        self._finalizing = True
        try:
            self.on_configure.send(sender=self)
            self.on_after_configure.send(sender=self, source=self.conf)
            for module in [*self.conf.imports, *self.conf.include, *self._include]:
                importlib.import_module(module)
            self._import_discovered(self._discover)
            self._finalized = True
        finally:
            self._finalizing = False
        self.on_after_finalize.send(sender=self)

    def _import_discovered(self, requests: list[tuple[Any, str]]) -> None:
        for packages, related in requests:
            names = packages() if callable(packages) else packages
            for package in _installed_apps() if names is None else names:
                module = f"{package}.{related}"
                try:
                    found = importlib.util.find_spec(module)
                except ModuleNotFoundError:
                    found = None  # the package itself is not importable as a package: nothing to discover
                if found is not None:
                    importlib.import_module(module)

    @property
    def loader(self) -> Any:
        """Celery's loader, as far as ``app.loader.import_default_modules()`` goes."""
        app = self

        class _Loader:
            def import_default_modules(self) -> None:
                app.finalize()

        return _Loader()

    # --- declaring tasks -------------------------------------------------------------------------------

    def task(self, *args: Any, **options: Any) -> Any:  # Celery's decorator
        """``@app.task``, ``@app.task(bind=True, base=MyTask, max_retries=5, queue="x", ...)``."""
        if len(args) == 1 and callable(args[0]) and not options:
            return self._declare(args[0], {})
        if args:
            raise TypeError("app.task takes the function alone, or keyword options: @app.task(bind=True)")
        return lambda fn: self._declare(fn, options)

    def _declare(self, fn: Callable[..., Any], options: dict[str, Any]) -> CeleryTask:
        options = dict(options)
        bind = bool(options.pop("bind", False))
        base = options.pop("base", None) or self.Task
        name = options.pop("name", None) or gen_task_name(self, fn.__name__, fn.__module__)
        if name in self._celery_tasks:
            return self._celery_tasks[name]
        declaring.check_task_options(name, options)
        run = fn if bind else staticmethod(fn)
        attributes = {"app": self, "name": name, "run": run, "__doc__": fn.__doc__, "__module__": fn.__module__}
        task: CeleryTask = type(fn.__name__, (base,), {**attributes, **options})()
        queue = self._static_queue(name, task.queue)
        if queue not in self.queues:
            self._declared[queue] = Queue(queue)
        declared = task_options(
            {
                "name": name,
                "queue": queue,
                "max_retries": limits.MAX_RETRIES_CEILING if task.max_retries is None else task.max_retries,
                "autoretry_for": (),  # Celery's retry rules are the face's own: see squall.celery.task
                "ignore_result": bool(task.ignore_result or self.conf.task_ignore_result),
                "result_ttl": max(1, int(declaring.seconds(self.conf.result_expires))),
                **declaring.flow_options(task, self.conf.task_default_rate_limit),
                **declaring.time_limits(task, self.conf.task_time_limit, self.conf.task_soft_time_limit),
            },
            name=name,
            bind=True,
            app=self,
        )
        task._squall = SquallTask(self, squall_body(task, fn, bind), declared)
        self._tasks_by_name[name] = task._squall
        self._celery_tasks[name] = task
        return task

    def celery_task(self, name: str) -> CeleryTask:
        """The face's task called ``name`` (``app.tasks`` holds Squall's)."""
        self.finalize(auto=True)
        try:
            return self._celery_tasks[name]
        except KeyError:
            raise KeyError(f"task {name!r} is not registered with app {self.main!r}") from None

    def tracks_started(self, name: str | None) -> bool:
        """Whether task ``name`` reports STARTED (``track_started``, else ``task_track_started``)."""
        task = self._celery_tasks.get(name or "")
        own = task.track_started if task is not None else None
        return bool(self.conf.task_track_started if own is None else own)

    def ignores_result(self, name: str | None, *, failed: bool) -> bool:
        """Whether task ``name`` keeps no result (``ignore_result``), so Celery would read PENDING after it ran;
        a failure still counts with ``store_errors_even_if_ignored``."""
        task = self._celery_tasks.get(name or "")
        if task is None or not (task.ignore_result or self.conf.task_ignore_result):
            return False
        return not (failed and (task.store_errors_even_if_ignored or self.conf.task_store_errors_even_if_ignored))

    def known_exceptions(self) -> dict[str, type[BaseException]]:
        """The exception classes the app's tasks name, and their subclasses loaded in this process, by
        ``module.qualname`` (results rebuild them: no class is looked up by a stored name elsewhere)."""
        known: dict[str, type[BaseException]] = {}
        pending: list[type[BaseException]] = [
            kind
            for task in self._celery_tasks.values()
            for kind in (*task.autoretry_for, *task.dont_autoretry_for, *task.throws)
        ]
        while pending:
            kind = pending.pop()
            name = f"{kind.__module__}.{kind.__qualname__}"
            if name not in known and kind not in (BaseException, Exception):
                known[name] = kind
                pending += kind.__subclasses__()
        return known

    # --- sending -----------------------------------------------------------------------------------------

    def call_options(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any], *, route: bool = True
    ) -> CallOptions:
        """Squall's options for a Celery call: the delay, the routed queue; the rest checked or noted once."""
        call = declaring.call_options(options, self.aware)
        queue = options.get("queue")
        if route or queue is not None:
            call["queue"] = self.route(name, args, kwargs, queue)
        return call

    def route(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], queue: Any = None) -> str:
        """The queue a call goes to: ``queue=``, the task's own, ``task_routes``, the default; declared or refused."""
        chosen = declaring.queue_name(queue) if queue is not None else None
        task = self._celery_tasks.get(name)
        if chosen is None and task is not None and task.queue:
            chosen = declaring.queue_name(task.queue)
        if chosen is None:
            chosen = self._routed(name, args, kwargs) or self.default_queue
        if chosen not in self.queues:
            raise QueueNotFound(
                f"queue {chosen!r} (task {name}) is not declared: Squall's queues are infrastructure; name it in "
                "task_queues, task_routes or the task's queue=, then deploy"
            )
        return chosen

    def _static_queue(self, name: str, own: Any) -> str:
        return declaring.queue_name(own) if own else (self._routed(name, (), {}, static=True) or self.default_queue)

    def _routed(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], *, static: bool = False) -> str | None:
        routes = self.conf.task_routes
        for router in routes if isinstance(routes, list | tuple) else [routes]:
            if router is None:
                continue
            if isinstance(router, Mapping):
                for pattern, target in router.items():
                    if pattern == name or ("*" in pattern and fnmatch.fnmatchcase(name, pattern)):
                        return declaring.route_queue(target)
            elif callable(router) and not static:
                target = router(name, args, kwargs, {}, task=self._celery_tasks.get(name))
                if target:
                    return declaring.route_queue(target)
        return None

    def send_task(self, name: str, args: Any = None, kwargs: dict[str, Any] | None = None, **options: Any) -> Any:
        """Send task ``name`` by name, routed as its calls are (no code of it needed)."""
        args, kwargs = tuple(args or ()), dict(kwargs or {})
        sent = super().send_task(name, args, kwargs, **self.call_options(name, args, kwargs, options))
        return result.AsyncResult(sent.id, app=self, task_name=name)

    def send(self, signature: Signature[Any], **options: Any) -> Any:
        """A signature's ``delay()``: routed, or run here in eager mode."""
        if self.conf.task_always_eager:
            return self.celery_task(signature.name).apply(
                signature.args, signature.kwargs, **{**signature.options, **options}
            )
        merged = {**signature.options, **options}
        call = self.call_options(signature.name, signature.args, signature.kwargs, merged)
        sent = super().send(signature.set(**call))
        return result.AsyncResult(sent.id, app=self, task_name=signature.name)

    def send_workflow(self, node: Node, **options: Any) -> Any:
        """A chain, group or chord: sent, or run here in eager mode."""
        if self.conf.task_always_eager:
            return beat.run_eagerly(self, node)
        return _face(self, super().send_workflow(node, **options))

    def AsyncResult(self, task_id: str, **kwargs: Any) -> result.AsyncResult:
        """Celery's ``app.AsyncResult(id)``."""
        return result.AsyncResult(task_id, app=self, **kwargs)

    def GroupResult(self, group_id: str, results: Any = None, **kwargs: Any) -> result.GroupResult:
        """Celery's ``app.GroupResult(id)`` (``GroupResult.restore(id)`` from squall.celery.result works too)."""
        return result.GroupResult(group_id, app=self)

    def signature(
        self, name: str, args: Any = None, kwargs: dict[str, Any] | None = None, **options: Any
    ) -> Signature[Any]:
        """A signature of task ``name``."""
        return self.celery_task(name).signature(args, kwargs, **options)

    def periodic(self, expression: str, **options: Any) -> Any:
        """Squall's ``@app.periodic`` is not the face's: a Celery app's schedules are its beat entries."""
        raise TypeError(
            f"app.periodic({expression!r}) on a Celery app: declare the schedule in beat_schedule or with "
            "app.add_periodic_task(schedule, task.s(...), name=...), as in Celery"
        )

    def add_periodic_task(
        self, schedule: Any, sig: Signature[Any], args: Any = (), kwargs: Any = (), name: str | None = None, **opts: Any
    ) -> str:
        """A beat entry for ``sig`` (its task must be declared by the time the schedules are read)."""
        return self._beat.add(schedule, sig, name=name, options=opts)

    # --- time ---------------------------------------------------------------------------------------------

    @property
    def timezone(self) -> ZoneInfo:
        """The ``timezone`` setting (crontabs and naive etas are read in it)."""
        return ZoneInfo(str(self.conf.timezone or "UTC"))

    def aware(self, moment: dt.datetime) -> dt.datetime:
        """``moment`` with the app's time zone if it has none (Celery reads a naive eta so)."""
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=self.timezone)

    def now(self) -> dt.datetime:
        """The current time in the app's time zone."""
        return dt.datetime.now(self.timezone)


#: Squall's own options, accepted by ``Celery(...)`` as keywords.
_SQUALL_OPTIONS = ("settings", "session", "index_success", "signing_key", "extensions", "stage")


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


def _installed_apps() -> list[str]:
    try:
        from django.conf import settings  # type: ignore[import-not-found]
    except ImportError:
        return []
    try:
        return list(settings.INSTALLED_APPS)
    except Exception:  # Django present but not configured: nothing to discover, as Celery's fixup does
        return []


def _face(app: Celery, sent: Any) -> Any:
    """Squall's handles of a workflow as Celery's (a chain's parents kept)."""
    if isinstance(sent, result.GroupResult | result.AsyncResult):
        return sent
    from squall.state.result import GroupResult as SquallGroup

    if isinstance(sent, SquallGroup):
        face: Any = result.GroupResult(sent.id, app=app)
    else:
        face = result.AsyncResult(sent.id, app=app)
    face.parent = None if sent.parent is None else _face(app, sent.parent)
    return face
