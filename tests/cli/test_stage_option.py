"""``squall --stage S`` operates that stage of the app: its settings are resolved for the stage named."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from squall.cli import AppRef
from squall.errors import ConfigurationError


@pytest.fixture
def app_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    (tmp_path / "stagedcli_tasks.py").write_text("from squall import Squall\napp = Squall('stagedcli')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("SQUALL_STAGE", raising=False)
    yield "stagedcli_tasks:app"
    sys.modules.pop("stagedcli_tasks", None)


def test_the_stage_option_sets_the_apps_stage_before_its_settings_are_read(app_module: str) -> None:
    assert AppRef(app_module).get().stage is None
    sys.modules.pop("stagedcli_tasks")
    assert AppRef(app_module, "prod").get().stage == "prod"


def test_a_bad_stage_is_refused_in_one_line(app_module: str) -> None:
    with pytest.raises(ConfigurationError, match="stage 'Prod-1' cannot name AWS resources") as caught:
        AppRef(app_module, "Prod-1").get()
    assert "\n" not in str(caught.value)
