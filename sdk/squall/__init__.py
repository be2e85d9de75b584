"""Squall: a serverless task queue for Python on AWS (SQS, Lambda, DynamoDB, EventBridge Scheduler).

from squall import Squall

app = Squall("shop")

@app.task(max_retries=5)
def charge(order_id: str, amount: int) -> dict: ...

charge.delay("o-1", 100).get(timeout=30)
"""

from squall.app import Squall
from squall.config import QueueAddress, Settings
from squall.deploy.topology import Queue, WorkerSizing
from squall.errors import (
    ConfigurationError,
    DecodeError,
    DeliveryFailed,
    EncodeError,
    EnqueueError,
    InvalidArguments,
    InvalidSchedule,
    InvalidTaskId,
    LeaseLost,
    MessageTooLarge,
    ResultTimeout,
    ScheduleExists,
    ScheduleNotFound,
    SignatureError,
    SoftTimeLimitExceeded,
    SquallError,
    TargetRefused,
    TaskDefinitionError,
    TaskFailed,
    TaskNotRegistered,
    TaskRevoked,
    TimeLimitExceeded,
)
from squall.scheduler.periodic import PeriodicSchedule
from squall.scheduler.schedules import ScheduleInfo, ScheduleSummary
from squall.scheduler.scheduling import SCHEDULED_TIME, preview_schedule
from squall.sending.delays import RevokeOutcome
from squall.state.result import AsyncResult, GroupResult
from squall.state.schema import ErrorInfo, Progress
from squall.states import State
from squall.targets import new_secret as new_webhook_secret
from squall.tasks.canvas import MemberFailed, WorkflowPartlySent
from squall.tasks.signature import Chain, Chord, Group, chain, chord, group
from squall.tasks.task import Request, Retry, Signature, Task, TaskContext
from squall.wire.signing import Keyring

__version__ = "0.1.0"

__all__ = [
    "SCHEDULED_TIME",
    "AsyncResult",
    "Chain",
    "Chord",
    "ConfigurationError",
    "DecodeError",
    "DeliveryFailed",
    "EncodeError",
    "EnqueueError",
    "ErrorInfo",
    "Group",
    "GroupResult",
    "InvalidArguments",
    "InvalidSchedule",
    "InvalidTaskId",
    "Keyring",
    "LeaseLost",
    "MemberFailed",
    "MessageTooLarge",
    "PeriodicSchedule",
    "Progress",
    "Queue",
    "QueueAddress",
    "Request",
    "ResultTimeout",
    "Retry",
    "RevokeOutcome",
    "ScheduleExists",
    "ScheduleInfo",
    "ScheduleNotFound",
    "ScheduleSummary",
    "Settings",
    "Signature",
    "SignatureError",
    "SoftTimeLimitExceeded",
    "Squall",
    "SquallError",
    "State",
    "TargetRefused",
    "Task",
    "TaskContext",
    "TaskDefinitionError",
    "TaskFailed",
    "TaskNotRegistered",
    "TaskRevoked",
    "TimeLimitExceeded",
    "WorkerSizing",
    "WorkflowPartlySent",
    "__version__",
    "chain",
    "chord",
    "group",
    "new_webhook_secret",
    "preview_schedule",
]
