"""``squall synth``, ``squall deploy``, ``squall destroy``: the app's stack, through the pinned CDK CLI.

They run the CDK CLI in the current directory with ``--app "<this Python> -m squall.cdk.app"`` and the
``squall:*`` context keys their options name, so an installed wheel deploys with no clone and no ``cdk.json``
(one in the current directory still adds its context). The CLI is, in this order: ``$SQUALL_CDK`` as is, or the
versions package.json pins, installed with npm on first use into a per-user cache and run on the pinned Node, as
infra/cdkw does. The squall process itself makes no AWS call: the CDK CLI does, with the caller's credentials.

``deploy`` and ``destroy`` name no stack but pass ``--all``: :mod:`squall.cdk.app` synthesizes exactly one stack,
and its name (``squall-<app>[-<stage>]``) depends on the app's declared name and stage, which only importing the
user's code reveals. The CDK app already does that import, with the code roots on ``sys.path``; doing it here too
would import the user's code (and its dependencies) twice and give the stack name a second owner.
"""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import click

from squall import config
from squall.cli import AppRef, cli
from squall.cli._support import CliError, Exit, friendly
from squall.deploy import context as context_keys

#: The CDK CLI (npm ``aws-cdk``) and Node (npm ``node-linux-<arch>``) versions: package.json's ``dependencies``
#: and ``optionalDependencies`` at the repository root pin the same ones (a test keeps them equal).
CDK_VERSION = "2.1148.1"
NODE_VERSION = "22.23.3"
#: ``platform.machine()`` (lowercased) -> the ``<arch>`` of the npm package ``node-linux-<arch>``.
NODE_ARCHITECTURES = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}

#: A ``cdk`` executable to run instead of the pinned one (used as is: no install, environment unchanged).
ENV_CDK = "SQUALL_CDK"
#: Where the pinned CLI is installed, ``<dir>/cdk-<version>/`` (default ``~/.cache/squall``).
ENV_CACHE_DIR = "SQUALL_CACHE_DIR"

# The context keys squall.cdk.options parses (squall.deploy.context names them for both).
APP_KEY, CODE_KEY = context_keys.APP, context_keys.CODE
REQUIREMENTS_KEY, STAGE_KEY = context_keys.REQUIREMENTS, context_keys.STAGE

#: The CDK app module the CLI runs (``--app``).
CDK_APP_MODULE = "squall.cdk.app"
#: The cdk-CLI choices of ``--require-approval``.
APPROVALS = ("never", "broadening", "any-change", "destructive")


@dataclass(frozen=True, slots=True)
class CdkCli:
    """How to start the CDK CLI: the argv before its arguments, and its environment (None: this process's)."""

    command: tuple[str, ...]
    env: Mapping[str, str] | None = None


def find_cli(environ: Mapping[str, str]) -> CdkCli:
    """``$SQUALL_CDK`` as is, else the pinned CLI in the per-user cache, installed there first if missing."""
    explicit = environ.get(ENV_CDK)
    if explicit:
        return CdkCli((explicit,))
    node_arch = _node_arch()
    home = cache_dir(environ) / f"cdk-{CDK_VERSION}"
    if not home.exists():
        install(home, node_arch, environ)
    cdk, node = _cli_files(home, node_arch)
    if not (cdk.is_file() and os.access(node, os.X_OK)):
        missing = cdk if not cdk.is_file() else node
        raise CliError(
            f"the CDK CLI cache lacks {missing}: delete {home} to have it installed again, or set {ENV_CDK} to a "
            "cdk executable"
        )
    # jsii (aws-cdk-lib's Python runtime, run by the CDK app) spawns `node` too: point it at the same Node.
    env = dict(environ)
    env["PATH"] = os.pathsep.join(p for p in (str(node.parent), environ.get("PATH", "")) if p)
    env["JSII_NODE"] = str(node)
    return CdkCli((str(node), str(cdk)), env)


def cache_dir(environ: Mapping[str, str]) -> Path:
    """The per-user directory the pinned CLI is installed under: ``$SQUALL_CACHE_DIR`` or ``~/.cache/squall``."""
    explicit = environ.get(ENV_CACHE_DIR)
    return Path(explicit).expanduser() if explicit else Path.home() / ".cache" / "squall"


