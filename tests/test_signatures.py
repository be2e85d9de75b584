"""Signatures are data: a task name, arguments and per-call options that travel and are sent later."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import uuid
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest

import squall
from squall import InvalidArguments, Squall, State, TaskNotRegistered
from squall.errors import ConfigurationError, DecodeError, EncodeError
from squall.local import Runtime
from squall.tasks.signature import Signature, documents_problem
from squall.wire import codec
from squall.wire.envelope import OPTIONS, Envelope

SCHEMA = json.loads((Path(__file__).resolve().parent.parent / "docs" / "envelope.schema.json").read_text())


@pytest.fixture
def tasks(app: Squall) -> SimpleNamespace:
    @app.task(name="shop.charge", max_retries=5, retry_backoff=False)
    def charge(order_id: str, amount: int, currency: str = "EUR") -> str:
        return f"{order_id}:{amount}{currency}"

    @app.task(name="shop.stamp")
    def stamp(when: dt.date, amount: Decimal, blob: bytes, ref: uuid.UUID) -> str:
        return f"{when.isoformat()} {amount} {blob!r} {ref}"

    @app.task(name="shop.flaky", max_retries=5, retry_backoff=False)
    def flaky() -> None:
        raise ConnectionError("busy")

    return SimpleNamespace(charge=charge, stamp=stamp, flaky=flaky)


# --- building ----------------------------------------------------------------------------------------------


def test_s_builds_a_signature_of_the_task_name_and_arguments(tasks: SimpleNamespace) -> None:
    signature = tasks.charge.s("o-1", 100, currency="USD")

    assert signature == Signature("shop.charge", ("o-1", 100), {"currency": "USD"})
    assert signature.task is tasks.charge
    assert signature.options == {}


def test_s_may_be_partial_and_is_checked_when_sent_while_si_checks_at_once(tasks: SimpleNamespace) -> None:
    partial = tasks.charge.s("o-1")  # complete in a chain, where it is given its parent's result first
    with pytest.raises(InvalidArguments, match="missing a required argument: 'amount'"):
        partial.delay()
    with pytest.raises(InvalidArguments, match="missing a required argument: 'amount'"):
        tasks.charge.si("o-1")


def test_the_public_signature_is_the_signature_module_s() -> None:
    assert squall.Signature is Signature
    assert "Signature" in squall.__all__


def test_set_adds_per_call_options_and_the_later_delay_wins(tasks: SimpleNamespace) -> None:
    # Given
    base = tasks.charge.s("o-1", 100)
    when = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

    # When
    later = base.set(countdown=30, queue="default").set(task_id="order-1", max_retries=0)
    moved = later.set(eta=when)

    # Then
    assert later.options == {"countdown": 30, "queue": "default", "task_id": "order-1", "max_retries": 0}
    assert moved.options == {"eta": when, "queue": "default", "task_id": "order-1", "max_retries": 0}
    assert base.options == {}


@pytest.mark.parametrize(
    ("options", "words"),
    [
        pytest.param({"countdown": -1}, "option 'countdown' must be a finite number", id="negative-countdown"),
        pytest.param({"countdown": float("nan")}, "option 'countdown'", id="nan-countdown"),
        pytest.param({"countdown": True}, "option 'countdown'", id="bool-countdown"),
        pytest.param({"eta": dt.datetime(2030, 1, 1)}, "option 'eta' must be an aware datetime", id="naive-eta"),
        pytest.param({"task_id": "has spaces"}, "option 'task_id' must be a task id", id="task-id"),
        pytest.param({"queue": ""}, "option 'queue' must be a queue name", id="queue"),
        pytest.param({"max_retries": 901}, "option 'max_retries' must be an integer from 0 to 900", id="budget"),
        pytest.param({"routing_key": 1}, "option 'routing_key' is not one this SDK knows", id="unknown"),
    ],
)
def test_unusable_options_are_refused_naming_them(tasks: SimpleNamespace, options: dict[str, Any], words: str) -> None:
    with pytest.raises(InvalidArguments, match=words):
        tasks.charge.s("o-1", 100).set(**options)


def test_a_signature_names_a_task_or_is_refused() -> None:
    with pytest.raises(InvalidArguments, match="is not a task name"):
        Signature("os.system('rm')")


# --- as data -----------------------------------------------------------------------------------------------


def test_signature_round_trips_through_its_document(app: Squall, tasks: SimpleNamespace) -> None:
    # Given a signature with codec values, a keyword named like the tag key, and options
    signature = tasks.stamp.s(dt.date(2026, 1, 2), Decimal("9.99"), b"\x00\xff", uuid.UUID(int=7)).set(
        eta=dt.datetime(2030, 1, 1, 9, tzinfo=dt.UTC), task_id="stamp-1"
    )
    odd = Signature("shop.charge", ("o-1", 1), {codec.TAG: "x"}, app=app)

    # When each goes to a document and back, directly and through JSON
    for original in (signature, odd):
        direct = Signature.from_dict(app, original.to_dict())
        through_json = Signature.from_json(app, original.to_json())

        # Then it is the same call, bound to the app
        assert direct == original
        assert through_json == original
        assert through_json.app is app


def test_document_is_plain_data_whose_json_is_codec_json(tasks: SimpleNamespace) -> None:
    signature = tasks.charge.s("o-1", 100).set(countdown=30)

    assert signature.to_dict() == {
        "task": "shop.charge",
        "args": ["o-1", 100],
        "kwargs": {},
        "options": {"countdown": 30},
    }
    assert json.loads(signature.to_json()) == signature.to_dict()
    assert "options" not in tasks.charge.s("o-1", 100).to_dict()


def test_document_json_is_valid_against_the_published_schema(tasks: SimpleNamespace) -> None:
    # Given the schema's signature definition
    definition = {"$schema": SCHEMA["$schema"], "$defs": SCHEMA["$defs"], "$ref": "#/$defs/signature"}
    validator = jsonschema.Draft202012Validator(definition)
    signatures = [
        tasks.charge.s("o-1", 100),
        tasks.stamp.s(dt.date(2026, 1, 2), Decimal("1"), b"", uuid.UUID(int=1)).set(
            eta=dt.datetime(2030, 1, 1, tzinfo=dt.UTC), queue="default", task_id="s-1", max_retries=2
        ),
        Signature("shop.charge", ("o",), {codec.TAG: 1, "amount": 2}).set(countdown=1.5),
    ]

    # Then what each writes is valid, and a document with an unknown key is not
    for signature in signatures:
        assert list(validator.iter_errors(json.loads(signature.to_json()))) == []
    assert list(validator.iter_errors({"task": "shop.charge", "routing_key": 1})) != []
    assert list(validator.iter_errors({"task": "shop.charge", "options": {"countdown": 1, "eta": {}}})) != []


def test_a_document_needs_no_registered_task_until_the_task_is_needed(app: Squall) -> None:
    # Given a document naming a task this app does not have
    signature = Signature.from_dict(app, {"task": "billing.refund", "args": ["r-1"]})

    # Then it reads, and says what is missing only when the task is looked up
    assert signature.name == "billing.refund"
    with pytest.raises(TaskNotRegistered, match=r"billing\.refund"):
        _ = signature.task


def test_a_signature_without_an_app_cannot_be_sent() -> None:
    with pytest.raises(ConfigurationError, match="belongs to no app"):
        Signature("shop.charge", ("o-1", 1)).delay()


def test_to_json_names_an_argument_the_codec_cannot_carry(app: Squall) -> None:
    with pytest.raises(EncodeError, match="cannot be carried as JSON"):
        Signature("shop.charge", ({1, 2},), app=app).to_json()


@pytest.mark.parametrize(
    ("doc", "words"),
    [
        pytest.param(["shop.charge"], "a signature is an object", id="not-an-object"),
        pytest.param({"args": []}, "field 'task' None is not a task name", id="no-task"),
        pytest.param({"task": "os.system('x')"}, "is not a task name", id="code-as-a-name"),
        pytest.param({"task": "t", "args": "o-1"}, "field 'args' must be a list", id="args"),
        pytest.param({"task": "t", "kwargs": [1]}, "field 'kwargs' must be an object", id="kwargs"),
        pytest.param({"task": "t", "options": [1]}, "field 'options' must be an object", id="options"),
        pytest.param({"task": "t", "options": {"routing_key": 9}}, "is not one", id="unknown-option"),
        pytest.param({"task": "t", "options": {"countdown": -5}}, "option 'countdown'", id="bad-option"),
        pytest.param({"task": "t", "options": {"countdown": 1, "eta": dt.datetime.now(dt.UTC)}}, "both", id="both"),
        pytest.param({"task": "t", "link": []}, "key 'link' is not one of a signature", id="unknown-key"),
    ],
)
def test_unusable_document_is_refused_with_decode_error_naming_the_problem(app: Squall, doc: Any, words: str) -> None:
    with pytest.raises(DecodeError, match=words) as caught:
        Signature.from_dict(app, doc)

    assert caught.value.reason.startswith("signature: ")


def test_json_that_is_not_a_signature_is_refused_with_decode_error(app: Squall) -> None:
    with pytest.raises(DecodeError, match="signature is not valid JSON"):
        Signature.from_json(app, '{"task": "t", "args": [{"__squall__": "pickle", "v": "gASV"}]}')


def test_null_options_read_as_not_given(app: Squall) -> None:
    signature = Signature.from_dict(app, {"task": "t", "options": {"countdown": None, "queue": "default"}})

    assert signature.options == {"queue": "default"}


# --- sending -----------------------------------------------------------------------------------------------


def test_a_signature_from_a_document_is_sent_and_runs(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    # Given a call that travelled as JSON, read back by an app with the task
    text = tasks.stamp.s(dt.date(2026, 1, 2), Decimal("9.99"), b"x", uuid.UUID(int=1)).to_json()
    signature = Signature.from_json(app, text)

    # When it is sent
    result = signature.delay()
    rt.drain()

    # Then it ran with its codec values intact
    assert result.get(timeout=0) == f"2026-01-02 9.99 b'x' {uuid.UUID(int=1)}"


def test_delay_sends_with_the_signatures_options(rt: Runtime, tasks: SimpleNamespace) -> None:
    # Given a signature due in 30 s, with its own id and no retries
    signature = tasks.flaky.s().set(countdown=30, task_id="flaky-1", max_retries=0)
    sent_at = rt.clock.now()

    # When it is sent and the worker runs
    result = signature.delay()
    assert rt.poll() == 0  # not yet due
    rt.drain()

    # Then it ran once, after 30 s, under its id, and is DEAD without a retry
    assert result.id == "flaky-1"
    record = result.record
    assert record is not None
    assert record.state is State.DEAD
    assert record.attempt == 1
    assert record.started_at is not None
    assert record.started_at >= sent_at + 30


def test_app_send_and_send_batch_take_signatures(rt: Runtime, app: Squall, tasks: SimpleNamespace) -> None:
    one = app.send(tasks.charge.s("o-1", 1))
    batch = app.send_batch([tasks.charge.s(f"o-{i}", i) for i in range(3)])

    rt.drain()

    assert one.get(timeout=0) == "o-1:1EUR"
    assert [r.get(timeout=0) for r in batch] == ["o-0:0EUR", "o-1:1EUR", "o-2:2EUR"]


def test_signatures_of_one_call_are_equal_whatever_their_app(app: Squall, tasks: SimpleNamespace) -> None:
    other = Squall("elsewhere")

    assert tasks.charge.s("o-1", 1) == Signature.from_dict(other, {"task": "shop.charge", "args": ["o-1", 1]})
    assert dataclasses.replace(tasks.charge.s("o-1", 1), app=other).app is other


# --- inside an envelope --------------------------------------------------------------------------------------


@pytest.fixture
def link_option() -> None:
    """The callback option, as squall.tasks.canvas declares it: a required list of workflow steps."""
    assert OPTIONS["link"].required
    return


def test_signatures_ride_in_an_envelope_option_and_come_back(
    app: Squall, tasks: SimpleNamespace, link_option: None
) -> None:
    # Given a callback carried as an option
    callback = tasks.stamp.s(dt.date(2026, 1, 2), Decimal("1.5"), b"\x01", uuid.UUID(int=2)).set(
        countdown=5, task_id="cb-1"
    )
    envelope = Envelope(id="t-1", task="shop.charge", args=("o-1", 1), options={"link": [callback.to_dict()]})

    # When the envelope travels
    written = envelope.encode()
    decoded = Envelope.decode(written)

    # Then the option is required, and the callback reads back as the same call
    assert json.loads(written)["required"] == ["link"]
    (doc,) = decoded.options["link"]
    assert Signature.from_dict(app, doc) == callback


def test_an_envelope_option_of_broken_signatures_is_refused_naming_the_item(link_option: None) -> None:
    body = json.dumps(
        {
            "v": 2,
            "id": "t-1",
            "task": "shop.charge",
            "options": {"link": [{"task": "a", "options": {"task_id": "a-1"}}, {"task": 5}]},
        }
    )

    with pytest.raises(DecodeError, match="option 'link' step 1: field 'task' 5 is not a task name"):
        Envelope.decode(body)


def test_documents_problem_judges_a_list_of_signatures(tasks: SimpleNamespace) -> None:
    assert documents_problem([tasks.charge.s("o-1", 1).to_dict()]) is None
    assert documents_problem(()) is None
    assert documents_problem({"task": "shop.charge"}) == "must be a list of signatures, got dict"


def test_signature_check_refuses_arguments_nested_past_the_codecs_limit() -> None:
    deep: Any = 0
    for _ in range(codec.MAX_DEPTH + 1):
        deep = [deep]

    assert "nested too deeply" in (documents_problem([{"task": "t", "args": [deep]}]) or "")


def test_signature_check_is_total(tasks: SimpleNamespace) -> None:
    weird: list[Callable[[], Any]] = [lambda: None, lambda: 7, lambda: {"task": None, "kwargs": {1: 2}}]

    for make in weird:
        assert isinstance(documents_problem([make()]), str)
