"""What the layers below ``squall.app`` may use of an app: the :class:`App` protocol.

:class:`squall.Squall` composes the packages (wire format, state, tasks, sending, scheduling, the worker,
operations); none of them imports it. They type against this protocol instead, so a module knows only the
part of an app it uses, and the import contract (``[tool.importlinter]`` in pyproject.toml) keeps every
runtime import pointing down the layers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, Unpack

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_scheduler import EventBridgeSchedulerClient
    from mypy_boto3_sqs import SQSClient

    from squall.config import Settings
    from squall.deploy.topology import Queue
    from squall.scheduler.periodic import PeriodicSchedule
    from squall.scheduler.schedules import Schedules
    from squall.sending.delays import RevokeOutcome
    from squall.state.result import AsyncResult, GroupResult
    from squall.state.store import TaskStore
    from squall.tasks.canvas import Launch
    from squall.tasks.extensions import Extension
    from squall.tasks.signature import CallOptions, Node, Signature
    from squall.tasks.task import Task
    from squall.wire.signing import Signer

R = TypeVar("R")


class App(Protocol):
    """An app as the layers below :mod:`squall.app` see it (:class:`squall.Squall` is the one implementation)."""

    name: str
    stage: str | None
    index_success: bool
    default_queue: str

    @property
    def queues(self) -> Mapping[str, Queue]: ...
    @property
    def tasks(self) -> dict[str, Task[..., Any]]: ...
    @property
    def periodic_schedules(self) -> dict[str, PeriodicSchedule]: ...
    @property
    def extensions(self) -> Sequence[Extension]: ...
    @property
    def settings(self) -> Settings: ...
    @property
    def signer(self) -> Signer | None: ...
    @property
    def store(self) -> TaskStore: ...
    @property
    def schedules(self) -> Schedules: ...
    @property
    def sqs(self) -> SQSClient: ...
    @property
    def dynamodb(self) -> DynamoDBClient: ...
    @property
    def scheduler(self) -> EventBridgeSchedulerClient: ...

    def client(self, service: str) -> Any: ...
    def task(self, fn: Callable[..., Any], /) -> Task[..., Any]: ...
    def get_task(self, name: str) -> Task[..., Any]: ...
    def send(self, signature: Signature[R], **options: Unpack[CallOptions]) -> AsyncResult[R]: ...
    def send_batch(
        self, signatures: Iterable[Signature[Any]], *, task_ids: Sequence[str] | None = None
    ) -> list[AsyncResult[Any]]: ...
    def send_workflow(self, node: Node, **options: Unpack[CallOptions]) -> AsyncResult[Any] | GroupResult: ...
    def send_launches(self, launches: Sequence[Launch], **options: Unpack[CallOptions]) -> None: ...
    def revoke(self, task_id: str) -> RevokeOutcome: ...
