"""Bad input: whatever reaches the worker ends DEAD after one receive, named; the SDK refuses what cannot go.

The worker side runs on one runtime per module (Hypothesis draws many examples; provisioning per example
would dominate), with SQS's real size and character rules enforced on every send.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from tests.reliability.conftest import enforce_sqs_rules, message_size, sqs_refusal
from tests.reliability.fuzz import dangerous_bodies, fuzz_settings

from squall import DecodeError, InvalidArguments, Squall, SquallError, State, TaskNotRegistered, local
from squall.limits import MAX_REASON_CHARS, MAX_RETRIES_CEILING, SQS_MAX_MESSAGE_BYTES
from squall.local import Runtime
from squall.wire import codec
from squall.wire.envelope import Envelope, valid_task_id
from squall.worker.deadletters import REASON_ATTRIBUTE, TASK_ID_ATTRIBUTE

#: Each example provisions nothing but polls the worker once (about 0.2 s): 40 unless SQUALL_FUZZ_EXAMPLES says.
FUZZ = fuzz_settings(default=40)


@pytest.fixture(scope="module")
def fuzz() -> Iterator[SimpleNamespace]:
    """One app and runtime for every example of this module; the example records what each poll did."""
    app = Squall("fuzz")

    @app.task(name="fuzz.add")
    def add(a: int, b: int) -> int:
        return a + b

    @app.task(name="fuzz.flaky", max_retries=900, retry_backoff=False)
    def flaky() -> None:
        raise ConnectionError("always busy")

    @app.task(name="fuzz.echo")
    def echo(value: Any) -> Any:
        return value

    with pytest.MonkeyPatch.context() as env:
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        env.delenv("AWS_PROFILE", raising=False)
        env.setenv("AWS_CONFIG_FILE", "/nonexistent/squall-test")
        with local.run(app) as rt:
            enforce_sqs_rules(rt.app.sqs)
            raw = rt.session.client("sqs", region_name=rt.settings.region)
            enforce_sqs_rules(raw)
            seen: list[tuple[dict[str, Any], Any]] = []
            inner = rt.mappings[0].handler

            def handler(event: dict[str, Any], context: Any) -> Any:
                response = inner(event, context)
                seen.append((event, response))
                return response

            rt.mappings[0].handler = handler
            yield Fuzz(rt=rt, raw=raw, seen=seen, add=add, flaky=flaky, echo=echo, app=app)


class Fuzz(SimpleNamespace):
    """The module's runtime and tasks (a short repr: Hypothesis prints it with every failing example)."""

    def __repr__(self) -> str:
        return "<fuzz runtime>"


def would_run(app: Squall, body: str) -> bool:
    """Whether ``body`` is a usable message after all (an envelope of a registered task whose args bind)."""
    try:
        envelope = Envelope.decode(body)
        app.get_task(envelope.task).bind_arguments(envelope.args, envelope.kwargs)
    except (DecodeError, TaskNotRegistered, InvalidArguments):
        return False
    return True


def expected_words(app: Squall, body: str) -> str:
    """Words the worker's reason for refusing ``body`` holds (empty if the body would run after all)."""
    try:
        envelope = Envelope.decode(body)
        app.get_task(envelope.task).bind_arguments(envelope.args, envelope.kwargs)
    except DecodeError:
        return "malformed"
    except TaskNotRegistered:
        return "no task"
    except InvalidArguments:
        return "do not fit"
    return ""


def with_fresh_id(body: str) -> str:
    """A dangerous body with an id of its own (unless its id is the dangerous part), so no two share a task."""
    return body.replace('"fuzz-1"', f'"bad-{uuid.uuid4().hex[:10]}"', 1)


def empty(client: Any, url: str) -> None:
    """Delete every visible message on the queue (PurgeQueue may run once a minute only)."""
    while messages := client.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            client.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


# --- what a broken or hostile producer can put on the queue ----------------------------------------------

xml_text = st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"], exclude_characters="\ufffe\uffff"))
#: Object keys: never the tag key, which makes any object a tagged value (those are fuzzed in tests.reliability.fuzz).
keys = xml_text.filter(lambda k: k != codec.TAG)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | xml_text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


