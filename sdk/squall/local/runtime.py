"""The local runtime: an app's resources on moto, its real worker handler, and a clock you control.

with local.run(app) as rt:
    r = charge.delay("o-1", 100)
    rt.drain()                 # run until nothing is visible, delayed or in flight
    assert r.get(timeout=0) == {...}
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from squall import clock as clock_module
from squall.config import QueueAddress
from squall.deploy.topology import IntakeResource, Topology, WorkerSizing, describe
from squall.errors import ConfigurationError, DrainError
from squall.local import motoshim
from squall.local.concurrent import ConcurrentRun, SimulatedClock
from squall.local.esm import EventSourceMapping, Handler, Invocation
from squall.local.provision import intake_address, provision, publish_settings
from squall.local.scheduler import LocalScheduler
from squall.state.store import TransitionListener

if TYPE_CHECKING:
    import boto3

    from squall.app import Squall
    from squall.clock import Clock
    from squall.config import Settings

DEFAULT_REGION = "us-east-1"
#: Credentials moto accepts; never valid anywhere else.
DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
#: How far ``drain`` may move the fake clock before it concludes something loops forever.
DRAIN_HORIZON_SECONDS = 30 * 24 * 3600


@dataclass
class Runtime:
    """A running local deployment of one app."""

    app: Squall
    topology: Topology
    settings: Settings
    session: boto3.Session
    clock: Clock
    mappings: list[EventSourceMapping]
    environment: dict[str, str] = field(default_factory=dict)
    #: Fires the app's schedules (periodic, dynamic, long delays) as the clock moves; see .fired.
    scheduler: LocalScheduler | None = None
    #: The reconciler's event source on the intake queue (what SQS's redrive policies move).
    intake: EventSourceMapping | None = None
    #: The reconciler's second event source, on the FIFO intake queue (what the FIFO queues' policies move), if any.
    fifo_intake: EventSourceMapping | None = None
    #: The concurrent run, once started: its invocations in flight go on in the next ``run_concurrently``.
    _concurrent: ConcurrentRun | None = field(default=None, repr=False)

    @property
    def _sources(self) -> list[EventSourceMapping]:
        """Every event source: the worker's, one per queue, then the reconciler's (standard, then FIFO)."""
        return [*self.mappings, *(m for m in (self.intake, self.fifo_intake) if m is not None)]

    @property
    def invocations(self) -> list[Invocation]:
        """Every worker invocation so far, in order (the event sources share one history)."""
        return self.mappings[0].history if self.mappings else []

    def _of(self, queue: str | None) -> list[EventSourceMapping]:
        """The worker's event sources of ``queue`` (a queue with lanes: one per lane; None: every one)."""
        names = self.settings.deployed(queue)
        return [m for m in self.mappings if m.resource.name in names]

    def poll(self, queue: str | None = None) -> int:
        """One round: each event source (or just ``queue``'s, or its lanes') polls once; return the records handled.

        Without ``queue`` the reconciler's event source polls too.
        """
        if queue is not None:
            return sum(m.poll() for m in self._of(queue))
        return sum(m.poll() for m in self._sources)

    def throttle(self, queue: str | None = None, *, invocations: int = 1) -> None:
        """Make Lambda throttle the next ``invocations`` batches of each event source (or just ``queue``'s).

        A throttled batch costs a receive and comes back after its visibility timeout, unhandled.
        """
        for mapping in self._of(queue):
            mapping.throttle(invocations)

    def run_concurrently(
        self,
        *,
        at: Sequence[tuple[float, Callable[[], object]]] = (),
        until: float | None = None,
        max_invocations: int = 100_000,
        horizon: float = DRAIN_HORIZON_SECONDS,
    ) -> int:
        """Run every event source at once, each keeping up to its MaximumConcurrency invocations in flight, on
        the fake clock (:mod:`squall.local.concurrent`), until nothing is pending (or the clock reaches ``until``).

        ``at`` holds (epoch seconds, function) pairs: each function runs at that time, as a producer would (it
        may send, and sleep on the clock). Returns the records handled; DrainError as ``drain``. A function's
        error is raised here. Stopped at ``until``, the invocations in flight go on in the next call (``drain``
        does not see them: end with ``run_concurrently()``).
        """
        if not isinstance(self.clock, SimulatedClock):
            raise ConfigurationError("run_concurrently needs the fake clock: start local.run without realtime=True")
        run = self._concurrent
        if run is None:
            run = self._concurrent = ConcurrentRun(
                self.clock,
                self._sources,
                next_visible=lambda m: motoshim.next_visible_at(self.settings.region, m.address.physical_name),
                scheduler=self.scheduler,
            )
        for i, (when, call) in enumerate(sorted(at, key=lambda pair: pair[0])):
            run.start(call, max(when, self.clock.now()), f"producer-{i}")
        limit = max(self.clock.now() + horizon, until or 0.0)
        return run.run(until=until, limit=limit, max_invocations=max_invocations)

    def drain(
        self, *, max_invocations: int = 100_000, horizon: float = DRAIN_HORIZON_SECONDS, until: float | None = None
    ) -> int:
        """Run the worker until nothing is visible, delayed or in flight, moving the clock over waits.

        With ``until`` (epoch seconds), stop there instead, with the clock at ``until``: recurring
        schedules due before it fire and run too (``advance(..., run=True)``). Returns the number of
        records handled. Raises DrainError past ``max_invocations`` or after moving the clock ``horizon``
        seconds (a task that never finishes).
        """
        handled = invocations = 0
        limit = max(self.clock.now() + horizon, until or 0.0)
        while True:
            round_handled = 0
            for mapping in self._sources:
                count = mapping.poll()
                invocations += 1 if count else 0
                round_handled += count
            handled += round_handled
            if invocations > max_invocations:
                raise DrainError(f"drain stopped after {max_invocations} invocations; is a task looping?")
            if round_handled:
                continue
            wake = self.next_wakeup()
            if until is not None:
                recurring = self.scheduler.next_fire(recurring=True) if self.scheduler is not None else None
                wake = min((t for t in (wake, recurring) if t is not None), default=None)
                if wake is None or wake > until:
                    if self.clock.now() >= until:
                        return handled
                    self._move_to(until)
                    continue
            if wake is None:
                return handled
            if wake > limit:
                raise DrainError(f"work is still pending {horizon:.0f} s ahead; is a task retrying forever?")
            self._move_to(wake)

    def _close_concurrent(self) -> None:
        if self._concurrent is not None:
            self._concurrent.close()
            self._concurrent = None

    def next_wakeup(self) -> float | None:
        """When the next hidden message (delayed, in flight) becomes visible or one-time schedule fires.

        Recurring schedules are not pending work (they never end): ``drain`` fires those due before the
        next wake-up on its way there, and ``advance`` fires those due in the time it moves over.
        """
        times = [motoshim.next_visible_at(self.settings.region, m.address.physical_name) for m in self._sources]
        if self.scheduler is not None:
            times.append(self.scheduler.next_fire(recurring=False))
        pending = [t for t in times if t is not None]
        return min(pending, default=None)

    def advance(
        self, seconds: float = 0, *, minutes: float = 0, hours: float = 0, days: float = 0, run: bool = False
    ) -> None:
        """Move the clock forward, firing the schedules due meanwhile (in time order).

        Nothing runs unless ``run=True``, which runs the worker on the way, as in production (messages left
        unconsumed longer than the queue's retention, 4 days, expire as SQS would expire them).
        """
        until = self.clock.now() + seconds + 60 * minutes + 3600 * hours + 86400 * days
        if run:
            self.drain(until=until)
        else:
            self._move_to(until)

    def _move_to(self, when: float) -> None:
        if self.scheduler is not None:
            self.scheduler.fire_until(when)
        # moto compares with a strict '>', so step a millisecond past the instant itself.
        self.clock.sleep(max(0.0, when - self.clock.now()) + 0.001)

    def on_transition(self, listener: TransitionListener) -> Callable[[], None]:
        """Call ``listener(task_id, state, at)`` after every state the app writes; returns what removes it.

        Seeing every write (STARTED included) is a local tool: the demo, the dev server and tests use it. An
        extension's ``after_outcome`` is what learns a delivery's outcome wherever the worker runs.
        """
        listeners = self.app.store.listeners
        listeners.append(listener)
        return lambda: listeners.remove(listener)

    def dead_letters(self, queue: str | None = None) -> list[motoshim.PeekedMessage]:
        """The messages in the dead-letter queues (or one queue's), without receiving them."""
        names = [self.settings.queue(q).dlq_arn.rsplit(":", 1)[-1] for q in self.settings.deployed(queue)]
        return [m for name in names for m in motoshim.peek(self.settings.region, name)]

    def queued(self, queue: str | None = None) -> int:
        """Messages still on the source queues (visible, delayed or in flight)."""
        return sum(motoshim.message_count(self.settings.region, m.address.physical_name) for m in self._of(queue))


