"""Squall's building blocks: small constructs with keyword-only props and public resource attributes.

They create resources only; :class:`squall.cdk.stack.SquallService` wires them together (grants,
environment, the producer policy), so the whole IAM surface reads in one file.
"""

from squall.cdk.constructs.extension_resources import ExtensionResources
from squall.cdk.constructs.function import BundleProps, SquallFunction
from squall.cdk.constructs.monitoring import Monitoring
from squall.cdk.constructs.queues import IntakeQueue, TaskQueue
from squall.cdk.constructs.scheduler import TaskScheduler
from squall.cdk.constructs.table import TaskTable

__all__ = [
    "BundleProps",
    "ExtensionResources",
    "IntakeQueue",
    "Monitoring",
    "SquallFunction",
    "TaskQueue",
    "TaskScheduler",
    "TaskTable",
]
