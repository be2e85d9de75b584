"""Large arguments and results travel through the payload bucket, transparently, on every path."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from squall import Squall, State, local
from squall.errors import MessageTooLarge
from squall.local import Runtime
from squall.offload import reference
from squall.ops import dlq
from squall.wire import signing as sig

MIB = 1024 * 1024
RING = sig.Keyring("k1", {"k1": bytes(range(32))})


def big(n_bytes: int, seed: str = "x") -> str:
    """An ASCII text of ``n_bytes`` characters that no compression makes small."""
    block = hashlib.sha256(seed.encode()).hexdigest()
    return (block * (n_bytes // len(block) + 1))[:n_bytes]


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    seen: dict[str, int] = {}
    flaky = {"fixed": False}

    @app.task(name="measure")
    def measure(text: str, *, tag: str = "") -> int:
        seen[tag] = len(text)
        return len(text)

    @app.task(name="report")
    def report(n_bytes: int) -> str:
        return big(n_bytes, "result")

    @app.task(name="fragile", max_retries=0)
    def fragile(text: str) -> int:
        if not flaky["fixed"]:
            raise ValueError("not fixed yet")
        return len(text)

    return SimpleNamespace(measure=measure, report=report, fragile=fragile, seen=seen, flaky=flaky)


class S3Calls:
    """Every request the app's S3 client makes, by operation name."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def record(self, model: Any, **_: Any) -> None:
        self.made.append(model.name)


@pytest.fixture
def s3_calls(app: Squall, rt: Runtime) -> S3Calls:
    calls = S3Calls()
    app.client("s3").meta.events.register("before-call.s3", calls.record)
    return calls


def objects(rt: Runtime) -> list[str]:
    listing = rt.app.client("s3").list_objects_v2(Bucket=rt.settings.payload_bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


def test_a_five_mib_argument_round_trips_through_the_bucket(
    rt: Runtime, tasks: SimpleNamespace, s3_calls: S3Calls
) -> None:
    # Given an argument five times SQS's message limit
    result = tasks.measure.delay(big(5 * MIB), tag="five")

    rt.drain()

    # Then the task ran with all of it, and one object holds it under the task's id and its hash
    assert result.state is State.SUCCESS
    assert tasks.seen["five"] == 5 * MIB
    (key,) = objects(rt)
    assert key.startswith(f"args/{result.id}/")
    assert len(key.rsplit("/", 1)[1]) == 64
    assert s3_calls.made.count("PutObject") == 1
    assert s3_calls.made.count("GetObject") == 1


def test_a_two_mib_result_round_trips_through_the_bucket(rt: Runtime, tasks: SimpleNamespace) -> None:
    result = tasks.report.delay(2 * MIB)

    rt.drain()

    assert result.state is State.SUCCESS
    assert result.get() == big(2 * MIB, "result")
    assert any(key.startswith(f"results/{result.id}/") for key in objects(rt))
    stored = rt.app.store.get(result.id)
    assert stored is not None
    assert stored.result_json is not None
    assert len(stored.result_json) < 1024


def test_a_large_argument_round_trips_through_a_three_day_delay(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given a 5 MiB argument due in three days: the Scheduler carries its envelope, 256 KB at most
    result = tasks.measure.apply_async((big(5 * MIB),), {"tag": "later"}, countdown=3 * 86400)
    assert result.state is State.PENDING
    assert rt.queued() == 0

    # When the clock moves past the delay
    rt.drain()

    # Then it ran with all of it
    assert result.state is State.SUCCESS
    assert tasks.seen["later"] == 5 * MIB


def test_an_argument_of_three_hundred_kib_is_offloaded_only_on_the_scheduler_path(
    rt: Runtime, tasks: SimpleNamespace, s3_calls: S3Calls
) -> None:
    tasks.measure.delay(big(300 * 1024), tag="now")
    assert s3_calls.made == []

    tasks.measure.apply_async((big(300 * 1024),), {"tag": "later"}, countdown=3600)
    rt.drain()

    assert s3_calls.made.count("PutObject") == 1
    assert tasks.seen == {"now": 300 * 1024, "later": 300 * 1024}


def test_a_redriven_task_still_finds_its_offloaded_argument(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given a task with a 5 MiB argument that went DEAD
    result = tasks.fragile.delay(big(5 * MIB))
    rt.drain()
    assert result.state is State.DEAD

    # When it is fixed and redriven from the DLQ
    tasks.flaky["fixed"] = True
    report = dlq.redrive(rt.app)
    rt.drain()

    # Then it runs with its argument
    assert [letter.task_id for letter in report.moved] == [result.id]
    assert result.state is State.SUCCESS
    assert result.get() == 5 * MIB


def test_values_under_the_limits_make_no_s3_request(rt: Runtime, tasks: SimpleNamespace, s3_calls: S3Calls) -> None:
    small = tasks.measure.delay(big(reference.SQS_INLINE_MAX_BYTES - 4096), tag="near")
    rt.drain()
    result = tasks.report.delay(300 * 1024)
    rt.drain()

    assert small.state is State.SUCCESS
    assert result.get() == big(300 * 1024, "result")
    assert s3_calls.made == []
    assert objects(rt) == []


def test_arguments_past_the_offload_cap_are_refused_with_the_limit_named(
    rt: Runtime, tasks: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert reference.MAX_OFFLOAD_BYTES == 100 * MIB
    # The cap is lowered for speed: the check is the same at 100 MiB.
    monkeypatch.setattr("squall.offload.arguments.MAX_OFFLOAD_BYTES", 2 * MIB)

    with pytest.raises(MessageTooLarge, match=r"over the S3 offload limit of 2,097,152 bytes"):
        tasks.measure.delay(big(3 * MIB))

    assert rt.queued() == 0
    assert objects(rt) == []


@pytest.fixture
def signed() -> Iterator[tuple[Runtime, SimpleNamespace]]:
    app = Squall("offload-signed", signing_key=RING)
    seen: dict[str, int] = {}

    @app.task(name="measure")
    def measure(text: str) -> str:
        seen["n"] = len(text)
        return text

    with local.run(app) as runtime:
        yield runtime, SimpleNamespace(measure=measure, seen=seen)


def test_with_signing_on_an_offloaded_argument_and_result_still_verify(
    signed: tuple[Runtime, SimpleNamespace],
) -> None:
    rt, tasks = signed

    result = tasks.measure.delay(big(5 * MIB))
    rt.drain()

    assert result.state is State.SUCCESS
    assert tasks.seen["n"] == 5 * MIB
    assert result.get() == big(5 * MIB)
