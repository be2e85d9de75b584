"""Envelope signing: producers sign, the worker checks before decoding, and refuses what does not check out."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from squall import ConfigurationError, Squall, State, local
from squall.local import Runtime
from squall.scheduler.periodic import schedule_input
from squall.scheduler.scheduling import envelope_template
from squall.wire import signing as sig
from squall.wire.envelope import Envelope
from squall.worker.deadletters import REASON_ATTRIBUTE, TASK_ID_ATTRIBUTE

PARAMETER = "/squall/signed/signing-keys"
SECRET = "squall/signed/signing-keys"
TIME = "2026-11-23T09:00:00Z"


def keyring(current: str = "k1", **keys: bytes) -> sig.Keyring:
    return sig.Keyring(current, keys or {current: bytes(range(32))})


def document(ring: sig.Keyring) -> str:
    return json.dumps(
        {"current": ring.current, "keys": {k: base64.b64encode(v).decode() for k, v in ring.keys.items()}}
    )


@pytest.fixture
def signed(request: pytest.FixtureRequest) -> Iterator[SimpleNamespace]:
    """An app whose keys live in SSM (or in Secrets Manager, parametrized indirectly), running locally."""
    store = getattr(request, "param", "ssm")
    app = Squall("signed", signing_key=f"{store}:{SECRET if store == 'secretsmanager' else PARAMETER}")
    ran: list[Any] = []

    @app.task(name="signed.pay", max_retries=0)
    def pay(order: str, amount: int) -> int:
        ran.append((order, amount))
        return amount

    @app.task(name="signed.refund", max_retries=0)
    def refund(order: str) -> None:
        ran.append((order, "refund"))
        raise ValueError(f"order {order} cannot be refunded")

    # The clock starts at the firing time the tests use: a signed envelope is accepted for 4 days after it is due.
    with local.run(app, start=datetime.fromisoformat(TIME).timestamp()) as rt:
        ring = keyring()
        put_keys(rt, store, document(ring))
        sent: list[str] = []
        app.sqs.meta.events.register(
            "provide-client-params.sqs.SendMessage", lambda params, **_: sent.append(params["MessageBody"])
        )
        yield SimpleNamespace(app=app, rt=rt, pay=pay, refund=refund, ran=ran, sent=sent, store=store, ring=ring)


def put_keys(rt: Runtime, store: str, value: str) -> None:
    if store == "ssm":
        client = rt.session.client("ssm", region_name=rt.settings.region)
        client.put_parameter(Name=PARAMETER, Value=value, Type="SecureString", Overwrite=True)
    else:
        client = rt.session.client("secretsmanager", region_name=rt.settings.region)
        try:
            client.put_secret_value(SecretId=SECRET, SecretString=value)
        except client.exceptions.ResourceNotFoundException:
            client.create_secret(Name=SECRET, SecretString=value)


def send_raw(rt: Runtime, body: str) -> None:
    rt.session.client("sqs", region_name=rt.settings.region).send_message(
        QueueUrl=rt.settings.queue("default").url, MessageBody=body
    )


def only_dead_letter(rt: Runtime) -> Any:
    (letter,) = rt.dead_letters()
    return letter


# --- the round trip ------------------------------------------------------------------------------------------


def test_signed_task_runs_with_keys_from_ssm(signed: SimpleNamespace) -> None:
    result = signed.pay.delay("o-1", 100)

    signed.rt.drain()

    assert result.get(timeout=0) == 100
    (body,) = signed.sent
    assert body.startswith("sq1.k1.")
    assert body.endswith(Envelope.decode(sig.verify(signed.ring, body)).encode())


@pytest.mark.parametrize("signed", ["secretsmanager"], indirect=True)
def test_signed_task_runs_with_keys_from_secrets_manager(signed: SimpleNamespace) -> None:
    result = signed.pay.delay("o-1", 100)

    signed.rt.drain()

    assert result.get(timeout=0) == 100
    assert signed.sent[0].startswith("sq1.k1.")


# --- what the worker refuses ----------------------------------------------------------------------------------


def tampered(body: str) -> str:
    return body.replace('"o-1"', '"o-2"').replace("100", "999")


@pytest.mark.parametrize(
    ("forge", "reason"),
    [
        pytest.param(tampered, "signature does not match", id="altered-arguments"),
        pytest.param(lambda body: sig.verify(keyring(), body), "unsigned message", id="header-removed"),
        pytest.param(
            lambda body: sig.sign(keyring(k1=b"x" * 32), sig.verify(keyring(), body)),
            "signature does not match",
            id="signed-with-another-key",
        ),
        pytest.param(
            lambda body: sig.sign(keyring("k9", k9=b"y" * 32), sig.verify(keyring(), body)),
            "unknown key 'k9'",
            id="unknown-key-id",
        ),
        pytest.param(
            lambda body: body.replace("sq1.k1.", "sq1.k1!", 1), "signature header is malformed", id="bad-header"
        ),
        pytest.param(
            lambda body: "sq1." + body[4:].replace("..", f".{TIME}.", 1), "signature does not match", id="slot-added"
        ),
    ],
)
def test_forged_message_is_dead_lettered_with_the_reason_and_never_decoded(
    signed: SimpleNamespace, forge: Callable[[str], str], reason: str
) -> None:
    # Given a message signed by the app, then forged
    real = sig.sign(signed.ring, _envelope_json(signed))
    forged = forge(real)
    send_raw(signed.rt, forged)

    # When the worker receives it
    with mock.patch.object(Envelope, "decode", wraps=Envelope.decode) as decode:
        signed.rt.drain()

    # Then it is dead-lettered at once, with the reason; nothing ran, no task state was written for its id
    letter = only_dead_letter(signed.rt)
    assert reason in letter.attributes[REASON_ATTRIBUTE]
    assert letter.body == forged
    assert TASK_ID_ATTRIBUTE not in letter.attributes
    assert decode.call_count == 0
    assert signed.ran == []
    assert signed.app.AsyncResult("forged-1").state is State.PENDING


def _envelope_json(signed: SimpleNamespace) -> str:
    return Envelope("forged-1", signed.pay.name, ("o-1", 100), created=signed.rt.clock.now()).encode()


def test_keys_rotate_without_refusing_messages_in_flight(
    signed: SimpleNamespace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a message signed with k1, still queued when the keyring gains k2 as current (k1 kept)
    monkeypatch.setattr(signed.app.signer._keys, "max_age", 0)  # read the parameter afresh every time
    old = signed.pay.delay("o-1", 1)
    k2 = keyring("k2", k1=signed.ring.keys["k1"], k2=b"z" * 32)
    put_keys(signed.rt, signed.store, document(k2))

    # When a new message is sent, and both are processed
    new = signed.pay.delay("o-2", 2)
    signed.rt.drain()

    # Then the new one is signed with k2, and both ran
    assert [body.split(".")[1] for body in signed.sent] == ["k1", "k2"]
    assert (old.get(timeout=0), new.get(timeout=0)) == (1, 2)

    # And once k1 is retired, a k1 message is refused
    put_keys(signed.rt, signed.store, document(keyring("k2", k2=b"z" * 32)))
    send_raw(signed.rt, sig.sign(signed.ring, _envelope_json(signed)))
    signed.rt.drain()
    assert "unknown key 'k1'" in only_dead_letter(signed.rt).attributes[REASON_ATTRIBUTE]


# --- schedules ---------------------------------------------------------------------------------------------


def template(signed: SimpleNamespace, name: str = "d.nightly") -> str:
    return envelope_template(name, signed.pay, ("o-7", 7), {}, "default")


def test_signed_schedule_input_survives_the_schedulers_substitution(signed: SimpleNamespace) -> None:
    # Given a recurring schedule's signed Input, as EventBridge Scheduler fills it in at one firing
    body = sig.sign_template(signed.ring, template(signed)).replace(sig.SCHEDULED_TIME, TIME)

    # When the worker receives it
    send_raw(signed.rt, body)
    signed.rt.drain()

    # Then it runs as that firing: the id and created time come from the scheduled time
    result = signed.app.AsyncResult(f"d.nightly@{TIME}")
    assert result.get(timeout=0) == 7
    assert result.record is not None
    assert result.record.created_at == pytest.approx(1_795_424_400.0)


def test_template_read_back_without_a_firing_gives_its_envelope(signed: SimpleNamespace) -> None:
    text = sig.unverified_json(sig.sign_template(signed.ring, template(signed)))

    doc = json.loads(text)

    assert doc["id"] == f"d.nightly@{sig.SCHEDULED_TIME}"
    assert doc["args"] == ["o-7", 7]


def test_declared_periodic_schedule_runs_unsigned_but_nothing_else_does(signed: SimpleNamespace) -> None:
    # Given a periodic schedule declared in code: the stack deploys its Input unsigned (no key at deploy time)
    signed.app.periodic("rate(1 hour)", name="hourly", args=("o-8", 8))(signed.pay)
    signed.app._signer_resolved = False  # re-read the declarations, as a fresh worker would

    declared = schedule_input(signed.app, signed.app.periodic_schedules["hourly"])

    # When one firing arrives, and so does the same Input with other arguments
    send_raw(signed.rt, declared.replace(sig.SCHEDULED_TIME, TIME))
    send_raw(signed.rt, declared.replace(sig.SCHEDULED_TIME, TIME).replace('"o-8",8', '"o-8",800'))
    signed.rt.drain()

    # Then the declared firing ran; the altered one is refused as unsigned
    assert signed.app.AsyncResult(f"p.hourly@{TIME}").get(timeout=0) == 8
    assert signed.ran == [("o-8", 8)]
    assert "unsigned message" in only_dead_letter(signed.rt).attributes[REASON_ATTRIBUTE]


def test_dynamic_schedule_is_signed_read_back_and_its_firings_run(signed: SimpleNamespace) -> None:
    # Given a dynamic schedule made while signing is on
    info = signed.app.schedules.create("hourly", signed.pay.s("o-9", 9), rate="1 hour")
    stored = signed.app.scheduler.get_schedule(Name="d.hourly", GroupName=signed.rt.settings.schedule_group)

    # When it fires (a rate schedule's first firing is a second after it is made)
    signed.rt.advance(minutes=30)
    signed.rt.drain()

    # Then its Input was signed, it still reads back, and the firing ran
    assert stored["Target"]["Input"].startswith("sq1.k1.")
    assert (info.task, info.args) == (signed.pay.name, ("o-9", 9))
    assert signed.app.schedules.get("hourly").args == ("o-9", 9)
    assert signed.ran == [("o-9", 9)]


def test_dead_signed_task_is_listed_redriven_and_checked_again(signed: SimpleNamespace) -> None:
    from squall.ops import dlq

    # Given a signed task that died
    result = signed.refund.delay("o-5")
    signed.rt.drain()
    assert result.state is State.DEAD

    # When an operator lists the DLQ and redrives it
    (letter,) = dlq.peek(signed.app)
    report = dlq.redrive(signed.app)
    signed.rt.drain()

    # Then the letter reads as its task, the redriven message (still signed) passed the check and ran again
    assert (letter.task_id, letter.task) == (result.id, signed.refund.name)
    assert [moved.task_id for moved in report.moved] == [result.id]
    assert signed.ran == [("o-5", "refund"), ("o-5", "refund")]
    assert result.state is State.DEAD


# --- configuration -------------------------------------------------------------------------------------------


def test_worker_without_signing_accepts_signed_messages_while_signing_is_rolled_out(rt: Runtime, app: Squall) -> None:
    @app.task(name="plain.add")
    def add(a: int, b: int) -> int:
        return a + b

    body = sig.sign(keyring(), Envelope("rollout-1", "plain.add", (1, 2)).encode())
    send_raw(rt, body)

    rt.drain()

    assert app.AsyncResult("rollout-1").get(timeout=0) == 3


def test_missing_keys_are_a_configuration_error_naming_them(rt: Runtime) -> None:
    app = Squall("nokeys", signing_key="ssm:/squall/nokeys/absent")

    @app.task
    def noop() -> None: ...

    app.configure(rt.settings.__class__(**{**_fields(rt), "app": "nokeys"}), rt.session)

    with pytest.raises(ConfigurationError, match="/squall/nokeys/absent"):
        noop.delay()


def _fields(rt: Runtime) -> dict[str, Any]:
    settings = rt.settings
    return {name: getattr(settings, name) for name in ("region", "table", "queues", "endpoint_url")}


@pytest.mark.parametrize("reference", ["/squall/x/keys", "s3:bucket/key", "ssm:", "arn:aws:s3:::bucket"])
def test_unusable_key_reference_is_refused_saying_what_to_write(reference: str) -> None:
    with pytest.raises(ConfigurationError, match="ssm:<parameter name>"):
        sig.parse_reference(reference)


def test_key_reference_from_the_environment_turns_signing_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQUALL_SIGNING_PARAMETER", "secretsmanager:squall/app/keys")

    signer = Squall("envsigned").signer

    assert signer is not None
    assert signer._keys.reference == "secretsmanager:squall/app/keys"  # type: ignore[attr-defined]
    monkeypatch.delenv("SQUALL_SIGNING_PARAMETER")
    assert Squall("unsigned").signer is None


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ({"keys": {"k1": "AA=="}}, "must be JSON"),
        ({"current": "k1", "keys": {"k1": "not base64!"}}, "not base64"),
        ({"current": "k1", "keys": {"k1": base64.b64encode(b"short").decode()}}, "at least 32"),
        ({"current": "k2", "keys": {"k1": base64.b64encode(bytes(32)).decode()}}, "not among the keys"),
        ({"current": "bad id", "keys": {"bad id": base64.b64encode(bytes(32)).decode()}}, "key id"),
    ],
)
def test_unusable_keyring_is_refused_naming_the_problem(doc: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigurationError, match=problem):
        sig.Keyring.from_document(doc, source="ssm:/x")


def test_new_keyring_documents_rotate_keeping_previous_keys() -> None:
    first = sig.new_keyring_document("k1")
    second = sig.new_keyring_document("k2", previous=first)

    ring = sig.Keyring.from_document(json.loads(second), source="test")

    assert ring.current == "k2"
    assert set(ring.keys) == {"k1", "k2"}
    assert all(len(key) == sig.MIN_KEY_BYTES for key in ring.keys.values())
