"""Declaring priority lanes: names, shares and the default lane are checked once, each lane is a queue of its own
in the description and the settings, and bad declarations are refused with one line saying what to change."""

from __future__ import annotations

import re
from typing import Any

import pytest

from squall import Queue, Squall, config
from squall.deploy.topology import describe
from squall.errors import ConfigurationError, TaskDefinitionError


def test_lanes_are_one_queue_each_named_after_the_queue_and_the_lane() -> None:
    app = Squall("shop", queues=["default", Queue("emails", lanes=("high", "low"), max_concurrency=7)])
    topology = describe(app)
    lanes = [(q.name, q.queue_name, q.dlq_name, q.max_concurrency, q.lane) for q in topology.queues if q.lane]
    assert lanes == [
        ("emails:high", "squall-shop-emails-high", "squall-shop-emails-high-dlq", 4, "high"),  # the odd one: highest
        ("emails:low", "squall-shop-emails-low", "squall-shop-emails-low-dlq", 3, "low"),
    ]
    assert topology.lanes == {"emails": config.Lanes(("high", "low"), "low")}  # default: the lowest lane
    high, default = topology.queue("emails:high"), topology.queue("default")
    assert (high.visibility_timeout, high.max_receive_count) == (default.visibility_timeout, default.max_receive_count)


def test_given_shares_replace_the_split_and_a_named_default_lane_is_kept() -> None:
    queue = Queue("emails", lanes=["high", "normal", "low"], lane_concurrency={"high": 8, "normal": 4, "low": 2},
                  default_lane="normal")  # fmt: skip
    assert (queue.lanes, dict(queue.lane_shares), queue.default_lane) == (
        ("high", "normal", "low"),
        {"high": 8, "normal": 4, "low": 2},
        "normal",
    )


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ({"lanes": "high"}, "lanes must be a tuple of lane names, highest first"),
        ({"lanes": ("high",)}, "give 2-10 lanes, got 1 (a queue with one lane is a queue: drop lanes)"),
        ({"lanes": ("high", "high")}, "name a lane twice"),
        ({"lanes": ("High", "low")}, "lane name 'High' is not usable"),
        ({"lanes": tuple(f"l{i}" for i in range(11))}, "give 2-10 lanes, got 11"),
        (
            {"lanes": ("high", "low"), "default_lane": "urgent"},
            "default_lane='urgent' is not one of its lanes (high, low)",
        ),
        ({"default_lane": "high"}, "default_lane='high' needs lanes=(...) too"),
        ({"lane_concurrency": {"high": 2}}, "lane_concurrency needs lanes=(...) too"),
        (
            {"lanes": ("high", "low"), "lane_concurrency": {"high": 8}},
            "must name each lane once (high, low); missing ['low']",
        ),
        (
            {"lanes": ("high", "low"), "lane_concurrency": {"high": 8, "low": 1}},
            "lane_concurrency['low'] = 1 must be an int 2-1000",
        ),
        ({"lanes": ("high", "low"), "lane_concurrency": {"high": 1001, "low": 2}}, "must be an int 2-1000"),
        ({"lanes": ("high", "low"), "max_concurrency": None}, "a queue with lanes needs a cap on every lane"),
        (
            {"lanes": ("a", "b", "c"), "max_concurrency": 5},
            "cannot give each of its 3 lanes the event source minimum of 2",
        ),
    ],
)
def test_a_bad_lane_declaration_is_refused_saying_what_to_change(declaration: dict[str, Any], message: str) -> None:
    with pytest.raises(TaskDefinitionError, match=re.escape(message)):
        Queue("emails", **declaration)


def test_a_lane_whose_queue_name_another_queue_has_is_refused() -> None:
    app = Squall("shop", queues=[Queue("emails", lanes=("high", "low")), "emails-high"])
    with pytest.raises(
        ConfigurationError, match="queue 'emails-high' would be the SQS queue 'squall-shop-emails-high'"
    ):
        describe(app)
    clash = Squall("shop", queues=["scheduler"])  # its DLQ would be the scheduler's
    with pytest.raises(
        ConfigurationError,
        match="the scheduler's DLQ would be the SQS queue 'squall-shop-scheduler-dlq', as queue 'scheduler' is",
    ):
        describe(clash)


def test_the_settings_document_carries_the_lanes_and_a_queues_name_reaches_its_default_lane() -> None:
    def address(name: str) -> config.QueueAddress:
        return config.QueueAddress(f"https://q/{name}", f"arn:aws:sqs:r:1:{name}", f"https://q/{name}-dlq", "d", 10)

    settings = config.Settings(
        app="shop",
        region="r",
        table="t",
        queues={"emails:high": address("high"), "emails:low": address("low")},
        lanes={"emails": config.Lanes(("high", "low"), "low")},
    )
    again = config.Settings.from_document(settings.to_document(), source="test")
    assert again.lanes == settings.lanes
    assert again.queue("emails").url == "https://q/low"
    assert again.address("emails", "high").url == "https://q/high"
    assert again.queue_name_for_arn("arn:aws:sqs:r:1:high") == "emails:high"
    assert again.deployed("emails") == ["emails:high", "emails:low"]
    with pytest.raises(ConfigurationError, match="queue 'emails' of app 'shop' has no lane 'urgent' deployed"):
        again.address("emails", "urgent")

    broken = settings.to_document()
    del broken["queues"]["emails:low"]
    with pytest.raises(ConfigurationError, match=r"lack: queues\.emails:low\. Redeploy"):
        config.Settings.from_document(broken, source="test")


def test_a_document_without_lanes_reads_and_writes_as_before() -> None:
    settings = config.Settings(app="shop", region="r", table="t", queues={})
    assert "lanes" not in settings.to_document()
