"""Squall's building blocks: small constructs with keyword-only props and public resource attributes.

They create resources only; :class:`infra.stack.SquallService` wires them together (grants,
environment, the producer policy), so the whole IAM surface reads in one file.
"""

from infra.constructs.extension_resources import ExtensionResources
from infra.constructs.function import BundleProps, SquallFunction
from infra.constructs.monitoring import Monitoring
from infra.constructs.queues import IntakeQueue, TaskQueue
from infra.constructs.scheduler import TaskScheduler
from infra.constructs.table import TaskTable

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
