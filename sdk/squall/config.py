"""Where an app's AWS resources are: read once, explicit argument > environment > SSM > error.

The stack publishes one JSON document (see :meth:`Settings.to_document`) in two places: the worker's
``SQUALL_CONFIG`` environment variable, and the SSM parameter ``/squall/<app>/config`` that producers read
with one call. The local runtime builds the same document for the resources it provisions. This is the
only module that reads ``os.environ``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from squall.errors import ConfigurationError

ENV_CONFIG = "SQUALL_CONFIG"
ENV_CONFIG_PARAMETER = "SQUALL_CONFIG_PARAMETER"
ENV_APP = "SQUALL_APP"
ENV_SIGNING = "SQUALL_SIGNING_PARAMETER"
ENV_STAGE = "SQUALL_STAGE"
#: The Secrets Manager secret holding the REST API's bearer token(s) (set by the stack on the API function).
ENV_API_TOKEN_SECRET = "SQUALL_API_TOKEN_SECRET"  # noqa: S105  # a variable name, not a secret
#: ``iam`` when API Gateway authenticates the REST API's callers (SigV4): the function then checks no token.
ENV_API_AUTH = "SQUALL_API_AUTH"
#: The ``ssm:``/``secretsmanager:`` reference of the HTTP targets' webhook secret (set by the stack on the worker).
ENV_WEBHOOK_SECRET = "SQUALL_WEBHOOK_SECRET"  # noqa: S105  # a variable name, not a secret
_APP_NAME = re.compile(r"[a-z][a-z0-9-]{0,39}")
#: Joins a queue's name and its lane's in the name a lane goes by (``emails:high``); no queue name holds it.
LANE_SEPARATOR = ":"
#: A stage joins the app name in every physical name (``squall-<app>-<stage>-...``): no '-', so the stage is
#: always the last part of the prefix.
_STAGE = re.compile(r"[a-z0-9]{1,16}")


def check_app_name(name: str) -> str:
    """Return ``name`` if it can prefix AWS resource names, else raise ConfigurationError."""
    if not _APP_NAME.fullmatch(name):
        raise ConfigurationError(
            f"app name {name!r} cannot name AWS resources: use 1-40 lowercase letters, digits and '-', "
            "starting with a letter"
        )
    return name


def check_stage(stage: str) -> str:
    """Return ``stage`` if it can join the app name in AWS resource names, else raise ConfigurationError."""
    if not _STAGE.fullmatch(stage):
        raise ConfigurationError(
            f"stage {stage!r} cannot name AWS resources: use 1-16 lowercase letters and digits (no '-'), e.g. prod"
        )
    return stage


def deployment_name(app: str, stage: str | None = None) -> str:
    """What an app's physical names carry: ``<app>``, or ``<app>-<stage>`` for a staged deployment."""
    return app if stage is None else f"{app}-{stage}"


def resource_prefix(app: str, stage: str | None = None) -> str:
    """The documented default naming: ``squall-<app>``, or ``squall-<app>-<stage>`` for a staged deployment."""
    return f"squall-{deployment_name(app, stage)}"


def parameter_name(app: str, stage: str | None = None) -> str:
    """The SSM parameter holding an app's published settings: ``/squall/<app>[/<stage>]/config``."""
    return f"/squall/{app}/config" if stage is None else f"/squall/{app}/{stage}/config"


def lane_key(queue: str, lane: str) -> str:
    """The name one lane of a queue goes by among the settings' queues: ``<queue>:<lane>``."""
    return f"{queue}{LANE_SEPARATOR}{lane}"


@dataclass(frozen=True, slots=True)
class Lanes:
    """The priority lanes of one queue: their names, highest first, and the lane a call without priority takes."""

    names: tuple[str, ...]
    default: str


