"""A user's third-party dependencies are pip-installed into the bundle for Lambda's platform, without Docker.

Every wheel is written here, into a local ``--find-links`` directory named by the requirements file itself
(``--no-index``), so no test reaches a package index.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from cdk_support import synthesize
from wheels import distributions, requirements_file, write_wheel

from squall.cdk import packaging
from squall.cdk.options import DeployOptions
from squall.deploy.context import APP, REQUIREMENTS
from squall.errors import ConfigurationError

#: tests/infra: the bundle driver's helpers (bundle_run.py) are imported from here by the task run below.
INFRA_TESTS = Path(__file__).resolve().parent
#: The user's app: one task reporting what it imported from its dependencies.
APP_MODULE = """\
import importlib.metadata

import tinyarm
import tinydep
import tinyhelper

from squall import Squall

app = Squall("deps")


@app.task
def probe() -> dict[str, str]:
    return {
        "value": tinydep.VALUE,
        "helper": tinyhelper.NAME,
        "native": tinyarm.NAME,
        "version": importlib.metadata.version("tinydep"),
        "file": tinydep.__file__,
    }
"""
#: Sends ``depapp.probe`` through the bundle's worker on moto: python DRIVER OUT.json HANDLER TASK.
DRIVER = """\
import json
import os
import sys
from pathlib import Path

from bundle_run import context, entry_point, provision, receive, record
from moto import mock_aws

from squall.app import load_app
from squall.deploy.topology import describe

with mock_aws():
    app = load_app(os.environ["SQUALL_APP"])
    settings = provision(describe(app))
    os.environ["SQUALL_CONFIG"] = json.dumps(settings.to_document())
    worker = entry_point(sys.argv[2])
    task_id = app.get_task(sys.argv[3]).delay().id
    queue = settings.queue(app.default_queue)
    (sent,) = receive(queue.url)
    delivered = record(sent["MessageId"], sent["Body"], queue.arn, sent["Attributes"])
    response = worker({"Records": [delivered]}, context("worker"))
    stored = app.store.get(task_id)
    report = {"worker": response, "state": str(stored.state), "result": stored.result_json}
    Path(sys.argv[1]).write_text(json.dumps(report))
"""


def write_wheelhouse(directory: Path) -> Path:
    """Every distribution the tests install, each as only the wheels named below."""
    directory.mkdir(parents=True)
    write_wheel(
        directory,
        "tinydep",
        "1.0",
        {"tinydep/__init__.py": 'VALUE = "tiny"\n'},
        requires=["tinyhelper>=1", "boto3"],
    )
    write_wheel(directory, "tinyhelper", "1.0", {"tinyhelper.py": 'NAME = "helper"\n'})
    # A native wheel for Lambda's platform at a PEP 600 level above manylinux2014.
    write_wheel(directory, "tinyarm", "1.0", {"tinyarm.py": 'NAME = "arm"\n'}, tag="cp314-cp314-manylinux_2_28_aarch64")
    write_wheel(directory, "tinynative", "1.0", {"tinynative.py": ""}, tag="cp314-cp314-win_amd64")
    write_wheel(directory, "boto3", "1.99.0", {"boto3/__init__.py": "FAKE = True\n"}, requires=["botocore"])
    write_wheel(directory, "botocore", "1.99.0", {"botocore/__init__.py": "FAKE = True\n"})
    write_wheel(directory, "squall", "9.9", {"squall/__init__.py": "FAKE = True\n"})
    return directory


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_wheelhouse(tmp_path_factory.mktemp("deps") / "wheels")


@pytest.fixture(scope="module")
def user_code(tmp_path_factory: pytest.TempPathFactory) -> Path:
    module = tmp_path_factory.mktemp("project") / "depapp.py"
    module.write_text(APP_MODULE, encoding="utf-8")
    return module


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path, user_code: Path) -> Path:
    """The user's app staged with ``tinydep`` and ``tinyarm`` from its requirements."""
    requirements = requirements_file(tmp_path_factory.mktemp("app"), wheelhouse, "tinydep==1.0", "tinyarm")
    return packaging.stage_bundle([user_code], requirements=requirements)


def test_the_bundle_holds_each_requirement_and_its_dependencies_with_their_dist_info(bundle: Path) -> None:
    assert (bundle / "tinydep" / "__init__.py").is_file()
    assert (bundle / "tinyhelper.py").is_file()
    assert (bundle / "tinyarm.py").is_file()
    assert {"tinydep-1.0", "tinyhelper-1.0", "tinyarm-1.0"} <= distributions(bundle)
    assert (bundle / "depapp.py").is_file()
    assert (bundle / "squall" / "handler.py").is_file()
    assert not list(bundle.rglob("*.pyc"))