def install(home: Path, node_arch: str, environ: Mapping[str, str]) -> None:
    """Install the pinned CLI and Node into ``home`` with npm.

    npm installs into a fresh directory beside ``home`` that is renamed to it once complete, so an interrupted
    install leaves no half-filled ``home``, and of two concurrent first runs one install wins.
    """
    npm = shutil.which("npm", path=environ.get("PATH", os.defpath))
    if npm is None:
        raise CliError(
            f"npm is not on PATH: the pinned CDK CLI is installed with npm on first use (any Node >= 18 with npm), "
            f"or set {ENV_CDK} to a cdk executable"
        )
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}-", dir=home.parent))
    argv = [
        npm,
        "install",
        "--prefix",
        str(staging),
        "--no-audit",
        "--no-fund",
        f"aws-cdk@{CDK_VERSION}",
        f"node-linux-{node_arch}@{NODE_VERSION}",
    ]
    click.echo(f"+ {shlex.join(argv)}", err=True)
    try:
        # npm's stdout ("added 2 packages") is shown on stderr: stdout belongs to the CDK CLI (a template).
        done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, check=False, env=dict(environ))  # noqa: S603
        click.echo(done.stdout, err=True, nl=False)
        missing = [str(f) for f in _cli_files(staging, node_arch) if not f.is_file()]
        if done.returncode != 0 or missing:
            raise CliError(
                f"npm could not install aws-cdk@{CDK_VERSION} and node-linux-{node_arch}@{NODE_VERSION} "
                f"(exit status {done.returncode}); see npm's messages above, or set {ENV_CDK} to a cdk executable"
            )
        try:
            staging.rename(home)
        except OSError:
            if not home.exists():
                raise
            # Another squall installed the same versions meanwhile: use that one.
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def run(cdk: CdkCli, args: Sequence[str]) -> int:
    """Run the CDK CLI in the current directory after printing its command line; return its exit status."""
    argv = [*cdk.command, *args]
    click.echo(f"+ {shlex.join(argv)}", err=True)
    try:
        process = subprocess.Popen(argv, env=None if cdk.env is None else dict(cdk.env))  # noqa: S603
    except OSError as exc:
        raise CliError(
            f"cannot run the CDK CLI {cdk.command[0]!r} ({exc.strerror or exc}); "
            f"set {ENV_CDK} to a cdk executable, or unset it to use the pinned one"
        ) from exc
    with process:
        while True:
            try:
                status = process.wait()
                break
            except KeyboardInterrupt:
                continue  # Ctrl-C reached the CDK CLI too (one process group): it decides how to stop
    return 128 - status if status < 0 else status  # killed by a signal: the shell's 128 + N


def app_command() -> str:
    """The ``--app`` the CDK CLI runs (through a shell): this interpreter, so the CDK app sees this squall."""
    return f"{shlex.quote(sys.executable)} -m {CDK_APP_MODULE}"


def context_args(
    app_spec: str,
    *,
    stage: str | None = None,
    requirements: str | None = None,
    code: Sequence[str] = (),
    extra: Sequence[str] = (),
) -> list[str]:
    """``-c key=value`` pairs for the CDK CLI: the named options that were given, then the ``-c`` ones."""
    named = {APP_KEY: app_spec, STAGE_KEY: stage, REQUIREMENTS_KEY: requirements}
    named[CODE_KEY] = ",".join(code) if code else None
    pairs = [f"{key}={value}" for key, value in named.items() if value is not None]
    return [arg for pair in (*pairs, *extra) for arg in ("-c", pair)]


def _node_arch() -> str:
    system, machine = platform.system(), platform.machine()
    arch = NODE_ARCHITECTURES.get(machine.lower())
    if system != "Linux" or arch is None:
        raise CliError(
            f"no pinned Node for {system} {machine}: install aws-cdk@{CDK_VERSION} yourself and set {ENV_CDK} to "
            "its cdk executable"
        )
    return arch


def _cli_files(home: Path, node_arch: str) -> tuple[Path, Path]:
    modules = home / "node_modules"
    return modules / "aws-cdk" / "bin" / "cdk", modules / f"node-linux-{node_arch}" / "bin" / "node"


def _app_spec(ref: AppRef, given: str | None) -> str:
    spec = given or ref.spec
    if not spec or ":" not in spec:
        raise click.UsageError("name your app with --app MODULE:ATTR (or set SQUALL_APP), e.g. --app tasks:app")
    return spec


def _check_context(pairs: Sequence[str], own: Mapping[str, str]) -> None:
    """Reject malformed ``-c`` pairs, and those setting a key the command has its own option for."""
    for pair in pairs:
        key, sep, _ = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not key=value, e.g. -c squall:memory=512", param_hint="-c")
        if key in own:
            raise click.BadParameter(f"{pair!r}: use {own[key]} instead", param_hint="-c")


