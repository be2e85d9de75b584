"""How a Squall deployment is configured: CDK context keys, parsed once into a frozen dataclass.

Every key is documented in docs/deploy.md. Values come from ``cdk.json`` (typed JSON) or from
``-c key=value`` on the command line (always strings), so each parser accepts both forms.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from squall import config
from squall.app import Squall, load_app
from squall.deploy.context import (
    AGE_ALARM,
    ALARM_EMAIL,
    ALARM_TOPIC,
    API,
    API_BURST_LIMIT,
    API_RATE_LIMIT,
    APP,
    CODE,
    DELETION_PROTECTION,
    LOG_RETENTION,
    MEMORY,
    POWERTOOLS_LAYER,
    QUEUES,
    REMOVAL_POLICY,
    REQUIREMENTS,
    SIGNING,
    STAGE,
    TIMEOUT,
    TRACING,
)
from squall.deploy.topology import WorkerSizing
from squall.errors import ConfigurationError

#: Alarm when a queue's oldest message is older than this, in seconds (15 minutes).
DEFAULT_AGE_ALARM_SECONDS = 15 * 60
#: Worker log retention, in days (CloudWatch Logs accepts only its listed values; 30 is one).
DEFAULT_LOG_RETENTION_DAYS = 30
REMOVAL_POLICIES = ("retain", "destroy")
QUEUE_OVERRIDE_KEYS = ("batch_size", "batching_window", "max_concurrency")
#: How the REST API's front door authenticates callers (squall.cdk.constructs.api): bearer tokens kept in
#: Secrets Manager, or IAM (SigV4-signed requests).
API_AUTH_MODES = ("token", "iam")
#: The API stage's default throttling: steady requests per second, and the burst above it. Well under the
#: account's Regional 10,000 rps (API Gateway quotas) that every API in the account shares.
DEFAULT_API_RATE_LIMIT = 100
DEFAULT_API_BURST_LIMIT = 200


@dataclass(frozen=True, slots=True)
class DeployOptions:
    """Everything a deployment of one Squall app can vary; only the app has no default."""

    #: The app as ``module:attribute``; the worker imports it from ``SQUALL_APP``.
    app_spec: str
    #: What the worker bundle ships of the user's code (:func:`squall.cdk.packaging.stage_bundle`): a package
    #: directory (one with ``__init__.py``) or a module file goes in under its own name; any other directory is
    #: a source root, whose contents go in at the bundle's root. The default is the current directory: the one
    #: ``cdk`` (or ``squall synth``) runs in, as ``SquallService(code=".")``.
    code: tuple[Path, ...] = field(default_factory=lambda: (Path.cwd(),))
    #: A pip requirements file whose distributions are installed into the bundle for Lambda (squall.cdk.packaging).
    requirements: Path | None = None
    sizing: WorkerSizing = field(default_factory=WorkerSizing)
    #: Per-queue polling overrides by queue name: batch_size, batching_window, max_concurrency.
    queue_overrides: Mapping[str, Mapping[str, int | None]] = field(default_factory=dict)
    #: Where alarms email to (an SNS topic is created only if set).
    alarm_email: str | None = None
    #: An existing SNS topic the alarms notify instead (its policy and key must already admit CloudWatch).
    alarm_topic_arn: str | None = None
    age_alarm_seconds: int = DEFAULT_AGE_ALARM_SECONDS
    #: Keep (``retain``) or delete (``destroy``) the table, queues and logs when the stack goes.
    removal_policy: str = "retain"
    #: DynamoDB deletion protection on the tables; None (the default) follows ``removal_policy``.
    deletion_protection: bool | None = None
    log_retention_days: int = DEFAULT_LOG_RETENTION_DAYS
    #: An explicit Powertools layer version ARN, instead of the pinned version's public SSM parameter.
    powertools_layer_arn: str | None = None
    #: Envelope signing keys, ``ssm:<parameter name>`` or ``secretsmanager:<secret name>`` (squall.wire.signing).
    signing_parameter: str | None = None
    #: The deployment's stage (``dev``, ``prod``...): every physical name carries it, so stages of one app share
    #: an account and Region (squall.config.check_stage says what a stage may be).
    stage: str | None = None
    #: The REST API on AWS (docs/api.md): None (the default) creates none; else one of :data:`API_AUTH_MODES`.
    api: str | None = None
    api_rate_limit: int = DEFAULT_API_RATE_LIMIT
    api_burst_limit: int = DEFAULT_API_BURST_LIMIT
    #: X-Ray active tracing on both functions (the default); off, the worker builds no Tracer and never imports
    #: the X-Ray SDK, a shorter cold start (docs/benchmarks.md, "Cold start").
    tracing: bool = True

    def __post_init__(self) -> None:
        if self.api is not None and self.api not in API_AUTH_MODES:
            raise ConfigurationError(
                f"{API} must be one of {', '.join(API_AUTH_MODES)} (or unset: no API), got {self.api!r}"
            )
        if self.api_rate_limit < 1 or self.api_burst_limit < 1:
            raise ConfigurationError(
                f"{API_RATE_LIMIT} and {API_BURST_LIMIT} must be at least 1, got "
                f"{self.api_rate_limit} and {self.api_burst_limit}"
            )
        if self.stage is not None:
            config.check_stage(self.stage)
        if ":" not in self.app_spec:
            raise ConfigurationError(f"{APP} must be 'module:attribute', got {self.app_spec!r}")
        if self.removal_policy not in REMOVAL_POLICIES:
            raise ConfigurationError(
                f"{REMOVAL_POLICY} must be one of {', '.join(REMOVAL_POLICIES)}, got {self.removal_policy!r}"
            )
        missing = [str(path) for path in self.code if not path.exists()]
        if missing:
            raise ConfigurationError(f"{CODE}: no such file or directory: {', '.join(missing)}")
        if self.requirements is not None and not self.requirements.is_file():
            raise ConfigurationError(f"{REQUIREMENTS}: no such file: {self.requirements}; give a pip requirements file")
        for queue, values in self.queue_overrides.items():
            unknown = sorted(set(values) - set(QUEUE_OVERRIDE_KEYS))
            if unknown:
                raise ConfigurationError(
                    f"{QUEUES}: queue {queue!r} has unknown keys {unknown}; use {', '.join(QUEUE_OVERRIDE_KEYS)}"
                )
        if self.age_alarm_seconds < 60:
            raise ConfigurationError(f"{AGE_ALARM} must be at least 60 seconds, got {self.age_alarm_seconds}")
        if self.deletion_protection and self.removal_policy == "destroy":
            raise ConfigurationError(
                f"{DELETION_PROTECTION}=true keeps the tables that {REMOVAL_POLICY}=destroy asks to delete with the "
                "stack: set one of them, not both"
            )
        if self.alarm_email and self.alarm_topic_arn:
            raise ConfigurationError(
                f"{ALARM_EMAIL} creates an alarm topic and {ALARM_TOPIC} names an existing one: set one of them "
                "(subscribe the email to your own topic)"
            )
        if self.alarm_topic_arn is not None and not _is_topic_arn(self.alarm_topic_arn):
            raise ConfigurationError(
                f"{ALARM_TOPIC} must be an SNS topic ARN (arn:<partition>:sns:<region>:<account>:<name>), "
                f"got {self.alarm_topic_arn!r}"
            )

    @property
    def protects_tables(self) -> bool:
        """Whether the tables get DynamoDB deletion protection: as asked, or as the removal policy keeps them."""
        if self.deletion_protection is None:
            return self.removal_policy == "retain"
        return self.deletion_protection

    @classmethod
    def from_context(cls, get: Callable[[str], Any], *, base: Path | None = None) -> DeployOptions:
        """Read every ``squall:*`` key through ``get`` (e.g. ``app.node.try_get_context``); relative paths are
        resolved against ``base``, by default the current directory (where ``cdk`` runs the app)."""
        if not get(APP):
            raise ConfigurationError(
                f"{APP} is not set: name the app to deploy as module:attribute, e.g. -c {APP}=tasks:app "
                "(or squall synth --app tasks:app)"
            )
        base = Path.cwd() if base is None else base
        defaults = cls(app_spec=str(get(APP)))
        code = get(CODE)
        return cls(
            app_spec=defaults.app_spec,
            code=_paths(code, base) if code else (base.resolve(),),
            requirements=(base / str(get(REQUIREMENTS))).resolve() if get(REQUIREMENTS) else None,
            sizing=WorkerSizing(
                timeout=_integer(get(TIMEOUT), TIMEOUT, defaults.sizing.timeout),
                memory=_integer(get(MEMORY), MEMORY, defaults.sizing.memory),
            ),
            queue_overrides=_overrides(get(QUEUES)),
            alarm_email=str(get(ALARM_EMAIL)) if get(ALARM_EMAIL) else None,
            alarm_topic_arn=str(get(ALARM_TOPIC)) if get(ALARM_TOPIC) else None,
            age_alarm_seconds=_integer(get(AGE_ALARM), AGE_ALARM, defaults.age_alarm_seconds),
            removal_policy=str(get(REMOVAL_POLICY) or defaults.removal_policy).lower(),
            deletion_protection=_boolean(get(DELETION_PROTECTION), DELETION_PROTECTION),
            log_retention_days=_integer(get(LOG_RETENTION), LOG_RETENTION, defaults.log_retention_days),
            powertools_layer_arn=str(get(POWERTOOLS_LAYER)) if get(POWERTOOLS_LAYER) else None,
            signing_parameter=str(get(SIGNING)) if get(SIGNING) else None,
            stage=str(get(STAGE)) if get(STAGE) else None,
            api=_api_mode(get(API)),
            api_rate_limit=_integer(get(API_RATE_LIMIT), API_RATE_LIMIT, defaults.api_rate_limit),
            api_burst_limit=_integer(get(API_BURST_LIMIT), API_BURST_LIMIT, defaults.api_burst_limit),
            tracing=_boolean(get(TRACING), TRACING) is not False,
        )

    def load_app(self) -> Squall:
        """Import the app named by ``app_spec``, with the shipped code's import roots on ``sys.path``: a source
        root itself, a package's or a module's parent."""
        for root in dict.fromkeys(str(import_root(path)) for path in self.code):
            if root not in sys.path:
                sys.path.insert(0, root)
        module_name = self.app_spec.partition(":")[0]
        try:
            return load_app(self.app_spec)
        except ImportError as exc:
            raise ConfigurationError(
                f"{APP}={self.app_spec!r}: cannot import {module_name!r} ({exc}); is its package listed in {CODE}?"
            ) from exc
        except ConfigurationError:
            raise ConfigurationError(f"{APP}={self.app_spec!r} does not name a squall.Squall app") from None


def is_source_root(path: Path) -> bool:
    """Whether a code path is a source root (a directory that is not a package): its contents are shipped."""
    return path.is_dir() and not (path / "__init__.py").is_file()


def import_root(path: Path) -> Path:
    """The ``sys.path`` entry a code path imports from: a source root itself, else its parent."""
    resolved = path.resolve()
    return resolved if is_source_root(resolved) else resolved.parent


def _paths(value: Any, base: Path) -> tuple[Path, ...]:
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple((base / str(item).strip()).resolve() for item in items if str(item).strip())


def _integer(value: Any, key: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{key} must be a whole number, got {value!r}") from None


def _boolean(value: Any, key: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ConfigurationError(f"{key} must be true or false, got {value!r}")


def _api_mode(value: Any) -> str | None:
    """``squall:api``: a mode, ``true`` for the default mode (token), or unset/``false`` for no API."""
    if value is None or value == "" or value is False:
        return None
    if value is True:
        return API_AUTH_MODES[0]
    text = str(value).strip().lower()
    if text in ("false", "0", "no", "off"):
        return None
    return API_AUTH_MODES[0] if text in ("true", "1", "yes", "on") else text


def _is_topic_arn(value: str) -> bool:
    parts = value.split(":")
    return len(parts) == 6 and parts[0] == "arn" and parts[2] == "sns" and all(parts[3:])


def _overrides(value: Any) -> dict[str, dict[str, int | None]]:
    if not value:
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise ConfigurationError(f"{QUEUES} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ConfigurationError(f'{QUEUES} must map queue names to settings, e.g. {{"reports": {{"batch_size": 5}}}}')
    return {
        str(name): {str(k): (None if v is None else int(v)) for k, v in settings.items()}
        for name, settings in value.items()
    }
