"""Global rate and concurrency limits, per task and flow key, shared by every worker (see docs/flow-control.md).

The worker runs :class:`FlowLimiter` before every other extension: ``before_claim`` admits a delivery or defers
it (no attempt spent, never dead-lettered), ``after_outcome`` gives back its concurrency slot. It never raises:
a limiter write that fails (throttled, refused) defers the delivery instead of admitting it.

Order: the concurrency slot first, then the rate slot. A delivery the rate would defer by more than the horizon
(judged from the last ``tat`` this worker saw) is deferred before it takes a slot; one whose rate reservation
then fails gives its slot back at once. So a deferral never spends a rate slot, and never keeps a concurrency
slot.
"""

from __future__ import annotations

import logging
import random
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from squall import clock, limits
from squall.state.limiter import LimiterItems, config_key, next_slot
from squall.tasks.extensions import ADMIT, Admission, Extension, OutcomeEvent
from squall.tasks.flow import Rate, key_value, parse_rate

if TYPE_CHECKING:
    from squall.protocols import App
    from squall.tasks.task import Task
    from squall.wire.envelope import Envelope

logger = logging.getLogger("squall.worker.limiter")

_rng = random.SystemRandom()  # jitter of deferrals, so that waiters spread out
#: The key of a task's limits when it has no flow key.
TASK_KEY = "*"


@dataclass(frozen=True, slots=True)
class Limits:
    """The limits in force for a task: the declared ones, or the runtime overrides (squall.ops.limits)."""

    rate: Rate | None
    burst: int
    concurrency: int | None
    #: The whole task is paused (``app.limits.pause(task)``): every delivery waits.
    paused: bool = False

    @property
    def any(self) -> bool:
        return self.rate is not None or self.concurrency is not None


def declared(task: Task[..., Any]) -> Limits:
    """The limits ``task`` declares."""
    options = task.options
    rate = None if options.rate_limit is None else parse_rate(options.rate_limit)
    return Limits(rate, options.burst, options.concurrency_limit)


def in_force(base: Limits, config: dict[str, Any]) -> Limits:
    """The limits in force given the declared ones and a task's config item (its overrides and pause)."""
    return Limits(
        base.rate if "rate" not in config else parse_rate(config["rate"]["S"]),
        base.burst if "burst" not in config else int(config["burst"]["N"]),
        base.concurrency if "concurrency" not in config else int(config["concurrency"]["N"]),
        paused=bool(config.get("paused", {}).get("BOOL")),
    )


def flow_key(envelope: Envelope, task: Task[..., Any]) -> str:
    """The key this delivery's limits are counted under: the call's, its task's ``flow_key`` argument's, or one
    key for the whole task."""
    given = envelope.options.get("flow_key")
    if isinstance(given, str):
        return given
    argument = task.options.flow_key
    if argument is None:
        return TASK_KEY
    try:
        return key_value(task.argument(argument, envelope.args, envelope.kwargs))
    except Exception:  # arguments that do not bind are refused later, by the executor, with the reason
        return TASK_KEY


