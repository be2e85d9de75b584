"""The local development server behind ``squall dev``: the app on moto, served on 127.0.0.1, on the wall clock.

:func:`squall.local.run` with ``server=True`` provisions the app's resources (as the stack would) and
publishes its settings as the SSM parameter ``/squall/<app>/config``, so a second process that sets
``AWS_ENDPOINT_URL``, a region and dummy credentials discovers everything exactly as a producer does on
AWS. This module adds the loop: the event-source emulator polls every queue, the local scheduler fires due
schedules about once a second, and when nothing is visible the loop idles briefly. Each state change the
worker writes is passed to ``on_transition`` with the task's name, for a live view.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from squall import config
from squall.api.auth import new_token, static_tokens
from squall.api.serving import LocalApi
from squall.errors import ConfigurationError, TaskNotRegistered
from squall.local import devstate, runtime
from squall.ui import DashboardServer, RecentTasks

if TYPE_CHECKING:
    from squall.app import Squall
    from squall.local.runtime import Runtime
    from squall.states import State
    from squall.tasks.task import Task

#: Seconds the loop waits when no queue had a message (a send is picked up at most this late).
IDLE_SECONDS = 0.2
#: Seconds between two rounds of the local scheduler (EventBridge Scheduler fires within the minute anyway).
SCHEDULER_SECONDS = 1.0
#: The variables a second process needs, in the order ``squall dev`` prints them.
EXPORTED = ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
#: The dead-letter reason of a task name the dev server's code does not register.
UNREGISTERED_IN_DEV = (
    "task {name!r} is not registered in this worker; restart squall dev (or run it with --reload) to load new code"
)


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change the worker wrote."""

    task_id: str
    state: State
    at: float
    name: str | None


