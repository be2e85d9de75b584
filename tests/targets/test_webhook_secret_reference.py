"""A webhook secret given by reference (SSM or Secrets Manager, moto), read at the worker and rotated there."""

from __future__ import annotations

import uuid

import pytest
from http_receiver import Receiver
from standardwebhooks import Webhook

from squall import ConfigurationError, Squall, State, config, local, new_webhook_secret


def test_an_ssm_reference_signs_with_every_secret_the_parameter_holds(receiver: Receiver) -> None:
    old, new = new_webhook_secret(), new_webhook_secret()
    app = Squall(f"hooks-{uuid.uuid4().hex[:8]}", webhook_secret="ssm:/hooks/webhook-secret")
    with local.run(app, allow_private_targets=True) as rt:
        ssm = rt.session.client("ssm", region_name=rt.settings.region)
        ssm.put_parameter(Name="/hooks/webhook-secret", Value=f"{new}\n{old}", Type="SecureString")

        result = app.send_http(receiver.url(), {"n": 1})
        rt.drain()

        assert result.state is State.SUCCESS
        (request,) = receiver.received
        assert len(request.headers["webhook-signature"].split()) == 2
        # A receiver that knows either secret accepts the request (rotation), one that knows neither refuses it
        assert Webhook(old).verify(request.body, request.headers) == {"n": 1}
        assert Webhook(new).verify(request.body, request.headers) == {"n": 1}
        with pytest.raises(Exception, match="signature"):
            Webhook(new_webhook_secret()).verify(request.body, request.headers)


def test_the_worker_takes_a_secrets_manager_reference_from_its_environment(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = new_webhook_secret()
    monkeypatch.setenv(config.ENV_WEBHOOK_SECRET, "secretsmanager:hooks/webhook")
    app = Squall(f"hooks-{uuid.uuid4().hex[:8]}")  # as the stack deploys it: the reference in the environment
    assert app.http_targets.keys.reference == "secretsmanager:hooks/webhook"
    with local.run(app, allow_private_targets=True) as rt:
        secrets = rt.session.client("secretsmanager", region_name=rt.settings.region)
        secrets.create_secret(Name="hooks/webhook", SecretString=secret)

        app.send_http(receiver.url(), {"n": 2})
        rt.drain()

        (request,) = receiver.received
        assert Webhook(secret).verify(request.body, request.headers) == {"n": 2}


def test_an_unreadable_secret_is_retried_not_sent_unsigned(receiver: Receiver) -> None:
    app = Squall(f"hooks-{uuid.uuid4().hex[:8]}", webhook_secret="ssm:/hooks/not-yet")
    with local.run(app, allow_private_targets=True) as rt:
        result = app.send_http(receiver.url(), {}, max_retries=1)
        rt.drain()

        assert receiver.received == []
        assert result.state is State.DEAD
        record = result.record
        assert record is not None
        assert record.reason is not None
        assert "/hooks/not-yet" in record.reason


def test_the_environment_never_carries_the_secret_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_WEBHOOK_SECRET, new_webhook_secret())

    with pytest.raises(ConfigurationError, match="never the secret itself"):
        Squall("hooks")


def test_a_secret_given_in_code_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(config.ENV_WEBHOOK_SECRET, "ssm:/elsewhere")

    app = Squall("hooks", webhook_secret="ssm:/in-code")

    assert app.http_targets.keys.reference == "ssm:/in-code"