class FlowLimiter(Extension):
    """Admits deliveries within their task's rate and concurrency limits."""

    name = "flow-limits"

    def __init__(self, app: App) -> None:
        self.app = app
        #: Seconds the invocation in hand may still run (the executor sets it for each delivery).
        self.remaining_seconds: float = 0.0
        self._items: LimiterItems | None = None
        self._tat: dict[tuple[str, str], float] = {}  # the last tat seen, by task and key
        self._config: dict[str, tuple[float, Limits]] = {}  # overrides read, by task, with when
        self._declared: dict[str, Limits] = {}  # what each task declares (parsed once)
        #: The concurrency slot the delivery in hand holds: (task, key, token).
        self.held: tuple[str, str, str] | None = None
        #: Deferrals by reason ("rate", "concurrency", "paused", "error"), for tests and the logs.
        self.deferred: dict[str, int] = {}

    @property
    def items(self) -> LimiterItems:
        if self._items is None:
            self._items = LimiterItems(lambda: self.app.dynamodb, self.app.settings.table)
        return self._items

    def limits_for(self, task: Task[..., Any]) -> Limits:
        """The limits in force: the declared ones, unless overridden at runtime (read at most every few seconds)."""
        base = self._declared.get(task.name)
        if base is None:
            base = self._declared[task.name] = declared(task)
        if not base.any:
            return base  # a task that declares no limit is never limited: no DynamoDB call at all
        now = clock.now()
        cached = self._config.get(task.name)
        if cached is not None and now - cached[0] < limits.LIMITS_CACHE_SECONDS:
            return cached[1]
        found = in_force(base, self.items.get(config_key(task.name)))
        self._config[task.name] = (now, found)
        return found

    def _defer(self, why: str, seconds: float) -> Admission:
        self.deferred[why] = self.deferred.get(why, 0) + 1
        return Admission(defer=max(0.0, seconds), reason=f"flow control: {why}")

    def before_claim(self, envelope: Envelope, task: Task[..., Any]) -> Admission:
        self.held = None
        try:
            return self._admit(envelope, task)
        except Exception as exc:
            # Throttled or refused writes, and anything unforeseen (an override edited by hand): the chain would
            # admit an extension that raises, and the limiter must never admit what it could not count.
            logger.warning("task %s: limiter failed (%s: %s); deferred", envelope.id, type(exc).__name__, exc)
            self._give_back()
            return self._defer("error", limits.LIMITER_ERROR_RETRY_SECONDS * (1 + _rng.random()))

    def _admit(self, envelope: Envelope, task: Task[..., Any]) -> Admission:
        found = self.limits_for(task)
        if not found.any:
            return ADMIT
        if found.paused:
            return self._defer("paused", limits.PAUSED_RECHECK_SECONDS)
        key = flow_key(envelope, task)
        now = clock.now()
        if found.rate is not None and (task.name, key) in self._tat:
            # Judged from the tat this worker last saw (it only grows, unless the item expires): a slot beyond
            # the horizon is deferred before anything is taken or written.
            known = self._tat[(task.name, key)]
            start = next_slot(known, now, interval=found.rate.interval, burst=found.burst)
            if start - now > limits.RATE_HORIZON_SECONDS:
                return self._later(start - now)
        if found.concurrency is not None:
            answer = self._take_slot(task.name, key, found.concurrency, now)
            if answer is not None:
                return answer
        if found.rate is not None:
            answer = self._take_rate(task.name, key, found.rate, found.burst)
            if answer is not None:
                self._give_back()
                return answer
        return ADMIT

    def _take_slot(self, task: str, key: str, limit: int, now: float) -> Admission | None:
        token = secrets.token_hex(8)
        lease_until = now + self.remaining_seconds + limits.LEASE_SLACK_SECONDS
        for _ in range(limits.LIMITER_TRIES):
            slot = self.items.acquire(task, key, token=token, limit=limit, lease_until=lease_until, now=now)
            if slot.held:
                self.held = (task, key, token)
                return None
            if slot.paused:
                return self._defer("paused", limits.PAUSED_RECHECK_SECONDS)
            if not slot.lapsed:
                wait = (slot.earliest or now) - now
                return self._defer("concurrency", min(max(wait, 1.0), limits.CONCURRENCY_RECHECK_SECONDS))
            for holder, lease in slot.lapsed:  # a crashed holder's slot: its lease ended, take it back
                self.items.release(task, key, token=holder, lease=lease)
        return self._defer("concurrency", 1.0 + _rng.random())

    def _take_rate(self, task: str, key: str, rate: Rate, burst: int) -> Admission | None:
        for _ in range(limits.LIMITER_TRIES):
            now = clock.now()
            known = self._tat.get((task, key))
            got = self.items.reserve(
                task,
                key,
                interval=rate.interval,
                burst=burst,
                now=now,
                known=known,
                horizon=limits.RATE_HORIZON_SECONDS,
            )
            if got.tat is not None:
                self._tat[(task, key)] = got.tat
            else:
                self._tat.pop((task, key), None)  # the item has no tat (new, or expired): the key is idle
            if got.paused:
                return self._defer("paused", limits.PAUSED_RECHECK_SECONDS)
            if got.start is not None:
                if got.start > now:
                    clock.sleep(got.start - now)  # within the horizon: wait here for the slot, then run
                return None
            if got.later is not None:
                return self._later(got.later - now)
        # Lost every race: a busy key. Come back soon (the slot it lost to is at most a horizon away).
        return self._defer("rate", min(rate.interval, limits.RATE_HORIZON_SECONDS) * (1 + _rng.random()))

    def _later(self, wait: float) -> Admission:
        """Defer a delivery whose slot is ``wait`` (more than the horizon) seconds away.

        SQS hides a message for whole seconds, rounded up: deferring ``wait - horizon`` brings it back between
        one horizon before its slot and ``1 s - horizon`` after that, so with a horizon of at least 1 s it is
        back within the horizon and before its slot, where it reserves the slot and waits for it.
        """
        return self._defer("rate", wait - limits.RATE_HORIZON_SECONDS)

    def _give_back(self) -> None:
        if self.held is None:
            return
        task, key, token = self.held
        self.held = None
        try:
            self.items.release(task, key, token=token)
        except (ClientError, BotoCoreError) as exc:  # its lease ends it anyway
            logger.warning("could not give back a concurrency slot of %s (%s); its lease will", task, exc)

    def after_outcome(self, event: OutcomeEvent) -> None:
        self._give_back()
