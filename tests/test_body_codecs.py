"""The body codec chain: extensions' codecs around the envelope JSON, signing outermost, on every path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest

from squall import SCHEDULED_TIME, Squall, State, local
from squall.errors import DecodeError, EncodeError, SignatureError
from squall.ops import dlq
from squall.scheduler.periodic import schedule_input
from squall.scheduler.scheduling import envelope_template
from squall.tasks.extensions import Extension
from squall.wire import signing as sig
from squall.wire.bodies import CodecChain, chain_for
from squall.wire.envelope import Envelope
from squall.worker.deadletters import REASON_ATTRIBUTE

RING = sig.Keyring("k1", {"k1": bytes(range(32))})
TIME = "2026-11-23T09:00:00Z"


class Wrap:
    """A reversible test codec: ``{"codec": <name>, "text": <the text>}``. JSON text, the placeholder kept."""

    def __init__(self, name: str = "wrap", log: list[str] | None = None) -> None:
        self.name = name
        self.log = [] if log is None else log

    def encode(self, text: str) -> str:
        self.log.append(f"{self.name}.encode")
        return json.dumps({"codec": self.name, "text": text}, ensure_ascii=False, separators=(",", ":"))

    def decode(self, body: str) -> str:
        self.log.append(f"{self.name}.decode")
        doc = json.loads(body)
        if not (isinstance(doc, dict) and doc.get("codec") == self.name and isinstance(doc.get("text"), str)):
            raise ValueError(f"not a body {self.name!r} wrote")
        return str(doc["text"])


class Reverse(Wrap):
    """Writes the text backwards: reversible, but it loses the Scheduler's placeholder."""

    def encode(self, text: str) -> str:
        return super().encode(text[::-1])

    def decode(self, body: str) -> str:
        return super().decode(body)[::-1]


class Failing(Wrap):
    """Cannot encode anything."""

    def encode(self, text: str) -> str:
        raise RuntimeError("the codec's store is down")


class NotAnObject(Wrap):
    """Writes text that is not a JSON object."""

    def encode(self, text: str) -> str:
        return "z:" + text


class Coding(Extension):
    """An extension whose only part is a body codec."""

    name = "coding"

    def __init__(self, codec: Wrap) -> None:
        self.body_codec = codec


def unwrap(body: str, name: str = "wrap") -> str:
    doc = json.loads(body)
    assert doc["codec"] == name
    return str(doc["text"])


def build(app: Squall) -> tuple[list[Any], Any, Any]:
    ran: list[Any] = []

    @app.task(name="codecs.pay")
    def pay(order: str, amount: int) -> int:
        ran.append((order, amount))
        return amount

    @app.task(name="codecs.refund", max_retries=0)
    def refund(order: str) -> None:
        ran.append((order, "refund"))
        raise ValueError(f"order {order} cannot be refunded")

    return ran, pay, refund


def schedule_template() -> str:
    """A recurring schedule's Input, holding the Scheduler's placeholder, before any body codec."""
    app = Squall("templates")

    @app.task(name="codecs.noop")
    def noop() -> None: ...

    return envelope_template("d.nightly", noop, (), {}, "default")


def record_sends(app: Squall) -> list[str]:
    """Every body the app's SQS client sends (SendMessage and SendMessageBatch), in order."""
    sent: list[str] = []
    events = app.sqs.meta.events
    events.register("provide-client-params.sqs.SendMessage", lambda params, **_: sent.append(params["MessageBody"]))
    events.register(
        "provide-client-params.sqs.SendMessageBatch",
        lambda params, **_: sent.extend(entry["MessageBody"] for entry in params["Entries"]),
    )
    return sent


@pytest.fixture
def wrapped() -> Iterator[SimpleNamespace]:
    """An app with the Wrap codec and its tasks, running on the local runtime."""
    app = Squall("wrapped", extensions=[Coding(Wrap())])
    ran, pay, refund = build(app)
    with local.run(app) as rt:
        yield SimpleNamespace(app=app, rt=rt, ran=ran, pay=pay, refund=refund)


# --- the round trip on every path --------------------------------------------------------------------------


def test_the_producer_sends_the_codecs_body_and_the_worker_runs_it(wrapped: SimpleNamespace) -> None:
    sent = record_sends(wrapped.app)

    result = wrapped.pay.delay("o-1", 100)
    wrapped.rt.drain()

    assert result.get(timeout=0) == 100
    assert wrapped.ran == [("o-1", 100)]
    (body,) = sent
    assert Envelope.decode(unwrap(body)).id == result.id


