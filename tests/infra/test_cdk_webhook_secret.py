"""The webhook secret of HTTP targets, by reference: the worker alone gets its variable and a read grant; a periodic
schedule of an HTTP target deploys as a schedule of the built-in task."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cdk_support import Synth, render, synth_app

from squall import Squall, config, new_webhook_secret
from squall.cdk.options import DeployOptions

#: Each way to give the secret, and the resource the worker may then read (None: nothing to read).
SECRETS: dict[str, str | None] = {
    "ssm:/hooks/webhook-secret": (
        "arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter/hooks/webhook-secret"
    ),
    "secretsmanager:hooks/webhook": (
        "arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:hooks/webhook-??????"
    ),
    new_webhook_secret(): None,  # given in code: nothing to read, nothing in the environment
}


#: The HTTP target a periodic schedule of the app calls.
PARTNER = "https://partner.example.com/ping"


@pytest.fixture(scope="module", params=list(SECRETS), ids=["ssm", "secretsmanager", "inline"])
def hooks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Synth, str]:
    outdir = tmp_path_factory.mktemp("cdk-hooks")
    app = Squall("hooks", webhook_secret=request.param)
    app.periodic("rate(5 minutes)", name="ping-partner")(app.http(PARTNER, {"from": "shop"}))
    return synth_app(outdir, app, DeployOptions(app_spec="hooks:app"), "hooks"), request.param


def statements_of(synth: Synth, role: Any) -> list[dict[str, Any]]:
    role_id = synth.logical_id_of(role)
    return [
        statement
        for policy in synth.resources("AWS::IAM::Policy").values()
        if {"Ref": role_id} in policy["Properties"]["Roles"]
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
    ]


def test_only_the_worker_names_the_reference_in_its_environment(hooks: tuple[Synth, str]) -> None:
    synth, secret = hooks
    service = synth.stack.service
    worker = synth.properties_of(service.worker.function)["Environment"]["Variables"]
    reconciler = synth.properties_of(service.reconciler.function)["Environment"]["Variables"]

    assert worker.get(config.ENV_WEBHOOK_SECRET) == (secret if SECRETS[secret] else None)
    assert config.ENV_WEBHOOK_SECRET not in reconciler
    assert all(secret not in str(value) for value in reconciler.values())
    if SECRETS[secret] is None:
        assert secret not in str(synth.json)  # a secret given in code never reaches the template


def test_only_the_worker_may_read_the_secret_and_only_that_one(hooks: tuple[Synth, str]) -> None:
    synth, secret = hooks
    service = synth.stack.service
    worker = [s for s in statements_of(synth, service.worker.role) if s.get("Sid") == "ReadWebhookSecret"]
    reconciler = [s for s in statements_of(synth, service.reconciler.role) if s.get("Sid") == "ReadWebhookSecret"]

    expected = SECRETS[secret]
    if expected is None:
        assert worker == []
    else:
        action = "ssm:GetParameter" if secret.startswith("ssm:") else "secretsmanager:GetSecretValue"
        assert [(s["Effect"], s["Action"], render(s["Resource"])) for s in worker] == [("Allow", action, expected)]
    assert reconciler == []


def test_a_periodic_http_target_deploys_as_a_schedule_of_the_built_in_task(hooks: tuple[Synth, str]) -> None:
    synth, _ = hooks
    [schedule] = synth.resources("AWS::Scheduler::Schedule").values()
    target = schedule["Properties"]["Target"]
    envelope = json.loads(target["Input"])

    assert schedule["Properties"]["Name"] == "p.ping-partner"
    assert schedule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"
    assert envelope["task"] == "squall.http"
    assert PARTNER in json.dumps(envelope["args"] or envelope["kwargs"])
    assert target["Arn"] == {"Fn::GetAtt": [synth.logical_id_of(synth.stack.service.queues["default"]), "Arn"]}
