"""Squall's REST API: ``/v1/tasks``, ``/v1/batches``, ``/v1/workflows`` and ``/v1/schedules`` over HTTP, with JSON.

The routes are a Powertools ``APIGatewayHttpResolver`` (:mod:`squall.api.routes`), so the same code answers on
AWS (an API Gateway HTTP API in front of ``squall.functions.api.handler``) and locally (:mod:`squall.api.serving`,
a threaded server on 127.0.0.1 that ``squall dev`` starts). Every request but ``GET /v1/openapi.json`` carries a
bearer token (:mod:`squall.api.auth`). docs/api.md describes the contract; :mod:`squall.api.openapi` is its
OpenAPI 3.1 document.
"""

from __future__ import annotations

from squall.api.auth import TokenSource, new_token, static_tokens
from squall.api.routes import make_resolver

__all__ = ["TokenSource", "make_resolver", "new_token", "static_tokens"]