def check_port(port: int, option: str = "--port") -> None:
    """Fail early, naming ``option``, if ``port`` is taken on 127.0.0.1 (moto's server would hang instead)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers bind: connections of a server stopped a moment ago, still in TIME_WAIT, do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            problem = (
                f"port {port} on 127.0.0.1 is taken ({exc.strerror}; another squall dev?): "
                f"stop what holds it, or pick another with {option} N (0: any free port)"
            )
            raise ConfigurationError(problem) from None


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:``port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def client_environment(port: int, *, app_spec: str | None = None, stage: str | None = None) -> dict[str, str]:
    """What a second process sets to use the dev server on ``port``: the endpoint, region, dummy credentials, app.

    The same values :func:`squall.local.runtime.run` gives its own clients; the app's settings need none, a
    producer reads them from the SSM parameter the dev server published (as on AWS).
    """
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_DEFAULT_REGION": runtime.DEFAULT_REGION,
        "AWS_REGION": runtime.DEFAULT_REGION,
        **runtime.DUMMY_CREDENTIALS,  # the session token too: a real one left in the shell must not ride along
    }
    if app_spec is not None:
        env[config.ENV_APP] = app_spec
    if stage is not None:
        env[config.ENV_STAGE] = stage
    return env


def not_registered_in_dev(app: Squall) -> Callable[[], None]:
    """Make an unknown task name's reason, in this process, say to restart ``squall dev``; returns what undoes it.

    Locally, a name the app does not know is almost always a task added since the dev server imported the
    code; the deployed worker keeps the reason :class:`TaskNotRegistered` gives.
    """
    lookup = app.get_task

    def get_task(name: str) -> Task[..., Any]:
        try:
            return lookup(name)
        except TaskNotRegistered as exc:
            exc.args = (UNREGISTERED_IN_DEV.format(name=name),)
            raise

    # The worker looks every delivery's task up through app.get_task: an attribute on this app object only.
    setattr(app, "get_task", get_task)  # noqa: B010  # mypy refuses assigning to a method
    return lambda: delattr(app, "get_task")


def export_line(rt: Runtime) -> str:
    """``export AWS_ENDPOINT_URL=... AWS_DEFAULT_REGION=... AWS_ACCESS_KEY_ID=testing ...``."""
    return "export " + " ".join(f"{name}={rt.environment[name]}" for name in EXPORTED)


class DevServer:
    """Serves one app locally until told to stop."""

    def __init__(
        self,
        app: Squall,
        *,
        port: int = 0,
        on_transition: Callable[[Transition], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        idle: float = IDLE_SECONDS,
        allow_private_targets: bool = False,
        api_port: int | None = 0,
        ui_port: int | None = 0,
        state: Path | None = None,
    ) -> None:
        self.app = app
        #: Where tasks, messages and schedules are kept across restarts (:mod:`squall.local.devstate`); None: not.
        self.state = state
        #: What was restored from ``state`` at start, as a line to print (None: nothing was).
        self.restored: str | None = None
        self.port = port
        #: The REST API's port on 127.0.0.1 (0: a free one; None: no API); its URL is ``api_url`` once serving.
        self.api_port = api_port
        #: The bearer token the REST API accepts: a fresh random one per server.
        self.api_token = new_token()
        self.api_url: str | None = None
        #: The dashboard's port on 127.0.0.1 (0: a free one; None: no dashboard); its URL is ``ui_url`` once serving.
        self.ui_port = ui_port
        self.ui_url: str | None = None
        self.on_transition = on_transition
        self.on_error = on_error
        self.idle = idle
        #: Whether HTTP targets may call private addresses (``squall dev --allow-private-targets``).
        self.allow_private_targets = allow_private_targets
        self._names: dict[str, str | None] = {}

    def serve(self, stop: threading.Event, ready: Callable[[Runtime], None] = lambda rt: None) -> None:
        """Provision, call ``ready`` with the runtime, then poll and fire schedules until ``stop`` is set."""
        check_port(self.port)
        for extra, option in ((self.api_port, "--api-port"), (self.ui_port, "--ui-port")):
            if extra is not None:
                check_port(extra, option)
        run = runtime.run(
            self.app, server=True, port=self.port, realtime=True, allow_private_targets=self.allow_private_targets
        )
        with run as rt:
            if self.state is not None:
                counts = devstate.restore(rt, self.state)
                if counts is not None:
                    self.restored = f"restored {counts} from {devstate.snapshot_path(self.state)}"
            restore_lookup = not_registered_in_dev(self.app)
            stop_listening = rt.on_transition(self._listen)
            tokens = static_tokens(self.api_token)
            api = None if self.api_port is None else LocalApi(self.app, tokens, port=self.api_port)
            recent = RecentTasks()
            stop_recording = rt.on_transition(recent.add)
            dashboard = None if self.ui_port is None else DashboardServer(self.app, port=self.ui_port, recent=recent)
            try:
                if api is not None:
                    self.api_url = api.start().url
                if dashboard is not None:
                    self.ui_url = dashboard.start().url
                ready(rt)
                self._loop(rt, stop)
            finally:
                if api is not None:
                    api.stop()
                if dashboard is not None:
                    dashboard.stop()
                stop_recording()
                stop_listening()
                restore_lookup()
                if self.state is not None:
                    devstate.save(rt, self.state)  # a clean stop (or a reload): the next start goes on from here

    def _loop(self, rt: Runtime, stop: threading.Event) -> None:
        next_round = 0.0
        while not stop.is_set():
            handled = 0
            try:
                handled = rt.poll()
                now = time.time()
                if rt.scheduler is not None and now >= next_round:
                    rt.scheduler.fire_until(now)
                    next_round = now + SCHEDULER_SECONDS
            except Exception as exc:
                # A dev server outlives one bad request (a malformed schedule, a moto hiccup): report it, go on.
                if self.on_error is None:
                    raise
                self.on_error(exc)
            if not handled:
                stop.wait(self.idle)

    def _listen(self, task_id: str, state: State, at: float) -> None:
        if self.on_transition is None:
            return
        if task_id not in self._names:
            if len(self._names) > 10_000:
                self._names.clear()  # a long session: forget old tasks rather than grow without bound
            record = self.app.store.get(task_id)
            self._names[task_id] = record.name if record else None
        self.on_transition(Transition(task_id, state, at, self._names[task_id]))
