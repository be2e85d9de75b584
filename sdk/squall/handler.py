"""The Lambda adapter: Powertools' BatchProcessor around :class:`~squall.worker.execution.Executor`.

``squall.functions.worker`` is this module's :func:`handler_from_env` and nothing more; the local runtime
calls :func:`make_handler` directly, so both run the same code. A batch from a queue declared with
``batch_concurrency`` above 1 runs that many records at once (:class:`ConcurrentBatchProcessor`).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from squall import config
from squall.app import load_app
from squall.worker import calling
from squall.worker.execution import Delivery, Executor, Outcome
from squall.worker.fifo import FifoBatchProcessor, is_fifo_event, releaser
from squall.worker.metrics import ERROR_METRIC as ERROR_METRIC
from squall.worker.metrics import METRICS_NAMESPACE as METRICS_NAMESPACE
from squall.worker.metrics import OUTCOME_METRICS as OUTCOME_METRICS
from squall.worker.metrics import RECONCILED_METRICS as RECONCILED_METRICS
from squall.worker.reconciler import Reconciled, Reconciler

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from squall.app import Squall

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class MessageKept(Exception):
    """Raised for a record whose message must stay on the queue (busy, early, deferred...)."""

    def __init__(self, outcome: Outcome | Reconciled) -> None:
        super().__init__(f"message kept on the queue: {outcome.value}")
        self.outcome = outcome


def delivery_from_record(record: SQSRecord) -> Delivery:
    """Adapt a Powertools SQS record into a Delivery."""
    raw = record.raw_event
    system = raw.get("attributes") or {}
    sent = system.get("SentTimestamp")
    return Delivery(
        message_id=record.message_id,
        receipt_handle=record.receipt_handle,
        body=record.body or "",
        queue_arn=record.event_source_arn,
        receive_count=int(system.get("ApproximateReceiveCount", "1")),
        attributes=dict(raw.get("messageAttributes") or {}),
        sent_at=None if sent is None else int(sent) / 1000,
        source_arn=system.get("DeadLetterQueueSourceArn"),
        group=system.get("MessageGroupId"),
    )


Step = Callable[[Delivery, float, float | None], "Outcome | Reconciled"]


class ConcurrentBatchProcessor(BatchProcessor):
    """Powertools' SQS BatchProcessor running up to ``workers`` records at once, each in a thread of a pool kept
    for the process (an ``async def`` task's coroutine on the shared event loop, :func:`calling.shared_loop`).

    Each record still ends in one outcome of its own: what one raises fails that record only, and the response
    lists the failed records in the batch's order, as the sequential processor does. ``setup`` runs once in each
    thread of the pool, before its first record.
    """

    def __init__(self, workers: int, setup: Callable[[], None] | None = None) -> None:
        super().__init__(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
        self.workers = workers
        self._setup = setup
        self._pool: ThreadPoolExecutor | None = None

    def process(self) -> list[tuple[Any, ...]]:
        """Run every record of the batch, up to ``workers`` at once, and wait for all of them."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, "squall-record", initializer=self._setup)
        with calling.shared_loop():
            futures = [self._pool.submit(self._process_record, record) for record in self.records]
            wait(futures)  # every record ends before the loop stops, even when one raised past Powertools
        position = {record.get("messageId"): index for index, record in enumerate(self.records)}
        for messages in (self.fail_messages, self.success_messages):
            messages.sort(key=lambda message: position.get(getattr(message, "message_id", None), len(position)))
        return [future.result() for future in futures]


def _batch_handler(
    app: Squall,
    step: Step,
    metric_names: Mapping[Any, str],
    concurrency: Callable[[dict[str, Any]], int] = lambda _event: 1,
    setup: Callable[[], None] | None = None,
) -> Handler:
    """A Lambda handler running ``step`` per record: partial batch responses, Logger, Metrics and Tracer.
    ``concurrency`` says how many records of an event's batch run at once; ``setup`` prepares each thread."""
    sequential = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    fifo = FifoBatchProcessor(releaser(app))  # a FIFO queue's batches, in order (squall.worker.fifo)
    concurrent: dict[int, ConcurrentBatchProcessor] = {}
    counting = threading.Lock()  # records of a concurrent batch end in several threads
    # The deployment's name, as the stack sets POWERTOOLS_SERVICE_NAME (an explicit service wins over it): the
    # metrics' service dimension the stack's alarms, its dashboard and `squall ui` read; two stages stay apart.
    service = config.deployment_name(app.name, app.stage)
    logger = Logger(service=service)
    metrics = Metrics(namespace=METRICS_NAMESPACE, service=service)
    # Only when tracing is on: constructing a Tracer imports the X-Ray SDK even when told it is disabled.
    tracer = Tracer(service=service) if tracing_enabled() else None
    invocation: dict[str, Any] = {}
    # Outcomes are counted per invocation and published once each: one EMF value per outcome instead of
    # one per record (the same Sum in CloudWatch, a fraction of the CPU and of the log bytes).
    outcomes: Counter[Any] = Counter()
    errors: Counter[str] = Counter()

    def record_handler(record: SQSRecord) -> None:
        context = invocation.get("context")
        remaining = context.get_remaining_time_in_millis() / 1000 if context is not None else 900.0
        try:
            outcome = step(delivery_from_record(record), remaining, invocation.get("budget"))
        except Exception:
            # An AWS error (after the SDK's own retries): the message stays and comes back after its
            # visibility timeout. Count it, so that such a batch still publishes a metric.
            with counting:
                errors[ERROR_METRIC] += 1
            raise
        with counting:
            outcomes[outcome] += 1
        if outcome is Outcome.KEYS_UNAVAILABLE:
            logger.error("signing keys cannot be read: messages are kept on the queue until they can")
        if outcome.keeps_message:
            raise MessageKept(outcome)

    @metrics.log_metrics
    @logger.inject_lambda_context
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        invocation["context"] = context
        invocation["budget"] = context.get_remaining_time_in_millis() / 1000 if context is not None else None
        workers = concurrency(event)
        processor = sequential
        if workers > 1:
            if workers not in concurrent:
                concurrent[workers] = ConcurrentBatchProcessor(workers, setup)
            processor = concurrent[workers]
        if is_fifo_event(event):  # one record after another: a message group keeps its order
            processor = fifo
        try:
            return dict(
                process_partial_response(
                    event=event,
                    record_handler=record_handler,
                    processor=processor,
                    context=context,
                )
            )
        finally:
            for outcome, count in outcomes.items():
                metrics.add_metric(name=metric_names[outcome], unit=MetricUnit.Count, value=count)
            for name, count in errors.items():
                metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
            outcomes.clear()
            errors.clear()
            invocation.clear()

    traced = handler if tracer is None else tracer.capture_lambda_handler(handler, capture_response=False)

    def invoke(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            return traced(event, context)  # type: ignore[no-any-return]
        finally:
            # Powertools 3.37 flushes nothing and clears nothing while POWERTOOLS_METRICS_DISABLED is set
            # (the local runtime), so its metric set would grow and print every 100 values: drop them.
            if metrics.metric_set:
                metrics.clear_metrics()

    return invoke


def tracing_enabled() -> bool:
    """Whether the function traces: Powertools' ``POWERTOOLS_TRACE_DISABLED`` unset or false, as the stack deploys
    it unless told ``squall:tracing=false`` (docs/deploy.md). The local runtime turns it off."""
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() not in _TRUTHY


#: What Powertools reads as true in its boolean settings (aws_lambda_powertools.shared.functions.strtobool).
_TRUTHY = frozenset({"1", "y", "yes", "t", "true", "on"})


def make_handler(app: Squall, executor: Executor | None = None) -> Handler:
    """Build the worker's Lambda handler for ``app`` (around ``executor``, to look inside it in tests).

    The records of a concurrent batch run in threads that each have an executor of their own (an executor holds
    the delivery in hand), sharing ``executor``'s durations so the deadline rule learns from every run.
    """
    executor = executor or Executor(app)
    own = threading.local()

    def setup() -> None:
        own.executor = Executor(app, durations=executor.durations)

    def step(delivery: Delivery, remaining: float, budget: float | None) -> Outcome:
        here: Executor = getattr(own, "executor", executor)
        return here.process(delivery, remaining, budget_seconds=budget)

    return _batch_handler(app, step, OUTCOME_METRICS, concurrency=batch_concurrency(app), setup=setup)


def batch_concurrency(app: Squall) -> Callable[[dict[str, Any]], int]:
    """How many records of an event's batch run at once: its queue's ``batch_concurrency``, found from the
    records' queue ARN (one event source, one queue, per event); 1 for a FIFO queue, whose order it keeps."""
    known: dict[str, int] = {}

    def of(event: dict[str, Any]) -> int:
        records = event.get("Records") or []
        if len(records) < 2:
            return 1
        arn = str(records[0].get("eventSourceARN") or "")
        if arn not in known:
            name = app.settings.queue_name_for_arn(arn)
            declared = None if name is None else app.queues.get(name.partition(config.LANE_SEPARATOR)[0])
            fifo = arn.endswith(".fifo")  # SQS requires the suffix of every FIFO queue's name
            known[arn] = 1 if declared is None or fifo else declared.batch_concurrency
        return known[arn]

    return of


def make_reconciler_handler(app: Squall) -> Handler:
    """Build the reconciler's Lambda handler for ``app`` (its event source is the intake queue)."""
    reconciler = Reconciler(app)

    def step(delivery: Delivery, remaining: float, budget: float | None) -> Reconciled:
        return reconciler.process(delivery)

    return _batch_handler(app, step, RECONCILED_METRICS)


def handler_from_env() -> Handler:
    """The deployed worker's handler: the app named by ``SQUALL_APP``, settings from ``SQUALL_CONFIG``."""
    return make_handler(load_app(config.app_spec_from_env()))


def reconciler_handler_from_env() -> Handler:
    """The deployed reconciler's handler, configured like the worker's."""
    return make_reconciler_handler(load_app(config.app_spec_from_env()))
