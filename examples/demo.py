"""Squall's demo: the example shop's tasks on the local runtime (moto in process, a fake clock).

Run with ``./run demo``. A batch succeeds, a report shows progress, a flaky sync retries with backoff and
then succeeds, a broken import exhausts its retries into the dead-letter queue, a declined card is not
retried at all, a charge waits out a 45-second delay, and a chord charges three orders in parallel, then
settles them once (docs/workflows.md). Each task's path through its states is printed with the (fake) time
of every change, then a summary of what it cost in AWS requests.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from typing import Any, cast

from examples.shop.tasks import app, build_report, charge, import_feed, sync_inventory
from squall import AsyncResult, GroupResult, State, chord, local


@app.task
def settle(receipts: list[dict[str, Any]]) -> str:
    """The demo's chord body: every charge's receipt, in order, once all of them are in."""
    return f"{len(receipts)} orders settled, {sum(receipt['charged'] for receipt in receipts)} EUR"


def count_requests(client: Any, counter: Counter[str]) -> None:
    """Count every AWS request a client makes, by operation."""
    client.meta.events.register("before-call.*.*", lambda model, **_: counter.update([model.name]))


def format_path(changes: list[tuple[float, State]]) -> str:
    """'t=0s PENDING > STARTED > SUCCESS', one group per instant of the clock."""
    groups: list[tuple[float, list[str]]] = [(0.0, [State.PENDING])]
    for at, state in changes:
        if at - groups[-1][0] > 0.0005:
            groups.append((at, []))
        groups[-1][1].append(state)
    return " | ".join(f"t={at:.0f}s {' > '.join(states)}" for at, states in groups)


def main() -> None:
    started = time.perf_counter()
    paths: dict[str, list[tuple[float, State]]] = defaultdict(list)
    requests: Counter[str] = Counter()
    with local.run(app) as rt:
        t0 = rt.clock.now()
        rt.on_transition(lambda task_id, state, at: paths[task_id].append((at - t0, state)))
        count_requests(app.sqs, requests)
        count_requests(app.dynamodb, requests)

        labelled: list[tuple[str, AsyncResult[Any]]] = []
        batch = app.send_batch([charge.s(f"order-{n}", 10 * n) for n in range(1, 11)])
        labelled += [("charge (batch of 10)", r) for r in batch[:1]]
        labelled.append(("build_report, with progress", build_report.delay("2026-10")))
        labelled.append(("sync_inventory, flaky", sync_inventory.delay("sku-42", fail_times=2)))
        labelled.append(("import_feed, always broken", import_feed.delay("https://supplier.example/feed.csv")))
        labelled.append(("charge, card declined", charge.delay("order-0", 0)))
        labelled.append(("charge, delayed 45 s", charge.apply_async(("order-99", 990), countdown=45)))
        # A chord's handle is its body's AsyncResult; its .parent is the members' GroupResult.
        members = [charge.s(f"order-{n}", n) for n in (101, 102, 103)]
        settled = cast("AsyncResult[Any]", chord(members, settle.s()).delay())
        labelled.append(("settle, chord of 3 charges", settled))

        handled = rt.drain()
        elapsed = rt.clock.now() - t0

        print("Squall demo: the shop app on the local runtime (moto in process, fake clock)\n")
        for label, result in labelled:
            print(f"{label:<30} {format_path(paths[result.id])}")
            record = result.record
            if result.state is State.SUCCESS:
                print(f"{'':<30} result: {result.get(timeout=0)!r}")
            if record is not None and record.progress is not None:
                print(f"{'':<30} last progress: {record.progress.percent:.0f}% {record.progress.message}")
            if result.state is State.DEAD and record is not None:
                print(f"{'':<30} reason: {record.reason}")
        states = Counter(r.state for r in batch)
        print(f"\nall {len(batch)} charges of the batch: {', '.join(f'{n} {s}' for s, n in states.items())}")
        header = Counter(cast("GroupResult", settled.parent).states())
        print(f"all 3 charges of the chord: {', '.join(f'{n} {s}' for s, n in header.items())}, then settle once")
        dead = rt.dead_letters()
        print(f"dead-letter queue: {len(dead)} message(s), each with its reason attached:")
        for message in dead:
            print(f"  - {message.attributes.get('squall.task_id')}: {message.attributes.get('squall.reason')}")

        tasks = len(batch) + len(labelled) - 1 + 3  # the chord's three charges are not labelled
        print(
            f"\n{tasks} tasks, {handled} deliveries, {len(rt.invocations)} worker invocations, "
            f"{elapsed:.0f} s of fake time in {time.perf_counter() - started:.1f} s of real time"
        )
        print("AWS requests:", ", ".join(f"{op} {n}" for op, n in sorted(requests.items())))
        if rt.queued():
            raise SystemExit(f"{rt.queued()} message(s) left on the queues: every one should be done or dead")


if __name__ == "__main__":
    main()