def envelope(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"v": 1, "id": f"bad-{uuid.uuid4().hex[:10]}", "task": "fuzz.add", "args": [1, 2]}
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not _DROP}


_DROP = object()
TASKS = ("fuzz.add", "fuzz.flaky", "fuzz.echo")
KNOWN_FIELDS = ("v", "id", "task", "args", "kwargs", "queue", "created", "eta", "redrives", "max_retries")
#: Epoch seconds no datetime or DynamoDB number holds: before 1970, past 9999, or huge.
unusable_times = st.one_of(
    st.integers(253_402_300_800, 10**400),
    st.integers(max_value=-1),
    st.floats(min_value=253_402_300_800.0, allow_infinity=False),
    st.floats(max_value=-1e-9, allow_infinity=False),
)
#: A tagged argument whose payload is not the string its tag needs (or, for "dict", not a list of pairs).
mistagged = st.tuples(
    st.sampled_from(["datetime", "date", "time", "uuid", "decimal", "bytes", "dict"]),
    st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
    | st.dictionaries(keys, st.integers(), max_size=2),
).map(lambda pair: [{codec.TAG: pair[0], "v": pair[1]}, 2])
#: (field, value strategy, words the reason must contain)
MUTATIONS = [
    ("v", json_values.filter(lambda v: v != 1 or isinstance(v, bool)), "version"),
    ("v", st.just(_DROP), "version"),
    ("id", json_values.filter(lambda v: not valid_task_id(v)), "field 'id'"),
    ("id", st.just(_DROP), "field 'id'"),
    ("task", json_values.filter(lambda v: not isinstance(v, str)), "field 'task'"),
    ("task", st.sampled_from(["os.system", "builtins.eval", "subprocess.run", "importlib.import_module"]), "no task"),
    ("task", st.from_regex(r"[a-z_][a-z0-9_.]{0,40}", fullmatch=True).filter(lambda t: t not in TASKS), "no task"),
    ("args", json_values.filter(lambda v: not isinstance(v, list)), "'args'"),
    ("args", st.lists(json_values, min_size=3, max_size=5), "arguments do not fit"),
    ("kwargs", json_values.filter(lambda v: not isinstance(v, dict)), "'kwargs'"),
    ("kwargs", st.dictionaries(keys.filter(lambda k: k not in ("a", "b")), json_values, min_size=1), "do not fit"),
    ("created", xml_text | st.booleans() | st.lists(st.integers(), max_size=2), "'created'"),
    ("eta", xml_text | st.booleans() | st.dictionaries(keys, st.integers(), max_size=2), "'eta'"),
    ("redrives", st.integers(max_value=-1) | xml_text | st.floats(allow_nan=False), "'redrives'"),
    ("redrives", st.integers(min_value=10**38, max_value=10**400), "'redrives'"),
    ("created", unusable_times, "'created'"),
    ("eta", unusable_times, "'eta'"),
    (
        "max_retries",
        st.integers(max_value=-1) | st.integers(min_value=MAX_RETRIES_CEILING + 1) | xml_text | st.booleans(),
        "'max_retries'",
    ),
    ("args", mistagged, "tagged value"),
]


@st.composite
def bad_envelopes(draw: st.DrawFn) -> tuple[str, str]:
    name, values, words = draw(st.sampled_from(MUTATIONS))
    extra = draw(st.dictionaries(keys.filter(lambda k: k not in KNOWN_FIELDS), json_values, max_size=2))
    doc = {**envelope(**{name: draw(values)}), **extra}
    return json.dumps(doc, ensure_ascii=draw(st.booleans())), words


def nested(depth: int) -> tuple[str, str]:
    """An envelope of an unknown task whose first argument is a list nested ``depth`` deep."""
    body = json.dumps(envelope(task="no.such", args=["NEST"])).replace('"NEST"', "[" * depth + "]" * depth)
    return body, "no task" if depth <= codec.MAX_DEPTH else "nested too deeply"


