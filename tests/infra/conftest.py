"""Synthesize the stack once per test session, offline, and hand the templates to the infra tests.

Two synths serve every module: ``shop`` (cdk.json's context, i.e. what ``cdk deploy`` deploys) and
``tuned`` (every optional context key set, plus one declared schedule). Both run the cdk-nag packs,
exactly as ``infra/cdkw synth`` does.
"""

from __future__ import annotations

import pytest
from cdk_support import TUNED_CONTEXT, TUNED_SCHEDULE, Synth, synthesize

from squall.cdk.stack import SquallStack


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The default deployment: the example shop with cdk.json's context."""
    return synthesize(tmp_path_factory.mktemp("cdk-shop"), {})


@pytest.fixture(scope="session")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """The shop with every optional context key set, and one schedule declared."""

    def add_schedule(stack: SquallStack) -> None:
        stack.service.scheduler.add_schedule(TUNED_SCHEDULE)

    return synthesize(tmp_path_factory.mktemp("cdk-tuned"), TUNED_CONTEXT, add_schedule)


@pytest.fixture(params=["shop", "tuned"])
def synth(request: pytest.FixtureRequest) -> Synth:
    """Each synthesized deployment in turn, for properties that must hold for any configuration."""
    value: Synth = request.getfixturevalue(request.param)
    return value
