"""Changing a task's limits without a redeploy, pausing and resuming its keys, and reading their state.

``app.limits`` is a :class:`Limits`. Overrides are stored in the task table (``limit#config#<task>``) and reach
every worker within :data:`squall.limits.LIMITS_CACHE_SECONDS`; a paused key defers every delivery of it (no
attempt spent; it comes back every :data:`squall.limits.PAUSED_RECHECK_SECONDS`). Only a task that declares a
limit (``rate_limit`` or ``concurrency_limit``) reads overrides: one that declares none makes no limiter call
at all, so it cannot be limited at runtime either. A pause of the whole task rides on its config item (in force
within the cache time too); a pause of one key is a flag on that key's items, which every admission's condition
checks (in force at once). These are operator calls (the operator policy allows them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from squall import clock, limits
from squall.errors import InvalidArguments
from squall.state.limiter import HOLDER, OVERRIDES, LimiterItems, concurrency_key, config_key, next_slot, rate_key
from squall.tasks.flow import key_problem, parse_rate, positive_int_problem
from squall.worker.limiter import TASK_KEY, declared, in_force
from squall.worker.limiter import Limits as LimitsInForce

if TYPE_CHECKING:
    from squall.protocols import App
    from squall.tasks.task import Task


@dataclass(frozen=True, slots=True)
class KeyState:
    """One flow key's limiter state: the rate's ``tat`` and the next free slot, the live holders, a pause."""

    key: str
    tat: float | None = None
    next_slot: float | None = None
    #: Live holders of concurrency slots: holder token to the end of its lease (epoch seconds).
    holders: dict[str, float] = field(default_factory=dict)
    paused: bool = False

    @property
    def held(self) -> int:
        """Concurrency slots held now (holders whose lease has not ended)."""
        return len(self.holders)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "tat": self.tat,
            "next_slot": self.next_slot,
            "held": self.held,
            "holders": dict(self.holders),
            "paused": self.paused,
        }


@dataclass(frozen=True, slots=True)
class TaskLimits:
    """A task's limits: as declared, as in force (with overrides), whether it is paused, its keys' state."""

    task: str
    declared_rate: str | None
    declared_concurrency: int | None
    declared_burst: int
    rate: str | None
    burst: int
    concurrency: int | None
    flow_key: str | None
    overridden: bool
    paused: bool = False
    keys: list[KeyState] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "declared": {
                "rate": self.declared_rate,
                "burst": self.declared_burst,
                "concurrency": self.declared_concurrency,
            },
            "rate": self.rate,
            "burst": self.burst,
            "concurrency": self.concurrency,
            "flow_key": self.flow_key,
            "overridden": self.overridden,
            "paused": self.paused,
            "keys": [k.to_dict() for k in self.keys],
        }


class Limits:
    """Runtime control of an app's limits: ``app.limits.set("sync_customer", rate="10/s")``."""

    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def _items(self) -> LimiterItems:
        return LimiterItems(lambda: self.app.dynamodb, self.app.settings.table)

    def _limited(self, name: str) -> Task[..., Any]:
        task = self.app.get_task(name)
        if not declared(task).any:
            raise InvalidArguments(
                f"task {name!r} declares no rate_limit or concurrency_limit, so its workers never read limits; "
                "declare one on the task (and deploy) to change it at runtime"
            )
        return task

    def set(
        self, task: str, *, rate: str | None = None, concurrency: int | None = None, burst: int | None = None
    ) -> TaskLimits:
        """Override ``task``'s limits (those given; the others stay as they are); in force within
        :data:`~squall.limits.LIMITS_CACHE_SECONDS`."""
        found = self._limited(task)
        if rate is None and concurrency is None and burst is None:
            raise InvalidArguments(f"task {task!r}: give rate=, concurrency= or burst= to set (clear() drops them)")
        if rate is not None:
            try:
                rate = str(parse_rate(rate))
            except ValueError as exc:
                raise InvalidArguments(f"task {task!r}: rate {exc}") from None
        for label, value, most in (
            ("concurrency", concurrency, limits.MAX_CONCURRENCY_LIMIT),
            ("burst", burst, limits.MAX_RATE_BURST),
        ):
            problem = positive_int_problem(value, most)
            if problem is not None:
                raise InvalidArguments(f"task {task!r}: {label} {problem}")
        if burst is not None and rate is None and self._in_force(found, self._config(task)).rate is None:
            raise InvalidArguments(f"task {task!r}: burst shapes a rate limit and this task has none; give rate= too")
        self._items.set_config(task, rate=rate, burst=burst, concurrency=concurrency)
        return self.get(task)

    def clear(self, task: str) -> TaskLimits:
        """Drop ``task``'s overrides: its declared limits apply again (a pause stays until resumed)."""
        self._limited(task)
        self._items.clear_config(task)
        return self.get(task)

    def pause(self, task: str, key: str | None = None) -> None:
        """Hold every delivery of ``task`` (every key, within the workers' cache time), or of its flow key ``key``
        (at once); no attempt is spent, nothing is dead-lettered."""
        self._pause(task, key, True)

    def resume(self, task: str, key: str | None = None) -> None:
        """Let a paused task (or key) run again."""
        self._pause(task, key, False)

    def _pause(self, task: str, key: str | None, paused: bool) -> None:
        self._limited(task)
        if key is None:
            self._items.set_paused(config_key(task), paused)
            return
        problem = key_problem(key)
        if problem is not None:
            raise InvalidArguments(f"task {task!r}: key {problem}")
        # Both items: the limits in force may come to include either, by an override.
        for pk in (rate_key(task, key), concurrency_key(task, key)):
            self._items.set_paused(pk, paused, now=clock.now())

    def _config(self, task: str) -> dict[str, Any]:
        return self._items.get(config_key(task), consistent=True)

    @staticmethod
    def _in_force(found: Task[..., Any], config: dict[str, Any]) -> LimitsInForce:
        return in_force(declared(found), config)

    def get(self, task: str, *, key: str | None = None, keys: bool = False) -> TaskLimits:
        """``task``'s limits as declared and in force, and the state of its task-wide key (``*``), of its flow key
        ``key``, or with ``keys=True`` of every key (found with a scan of the table: an operator's read)."""
        found = self._limited(task)
        config = self._config(task)
        force = self._in_force(found, config)
        if keys:
            names = self._items.keys_of(task)
        else:
            chosen = TASK_KEY if key is None else key
            names = [rate_key(task, chosen), concurrency_key(task, chosen)]
        now = clock.now()
        by_key: dict[str, dict[str, Any]] = {}
        for pk in names:
            item = self._items.get(pk, consistent=True)
            if not item:
                continue
            state = by_key.setdefault(pk.split("#", 3)[3], {"paused": False, "holders": {}, "tat": None})
            state["paused"] = state["paused"] or "paused" in item
            if "tat" in item:
                state["tat"] = float(item["tat"]["N"])
            for name, value in item.items():
                if name.startswith(HOLDER) and float(value["N"]) > now:
                    state["holders"][name[len(HOLDER) :]] = float(value["N"])
        states = [
            KeyState(
                name,
                tat=state["tat"],
                next_slot=None
                if state["tat"] is None or force.rate is None
                else next_slot(state["tat"], now, interval=force.rate.interval, burst=force.burst),
                holders=state["holders"],
                paused=state["paused"],
            )
            for name, state in sorted(by_key.items())
        ]
        options = found.options
        return TaskLimits(
            task=task,
            declared_rate=options.rate_limit,
            declared_concurrency=options.concurrency_limit,
            declared_burst=options.burst,
            rate=None if force.rate is None else config.get("rate", {}).get("S", options.rate_limit),
            burst=force.burst,
            concurrency=force.concurrency,
            flow_key=options.flow_key,
            overridden=any(name in config for name in OVERRIDES),
            paused=force.paused,
            keys=states,
        )

    def list(self) -> list[TaskLimits]:
        """Every task of the app that declares a limit, with its limits in force (and its task-wide key's state)."""
        return [self.get(name) for name, task in sorted(self.app.tasks.items()) if declared(task).any]
