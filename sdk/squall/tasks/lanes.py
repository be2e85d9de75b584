"""Priority lanes: a queue declared with lanes is one SQS queue per lane; ``priority=`` picks the lane.

``task.apply_async(..., priority="high")`` on a queue declared ``Queue("emails", lanes=("high", "low"))``
travels on lane ``high``: the envelope carries option ``lane``, and the producer sends it to that lane's queue
(:mod:`squall.sending.dispatch`). A call without ``priority=`` takes the queue's default lane (``default_lane=``,
else the lowest). Retries and fresh copies go back to the queue the delivery came from, so they keep their lane;
a DLQ redrive sends a message back to the lane whose DLQ held it. How the lanes are deployed is
:mod:`squall.deploy.lanes`; docs/flow-control.md, "Priorities", says what a lane guarantees.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from squall import limits
from squall.errors import InvalidArguments
from squall.wire import codec
from squall.wire.options import declare_option

if TYPE_CHECKING:
    from squall.tasks.task import Task
    from squall.wire.envelope import Envelope

#: The envelope option naming a message's lane (not required: a worker that does not know it runs the task,
#: and the queue it arrives on already is the lane).
LANE_OPTION = "lane"
_MAX_LANE_CHARS = limits.MAX_LANE_NAME_CHARS


def _lane_problem(value: object) -> str | None:
    if isinstance(value, str) and 0 < len(value) <= _MAX_LANE_CHARS and value.isascii() and value.isprintable():
        return None
    return f"must name a lane (1-{_MAX_LANE_CHARS} characters), got {codec.short_repr(value)}"


declare_option(LANE_OPTION, _lane_problem)


def call_options(task: Task[..., Any], queue: str, priority: str | None) -> dict[str, Any]:
    """The envelope options that route one call of ``task`` on ``queue`` to the lane ``priority`` names.

    A queue with lanes: ``{"lane": <lane>}``, the default lane without ``priority``; InvalidArguments names the
    lanes when ``priority`` is none of them. A queue without lanes: nothing, and ``priority`` is refused.
    """
    declared = task.app.queues.get(queue)
    lanes: tuple[str, ...] = declared.lanes if declared is not None else ()
    if not lanes or declared is None:
        if priority is not None:
            raise InvalidArguments(
                f"task {task.name!r}: queue {queue!r} has no priority lanes; drop priority=, or declare "
                f'Queue({queue!r}, lanes=("high", "low")) and deploy'
            )
        return {}
    if priority is None:
        return {LANE_OPTION: declared.default_lane}
    if priority not in lanes:
        raise InvalidArguments(
            f"task {task.name!r}: priority={codec.short_repr(priority)} is not a lane of queue {queue!r}; "
            f"give one of {', '.join(lanes)}"
        )
    return {LANE_OPTION: priority}


def lane_of(envelope: Envelope) -> str | None:
    """The lane an envelope travels on (None: its queue has no lanes, or the sender did not know them)."""
    lane = envelope.options.get(LANE_OPTION)
    return lane if isinstance(lane, str) else None
