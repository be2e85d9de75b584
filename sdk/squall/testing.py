"""pytest plugin: fixtures for testing Squall apps (registered through the ``pytest11`` entry point).

Define a ``squall_app`` fixture returning your app; then a test reads::

    def test_charge_succeeds(squall_runtime):
        r = charge.delay("o-1", 100)
        squall_runtime.drain()
        assert r.get(timeout=0) == {"charged": 100}
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from squall.app import Squall
    from squall.local import Runtime


@pytest.fixture
def squall_runtime(squall_app: Squall) -> Iterator[Runtime]:
    """The app provisioned on moto in process, with a fake clock; torn down after the test."""
    from squall import local

    with local.run(squall_app) as runtime:
        yield runtime