@dataclass(frozen=True, slots=True)
class QueueAddress:
    """Where one logical queue and its dead-letter queue live."""

    url: str
    arn: str
    dlq_url: str
    dlq_arn: str
    max_receive_count: int

    @property
    def physical_name(self) -> str:
        """The SQS queue name (the last part of its ARN)."""
        return self.arn.rsplit(":", 1)[-1]


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved location of every resource an app uses."""

    app: str
    region: str
    table: str
    queues: Mapping[str, QueueAddress]
    #: The deployment's stage (None: an unstaged deployment).
    stage: str | None = None
    schedule_group: str = ""
    scheduler_role_arn: str = ""
    scheduler_dlq_arn: str = ""
    #: The queue SQS's redrive policies move messages to; the reconciler drains it (see squall.reconciler).
    intake_url: str = ""
    intake_arn: str = ""
    endpoint_url: str | None = None
    #: The queues declared with priority lanes, by name. Each lane is a queue of its own in ``queues``, under
    #: ``<queue>:<lane>`` (:func:`lane_key`); the queue's own name is not there.
    lanes: Mapping[str, Lanes] = field(default_factory=dict)
    #: The bucket large arguments and results are offloaded to (see squall.offload); empty: none, nothing is.
    payload_bucket: str = ""
    _by_arn: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_arn.update({address.arn: name for name, address in self.queues.items()})

    def queue(self, name: str) -> QueueAddress:
        """The address of queue ``name`` (a queue with lanes: its default lane's; a lane: ``<queue>:<lane>``);
        ConfigurationError names the known queues if absent."""
        address = self.queues.get(name)
        if address is not None:
            return address
        lanes = self.lanes.get(name)
        if lanes is not None:
            return self.address(name, lanes.default)
        known = sorted({*self.queues, *self.lanes})
        raise ConfigurationError(
            f"queue {name!r} is not deployed for app {self.app!r}; known queues: "
            f"{', '.join(known) or 'none'}. Declare it in Squall(queues=...) (a squall.celery app: "
            "import the module naming it at deploy, with include=[...] or autodiscover_tasks) and redeploy."
        )

    def address(self, queue: str, lane: str | None = None) -> QueueAddress:
        """The address a message of ``queue`` on ``lane`` goes to (None: the queue's, or its default lane's)."""
        if lane is None:
            return self.queue(queue)
        lanes = self.lanes.get(queue)
        if lanes is None or lane not in lanes.names:
            self.queue(queue)  # an unknown queue says so first
            deployed = f"its lanes are {', '.join(lanes.names)}" if lanes else "it has no lanes"
            raise ConfigurationError(
                f"queue {queue!r} of app {self.app!r} has no lane {lane!r} deployed ({deployed}); declare the lane "
                "on the queue and redeploy"
            )
        return self.queues[lane_key(queue, lane)]

    def has_queue(self, name: str) -> bool:
        """Whether ``name`` is a deployed queue, a queue with lanes, or a lane (``<queue>:<lane>``)."""
        return name in self.queues or name in self.lanes

    def deployed(self, name: str | None = None) -> list[str]:
        """The names in ``queues`` that ``name`` covers: every one (None), a queue's lanes, or ``name`` itself;
        ConfigurationError names the known queues for an unknown one."""
        if name is None:
            return list(self.queues)
        lanes = self.lanes.get(name)
        if lanes is not None and name not in self.queues:
            return [lane_key(name, lane) for lane in lanes.names]
        self.queue(name)
        return [name]

    def queue_name_for_arn(self, arn: str) -> str | None:
        """The logical name of the queue with this ARN, if it is one of the app's."""
        return self._by_arn.get(arn)

    def to_document(self) -> dict[str, Any]:
        """The JSON-ready document the stack publishes and :meth:`from_document` reads."""
        return {
            "app": self.app,
            **({"stage": self.stage} if self.stage is not None else {}),
            "region": self.region,
            "table": self.table,
            "queues": {
                name: {
                    "url": q.url,
                    "arn": q.arn,
                    "dlq_url": q.dlq_url,
                    "dlq_arn": q.dlq_arn,
                    "max_receive_count": q.max_receive_count,
                }
                for name, q in self.queues.items()
            },
            "schedule_group": self.schedule_group,
            "scheduler_role_arn": self.scheduler_role_arn,
            "scheduler_dlq_arn": self.scheduler_dlq_arn,
            "intake_url": self.intake_url,
            "intake_arn": self.intake_arn,
            # Only when some queue has lanes: a document without them reads as before, by any version.
            **(
                {"lanes": {q: {"names": list(v.names), "default": v.default} for q, v in self.lanes.items()}}
                if self.lanes
                else {}
            ),
            # Only when there is one: a document without it reads as before, by any version.
            **({"payload_bucket": self.payload_bucket} if self.payload_bucket else {}),
        }

    @classmethod
    def from_document(cls, doc: Mapping[str, Any], *, source: str, endpoint_url: str | None = None) -> Settings:
        """Build Settings from a published document; ConfigurationError lists every missing key."""
        missing = [key for key in ("app", "region", "table", "queues") if not doc.get(key)]
        queues: dict[str, QueueAddress] = {}
        for name, q in dict(doc.get("queues") or {}).items():
            gaps = [k for k in ("url", "arn", "dlq_url", "dlq_arn", "max_receive_count") if k not in q]
            missing.extend(f"queues.{name}.{k}" for k in gaps)
            if not gaps:
                queues[name] = QueueAddress(q["url"], q["arn"], q["dlq_url"], q["dlq_arn"], int(q["max_receive_count"]))
        lanes: dict[str, Lanes] = {}
        for name, declared in dict(doc.get("lanes") or {}).items():
            names = tuple(declared.get("names") or ())
            default = declared.get("default")
            missing.extend(f"queues.{lane_key(name, lane)}" for lane in names if lane_key(name, lane) not in queues)
            if not names or default not in names:
                missing.append(f"lanes.{name}.default")
            else:
                lanes[name] = Lanes(names, default)
        if missing:
            raise ConfigurationError(
                f"Squall settings from {source} lack: {', '.join(missing)}. Redeploy the stack, or fix {source}.",
                missing=missing,
            )
        return cls(
            app=doc["app"],
            stage=doc.get("stage"),
            region=doc["region"],
            table=doc["table"],
            queues=queues,
            schedule_group=doc.get("schedule_group", ""),
            scheduler_role_arn=doc.get("scheduler_role_arn", ""),
            scheduler_dlq_arn=doc.get("scheduler_dlq_arn", ""),
            intake_url=doc.get("intake_url", ""),
            intake_arn=doc.get("intake_arn", ""),
            endpoint_url=endpoint_url,
            lanes=lanes,
            payload_bucket=doc.get("payload_bucket", ""),
        )


def region_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The region boto3 would use, from the environment."""
    env = os.environ if environ is None else environ
    return env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")


def endpoint_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """``AWS_ENDPOINT_URL``, which boto3 honours too (set by ``squall dev`` for local servers)."""
    env = os.environ if environ is None else environ
    return env.get("AWS_ENDPOINT_URL") or None


def app_spec_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The worker's ``module:attribute`` of its Squall app, from ``SQUALL_APP``."""
    env = os.environ if environ is None else environ
    spec = env.get(ENV_APP, "")
    if ":" not in spec:
        raise ConfigurationError(
            f"{ENV_APP} must name the worker's app as 'module:attribute' (for example 'tasks:app'), got {spec!r}",
            missing=[ENV_APP] if not spec else [],
        )
    return spec


def stage_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The stage ``SQUALL_STAGE`` names (checked), or None."""
    env = os.environ if environ is None else environ
    stage = env.get(ENV_STAGE) or None
    return None if stage is None else check_stage(stage)


def signing_parameter_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """Name of the SSM/Secrets parameter holding the envelope signing key, if signing is on."""
    env = os.environ if environ is None else environ
    return env.get(ENV_SIGNING) or None


def webhook_secret_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The reference (``ssm:``/``secretsmanager:``) of the webhook secret HTTP targets sign with, if set."""
    env = os.environ if environ is None else environ
    return env.get(ENV_WEBHOOK_SECRET) or None


def api_token_secret_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """Name of the Secrets Manager secret holding the REST API's bearer token(s), if the API uses tokens."""
    env = os.environ if environ is None else environ
    return env.get(ENV_API_TOKEN_SECRET) or None


def api_auth_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """How the REST API's callers are authenticated when not by token: ``iam`` (by API Gateway), or None."""
    env = os.environ if environ is None else environ
    return env.get(ENV_API_AUTH) or None


def load_settings(
    app: str,
    *,
    stage: str | None = None,
    read_parameter: Callable[[str, str], str | None],
    by_naming: Callable[[str, str | None], Settings | None] = lambda region, endpoint: None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve an app's settings: ``SQUALL_CONFIG``, then its SSM parameter, then the default naming.

    ``stage`` is the app's stage (its parameter is ``/squall/<app>/<stage>/config``); a document of another
    stage is refused. ``read_parameter(name, region)`` returns the parameter's value, or None if it does not exist;
    ``by_naming(region, endpoint)`` looks for resources named ``squall-<app>-...`` (the local runtime's and
    the stack's default names) and returns None if they are not there. Explicit settings never reach here:
    :class:`squall.Squall` uses them as given.
    """
    env = os.environ if environ is None else environ
    endpoint = endpoint_from_env(env)
    raw = env.get(ENV_CONFIG)
    if raw:
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise ConfigurationError(f"{ENV_CONFIG} is not valid JSON: {exc}") from exc
        return _checked(Settings.from_document(doc, source=ENV_CONFIG, endpoint_url=endpoint), app, stage, ENV_CONFIG)
    name = env.get(ENV_CONFIG_PARAMETER) or parameter_name(app, stage)
    region = region_from_env(env)
    if region is None:
        raise ConfigurationError(
            f"no AWS region set to look up Squall app {app!r}: set AWS_REGION (or AWS_DEFAULT_REGION) to the "
            f"region the stack is deployed in, or set {ENV_CONFIG}",
            missing=["AWS_REGION", ENV_CONFIG],
        )
    value = read_parameter(name, region)
    if value is None:
        found = by_naming(region, endpoint)
        if found is not None:
            return found
        raise ConfigurationError(
            f"no settings found for Squall app {app!r}: neither {ENV_CONFIG} is set nor does the SSM "
            f"parameter {name} exist in region {region or '(none set)'}. Deploy the stack (squall deploy), "
            f"set AWS_REGION to the stack's region, or run locally with squall.local.run(app).",
            missing=[ENV_CONFIG, name],
        )
    try:
        doc = json.loads(value)
    except ValueError as exc:
        raise ConfigurationError(f"SSM parameter {name} is not valid JSON: {exc}") from exc
    # SQUALL_CONFIG_PARAMETER may name another app's (or stage's) parameter.
    source = f"SSM parameter {name}"
    return _checked(Settings.from_document(doc, source=source, endpoint_url=endpoint), app, stage, source)


def _checked(settings: Settings, app: str, stage: str | None, source: str) -> Settings:
    """``settings`` if they describe ``app`` at ``stage``, else a ConfigurationError naming both."""
    if settings.app != app:
        raise ConfigurationError(f"{source} describes app {settings.app!r}, but this code defines Squall({app!r})")
    if settings.stage != stage:
        raise ConfigurationError(
            f"{source} describes stage {settings.stage or '(none)'} of app {app!r}, but this process runs stage "
            f"{stage or '(none)'}: set {ENV_STAGE} (or Squall(stage=...)) to the deployment's stage"
        )
    return settings
