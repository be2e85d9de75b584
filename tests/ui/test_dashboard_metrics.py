"""The overview's outcome charts for a deployed app: read from the worker's CloudWatch metrics (moto), or from
the index with ``index_success``; a refusal is a one-line note on a page that still renders."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber
from tests.ui.conftest import make_app

from squall import Squall, clock, config, local
from squall.ui import create_app, data, metrics
from squall.ui.charts import Chart
from squall.worker.metrics import METRICS_NAMESPACE

#: Where the fake clock starts: a fixed past time, 40 s past a minute (CloudWatch rounds StartTime down to the
#: minute). moto keeps each datum's own timestamp and GetMetricData filters and buckets by it, from the StartTime
#: asked, so the fake clock is all these tests need: no real time passes.
START = 1_780_000_000.0
HOUR = data.CHART_BUCKET_SECONDS


def values(chart: Chart) -> list[float]:
    """A chart's values, read back from its bars' tooltips (``label: value unit``)."""
    return [float(bar.title.split(": ", 1)[1].split()[0]) for bar in chart.bars]


def put(app: Squall, name: str, value: float, at: float, *, service: str | None = None) -> None:
    """One datum of a worker metric, as the worker's EMF would publish it, at ``at`` on the fake clock."""
    app.client("cloudwatch").put_metric_data(
        Namespace=METRICS_NAMESPACE,
        MetricData=[
            {
                "MetricName": name,
                "Dimensions": [{"Name": metrics.SERVICE_DIMENSION, "Value": service or app.name}],
                "Timestamp": datetime.fromtimestamp(at, UTC),
                "Value": value,
                "Unit": "Count",
            }
        ],
    )


@pytest.fixture
def deployed() -> Iterator[Squall]:
    """An app on the local runtime's AWS, seen as ``squall ui`` sees a deployed one: no record of changes."""
    app = make_app()
    with local.run(app, start=START):
        yield app


def window_start() -> float:
    return clock.now() - data.CHART_BUCKETS * HOUR


def test_succeeded_and_failed_per_hour_are_the_workers_cloudwatch_sums(deployed: Squall) -> None:
    # Given: outcome metrics of this app in hour 20 and hour 22 of the window, and another app's in hour 20
    start = window_start()
    put(deployed, "TaskSucceeded", 3, start + 20 * HOUR + 60)
    put(deployed, "TaskSucceeded", 4, start + 20 * HOUR + 1_800)
    put(deployed, "UntrackedTaskSucceeded", 1, start + 20 * HOUR + 900)
    put(deployed, "TaskRetried", 2, start + 22 * HOUR + 60)
    put(deployed, "TaskDead", 1, start + 22 * HOUR + 120)
    put(deployed, "MovedTaskDead", 1, start + 22 * HOUR + 180)
    put(deployed, "TaskSucceeded", 2, start + 22 * HOUR + 240)
    put(deployed, "TaskSucceeded", 100, start + 20 * HOUR + 60, service="another-app")
    put(deployed, "TaskBusy", 50, start + 20 * HOUR + 60)
    put(deployed, "TaskSucceeded", 1, start + 30)  # the first hour and the last stay apart
    put(deployed, "TaskSucceeded", 1, start + 23 * HOUR + 60)

    # When
    succeeded, failed, rate, *latency = data.charts(deployed, None)

    # Then: each hour's sums, this app's only, and the failure share from them
    assert values(succeeded)[20] == 8
    assert values(succeeded)[22] == 2
    assert values(succeeded)[0] == values(succeeded)[23] == 1
    assert sum(values(succeeded)) == 12
    assert values(failed)[22] == 4
    assert sum(values(failed)) == 4
    assert values(rate)[20] == 0
    assert values(rate)[22] == pytest.approx(100 * 4 / 6)
    assert succeeded.note == failed.note == rate.note == "from the worker's CloudWatch metrics"
    assert len(latency) == 2
    assert all(chart.note == "" for chart in latency)


