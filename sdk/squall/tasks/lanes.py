"""Priority lanes: a queue declared with lanes is one SQS queue per lane; ``priority=`` picks the lane."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from squall.errors import InvalidArguments

if TYPE_CHECKING:
    from squall.tasks.task import Task


def call_options(task: Task[..., Any], queue: str, priority: str | None) -> dict[str, Any]:
    """The envelope options that route one call of ``task`` on ``queue`` to the lane ``priority`` names."""
    if priority is not None:
        raise InvalidArguments(f"task {task.name!r}: queue {queue!r} has no priority lanes; drop priority=")
    return {}
