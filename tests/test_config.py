"""Settings: one document, read once, explicit > SQUALL_CONFIG > SSM > default naming > a clear error."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from squall import ConfigurationError, QueueAddress, Settings, Squall, local
from squall.config import app_spec_from_env, load_settings, parameter_name

APP = "test-config"


def settings_for(app: str = APP, **changes: Any) -> Settings:
    fields: dict[str, Any] = {
        "app": app,
        "region": "eu-west-1",
        "table": f"squall-{app}-tasks",
        "queues": {
            "default": QueueAddress(
                url=f"https://sqs.eu-west-1.amazonaws.com/123456789012/squall-{app}-default",
                arn=f"arn:aws:sqs:eu-west-1:123456789012:squall-{app}-default",
                dlq_url=f"https://sqs.eu-west-1.amazonaws.com/123456789012/squall-{app}-default-dlq",
                dlq_arn=f"arn:aws:sqs:eu-west-1:123456789012:squall-{app}-default-dlq",
                max_receive_count=8,
            )
        },
        "schedule_group": f"squall-{app}",
        "scheduler_role_arn": f"arn:aws:iam::123456789012:role/squall-{app}-scheduler",
        "scheduler_dlq_arn": f"arn:aws:sqs:eu-west-1:123456789012:squall-{app}-scheduler-dlq",
    }
    fields.update(changes)
    return Settings(**fields)


def never_read(name: str, region: str) -> str | None:
    raise AssertionError(f"SSM parameter {name} should not have been read")


@pytest.fixture
def aws() -> Iterator[boto3.Session]:
    """moto in process, for SSM discovery."""
    with mock_aws():
        yield boto3.Session(region_name="us-east-1")


# --- the document --------------------------------------------------------------------------------------


def test_settings_round_trip_through_their_document() -> None:
    settings = settings_for()

    document = json.loads(json.dumps(settings.to_document()))

    assert Settings.from_document(document, source="test") == settings


def test_document_keeps_no_endpoint() -> None:
    settings = settings_for(endpoint_url="http://127.0.0.1:5000")

    restored = Settings.from_document(settings.to_document(), source="test", endpoint_url=None)

    assert restored.endpoint_url is None


def test_every_missing_key_is_listed_in_one_error() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_document({"queues": {"default": {"url": "u"}}}, source="SSM parameter /x")

    expected = [
        "app",
        "region",
        "table",
        "queues.default.arn",
        "queues.default.dlq_url",
        "queues.default.dlq_arn",
        "queues.default.max_receive_count",
    ]
    assert list(refused.value.missing) == expected
    for key in expected:
        assert key in str(refused.value)
    assert "SSM parameter /x" in str(refused.value)


def test_queue_lookup_names_the_known_queues() -> None:
    with pytest.raises(ConfigurationError, match=r"queue 'reports' is not deployed.*known queues: default"):
        settings_for().queue("reports")


def test_queue_is_found_by_its_arn() -> None:
    settings = settings_for()

    assert settings.queue_name_for_arn(settings.queue("default").arn) == "default"
    assert settings.queue_name_for_arn("arn:aws:sqs:eu-west-1:123456789012:other") is None


# --- where settings come from ----------------------------------------------------------------------------


def test_squall_config_comes_before_ssm() -> None:
    environ = {"SQUALL_CONFIG": json.dumps(settings_for().to_document()), "AWS_REGION": "us-east-1"}

    settings = load_settings(APP, read_parameter=never_read, environ=environ)

    assert settings == settings_for()


def test_squall_config_in_the_environment_configures_an_app(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQUALL_CONFIG", json.dumps(settings_for().to_document()))

    assert Squall(APP).settings == settings_for()


def test_explicit_settings_come_before_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQUALL_CONFIG", json.dumps(settings_for(table="from-env").to_document()))

    app = Squall(APP, settings=settings_for(table="explicit"))

    assert app.settings.table == "explicit"


def test_squall_config_for_another_app_is_refused() -> None:
    environ = {"SQUALL_CONFIG": json.dumps(settings_for(app="billing").to_document())}

    with pytest.raises(ConfigurationError, match=r"describes app 'billing'.*Squall\('test-config'\)"):
        load_settings(APP, read_parameter=never_read, environ=environ)


def test_squall_config_that_is_not_json_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="SQUALL_CONFIG is not valid JSON"):
        load_settings(APP, read_parameter=never_read, environ={"SQUALL_CONFIG": "{oops"})


def test_configuring_an_app_with_another_apps_settings_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="not 'test-config'"):
        Squall(APP).configure(settings_for(app="billing"))


def test_settings_are_read_from_ssm_with_one_call(aws: boto3.Session) -> None:
    # Given the stack published the app's settings in SSM
    aws.client("ssm").put_parameter(
        Name=parameter_name(APP), Value=json.dumps(settings_for().to_document()), Type="String"
    )
    reads: list[str] = []
    aws.events.register("before-call.ssm.GetParameter", lambda params, **_: reads.append("GetParameter"))

    # When an app with no other configuration needs them, twice
    app = Squall(APP, session=aws)
    first, second = app.settings, app.settings

    # Then they were read once, with one request
    assert first == settings_for()
    assert second is first
    assert reads == ["GetParameter"]


def test_parameter_name_can_be_overridden(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.client("ssm").put_parameter(Name="/custom/place", Value=json.dumps(settings_for().to_document()), Type="String")
    monkeypatch.setenv("SQUALL_CONFIG_PARAMETER", "/custom/place")

    assert Squall(APP, session=aws).settings.table == settings_for().table


def test_ssm_parameter_that_is_not_json_is_refused(aws: boto3.Session) -> None:
    aws.client("ssm").put_parameter(Name=parameter_name(APP), Value="not json", Type="String")

    with pytest.raises(ConfigurationError, match=f"SSM parameter {parameter_name(APP)} is not valid JSON"):
        _ = Squall(APP, session=aws).settings


def test_ssm_parameter_for_another_app_is_refused(aws: boto3.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.client("ssm").put_parameter(
        Name="/shared/config", Value=json.dumps(settings_for(app="billing").to_document()), Type="String"
    )
    monkeypatch.setenv("SQUALL_CONFIG_PARAMETER", "/shared/config")

    with pytest.raises(ConfigurationError, match="billing"):
        _ = Squall(APP, session=aws).settings


def test_no_settings_anywhere_says_what_to_do(aws: boto3.Session) -> None:
    with pytest.raises(ConfigurationError) as refused:
        _ = Squall("test-nowhere", session=aws).settings

    message = str(refused.value)
    assert "no settings found for Squall app 'test-nowhere'" in message
    assert "SQUALL_CONFIG" in message
    assert parameter_name("test-nowhere") in message
    assert "squall deploy" in message
    assert "squall.local.run(app)" in message
    assert "SQUALL_CONFIG" in refused.value.missing


def test_no_region_says_to_set_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    with pytest.raises(ConfigurationError, match="set AWS_REGION"):
        load_settings(APP, read_parameter=never_read, environ={})


def test_resources_under_the_default_names_are_found_without_any_configuration() -> None:
    # Given the app's resources exist under their default names (as `squall dev` or the stack make them)
    app = Squall("test-naming")
    with local.run(app, server=True) as rt:
        provisioned = rt.settings
        endpoint = rt.environment["AWS_ENDPOINT_URL"]

        # When another process's app, knowing only the endpoint and region, looks for its settings
        other = Squall("test-naming", session=boto3.Session(region_name=rt.settings.region))
        with pytest.MonkeyPatch.context() as env:
            env.setenv("AWS_ENDPOINT_URL", endpoint)
            found = other.settings

    # Then it finds the same queues and table
    assert found.table == provisioned.table
    assert found.queues == provisioned.queues


# --- the worker's app ------------------------------------------------------------------------------------


def test_worker_app_spec_must_be_module_and_attribute() -> None:
    assert app_spec_from_env({"SQUALL_APP": "tasks:app"}) == "tasks:app"
    with pytest.raises(ConfigurationError, match="module:attribute") as refused:
        app_spec_from_env({})
    assert refused.value.missing == ("SQUALL_APP",)


# --- stages ----------------------------------------------------------------------------------------------


def test_a_stage_is_given_or_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Squall(APP).stage is None
    assert Squall(APP, stage="prod").stage == "prod"
    monkeypatch.setenv("SQUALL_STAGE", "dev")
    assert Squall(APP).stage == "dev"
    assert Squall(APP, stage="prod").stage == "prod"  # an explicit stage wins
    monkeypatch.setenv("SQUALL_STAGE", "Dev-1")
    with pytest.raises(ConfigurationError, match="stage 'Dev-1' cannot name AWS resources: use 1-16 lowercase"):
        Squall(APP)


def test_each_stage_reads_its_own_parameter(aws: boto3.Session) -> None:
    ssm = aws.client("ssm")
    for stage in ("dev", "prod"):
        staged = settings_for(stage=stage, table=f"squall-{APP}-{stage}-tasks")
        ssm.put_parameter(Name=parameter_name(APP, stage), Value=json.dumps(staged.to_document()), Type="String")

    assert parameter_name(APP, "prod") == f"/squall/{APP}/prod/config"
    assert Squall(APP, stage="prod", session=aws).settings.table == f"squall-{APP}-prod-tasks"
    assert Squall(APP, stage="dev", session=aws).settings.table == f"squall-{APP}-dev-tasks"
    with pytest.raises(ConfigurationError, match=f"SSM parameter /squall/{APP}/config"):
        _ = Squall(APP, session=aws).settings  # the unstaged deployment does not exist


def test_settings_of_another_stage_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SQUALL_CONFIG", json.dumps(settings_for(stage="dev").to_document()))
    with pytest.raises(
        ConfigurationError, match="describes stage dev of app 'test-config', but this process runs stage"
    ):
        _ = Squall(APP, stage="prod").settings
    assert Squall(APP, stage="dev").settings.stage == "dev"
    with pytest.raises(ConfigurationError, match="settings are for stage dev of app 'test-config', not stage prod"):
        Squall(APP, stage="prod").configure(settings_for(stage="dev"))


def test_the_local_runtime_provisions_a_stage_under_its_own_names() -> None:
    app = Squall("staged-local", stage="qa")

    @app.task
    def double(x: int) -> int:
        return 2 * x

    with local.run(app) as rt:
        result = double.delay(21)
        rt.drain()
        assert result.get() == 42
        assert app.settings.table == "squall-staged-local-qa-tasks"
        assert app.settings.queue("default").physical_name == "squall-staged-local-qa-default"
        assert app.settings.stage == "qa"
