"""The REST API's task routes in process: send by name, read back, revoke, batches and workflows."""

from __future__ import annotations

from types import SimpleNamespace

from tests.api.api_client import Client

from squall.local import Runtime


def test_a_task_sent_by_name_is_pending_then_runs_and_its_result_is_read_back(client: Client, rt: Runtime) -> None:
    sent = client.post("/v1/tasks", {"task": "add", "args": [2], "kwargs": {"b": 3}})
    assert (sent.status, sent.body["state"]) == (202, "PENDING")
    task_id = sent.body["id"]

    queued = client.get(f"/v1/tasks/{task_id}")
    rt.drain()
    done = client.get(f"/v1/tasks/{task_id}")

    assert (queued.status, queued.body["state"]) == (200, "PENDING")
    assert done.body == {"id": task_id, "state": "SUCCESS", "result": 5, "progress": None, "error": None, "attempts": 1}


def test_the_idempotency_key_becomes_the_task_id_and_a_repeated_post_runs_once(client: Client, rt: Runtime) -> None:
    body = {"task": "add", "args": [1, 1]}
    first = client.post("/v1/tasks", body, headers={"Idempotency-Key": "order-17"})
    rt.drain()
    again = client.post("/v1/tasks", body, headers={"Idempotency-Key": "order-17"})
    rt.drain()

    assert first.body == {"id": "order-17", "state": "PENDING"}
    assert again.body == {"id": "order-17", "state": "SUCCESS"}  # already ran: the copy is acknowledged unrun
    assert client.get("/v1/tasks/order-17").body["attempts"] == 1


def test_a_countdown_delays_the_task_on_the_fake_clock(client: Client, rt: Runtime) -> None:
    start = rt.clock.now()
    sent = client.post("/v1/tasks", {"task": "add", "args": [1, 2], "countdown": 120})

    rt.advance(60, run=True)
    early = client.get(f"/v1/tasks/{sent.body['id']}").body["state"]
    rt.drain()

    assert early == "PENDING"
    assert client.get(f"/v1/tasks/{sent.body['id']}").body["state"] == "SUCCESS"
    assert rt.clock.now() - start >= 120


def test_an_eta_far_ahead_goes_through_the_scheduler_and_runs_then(client: Client, rt: Runtime) -> None:
    from datetime import UTC, datetime, timedelta

    when = datetime.fromtimestamp(rt.clock.now(), UTC) + timedelta(hours=2)
    sent = client.post("/v1/tasks", {"task": "add", "args": [4, 4], "eta": when.isoformat()})

    rt.advance(hours=1, run=True)
    early = client.get(f"/v1/tasks/{sent.body['id']}").body["state"]
    rt.drain()

    assert early == "PENDING"
    assert client.get(f"/v1/tasks/{sent.body['id']}").body["result"] == 8


def test_progress_and_errors_are_read_back(client: Client, rt: Runtime) -> None:
    reported = client.post("/v1/tasks", {"task": "report", "args": [12]}).body["id"]
    failed = client.post("/v1/tasks", {"task": "broken", "args": ["o-1"]}).body["id"]
    rt.drain()

    progress = client.get(f"/v1/tasks/{reported}").body["progress"]
    dead = client.get(f"/v1/tasks/{failed}").body

    assert progress == {"percent": 50, "message": "half way", "meta": {"rows": 12}}
    assert (dead["state"], dead["error"]) == ("DEAD", {"type": "ValueError", "message": "order o-1 is broken"})


def test_an_unknown_task_id_is_a_404(client: Client, rt: Runtime) -> None:
    answer = client.get("/v1/tasks/never-sent")

    assert answer.status == 404
    assert "never-sent" in answer.body["error"]


def test_revoking_a_pending_task_answers_revoked_and_it_never_runs(client: Client, rt: Runtime) -> None:
    task_id = client.post("/v1/tasks", {"task": "add", "args": [1, 2], "countdown": 30}).body["id"]

    revoked = client.delete(f"/v1/tasks/{task_id}")
    rt.drain()

    assert (revoked.status, revoked.body) == (200, {"id": task_id, "state": "REVOKED"})
    assert client.get(f"/v1/tasks/{task_id}").body["state"] == "REVOKED"


def test_revoking_a_finished_task_is_a_409_and_changes_nothing(client: Client, rt: Runtime) -> None:
    task_id = client.post("/v1/tasks", {"task": "add", "args": [1, 2]}).body["id"]
    rt.drain()

    answer = client.delete(f"/v1/tasks/{task_id}")

    assert answer.status == 409
    assert "finished" in answer.body["error"]
    assert client.get(f"/v1/tasks/{task_id}").body["state"] == "SUCCESS"


def test_revoking_a_running_task_is_a_409(client: Client, rt: Runtime, tasks: SimpleNamespace) -> None:
    task_id = client.post("/v1/tasks", {"task": "self_revoking"}).body["id"]
    rt.drain()

    during = tasks.seen["revoke"]

    assert (during.status, "running" in during.body["error"]) == (409, True)
    assert client.get(f"/v1/tasks/{task_id}").body["state"] == "SUCCESS"


def test_a_batch_sends_every_call_in_order_and_each_runs(client: Client, rt: Runtime) -> None:
    calls = [{"task": "add", "args": [i, i], "id": f"b-{i}"} for i in range(12)]

    sent = client.post("/v1/batches", {"tasks": calls})
    rt.drain()

    assert sent.status == 202
    assert [t["id"] for t in sent.body["tasks"]] == [f"b-{i}" for i in range(12)]
    assert [client.get(f"/v1/tasks/b-{i}").body["result"] for i in range(12)] == [2 * i for i in range(12)]


def test_a_batch_with_one_bad_call_sends_none_and_names_the_bad_one(client: Client, rt: Runtime) -> None:
    calls = [{"task": "add", "args": [1, 2]}, {"task": "add", "args": [1]}]

    answer = client.post("/v1/batches", {"tasks": calls})

    assert answer.status == 400
    assert "add" in answer.body["error"]
    assert rt.queued() == 0


def test_a_chain_sent_as_json_runs_its_steps_in_order(client: Client, rt: Runtime) -> None:
    chain = {"chain": [{"task": "add", "args": [1, 2]}, {"task": "add", "args": [10]}]}

    sent = client.post("/v1/workflows", {"workflow": chain})
    rt.drain()

    assert sent.status == 202
    assert client.get(f"/v1/tasks/{sent.body['id']}").body["result"] == 13


def test_a_workflow_naming_an_unknown_task_is_a_400(client: Client, rt: Runtime) -> None:
    answer = client.post("/v1/workflows", {"workflow": {"chain": [{"task": "nope", "args": []}]}})

    assert answer.status == 400
    assert "nope" in answer.body["error"]
