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
from typing import TYPE_CHECKING

from squall.api.auth import new_token, static_tokens
from squall.api.serving import LocalApi
from squall.errors import ConfigurationError
from squall.local import runtime
from squall.ui import DashboardServer, RecentTasks

if TYPE_CHECKING:
    from squall.app import Squall
    from squall.local.runtime import Runtime
    from squall.states import State

#: Seconds the loop waits when no queue had a message (a send is picked up at most this late).
IDLE_SECONDS = 0.2
#: Seconds between two rounds of the local scheduler (EventBridge Scheduler fires within the minute anyway).
SCHEDULER_SECONDS = 1.0
#: The variables a second process needs, in the order ``squall dev`` prints them.
EXPORTED = ("AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")


@dataclass(frozen=True, slots=True)
class Transition:
    """One state change the worker wrote."""

    task_id: str
    state: State
    at: float
    name: str | None


def check_port(port: int) -> None:
    """Fail early, with what to do, if ``port`` is taken on 127.0.0.1 (moto's server would hang instead)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            problem = f"port {port} on 127.0.0.1 is taken ({exc.strerror}): pick another --port, or 0"
            raise ConfigurationError(problem) from None


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
    ) -> None:
        self.app = app
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
        for extra in (self.api_port, self.ui_port):
            if extra is not None:
                check_port(extra)
        run = runtime.run(
            self.app, server=True, port=self.port, realtime=True, allow_private_targets=self.allow_private_targets
        )
        with run as rt:
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
