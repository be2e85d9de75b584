"""Lambda entry point of the Squall worker: ``squall.functions.worker.handler``.

The stack sets ``SQUALL_APP`` (the app as ``module:attribute``) and ``SQUALL_CONFIG`` (its resources);
everything else lives in :mod:`squall.worker`.
"""

from __future__ import annotations

from squall.handler import handler_from_env

handler = handler_from_env()
