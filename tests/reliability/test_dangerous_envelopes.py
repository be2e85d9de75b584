"""Valid-but-dangerous envelopes: decoding returns an Envelope or raises DecodeError, nothing else, ever.

An envelope that decodes also re-encodes (or is refused with EncodeError) and reads back the same, and an
envelope the SDK builds from any input is either refused with EncodeError or decodes to itself. The
strategies live in :mod:`tests.reliability.fuzz`; ``SQUALL_FUZZ_EXAMPLES`` sets the example count (long
mode: ``SQUALL_FUZZ_EXAMPLES=20000``).
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any

from hypothesis import given
from tests.reliability.fuzz import dangerous_bodies, envelope_fields, fuzz_settings

from squall.errors import DecodeError, EncodeError
from squall.limits import MAX_REASON_CHARS
from squall.wire import codec
from squall.wire.envelope import Envelope, valid_task_id

FUZZ = fuzz_settings()


def decoded_or_refused(body: str | bytes) -> Envelope | DecodeError:
    """Read ``body`` with the codec, then decode it: only ValueError (codec) and DecodeError (envelope) may escape."""
    with contextlib.suppress(ValueError):  # the one error the codec raises, whatever the body
        codec.loads(body)
    try:
        return Envelope.decode(body)
    except DecodeError as error:
        return error


def as_sent(value: Any) -> Any:
    """What a value reads as after the round trip (tuples travel as lists)."""
    if isinstance(value, (list, tuple)):
        return [as_sent(v) for v in value]
    if isinstance(value, dict):
        return {k: as_sent(v) for k, v in value.items()}
    return value


@FUZZ
@given(body=dangerous_bodies())
def test_dangerous_envelope_decodes_or_is_refused_with_a_short_reason(body: str | bytes) -> None:
    # When
    outcome = decoded_or_refused(body)

    # Then a refusal says why in a reason short enough to travel as an SQS attribute, keeping only a valid id
    if isinstance(outcome, DecodeError):
        assert outcome.reason
        assert len(outcome.reason) <= MAX_REASON_CHARS, outcome.reason[:200]
        assert outcome.task_id is None or valid_task_id(outcome.task_id)
        return

    # And an envelope that decodes re-encodes, or is refused with EncodeError, and reads back the same
    try:
        again = outcome.encode()
    except EncodeError:
        return
    assert Envelope.decode(again) == outcome


@FUZZ
@given(fields=envelope_fields)
def test_envelope_the_sdk_builds_is_refused_with_encode_error_or_decodes_to_itself(fields: dict[str, Any]) -> None:
    # Given an envelope built from dangerous arguments and delivery fields
    envelope = Envelope(id="fuzz-1", task="fuzz.echo", **fields)

    # When it is encoded
    try:
        body = envelope.encode()
    except EncodeError:
        return

    # Then decoding accepts exactly what encoding wrote
    assert Envelope.decode(body) == dataclasses.replace(
        envelope,
        args=tuple(as_sent(list(envelope.args))),
        kwargs=as_sent(envelope.kwargs),
        created=float(envelope.created),
        eta=None if envelope.eta is None else float(envelope.eta),
    )
