"""``squall synth | deploy | destroy``: the CDK CLI they run, how they find or install it, and a real synth.

Fake executables record their argv, cwd, PATH and JSII_NODE; the real synth runs the pinned CLI that ``npm ci``
installed at the repository root, through the per-user cache."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result

from squall.cli import deploy

Squall_ = Callable[..., Result]

ROOT = Path(__file__).resolve().parents[2]
APP_COMMAND = f"{shlex.quote(sys.executable)} -m squall.cdk.app"
ARCH = deploy.NODE_ARCHITECTURES.get(platform.machine().lower(), "x64")
OUT = ("--output", "cdk.out")
linux_only = pytest.mark.skipif(platform.system() != "Linux", reason="the pinned Node is Linux's")

#: A stand-in for ``cdk`` (or the pinned ``node``): appends what it was started with to LOG, exits with EXIT.
RECORDER = """#!{python}
import json, os, sys
with open({log!r}, "a") as f:
    f.write(json.dumps({{"argv": sys.argv, "cwd": os.getcwd(), "PATH": os.environ.get("PATH"),
                        "JSII_NODE": os.environ.get("JSII_NODE")}}) + "\\n")
sys.exit(int(os.environ.get("FAKE_CDK_EXIT", "0")))
"""

#: A stand-in for ``npm install --prefix DIR ...``: records its argv, then lays out the pinned CLI in DIR.
FAKE_NPM = """#!{python}
import json, os, sys
from pathlib import Path
with open({log!r}, "a") as f:
    f.write(json.dumps(sys.argv) + "\\n")
if os.environ.get("FAKE_NPM_EXIT"):
    sys.exit(int(os.environ["FAKE_NPM_EXIT"]))
modules = Path(sys.argv[sys.argv.index("--prefix") + 1]) / "node_modules"
(modules / "aws-cdk" / "bin").mkdir(parents=True)
(modules / "aws-cdk" / "bin" / "cdk").write_text("// the CDK CLI")
node = modules / "node-linux-{arch}" / "bin" / "node"
node.parent.mkdir(parents=True)
node.write_text({recorder!r})
node.chmod(0o755)
print("added 2 packages")
"""


def _executable(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


class Recorder:
    """What the fake executables were started with, one record per start."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.script = RECORDER.format(python=sys.executable, log=str(log))

    def calls(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.read_text().splitlines()] if self.log.exists() else []


