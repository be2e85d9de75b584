"""A FIFO queue's batches: Powertools' ``SqsFifoPartialProcessor`` with ``skip_group_on_error``.

A record that fails, or that the worker keeps (a retry waiting for its backoff, a task not yet due, ...), is a
batch item failure, and every later record of its message group in the batch is returned unprocessed, so that
the group keeps its order; other groups go on. SQS then blocks the group while its head is in flight ("Message
ordering in FIFO queues", SQS Developer Guide). The records skipped behind it are made visible again at once
(ChangeMessageVisibilityBatch to 0): they stay behind their head, which is hidden until its next attempt, rather
than holding the group for a whole visibility timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor
from aws_lambda_powertools.utilities.batch.exceptions import SQSFifoMessageGroupCircuitBreakerError
from botocore.exceptions import BotoCoreError, ClientError

from squall.limits import SQS_MAX_BATCH_ENTRIES

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

    from squall.protocols import App


def is_fifo_event(event: dict[str, Any]) -> bool:
    """Whether a Lambda SQS event came from a FIFO queue (one event source, so its first record says)."""
    records = event.get("Records") or [{}]
    first = records[0] if isinstance(records[0], dict) else {}
    return str(first.get("eventSourceARN", "")).endswith(".fifo")


class FifoBatchProcessor(SqsFifoPartialProcessor):
    """Skips the rest of a failed record's message group, then makes the skipped records visible again."""

    def __init__(self, release: Callable[[list[SQSRecord]], None]) -> None:
        super().__init__(skip_group_on_error=True)
        # As the standard queues' processor: a batch whose every record was kept is a response, not an error.
        self.raise_on_entire_batch_failure = False
        self._release = release
        self._skipped: list[SQSRecord] = []

    def failure_handler(self, record: Any, exception: Any) -> Any:
        """Note the records skipped behind a failed one (Powertools calls this for them too)."""
        if exception[0] is SQSFifoMessageGroupCircuitBreakerError:
            self._skipped.append(record)
        return super().failure_handler(record, exception)

    def response(self) -> PartialItemFailureResponse:
        """The batch item failures, once the skipped records are visible again."""
        skipped, self._skipped = self._skipped, []
        if skipped:
            self._release(skipped)
        return super().response()


def releaser(app: App) -> Callable[[list[SQSRecord]], None]:
    """Make skipped records of ``app``'s queues visible again (ChangeMessageVisibilityBatch, 10 a call)."""

    def release(records: list[SQSRecord]) -> None:
        url = None
        for address in app.settings.queues.values():
            if address.arn == records[0].event_source_arn:
                url = address.url
        if url is None:
            return  # not one of the app's queues: the records come back after the visibility timeout
        for start in range(0, len(records), SQS_MAX_BATCH_ENTRIES):
            chunk = records[start : start + SQS_MAX_BATCH_ENTRIES]
            try:
                app.sqs.change_message_visibility_batch(
                    QueueUrl=url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": r.receipt_handle, "VisibilityTimeout": 0}
                        for i, r in enumerate(chunk)
                    ],
                )
            except (BotoCoreError, ClientError):
                # Only a shortcut: the skipped records then come back after their visibility timeout, still
                # behind their group's head, so the group's order is the same either way.
                continue

    return release
