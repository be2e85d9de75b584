"""HTTP-target tasks: deliver a JSON payload to a URL, retried until it is accepted (docs/http-tasks.md).

:mod:`~squall.targets.spec` (the request, as JSON data), :mod:`~squall.targets.guard` (which addresses may be
called), :mod:`~squall.targets.webhooks` (Standard Webhooks signing), :mod:`~squall.targets.client` (urllib3,
pinned to the checked address), :mod:`~squall.targets.delivery` (one attempt and its outcome) and
:mod:`~squall.targets.task` (the built-in ``squall.http`` task and its signatures).
"""

from __future__ import annotations

from squall.targets.task import (
    FLOW_ARGUMENT,
    TASK_NAME,
    HttpCallOptions,
    HttpRequestOptions,
    HttpResult,
    HttpTargets,
)
from squall.targets.webhooks import new_secret

__all__ = [
    "FLOW_ARGUMENT",
    "TASK_NAME",
    "HttpCallOptions",
    "HttpRequestOptions",
    "HttpResult",
    "HttpTargets",
    "new_secret",
]
