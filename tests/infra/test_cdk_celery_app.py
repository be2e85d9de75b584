"""A squall.celery app deploys as any Squall app: every queue it can name, and its beat entries as schedules."""

from __future__ import annotations

from datetime import timedelta

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template
from cdk_support import Synth

from squall.cdk.options import DeployOptions
from squall.cdk.stack import SquallStack
from squall.celery import Celery
from squall.celery.schedules import crontab


def celery_app() -> Celery:
    app = Celery("analytics", broker="sqs://", timezone="America/New_York")
    app.conf.update(
        task_default_queue="default",
        task_queues=["priority"],
        task_routes={"analytics.exports.*": {"queue": "exports"}},
        beat_schedule={
            "daily digest at 9": {"task": "analytics.digest", "schedule": crontab(hour=9, minute=0)},
            "sync": {"task": "analytics.exports.sync", "schedule": timedelta(minutes=15)},
        },
    )

    @app.task(name="analytics.digest")
    def digest() -> None: ...

    @app.task(name="analytics.exports.sync")
    def sync() -> None: ...

    @app.task(name="analytics.reindex", queue="maintenance")
    def reindex() -> None: ...

    return app


@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    outdir = tmp_path_factory.mktemp("cdk-celery")
    options = DeployOptions(app_spec="analytics.celery:app")
    stack = SquallStack(cdk.App(outdir=str(outdir)), "analytics", app=celery_app(), options=options)
    template = Template.from_stack(stack)
    return Synth(stack, template, dict(template.to_json()), outdir)


def test_every_queue_the_app_can_name_is_deployed_with_its_dead_letter_queue(synth: Synth) -> None:
    names = sorted(q["Properties"]["QueueName"] for q in synth.resources("AWS::SQS::Queue").values())
    for queue in ("default", "priority", "exports", "maintenance"):
        assert f"squall-analytics-{queue}" in names
        assert f"squall-analytics-{queue}-dlq" in names


def test_beat_entries_are_schedules_in_the_app_timezone(synth: Synth) -> None:
    schedules = {s["Properties"]["Name"]: s["Properties"] for s in synth.resources("AWS::Scheduler::Schedule").values()}
    daily = next(props for name, props in schedules.items() if name.startswith("p.daily_digest_at_9"))
    assert daily["ScheduleExpression"] == "cron(0 9 * * ? *)"
    assert daily["ScheduleExpressionTimezone"] == "America/New_York"
    assert schedules["p.sync"]["ScheduleExpression"] == "rate(15 minutes)"
