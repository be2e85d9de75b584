"""The dashboard's routes through Flask's test client: every page renders, changes need POST and a CSRF token."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from markupsafe import escape
from tests.ui.conftest import XSS, Tasks, csrf

from squall.states import State
from squall.ui.security import CONTENT_SECURITY_POLICY

PAGES = ["/", "/tasks", "/dlq", "/schedules", "/cost", "/dlq/purge?queue=default"]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_with_a_strict_content_security_policy(client: FlaskClient, path: str) -> None:
    response = client.get(path)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'none'" in CONTENT_SECURITY_POLICY
    assert response.headers["X-Frame-Options"] == "DENY"


def test_the_overview_shows_each_queue_and_its_dead_letter_depth(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)

    assert "<td>default</td>" in page
    assert '<a href="/dlq">2</a>' in page  # two DEAD tasks' messages
    assert page.count("<svg") == 5


def test_the_task_list_shows_tasks_in_every_state_seen(client: FlaskClient, tasks: Tasks) -> None:
    page = client.get("/tasks").get_data(as_text=True)

    for task_id in (tasks.success, tasks.dead, tasks.retry, tasks.revoked):
        assert task_id in page
    for state in ("SUCCESS", "DEAD", "RETRY", "REVOKED"):
        assert f'class="state {state}"' in page


def test_the_task_list_filters_by_state_and_name(client: FlaskClient, tasks: Tasks) -> None:
    dead = client.get("/tasks?state=DEAD").get_data(as_text=True)
    adds = client.get("/tasks?name=ui.add").get_data(as_text=True)

    assert tasks.dead in dead
    assert tasks.success not in dead
    assert tasks.success in adds
    assert tasks.dead not in adds


def test_a_search_by_id_opens_the_task(client: FlaskClient, tasks: Tasks) -> None:
    response = client.get(f"/tasks?id={tasks.success}")

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/tasks/{tasks.success}")


def test_a_task_page_shows_its_result_and_history(client: FlaskClient, tasks: Tasks) -> None:
    page = client.get(f"/tasks/{tasks.success}").get_data(as_text=True)

    assert '<pre id="result">5</pre>' in page
    assert "STARTED" in page
    assert "SUCCESS" in page


def test_an_unknown_task_is_a_404(client: FlaskClient) -> None:
    assert client.get("/tasks/no-such-task").status_code == 404


def test_task_data_is_escaped_in_arguments_and_error(client: FlaskClient, tasks: Tasks) -> None:
    page = client.get(f"/tasks/{tasks.xss_dead}").get_data(as_text=True)

    assert "<img src=x" not in page
    assert "<script>window" not in page
    assert str(escape(XSS)) in page
    assert 'id="arguments"' in page
    assert 'id="error"' in page


def test_a_post_without_the_csrf_token_is_refused(client: FlaskClient, tasks: Tasks) -> None:
    response = client.post("/dlq/redrive", data={"id": tasks.dead})

    assert response.status_code == 400
    assert tasks.app.store.get(tasks.dead).state is State.DEAD  # type: ignore[union-attr]


def test_a_post_with_a_wrong_csrf_token_is_refused(client: FlaskClient, tasks: Tasks) -> None:
    csrf(client)

    response = client.post("/tasks/" + tasks.pending + "/revoke", data={"csrf_token": "forged"})

    assert response.status_code == 400


def test_a_request_naming_another_host_is_refused(client: FlaskClient) -> None:
    assert client.get("/", headers={"Host": "evil.example:8787"}).status_code == 400


def test_redriving_one_dead_letter_resets_its_task(client: FlaskClient, tasks: Tasks) -> None:
    token = csrf(client)

    response = client.post("/dlq/redrive", data={"csrf_token": token, "id": tasks.dead}, follow_redirects=True)

    assert "redriven: 1" in response.get_data(as_text=True)
    assert tasks.app.store.get(tasks.dead).state is State.PENDING  # type: ignore[union-attr]
    tasks.rt.drain()
    assert tasks.app.store.get(tasks.dead).redrives == 1  # type: ignore[union-attr]


def test_a_task_at_the_redrive_cap_is_kept_with_why(client: FlaskClient, tasks: Tasks) -> None:
    token = csrf(client)
    for _ in range(3):
        client.post("/dlq/redrive", data={"csrf_token": token, "id": tasks.dead})
        tasks.rt.drain()

    page = client.post("/dlq/redrive", data={"csrf_token": token, "id": tasks.dead}, follow_redirects=True)

    assert f"kept {tasks.dead}" in page.get_data(as_text=True)
    assert tasks.app.store.get(tasks.dead).state is State.DEAD  # type: ignore[union-attr]


def test_purging_needs_the_queue_name_typed(client: FlaskClient, tasks: Tasks) -> None:
    token = csrf(client)

    refused = client.post("/dlq/purge", data={"csrf_token": token, "queue": "default", "confirm": "yes"})
    assert refused.status_code == 302
    assert tasks.rt.dead_letters()

    client.post("/dlq/purge", data={"csrf_token": token, "queue": "default", "confirm": "default"})
    assert not tasks.rt.dead_letters()


def test_schedules_show_next_firings_in_their_time_zone(client: FlaskClient) -> None:
    page = client.get("/schedules").get_data(as_text=True)

    assert "ui.tick" in page
    assert "Europe/Paris" in page
    assert "CET" in page or "CEST" in page
    assert "nightly" in page
    assert "EST" in page or "EDT" in page


def test_pausing_and_resuming_a_schedule(client: FlaskClient, tasks: Tasks) -> None:
    token = csrf(client, "/schedules")

    client.post("/schedules/nightly/pause", data={"csrf_token": token})
    assert not tasks.app.schedules.get("nightly").enabled
    client.post("/schedules/nightly/resume", data={"csrf_token": token})
    assert tasks.app.schedules.get("nightly").enabled
    client.post("/schedules/nightly/delete", data={"csrf_token": token})
    assert [s.name for s in tasks.app.schedules.list()] == []


def test_revoking_a_pending_task_from_its_page(client: FlaskClient, tasks: Tasks) -> None:
    token = csrf(client)

    client.post(f"/tasks/{tasks.pending}/revoke", data={"csrf_token": token})

    assert tasks.app.store.get(tasks.pending).state is State.REVOKED  # type: ignore[union-attr]


def test_the_cost_page_estimates_the_volume_asked_for(client: FlaskClient) -> None:
    small = client.get("/cost?tasks=1000").get_data(as_text=True)
    bad = client.get("/cost?tasks=-5").get_data(as_text=True)

    assert 'value="1000"' in small
    assert "total" in small
    assert "bad workload" in bad
