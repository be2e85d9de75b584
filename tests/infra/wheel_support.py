"""Squall as a user gets it: the wheel, a fresh venv with ``squall[cdk]``, and a project outside the repository.

tests/infra/test_wheel_deploy.py synthesizes the project through the venv's ``squall synth`` and through a CDK app
of the user's own, on the pinned CDK CLI that ``npm ci`` installed at the repository root (linked into the CLI's
per-user cache, so nothing comes from npm). The project's two dependencies are tiny local wheels in a
``--find-links`` directory its requirements file names with ``--no-index``, so no index is asked for them;
``squall[cdk]``'s own dependencies come from the package index (pip's cache, mostly) at constraints.txt's pins.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cdk_support import PINNED_NODE, ROOT
from wheels import requirements_file, write_wheel

from squall.cli import deploy

#: The repository's npm packages: the pinned CDK CLI and Node (cdk_support.PINNED_NODE).
NODE_MODULES = ROOT / "node_modules"
NODE = PINNED_NODE
CDK = NODE_MODULES / "aws-cdk" / "bin" / "cdk"
#: Never copied into the tree the wheel is built from: VCS data, environments, npm's packages, build output and
#: caches. The build writes its build/ and *.egg-info there, which in the repository would show up as changes.
NOT_SOURCE_AT_TOP = frozenset({".git", ".venv", "node_modules", "build", "dist", "cdk.out"})
NOT_SOURCE = ("__pycache__", "*.egg-info", ".*_cache", ".hypothesis")

APP_NAME = "wheelapp"
#: The pure-Python dependency: a package whose value a task returns.
PURE = "tinydep"
PURE_VALUE = "tiny"
#: The native dependency: a wheel for Lambda's CPython on manylinux aarch64, with its extension module.
NATIVE = "tinyarm"
NATIVE_LIBRARY = f"{NATIVE}/_native.cpython-314-aarch64-linux-gnu.so"
#: The user's tasks. Each imports its dependency when it runs: the synth's interpreter has neither installed
#: (only the bundle has, built for Lambda), and the native one loads on arm64 only.
TASKS = f'''\
"""The user's tasks."""

from squall import Squall

app = Squall("{APP_NAME}")


@app.task
def dependency_value() -> dict[str, str]:
    import {PURE}

    return {{"value": {PURE}.VALUE, "file": {PURE}.__file__}}


@app.task
def native_name() -> str:
    import {NATIVE}

    return {NATIVE}.NAME
'''
#: The user's own CDK app: one stack holding the service, held to the cdk-nag packs.
CDK_APP = '''\
"""The user's CDK app."""

import sys
from pathlib import Path

import aws_cdk as cdk

import squall
from squall.cdk import SquallService, nag

# Synthesized on the installed wheel only: a squall imported from a source tree fails here.
if not Path(squall.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()):
    sys.exit(f"squall is imported from {squall.__file__}, outside this environment ({sys.prefix})")


class TasksStack(cdk.Stack):
    def __init__(self, scope, construct_id):
        super().__init__(scope, construct_id)
        self.service = SquallService(
            self, "Tasks", app="tasks:app", code=".", requirements="requirements.txt", stage="prod"
        )


