"""The worker's argument check: a shape that fitted is remembered, one that does not is refused every time."""

from __future__ import annotations

import pytest

from squall import Squall
from squall.errors import InvalidArguments


def test_a_remembered_shape_still_refuses_other_shapes_and_a_refused_one_is_refused_again() -> None:
    app = Squall("shapes")

    @app.task
    def add(a: int, b: int, *, scale: int = 1) -> int:
        return (a + b) * scale

    # Given a shape that fits, checked twice (the second time from memory)
    add.check_arguments((1, 2), {"scale": 3})
    add.check_arguments((4, 5), {"scale": 6})

    # Then shapes that do not fit are refused, each time they come, with the signature in the reason
    for _ in range(2):
        with pytest.raises(
            InvalidArguments, match=r"arguments do not fit .*add\(a: 'int', b: 'int'.*missing a required argument: 'b'"
        ):
            add.check_arguments((1,), {"scale": 3})
        with pytest.raises(InvalidArguments):
            add.check_arguments((1, 2), {"scael": 3})
        with pytest.raises(InvalidArguments):
            add.check_arguments((1, 2, 3), {})