def test_a_retry_is_sent_again_through_the_codec() -> None:
    app = Squall("wrapped", extensions=[Coding(Wrap())])
    attempts: list[int] = []

    @app.task(name="codecs.flaky", max_retries=2, retry_backoff=False)
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("first try fails")
        return "done"

    with local.run(app) as rt:
        sent = record_sends(app)

        result = flaky.delay()
        rt.drain()

        assert result.get(timeout=0) == "done"
        assert result.record is not None
        assert result.record.attempt == 2
    first, retry = sent
    assert Envelope.decode(unwrap(retry)).id == Envelope.decode(unwrap(first)).id == result.id


def test_a_dynamic_schedule_is_encoded_once_keeps_the_placeholder_and_its_firings_run(
    wrapped: SimpleNamespace,
) -> None:
    app, rt, pay = wrapped.app, wrapped.rt, wrapped.pay

    # Given a dynamic schedule made by an app with a codec
    info = app.schedules.create("hourly", pay.s("o-9", 9), rate="1 hour")
    stored = app.scheduler.get_schedule(Name="d.hourly", GroupName=rt.settings.schedule_group)["Target"]["Input"]

    # When it fires
    rt.advance(minutes=30)
    rt.drain()

    # Then its Input is the codec's, with the placeholder where the Scheduler fills it; it reads back and runs
    assert SCHEDULED_TIME in unwrap(stored)
    assert (info.task, info.args) == (pay.name, ("o-9", 9))
    assert app.schedules.get("hourly").args == ("o-9", 9)
    assert rt.scheduler is not None
    (firing,) = rt.scheduler.fired
    assert app.AsyncResult(f"d.hourly@{firing.scheduled_time}").get(timeout=0) == 9


def test_a_declared_periodic_schedule_is_encoded_too_and_its_firings_run() -> None:
    app = Squall("wrapped", extensions=[Coding(Wrap())])
    ran, pay, _ = build(app)
    app.periodic("rate(1 hour)", name="hourly", args=("o-8", 8))(pay)

    with local.run(app) as rt:
        rt.advance(minutes=30)
        rt.drain()

    assert SCHEDULED_TIME in unwrap(schedule_input(app, app.periodic_schedules["hourly"]))
    assert ran == [("o-8", 8)]


def test_a_dead_letter_reads_through_the_codec_and_is_redriven_through_it(wrapped: SimpleNamespace) -> None:
    app, rt, refund = wrapped.app, wrapped.rt, wrapped.refund

    # Given a task that died
    result = refund.delay("o-5")
    rt.drain()
    assert result.state is State.DEAD

    # When an operator lists the DLQ and redrives it
    (letter,) = dlq.peek(app)
    sent = record_sends(app)
    report = dlq.redrive(app)
    rt.drain()

    # Then the letter reads as its task, and the message sent back is the codec's, with the new redrive count
    assert (letter.task_id, letter.task) == (result.id, refund.name)
    assert [moved.task_id for moved in report.moved] == [result.id]
    assert wrapped.ran == [("o-5", "refund"), ("o-5", "refund")]
    redriven, dead_again = sent  # sent back by the redrive, then to the DLQ as it came, when it failed again
    assert Envelope.decode(unwrap(redriven)).redrives == 1
    assert dead_again == redriven
    assert result.state is State.DEAD
    assert result.record is not None
    assert result.record.redrives == 1


# --- what cannot be decoded --------------------------------------------------------------------------------


def test_a_body_the_codec_cannot_decode_is_dead_lettered_naming_the_codec_and_the_rest_still_runs(
    wrapped: SimpleNamespace,
) -> None:
    app, rt, pay = wrapped.app, wrapped.rt, wrapped.pay
    # Given a plain envelope (no codec wrote it) on the queue beside a good message
    plain = Envelope("plain-1", pay.name, ("o-1", 1), created=rt.clock.now()).encode()
    rt.session.client("sqs", region_name=rt.settings.region).send_message(
        QueueUrl=rt.settings.queue("default").url, MessageBody=plain
    )
    good = pay.delay("o-2", 2)

    # When the worker receives them
    rt.drain()

    # Then the plain one is dead-lettered with a reason naming the codec; the good one ran
    (letter,) = rt.dead_letters()
    assert letter.body == plain
    reason = letter.attributes[REASON_ATTRIBUTE]
    assert reason.startswith("malformed message: body codec 'wrap' cannot decode: ValueError: not a body 'wrap'")
    assert good.get(timeout=0) == 2
    assert app.AsyncResult("plain-1").state is State.PENDING  # its id was never read: no state is written for it


def test_a_codec_failure_to_decode_is_one_decode_error_naming_it() -> None:
    chain = CodecChain([Wrap()])

    with pytest.raises(DecodeError, match="body codec 'wrap' cannot decode: JSONDecodeError") as caught:
        chain.decode('{"not": "json"')

    assert caught.value.task_id is None


# --- order ----------------------------------------------------------------------------------------------------


