"""What the REST API adds per request on AWS: API Gateway, the API function, and its token secret's reads.

A request through ``squall:api`` is one API Gateway HTTP API request (a body under 512 KB is one metered
request), one Lambda invocation of the API function and its billed duration (``duration_ms``, an assumption:
the handler's own time, which ``python -m bench`` measures, plus the SQS or DynamoDB call it makes), an access log
line (``ACCESS_LOG_LINE_BYTES``, an estimate of one line of :data:`squall.cdk.constructs.api.ACCESS_LOG_FIELDS`),
a sent task's PENDING record (:data:`PENDING_WRITE_UNITS`), and, in token mode, a share of the secret reads:
each warm function instance reads the secret once per cache period (:data:`SECRET_CACHE_SECONDS`), however many
requests it serves meanwhile. What the request then does (the SendMessage of a sent task, the task itself) is
the task's own cost (:mod:`squall.deploy.cost`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from squall.deploy import cost

#: The API function's memory, in MB (the stack's squall.cdk.constructs.api uses this figure).
API_MEMORY_MB = 512
#: Billed milliseconds per API request by default (an assumption: a few ms of handler, one AWS call of ~10-20 ms).
DEFAULT_API_MS = 25.0
#: Bytes of one access log line (an estimate: the JSON object of ACCESS_LOG_FIELDS with typical values).
ACCESS_LOG_LINE_BYTES = 450
#: DynamoDB write units a sending request adds (``POST /v1/tasks``): the API records the task PENDING after sending
#: it (squall.api.sending.note_pending, one UpdateItem of an item under 1 KB), so that a GET right after finds it and
#: a retried POST with the same Idempotency-Key answers the task's current state. ``task.delay()`` writes none.
PENDING_WRITE_UNITS = 1
#: The token cache's lifetime, in seconds: squall.api.auth.SECRET_MAX_AGE_SECONDS (a layer above; a test checks).
SECRET_CACHE_SECONDS = 300


@dataclass(frozen=True, slots=True)
class ApiUsage:
    """A month of API requests, and how many function instances are warm on average."""

    requests_per_month: float = 1_000_000
    duration_ms: float = DEFAULT_API_MS
    arch: cost.Arch = "arm64"
    #: Function instances kept warm on average (each reads the secret once per cache period).
    warm_instances: float = 1.0
    #: ``token`` reads a secret; ``iam`` reads none.
    auth: str = "token"
    #: Share of the requests that send a task (and write its PENDING record); the rest are reads.
    sending_fraction: float = 1.0

    def __post_init__(self) -> None:
        if self.requests_per_month <= 0:
            raise ValueError("requests_per_month must be positive")
        if self.duration_ms < 0 or self.warm_instances < 0:
            raise ValueError("duration_ms and warm_instances must not be negative")
        if not 0 <= self.sending_fraction <= 1:
            raise ValueError(f"sending_fraction must be between 0 and 1, got {self.sending_fraction}")
        if self.auth not in ("token", "iam"):
            raise ValueError(f"auth must be token or iam, got {self.auth!r}")


@dataclass(frozen=True, slots=True)
class ApiEstimate:
    """Dollars per million API requests by line item, and per month including the secret's storage."""

    per_million: dict[str, float]
    secret_reads_per_month: float
    per_month: float
    as_of: str

    @property
    def total_per_million(self) -> float:
        """Dollars per million requests, every line item together."""
        return sum(self.per_million.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``squall cost --json``)."""
        return {**asdict(self), "total_per_million": self.total_per_million}


def estimate(usage: ApiUsage, prices: cost.PriceTable | None = None) -> ApiEstimate:
    """The API's added cost for ``usage`` (list prices, no free tier)."""
    p = prices or cost.load_prices()
    million = 1_000_000
    gb_seconds = API_MEMORY_MB / 1024 * usage.duration_ms / 1000
    reads = usage.warm_instances * cost.SECONDS_PER_MONTH / SECRET_CACHE_SECONDS if usage.auth == "token" else 0.0
    # Each instance reads at least once a period, and never more than once per request.
    reads = min(reads, usage.requests_per_month)
    per_million = {
        "api_gateway": million * p["apigateway_http_request"].each,
        "lambda_requests": million * p["lambda_request"].each,
        "lambda_duration": million * gb_seconds * p[f"lambda_gb_second_{usage.arch}"].each,
        "access_logs": million * ACCESS_LOG_LINE_BYTES / cost.BYTES_PER_GB * p["cloudwatch_logs_ingested_gb"].each,
        "pending_records": (
            million * usage.sending_fraction * PENDING_WRITE_UNITS * p["dynamodb_write_request_unit"].each
        ),
        "secret_reads": reads / usage.requests_per_month * million * p["secretsmanager_api_call"].each,
    }
    storage = p["secretsmanager_secret_month"].each if usage.auth == "token" else 0.0
    per_month = sum(per_million.values()) * usage.requests_per_month / million + storage
    return ApiEstimate(per_million=per_million, secret_reads_per_month=reads, per_month=per_month, as_of=p.as_of)


def render(result: ApiEstimate, usage: ApiUsage) -> str:
    """The estimate as ``squall cost --api-requests`` prints it."""
    lines = [
        f"REST API on AWS ({usage.auth} auth, {usage.duration_ms:g} ms per request at {API_MEMORY_MB} MB, "
        f"{usage.warm_instances:g} warm instance(s); prices as of {result.as_of})",
        "  added per million requests:",
        *(f"    {name:<16} ${usd:,.4f}" for name, usd in result.per_million.items()),
        f"    {'total':<16} ${result.total_per_million:,.4f}",
        f"  per month for {usage.requests_per_month:,.0f} requests: ${result.per_month:,.2f}"
        + (" (the token secret's $0.40 included)" if usage.auth == "token" else ""),
    ]
    return "\n".join(lines)