bad_bodies = st.one_of(
    xml_text.map(lambda t: (t, "malformed")),
    st.binary(max_size=200).map(lambda b: (base64.b64encode(b).decode(), "malformed")),
    st.binary(max_size=200).map(lambda b: ("".join(chr(0x20 + c % 0x5F) for c in b), "malformed")),
    json_values.map(lambda v: (json.dumps(v), "malformed")),
    bad_envelopes(),
    st.sampled_from([50, codec.MAX_DEPTH, codec.MAX_DEPTH + 1, 500, 2_000, 100_000]).map(nested),
    st.integers(100_000, 900_000).map(lambda n: (json.dumps(envelope(task="no.such", args=["x" * n])), "no task")),
    # Valid but dangerous envelopes (their words depend on the app: the test fills them in)
    dangerous_bodies().filter(lambda body: isinstance(body, str)).map(lambda body: (with_fresh_id(str(body)), "")),
)

attribute_names = st.from_regex(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,30}[A-Za-z0-9_-]", fullmatch=True).filter(
    lambda n: ".." not in n and not n.lower().startswith(("aws.", "amazon.", "squall."))
)
attribute_values = st.one_of(
    xml_text.filter(bool).map(lambda s: {"DataType": "String", "StringValue": s}),
    st.integers().map(lambda i: {"DataType": "Number", "StringValue": str(i)}),
    st.binary(min_size=1, max_size=64).map(lambda b: {"DataType": "Binary", "BinaryValue": b}),
    xml_text.filter(bool).map(lambda s: {"DataType": "String.custom", "StringValue": s}),
)


@FUZZ
@given(
    bad=st.lists(bad_bodies, min_size=1, max_size=4),
    attributes=st.dictionaries(attribute_names, attribute_values, max_size=10),
    neighbours=st.integers(0, 3),
    retried=st.integers(0, 2),
)
def test_bad_records_end_dead_after_one_receive_and_spare_their_neighbours(
    fuzz: SimpleNamespace, bad: list[tuple[str, str]], attributes: dict[str, Any], neighbours: int, retried: int
) -> None:
    # Given bad messages (with message attributes) in one batch with good ones and ones that will retry, on a
    # queue holding nothing else (an earlier example's retries are purged)
    rt: Runtime = fuzz.rt
    bad = [(body, words or expected_words(fuzz.app, body)) for body, words in bad]
    bodies = [body for body, _ in bad]
    assume(not any(would_run(fuzz.app, body) for body in bodies))
    assume(all(sqs_refusal(body, attributes) is None for body in bodies))
    url = rt.settings.queue("default").url
    empty(fuzz.raw, url)
    for body in bodies:
        fuzz.raw.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
    good = [fuzz.add.delay(i, i) for i in range(neighbours)]
    kept = {fuzz.flaky.delay().id for _ in range(retried)}
    before = {m.message_id for m in rt.dead_letters()}
    fuzz.seen.clear()

    # When the worker receives them once
    rt.poll()

    # Then nothing escaped the handler, and no bad record was handed back to SQS to be received again
    ((event, response),) = fuzz.seen
    assert rt.invocations[-1].error is None
    assert set(response) == {"batchItemFailures"}
    listed = {failure["itemIdentifier"] for failure in response["batchItemFailures"]}
    assert not listed & {r["messageId"] for r in event["Records"] if r["body"] in bodies}
    assert all(rt.app.AsyncResult(task_id).state is State.RETRY for task_id in kept)

    # And each bad message is in the DLQ, with a reason that names its problem
    letters = [m for m in rt.dead_letters() if m.message_id not in before]
    assert Counter(m.body for m in letters) == Counter(bodies)
    for message in letters:
        reason = message.attributes.get(REASON_ATTRIBUTE, "")
        words = next(w for b, w in bad if b == message.body)
        assert reason, "a dead letter without its reason"
        assert len(reason) <= MAX_REASON_CHARS
        assert words.lower() in reason.lower(), (reason, words)
        assert message_size(message.body, {}) <= SQS_MAX_MESSAGE_BYTES
        task_id = message.attributes.get(TASK_ID_ATTRIBUTE)
        if task_id is not None:
            assert rt.app.AsyncResult(task_id).state is State.DEAD

    # And the good neighbours ran, and only the retrying tasks are left on the queue, once each
    assert [r.get(timeout=0) for r in good] == [2 * i for i in range(neighbours)]
    assert rt.queued() == len(kept)


