"""Names AWS would refuse at deploy time are refused at synth, with the name to shorten."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
import pytest

from squall import Queue, Squall, limits
from squall.cdk.names import check_names
from squall.cdk.options import DeployOptions
from squall.cdk.stack import SquallStack
from squall.deploy.topology import describe
from squall.errors import ConfigurationError
from squall.limits import LAMBDA_MAX_FUNCTION_NAME_CHARS, SQS_MAX_QUEUE_NAME_CHARS

#: The longest app name Squall accepts (squall.config.check_app_name).
LONGEST_APP = "a" * 40


def test_every_name_of_the_longest_app_fits_when_its_queue_names_are_short() -> None:
    topology = describe(Squall(LONGEST_APP, queues=[Queue("q" * 28)]))
    check_names(topology)
    assert len(topology.queues[0].dlq_name) == SQS_MAX_QUEUE_NAME_CHARS
    assert len(topology.intake.name) <= SQS_MAX_QUEUE_NAME_CHARS
    assert len(topology.intake.function_name) <= LAMBDA_MAX_FUNCTION_NAME_CHARS


def test_a_dead_letter_queue_name_over_sqs_limit_names_the_app_and_the_queue_to_shorten() -> None:
    topology = describe(Squall(LONGEST_APP, queues=[Queue("q" * 29)]))
    with pytest.raises(ConfigurationError) as caught:
        check_names(topology)
    message = str(caught.value)
    assert f"SQS queue name {topology.queues[0].dlq_name!r} is 81 characters, over AWS's 80" in message
    assert f"shorten the app name {LONGEST_APP!r} or the queue name {'q' * 29!r}" in message
    assert "\n" not in message


def test_the_stack_refuses_an_overlong_name_before_creating_anything(tmp_path: Path) -> None:
    app = Squall(LONGEST_APP, queues=[Queue("q" * 40)])
    with pytest.raises(ConfigurationError, match="over AWS's 80: shorten the app name"):
        SquallStack(cdk.App(outdir=str(tmp_path)), "long", app=app, options=DeployOptions(app_spec="long:app"))


@pytest.mark.parametrize(
    ("limit", "what"),
    [
        ("SQS_MAX_QUEUE_NAME_CHARS", "SQS queue"),
        ("LAMBDA_MAX_FUNCTION_NAME_CHARS", "Lambda function"),
        ("SCHEDULER_MAX_GROUP_NAME_CHARS", "schedule group"),
        ("DYNAMODB_MAX_TABLE_NAME_CHARS", "DynamoDB table"),
    ],
)
def test_the_synth_check_reads_each_name_limit_from_squall_limits(
    monkeypatch: pytest.MonkeyPatch, limit: str, what: str
) -> None:
    topology = describe(Squall("shop"))
    check_names(topology)
    monkeypatch.setattr(limits, limit, 10)
    with pytest.raises(ConfigurationError, match=rf"^{what} name '.+' is \d+ characters, over AWS's 10: shorten"):
        check_names(topology)


def test_the_synth_check_refuses_a_table_name_under_dynamodbs_shortest(monkeypatch: pytest.MonkeyPatch) -> None:
    topology = describe(Squall("shop"))
    monkeypatch.setattr(limits, "DYNAMODB_MIN_TABLE_NAME_CHARS", len(topology.table.name) + 1)
    with pytest.raises(ConfigurationError, match=r"^DynamoDB table name 'squall-shop-tasks' is under AWS's 18"):
        check_names(topology)
