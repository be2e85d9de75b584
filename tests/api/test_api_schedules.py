"""The REST API's schedule routes in process: create, list, read, delete, and their refusals."""

from __future__ import annotations

from tests.api.api_client import Client

from squall.local import Runtime


def test_a_schedule_created_through_the_api_fires_and_its_task_runs(client: Client, rt: Runtime) -> None:
    created = client.post("/v1/schedules", {"name": "sums", "task": "add", "args": [2, 2], "rate": "1 hour"})
    rt.advance(hours=1, minutes=1, run=True)

    assert created.status == 201
    assert (created.body["expression"], created.body["args"]) == ("rate(1 hour)", [2, 2])
    assert rt.scheduler is not None
    assert len(rt.scheduler.fired) >= 1


def test_schedules_are_listed_read_and_deleted(client: Client, rt: Runtime) -> None:
    client.post("/v1/schedules", {"name": "weekday", "task": "add", "args": [1, 1], "cron": "0 9 ? * MON-FRI *"})

    listed = client.get("/v1/schedules")
    read = client.get("/v1/schedules/weekday")
    deleted = client.delete("/v1/schedules/weekday")
    gone = client.get("/v1/schedules/weekday")

    assert [s["name"] for s in listed.body["schedules"]] == ["weekday"]
    assert (read.status, read.body["expression"]) == (200, "cron(0 9 ? * MON-FRI *)")
    assert (deleted.status, deleted.body) == (200, {"name": "weekday", "deleted": True})
    assert gone.status == 404
    assert client.delete("/v1/schedules/weekday").status == 404


def test_a_schedule_name_taken_is_a_409(client: Client, rt: Runtime) -> None:
    body = {"name": "twice", "task": "add", "args": [1, 1], "rate": "5 minutes"}
    client.post("/v1/schedules", body)

    again = client.post("/v1/schedules", body)

    assert again.status == 409
    assert "twice" in again.body["error"]


def test_bad_schedules_are_a_400(client: Client, rt: Runtime) -> None:
    no_when = client.post("/v1/schedules", {"name": "x", "task": "add", "args": [1, 1]})
    unknown = client.post("/v1/schedules", {"name": "x", "task": "nope", "rate": "1 hour"})
    misfit = client.post("/v1/schedules", {"name": "x", "task": "add", "args": [1], "rate": "1 hour"})
    bad_cron = client.post("/v1/schedules", {"name": "x", "task": "add", "args": [1, 1], "cron": "every day"})

    assert [a.status for a in (no_when, unknown, misfit, bad_cron)] == [400, 400, 400, 400]
    assert "exactly one of cron=, rate= or at=" in no_when.body["error"]
    assert "unknown task 'nope'" in unknown.body["error"]
    assert client.get("/v1/schedules").body == {"schedules": []}
