"""The Lambda adapter: Powertools' BatchProcessor around :class:`~squall.worker.execution.Executor`.

``squall.functions.worker`` is this module's :func:`handler_from_env` and nothing more; the local runtime
calls :func:`make_handler` directly, so both run the same code.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

from squall import config
from squall.app import load_app
from squall.worker.execution import Delivery, Executor, Outcome
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
    )


Step = Callable[[Delivery, float, float | None], "Outcome | Reconciled"]


def _batch_handler(app: Squall, step: Step, metric_names: Mapping[Any, str]) -> Handler:
    """A Lambda handler running ``step`` per record: partial batch responses, Logger, Metrics and Tracer."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    logger = Logger(service=app.name)
    metrics = Metrics(namespace=METRICS_NAMESPACE, service=app.name)
    tracer = Tracer(service=app.name)
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
            errors[ERROR_METRIC] += 1
            raise
        outcomes[outcome] += 1
        if outcome is Outcome.KEYS_UNAVAILABLE:
            logger.error("signing keys cannot be read: messages are kept on the queue until they can")
        if outcome.keeps_message:
            raise MessageKept(outcome)

    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    @logger.inject_lambda_context
    def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        invocation["context"] = context
        invocation["budget"] = context.get_remaining_time_in_millis() / 1000 if context is not None else None
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

    def invoke(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            return handler(event, context)  # type: ignore[no-any-return]
        finally:
            # Powertools 3.37 flushes nothing and clears nothing while POWERTOOLS_METRICS_DISABLED is set
            # (the local runtime), so its metric set would grow and print every 100 values: drop them.
            if metrics.metric_set:
                metrics.clear_metrics()

    return invoke


def make_handler(app: Squall, executor: Executor | None = None) -> Handler:
    """Build the worker's Lambda handler for ``app`` (around ``executor``, to look inside it in tests)."""
    executor = executor or Executor(app)

    def step(delivery: Delivery, remaining: float, budget: float | None) -> Outcome:
        return executor.process(delivery, remaining, budget_seconds=budget)

    return _batch_handler(app, step, OUTCOME_METRICS)


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
