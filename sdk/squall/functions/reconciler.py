"""Lambda entry point of the Squall reconciler: ``squall.functions.reconciler.handler``.

It drains the app's intake queue, where SQS's redrive policies move messages, and the FIFO intake queue of an
app with FIFO queues (a second event source on the same function). The stack sets the same
``SQUALL_APP`` and ``SQUALL_CONFIG`` as for the worker; everything else lives in :mod:`squall.worker.reconciler`.
"""

from __future__ import annotations

from squall.handler import reconciler_handler_from_env

handler = reconciler_handler_from_env()