app = cdk.App()
stack = TasksStack(app, "wheelapp-prod")
nag.add_packs(app)
nag.acknowledge(stack.service)
app.synth()
'''


def run(command: Sequence[str | Path], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``command`` and return its stdout; a failure fails the test with the command's output."""
    argv = [str(arg) for arg in command]
    # Commands built here from this machine's interpreters and tools, with fixed arguments.
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        pytest.fail(
            f"{shlex.join(argv)} exited with {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-6000:]}",
            pytrace=False,
        )
    return done.stdout


def environment(**extra: str) -> dict[str, str]:
    """This process's environment less what would put the repository's code on the path or reach AWS."""
    dropped = ("PYTHON", "VIRTUAL_ENV", "AWS_", "CDK_", "JSII_", "SQUALL_", "POWERTOOLS_")
    env = {name: value for name, value in os.environ.items() if not name.startswith(dropped)}
    return {**env, **extra}


def _not_source(directory: str, names: list[str]) -> set[str]:
    top = Path(directory) == ROOT
    return {
        name
        for name in names
        if (top and name in NOT_SOURCE_AT_TOP) or any(fnmatch.fnmatch(name, pattern) for pattern in NOT_SOURCE)
    }


def build_wheel(directory: Path) -> Path:
    """Squall's wheel, built from a copy of the repository's working tree as pip builds any project."""
    source, dist = directory / "source", directory / "dist"
    shutil.copytree(ROOT, source, ignore=_not_source, symlinks=True)
    # Built isolated, as pip and `python -m build` do by default: the test venv's own setuptools may predate
    # build-system.requires (>= 77, for the PEP 639 licence files), which pip then installs into a throwaway
    # environment from the index.
    run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, source],
        cwd=directory,
        env=environment(),
    )
    (wheel,) = dist.glob("squall-*.whl")
    return wheel


@dataclass(frozen=True)
class Installed:
    """The built wheel, and the fresh venv it is installed in."""

    wheel: Path
    venv: Path

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def squall(self) -> Path:
        """The venv's ``squall`` console script."""
        return self.venv / "bin" / "squall"


def install(venv: Path, wheel: Path) -> Installed:
    """A fresh venv at ``venv`` with ``wheel[cdk]`` installed at the repository's pins."""
    run([sys.executable, "-m", "venv", venv], cwd=venv.parent, env=environment())
    python = venv / "bin" / "python"
    # No bytecode at install: compiling aws-cdk-lib's modules would take most of the install's time.
    constraints = ROOT / "constraints.txt"
    command: list[str | Path] = [python, "-m", "pip", "install", "--quiet", "--no-compile", "-c", constraints]
    command.append(f"{wheel}[cdk]")
    run(command, cwd=venv.parent, env=environment())
    return Installed(wheel, venv)


def write_project(directory: Path, wheels: Path) -> Path:
    """The user's project: its tasks, its own CDK app, its requirements, and the debris a project holds."""
    wheels.mkdir(parents=True)
    write_wheel(wheels, PURE, "1.0", {f"{PURE}/__init__.py": f"VALUE = {PURE_VALUE!r}\n"})
    native = {f"{NATIVE}/__init__.py": "from ._native import NAME\n", NATIVE_LIBRARY: "\x7fELF (aarch64)"}
    write_wheel(wheels, NATIVE, "1.0", native, tag="cp314-cp314-manylinux_2_28_aarch64")
    directory.mkdir(parents=True)
    (directory / "tasks.py").write_text(TASKS, encoding="utf-8")
    (directory / "cdk_app.py").write_text(CDK_APP, encoding="utf-8")
    requirements_file(directory, wheels, f"{PURE}==1.0", f"{NATIVE}==1.0")
    # A cloud assembly left by an earlier `cdk synth`: never shipped.
    (directory / "cdk.out").mkdir()
    (directory / "cdk.out" / "manifest.json").write_text("{}", encoding="utf-8")
    return directory


def cli_environment(cache: Path) -> dict[str, str]:
    """The environment of the CDK CLI runs: the pinned CLI through its cache, offline, without credentials.

    Skips the test when ``npm ci`` has not installed the CLI at the repository root.
    """
    for needed in (CDK, NODE):
        if not needed.is_file():
            pytest.skip(f"{needed} is missing: run 'npm ci' at the repository root ({ROOT})")
    home = cache / f"cdk-{deploy.CDK_VERSION}"
    home.mkdir(parents=True)
    (home / "node_modules").symlink_to(NODE_MODULES)
    nowhere = str(cache / "none")
    return environment(
        SQUALL_CACHE_DIR=str(cache),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=nowhere,
        AWS_SHARED_CREDENTIALS_FILE=nowhere,
        CDK_DISABLE_CLI_TELEMETRY="true",
        CDK_DISABLE_VERSION_CHECK="true",
    )


def cdk_synth(project: Path, env: dict[str, str], app: str, output: str) -> None:
    """``cdk synth`` of the CDK app command ``app`` on the pinned CLI and Node, as a user runs it."""
    path = os.pathsep.join([str(NODE.parent), env.get("PATH", "")])
    run(
        [NODE, CDK, "synth", "--app", app, "--output", output],
        cwd=project,
        env={**env, "PATH": path, "JSII_NODE": str(NODE)},
    )


@dataclass(frozen=True)
class Assembly:
    """One synthesized stack: its template and the code bundle both its functions run."""

    stage: str
    outdir: Path
    stack: str
    template: dict[str, Any]

    @classmethod
    def read(cls, stage: str, outdir: Path, stack: str) -> Assembly:
        return cls(stage, outdir, stack, json.loads((outdir / f"{stack}.template.json").read_text()))

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        """Logical id -> resource, for every resource of CloudFormation type ``type_``."""
        return {k: r for k, r in self.template["Resources"].items() if r["Type"] == type_}

    def function(self, handler: str) -> dict[str, Any]:
        """The properties of the one function running ``handler``."""
        (function,) = [
            dict(f["Properties"])
            for f in self.resources("AWS::Lambda::Function").values()
            if f["Properties"]["Handler"] == handler
        ]
        return function

    def asset(self, code: dict[str, Any]) -> tuple[Path, dict[str, Any]]:
        """The asset directory a function's ``Code`` names, and its destination in the asset manifest."""
        files = json.loads((self.outdir / f"{self.stack}.assets.json").read_text())["files"]
        for asset in files.values():
            for destination in asset["destinations"].values():
                if destination["objectKey"] == code["S3Key"]:
                    return self.outdir / asset["source"]["path"], destination
        raise AssertionError(f"no asset of {self.stack} is {code['S3Key']}")