@pytest.mark.parametrize("slack", [0, 1, 300])
def test_message_at_the_size_limit_with_attributes_is_dead_lettered_once(fuzz: SimpleNamespace, slack: int) -> None:
    # Given a malformed message as large as SQS allows, counting its attributes: its DLQ copy cannot also
    # carry Squall's attributes
    rt: Runtime = fuzz.rt
    empty(fuzz.raw, rt.settings.queue("default").url)  # an earlier test's retries, on the shared runtime
    attributes = {"trace": {"DataType": "String", "StringValue": "t" * 200}}
    prefix = json.dumps(envelope(task="no.such.task", args=[""]))
    room = SQS_MAX_MESSAGE_BYTES - slack - message_size(prefix, attributes)
    body = prefix.replace('[""]', json.dumps(["é" * (room // 2) + "x" * (room % 2)], ensure_ascii=False))
    assert message_size(body, attributes) == SQS_MAX_MESSAGE_BYTES - slack
    fuzz.raw.send_message(QueueUrl=rt.settings.queue("default").url, MessageBody=body, MessageAttributes=attributes)
    before = {m.message_id for m in rt.dead_letters()}

    # When the worker receives it once
    rt.poll()

    # Then it is dead-lettered whole, on that receive, and nothing stays behind
    assert rt.invocations[-1].error is None
    (letter,) = [m for m in rt.dead_letters() if m.message_id not in before]
    assert letter.body == body
    assert rt.queued() == 0
    assert rt.app.AsyncResult(json.loads(body)["id"]).state is State.DEAD


# --- what a caller can pass to the SDK -------------------------------------------------------------------

any_text = st.text(st.characters(codec=None, categories=None))  # every code point, lone surrogates too
sdk_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(4_300, 5_000).map(lambda digits: 10**digits),  # past Python's int-to-text limit
    st.floats(),
    any_text,
    st.binary(max_size=32),
    st.decimals(),
    st.datetimes(timezones=st.none() | st.just(dt.UTC)),
    st.dates(),
    st.uuids(),
    st.sets(st.integers(), max_size=2),
    st.complex_numbers(),
)
sdk_values = st.recursive(
    sdk_leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(any_text | st.integers(), inner, max_size=3)
    ),
    max_leaves=10,
)


def as_sent(value: Any) -> Any:
    """What a value reads as after the round trip (tuples travel as lists)."""
    if isinstance(value, (list, tuple)):
        return [as_sent(v) for v in value]
    if isinstance(value, dict):
        return {k: as_sent(v) for k, v in value.items()}
    return value


@FUZZ
@given(value=sdk_values)
def test_any_argument_either_round_trips_or_is_refused_naming_it(fuzz: SimpleNamespace, value: Any) -> None:
    # Given any value a caller might pass
    rt: Runtime = fuzz.rt

    # When it is sent as a task argument
    try:
        result = fuzz.echo.delay(value)
    except SquallError as exc:
        refusal: str | None = str(exc)
    else:
        refusal = None

    # Then either the SDK refuses it before sending, naming the argument
    if refusal is not None:
        assert "'value'" in refusal, refusal
        return

    # Or it arrives intact (SQS's own rules were enforced on the send)
    rt.poll()
    assert result.state is State.SUCCESS, result.record
    assert result.get(timeout=0) == as_sent(value)


@pytest.mark.parametrize("countdown", [-1, float("nan"), float("inf"), float("-inf")])
def test_unusable_countdown_is_refused_naming_it(fuzz: SimpleNamespace, countdown: float) -> None:
    with pytest.raises(SquallError, match="countdown"):
        fuzz.add.apply_async((1, 2), countdown=countdown)