@pytest.fixture(autouse=True)
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An app's directory, the current one, with a source root and a requirements file; the cache is empty and
    in tmp_path, and SQUALL_CDK, SQUALL_APP and JSII_NODE are unset."""
    directory = tmp_path / "project"
    (directory / "src").mkdir(parents=True)
    (directory / "requirements.txt").write_text("attrs\n")
    monkeypatch.chdir(directory)
    for name in (deploy.ENV_CDK, "SQUALL_APP", "JSII_NODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(deploy.ENV_CACHE_DIR, str(tmp_path / "cache"))
    return directory


@pytest.fixture
def recorder(tmp_path: Path) -> Recorder:
    return Recorder(tmp_path / "calls.jsonl")


@pytest.fixture
def fake_cdk(project: Path, recorder: Recorder, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """SQUALL_CDK names a fake ``cdk``."""
    monkeypatch.setenv(deploy.ENV_CDK, str(_executable(project.parent / "bin" / "cdk", recorder.script)))
    return recorder


def _fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, node_script: str) -> Path:
    """The only npm on PATH is FAKE_NPM, which installs ``node_script`` as the pinned Node; returns its log."""
    log = tmp_path / "npm.jsonl"
    fake = FAKE_NPM.format(python=sys.executable, log=str(log), arch=ARCH, recorder=node_script)
    monkeypatch.setenv("PATH", str(_executable(tmp_path / "npm-bin" / "npm", fake).parent))
    return log


def _printed_command(result: Result) -> list[str]:
    [line] = [line for line in result.stderr.splitlines() if line.startswith("+ ")]
    return shlex.split(line[2:])


def test_synth_runs_this_interpreters_cdk_app_with_the_context_keys_given(
    squall: Squall_, fake_cdk: Recorder, project: Path
) -> None:
    result = squall(
        "synth",
        *("--app", "tasks:app", "--stage", "dev", "--requirements", "requirements.txt"),
        *("--code", "src", "--code", "requirements.txt", "--out", "build", "-c", "squall:memory=512"),
        app=None,
    )

    assert result.exit_code == 0, result.output
    [call] = fake_cdk.calls()
    assert call["argv"][0] == os.environ[deploy.ENV_CDK]
    assert call["argv"][1:] == [
        *("synth", "--app", APP_COMMAND),
        *("-c", "squall:app=tasks:app", "-c", "squall:stage=dev", "-c", "squall:requirements=requirements.txt"),
        *("-c", "squall:code=src,requirements.txt", "-c", "squall:memory=512"),
        *("--output", "build"),
    ]
    assert call["cwd"] == str(project)
    assert (call["PATH"], call["JSII_NODE"]) == (os.environ["PATH"], None)  # SQUALL_CDK runs as is
    assert _printed_command(result) == call["argv"]
    assert result.stdout == ""


def test_synth_passes_only_the_app_and_the_default_output_when_nothing_else_is_given(
    squall: Squall_, fake_cdk: Recorder
) -> None:
    assert squall("synth", "--app", "tasks:app", app=None).exit_code == 0
    assert squall("--app", "tasks:app", "synth", app=None).exit_code == 0  # squall's own --app works too

    assert [c["argv"][1:] for c in fake_cdk.calls()] == 2 * [
        ["synth", "--app", APP_COMMAND, "-c", "squall:app=tasks:app", "--output", "cdk.out"]
    ]


def test_deploy_deploys_the_one_stack_with_the_approval_asked_for(squall: Squall_, fake_cdk: Recorder) -> None:
    squall("deploy", "--app", "tasks:app", "--stage", "prod", "--require-approval", "never", app=None)
    squall("deploy", "--app", "tasks:app", app=None)

    first, second = (c["argv"][1:] for c in fake_cdk.calls())
    assert first == [
        *("deploy", "--all", "--app", APP_COMMAND, "-c", "squall:app=tasks:app", "-c", "squall:stage=prod"),
        *("--require-approval", "never"),
    ]
    assert second == ["deploy", "--all", "--app", APP_COMMAND, "-c", "squall:app=tasks:app"]


def test_destroy_asks_for_confirmation_unless_forced(squall: Squall_, fake_cdk: Recorder) -> None:
    squall("destroy", "--app", "tasks:app", "--stage", "dev", "--code", "src", "--force", app=None)
    squall("destroy", "--app", "tasks:app", app=None)

    forced, asking = (c["argv"][1:] for c in fake_cdk.calls())
    assert forced == [
        *("destroy", "--all", "--app", APP_COMMAND, "-c", "squall:app=tasks:app", "-c", "squall:stage=dev"),
        *("-c", "squall:code=src", "--force"),
    ]
    assert asking == ["destroy", "--all", "--app", APP_COMMAND, "-c", "squall:app=tasks:app"]


@pytest.mark.parametrize("status", [1, 3])
def test_the_cdk_clis_exit_status_is_squalls(
    squall: Squall_, fake_cdk: Recorder, monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    monkeypatch.setenv("FAKE_CDK_EXIT", str(status))

    result = squall("deploy", "--app", "tasks:app", app=None)

    assert result.exit_code == status
    assert len(fake_cdk.calls()) == 1
    assert "error" not in result.stderr  # the CDK CLI said what went wrong


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["synth"], "name your app with --app"),
        (["synth", "--app", "tasks"], "name your app with --app"),
        (["synth", "--app", "tasks:app", "-c", "squall:stage=dev"], "use --stage instead"),
        (["deploy", "--app", "tasks:app", "-c", "squall:code=src"], "use --code instead"),
        (["synth", "--app", "tasks:app", "-c", "squall:memory"], "is not key=value"),
        (["synth", "--app", "tasks:app", "--stage", "Prod-1"], "stage 'Prod-1' cannot name AWS resources"),
        (["synth", "--app", "tasks:app", "--code", "missing"], "'missing' does not exist"),
        (["deploy", "--app", "tasks:app", "--require-approval", "sometimes"], "'sometimes' is not one of"),
    ],
)
def test_a_mistake_is_one_line_and_runs_nothing(
    squall: Squall_, fake_cdk: Recorder, args: list[str], complaint: str
) -> None:
    result = squall(*args, app=None)

    assert result.exit_code in (1, 2)
    assert complaint in result.stderr
    assert fake_cdk.calls() == []


def test_without_the_cdk_library_the_commands_say_which_extra_to_install(
    squall: Squall_, fake_cdk: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deploy, "find_spec", lambda name: None)

    result = squall("synth", "--app", "tasks:app", app=None)

    assert (result.exit_code, result.stderr.strip()) == (
        1,
        f"error: the CDK construct library is not installed for {sys.executable}: pip install 'squall[cdk]'",
    )
    assert fake_cdk.calls() == []


def _pinned_home(cache: Path) -> Path:
    return cache / f"cdk-{deploy.CDK_VERSION}"


@linux_only
def test_the_cached_cli_runs_on_the_pinned_node_which_path_and_jsii_node_name(
    squall: Squall_, recorder: Recorder, tmp_path: Path, project: Path
) -> None:
    modules = _pinned_home(tmp_path / "cache") / "node_modules"
    cdk = _executable(modules / "aws-cdk" / "bin" / "cdk", "// the CDK CLI")
    node = _executable(modules / f"node-linux-{ARCH}" / "bin" / "node", recorder.script)

    result = squall("synth", "--app", "tasks:app", app=None)

    assert result.exit_code == 0, result.output
    [call] = recorder.calls()
    assert call["argv"] == [str(node), str(cdk), "synth", "--app", APP_COMMAND, "-c", "squall:app=tasks:app", *OUT]
    assert call["PATH"].split(os.pathsep)[0] == str(node.parent)
    assert call["JSII_NODE"] == str(node)
    assert (call["cwd"], _printed_command(result)) == (str(project), call["argv"])


@linux_only
def test_first_use_installs_the_pinned_versions_with_npm_once(
    squall: Squall_, recorder: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    npm_log = _fake_npm(tmp_path, monkeypatch, recorder.script)

    first = squall("synth", "--app", "tasks:app", app=None)
    second = squall("deploy", "--app", "tasks:app", app=None)

    assert (first.exit_code, second.exit_code) == (0, 0), first.output
    [npm] = [json.loads(line) for line in npm_log.read_text().splitlines()]
    assert npm[1:3] == ["install", "--prefix"]
    assert npm[4:] == ["--no-audit", "--no-fund", "aws-cdk@2.1148.1", f"node-linux-{ARCH}@22.23.3"]
    assert Path(npm[3]).parent == tmp_path / "cache"
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["cdk-2.1148.1"]  # no staging dir left
    node = _pinned_home(tmp_path / "cache") / "node_modules" / f"node-linux-{ARCH}" / "bin" / "node"
    assert [c["argv"][:3] for c in recorder.calls()] == [
        [str(node), str(node.parents[2] / "aws-cdk" / "bin" / "cdk"), "synth"],
        [str(node), str(node.parents[2] / "aws-cdk" / "bin" / "cdk"), "deploy"],
    ]
    assert "added 2 packages" in first.stderr
    assert first.stdout == ""  # npm's chatter stays off stdout, where cdk synth prints the template


@linux_only
def test_a_failed_npm_install_leaves_no_cache_so_the_next_run_tries_again(
    squall: Squall_, recorder: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_npm(tmp_path, monkeypatch, recorder.script)
    monkeypatch.setenv("FAKE_NPM_EXIT", "7")

    result = squall("synth", "--app", "tasks:app", app=None)

    assert result.exit_code == 1
    assert "npm could not install aws-cdk@2.1148.1 and node-linux-" in result.stderr
    assert "(exit status 7)" in result.stderr
    assert list((tmp_path / "cache").iterdir()) == []
    assert recorder.calls() == []


@linux_only
def test_without_npm_and_an_empty_cache_the_error_says_so_and_names_squall_cdk(
    squall: Squall_, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    result = squall("synth", "--app", "tasks:app", app=None)

    [line] = result.stderr.splitlines()
    assert (result.exit_code, line.startswith("error: npm is not on PATH"), "SQUALL_CDK" in line) == (1, True, True)
    assert not (tmp_path / "cache").exists()


def test_a_machine_without_a_pinned_node_is_told_to_set_squall_cdk(
    squall: Squall_, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "sparc64")

    result = squall("synth", "--app", "tasks:app", app=None)

    assert result.exit_code == 1
    assert result.stderr.startswith("error: no pinned Node for ")
    assert "sparc64: install aws-cdk@2.1148.1 yourself and set SQUALL_CDK" in result.stderr


def test_the_pinned_versions_are_package_jsons() -> None:
    package = json.loads((ROOT / "package.json").read_text())

    assert package["dependencies"]["aws-cdk"] == deploy.CDK_VERSION
    assert {package["optionalDependencies"][f"node-linux-{arch}"] for arch in ("x64", "arm64")} == {deploy.NODE_VERSION}
    assert set(deploy.NODE_ARCHITECTURES.values()) == {"x64", "arm64"}


# --- A real synth: the pinned CLI that `npm ci` installed at the repository root, found through the cache. ---

PINNED_MODULES = ROOT / "node_modules"
TINY_APP = """from squall import Squall
app = Squall("tinyapp")
@app.task
def add(x: int, y: int) -> int:
    return x + y