@contextmanager
def environ(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the block, restoring what was there before (or their absence)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def run(
    app: Squall,
    *,
    server: bool = False,
    port: int = 0,
    realtime: bool = False,
    sizing: WorkerSizing | None = None,
    region: str = DEFAULT_REGION,
    log_level: str = "WARNING",
    metrics: bool = False,
    start: float | None = None,
    allow_private_targets: bool = False,
) -> Iterator[Runtime]:
    """Provision ``app`` on moto and yield a :class:`Runtime`; everything is torn down on exit.

    ``server=True`` also serves moto on 127.0.0.1 (``port`` 0 picks a free one) so other processes can
    use it; ``realtime=True`` uses the wall clock instead of the fake one. No call leaves the machine.
    ``start`` (epoch seconds) is where the fake clock begins (default: the real time now).
    ``allow_private_targets=True`` lets HTTP targets call private addresses such as 127.0.0.1 (the address rule
    only: the scheme must still be http or https; docs/http-tasks.md).
    """
    import boto3
    from moto import mock_aws
    from moto.server import ThreadedMotoServer

    from squall.handler import make_handler, make_reconciler_handler

    topology = describe(app, sizing)
    with ExitStack() as stack:
        env = {
            **DUMMY_CREDENTIALS,
            "AWS_DEFAULT_REGION": region,
            "AWS_REGION": region,
            "POWERTOOLS_LOG_LEVEL": log_level,
            "POWERTOOLS_SERVICE_NAME": app.name,
            "POWERTOOLS_METRICS_DISABLED": "false" if metrics else "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        endpoint = None
        if server:
            # werkzeug logs every request; the local server should be as quiet as the in-process one.
            logging.getLogger("werkzeug").setLevel(logging.ERROR)
            moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
            moto_server.start()
            stack.callback(moto_server.stop)
            host, bound = moto_server.get_host_and_port()
            endpoint = f"http://{host}:{bound}"
            env["AWS_ENDPOINT_URL"] = endpoint  # any other client in this process goes to loopback too
        else:
            stack.enter_context(mock_aws())
        stack.enter_context(motoshim.as_on_aws())  # where moto differs from AWS in ways that hide bugs
        stack.enter_context(environ(env))
        # A FakeClock on which a concurrent run's invocations can also sleep in turn (Runtime.run_concurrently).
        fake = None if realtime else SimulatedClock(start)
        if fake is not None:
            stack.enter_context(clock_module.use(fake))
            stack.enter_context(motoshim.sqs_follows_squall_clock())
            stack.enter_context(motoshim.scheduler_follows_squall_clock())
        session = boto3.Session(
            aws_access_key_id=DUMMY_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=DUMMY_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=DUMMY_CREDENTIALS["AWS_SESSION_TOKEN"],
            region_name=region,
        )
        settings = provision(topology, session, region, endpoint)
        if server:
            publish_settings(settings, session)  # other processes discover it as producers do on AWS
        previous = app._settings, app._session
        app.configure(settings, session)
        stack.callback(app.configure, *previous)
        app.http_targets.allow_private, allowed = allow_private_targets, app.http_targets.allow_private
        stack.callback(setattr, app.http_targets, "allow_private", allowed)
        handler: Handler = make_handler(app)
        history: list[Invocation] = []
        mappings = [
            EventSourceMapping(
                resource,
                settings.queue(resource.name),
                lambda: app.sqs,
                handler,
                region,
                # Each queue's deliveries run under the timeout of the function consuming it (its own, if it
                # declares sizing): the deadline and remaining time its invocations see.
                float(topology.sizing_of(resource.queue).timeout),
                topology.sizing_of(resource.queue).memory,
                history,
                new_handler=lambda: make_handler(app),
            )
            for resource in topology.queues
        ]
        # The intake's event source polls with a client of its own: like the worker's event sources it is
        # Lambda's poller, but its idle receives are a fixed monthly cost, not a cost per task (squall.deploy.cost).
        intake_sqs = session.client("sqs", region_name=region, endpoint_url=endpoint)

        def reconciler_source(resource: IntakeResource, address: QueueAddress) -> EventSourceMapping:
            return EventSourceMapping(
                resource,
                address,
                lambda: intake_sqs,
                make_reconciler_handler(app),
                region,
                float(resource.timeout),
                resource.memory,
                new_handler=lambda: make_reconciler_handler(app),
            )

        intake = reconciler_source(topology.intake, QueueAddress(settings.intake_url, settings.intake_arn, "", "", 0))
        # The FIFO intake: a second event source of the one reconciler function, as the stack makes it.
        fifo_intake = None
        if topology.fifo_intake is not None:
            address = intake_address(topology.fifo_intake, session, region, endpoint)
            fifo_intake = reconciler_source(topology.fifo_intake, address)
        public_env = {k: v for k, v in env.items() if k.startswith("AWS_")}
        if server:
            public_env["SQUALL_CONFIG"] = json.dumps(settings.to_document())
        scheduler = LocalScheduler(
            lambda: app.scheduler, lambda: app.sqs, settings.schedule_group, clock_module.current()
        )
        runtime = Runtime(
            app,
            topology,
            settings,
            session,
            clock_module.current(),
            mappings,
            public_env,
            scheduler,
            intake,
            fifo_intake,
        )
        stack.callback(runtime._close_concurrent)  # before moto goes: a thread left in flight ends first
        yield runtime
