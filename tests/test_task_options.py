"""Task options, declared once: the core ones typed by TaskOptionArgs, an extension's declared by the extension.

Both are validated in one place (squall.tasks.options.task_options) when ``@app.task(...)`` is applied; mypy's
half of the story is tests/typing/check_task_options.py.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from typing import Any

import pytest

from squall import Squall, TaskDefinitionError, local
from squall.tasks.extensions import Call, Extension
from squall.tasks.options import CORE_OPTIONS, TaskOptionArgs, TaskOptions


def quota_problem(value: object) -> str | None:
    """A rate like '10/s' or '5/m'."""
    if isinstance(value, str) and re.fullmatch(r"[1-9][0-9]*/[sm]", value):
        return None
    return f"must be a rate like '10/s' or '5/m', got {value!r}"


class RateLimit(Extension):
    """Declares the task option ``quota`` and records what each run's task asked for."""

    name = "rate-limit"
    task_options = {"quota": quota_problem}

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []

    def around_call(self, call: Call, proceed: Callable[[], Any]) -> Any:
        self.seen.append((call.task.name, call.task.options.extra.get("quota")))
        return proceed()


class Tracing(Extension):
    """Declares a task option that takes any JSON value."""

    name = "tracing"
    task_options = {"trace_tags": lambda value: None}


@pytest.fixture
def limited() -> Squall:
    return Squall("options", extensions=[RateLimit(), Tracing()])


def test_every_option_argument_is_a_field_of_task_options_with_its_default() -> None:
    # Given the typed arguments of @app.task and the frozen options a task keeps
    fields = {f.name: f for f in dataclasses.fields(TaskOptions)}

    # Then every argument is a field (plus bind, the decorator's own keyword), so neither can drift from the other
    assert set(TaskOptionArgs.__annotations__) <= set(fields)
    assert set(fields) - set(CORE_OPTIONS) == {"bind"}


def test_a_bare_task_keeps_the_defaults_of_task_options(app: Squall) -> None:
    task = app.task(lambda: None)

    assert task.options == TaskOptions(name=task.name, queue=app.default_queue)
    assert dict(task.options.extra) == {}


def test_an_unknown_option_is_refused_naming_it_and_the_options_that_exist(app: Squall) -> None:
    with pytest.raises(TaskDefinitionError) as caught:
        app.task(name="t", max_retry=3)(lambda: None)  # type: ignore[call-overload]

    message = str(caught.value)
    assert "task 't': @app.task takes no option 'max_retry'" in message
    assert "its options are bind, name, queue, max_retries," in message
    assert "\n" not in message


def test_an_extension_option_passed_as_a_keyword_is_refused_with_where_it_goes(limited: Squall) -> None:
    with pytest.raises(TaskDefinitionError, match=r"'quota' is an extension's option: pass it as extra="):
        limited.task(name="t", quota="10/s")(lambda: None)  # type: ignore[call-overload]


def test_an_extension_option_is_kept_on_the_task_options_read_only(limited: Squall) -> None:
    @limited.task(name="t", max_retries=5, extra={"quota": "10/s", "trace_tags": {"team": ["a", 1]}})
    def t() -> None: ...

    assert t.options.max_retries == 5
    assert t.options.extra == {"quota": "10/s", "trace_tags": {"team": ["a", 1]}}
    with pytest.raises(TypeError):
        t.options.extra["quota"] = "1/s"  # type: ignore[index]


def test_an_option_no_extension_declares_is_refused_naming_the_declared_ones(limited: Squall) -> None:
    with pytest.raises(TaskDefinitionError) as caught:
        limited.task(name="t", extra={"quota_": "10/s"})(lambda: None)

    message = str(caught.value)
    assert "no extension of this app declares task option 'quota_'; declared: quota, trace_tags" in message


def test_an_extension_option_is_refused_on_an_app_without_that_extension(app: Squall) -> None:
    with pytest.raises(TaskDefinitionError, match=r"declares task option 'quota'; declared: none"):
        app.task(name="t", extra={"quota": "10/s"})(lambda: None)


def test_an_extension_option_its_check_refuses_is_refused_with_the_problem(limited: Squall) -> None:
    with pytest.raises(TaskDefinitionError) as caught:
        limited.task(name="t", extra={"quota": "fast"})(lambda: None)

    assert str(caught.value) == "task 't': option 'quota' must be a rate like '10/s' or '5/m', got 'fast'"
    assert "t" not in limited.tasks


@pytest.mark.parametrize("value", [{1, 2}, float("nan"), {1: "a"}, object()], ids=["set", "nan", "int-key", "object"])
def test_an_extension_option_that_is_not_plain_json_is_refused(limited: Squall, value: object) -> None:
    with pytest.raises(TaskDefinitionError, match=r"option 'trace_tags' must be plain JSON data"):
        limited.task(name="t", extra={"trace_tags": value})(lambda: None)


def test_extra_that_is_not_a_mapping_is_refused(limited: Squall) -> None:
    with pytest.raises(TaskDefinitionError, match=r"extra must map extension option names to values"):
        limited.task(name="t", extra=["quota"])(lambda: None)  # type: ignore[arg-type]


def test_two_extensions_declaring_one_option_are_refused_naming_both() -> None:
    class Other(Extension):
        name = "other"
        task_options = {"quota": quota_problem}

    app = Squall("options", extensions=[RateLimit(), Other()])

    with pytest.raises(TaskDefinitionError, match=r"extensions 'rate-limit' and 'other' both declare task option"):
        app.task(lambda: None)


@pytest.mark.parametrize(
    ("option", "problem"),
    [("max_retries", "a core option of @app.task"), ("Rate-Limit", "name it with 1-64 of a-z, 0-9 and _")],
    ids=["core-name", "bad-name"],
)
def test_an_extension_declaring_an_unusable_option_name_is_refused(option: str, problem: str) -> None:
    class Clashing(Extension):
        name = "clashing"
        task_options = {option: quota_problem}

    with pytest.raises(TaskDefinitionError, match=problem):
        Squall("options", extensions=[Clashing()]).task(lambda: None)


def test_the_core_validations_still_name_their_option(limited: Squall) -> None:
    with pytest.raises(TaskDefinitionError, match=r"max_retries must be an int"):
        limited.task(name="t", max_retries=-1, extra={"quota": "10/s"})(lambda: None)
    with pytest.raises(TaskDefinitionError, match=r"names queue 'nope', which app 'options' does not declare"):
        limited.task(name="t", queue="nope")(lambda: None)


def test_the_worker_extension_reads_the_option_the_task_declared() -> None:
    # Given an extension that reads its option, and two tasks: one that sets it, one that does not
    limiter = RateLimit()
    app = Squall("options", extensions=[limiter])

    @app.task(name="limited", extra={"quota": "5/m"})
    def limited(x: int) -> int:
        return x

    @app.task(name="free")
    def free(x: int) -> int:
        return x

    # When both run on the worker
    with local.run(app) as rt:
        limited.delay(1)
        free.delay(2)
        rt.drain()

    # Then the extension saw each task's own value
    assert sorted(limiter.seen) == [("free", None), ("limited", "5/m")]
