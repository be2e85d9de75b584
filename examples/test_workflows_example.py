"""The worked example of docs/workflows.md, run for real on the local runtime, and kept in step with the page."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from examples import workflows
from examples.workflows import app, charge_or_page, main, merge_report, monthly_report, onboard
from squall import AsyncResult, GroupResult, State, TaskFailed, local
from squall.local import Runtime

DOC = Path(__file__).resolve().parent.parent / "docs" / "workflows.md"
#: The first line of every python block of docs/workflows.md taken from the example.
MARKER = "# examples/workflows.py\n"


@pytest.fixture
def rt() -> Iterator[Runtime]:
    with local.run(app) as runtime:
        yield runtime


def test_the_onboarding_chain_gives_each_step_the_result_before_it(rt: Runtime) -> None:
    result = onboard("ada@example.com")

    rt.drain()

    assert result.get(timeout=0) == "signup from web logged"  # .si: not given the welcome step's result
    steps = []
    handle = result.parent
    while handle is not None:
        steps.append(handle.get(timeout=0))
        handle = handle.parent
    assert steps == [
        "welcome mail sent for acct-ada-ws (team)",
        {"account": "acct-ada", "workspace": "acct-ada-ws", "plan": "team"},
        "acct-ada",
    ]


def test_the_report_chord_merges_every_shard_once_in_order(rt: Runtime) -> None:
    starts: Counter[str] = Counter()
    rt.on_transition(lambda task_id, state, at: starts.update([task_id] if state is State.STARTED else []))

    report = monthly_report("2026-11", shards=70)  # two counter shards of 64
    rt.drain()

    assert isinstance(report, AsyncResult)  # a chord's handle is its body's
    merged = report.get(timeout=0)
    assert merged is not None
    assert merged["shards"] == list(range(70))
    assert merged["orders"] == sum(100 + n for n in range(70))
    assert report.record is not None
    assert report.record.name == merge_report.name
    assert starts[report.id] == 1
    header = report.parent
    assert isinstance(header, GroupResult)
    restored = app.GroupResult(header.id)  # from the id alone: it carries the size
    assert (len(restored), restored.completed_count(), restored.ready(), restored.successful()) == (70, 70, True, True)
    assert [r["shard"] for r in restored.get(timeout=0)] == list(range(70))


def test_a_declined_charge_pages_oncall_with_its_id_and_a_paid_one_mails_a_receipt(rt: Runtime) -> None:
    paid = charge_or_page("o-1", 4_200)
    declined = charge_or_page("o-2", 0)

    rt.drain()

    assert paid.get(timeout=0) == "charged o-1: 4200 cents"
    assert app.AsyncResult("receipt-o-1").get(timeout=0) == "receipt mailed (charged o-1: 4200 cents)"
    assert app.AsyncResult("page-o-1").state is State.PENDING  # never sent: o-1 succeeded
    with pytest.raises(TaskFailed, match="CardDeclined"):
        declined.get(timeout=0)
    page = app.AsyncResult("page-o-2").get(timeout=0)
    assert page is not None
    assert page.startswith(f"#payments: task {declined.id} is DEAD: ")
    assert "amount 0 cannot be charged" in page
    assert app.AsyncResult("receipt-o-2").state is State.PENDING


def test_running_the_example_prints_every_outcome(capsys: pytest.CaptureFixture[str]) -> None:
    main()

    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["onboarding", "report", "charge o-1", "charge o-2"]
    assert "'shards': [0, 1, 2, 3, 4, 5, 6, 7]" in lines[1]
    assert lines[3].startswith("charge o-2: DEAD / #payments: task ")


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_page_shows_the_examples_code_verbatim() -> None:
    blocks = python_blocks(DOC.read_text(encoding="utf-8"))
    source = Path(workflows.__file__).read_text(encoding="utf-8")

    shown = [block.removeprefix(MARKER) for block in blocks if block.startswith(MARKER)]
    assert len(shown) >= 4
    for block in shown:
        assert block in source, f"this block of docs/workflows.md is not in examples/workflows.py:\n{block}"
    # Every block that defines a task is one of them: the page shows no task the example does not run.
    assert [b for b in blocks if not b.startswith(MARKER) and "@app.task" in b] == []


def test_every_task_of_the_example_is_on_the_page() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in app.tasks:
        assert f"def {name.rsplit('.', 1)[-1]}(" in text, name
