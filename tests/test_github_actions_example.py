"""The GitHub Actions example deploys with an OIDC role and only with options ``squall deploy`` accepts.

examples/github-actions/deploy.yml is meant to be copied into a repository as it is, so what it must get right
is checked here: it asks GitHub for the OIDC token, assumes a role instead of holding keys, and every
``squall deploy`` line passes options the command has (an option renamed in the CLI fails here, not in
someone's CI). The IAM policies of its README are checked against the same workflow.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML (installed with cfn-lint) ships no type hints
from click.testing import CliRunner

import squall.cli.deploy  # noqa: F401  # registers `squall synth|deploy|destroy` on the group
from squall.cli import cli

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "github-actions"
WORKFLOW = EXAMPLE / "deploy.yml"
README = EXAMPLE / "README.md"
#: What the push to main runs: docs/deploy.md's first deploy, without the question nobody is there to answer.
PROD_DEPLOY = "squall deploy --app tasks:app --stage prod --requirements requirements.txt --require-approval never"
INSTALL = 'pip install "squall[cdk]" -r requirements.txt'
CREDENTIALS_ACTION = re.compile(r"^aws-actions/configure-aws-credentials@v\d+$")
#: Action inputs and environment variables that would put long-lived AWS keys in a workflow.
STATIC_KEY_NAMES = ("aws-access-key-id", "aws-secret-access-key", "aws-session-token", "aws_access_key_id")
#: An AWS access key id (long-lived AKIA..., temporary ASIA...).
ACCESS_KEY_ID = re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b")


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    loaded = yaml.safe_load(WORKFLOW.read_text("utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def deploy_help() -> str:
    result = CliRunner().invoke(cli, ["deploy", "--help"], prog_name="squall")
    assert result.exit_code == 0, result.output
    return result.output


def triggers(workflow: dict[Any, Any]) -> dict[str, Any]:
    """The workflow's ``on:`` (YAML 1.1, which PyYAML reads, takes a bare ``on`` key for the boolean true)."""
    found = workflow.get("on", workflow.get(True))
    assert isinstance(found, dict)
    return found


def jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = workflow["jobs"]
    assert isinstance(found, dict)
    assert found
    return found


def commands(job: dict[str, Any]) -> list[list[str]]:
    """Every command line of the job's ``run`` steps, as shell words (continuation lines joined)."""
    lines = []
    for step in job["steps"]:
        script = str(step.get("run", "")).replace("\\\n", " ")
        lines += [shlex.split(line) for line in script.splitlines() if line.strip()]
    return lines


def squall_deploys(job: dict[str, Any]) -> list[list[str]]:
    return [words for words in commands(job) if words[:2] == ["squall", "deploy"]]


def accepts(help_text: str, option: str) -> bool:
    """Whether ``squall deploy --help`` lists ``option`` (``--stage``, ``-c``) as a whole word."""
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", help_text) is not None


def test_it_deploys_prod_on_pushes_to_main_and_dev_on_pull_requests(workflow: dict[str, Any]) -> None:
    on = triggers(workflow)
    assert on["push"]["branches"] == ["main"]
    assert "pull_request" in on
    stages = {words[words.index("--stage") + 1] for job in jobs(workflow).values() for words in squall_deploys(job)}
    assert stages == {"prod", "dev"}


def test_every_job_may_ask_for_the_oidc_token_and_read_the_code(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {"id-token": "write", "contents": "read"}
    for name, job in jobs(workflow).items():
        assert job.get("permissions", workflow["permissions"])["id-token"] == "write", name


def test_credentials_come_from_a_role_the_token_assumes(workflow: dict[str, Any]) -> None:
    for name, job in jobs(workflow).items():
        [step] = [s for s in job["steps"] if "configure-aws-credentials" in str(s.get("uses", ""))]
        assert CREDENTIALS_ACTION.match(step["uses"]), f"{name}: pin the action's major version, e.g. @v5"
        assert set(step["with"]) == {"role-to-assume", "aws-region"}, name
        assert step["with"]["role-to-assume"], name


def test_no_static_keys_or_secrets_appear_anywhere_in_the_file() -> None:
    text = WORKFLOW.read_text("utf-8")
    assert [key for key in STATIC_KEY_NAMES if key in text.lower()] == []
    assert ACCESS_KEY_ID.search(text) is None
    assert "secrets." not in text


def test_the_push_job_installs_the_package_and_runs_the_documented_deploy(workflow: dict[str, Any]) -> None:
    [prod] = [job for job in jobs(workflow).values() if job.get("environment") == "prod"]
    [node] = [s for s in prod["steps"] if str(s.get("uses", "")).startswith("actions/setup-node@")]

    assert str(node["with"]["node-version"]) == "22"
    assert shlex.split(INSTALL) in commands(prod)
    assert squall_deploys(prod) == [shlex.split(PROD_DEPLOY)]


def test_every_option_a_deploy_step_passes_is_one_squall_deploy_accepts(
    workflow: dict[str, Any], deploy_help: str
) -> None:
    used = {
        word.split("=", 1)[0]
        for job in jobs(workflow).values()
        for words in squall_deploys(job)
        for word in words
        if word.startswith("-")
    }

    assert {"--app", "--stage", "--requirements", "--require-approval"} <= used
    assert sorted(option for option in used if not accepts(deploy_help, option)) == []


def test_the_option_check_refuses_an_option_the_command_lacks(deploy_help: str) -> None:
    assert accepts(deploy_help, "--require-approval")
    assert not accepts(deploy_help, "--require")
    assert not accepts(deploy_help, "--profile")


def policies() -> list[dict[str, Any]]:
    """The README's JSON blocks: the trust policy, then the deploy role's permissions."""
    blocks = re.findall(r"```json\n(.*?)```", README.read_text("utf-8"), re.S)
    return [json.loads(block) for block in blocks]


def test_the_trust_policy_admits_one_environment_of_one_repository_that_the_workflow_uses(
    workflow: dict[str, Any],
) -> None:
    [trust, _] = policies()
    [statement] = trust["Statement"]
    condition = statement["Condition"]["StringEquals"]

    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"].endswith(":oidc-provider/token.actions.githubusercontent.com")
    assert condition["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    subject = condition["token.actions.githubusercontent.com:sub"]
    assert "*" not in subject
    repository, _, environment = subject.removeprefix("repo:").partition(":environment:")
    assert repository.count("/") == 1
    assert environment in {job.get("environment") for job in jobs(workflow).values()}


def test_the_deploy_role_may_only_assume_the_cdk_bootstrap_roles() -> None:
    [_, permissions] = policies()
    [statement] = permissions["Statement"]

    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Resource"].endswith(":role/cdk-*")
    tags = statement["Condition"]["StringEquals"]["iam:ResourceTag/aws-cdk:bootstrap-role"]
    assert sorted(tags) == ["deploy", "file-publishing", "image-publishing", "lookup"]