def _run_cdk(
    ref: AppRef,
    command: Sequence[str],
    *,
    app: str | None,
    stage: str | None,
    requirements: str | None = None,
    code: Sequence[str] = (),
    context: Sequence[str] = (),
    own: Mapping[str, str],
    options: Sequence[str] = (),
) -> None:
    spec = _app_spec(ref, app)
    stage = stage or ref.stage  # the command's --stage, else squall --stage
    if stage is not None:
        config.check_stage(stage)
    commas = [path for path in code if "," in path]
    if commas:
        raise click.BadParameter(f"{commas[0]!r}: a code path cannot contain ','", param_hint="--code")
    _check_context(context, own)
    if find_spec("aws_cdk") is None:
        raise CliError(f"the CDK construct library is not installed for {sys.executable}: pip install 'squall[cdk]'")
    args = [
        *command,
        "--app",
        app_command(),
        *context_args(spec, stage=stage, requirements=requirements, code=code, extra=context),
        *options,
    ]
    # Only the config module reads os.environ for the app's settings; these are the CLI's own tool settings.
    status = run(find_cli(os.environ), args)
    if status != 0:
        raise Exit("", status)


_APP = click.option(
    "--app",
    "app",
    metavar="MODULE:ATTR",
    help="The Squall app, e.g. 'tasks:app' (default: squall's own --app, or $SQUALL_APP).",
)
_STAGE = click.option("--stage", metavar="STAGE", help="The deployment's stage, e.g. prod (physical names carry it).")
_REQUIREMENTS = click.option(
    "--requirements",
    type=click.Path(exists=True, dir_okay=False),
    help="A pip requirements file installed into the worker bundle for Lambda.",
)
_CODE = click.option(
    "--code",
    "code",
    multiple=True,
    type=click.Path(exists=True),
    metavar="PATH",
    help="Code shipped to the worker (repeatable): a package, a module, or a source root (default: the current "
    "directory, as a source root).",
)
_CONTEXT = click.option(
    "-c",
    "--context",
    "context",
    multiple=True,
    metavar="KEY=VALUE",
    help="Another CDK context key (repeatable), e.g. -c squall:memory=512 (docs/deploy.md lists them).",
)

_BUNDLED = {APP_KEY: "--app", STAGE_KEY: "--stage", REQUIREMENTS_KEY: "--requirements", CODE_KEY: "--code"}


@cli.command(short_help="Write the app's CloudFormation template, offline.")
@_APP
@_STAGE
@_REQUIREMENTS
@_CODE
@click.option("--out", default="cdk.out", show_default=True, metavar="DIR", help="The cloud assembly's directory.")
@_CONTEXT
@click.pass_obj
@friendly
def synth(
    ref: AppRef,
    app: str | None,
    stage: str | None,
    requirements: str | None,
    code: tuple[str, ...],
    out: str,
    context: tuple[str, ...],
) -> None:
    """Synthesize the app's stack into DIR/squall-<app>[-<stage>].template.json, offline."""
    _run_cdk(
        ref,
        ["synth"],
        app=app,
        stage=stage,
        requirements=requirements,
        code=code,
        context=context,
        own=_BUNDLED,
        options=["--output", out],
    )


@cli.command(short_help="Deploy the app's stack to the AWS account of your credentials.")
@_APP
@_STAGE
@_REQUIREMENTS
@_CODE
@click.option(
    "--require-approval",
    type=click.Choice(APPROVALS),
    help="Which changes wait for your yes (default: the CDK CLI's, broadening).",
)
@_CONTEXT
@click.pass_obj
@friendly
def deploy(
    ref: AppRef,
    app: str | None,
    stage: str | None,
    requirements: str | None,
    code: tuple[str, ...],
    require_approval: str | None,
    context: tuple[str, ...],
) -> None:
    """Deploy (create or update) the app's stack, squall-<app>[-<stage>], with the CDK CLI."""
    _run_cdk(
        ref,
        ["deploy", "--all"],
        app=app,
        stage=stage,
        requirements=requirements,
        code=code,
        context=context,
        own=_BUNDLED,
        options=["--require-approval", require_approval] if require_approval else [],
    )


@cli.command(short_help="Delete the app's stack.")
@_APP
@_STAGE
@_CODE
@click.option("--force", is_flag=True, help="Do not ask for confirmation.")
@_CONTEXT
@click.pass_obj
@friendly
def destroy(
    ref: AppRef,
    app: str | None,
    stage: str | None,
    code: tuple[str, ...],
    force: bool,
    context: tuple[str, ...],
) -> None:
    """Delete the app's stack, squall-<app>[-<stage>]; what squall:removalPolicy retains stays.

    ``--code`` is here because the CDK CLI synthesizes the stack before deleting it, which imports the app.
    """
    _run_cdk(
        ref,
        ["destroy", "--all"],
        app=app,
        stage=stage,
        code=code,
        context=context,
        own={k: v for k, v in _BUNDLED.items() if k != REQUIREMENTS_KEY},
        options=["--force"] if force else [],
    )
