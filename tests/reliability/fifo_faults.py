"""The fault suite's FIFO queue: ordered groups of tasks beside the main workload, and the invariants they keep.

:class:`FifoWorkload` declares one FIFO queue and one task kind on the suite's app, sends a few message groups in
each wave (in order, each task knowing its place in its group), and runs them under the suite's DynamoDB faults
plus its own: Lambda throttling now and then, and invocations that crash before any record or after the first k
(the records already done come back and are acknowledged as duplicates). Some tasks fail transiently and retry
(the worker keeps a FIFO message hidden for its backoff, its group blocked behind it); a few fail every attempt
(DEAD on their budget, their group unblocked); a few are *held* — deferred on every receive by the workload's
extension, as a closed maintenance window would — until SQS's redrive policy moves them, with whatever was
skipped behind them, to the FIFO intake queue, where the reconciler records them DEAD and dead-letters them.

After the drain, :meth:`FifoWorkload.check` adds to the suite's violations: every FIFO task final, once; its DLQ
and its DEAD tasks the same set, each letter with Squall's reason; a held task never SUCCESS, and DEAD as moved by
the redrive policy; nothing left on the FIFO queue or the FIFO intake; and per message group, the successes ran in
send order.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from squall import Queue, Squall, State, TaskContext
from squall.handler import make_handler
from squall.local import motoshim
from squall.tasks.extensions import ADMIT, Admission, Extension
from squall.worker.deadletters import REASON_ATTRIBUTE, TASK_ID_ATTRIBUTE

if TYPE_CHECKING:
    from squall.local import Runtime
    from squall.local.esm import EventSourceMapping
    from squall.tasks.task import Task
    from squall.wire.envelope import Envelope

#: The suite's FIFO queue (batches of 10, Lambda's most for a FIFO source).
QUEUE = Queue("ordered", fifo=True)
TASK_NAME = "reliability.fifo"
#: FIFO tasks per 100 of the main workload, at least MIN_TASKS; groups of GROUP_SIZE, sent a few per wave.
PER_HUNDRED, MIN_TASKS, GROUP_SIZE = 10, 20, 4
#: Per task: held (deferred on every receive), hopeless (fails every attempt); per attempt, a transient failure.
HELD_RATE, HOPELESS_RATE, FLAKE_RATE = 0.04, 0.06, 0.25
#: Per invocation: crash before any record, or after the first k; per poll, a throttled batch.
CRASH_RATE, PARTIAL_RATE, THROTTLE_RATE = 0.05, 0.05, 0.05
#: How long the extension defers a held task each time, in seconds.
HOLD_SECONDS = 90
MOVED_ERROR = "MovedByRedrivePolicy"


class Flake(Exception):
    """A FIFO task's transient failure (retried)."""


class Crash(Exception):
    """The FIFO worker's invocation dying (Lambda fails the whole batch)."""


class Window(Extension):
    """Defers every delivery of a held FIFO task, so that its receives run out on its queue."""

    name = "fifo-window"

    def __init__(self) -> None:
        self.held: set[str] = set()

    def before_claim(self, envelope: Envelope, task: Task[..., Any]) -> Admission:
        if envelope.task == TASK_NAME and envelope.id in self.held:
            return Admission(defer=HOLD_SECONDS, reason="held by the fault suite")
        return ADMIT