def test_codecs_encode_in_order_and_decode_in_reverse_with_signing_outermost() -> None:
    log: list[str] = []
    chain = CodecChain([Wrap("first", log), Wrap("second", log)], signer=sig.Signer(lambda: RING))
    text = Envelope("order-1", "codecs.pay", ("o-1", 1)).encode()

    body = chain.encode(text)
    decoded = chain.decode(body)

    # signing is last on the way out, so its MAC covers the bytes on the wire; the other codecs nest inside
    assert [codec.name for codec in chain.codecs] == ["first", "second", "signing"]
    assert body.startswith("sq1.k1.")
    assert unwrap(unwrap(sig.verify(RING, body), "second"), "first") == text
    assert decoded == text
    assert log == ["first.encode", "second.encode", "second.decode", "first.decode"]


def test_a_forged_body_is_refused_by_signing_before_any_codec_reads_it() -> None:
    log: list[str] = []
    chain = CodecChain([Wrap("wrap", log)], signer=sig.Signer(lambda: RING))
    body = chain.encode(Envelope("forged-1", "codecs.pay", ("o-1", 1)).encode())
    log.clear()

    with pytest.raises(SignatureError, match="signature does not match"):
        chain.decode(body.replace('\\"o-1\\"', '\\"o-2\\"'))

    assert log == []


def test_the_apps_chain_holds_its_extensions_codecs_in_order_then_signing() -> None:
    app = Squall("ordered", signing_key=RING, extensions=[Coding(Wrap("a")), Extension(), Coding(Wrap("b"))])

    chain = chain_for(app)

    assert [codec.name for codec in chain.codecs] == ["a", "b", "signing"]
    assert chain.signs


def test_without_codecs_a_body_is_the_envelope_json_or_its_sq1_signature_byte_for_byte() -> None:
    text = Envelope("plain-1", "codecs.pay", ("o-1", 1)).encode()

    assert CodecChain().encode(text) == text
    assert CodecChain(signer=sig.Signer(lambda: RING)).encode(text) == sig.sign(RING, text)
    template = schedule_template()
    assert CodecChain(signer=sig.Signer(lambda: RING)).encode_template(template) == sig.sign_template(RING, template)


# --- with signing on ------------------------------------------------------------------------------------------


def test_a_signed_app_with_a_codec_runs_its_tasks_dynamic_schedules_and_declared_periodic_ones() -> None:
    app = Squall("signedwrap", signing_key=RING, extensions=[Coding(Wrap())])
    ran, pay, _ = build(app)
    app.periodic("rate(1 hour)", name="declared", args=("o-8", 8))(pay)

    with local.run(app, start=datetime.fromisoformat(TIME).timestamp()) as rt:
        sent = record_sends(app)
        result = pay.delay("o-1", 1)
        app.schedules.create("dynamic", pay.s("o-9", 9), rate="1 hour")
        stored = app.scheduler.get_schedule(Name="d.dynamic", GroupName=rt.settings.schedule_group)
        rt.advance(minutes=30)
        rt.drain()

        # The sent body is signed around the codec's; the dynamic Input is signed (the declared one is not)
        assert result.get(timeout=0) == 1
        assert app.schedules.get("dynamic").args == ("o-9", 9)
    assert Envelope.decode(unwrap(sig.verify(RING, sent[0]))).id == result.id
    assert stored["Target"]["Input"].startswith("sq1.k1.")
    assert SCHEDULED_TIME in unwrap(schedule_input(app, app.periodic_schedules["declared"]))
    assert sorted(ran) == [("o-1", 1), ("o-8", 8), ("o-9", 9)]


# --- what cannot be encoded ----------------------------------------------------------------------------------


def test_a_codec_that_fails_to_encode_is_named_when_the_task_is_sent() -> None:
    app = Squall("failing", extensions=[Coding(Failing("vault"))])
    _, pay, _ = build(app)

    with local.run(app), pytest.raises(EncodeError, match="body codec 'vault': cannot encode: RuntimeError: the codec"):
        pay.delay("o-1", 1)


@pytest.mark.parametrize(
    ("codec", "words"),
    [
        pytest.param(NotAnObject(), "a codec writes a JSON object's text", id="not-an-object"),
        pytest.param(Failing(), "cannot encode: RuntimeError", id="raises"),
    ],
)
def test_a_codec_that_cannot_encode_is_refused_naming_it(codec: Wrap, words: str) -> None:
    with pytest.raises(EncodeError, match=f"body codec 'wrap'.*{words}"):
        CodecChain([codec]).encode('{"v":1}')


def test_a_codec_that_loses_the_schedulers_placeholder_is_refused_for_a_schedule() -> None:
    template = schedule_template()

    chain = CodecChain([Reverse()])

    with pytest.raises(EncodeError, match=r"body codec 'wrap'.*placeholders of a schedule's Input"):
        chain.encode_template(template)
    assert chain.decode(chain.encode(template)) == template  # a message body it may encode
