"""The built-in task ``squall.http`` every app registers, and the signatures and sends that call it.

It is an ordinary task: the same queues, states, retries, DLQ, schedules and workflows as any other. Its
arguments are the request spec (:mod:`squall.targets.spec`, plain JSON) and the target's host, which becomes its
``flow_key`` once :meth:`HttpTargets.limit` sets a rate or concurrency limit: the limits are then kept per host
(docs/flow-control.md).
It retries only what :mod:`squall.targets.delivery` turns into ``Retry``; anything else (a refused target, a
4xx, a malformed spec) makes it DEAD at once, with the cause in the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict, Unpack

from squall import limits
from squall.targets import spec
from squall.targets.guard import Resolver, check_literal
from squall.targets.webhooks import WebhookKeys
from squall.tasks.options import task_options
from squall.tasks.signature import CallOptions
from squall.tasks.task import Signature, Task, TaskContext

if TYPE_CHECKING:
    from collections.abc import Sequence

    from squall.protocols import App
    from squall.state.result import AsyncResult

#: The registered name of the built-in HTTP-target task.
TASK_NAME = "squall.http"
#: The argument of ``squall.http`` that keys its flow-control limits: the target's host.
FLOW_ARGUMENT = "host"
#: What a delivered HTTP target returns: ``{"status": int, "headers": {name: value}, "body": str}``.
HttpResult: TypeAlias = dict[str, Any]


class HttpRequestOptions(TypedDict, total=False):
    """How the request is made (the rest of the spec is the URL and the payload)."""

    #: The HTTP method (default POST); GET, HEAD, DELETE and OPTIONS with no payload send no body.
    method: str
    #: Extra request headers (Squall sets Host, Content-Type, Content-Length and the webhook-* headers).
    headers: Mapping[str, str] | None
    #: Seconds for the whole exchange: connect, send, and the response read (default 30).
    timeout: float


class HttpCallOptions(HttpRequestOptions, CallOptions, total=False):
    """``send_http``'s options: the request's, then the call's (:class:`~squall.tasks.signature.CallOptions`)."""


_REQUEST_OPTIONS = frozenset(HttpRequestOptions.__annotations__)


class HttpTargets:
    """An app's HTTP targets: its webhook signing keys, whether private addresses may be called, its task.

    ``allow_private`` is off except under ``local.run(app, allow_private_targets=True)`` or ``squall dev
    --allow-private-targets``; it relaxes the address rule only, never the scheme rule. ``resolver`` replaces
    :func:`socket.getaddrinfo` (tests). The built-in task is registered on first use (:meth:`task`: a signature
    of it, or a worker looking it up), so ``app.tasks`` lists it only in an app that uses HTTP targets.
    """

    def __init__(self, app: App, secret: str | Sequence[str] | None) -> None:
        self.app = app
        self.keys = WebhookKeys(secret, app.client)
        self.allow_private = False
        self.resolver: Resolver | None = None
        self._limits: dict[str, Any] = {}

    def limit(self, *, rate_limit: str | None = None, concurrency_limit: int | None = None, burst: int = 1) -> None:
        """Per-host flow control of every HTTP target: ``app.http_targets.limit(rate_limit="10/s")`` keeps at most
        10 deliveries a second to each host (``flow_key`` = the target's host; docs/flow-control.md).

        Call it where the app is declared (the worker and the producer both import it). TaskDefinitionError for
        a limit that is not usable, as for ``@app.task``.
        """
        given = {"rate_limit": rate_limit, "concurrency_limit": concurrency_limit, "burst": burst}
        self._limits = {k: v for k, v in given.items() if v is not None and not (k == "burst" and v == 1)}
        self.app.tasks.pop(TASK_NAME, None)
        self.task()  # registered again with the limits, checked now

    def task(self) -> Task[..., dict[str, Any]]:
        """The app's ``squall.http`` task, registered now if it is not yet."""
        existing = self.app.tasks.get(TASK_NAME)
        if existing is not None:
            return existing
        settings = self

        def http_target(context: TaskContext, request: dict[str, Any], host: str) -> dict[str, Any]:
            """Deliver ``request`` (a JSON request spec) to its URL; see :mod:`squall.targets.delivery`."""
            from squall.targets import delivery  # the HTTP client, imported by the first delivery, not cold starts

            attempt = delivery.Attempt(
                context.request.id, settings.keys, allow_private=settings.allow_private, resolver=settings.resolver
            )
            return delivery.deliver(spec.read(request), attempt)

        declared: dict[str, Any] = {"name": TASK_NAME, "autoretry_for": ()}
        if self._limits:  # flow control keyed by the host, once a limit is set (a key without a limit is refused)
            declared.update(self._limits, flow_key=FLOW_ARGUMENT)
        options = task_options(declared, name=TASK_NAME, bind=True, app=self.app)
        task: Task[..., dict[str, Any]] = Task(self.app, http_target, options)
        self.app.tasks[TASK_NAME] = task
        return task

    def signature(
        self,
        url: str,
        payload: Any = None,
        *,
        method: str = "POST",
        headers: Mapping[str, str] | None = None,
        timeout: float = limits.HTTP_TARGET_DEFAULT_TIMEOUT_SECONDS,
    ) -> Signature[HttpResult]:
        """An immutable signature of one HTTP-target call (a workflow step ignores its parent's result).

        TargetRefused now for a scheme other than http(s) or an IP-literal host that is not globally routable;
        hostnames are checked when the request is delivered. InvalidArguments for a bad method, header,
        timeout or a payload that is not JSON.
        """
        request = spec.build(url, payload, method=method, headers=headers, timeout=timeout)
        target = request.target
        check_literal(target, allow_private=self.allow_private)
        self.task()
        return Signature(TASK_NAME, (request.to_json(), target.host), {}, app=self.app, immutable=True)

    def send(self, url: str, payload: Any = None, **options: Unpack[HttpCallOptions]) -> AsyncResult[HttpResult]:
        """Send one HTTP-target call: the request options shape the signature, the rest go to ``app.send``."""
        given: dict[str, Any] = dict(options)
        request = {key: given.pop(key) for key in list(given) if key in _REQUEST_OPTIONS}
        call: CallOptions = given  # type: ignore[assignment]  # the keys left are CallOptions'
        return self.app.send(self.signature(url, payload, **request), **call)
