"""AsyncResult: a handle on one task's state, progress and result, read from DynamoDB."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from squall import clock
from squall.errors import ResultTimeout, TaskFailed, TaskRevoked, TaskUntracked
from squall.offload.results import result_text
from squall.state import groups
from squall.state.schema import ErrorInfo, Progress, TaskRecord
from squall.states import FINAL_STATES, State
from squall.wire import codec

if TYPE_CHECKING:
    from squall.protocols import App
    from squall.sending.delays import RevokeOutcome

R = TypeVar("R")

#: Polling of ``get``: first interval, growth factor and cap, in seconds.
_POLL_FIRST, _POLL_FACTOR, _POLL_MAX = 0.1, 1.5, 2.0
#: States a task never leaves, so a handle keeps a record in them without reading it again. DEAD is final
#: but not for good: a redrive brings the task back to PENDING, and a handle must then see it run.
_SETTLED_STATES = frozenset({State.SUCCESS, State.REVOKED})


class AsyncResult(Generic[R]):
    """The state and outcome of task ``id``. An unknown or expired id reads PENDING, as in Celery."""

    def __init__(self, id: str, *, app: App, eta: float | None = None, untracked: str | None = None) -> None:
        self.id = id
        self.app = app
        #: The task's name when it is declared ``track=False`` (known to the handle its send returned): reading its
        #: state raises :class:`~squall.errors.TaskUntracked` instead of reading PENDING for ever.
        self.untracked = untracked
        #: In a workflow, the step before this one (an AsyncResult or a GroupResult), as it was sent.
        self.parent: AsyncResult[Any] | GroupResult | None = None
        self._record: TaskRecord | None = None
        self._eta = eta  # as the producer sent it; the stored record wins once there is one

    def __repr__(self) -> str:
        return f"<AsyncResult {self.id}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AsyncResult) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    def refresh(self) -> TaskRecord | None:
        """Read the task's record now; a SUCCESS or REVOKED record is kept and not read again.

        Every other state is read each time, DEAD included: ``squall.ops.dlq.redrive`` can bring a DEAD task back.
        """
        if self.untracked is not None:
            raise TaskUntracked(self.id, self.untracked)
        if self._record is None or self._record.state not in _SETTLED_STATES:
            self._record = self.app.store.get(self.id)
        return self._record

    @property
    def eta(self) -> datetime | None:
        """When the task is due (aware UTC), if it was sent with a delay; None otherwise.

        Read from the task's record: long delays (over 900 s) record it when sent, shorter ones when the
        worker claims the task. Before that, the handle returned by ``delay``/``apply_async`` knows it.
        """
        record = None if self.untracked is not None else self.refresh()
        when = record.eta if record is not None and record.eta is not None else self._eta
        return None if when is None else datetime.fromtimestamp(when, UTC)

    def revoke(self) -> RevokeOutcome:
        """Cancel the task if it has not started; see :meth:`squall.Squall.revoke`."""
        return self.app.revoke(self.id)

    @property
    def record(self) -> TaskRecord | None:
        """The stored record, read now; None while PENDING."""
        return self.refresh()

    @property
    def state(self) -> State:
        """The current state."""
        record = self.refresh()
        return State.PENDING if record is None else record.state

    def ready(self) -> bool:
        """Whether the task reached a final state (SUCCESS, DEAD or REVOKED; a redrive makes DEAD not ready)."""
        return self.state in FINAL_STATES

    def successful(self) -> bool:
        """Whether the task finished with SUCCESS."""
        return self.state is State.SUCCESS

    def failed(self) -> bool:
        """Whether the task is DEAD."""
        return self.state is State.DEAD

    @property
    def result(self) -> R | None:
        """The result once SUCCESS (None with ignore_result, or before)."""
        record = self.refresh()
        if record is None or record.state is not State.SUCCESS or record.result_json is None:
            return None
        value: R = codec.loads(result_text(self.app, record.result_json, self.id))  # fetched if offloaded
        return value

    @property
    def error(self) -> ErrorInfo | None:
        """The latest failure (while RETRY, or once DEAD)."""
        record = self.refresh()
        return None if record is None else record.error

    @property
    def progress(self) -> Progress | None:
        """The latest stored progress report."""
        record = self.refresh()
        return None if record is None else record.progress

    @property
    def info(self) -> Any:
        """Celery's ``info``: the result on SUCCESS, the error on RETRY/DEAD, else the progress."""
        record = self.refresh()
        if record is None:
            return None
        if record.state is State.SUCCESS:
            return self.result
        if record.state in (State.RETRY, State.DEAD):
            return record.error
        return record.progress

    def get(self, timeout: float | None = 30.0, *, interval: float = _POLL_FIRST) -> R | None:
        """Wait for the task to finish and return its result.

        Polls with backoff (``interval``, growing to 2 s). Raises TaskFailed if DEAD, TaskRevoked if
        revoked, ResultTimeout after ``timeout`` seconds (None waits forever; 0 checks once). Each call
        reads the record again unless it was SUCCESS or REVOKED, so after a redrive it waits for the new run.
        """
        deadline = None if timeout is None else clock.now() + timeout
        while True:
            record = self.refresh()
            if record is not None and record.state in FINAL_STATES:
                return self._outcome(record)
            remaining = None if deadline is None else deadline - clock.now()
            if remaining is not None and remaining <= 0:
                raise ResultTimeout(
                    f"task {self.id} is still {State.PENDING if record is None else record.state} after "
                    f"{timeout} s; call get() again, or raise the timeout"
                )
            clock.sleep(interval if remaining is None else min(interval, remaining))
            interval = min(interval * _POLL_FACTOR, _POLL_MAX)

    def _outcome(self, record: TaskRecord) -> R | None:
        if record.state is State.DEAD:
            error = record.error or ErrorInfo("Unknown", record.reason or "no error recorded")
            raise TaskFailed(self.id, error.type, error.message, error.traceback)
        if record.state is State.REVOKED:
            raise TaskRevoked(self.id)
        return self.result