"""


@pytest.fixture
def offline_pinned_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cache holds the repository's pinned CLI (no npm download); no AWS credentials, no CLI calls home."""
    for needed in (PINNED_MODULES / "aws-cdk" / "bin" / "cdk", PINNED_MODULES / f"node-linux-{ARCH}" / "bin" / "node"):
        if not needed.is_file():
            pytest.skip(f"{needed} is missing: run 'npm ci' at the repository root ({ROOT})")
    home = _pinned_home(tmp_path / "cache")
    home.mkdir(parents=True)
    (home / "node_modules").symlink_to(PINNED_MODULES)
    for name in [n for n in os.environ if n.startswith(("AWS_", "CDK_"))]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("CDK_DISABLE_CLI_TELEMETRY", "true")
    monkeypatch.setenv("CDK_DISABLE_VERSION_CHECK", "true")


def _tiny_project(directory: Path, monkeypatch: pytest.MonkeyPatch, module: str = "tasks.py") -> None:
    (directory / module).parent.mkdir(parents=True)
    (directory / module).write_text(TINY_APP)
    (directory / "cdk.json").write_text(json.dumps({"notices": False}))  # a project's own cdk.json still applies
    monkeypatch.chdir(directory)


@linux_only
@pytest.mark.usefixtures("offline_pinned_cli")
@pytest.mark.parametrize(
    ("module", "options", "template"),
    [
        ("tasks.py", "", "cdk.out/squall-tinyapp.template.json"),
        ("src/tasks.py", "--stage dev --code src --out out", "out/squall-tinyapp-dev.template.json"),
    ],
)
def test_synth_writes_the_apps_template_from_any_directory_offline(
    squall: Squall_,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    module: str,
    options: str,
    template: str,
) -> None:
    _tiny_project(tmp_path / "tiny", monkeypatch, module)

    result = squall("synth", "--app", "tasks:app", *options.split(), app=None)

    assert result.exit_code == 0, capfd.readouterr().err[-4000:]
    resources = json.loads((tmp_path / "tiny" / template).read_text())["Resources"].values()
    queues = [r["Properties"]["QueueName"] for r in resources if r["Type"] == "AWS::SQS::Queue"]
    assert queues
    assert all(name.startswith("squall-tinyapp-") for name in queues)
    assert all(("-dev-" in name) == ("--stage dev" in options) for name in queues)
