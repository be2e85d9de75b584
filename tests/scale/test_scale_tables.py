"""The scale section of the bench renders its tables and its drain chart from the model."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench import scale_tables

from squall import limits


def test_every_scenario_gets_a_row_per_burst_size() -> None:
    drains = scale_tables.run((1_000, 2_000))

    result = scale_tables.tables(drains)[0]

    assert len(result.rows) == 2 * len(scale_tables.SCENARIOS)
    assert result.rows[0][0].startswith("1,000: ")


def test_every_batching_setting_of_the_latency_table_is_one_the_event_source_accepts() -> None:
    for batch, window in scale_tables.BATCHING:
        assert batch <= limits.ESM_MAX_BATCH_SIZE_WITHOUT_WINDOW or window >= 1, (batch, window)


def test_the_latency_table_adds_the_wait_behind_a_batch_of_sequential_records() -> None:
    table = scale_tables.latency_table(record_ms=20.0)

    assert table.row("batch 10, window 0 s")[2] == "180 ms"
    assert table.row("batch 1, window 0 s")[2] == "0 ms"


def test_the_drain_chart_is_written_as_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    drains = scale_tables.run((1_000,))

    written = scale_tables.chart(drains, tmp_path / "drain.png")

    assert written is not None
    assert written.read_bytes().startswith(b"\x89PNG")