def test_a_task_in_the_bundle_runs_on_its_dependency_and_reads_its_metadata(bundle: Path, tmp_path: Path) -> None:
    driver, out = tmp_path / "driver.py", tmp_path / "report.json"
    driver.write_text(DRIVER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQUALL_", "POWERTOOLS_", "PYTHON", "AWS_"))}
    env.update(
        # Lambda's path: the bundle first; then the runtime's boto3 and the layer's Powertools (site-packages).
        PYTHONPATH=os.pathsep.join([str(bundle), str(INFRA_TESTS), sysconfig.get_paths()["purelib"]]),
        PYTHONDONTWRITEBYTECODE="1",
        SQUALL_APP="depapp:app",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_SERVICE_NAME="deps",
        POWERTOOLS_TRACE_DISABLED="true",
    )
    command = [sys.executable, "-S", "-P", str(driver), str(out), packaging.HANDLER, "depapp.probe"]

    # This interpreter running a driver written above, with fixed arguments.
    done = subprocess.run(command, cwd=bundle, env=env, capture_output=True, text=True, check=False)  # noqa: S603

    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["worker"] == {"batchItemFailures": []}
    assert report["state"] == "SUCCESS"
    result = json.loads(report["result"])
    assert {k: result[k] for k in ("value", "helper", "native", "version")} == {
        "value": "tiny",
        "helper": "helper",
        "native": "arm",
        "version": "1.0",
    }
    assert Path(result["file"]).is_relative_to(bundle)


def test_a_requirement_with_no_wheel_for_lambda_fails_in_one_line_naming_it_and_the_platform(
    tmp_path: Path, wheelhouse: Path
) -> None:
    requirements = requirements_file(tmp_path, wheelhouse, "tinydep==1.0", "tinynative==1.0")

    with pytest.raises(ConfigurationError) as raised:
        packaging.stage_bundle([], requirements=requirements)

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{REQUIREMENTS}: no wheel of tinynative==1.0 for CPython 3.14 on manylinux aarch64")
    assert "versions with one: none" in message
    assert "pin a version that publishes such a wheel, or vendor the package as a squall:code path" in message


def test_another_pip_failure_is_one_line_with_pips_own_reason(tmp_path: Path, wheelhouse: Path) -> None:
    requirements = requirements_file(tmp_path, wheelhouse, "-r missing.txt")

    with pytest.raises(ConfigurationError) as raised:
        packaging.install_requirements(requirements)

    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"{REQUIREMENTS}: pip could not install {requirements} for Lambda (ERROR:")
    assert "missing.txt" in message


def test_boto3_that_only_a_dependency_requires_is_left_out_of_the_bundle(bundle: Path) -> None:
    # tinydep requires boto3 (and so botocore): the runtime provides both.
    assert not {path.name for path in bundle.iterdir()} & {"boto3", "botocore"}
    assert not {name for name in distributions(bundle) if name.startswith(("boto3-", "botocore-"))}


@pytest.mark.parametrize("line", ["boto3", "boto3>=1.99"])
def test_boto3_in_the_requirements_is_left_out_unless_pinned(tmp_path: Path, wheelhouse: Path, line: str) -> None:
    requirements = requirements_file(tmp_path, wheelhouse, line)

    installed = packaging.install_requirements(requirements)

    assert list(installed.iterdir()) == []


def test_a_pinned_boto3_ships_with_the_botocore_it_needs(tmp_path: Path, wheelhouse: Path) -> None:
    requirements = requirements_file(tmp_path, wheelhouse, "boto3 == 1.99.0  # on purpose: a newer API")

    bundle = packaging.stage_bundle([], requirements=requirements)

    assert {"boto3-1.99.0", "botocore-1.99.0"} <= distributions(bundle)
    assert (bundle / "boto3" / "__init__.py").read_text() == "FAKE = True\n"


def test_squall_in_the_requirements_never_replaces_the_bundled_squall(tmp_path: Path, wheelhouse: Path) -> None:
    requirements = requirements_file(tmp_path, wheelhouse, "squall==9.9", "tinyhelper")

    bundle = packaging.stage_bundle([], requirements=requirements)

    assert distributions(bundle) == {"tinyhelper-1.0"}
    shipped = (bundle / "squall" / "__init__.py").read_text()
    assert shipped == (packaging.squall_package_dir() / "__init__.py").read_text()


def test_staging_requirements_leaves_the_synth_environment_unchanged(tmp_path: Path, wheelhouse: Path) -> None:
    requirements = requirements_file(tmp_path, wheelhouse, "tinydep==1.0", "# the synth's own path stays as it was")
    path_before, modules_before = list(sys.path), set(sys.modules)

    packaging.stage_bundle([], requirements=requirements)

    assert sys.path == path_before
    assert not {"tinydep", "tinyhelper"} & (set(sys.modules) - modules_before)
    assert importlib.util.find_spec("tinydep") is None


