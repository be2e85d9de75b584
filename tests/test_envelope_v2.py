"""Envelope v2: typed, extensible options; v1 bodies read as before; the published schema and its vectors agree."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest

from squall import Squall, State, limits
from squall.errors import DecodeError, EncodeError
from squall.limits import MAX_RETRIES_CEILING, MAX_TASK_ID_CHARS
from squall.local import Runtime
from squall.scheduler import scheduling
from squall.wire import codec
from squall.wire.envelope import OPTIONS, V1, V2, VERSIONS, Envelope, Option, declare_option
from squall.worker.deadletters import REASON_ATTRIBUTE, TASK_ID_ATTRIBUTE

ROOT = Path(__file__).resolve().parent.parent
VECTORS = sorted((ROOT / "tests" / "vectors").glob("*.json"))
SCHEMA = json.loads((ROOT / "docs" / "envelope.schema.json").read_text(encoding="utf-8"))


def vector(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def named(kind: str) -> list[Any]:
    """The vectors that decode (``kind="decoded"``), are refused (``"error"``) or were recorded (``"recorded"``)."""
    return [pytest.param(vector(path), id=path.stem) for path in VECTORS if kind in vector(path)]


def canonical(envelope: Envelope) -> dict[str, Any]:
    """An envelope as the vectors write its decoding: every field, values in their wire form (tags kept)."""
    doc: dict[str, Any] = {
        "id": envelope.id,
        "task": envelope.task,
        "args": codec.to_json_ready(list(envelope.args), "args"),
        "kwargs": codec.to_json_ready(envelope.kwargs, "kwargs"),
        "queue": envelope.queue,
        "created": envelope.created,
        "eta": envelope.eta,
        "redrives": envelope.redrives,
        "max_retries": envelope.max_retries,
    }
    if envelope.options:
        doc["options"] = codec.to_json_ready(envelope.options, "options")
    marked = {name for name in envelope.options if name in OPTIONS and OPTIONS[name].required}
    if envelope.required | marked:
        doc["required"] = sorted(envelope.required | marked)
    return doc


def body(**fields: Any) -> str:
    doc: dict[str, Any] = {"v": 2, "id": "t-1", "task": "v2.charge", "args": ["o-1", 100], "created": 1.0}
    doc.update(fields)
    return json.dumps(doc)


@pytest.fixture
def declared() -> Iterator[Callable[..., Option]]:
    """Declare options for one test (as an extension would), forgetting them afterwards."""
    before = dict(OPTIONS)

    def declare(name: str, problem: Callable[[Any], str | None] = lambda _value: None, **kw: Any) -> Option:
        return declare_option(name, problem, **kw)

    yield declare
    OPTIONS.clear()
    OPTIONS.update(before)


# --- test vectors ----------------------------------------------------------------------------------------


def test_there_are_vectors_of_both_versions_and_of_refusals() -> None:
    names = [path.stem for path in VECTORS]

    assert any(name.startswith("v1-") for name in names)
    assert any(name.startswith("v2-") for name in names)
    assert any(name.startswith("refused-") for name in names)
    assert all(("decoded" in vector(path)) != ("error" in vector(path)) for path in VECTORS)


@pytest.mark.parametrize("case", named("decoded"))
def test_valid_vector_decodes_to_its_expected_envelope(case: dict[str, Any]) -> None:
    assert canonical(Envelope.decode(case["body"])) == case["decoded"]
    assert canonical(Envelope.decode(case["body"].encode("utf-8", "surrogatepass"))) == case["decoded"]


@pytest.mark.parametrize("case", named("error"))
def test_refused_vector_is_refused_with_its_reason(case: dict[str, Any]) -> None:
    with pytest.raises(DecodeError) as caught:
        Envelope.decode(case["body"])

    assert case["error"]["reason"] in caught.value.reason
    assert caught.value.task_id == case["error"]["task_id"]


@pytest.mark.parametrize("case", named("recorded"))
def test_recorded_v1_body_is_what_the_encoder_still_writes(case: dict[str, Any]) -> None:
    # Given a version-1 body recorded from the SDK before version 2 existed
    decoded = Envelope.decode(case["body"])

    # When the envelope it decodes to is written again (the worker's retry, a redrive)
    again = decoded.encode()

    # Then it is still version 1, and byte for byte the same (a Scheduler time is read as epoch seconds)
    assert json.loads(again)["v"] == V1
    if "template" not in case:
        assert again == case["body"]
    assert Envelope.decode(again) == decoded


def test_scheduler_template_is_still_the_recorded_one_and_its_firing_decodes(app: Squall) -> None:
    # Given the recorded template of a recurring schedule and its firing
    case = vector(ROOT / "tests" / "vectors" / "v1-scheduler-firing.json")

    @app.task(name="reports.nightly")
    def nightly(region: str) -> None:
        del region

    # When the same template is made today
    template = scheduling.envelope_template("p.nightly", nightly, ("eu-west-1",), {}, "default")

    # Then it is the same, and the Scheduler's substitution makes the recorded firing
    assert template == case["template"]
    fired = template.replace(scheduling.SCHEDULED_TIME, "2026-11-23T09:00:00Z")
    assert fired == case["body"]
    decoded = Envelope.decode(fired)
    assert decoded.id == "p.nightly@2026-11-23T09:00:00Z"
    assert decoded.created == dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC).timestamp()


# --- the schema ------------------------------------------------------------------------------------------

VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def schema_errors(text: str) -> list[str]:
    try:
        doc = json.loads(text)
    except ValueError:
        return ["not JSON"]
    return [error.message for error in VALIDATOR.iter_errors(doc)]


def test_schema_is_a_valid_draft_2020_12_schema() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("case", named("decoded"))
def test_valid_vector_is_valid_against_the_schema(case: dict[str, Any]) -> None:
    assert schema_errors(case["body"]) == []


@pytest.mark.parametrize("case", named("error"))
def test_refused_vector_is_judged_by_the_schema_as_the_vector_says(case: dict[str, Any]) -> None:
    # Some refusals are the decoder's alone (an option this worker does not know, a repeated key, 2.0)
    assert (schema_errors(case["body"]) == []) == (case["schema"] == "valid")


def test_schema_figures_are_the_sdks() -> None:
    defs = SCHEMA["$defs"]

    assert defs["taskId"]["maxLength"] == MAX_TASK_ID_CHARS
    assert defs["maxRetries"]["maximum"] == MAX_RETRIES_CEILING
    assert defs["epochSeconds"]["maximum"] == dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC).timestamp()
    assert tuple(defs["tagged"]["properties"][codec.TAG]["enum"]) == codec.TAGS
    assert SCHEMA["properties"]["v"]["enum"] == list(VERSIONS)
    assert set(OPTIONS) <= set(defs["options"]["properties"])
    most = limits.LAMBDA_MAX_TIMEOUT_SECONDS - limits.DEADLINE_MARGIN_SECONDS
    assert defs["options"]["properties"]["time_limit"]["maximum"] == most
    assert defs["options"]["properties"]["soft_time_limit"]["maximum"] == most


def test_bodies_the_sdk_writes_are_valid_against_the_schema() -> None:
    # Given envelopes of every shape the encoder writes, in both versions
    envelope = Envelope(
        id="t-1",
        task="shop.charge",
        args=(dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC), dt.date(2026, 1, 2), dt.time(1, 2, 3), b"\x00"),
        kwargs={"amount": Decimal("1E+2"), codec.TAG: {"v": 1}, "naive": dt.datetime(2026, 1, 2)},
        queue="reports",
        created=1_763_900_000.5,
        eta=1_763_900_900.0,
        redrives=3,
        max_retries=4,
    )
    carrying = dataclasses.replace(envelope, options={"trace_hint": "tenant-7"}, required=frozenset({"max_retries"}))

    # Then each body is valid against the schema
    for written in (envelope.encode(), envelope.encode(version=V2), carrying.encode()):
        assert schema_errors(written) == [], written


@pytest.mark.parametrize(
    "argument",
    [
        {codec.TAG: "date", "v": "2 January"},
        {codec.TAG: "bytes", "v": "abc"},
        {codec.TAG: "dict", "v": [["a"]]},
        {codec.TAG: "uuid", "v": "1", "extra": 2},
        {"nested": [{codec.TAG: "decimal", "v": "NaN"}]},
    ],
    ids=["date", "bytes", "dict", "extra-key", "nested-decimal"],
)
def test_schema_refuses_a_tagged_value_the_codec_refuses(argument: Any) -> None:
    text = body(args=[argument])

    assert schema_errors(text) != []
    with pytest.raises(DecodeError):
        Envelope.decode(text)


# --- version 2 and its options ---------------------------------------------------------------------------


def test_envelope_round_trips_through_a_version_2_body() -> None:
    # Given an envelope with every field and options (one unknown to this SDK), one of them marked required
    envelope = Envelope(
        id="order-7",
        task="shop.charge",
        args=("o-1", dt.date(2026, 1, 2)),
        kwargs={"amount": Decimal("9.99")},
        queue="reports",
        created=1_763_900_000.25,
        eta=1_763_900_900.0,
        redrives=2,
        max_retries=5,
        options={"trace_hint": "tenant-7", "expires": dt.datetime(2026, 1, 3, tzinfo=dt.UTC)},
        required=frozenset({"max_retries"}),
    )

    # When
    written = envelope.encode()

    # Then it is version 2, max_retries among the options, and it reads back the same
    doc = json.loads(written)
    assert doc["v"] == V2
    assert "max_retries" not in doc
    assert doc["options"]["max_retries"] == 5
    assert doc["required"] == ["max_retries"]
    assert Envelope.decode(written) == envelope


def test_version_1_is_written_while_no_option_needs_version_2() -> None:
    plain = Envelope(id="a", task="t", created=1.0, max_retries=3)

    assert json.loads(plain.encode())["v"] == V1
    assert json.loads(dataclasses.replace(plain, options={"trace_hint": "x"}).encode())["v"] == V2
    assert json.loads(dataclasses.replace(plain, options={"trace_hint": None}).encode())["v"] == V1


def test_v1_and_v2_bodies_of_one_call_decode_to_the_same_envelope() -> None:
    v1 = '{"v":1,"id":"t-1","task":"t","args":["o-1"],"kwargs":{},"queue":"default","created":1.0,"max_retries":2}'
    v2 = v1.replace('"v":1', '"v":2').replace('"max_retries":2', '"options":{"max_retries":2}')

    assert Envelope.decode(v1) == Envelope.decode(v2)
    assert Envelope.decode(v2).encode() == v1


def test_version_1_cannot_carry_options() -> None:
    envelope = Envelope(id="a", task="t", created=1.0, options={"trace_hint": "x"})

    with pytest.raises(EncodeError, match="version 1 carries no options"):
        envelope.encode(version=V1)


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        pytest.param({"options": {"Flow": 1}}, "option name 'Flow'", id="bad-name"),
        pytest.param({"options": {"max_retries": 1}}, "max_retries field", id="max-retries-as-an-option"),
        pytest.param({"required": frozenset({"trace_hint"})}, "'required' names option 'trace_hint'", id="not-given"),
        pytest.param({"max_retries": MAX_RETRIES_CEILING + 1}, "option 'max_retries' must be", id="bad-budget"),
    ],
)
def test_encode_refuses_options_decode_would_refuse(changes: dict[str, Any], words: str) -> None:
    envelope = dataclasses.replace(Envelope(id="a", task="t", created=1.0), **changes)

    with pytest.raises(EncodeError, match=words):
        envelope.encode(version=V2)


def test_unknown_optional_option_is_ignored_and_carried_along() -> None:
    # Given a version 2 body with an option this SDK does not know, not required
    decoded = Envelope.decode(body(options={"trace_hint": "tenant-7"}))

    # Then it decodes, and a re-encoding (a retry, a redrive) keeps the option
    assert decoded.task == "v2.charge"
    retried = dataclasses.replace(decoded, eta=60.0)
    assert json.loads(retried.encode())["options"] == {"trace_hint": "tenant-7"}


def test_unknown_required_option_is_refused_naming_it() -> None:
    with pytest.raises(DecodeError) as caught:
        Envelope.decode(body(options={"on_commit": [], "max_retries": 1}, required=["on_commit", "max_retries"]))

    assert caught.value.reason == "this worker does not understand required option 'on_commit'; upgrade the worker"
    assert caught.value.task_id == "t-1"


def test_declared_option_is_checked_and_understood_when_required(declared: Callable[..., Option]) -> None:
    # Given an extension that declares a required option of its own
    declared("trace_hint", lambda v: None if isinstance(v, str) else f"must be a str, got {v!r}", required=True)

    # When an envelope carries it
    written = Envelope(id="a", task="t", created=1.0, options={"trace_hint": "tenant-7"}).encode()

    # Then the encoder marks it required, and this worker understands it
    assert json.loads(written)["required"] == ["trace_hint"]
    assert Envelope.decode(written).options == {"trace_hint": "tenant-7"}
    with pytest.raises(DecodeError, match="option 'trace_hint' must be a str, got 7"):
        Envelope.decode(body(options={"trace_hint": 7}, required=["trace_hint"]))
    with pytest.raises(EncodeError, match="option 'trace_hint' must be a str"):
        Envelope(id="a", task="t", options={"trace_hint": 7}).encode()


def test_a_check_that_raises_refuses_the_value_instead_of_escaping(declared: Callable[..., Option]) -> None:
    declared("trace_hint", lambda v: str(1 / 0))

    with pytest.raises(DecodeError, match="option 'trace_hint' could not be checked"):
        Envelope.decode(body(options={"trace_hint": "x"}))


@pytest.mark.parametrize("name", ["", "Link", "1x", "a-b", "x" * 65, codec.TAG])
def test_option_names_are_lower_case_identifiers(declared: Callable[..., Option], name: str) -> None:
    with pytest.raises(ValueError, match="not usable"):
        declared(name)


def test_an_option_is_declared_once(declared: Callable[..., Option]) -> None:
    with pytest.raises(ValueError, match="declared already"):
        declared("max_retries")


def test_v2_schedule_template_decodes_once_the_scheduler_fills_it_in() -> None:
    # Given a version 2 envelope made a template as the schedule path makes one (id and created left open)
    envelope = Envelope(
        id=scheduling.firing_id("d.nightly", scheduling.SCHEDULED_TIME), task="t", options={"trace_hint": "x"}
    )
    doc = json.loads(envelope.encode())
    doc["created"] = scheduling.SCHEDULED_TIME
    template = json.dumps(doc)

    # When EventBridge Scheduler substitutes the scheduled time
    fired = Envelope.decode(template.replace(scheduling.SCHEDULED_TIME, "2026-11-23T09:00:00Z"))

    # Then
    assert fired.id == "d.nightly@2026-11-23T09:00:00Z"
    assert fired.created == dt.datetime(2026, 11, 23, 9, tzinfo=dt.UTC).timestamp()
    assert fired.options == {"trace_hint": "x"}


# --- through the worker ----------------------------------------------------------------------------------


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    ran: list[Any] = []

    @app.task(name="v2.charge")
    def charge(order_id: str, amount: int) -> int:
        ran.append((order_id, amount))
        return amount

    @app.task(name="v2.flaky", max_retries=5, retry_backoff=False)
    def flaky() -> None:
        ran.append("flaky")
        raise ConnectionError("busy")

    return SimpleNamespace(charge=charge, flaky=flaky, ran=ran)


def test_worker_dead_letters_a_message_with_a_required_option_it_does_not_understand(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Callable[..., str]
) -> None:
    # Given a version 2 message with an option this worker does not understand, and must not drop
    later = [{"task": "shop.notify", "args": ["o-1"], "kwargs": {}}]
    send_raw(body(id="linked-1", created=rt.clock.now(), options={"on_commit": later}, required=["on_commit"]))

    # When the worker receives it
    rt.drain()

    # Then the task never ran: it is DEAD, its message in the DLQ, both saying which option and what to do
    reason = "this worker does not understand required option 'on_commit'; upgrade the worker"
    assert tasks.ran == []
    record = rt.app.AsyncResult("linked-1").record
    assert record is not None
    assert record.state is State.DEAD
    assert record.reason is not None
    assert reason in record.reason
    (dead,) = rt.dead_letters()
    assert reason in dead.attributes[REASON_ATTRIBUTE]
    assert dead.attributes[TASK_ID_ATTRIBUTE] == "linked-1"


def test_worker_runs_a_version_2_message_ignoring_an_unknown_optional_option(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Callable[..., str]
) -> None:
    send_raw(body(id="hinted-1", created=rt.clock.now(), options={"trace_hint": "tenant-7"}))

    rt.drain()

    assert rt.app.AsyncResult("hinted-1").get(timeout=0) == 100
    assert tasks.ran == [("o-1", 100)]
    assert rt.dead_letters() == []


def test_worker_honours_the_max_retries_option_of_a_version_2_message(
    rt: Runtime, tasks: SimpleNamespace, send_raw: Callable[..., str]
) -> None:
    # Given a task allowed 5 retries, sent with a budget of 1 for this call
    send_raw(body(id="budget-1", task="v2.flaky", args=[], created=rt.clock.now(), options={"max_retries": 1}))

    # When it fails every time
    rt.drain()

    # Then it is DEAD after 2 attempts, not 6
    record = rt.app.AsyncResult("budget-1").record
    assert record is not None
    assert record.state is State.DEAD
    assert record.attempt == 2
    assert tasks.ran == ["flaky", "flaky"]


@pytest.mark.parametrize("case", named("recorded"))
def test_recorded_v1_body_on_a_queue_still_runs(rt: Runtime, send_raw: Callable[..., str], case: Any) -> None:
    # Given a version 1 body recorded before version 2, and a worker with a task of its name
    decoded = Envelope.decode(case["body"])
    seen: list[Any] = []
    rt.app.task(name=decoded.task)(lambda *args, **kwargs: seen.append((args, kwargs)))
    rt.clock.set(max(decoded.created, decoded.eta or 0.0))
    send_raw(case["body"])

    # When the worker receives it
    rt.drain()

    # Then it ran with its arguments
    assert rt.app.AsyncResult(decoded.id).state is State.SUCCESS
    assert seen == [(decoded.args, decoded.kwargs)]
