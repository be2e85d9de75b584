"""Priority lanes, as declared: ``Queue("emails", lanes=("high", "low"))`` deploys one SQS queue per lane.

Each lane has its own queue, DLQ and event source mapping, whose ``MaximumConcurrency`` is the lane's share:
``lane_concurrency={"high": 8, "low": 2}``, or else the queue's ``max_concurrency`` split evenly (the odd
invocations to the highest lanes). Lanes are listed highest first; a call without ``priority=`` goes to the
queue's default lane, ``default_lane=`` or else the lowest, so that only work marked urgent overtakes.

This module checks a declaration and derives what :func:`squall.deploy.topology.describe` builds from it; the
routing of a call is :mod:`squall.tasks.lanes`. See docs/flow-control.md, "Priorities".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from squall import config, limits
from squall.errors import ConfigurationError, TaskDefinitionError

_LANE = re.compile(f"[a-z0-9][a-z0-9_-]{{0,{limits.MAX_LANE_NAME_CHARS - 1}}}")


def valid_lane_name(value: object) -> bool:
    """Whether ``value`` may name a lane: 1-20 lowercase letters, digits, '-' or '_', not starting with either."""
    return isinstance(value, str) and _LANE.fullmatch(value) is not None


def checked_lanes(queue: str, lanes: Any) -> tuple[str, ...]:
    """``lanes`` as a tuple of names, highest first; TaskDefinitionError says what is wrong."""
    if isinstance(lanes, str) or not isinstance(lanes, Iterable):
        raise TaskDefinitionError(
            f'queue {queue!r}: lanes must be a tuple of lane names, highest first (e.g. ("high", "low")), got {lanes!r}'
        )
    names = tuple(lanes)
    if not names:
        return ()
    bad = [name for name in names if not valid_lane_name(name)]
    if bad:
        raise TaskDefinitionError(
            f"queue {queue!r}: lane name {bad[0]!r} is not usable: give 1-{limits.MAX_LANE_NAME_CHARS} lowercase "
            "letters, digits, '-' or '_', starting with a letter or digit"
        )
    if len(set(names)) != len(names):
        raise TaskDefinitionError(f"queue {queue!r}: lanes {names} name a lane twice; give each lane once")
    if not 2 <= len(names) <= limits.MAX_LANES:
        raise TaskDefinitionError(
            f"queue {queue!r}: give 2-{limits.MAX_LANES} lanes, got {len(names)} (a queue with one lane is a "
            "queue: drop lanes)"
        )
    return names


def checked_default(queue: str, lanes: tuple[str, ...], default: str | None) -> str | None:
    """The lane a call without ``priority=`` goes to: ``default``, checked, or else the lowest lane."""
    if not lanes:
        if default is not None:
            raise TaskDefinitionError(f"queue {queue!r}: default_lane={default!r} needs lanes=(...) too")
        return None
    if default is None:
        return lanes[-1]
    if default not in lanes:
        raise TaskDefinitionError(
            f"queue {queue!r}: default_lane={default!r} is not one of its lanes ({', '.join(lanes)})"
        )
    return default


def shares(
    queue: str, lanes: tuple[str, ...], lane_concurrency: Mapping[str, int] | None, max_concurrency: int | None
) -> dict[str, int]:
    """Each lane's MaximumConcurrency: ``lane_concurrency`` checked, or ``max_concurrency`` split evenly."""
    low, high = limits.ESM_MIN_MAX_CONCURRENCY, limits.ESM_MAX_MAX_CONCURRENCY
    if not lanes:
        if lane_concurrency is not None:
            raise TaskDefinitionError(f"queue {queue!r}: lane_concurrency needs lanes=(...) too")
        return {}
    if lane_concurrency is not None:
        if not isinstance(lane_concurrency, Mapping):
            raise TaskDefinitionError(
                f'queue {queue!r}: lane_concurrency must map each lane to its share, e.g. {{"{lanes[0]}": 8}}'
            )
        missing = [lane for lane in lanes if lane not in lane_concurrency]
        unknown = [name for name in lane_concurrency if name not in lanes]
        if missing or unknown:
            raise TaskDefinitionError(
                f"queue {queue!r}: lane_concurrency must name each lane once ({', '.join(lanes)}); "
                + (f"missing {missing}" if missing else f"unknown {unknown}")
            )
        for lane, share in lane_concurrency.items():
            if isinstance(share, bool) or not isinstance(share, int) or not low <= share <= high:
                raise TaskDefinitionError(
                    f"queue {queue!r}: lane_concurrency[{lane!r}] = {share!r} must be an int {low}-{high} "
                    "(an event source's MaximumConcurrency)"
                )
        return {lane: int(lane_concurrency[lane]) for lane in lanes}
    if max_concurrency is None:
        raise TaskDefinitionError(
            f"queue {queue!r}: a queue with lanes needs a cap on every lane, or a flood of one lane may take the "
            "concurrency the others need: give max_concurrency (split between the lanes) or lane_concurrency"
        )
    if max_concurrency < low * len(lanes):
        raise TaskDefinitionError(
            f"queue {queue!r}: max_concurrency {max_concurrency} cannot give each of its {len(lanes)} lanes the "
            f"event source minimum of {low}: raise it to {low * len(lanes)} or more, or give lane_concurrency"
        )
    each, extra = divmod(max_concurrency, len(lanes))
    return {lane: each + (1 if i < extra else 0) for i, lane in enumerate(lanes)}


def start_bound(*, batching_window: float, batch_size: int, longest_task: float) -> float:
    """Seconds a task may wait on its lane between its send and its start, whatever the other lanes hold.

    The bound holds while the lane's own work fits its share (fewer than share x batch size of its messages in
    flight or waiting) and the function has concurrency for every lane's share (the account's unreserved
    concurrency, or the function's reserved concurrency, covers the sum of the caps): the lane's event source
    receives the message as it arrives, waits out its batching window, and runs the batch's records in order,
    so at most ``batch_size - 1`` tasks of the same lane run before it. The long poll's own return (SQS returns
    a message to a waiting poll as it arrives; AWS states no figure) comes on top and is not counted here.
    """
    return batching_window + (batch_size - 1) * longest_task


def lane_physical_names(prefix: str, queue: str, lane: str) -> tuple[str, str]:
    """A lane's SQS queue and DLQ names: ``<prefix>-<queue>-<lane>`` and the same with ``-dlq``."""
    return f"{prefix}-{queue}-{lane}", f"{prefix}-{queue}-{lane}-dlq"


def lane_key(queue: str, lane: str) -> str:
    """The name a lane's queue goes by in the settings and the local runtime: ``emails:high``."""
    return config.lane_key(queue, lane)


def check_unique(owners: Iterable[tuple[str, str]]) -> None:
    """Refuse two resources with one physical queue name (a lane ``emails``/``high`` and a queue ``emails-high``).

    ``owners`` are (physical name, what it belongs to) pairs.
    """
    seen: dict[str, str] = {}
    for name, owner in owners:
        if name in seen:
            raise ConfigurationError(f"{owner} would be the SQS queue {name!r}, as {seen[name]} is: rename one of them")
        seen[name] = owner
