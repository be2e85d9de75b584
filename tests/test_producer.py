"""The producer: delays in whole seconds, batches within SQS's limits, and every failed send named by task."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from squall import EnqueueError, InvalidSchedule
from squall.limits import SQS_MAX_BATCH_BYTES, SQS_MAX_BATCH_ENTRIES
from squall.sending.producer import SERVER_FAULT_RESENDS, Outgoing, chunks, delay_from, send_many
from squall.wire.envelope import Envelope

NOW = 1_763_900_000.0


def outgoing(task_id: str, size: int = 10) -> Outgoing:
    return Outgoing(Envelope(id=task_id, task="t"), "x" * size, 0)


class ScriptedSQS:
    """An SQS client whose SendMessageBatch answers from a script: per call, the entry ids that fail, and how."""

    def __init__(self, *failures: dict[str, tuple[str, bool]] | Exception) -> None:
        self.script = list(failures)
        self.requests: list[list[str]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        ids = [entry["Id"] for entry in Entries]
        self.requests.append([entry["MessageBody"] for entry in Entries])
        failing = self.script.pop(0) if self.script else {}
        if isinstance(failing, Exception):
            raise failing
        return {
            "Successful": [{"Id": i, "MessageId": f"m-{i}"} for i in ids if i not in failing],
            "Failed": [
                {"Id": i, "Code": code, "Message": "refused", "SenderFault": sender}
                for i, (code, sender) in failing.items()
                if i in ids
            ],
        }


# --- delays ----------------------------------------------------------------------------------------------


def test_no_delay_sends_at_once() -> None:
    assert delay_from(None, None, NOW) == (None, 0)


def test_countdown_is_rounded_up_to_whole_seconds() -> None:
    assert delay_from(45.2, None, NOW) == (NOW + 45.2, 46)


def test_eta_becomes_the_wait_from_now() -> None:
    eta = dt.datetime.fromtimestamp(NOW + 600, dt.UTC)

    assert delay_from(None, eta, NOW) == (NOW + 600, 600)


def test_eta_in_the_past_waits_nothing() -> None:
    eta = dt.datetime.fromtimestamp(NOW - 600, dt.UTC)

    assert delay_from(None, eta, NOW) == (NOW - 600, 0)


@pytest.mark.parametrize(
    ("countdown", "eta", "problem"),
    [
        (1, dt.datetime(2030, 1, 1, tzinfo=dt.UTC), "not both"),
        (None, dt.datetime(2030, 1, 1), "no time zone"),
        (-0.5, None, ">= 0"),
    ],
)
def test_unusable_delays_are_refused(countdown: float | None, eta: dt.datetime | None, problem: str) -> None:
    with pytest.raises(InvalidSchedule, match=problem):
        delay_from(countdown, eta, NOW)


# --- batching --------------------------------------------------------------------------------------------


def test_batches_hold_at_most_ten_messages() -> None:
    batches = chunks([outgoing(str(i)) for i in range(23)])

    assert [len(b) for b in batches] == [10, 10, 3]


def test_batches_stay_within_one_mib() -> None:
    size = SQS_MAX_BATCH_BYTES // 3 - 10
    batches = chunks([outgoing(str(i), size) for i in range(7)])

    assert [len(b) for b in batches] == [3, 3, 1]
    assert all(sum(m.size for m in b) <= SQS_MAX_BATCH_BYTES for b in batches)


def test_no_messages_make_no_batch() -> None:
    assert chunks([]) == []


# --- failures are reported per task ----------------------------------------------------------------------


def test_all_sent_returns_every_task_id() -> None:
    sqs = ScriptedSQS()

    sent = send_many(lambda: sqs, "url", [outgoing(f"t-{i}") for i in range(12)], concurrency=1)  # calls in order

    assert sent == [f"t-{i}" for i in range(12)]
    assert [len(r) for r in sqs.requests] == [SQS_MAX_BATCH_ENTRIES, 2]


def test_entry_refused_as_the_senders_fault_is_not_resent_and_is_named() -> None:
    # Given SQS refuses entry 1 as malformed (SenderFault true)
    sqs = ScriptedSQS({"1": ("InvalidMessageContents", True)})

    # When
    with pytest.raises(EnqueueError) as failed:
        send_many(lambda: sqs, "url", [outgoing("a"), outgoing("b"), outgoing("c")])

    # Then the error names that task and why, lists the ones that went, and nothing was resent
    assert failed.value.failed == {"b": "InvalidMessageContents: refused"}
    assert failed.value.sent == ("a", "c")
    assert len(sqs.requests) == 1
    assert "b: InvalidMessageContents" in str(failed.value)


def test_entry_failed_by_the_service_is_resent_until_it_goes() -> None:
    # Given SQS fails entry 0 twice through its own fault, then accepts it
    fault = {"0": ("InternalError", False)}
    sqs = ScriptedSQS(fault, fault)

    sent = send_many(lambda: sqs, "url", [outgoing("a"), outgoing("b")])

    assert sorted(sent) == ["a", "b"]
    assert [len(r) for r in sqs.requests] == [2, 1, 1]


def test_entry_the_service_keeps_failing_is_reported_after_the_resends() -> None:
    fault = {"0": ("InternalError", False)}
    sqs = ScriptedSQS(*[fault] * (1 + SERVER_FAULT_RESENDS))

    with pytest.raises(EnqueueError) as failed:
        send_many(lambda: sqs, "url", [outgoing("a"), outgoing("b")])

    assert failed.value.failed == {"a": "InternalError: refused"}
    assert failed.value.sent == ("b",)
    assert len(sqs.requests) == 1 + SERVER_FAULT_RESENDS


def test_batch_call_that_errors_fails_its_entries_but_not_other_batches() -> None:
    # Given the second of two batch calls errors entirely (one call at a time, so that the script answers in order;
    # tests/test_send_batch_concurrent.py fails calls sent concurrently)
    sqs = ScriptedSQS({}, ConnectionError("connection reset"))

    with pytest.raises(EnqueueError) as failed:
        send_many(lambda: sqs, "url", [outgoing(f"t-{i}") for i in range(12)], concurrency=1)

    assert set(failed.value.failed) == {"t-10", "t-11"}
    assert "may have been sent" in failed.value.failed["t-10"]
    assert failed.value.sent == tuple(f"t-{i}" for i in range(10))
    assert "same task ids" in str(failed.value)