def test_the_same_requirements_are_installed_once_per_process(tmp_path: Path) -> None:
    wheels = write_wheelhouse(tmp_path / "wheels")
    requirements = requirements_file(tmp_path, wheels, "tinyhelper")
    first = packaging.install_requirements(requirements)
    shutil.rmtree(wheels)  # pip could not install anything again

    again = packaging.install_requirements(requirements)
    staged = packaging.stage_bundle([], requirements=requirements)

    assert again == first
    assert "tinyhelper-1.0" in distributions(staged)
    requirements.write_text(requirements.read_text() + "# changed\n", encoding="utf-8")
    with pytest.raises(ConfigurationError, match="no wheel of tinyhelper"):
        packaging.install_requirements(requirements)


@pytest.mark.parametrize("code_path", ["tinydep.py", "tinyhelper"])
def test_a_requirement_that_installs_a_code_paths_module_is_refused(
    tmp_path: Path, wheelhouse: Path, code_path: str
) -> None:
    code = tmp_path / code_path
    if code.suffix:
        code.write_text("", encoding="utf-8")
    else:  # a package (a directory without __init__.py would be a source root, shipping its entries)
        code.mkdir()
        (code / "__init__.py").write_text("", encoding="utf-8")
    requirements = requirements_file(tmp_path, wheelhouse, "tinydep==1.0")
    module = code.stem

    with pytest.raises(ConfigurationError, match=f"installs {module}, which the bundle already ships as code"):
        packaging.stage_bundle([code], requirements=requirements)


@pytest.mark.parametrize(("architecture", "machine"), [("arm64", "aarch64"), ("x86_64", "x86_64")])
def test_pip_is_offered_every_manylinux_level_the_lambda_os_loads(architecture: str, machine: str) -> None:
    tags = packaging.platform_tags(architecture)

    assert tags[0] == f"manylinux_2_34_{machine}"  # Amazon Linux 2023's glibc
    assert {f"manylinux_2_28_{machine}", f"manylinux_2_17_{machine}", f"manylinux2014_{machine}"} <= set(tags)
    assert not [tag for tag in tags if not tag.endswith(machine)]
    assert f"manylinux_2_35_{machine}" not in tags


def test_the_functions_platform_is_the_runtimes_python_on_arm64() -> None:
    assert packaging.PYTHON_VERSION == "3.14"
    assert packaging.platform_tags() == packaging.platform_tags("arm64")


def test_pins_are_read_from_the_file_own_lines() -> None:
    text = "Boto3[crt]==1.40.0 ; python_version >= '3.12'\nbotocore>=1.40\n# s3transfer==0.1\n-r more.txt\n"

    assert packaging.pinned(text) == {"boto3"}


def test_deploy_options_read_the_requirements_file_relative_to_the_app_dir(tmp_path: Path) -> None:
    (tmp_path / "requirements.txt").write_text("tinydep\n", encoding="utf-8")

    options = DeployOptions.from_context({APP: "tasks:app", REQUIREMENTS: "requirements.txt"}.get, base=tmp_path)

    assert options.requirements == (tmp_path / "requirements.txt").resolve()
    assert DeployOptions.from_context({APP: "tasks:app", REQUIREMENTS: None}.get, base=tmp_path).requirements is None


def test_deploy_options_refuse_a_requirements_file_that_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"squall:requirements: no such file: .*missing\.txt"):
        DeployOptions.from_context({APP: "tasks:app", REQUIREMENTS: "missing.txt"}.get, base=tmp_path)


def test_a_stack_synthesized_with_requirements_ships_them_in_the_functions_bundle(
    tmp_path_factory: pytest.TempPathFactory, wheelhouse: Path
) -> None:
    # Given the deploy option naming a requirements file
    requirements = requirements_file(tmp_path_factory.mktemp("stack-app"), wheelhouse, "tinydep==1.0")

    # When the stack is synthesized
    synth = synthesize(tmp_path_factory.mktemp("cdk-deps"), {REQUIREMENTS: str(requirements)})

    # Then the one bundle both functions run holds the dependency, with its metadata
    functions = synth.template.find_resources("AWS::Lambda::Function")
    keys = {
        props["Properties"]["Code"]["S3Key"] for props in functions.values() if "S3Key" in props["Properties"]["Code"]
    }
    (bundle,) = [
        p for p in synth.outdir.glob("asset.*") if any(k.startswith(p.name.removeprefix("asset.")) for k in keys)
    ]
    assert (bundle / "tinydep").is_dir() or (bundle / "tinydep.py").is_file()
    assert "tinydep-1.0" in distributions(bundle)