_GROUP_ID = re.compile(r"g([1-9][0-9]*)-[0-9a-f]{32}")


def group_id(size: int, token: str) -> str:
    """The id of a group of ``size`` members (``token``: 32 hex digits, a uuid4's)."""
    return f"g{size}-{token}"


def group_size(group_id: str) -> int:
    """The number of members a group id says its group has; ValueError for an id no group was given."""
    match = _GROUP_ID.fullmatch(group_id)
    if match is None:
        raise ValueError(f"{group_id!r} is not a group id (g<size>-<32 hex digits>, as group(...).delay().id reads)")
    return int(match.group(1))


class GroupResult:
    """The members of group ``id``, in the header's order: member ``i`` finished as task ``<id>.<i>``.

    ``app.GroupResult(id)`` restores a handle from the id alone: :mod:`squall.tasks.canvas` writes a group's id as
    ``g<size>-<32 hex digits>`` (:func:`group_size`). Reads are BatchGetItem of up to 100 members a request;
    :meth:`get` backs off as ``AsyncResult.get`` does.
    """

    def __init__(
        self, id: str, *, app: App, size: int | None = None, results: list[AsyncResult[Any] | Any] | None = None
    ) -> None:
        self.id = id
        self.app = app
        self.size = group_size(id) if size is None else size
        #: The members' handles; a member that is a chain is its last step's.
        self.results: list[AsyncResult[Any]] = (
            [r for r in results if isinstance(r, AsyncResult)]
            if results is not None
            else [AsyncResult(f"{id}.{i}", app=app) for i in range(self.size)]
        )
        self.parent: AsyncResult[Any] | GroupResult | None = None

    def __repr__(self) -> str:
        return f"<GroupResult {self.id} ({self.size} members)>"

    def __len__(self) -> int:
        return self.size

    def records(self) -> list[TaskRecord | None]:
        """Every member's record now (None while PENDING), with as few requests as DynamoDB allows."""
        found = groups.get_many(self.app.dynamodb, self.app.settings.table, [r.id for r in self.results])
        for handle in self.results:
            handle._record = found.get(handle.id)  # read once for all: the handles answer from it
        return [found.get(r.id) for r in self.results]

    def states(self) -> list[State]:
        return [State.PENDING if r is None else r.state for r in self.records()]

    def completed_count(self) -> int:
        """How many members succeeded (Celery's meaning)."""
        return sum(state is State.SUCCESS for state in self.states())

    def finished_count(self) -> int:
        """How many members reached a final state (SUCCESS, DEAD or REVOKED)."""
        return sum(state in FINAL_STATES for state in self.states())

    def ready(self) -> bool:
        return all(state in FINAL_STATES for state in self.states())

    def successful(self) -> bool:
        return all(state is State.SUCCESS for state in self.states())

    def failed(self) -> bool:
        return any(state is State.DEAD for state in self.states())

    def get(self, timeout: float | None = 30.0, *, interval: float = _POLL_FIRST) -> list[Any]:
        """Wait for every member and return their results in order; TaskFailed for the first DEAD member."""
        deadline = None if timeout is None else clock.now() + timeout
        while True:
            records = self.records()
            if all(r is not None and r.state in FINAL_STATES for r in records):
                return [handle._outcome(r) for handle, r in zip(self.results, records, strict=True) if r is not None]
            remaining = None if deadline is None else deadline - clock.now()
            if remaining is not None and remaining <= 0:
                done = sum(r is not None and r.state in FINAL_STATES for r in records)
                raise ResultTimeout(
                    f"group {self.id}: {done} of {self.size} members finished after {timeout} s; call get() again, "
                    "or raise the timeout"
                )
            clock.sleep(interval if remaining is None else min(interval, remaining))
            interval = min(interval * _POLL_FACTOR, _POLL_MAX)
