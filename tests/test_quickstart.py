"""The README's Quickstart, followed literally: its blocks are read from README.md and run, in order.

Install (the test runs in the installed environment) and deploy (it needs an AWS account) are checked, not
run; so are the deploy commands of README.md and docs/deploy.md, against the options the commands have.
Everything else runs as written: ``tasks.py`` is written to a fresh directory, ``squall dev`` serves it on
loopback, the shell block runs in bash and the Python block in a second interpreter, both with the environment
the dev server printed, which must match the README's ``export`` line but for the port.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.dev_process import COMMAND_TIMEOUT, DevServer

import squall.cli.deploy  # noqa: F401  # registers `squall synth|deploy|destroy` on the group
from squall.cli import cli

README = Path(__file__).resolve().parent.parent / "README.md"
DEPLOY_GUIDE = README.parent / "docs" / "deploy.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def squall_commands(script: str) -> list[list[str]]:
    """A block's ``squall ...`` command lines as words: continuation lines joined, comments dropped."""
    lines = script.replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.startswith("squall ")]


def command_options(name: str) -> set[str]:
    """Every option spelling ``squall <name>`` accepts (``--stage``, ``-c``, ``--context``, ``--help``)."""
    command = cli.commands[name]
    return {option for param in command.params for option in (*param.opts, *param.secondary_opts)} | {"--help"}


def quickstart_blocks() -> list[tuple[str, str]]:
    """The fenced blocks of the README's Quickstart section, as (language, text)."""
    text = README.read_text()
    section = text.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    return [(match.group(1), match.group(2)) for match in _FENCE.finditer(section)]


@pytest.fixture(scope="module")
def blocks() -> list[tuple[str, str]]:
    found = quickstart_blocks()
    assert [lang for lang, _ in found] == ["console", "python", "bash", "bash", "bash", "python", "bash"]
    return found


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, blocks: list[tuple[str, str]]) -> Path:
    """A fresh directory holding the README's tasks.py."""
    _, tasks = blocks[1]
    assert tasks.startswith("# tasks.py\n")
    directory = tmp_path_factory.mktemp("quickstart")
    (directory / "tasks.py").write_text(tasks)
    return directory


@pytest.fixture(scope="module")
def server(project: Path, blocks: list[tuple[str, str]]) -> Iterator[DevServer]:
    """The README's ``squall dev`` command, started in the project directory."""
    words = shlex.split(blocks[2][1])
    assert words[:3] == ["squall", "--app", "tasks:app"]
    dev = DevServer(words[2], project, *words[4:])
    yield dev
    dev.stop(signal.SIGKILL)


def test_the_install_step_installs_this_checkout_with_the_local_extra(blocks: list[tuple[str, str]]) -> None:
    _, install = blocks[0]

    assert "pip install -e '.[local]'" in install
    assert "not on PyPI yet" in README.read_text().split("\n## Quickstart\n", 1)[1]


def test_the_readme_eval_line_sets_the_environment_squall_dev_printed(
    server: DevServer, blocks: list[tuple[str, str]]
) -> None:
    line = blocks[3][1].strip()
    assert line == 'eval "$(squall --app tasks:app dev --env)"'
    port = server.env["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]  # the test's server has a free port, not 8750
    script = line.replace("dev --env", f"dev --env --port {port}") + "; env"
    bin_dir = str(Path(sys.executable).parent)
    clean = {k: v for k, v in server.env.items() if not k.startswith("AWS_")}

    done = subprocess.run(  # noqa: S603  # bash running the README's line
        ["/bin/bash", "-euo", "pipefail", "-c", script],
        cwd=server.cwd,
        env={**clean, "PATH": f"{bin_dir}:{clean.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    exported = dict(item.split("=", 1) for item in done.stdout.splitlines() if "=" in item)
    printed = server.wait_for_output(r"^\s*export ").strip()
    for name, value in (item.split("=", 1) for item in shlex.split(printed.removeprefix("export "))):
        assert exported.get(name) == value, name


def test_the_shell_block_sends_tasks_and_prints_their_results(server: DevServer, blocks: list[tuple[str, str]]) -> None:
    script = blocks[4][1]
    bin_dir = str(Path(sys.executable).parent)  # where pip put the squall console script

    done = subprocess.run(  # noqa: S603  # bash running the README's block
        ["/bin/bash", "-euo", "pipefail", "-c", script],
        cwd=server.cwd,
        env={**server.env, "PATH": f"{bin_dir}:{server.env.get('PATH', '')}"},
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "5"
    assert any(line.split() == ["state", "SUCCESS"] for line in lines[1:])
    assert any(line.split() == ["result", "5"] for line in lines[1:])


def test_the_python_block_reads_a_result_from_a_second_process(
    server: DevServer, blocks: list[tuple[str, str]]
) -> None:
    done = server.run(sys.executable, "-c", blocks[5][1])

    assert done.returncode == 0, done.stderr
    assert done.stdout == "5\n"


def test_the_deploy_block_deploys_the_quickstart_module_with_squall_deploy(blocks: list[tuple[str, str]]) -> None:
    deploy = blocks[6][1]

    assert ["squall", "deploy", "--app", "tasks:app", "--code", "tasks.py"] in squall_commands(deploy)
    assert "unset AWS_ENDPOINT_URL" in deploy
    assert "infra/cdkw" not in deploy  # the repository's own wrapper; deploying needs only the package


def test_the_deploy_section_installs_the_package_deploys_a_stage_and_links_the_guide() -> None:
    section = README.read_text().split("\n## Deploy\n", 1)[1].split("\n## ", 1)[0]

    assert 'pip install "squall[cdk]"' in section
    assert ["squall", "deploy", "--app", "tasks:app", "--stage", "prod", "--requirements", "requirements.txt"] in (
        squall_commands(section)
    )
    assert "(docs/deploy.md)" in section


def test_every_documented_squall_synth_deploy_or_destroy_uses_only_options_the_command_has() -> None:
    documented = [
        words
        for page in (README, DEPLOY_GUIDE)
        for _, block in _FENCE.findall(page.read_text())
        for words in squall_commands(block)
        if words[:2] in (["squall", "synth"], ["squall", "deploy"], ["squall", "destroy"])
    ]
    unknown = [
        (" ".join(words[:2]), option)
        for words in documented
        for option in (word.split("=", 1)[0] for word in words[2:] if word.startswith("-"))
        if option not in command_options(words[1])
    ]

    assert len(documented) >= 5
    assert unknown == []


def test_the_dev_server_stops_cleanly_on_sigterm_too(server: DevServer) -> None:
    assert server.stop(signal.SIGTERM) == 0
    assert server.lines[-1] == "squall dev: stopped"