class FifoWorkload:
    """The FIFO part of one suite run (see the module)."""

    def __init__(self, seed: int, n: int) -> None:
        self.seed = seed
        self.queue = QUEUE
        self.window = Window()
        self.rng = random.Random(f"{seed}/fifo")
        count = max(MIN_TASKS, n * PER_HUNDRED // 100)
        fates = ["ok"] * count
        for i in range(count):
            draw = self.rng.random()
            fates[i] = "held" if draw < HELD_RATE else "hopeless" if draw < HELD_RATE + HOPELESS_RATE else "ok"
        fates[0] = "held"  # at least one, so that every run moves a FIFO message
        #: (group, place in the group, fate) of each task, in send order.
        self.planned = [(f"g{i // GROUP_SIZE}", i % GROUP_SIZE, fate) for i, fate in enumerate(fates)]
        self.sent: dict[str, tuple[str, int, str]] = {}  # task id -> (group, place, fate)
        self.completed: list[str] = []  # task ids, as their bodies returned
        self.counts: Counter[str] = Counter()  # faults injected
        self.sent_counts: Counter[str] = Counter()
        self.task: Any = None
        self._waves = 0
        self._installed = False

    @classmethod
    def with_app(
        cls, seed: int, n: int, name: str, queues: tuple[Queue, ...], **options: Any
    ) -> tuple[FifoWorkload, Squall]:
        """A workload and the suite's app: ``queues`` and :data:`QUEUE`, the workload's extension and task kind."""
        workload = cls(seed, n)
        app = Squall(name, queues=(*queues, QUEUE), extensions=[workload.window], **options)
        workload.declare(app)
        return workload, app

    def declare(self, app: Squall) -> None:
        """Declare the FIFO task kind on ``app`` (whose queues include :data:`QUEUE`)."""

        @app.task(name=TASK_NAME, queue=QUEUE.name, bind=True, autoretry_for=(Flake,), max_retries=3)
        def fifo(task: TaskContext, group: str, place: int, fate: str) -> str:
            attempt = task.request.attempt
            draw = random.Random(f"{self.seed}/fifo/{task.request.id}/{attempt}").random()
            if fate == "hopeless" or draw < FLAKE_RATE:
                raise Flake(f"{group}/{place}: attempt {attempt} failed")
            self.completed.append(task.request.id)
            return f"{group}/{place}"

        self.task = fifo

    def install(self, rt: Runtime) -> None:
        """Give the FIFO queue's event source this workload's faults in place of the suite's: its worker faults
        send copies without a message group, which a FIFO queue refuses, and its Lambda throttles draw from the
        rest of the workload's stream, which the FIFO queue's polls would shift."""
        rng = random.Random(f"{self.seed}/fifo/throttles")
        for mapping in rt.mappings:
            if mapping.resource.name == QUEUE.name:
                mapping.concurrency = 1
                mapping.handler = self._faulty(make_handler(rt.app))
                vars(mapping).pop("poll", None)  # the class's own poll again
                mapping.poll = self._throttled(mapping, rng)  # type: ignore[method-assign]

    def _throttled(self, mapping: EventSourceMapping, rng: random.Random) -> Callable[[], int]:
        inner = mapping.poll

        def poll() -> int:
            if rng.random() < THROTTLE_RATE:
                mapping.throttle()
                self.counts["FIFO batches throttled by Lambda"] += 1
            return inner()

        return poll

    def _faulty(self, inner: Any) -> Any:
        rng = random.Random(f"{self.seed}/fifo/crashes")

        def handler(event: dict[str, Any], context: Any) -> Any:
            draw = rng.random()
            records = event["Records"]
            if draw < CRASH_RATE:
                self.counts["FIFO invocations crashed before any record"] += 1
                raise Crash("the FIFO worker died before its first record")
            if draw < CRASH_RATE + PARTIAL_RATE and len(records) > 1:
                k = rng.randrange(1, len(records))
                self.counts["FIFO invocations crashed after k records"] += 1
                inner({**event, "Records": records[:k]}, context)
                raise Crash(f"the FIFO worker died after {k} of {len(records)} records")
            return inner(event, context)

        return handler

    def enqueue(self, rt: Runtime, waves: int) -> None:
        """Send this wave's share of the FIFO groups, in order (outside the producer's faults: a resend after an
        ambiguous failure would be a new task, out of its group's order); the first wave installs the faults."""
        if not self._installed:
            self.install(rt)
            self._installed = True
        self._waves += 1
        share = -(-len(self.planned) // max(1, waves))
        start = (self._waves - 1) * share
        for i, (group, place, fate) in enumerate(self.planned[start : start + share], start):
            # Its own task id, as the suite's tasks have: a run repeats exactly with its seed.
            result = self.task.apply_async(args=(group, place, fate), message_group_id=group, task_id=f"f{i:05d}")
            self.sent[result.id] = (group, place, fate)
            if fate == "held":
                self.window.held.add(result.id)
            self.sent_counts[f"FIFO tasks sent ({fate})"] += 1

    def check(self, rt: Runtime, violations: dict[str, list[str]], report: Any) -> None:
        """Add the FIFO invariants' breaches to ``violations`` and the FIFO outcomes to ``report``."""
        records = {task_id: rt.app.store.get(task_id) for task_id in self.sent}
        states = {task_id: (r.state if r else None) for task_id, r in records.items()}

        def check(ok: bool, what: str, sample: Any = ()) -> None:
            if not ok:
                violations.setdefault(what, []).extend(sorted(sample) if sample else ["(see the count)"])

        unfinished = {i for i, s in states.items() if s not in (State.SUCCESS, State.DEAD)}
        check(len(self.sent) == len(self.planned), "FIFO tasks not all sent")
        check(not unfinished, "FIFO task(s) not final (lost, or left PENDING, STARTED or RETRY)", unfinished)
        dead = {i for i, s in states.items() if s is State.DEAD}
        letters = rt.dead_letters(QUEUE.name)
        lettered = [m.attributes.get(TASK_ID_ATTRIBUTE, "") for m in letters]
        check(
            sorted(lettered) == sorted(dead), "FIFO DLQ contents differ from the DEAD FIFO tasks", set(lettered) ^ dead
        )
        reasonless = [m.message_id for m in letters if REASON_ATTRIBUTE not in m.attributes]
        check(not reasonless, "FIFO DLQ message(s) without Squall's reason", reasonless)
        held = {i for i, (_, _, fate) in self.sent.items() if fate == "held"}
        moved = {
            i for i in dead if (r := records[i]) is not None and r.error is not None and r.error.type == MOVED_ERROR
        }
        ran = held & {i for i, s in states.items() if s is State.SUCCESS}
        check(not ran, "a held FIFO task ran", ran)
        check(held <= moved, "held FIFO task(s) not DEAD as moved by the redrive policy", held - moved)
        assert rt.topology.fifo_intake is not None
        on_intake = motoshim.message_count(rt.settings.region, rt.topology.fifo_intake.name)
        check(on_intake == 0, f"{on_intake} message(s) left on the FIFO intake queue")
        # Per group, the successes in the order their bodies first returned: their places must increase.
        order: dict[str, list[int]] = defaultdict(list)
        for task_id in dict.fromkeys(self.completed):
            group, place, _ = self.sent[task_id]
            if states.get(task_id) is State.SUCCESS:
                order[group].append(place)
        unordered = [f"{g}: {places}" for g, places in order.items() if places != sorted(places)]
        check(not unordered, "FIFO successes ran out of send order in their group", unordered)
        report.faults.update(self.counts)
        report.workload.update(self.sent_counts)
        outcomes = Counter("FIFO tasks: SUCCESS" if s is State.SUCCESS else "FIFO tasks: DEAD" for s in states.values())
        report.outcomes.update(
            {
                "FIFO tasks": len(self.sent),
                **outcomes,
                "FIFO tasks: DEAD, moved by the redrive policy and reconciled": len(moved),
                "FIFO groups checked for order": len(order),
            }
        )
