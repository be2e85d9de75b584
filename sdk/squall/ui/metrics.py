"""The overview's outcome counts for a deployed app, from the worker's own CloudWatch metrics.

A deployed app's listing index holds no SUCCESS entry unless ``index_success=True``, so the index cannot count
successes. The worker already counts every outcome into CloudWatch (:mod:`squall.worker.metrics`, published as
embedded metric format); one GetMetricData call reads them back as hourly sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from squall import config
from squall.worker.delivery import Outcome
from squall.worker.metrics import METRICS_NAMESPACE, OUTCOME_METRICS, RECONCILED_METRICS, SERVICE_DIMENSION
from squall.worker.reconciler import Reconciled

if TYPE_CHECKING:
    from squall.app import Squall

__all__ = ["FAILED_METRICS", "SERVICE_DIMENSION", "SUCCEEDED_METRICS", "Outcomes", "hourly_outcomes"]

#: Metrics counting a task that ran and returned: tracked (SUCCESS recorded) or ``track=False``.
SUCCEEDED_METRICS = (OUTCOME_METRICS[Outcome.SUCCEEDED], OUTCOME_METRICS[Outcome.UNTRACKED_DONE])
#: Metrics counting a failed attempt: a retry scheduled (both kinds share one metric), a task dead-lettered by the
#: worker, and one the reconciler recorded DEAD after SQS's redrive policy moved it (a crashed or timed-out worker).
FAILED_METRICS = tuple(
    dict.fromkeys(
        (
            OUTCOME_METRICS[Outcome.RETRYING],
            OUTCOME_METRICS[Outcome.RETRY_KEPT],
            OUTCOME_METRICS[Outcome.DEAD],
            RECONCILED_METRICS[Reconciled.DEAD],
        )
    )
)
#: The statistic read: each metric's values are per-invocation counts, so their Sum is the count per bucket.
STATISTIC = "Sum"
#: CloudWatch rounds a GetMetricData StartTime less than 15 days old down to the whole minute, and returns each
#: period's point at StartTime + k * Period. One call reads at most 500 metrics and 100,800 data points and is
#: billed per metric requested: 5 metrics of at most 24 hourly points stay in one page of one call
#: (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_GetMetricData.html).
START_ROUNDING_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Outcomes:
    """Succeeded and failed counts per bucket (oldest first), and why they are missing, if they are."""

    succeeded: list[float]
    failed: list[float]
    note: str | None = None


def _query_id(index: int) -> str:
    # GetMetricData ids must start with a lowercase letter and hold only letters, digits and '_'.
    return f"m{index}"


def hourly_outcomes(app: Squall, start: float, buckets: int, bucket_seconds: int) -> Outcomes:
    """Succeeded and failed tasks per bucket from ``start``, read from CloudWatch in one GetMetricData call.

    A refusal (no permission, no credentials, no endpoint) or an empty answer comes back as the note, never raised:
    the overview still renders, saying why the charts are empty.
    """
    service = config.deployment_name(app.name, app.stage)
    names = [*SUCCEEDED_METRICS, *FAILED_METRICS]
    queries = [
        {
            "Id": _query_id(index),
            "MetricStat": {
                "Metric": {
                    "Namespace": METRICS_NAMESPACE,
                    "MetricName": name,
                    "Dimensions": [{"Name": SERVICE_DIMENSION, "Value": service}],
                },
                "Period": bucket_seconds,
                "Stat": STATISTIC,
            },
            "ReturnData": True,
        }
        for index, name in enumerate(names)
    ]
    succeeded, failed = [0.0] * buckets, [0.0] * buckets
    # Rounded here as CloudWatch would round it, so that the k-th returned point is bucket k.
    first = start - start % START_ROUNDING_SECONDS
    try:
        answer: dict[str, Any] = app.client("cloudwatch").get_metric_data(
            MetricDataQueries=queries,
            StartTime=datetime.fromtimestamp(first, UTC),
            EndTime=datetime.fromtimestamp(first + buckets * bucket_seconds, UTC),
            ScanBy="TimestampAscending",
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        return Outcomes(
            succeeded,
            failed,
            f"CloudWatch refused GetMetricData ({code}): grant cloudwatch:GetMetricData on '*' (the stack's "
            "operator policy has it), or set Squall(..., index_success=True) to count from the index",
        )
    except BotoCoreError as exc:
        return Outcomes(succeeded, failed, f"CloudWatch could not be read ({exc}): check the credentials and region")
    failing = {_query_id(index) for index in range(len(SUCCEEDED_METRICS), len(names))}
    seen = False
    for result in answer.get("MetricDataResults", []):
        series = failed if result["Id"] in failing else succeeded
        for at, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=True):
            bucket = min(max(round((at.timestamp() - first) / bucket_seconds), 0), buckets - 1)
            series[bucket] += value
            seen = True
    if not seen:
        return Outcomes(
            succeeded,
            failed,
            f"no worker metrics in CloudWatch ({METRICS_NAMESPACE}, {SERVICE_DIMENSION}={service}) for these hours",
        )
    return Outcomes(succeeded, failed)
