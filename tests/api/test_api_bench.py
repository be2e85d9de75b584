"""bench.api_requests runs at a tiny size and reports every path (no thresholds: timings live in bench/)."""

from __future__ import annotations

from bench import api_requests


def test_the_api_benchmark_times_every_path_and_prices_both_auth_modes() -> None:
    times = api_requests.measure(3)
    (table,) = api_requests.tables(times)

    assert [row[0] for row in table.rows] == [
        "POST /v1/tasks (API handler)",
        "task.delay() (SDK, same task)",
        "GET /v1/tasks/{id} (API handler)",
    ]
    assert times.api_post > 0
    assert times.sdk_delay > 0
    assert "with IAM auth" in table.notes[0]
