"""``squall send --workflow`` (a chain, group or chord as JSON) and ``squall status`` of a group, run locally."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from squall import State
from squall.local import Runtime
from squall.state.result import group_size

Squall_ = Callable[..., Result]
Send = Callable[..., str]

REPORTS = [{"task": "build_report", "args": ["2026-10"]}, {"task": "build_report", "args": ["2026-11"]}]
#: A group of three charges, the second of which is declined (DEAD at once: declined cards are not retried).
CHARGES = {"group": [{"task": "charge", "args": [f"o-{i}", amount]} for i, amount in enumerate((1, 0, 3))]}


def test_a_chain_from_json_passes_each_result_on_and_prints_the_last_tasks_id(shop: Runtime, send: Send) -> None:
    doc = {
        "chain": [
            {"task": "examples.shop.tasks.build_report", "args": ["2026-10"]},
            {"task": "sync_inventory", "kwargs": {"fail_times": 0}},
        ]
    }

    last = send("--workflow", json.dumps(doc))
    shop.drain()

    assert shop.app.AsyncResult(last).get(timeout=0) == "report-2026-10.pdf synced on attempt 1"


def test_a_group_from_json_prints_its_id_and_size_and_every_member_runs(shop: Runtime, squall: Squall_) -> None:
    result = squall("send", "--workflow", json.dumps({"group": REPORTS}))
    as_json = squall("send", "--workflow", json.dumps({"group": REPORTS}), "--json")
    shop.drain()

    gid = result.stdout.strip()
    assert result.exit_code == 0
    assert group_size(gid) == 2
    assert f"a group of 2: `squall --app examples.shop.tasks:app status {gid}`" in result.stderr
    assert shop.app.GroupResult(gid).get(timeout=0) == ["report-2026-10.pdf", "report-2026-11.pdf"]
    doc = json.loads(as_json.stdout)
    assert (doc["kind"], doc["size"], doc["members"]) == ("group", 2, [f"{doc['id']}.0", f"{doc['id']}.1"])
    assert shop.app.GroupResult(doc["id"]).completed_count() == 2


def test_a_chord_from_a_file_runs_its_body_once_with_the_results_in_order(
    shop: Runtime, squall: Squall_, tmp_path: Path
) -> None:
    path = tmp_path / "chord.json"
    body = {"task": "sync_inventory", "kwargs": {"fail_times": 0}}
    path.write_text(json.dumps({"chord": {"group": REPORTS}, "body": body}), encoding="utf-8")

    result = squall("send", "--workflow", f"@{path}", "--json")
    shop.drain()

    doc = json.loads(result.stdout)
    assert doc["kind"] == "chord"
    assert group_size(doc["steps"][0]) == 2  # the header's group, then the body
    assert doc["steps"][-1] == doc["id"]
    expected = "['report-2026-10.pdf', 'report-2026-11.pdf'] synced on attempt 1"
    assert shop.app.AsyncResult(doc["id"]).get(timeout=0) == expected


def test_a_workflow_takes_the_send_commands_countdown_and_queue(shop: Runtime, send: Send) -> None:
    start = shop.clock.now()
    gid = send("--workflow", json.dumps(CHARGES), "--countdown", "120", "--queue", "reports")

    assert shop.queued("reports") == 3
    assert shop.queued("default") == 0
    shop.drain()

    records = shop.app.GroupResult(gid).records()
    assert all(r is not None and r.queue == "reports" for r in records)
    assert all(r is not None and r.started_at is not None and r.started_at - start >= 120 for r in records)


def test_status_of_a_group_shows_completed_of_total_and_a_dead_members_reason(
    shop: Runtime, squall: Squall_, send: Send
) -> None:
    gid = send("--workflow", json.dumps(CHARGES))
    shop.drain()

    result = squall("status", gid)

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["group", gid]
    assert lines[1].split(None, 1)[1].strip() == "2/3 succeeded, 3/3 finished"
    rows = {line.split()[0]: line.split(None, 3)[1:] for line in lines if line.split()[0].isdigit()}
    assert rows["0"] == [f"{gid}.0", "SUCCESS"]
    assert rows["1"][:2] == [f"{gid}.1", "DEAD"]
    assert "order o-1: amount 0 cannot be charged" in rows["1"][2]
    assert rows["2"] == [f"{gid}.2", "SUCCESS"]


def test_status_json_of_a_group_lists_each_member_with_its_state_and_reason(
    shop: Runtime, squall: Squall_, send: Send
) -> None:
    gid = send("--workflow", json.dumps(CHARGES))
    shop.drain()

    doc = json.loads(squall("status", gid, "--json").stdout)

    assert (doc["id"], doc["size"], doc["succeeded"], doc["finished"]) == (gid, 3, 2, 3)
    assert [(m["index"], m["id"], m["state"]) for m in doc["members"]] == [
        (0, f"{gid}.0", "SUCCESS"),
        (1, f"{gid}.1", "DEAD"),
        (2, f"{gid}.2", "SUCCESS"),
    ]
    assert [m["reason"] is None for m in doc["members"]] == [True, False, True]
    assert "cannot be charged" in doc["members"][1]["reason"]


def test_status_of_a_group_reads_its_members_with_batch_get_item_only(
    shop: Runtime, squall: Squall_, send: Send
) -> None:
    gid = send("--workflow", json.dumps({"group": [{"task": "charge", "args": [f"o-{i}", 1]} for i in range(150)]}))
    shop.drain()
    calls: list[str] = []
    shop.app.dynamodb.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))

    result = squall("status", gid)

    assert "150/150 succeeded" in result.stdout
    assert calls == ["BatchGetItem"] * 2  # 100 keys a request


def test_status_of_a_group_not_yet_run_reads_pending_and_a_task_id_still_reads_as_before(
    shop: Runtime, squall: Squall_, send: Send
) -> None:
    gid = send("--workflow", json.dumps({"group": REPORTS}))

    pending = squall("status", gid)
    member = squall("status", f"{gid}.0")

    assert "0/2 succeeded, 0/2 finished" in pending.stdout
    assert pending.stdout.count("PENDING") == 2
    assert member.stdout.startswith(f"{gid}.0  PENDING")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workflow", '{"group": [{"task": "charge"'], "Invalid value for --workflow: not valid JSON"),
        (["--workflow", '{"chain": []}'], "Invalid value for --workflow: workflow: 'chain' must list one step or more"),
        (["--workflow", '[{"task": "charge"}]'], "workflow: a workflow step is an object, got list"),
        (["--workflow", '{"task": "charge", "args": 1}'], "field 'args' must be a list"),
        (["--workflow", '{"chord": {"task": "charge"}, "body": {"task": "charge"}}'], "a chord's header is a group"),
        (["--workflow", "@does-not-exist.json"], "Invalid value for --workflow: cannot read 'does-not-exist.json'"),
        (
            ["charge", "--workflow", '{"task": "charge"}'],
            "--workflow names its own tasks, arguments and ids: drop TASK",
        ),
        (["--workflow", '{"task": "charge"}', "--id", "x"], "drop --id"),
        ([], "name the TASK to send (or give --workflow JSON)"),
    ],
)
def test_bad_workflows_are_usage_mistakes_with_one_error_line_and_nothing_sent(
    shop: Runtime, squall: Squall_, args: list[str], message: str
) -> None:
    result = squall("send", *args)

    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1
    assert message in errors[0]
    assert "Traceback" not in result.output
    assert shop.queued() == 0


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (
            {"group": [{"task": "charge", "args": ["o-1", 1]}, {"task": "refund", "args": ["o-1"]}]},
            "error: no task named 'refund' is registered with this app. Registered tasks: ",
        ),
        (
            {"chain": [{"task": "build_report", "args": ["2026-10"]}, {"task": "charge"}]},
            "error: workflow step 2 (examples.shop.tasks.charge): arguments do not fit",
        ),
    ],
)
def test_a_workflow_naming_an_unknown_task_or_misfit_arguments_is_one_line_and_nothing_sent(
    shop: Runtime, squall: Squall_, doc: dict[str, object], message: str
) -> None:
    result = squall("send", "--workflow", json.dumps(doc))

    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert shop.queued() == 0


def test_a_workflow_to_an_undeployed_queue_sends_nothing(shop: Runtime, squall: Squall_) -> None:
    result = squall("send", "--workflow", json.dumps(CHARGES), "--queue", "nope")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: queue 'nope' is not deployed for app 'shop'")
    assert shop.queued() == 0
    assert all(state is State.PENDING for state in shop.app.GroupResult(f"g3-{'0' * 32}").states())