def test_a_staged_deployment_reads_its_deployment_names_metrics() -> None:
    # Given: a staged app, and the same metric under the app's bare name and its deployment's name
    app = Squall(f"ui-{uuid.uuid4().hex[:8]}", stage="prod")
    with local.run(app, start=START):
        start = window_start()
        put(app, "TaskSucceeded", 5, start + 3 * HOUR, service=config.deployment_name(app.name, "prod"))
        put(app, "TaskSucceeded", 7, start + 3 * HOUR)

        # When
        outcomes = metrics.hourly_outcomes(app, start, data.CHART_BUCKETS, HOUR)

        # Then
        assert outcomes.succeeded[3] == 5
        assert outcomes.note is None


def test_no_metrics_in_the_window_is_said_in_a_note(deployed: Squall) -> None:
    # Given: a datum from before the window only
    put(deployed, "TaskSucceeded", 9, window_start() - HOUR)

    # When
    succeeded, failed, _rate, *_ = data.charts(deployed, None)

    # Then
    assert sum(values(succeeded)) == sum(values(failed)) == 0
    assert succeeded.note.startswith("no worker metrics in CloudWatch")
    assert f"service={deployed.name}" in succeeded.note


def test_cloudwatch_refusing_is_a_one_line_note_and_the_overview_still_renders(deployed: Squall) -> None:
    # Given: CloudWatch answers AccessDenied
    stubber = Stubber(deployed.client("cloudwatch"))
    stubber.add_client_error("get_metric_data", service_error_code="AccessDenied", http_status_code=403)
    web = create_app(deployed)
    web.testing = True

    # When
    with stubber:
        response = web.test_client().get("/")

    # Then
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    assert page.count("<svg") == 5
    note = "CloudWatch refused GetMetricData (AccessDenied): grant cloudwatch:GetMetricData on &#39;*&#39;"
    assert page.count(note) == 3
    assert "Traceback" not in page
    stubber.assert_no_pending_responses()


def test_an_index_success_app_counts_from_its_index_and_never_calls_cloudwatch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given: an app indexing its successes, with one task succeeded, and CloudWatch calls recorded
    app = Squall(f"ui-{uuid.uuid4().hex[:8]}", index_success=True)

    @app.task(name="ui.add")
    def add(a: int, b: int) -> int:
        return a + b

    asked: list[str] = []
    client = app.client

    def recording(service: str) -> Any:
        asked.append(service)
        return client(service)

    monkeypatch.setattr(app, "client", recording)
    with local.run(app, start=START) as rt:
        add.delay(1, 2)
        rt.drain()

        # When
        succeeded, _failed, _rate, *_ = data.charts(app, None)

        # Then
        assert sum(values(succeeded)) == 1
        assert values(succeeded)[-1] == 1
        assert succeeded.note == ""
        assert "cloudwatch" not in asked


def test_points_at_cloudwatchs_minute_rounded_start_fall_in_their_own_hour(deployed: Squall) -> None:
    # Given: CloudWatch's answer as it rounds StartTime down to the minute: hour k's point at that minute + k h
    start = window_start()
    first = start - start % 60
    assert first < start  # the fixture's clock is 40 s past a minute
    stubber = Stubber(deployed.client("cloudwatch"))
    points = [datetime.fromtimestamp(first + k * HOUR, UTC) for k in (0, 1, 23)]
    answer = {"MetricDataResults": [{"Id": "m0", "Timestamps": points, "Values": [1.0, 2.0, 3.0]}]}
    stubber.add_response("get_metric_data", answer)

    # When
    with stubber:
        outcomes = metrics.hourly_outcomes(deployed, start, data.CHART_BUCKETS, HOUR)

    # Then
    assert (outcomes.succeeded[0], outcomes.succeeded[1], outcomes.succeeded[23]) == (1, 2, 3)
    assert sum(outcomes.succeeded) == 6
