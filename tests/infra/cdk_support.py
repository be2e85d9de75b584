"""Helpers of the infra tests: synthesize the app offline and read the templates.

Imported by conftest.py (fixtures) and the test modules; the name is unique across tests/ because
test directories here are not packages.
"""

from __future__ import annotations

import json
import os
import platform
import sysconfig
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The construct library's source (squall.cdk).
CDK_PACKAGE = ROOT / "sdk" / "squall" / "cdk"
_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine().lower(), "x64")
#: The Node that package.json pins (installed by ``npm ci``); infra/cdkw runs the same one.
PINNED_NODE = ROOT / "node_modules" / f"node-linux-{_ARCH}" / "bin" / "node"

# jsii starts its Node process at the first aws_cdk import in this process: point it at the pinned
# Node before that happens (the system Node may be end-of-life).
if PINNED_NODE.exists():
    os.environ.setdefault("JSII_NODE", str(PINNED_NODE))

import aws_cdk as cdk  # noqa: E402 - must follow JSII_NODE
from aws_cdk.assertions import Template  # noqa: E402
from constructs import IConstruct  # noqa: E402

from squall.cdk.app import build  # noqa: E402
from squall.cdk.options import DeployOptions  # noqa: E402
from squall.cdk.stack import SquallStack  # noqa: E402
from squall.scheduler.periodic import ScheduleResource  # noqa: E402

#: The example shop as cdk.json deploys it: its context keys, and the options they give.
SHOP_CONTEXT = {"squall:app": "examples.shop.tasks:app", "squall:code": "examples"}
SHOP_OPTIONS = DeployOptions(app_spec="examples.shop.tasks:app", code=(ROOT / "examples",))

#: Context of the ``tuned`` synth: every optional key, away from its default.
TUNED_CONTEXT = {
    "squall:timeout": "120",
    "squall:memory": "512",
    "squall:queues": json.dumps({"reports": {"batch_size": 50, "batching_window": 20, "max_concurrency": 3}}),
    "squall:alarmEmail": "ops@example.com",
    "squall:ageAlarmSeconds": "600",
    "squall:removalPolicy": "destroy",
    "squall:deletionProtection": "false",
    "squall:logRetentionDays": "90",
    "squall:signingParameter": "secretsmanager:squall/shop/signing",
}
#: The schedule the ``tuned`` synth declares through TaskScheduler.add_schedule (as @app.periodic would).
TUNED_SCHEDULE = ScheduleResource(
    name="p.monthly-report",
    periodic_name="monthly-report",
    expression="cron(0 6 1 * ? *)",
    timezone="Europe/Paris",
    queue="reports",
    task="examples.shop.tasks.build_report",
    input=json.dumps({"v": 1, "task": "examples.shop.tasks.build_report", "args": ["<aws.scheduler.scheduled-time>"]}),
    flexible_window_minutes=15,
    start=None,
    end=None,
    enabled=True,
    retry_attempts=10,
    max_event_age=3600,
    description="Squall periodic task examples.shop.tasks.build_report",
)


@dataclass(frozen=True)
class Synth:
    """One synthesized deployment: its template (as JSON), the assertions Template, the stack and outdir."""

    stack: SquallStack
    template: Template
    json: dict[str, Any]
    outdir: Path

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource, for every resource of CloudFormation type ``type_``."""
        return {k: r for k, r in self.json["Resources"].items() if r["Type"] == type_}

    def logical_id_of(self, construct: IConstruct) -> str:
        """The logical id of the CloudFormation resource behind an L2 construct (a queue, a role...)."""
        return str(self.stack.get_logical_id(construct.node.default_child))  # type: ignore[arg-type]

    def properties_of(self, construct: IConstruct) -> dict[str, Any]:
        """The template properties of the resource behind an L2 construct."""
        return dict(self.json["Resources"][self.logical_id_of(construct)]["Properties"])

    @property
    def template_file(self) -> Path:
        return self.outdir / f"{self.stack.stack_name}.template.json"


def bundle_environment(bundle: Path, **extra: str) -> dict[str, str]:
    """This process's environment as Lambda would see the bundle: only it and site-packages on the path, no
    bytecode written, none of this machine's AWS settings, the shop app named, tracing off (X-Ray needs Lambda's
    daemon), and ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQUALL_", "POWERTOOLS_", "PYTHON", "AWS_"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(bundle), sysconfig.get_paths()["purelib"]]),
        PYTHONDONTWRITEBYTECODE="1",
        SQUALL_APP=SHOP_OPTIONS.app_spec,
        POWERTOOLS_TRACE_DISABLED="true",
        **extra,
    )
    return env


def cdk_json_context() -> dict[str, Any]:
    """The context ``cdk.json`` gives the CLI, so these synths match ``infra/cdkw synth``."""
    return dict(json.loads((ROOT / "cdk.json").read_text())["context"])


def synthesize(
    outdir: Path,
    context: dict[str, Any],
    customize: Callable[[SquallStack], None] | None = None,
    *,
    env: cdk.Environment | None = None,
) -> Synth:
    """Build and synthesize the app into ``outdir``; a cdk-nag finding fails with the findings listed.

    ``env`` binds the stack to an account and region, as ``cdk deploy`` does from the caller's credentials.
    """
    app = cdk.App(outdir=str(outdir), context={**cdk_json_context(), **context})
    stack = build(app, env=env)
    if customize is not None:
        customize(stack)
    return _synthesized(app, stack, outdir)


def synth_app(outdir: Path, app: Any, options: DeployOptions, stack_id: str | None = None) -> Synth:
    """Synthesize a stack for ``app`` with ``options`` and the cdk-nag packs, as ``infra/cdkw synth`` does; a
    finding fails with the findings listed."""
    from squall.cdk import nag

    cdk_app = cdk.App(outdir=str(outdir))
    stack = SquallStack(cdk_app, stack_id or app.name, app=app, options=options)
    nag.add_packs(cdk_app)
    nag.acknowledge(stack.service)
    return _synthesized(cdk_app, stack, outdir)


def _synthesized(app: cdk.App, stack: SquallStack, outdir: Path) -> Synth:
    try:
        app.synth()
    except RuntimeError as exc:
        pytest.fail(f"synth failed: {exc}\n" + "\n".join(nag_findings(outdir)), pytrace=False)
    template = Template.from_stack(stack)
    return Synth(stack, template, dict(template.to_json()), outdir)


def nag_findings(outdir: Path) -> list[str]:
    """'rule at construct path' for every violation in the synth's validation report (none if absent)."""
    report = outdir / "validation-report.json"
    if not report.exists():
        return []
    return [
        f"{violation['ruleName']} at {construct['constructPath']}"
        for plugin in json.loads(report.read_text())["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    ]


def render(value: Any) -> Any:
    """A template value with intrinsics replaced by readable placeholders (Fn::Join joined).

    Lets a test parse the JSON documents the stack builds from tokens (SQUALL_CONFIG, the dashboard).
    """
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return f"<{arg}>"
        if key == "Fn::GetAtt":
            return f"<{'.'.join(arg)}>"
        if key == "Fn::Join":
            separator, parts = arg
            return separator.join(str(render(part)) for part in parts)
        if key == "Fn::Sub":
            return f"<Sub:{arg if isinstance(arg, str) else arg[0]}>"
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v) for v in value]
    return value


def logical_id(reference: Any) -> str:
    """The logical id a Ref or Fn::GetAtt points at."""
    if "Ref" in reference:
        return str(reference["Ref"])
    return str(reference["Fn::GetAtt"][0])
