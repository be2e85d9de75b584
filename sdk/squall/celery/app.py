"""``Celery``: Celery's app class on Squall. It is a :class:`squall.Squall`, so it deploys and runs as one.

What it adds is Celery's surface: ``app.conf`` (:mod:`squall.celery.conf`), ``config_from_object``,
``autodiscover_tasks`` and ``include`` (imported when the tasks are first needed, as Celery's finalize does),
``@app.task`` with Celery's options and ``base=`` (:mod:`squall.celery.task`, :mod:`squall.celery.declaring`),
routing (``task_routes``, ``queue=``: :mod:`squall.celery.routes`, where every queue the app can name is declared,
as queues are infrastructure here), ``send_task``, ``beat_schedule`` and ``add_periodic_task``
(:mod:`squall.celery.beat`), eager mode, and results that read as Celery's (:mod:`squall.celery.result`).

The app's Squall name comes from ``main``: lower-cased, other characters than letters, digits and ``-`` made
``-`` (``Celery("My Proj")`` deploys as ``my-proj``; no ``main`` or ``__main__``: ``celery``).
"""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from squall.app import Squall
from squall.celery import _context, beat, conf, declaring, result, routes, shared
from squall.celery.control import Control
from squall.celery.exceptions import ImproperlyConfigured
from squall.celery.shared import _SHARED as _SHARED  # re-exported (squall.celery.shared owns it)
from squall.celery.shared import gen_task_name as gen_task_name  # re-exported (squall.celery.shared owns it)
from squall.celery.shared import shared_task as shared_task  # re-exported (squall.celery.shared owns it)
from squall.celery.signals import Signal
from squall.celery.task import Task as CeleryTask
from squall.celery.trace import squall_body
from squall.deploy.topology import Queue
from squall.tasks.options import task_options
from squall.tasks.task import Task as SquallTask

if TYPE_CHECKING:
    from squall.scheduler.periodic import PeriodicSchedule
    from squall.tasks.signature import CallOptions, Node, Signature

logger = logging.getLogger("squall.celery")


def squall_app_name(main: str | None) -> str:
    """The Squall app name for Celery's ``main`` (see the module docstring)."""
    name = re.sub(r"[^a-z0-9-]+", "-", (main or "").lower()).strip("-")
    name = re.sub(r"^[^a-z]+", "", name)[:40].rstrip("-")
    return name or "celery"


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
        self.control = Control(self)
        if broker is not None or backend is not None:
            logger.info("squall.celery: broker and backend are not used: SQS queues, DynamoDB holds results")
        super().__init__(squall_app_name(main), queues=[self.conf.task_default_queue], **squall_options)
        if config_source is not None:
            self.config_from_object(config_source)
        if set_as_current:
            _context.set_current_app(self)
        else:
            _context.register_app(self)
        shared.declare_all(self)

    def __repr__(self) -> str:
        return f"<Celery {self.main} (squall app {self.name})>"

    # --- what Squall reads: queues, tasks and schedules, as Celery's settings declare them --------------

    @property
    def queues(self) -> dict[str, Queue]:
        """Every queue the app can name (:func:`squall.celery.routes.queues`), the default first."""
        return routes.queues(self.default_queue, self.conf, self._declared.values())

    @queues.setter
    def queues(self, value: dict[str, Queue]) -> None:
        pass  # Squall's constructor sets the default queue; the property derives the rest from the settings

    @property
    def default_queue(self) -> str:
        """``task_default_queue``."""
        return routes.default_queue(self.conf)

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
        queue = routes.static_queue(self, name, task.queue)
        if queue not in self.queues:
            self._declared[queue] = Queue(queue)
        declared = task_options(
            declaring.task_declaration(task, name, queue, self.conf), name=name, bind=True, app=self
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
        if queue is None and options.get("routing_key") is not None:
            queue = routes.keyed_queue(self, options["routing_key"], name)
        if route or queue is not None:
            call["queue"] = self.route(name, args, kwargs, queue)
        lane = routes.call_lane(self, name, call.get("queue"), options)
        if lane is not None:
            call["priority"] = lane
        return call

    def route(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], queue: Any = None) -> str:
        """The queue a call goes to: ``queue=``, the task's own, ``task_routes``, the default; declared or refused."""
        return routes.route(self, name, args, kwargs, queue)

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
        return result.celery_handle(self, super().send_workflow(node, **options))

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


def _installed_apps() -> list[str]:
    try:
        from django.conf import settings  # type: ignore[import-not-found]
    except ImportError:
        return []
    try:
        return list(settings.INSTALLED_APPS)
    except Exception:  # Django present but not configured: nothing to discover, as Celery's fixup does
        return []
