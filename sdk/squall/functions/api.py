"""Lambda entry point of the Squall REST API: ``squall.functions.api.handler``.

The stack sets ``SQUALL_APP``, ``SQUALL_CONFIG`` and ``SQUALL_API_TOKEN_SECRET``; the routes live in
:mod:`squall.api`.
"""

from __future__ import annotations

from squall.api.routes import handler_from_env

handler = handler_from_env()
