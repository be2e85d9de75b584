"""The worker functions of a deployment: the default worker every queue without sizing shares, and one function
per queue that declares its own (``Queue("reports", timeout=900, memory=1024)``, squall.deploy.workers).

Each is a :class:`~squall.cdk.constructs.SquallFunction` on the same bundle and environment as the default worker,
with the same grants (squall.cdk.grants), acknowledgements (squall.cdk.nag) and alarms (its own errors and
throttles); only its sizing, its name and the event sources it consumes differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from squall.cdk import packaging
from squall.cdk.constructs import BundleProps, SquallFunction
from squall.deploy.topology import Topology

if TYPE_CHECKING:
    from squall.cdk.service import SquallService


def default_worker(
    scope: Construct, *, shared: BundleProps, topology: Topology, deployment_name: str
) -> SquallFunction:
    """The worker of every queue without sizing of its own (construct id ``Worker``), sized by ``topology.sizing``."""
    return SquallFunction(
        scope,
        "Worker",
        shared=shared,
        handler=packaging.HANDLER,
        timeout=topology.sizing.timeout,
        memory=topology.sizing.memory,
        reserved_concurrency=topology.sizing.reserved_concurrency,
        ephemeral_storage=topology.sizing.ephemeral_storage,
        description=f"Squall worker of {deployment_name}: runs the app's tasks from its SQS queues",
        # Retries and follow-up tasks are messages the worker sends to the queues it consumes: a loop by
        # design, which Lambda's recursive-loop detection (on by default) stops after about 16 hops of one
        # chain, i.e. near a task's 16th retry. Squall bounds the loop itself: the worker counts a task's
        # attempts and caps them (squall.limits.MAX_RETRIES_CEILING).
        recursive_loop=lambda_.RecursiveLoop.ALLOW,
    )


def queue_workers(
    scope: Construct, *, shared: BundleProps, topology: Topology, deployment_name: str
) -> dict[str, SquallFunction]:
    """One function per queue with its own sizing, by queue name (construct id ``Worker-<queue>``)."""
    return {
        worker.queue: SquallFunction(
            scope,
            f"Worker-{worker.queue}",
            shared=shared,
            handler=packaging.HANDLER,
            function_name=worker.function_name,
            timeout=worker.sizing.timeout,
            memory=worker.sizing.memory,
            reserved_concurrency=worker.sizing.reserved_concurrency,
            ephemeral_storage=worker.sizing.ephemeral_storage,
            description=f"Squall worker of {deployment_name}: runs the tasks of queue {worker.queue!r}",
            # As the default worker's (above): retries are messages to the queue it consumes.
            recursive_loop=lambda_.RecursiveLoop.ALLOW,
        )
        for worker in topology.workers
    }


def every_worker(service: SquallService) -> list[SquallFunction]:
    """The default worker, then each queue's own, in declaration order."""
    return [service.worker, *service.queue_workers.values()]


def worker_for(service: SquallService, queue: str) -> SquallFunction:
    """The function consuming declared queue ``queue`` (every lane of it)."""
    return service.queue_workers.get(queue, service.worker)
