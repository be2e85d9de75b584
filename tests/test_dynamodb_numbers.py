"""DynamoDB number values: the fast fixed-point text of times is exactly the rounded repr it replaces."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from squall.state.expressions import num


@settings(max_examples=2000)
@given(st.floats(min_value=0.0, max_value=1e12, allow_nan=False) | st.floats(1.6e9, 8.6e9))
def test_a_float_is_written_as_its_value_rounded_to_microseconds(value: float) -> None:
    # When a float becomes a DynamoDB number, whichever way it is formatted
    # Then the text is that of round(value, 6)'s shortest repr
    assert num(value) == {"N": repr(round(value, 6))}


def test_ints_are_written_exactly() -> None:
    assert num(0) == {"N": "0"}
    assert num(10**30) == {"N": "1" + "0" * 30}
