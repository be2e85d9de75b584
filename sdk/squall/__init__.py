"""Squall: a serverless task queue for Python on AWS (SQS, Lambda, DynamoDB, EventBridge Scheduler).

from squall import Squall

app = Squall("shop")

@app.task(max_retries=5)
def charge(order_id: str, amount: int) -> dict: ...

charge.delay("o-1", 100).get(timeout=30)
"""

from squall.app import Squall
from squall.config import QueueAddress, Settings
from squall.errors import (
    ConfigurationError,
    DecodeError,
    EncodeError,
    EnqueueError,
    InvalidArguments,
    InvalidSchedule,
    LeaseLost,
    MessageTooLarge,
    ResultTimeout,
    SquallError,
    TaskDefinitionError,
    TaskFailed,
    TaskNotRegistered,
    TaskRevoked,
)
from squall.result import AsyncResult
from squall.states import State
from squall.store import ErrorInfo, Progress
from squall.task import Request, Retry, Signature, Task, TaskContext
from squall.topology import Queue, WorkerSizing

__version__ = "0.1.0"

__all__ = [
    "AsyncResult",
    "ConfigurationError",
    "DecodeError",
    "EncodeError",
    "EnqueueError",
    "ErrorInfo",
    "InvalidArguments",
    "InvalidSchedule",
    "LeaseLost",
    "MessageTooLarge",
    "Progress",
    "Queue",
    "QueueAddress",
    "Request",
    "ResultTimeout",
    "Retry",
    "Settings",
    "Signature",
    "Squall",
    "SquallError",
    "State",
    "Task",
    "TaskContext",
    "TaskDefinitionError",
    "TaskFailed",
    "TaskNotRegistered",
    "TaskRevoked",
    "WorkerSizing",
    "__version__",
]
