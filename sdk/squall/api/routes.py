"""The REST API's routes on a Powertools ``APIGatewayHttpResolver``: the same object answers on Lambda and locally.

``make_resolver(app, tokens)`` builds it; every route but ``GET /v1/openapi.json`` needs ``Authorization: Bearer
<token>`` with one of ``tokens()``. Errors are ``{"error": "..."}`` with the status the contract gives them
(docs/api.md); :mod:`squall.api.openapi` documents each route, and the tests check that the two agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from squall import config
from squall.api import openapi, schedule_routes
from squall.api.auth import TokenSource, authorized, secret_tokens
from squall.api.payloads import an_object, batch_from_doc, call_from_doc, json_body, when_from_doc
from squall.api.sending import Sent, refusal, send_call, send_calls, with_target_steps
from squall.api.views import error, reply, task_view
from squall.app import load_app
from squall.errors import (
    ApiRequestError,
    ConfigurationError,
    EnqueueError,
    InvalidArguments,
    InvalidTaskId,
    TaskNotRegistered,
)
from squall.sending.delays import RevokeOutcome
from squall.tasks.workflow_json import node_from_doc

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

    from squall.app import Squall

#: The prefix of every route: a breaking change gets /v2 beside it.
PREFIX = "/v1"
#: Served without credentials, so that clients and tools can read the contract.
OPENAPI_PATH = f"{PREFIX}/openapi.json"
#: The header whose value becomes the task id (a retried POST then sends the same task, which runs once).
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: Sent with every 401, as RFC 6750 asks.
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="squall"'}

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def make_resolver(app: Squall, tokens: TokenSource | None) -> APIGatewayHttpResolver:
    """The API of ``app`` as a resolver (``resolver.resolve(event, context)`` answers one v2 HTTP API event).

    ``tokens=None`` checks no token: only for a front door that authenticates every caller itself (API Gateway's
    IAM authorization, ``squall:api=iam``), where the Authorization header carries a SigV4 signature instead.
    """
    resolver = APIGatewayHttpResolver()

    if tokens is not None:
        resolver.use([_require_token(tokens)])

    def bad_request(exc: ApiRequestError) -> Response[str]:
        return error(exc.status, str(exc))

    resolver.exception_handler(ApiRequestError)(bad_request)

    def not_sent(exc: EnqueueError) -> Response[str]:
        return error(503, f"the task could not be queued ({exc}); send it again with the same Idempotency-Key")

    resolver.exception_handler(EnqueueError)(not_sent)

    def misconfigured(exc: ConfigurationError) -> Response[str]:
        return error(503, f"the API cannot reach the app's resources: {exc}")

    resolver.exception_handler(ConfigurationError)(misconfigured)

    @resolver.not_found
    def no_route(exc: Exception) -> Response[str]:
        event = resolver.current_event
        return error(404, f"no route {event.http_method} {event.path}: GET {OPENAPI_PATH} lists them")

    def idempotency_key() -> str | None:
        key = resolver.current_event.headers.get(IDEMPOTENCY_HEADER)
        return key.strip() if key and key.strip() else None

    def accepted(sent: Sent) -> dict[str, Any]:
        return {"id": sent.id, "state": str(sent.state)}

    @resolver.get(OPENAPI_PATH)
    def contract() -> Response[str]:
        return reply(200, openapi.document())

    @resolver.post(f"{PREFIX}/tasks")
    def send_task() -> Response[str]:
        call = call_from_doc(json_body(resolver.current_event.decoded_body), task_id=idempotency_key())
        return reply(202, accepted(send_call(app, call)))

    def no_idempotency_key(instead: str) -> None:
        # Ignoring it would let a client believe a retried POST is safe when it sends everything again
        if idempotency_key() is not None:
            raise ApiRequestError(f"{IDEMPOTENCY_HEADER} names one task (POST {PREFIX}/tasks); here {instead}")

    @resolver.post(f"{PREFIX}/batches")
    def send_batch() -> Response[str]:
        no_idempotency_key('give each call its own "id" instead')
        calls = batch_from_doc(json_body(resolver.current_event.decoded_body))
        return reply(202, {"tasks": [accepted(sent) for sent in send_calls(app, calls)]})

    @resolver.post(f"{PREFIX}/workflows")
    def send_workflow() -> Response[str]:
        no_idempotency_key('give steps their ids as "options": {"task_id": "..."} instead')
        doc = an_object(json_body(resolver.current_event.decoded_body))
        unknown = sorted(set(doc) - {"workflow", "countdown", "eta"})
        if unknown or "workflow" not in doc:
            raise ApiRequestError('the body must be {"workflow": {...}} (with "countdown" or "eta" if due later)')
        when = when_from_doc(doc, "the body")
        try:
            node = node_from_doc(app, with_target_steps(app, doc["workflow"]))
            sent = app.send_workflow(node, countdown=when.countdown, eta=when.eta)
        except (InvalidArguments, TaskNotRegistered, ValueError) as exc:
            raise refusal(exc) from None
        return reply(202, {"id": sent.id, "state": "PENDING"})

    @resolver.get(f"{PREFIX}/tasks/<task_id>")
    def read_task(task_id: str) -> Response[str]:
        record = _record(app, task_id)
        if record is None:
            return error(404, f"no task with id {task_id!r}: check the id (records expire 14 days after they finish)")
        return reply(200, task_view(record))

    @resolver.delete(f"{PREFIX}/tasks/<task_id>")
    def revoke_task(task_id: str) -> Response[str]:
        try:
            outcome = app.revoke(task_id)
        except InvalidTaskId as exc:
            raise refusal(exc) from None
        if outcome is RevokeOutcome.RUNNING:
            return error(409, f"task {task_id!r} is running and cannot be stopped; read it with GET")
        if outcome is RevokeOutcome.ALREADY_FINISHED:
            return error(409, f"task {task_id!r} has already finished; read its outcome with GET")
        return reply(200, {"id": task_id, "state": "REVOKED"})

    schedule_routes.add_routes(resolver, app, PREFIX)
    return resolver


def _require_token(tokens: TokenSource) -> Callable[[APIGatewayHttpResolver, NextMiddleware], Response[Any]]:
    """The middleware answering 401 to a request without one of ``tokens`` (but for the OpenAPI document)."""

    def require_token(router: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
        event = router.current_event
        if event.path == OPENAPI_PATH and event.http_method == "GET":
            return next_middleware(router)
        header = event.headers.get("authorization")
        if header is None:
            return error(401, "no credentials: send Authorization: Bearer <token>", _CHALLENGE)
        if not authorized(header, tokens()):
            return error(401, "the bearer token is not valid: send one the API accepts", _CHALLENGE)
        return next_middleware(router)

    return require_token


def _record(app: Squall, task_id: str) -> Any:
    try:
        return app.store.get(task_id)
    except (InvalidTaskId, ValueError) as exc:
        raise refusal(exc) from None


def handler_from_env() -> Handler:
    """The deployed API function's handler: the app of ``SQUALL_APP``, tokens from ``SQUALL_API_TOKEN_SECRET``
    (or none checked when ``SQUALL_API_AUTH=iam``: API Gateway has verified each caller's SigV4 signature)."""
    app = load_app(config.app_spec_from_env())
    secret = config.api_token_secret_from_env()
    iam = config.api_auth_from_env() == "iam"
    if secret is None and not iam:
        raise ConfigurationError(
            f"{config.ENV_API_TOKEN_SECRET} is not set: the API function needs the secret holding its tokens "
            f"(or {config.ENV_API_AUTH}=iam behind an IAM-authorized front door)",
            missing=[config.ENV_API_TOKEN_SECRET],
        )
    resolver = make_resolver(app, None if secret is None else secret_tokens(secret))

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return resolver.resolve(event, context)

    return handler
