"""Fixtures for the example app's tests: tell squall's pytest plugin which app to run, keep real AWS away."""

from __future__ import annotations

from pathlib import Path

import pytest

from examples.shop.tasks import app
from squall import Squall


@pytest.fixture(autouse=True)
def no_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No profile, config file or endpoint from the machine running the tests (the runtime brings dummy keys)."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "SQUALL_CONFIG", "SQUALL_CONFIG_PARAMETER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def squall_app() -> Squall:
    """The app under test: squall_runtime provisions it on moto, in process, with a fake clock."""
    return app
