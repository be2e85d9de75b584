"""The Squall app: the task registry, its queues, its settings and its AWS clients."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, TypeVar, Unpack, overload

from squall import config, limits
from squall.deploy import discovery
from squall.deploy.topology import Queue
from squall.errors import ConfigurationError, TaskDefinitionError, TaskNotRegistered
from squall.ops import revoking
from squall.ops.limits import Limits
from squall.scheduler import periodic
from squall.scheduler.schedules import Schedules
from squall.sending import delays, dispatch, producer
from squall.state import result as results
from squall.state.result import AsyncResult
from squall.state.store import TaskStore
from squall.targets import TASK_NAME as HTTP_TASK
from squall.targets import HttpCallOptions, HttpRequestOptions, HttpResult, HttpTargets
from squall.tasks import canvas
from squall.tasks.extensions import Extension
from squall.tasks.options import TaskOptionArgs, task_options
from squall.tasks.signature import CallOptions, Node
from squall.tasks.task import Signature, Task, TaskContext, default_task_name
from squall.wire import signing

if TYPE_CHECKING:
    import datetime as dt

    import boto3
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_sqs import SQSClient

P = ParamSpec("P")
R = TypeVar("R")


class Squall:
    """A task app: ``app = Squall("shop")``, then ``@app.task`` to declare tasks.

    ``queues`` declares the app's queues (names or :class:`Queue` with polling settings); ``settings``
    pins resource locations instead of discovering them (see :mod:`squall.config`). ``index_success``
    also lists SUCCESS tasks in ``squall tasks``, for one more DynamoDB write unit per task. ``signing_key``
    turns on envelope signing (see :mod:`squall.wire.signing`): ``"ssm:<parameter>"``, ``"secretsmanager:<secret>"``
    or a :class:`~squall.wire.signing.Keyring`; ``SQUALL_SIGNING_PARAMETER`` sets it from the environment.
    ``stage`` names the deployment (``Squall("shop", stage="prod")``, or ``SQUALL_STAGE``): its resources are
    ``squall-shop-prod-...`` and its settings ``/squall/shop/prod/config`` (docs/deploy.md, "Stages").
    ``extensions`` hook into the worker at its typed points (:mod:`squall.tasks.extensions`, docs/extending.md).
    ``webhook_secret`` signs HTTP-target requests (``whsec_...``, several to rotate, or an ``ssm:``/``secretsmanager:``
    reference; :mod:`squall.targets.webhooks`, docs/http-tasks.md).
    """

    def __init__(
        self,
        name: str,
        *,
        queues: Iterable[Queue | str] = (limits.DEFAULT_QUEUE,),
        settings: config.Settings | None = None,
        session: boto3.Session | None = None,
        index_success: bool = False,
        signing_key: str | signing.Keyring | None = None,
        extensions: Iterable[Extension] = (),
        stage: str | None = None,
        webhook_secret: str | Sequence[str] | None = None,
    ) -> None:
        self.name = config.check_app_name(name)
        #: The deployment this process talks to (``dev``, ``prod``...; None: unstaged): ``stage=``, else
        #: ``SQUALL_STAGE`` (the stack sets it on the functions). Every resource name carries it.
        self.stage = config.check_stage(stage) if stage is not None else config.stage_from_env()
        #: The worker's extensions (see :mod:`squall.tasks.extensions`), run in this order at each point.
        self.extensions: list[Extension] = list(extensions)
        self._signing_key = signing_key
        self._signer: signing.Signer | None = None
        self._signer_resolved = False
        #: Whether SUCCESS tasks enter the listing index (failures always do); see docs/architecture.md.
        self.index_success = index_success
        self.queues: dict[str, Queue] = {}
        for queue in queues:
            declared = Queue(queue) if isinstance(queue, str) else queue
            self.queues[declared.name] = declared
        if not self.queues:
            raise TaskDefinitionError(f"app {name!r} declares no queue")
        self.default_queue = next(iter(self.queues))
        self.tasks: dict[str, Task[..., Any]] = {}
        #: Periodic schedules declared with :meth:`periodic`, by name.
        self.periodic_schedules: dict[str, periodic.PeriodicSchedule] = {}
        self._settings = settings
        self._session = session
        self._clients: dict[str, Any] = {}
        self._store: TaskStore | None = None
        self._lock = threading.Lock()
        #: HTTP targets (:meth:`send_http`): the webhook keys, the private-address opt-in, the built-in task.
        self.http_targets = HttpTargets(self, webhook_secret)
        #: Called after each state change this process writes: (task id, state, epoch seconds).

    def __repr__(self) -> str:
        return f"<Squall {self.name} tasks={len(self.tasks)} queues={list(self.queues)}>"

    # --- declaring tasks ------------------------------------------------------------------------------

    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self, *, bind: Literal[True], **options: Unpack[TaskOptionArgs]
    ) -> Callable[[Callable[Concatenate[TaskContext, P], R]], Task[P, R]]: ...

    @overload
    def task(
        self, *, bind: Literal[False] = ..., **options: Unpack[TaskOptionArgs]
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(  # type: ignore[misc]  # mypy misreads ParamSpec-only overload returns
        self, fn: Callable[..., Any] | None = None, /, *, bind: bool = False, **options: Unpack[TaskOptionArgs]
    ) -> Any:
        """Declare a task; usable bare (``@app.task``) or with options (``@app.task(max_retries=5)``).

        The options are :class:`~squall.tasks.options.TaskOptionArgs` (described on ``TaskOptions``);
        ``expected_duration`` (seconds) is the longest one run should take: the worker starts a run only with
        that much of its invocation left (plus a margin for the writes), else hands the message back unspent.
        Options the app's extensions declare go in ``extra={...}`` (docs/extending.md).
        """

        def register(function: Callable[..., Any]) -> Task[Any, Any]:
            declared = task_options(options, name=default_task_name(function), bind=bind, app=self)
            if declared.name in self.tasks:
                raise TaskDefinitionError(f"two tasks are named {declared.name!r}; give one of them name='...'")
            task: Task[Any, Any] = Task(self, function, declared)
            self.tasks[declared.name] = task
            return task

        return register(fn) if fn is not None else register

    def periodic(
        self,
        expression: str,
        *,
        timezone: str = "UTC",
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
        flexible_window_minutes: int | None = None,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        enabled: bool = True,
        expires: float | None = None,
        time_limit: float | None = None,
        soft_time_limit: float | None = None,
        priority: str | None = None,
    ) -> periodic.PeriodicDecorator:
        """Run a task on a schedule: ``@app.periodic("cron(0 9 ? * MON-FRI *)", timezone="Europe/Berlin")``.

        Applied to a function it declares the task too (``@app.task`` defaults); applied to a Task it
        schedules that task (``app.periodic("rate(15 minutes)", name="sync")(sync_inventory)``). The
        expression, time zone, window and dates are checked here; ``name`` (default: the task's name) names
        the schedule. Each firing is a task with id ``p.<name>@<scheduled time>``; ``expires``, the time limits
        and ``priority`` (a lane of the task's queue) apply to every firing, as a call's do. See docs/scheduling.md.
        """
        return periodic.declare_periodic(
            self,
            expression,
            timezone=timezone,
            args=args,
            kwargs=kwargs,
            name=name,
            flexible_window_minutes=flexible_window_minutes,
            start=start,
            end=end,
            enabled=enabled,
            expires=expires,
            time_limit=time_limit,
            soft_time_limit=soft_time_limit,
            priority=priority,
        )

    def get_task(self, name: str) -> Task[..., Any]:
        """The registered task called ``name``; TaskNotRegistered lists the known ones."""
        if name == HTTP_TASK and name not in self.tasks:
            return self.http_targets.task()  # the built-in HTTP-target task, registered on first use
        try:
            return self.tasks[name]
        except KeyError:
            raise TaskNotRegistered(name, list(self.tasks)) from None

    # --- sending --------------------------------------------------------------------------------------

    def send(self, signature: Signature[R], **options: Unpack[CallOptions]) -> AsyncResult[R]:
        """Send one task call; see :meth:`Task.apply_async`."""
        message = producer.prepare(signature, **options)
        dispatch.send_one(self, message)
        return self._handle(message)

    def send_http(self, url: str, payload: Any = None, **options: Unpack[HttpCallOptions]) -> AsyncResult[HttpResult]:
        """Deliver ``payload`` (JSON) to ``url``, retried until accepted; its result is ``{"status", "headers",
        "body"}``. ``method``, ``headers``, ``timeout`` shape the request; the rest are :meth:`send`'s options
        (``countdown``/``eta``, ``task_id``, ``max_retries``...). See :mod:`squall.targets`, docs/http-tasks.md."""
        return self.http_targets.send(url, payload, **options)

    def http(self, url: str, payload: Any = None, **request: Unpack[HttpRequestOptions]) -> Signature[HttpResult]:
        """A signature of an HTTP-target call, for workflows, schedules and batches (immutable: it ignores a
        parent's result); see :meth:`squall.targets.HttpTargets.signature`."""
        return self.http_targets.signature(url, payload, **request)

    def send_task(
        self,
        name: str,
        args: Sequence[Any] = (),
        kwargs: dict[str, Any] | None = None,
        **options: Unpack[CallOptions],
    ) -> AsyncResult[Any]:
        """Send task ``name`` by name, without its code (as Celery's ``send_task``): a registered one is checked as
        :meth:`send` checks it; another goes unchecked to ``queue`` or the default queue (see ``prepare_named``)."""
        message = producer.prepare_named(self, name, args, kwargs, **options)
        dispatch.send_one(self, message)
        return self._handle(message)

    def send_batch(
        self, signatures: Iterable[Signature[Any]], *, task_ids: Sequence[str] | None = None
    ) -> list[AsyncResult[Any]]:
        """Send many task calls with SendMessageBatch (10 per request); all are checked before any goes.

        Raises EnqueueError naming each task that did not go (``.sent`` lists those that did). Give
        ``task_ids`` (one per signature) to know which call each id is, so that the failed ones can be
        sent again with the same ids: duplicates run once.
        """
        signatures = list(signatures)
        if task_ids is not None and len(task_ids) != len(signatures):
            raise ValueError(f"task_ids has {len(task_ids)} ids for {len(signatures)} signatures; give one each")
        ids: Sequence[str | None] = [None] * len(signatures) if task_ids is None else task_ids
        messages = [
            producer.prepare(sig, task_id=task_id, queue=None, countdown=None, eta=None)
            for sig, task_id in zip(signatures, ids, strict=True)
        ]
        dispatch.send_many(self, messages)
        return [self._handle(m) for m in messages]

    def _handle(self, message: producer.Outgoing) -> AsyncResult[Any]:
        """The handle on a sent task (one that says so when its task keeps no record)."""
        envelope = message.envelope
        task = self.tasks.get(envelope.task)
        untracked = envelope.task if task is not None and not task.options.track else None
        return AsyncResult(envelope.id, app=self, eta=envelope.eta, untracked=untracked)

    def send_workflow(self, node: Node, **options: Unpack[CallOptions]) -> AsyncResult[Any] | results.GroupResult:
        """Send a chain, group or chord (or a signature with callbacks); see :mod:`squall.tasks.canvas`."""
        return canvas.send(self, node, **options)

    def send_launches(self, launches: Sequence[canvas.Launch], **options: Unpack[CallOptions]) -> None:
        """Send a workflow's next messages (all checked before any goes); EnqueueError names those not sent.

        ``countdown``/``eta``/``queue`` apply to each of them. Their ids are frozen, so sending them again
        (after an EnqueueError, or from a worker that crashed before acknowledging) runs each once.
        """
        messages = [producer.prepare(launch.signature, workflow=launch.options, **options) for launch in launches]
        dispatch.send_many(self, messages)

    def AsyncResult(self, task_id: str) -> AsyncResult[Any]:
        """A handle on the task ``task_id``, to read its state and result."""
        return AsyncResult(task_id, app=self)

    def GroupResult(self, group_id: str) -> results.GroupResult:
        """A handle on group ``group_id`` (``group(...).delay().id``): its members' states and results."""
        return results.GroupResult(group_id, app=self)

    def revoke(self, task_id: str) -> delays.RevokeOutcome:
        """Cancel a task that has not started; returns what happened (see :class:`RevokeOutcome`).

        A task not yet started is marked REVOKED and its message acknowledged without running; a long-delayed
        task's schedule is deleted. A workflow step stops its workflow (its chain's later steps DEAD, its chord
        member counted). A running task cannot be stopped (RUNNING); a finished one is left as it is
        (ALREADY_FINISHED); an id with no record is marked REVOKED all the same (UNKNOWN). A call that raised
        (AWS unreachable) is finished by calling again. See :mod:`squall.ops.revoking`.
        """
        return revoking.revoke(self, task_id)

    @property
    def limits(self) -> Limits:
        """Runtime control of the tasks' rate and concurrency limits (:class:`squall.ops.limits.Limits`)."""
        return Limits(self)

    @property
    def schedules(self) -> Schedules:
        """Dynamic schedules in the app's schedule group: ``app.schedules.create(name, task.s(...), cron=...)``."""
        return Schedules(self)

    # --- settings and clients -------------------------------------------------------------------------

    @property
    def signer(self) -> signing.Signer | None:
        """Signs sent envelopes and checks received ones; None when signing is off (the default)."""
        if not self._signer_resolved:
            self._signer = signing.signer_for(self, self._signing_key, self._periodic_inputs)
            self._signer_resolved = True
        return self._signer

    def _periodic_inputs(self) -> list[str]:
        return [periodic.schedule_input(self, declared) for declared in self.periodic_schedules.values()]

    @property
    def settings(self) -> config.Settings:
        """Where this app's resources are, resolved on first use (see :mod:`squall.config`)."""
        if self._settings is None:
            with self._lock:
                if self._settings is None:
                    self._settings = config.load_settings(
                        self.name,
                        stage=self.stage,
                        read_parameter=lambda name, region: discovery.read_parameter(
                            self._boto_session(), name, region
                        ),
                        by_naming=lambda region, endpoint: discovery.by_naming(
                            self, self._boto_session(), region, endpoint
                        ),
                    )
        return self._settings

    def configure(self, settings: config.Settings | None, session: boto3.Session | None = None) -> None:
        """Point the app at other resources (the local runtime does this); drops cached clients."""
        if settings is not None and settings.app != self.name:
            raise ConfigurationError(f"settings are for app {settings.app!r}, not {self.name!r}")
        if settings is not None and settings.stage != self.stage:
            raise ConfigurationError(
                f"settings are for stage {settings.stage or '(none)'} of app {self.name!r}, not stage "
                f"{self.stage or '(none)'}"
            )
        with self._lock:
            self._settings = settings
            self._session = session
            self._clients.clear()
            self._store = None

    def client(self, service: str) -> Any:
        """A cached boto3 client for ``service`` in the app's region and endpoint."""
        client = self._clients.get(service)
        if client is None:
            settings = self.settings  # before the lock: resolving the settings takes it too (not re-entrant)
            with self._lock:
                client = self._clients.get(service)
                if client is None:
                    client = self._boto_session().client(
                        service,  # type: ignore[call-overload]
                        region_name=settings.region,
                        endpoint_url=settings.endpoint_url,
                    )
                    self._clients[service] = client
        return client

    @property
    def sqs(self) -> SQSClient:
        """The SQS client."""
        return self.client("sqs")  # type: ignore[no-any-return]

    @property
    def dynamodb(self) -> DynamoDBClient:
        """The DynamoDB client."""
        return self.client("dynamodb")  # type: ignore[no-any-return]

    @property
    def scheduler(self) -> EventBridgeSchedulerClient:
        """The EventBridge Scheduler client."""
        return self.client("scheduler")  # type: ignore[no-any-return]

    @property
    def store(self) -> TaskStore:
        """The task-state store (built once per configuration: the worker uses it several times a record)."""
        store = self._store
        if store is None:
            store = self._store = TaskStore(
                lambda: self.dynamodb, self.settings.table, index_success=self.index_success
            )
        return store

    def _boto_session(self) -> boto3.Session:
        if self._session is None:
            import boto3

            self._session = boto3.Session()
        return self._session


def load_app(spec: str) -> Squall:
    """Import an app named in deployment config as ``module:attribute`` (``SQUALL_APP``, ``--app``).

    This names code chosen by whoever deployed the stack or runs the CLI, never anything taken from a message.
    """
    module_name, _, attribute = spec.partition(":")
    app = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(app, Squall):
        raise ConfigurationError(f"{config.ENV_APP}={spec!r} does not name a squall.Squall app")
    return app
