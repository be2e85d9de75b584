"""squall's pytest plugin, as a user's suite meets it: the app named in the ini file, or not at all."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

TASKS = """
from squall import Squall

app = Squall("plugin-demo")


@app.task(max_retries=0)
def divide(a: int, b: int) -> float:
    return a / b
"""

TESTS = """
from tasks import divide


def test_a_division_runs(squall_runtime):
    result = divide.delay(6, 3)
    squall_runtime.drain()
    assert result.get(timeout=0) == 2.0


def test_a_division_by_zero_is_dead_lettered(squall_runtime, squall_dead_letters):
    result = divide.delay(1, 0)
    squall_runtime.drain()
    [letter] = squall_dead_letters()
    assert letter.task_id == result.id
    assert "ZeroDivisionError" in letter.reason
"""


def test_the_app_can_be_named_in_the_ini_file(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nsquall_app = tasks:app\n")
    pytester.makepyfile(tasks=TASKS, test_divide=TESTS)
    pytester.syspathinsert()

    outcome = pytester.runpytest("-p", "no:cacheprovider")

    outcome.assert_outcomes(passed=2)


def test_without_an_app_the_fixtures_say_how_to_name_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(tasks=TASKS, test_divide=TESTS)
    pytester.syspathinsert()

    outcome = pytester.runpytest("-p", "no:cacheprovider")

    outcome.assert_outcomes(errors=2)
    outcome.stdout.fnmatch_lines(["*define a `squall_app` fixture returning it, or set*"])
