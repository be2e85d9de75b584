"""The functions' code bundle holds what the worker and the reconciler run, and both run from it alone."""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cdk_support import SHOP_OPTIONS, bundle_environment

from squall.cdk import packaging

#: Runs one task through a bundle's worker and reconciler on moto (see its docstring).
DRIVER = Path(__file__).with_name("bundle_run.py")
#: What the driver hands the reconciler besides a leftover copy of the finished task.
MALFORMED_BODY = "not a Squall envelope"


@pytest.fixture(scope="module")
def bundle() -> Path:
    """The bundle the stack stages for the example shop."""
    return packaging.stage_bundle(SHOP_OPTIONS.code)


def run_from(bundle: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """Run the driver as Lambda would load the bundle: from its directory, with only it and site-packages on the path.

    ``-S`` skips site-packages' ``.pth`` hooks, so the repository's editable install of squall is out of reach;
    ``-P`` keeps the driver's own directory off the path.
    """
    env = bundle_environment(
        bundle,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_SERVICE_NAME="shop",
    )
    command = [sys.executable, "-S", "-P", str(DRIVER), str(out), packaging.HANDLER, packaging.RECONCILER_HANDLER]
    # This interpreter running the repository's own driver, fixed arguments.
    return subprocess.run(command, cwd=bundle, env=env, capture_output=True, text=True, check=False)  # noqa: S603


def unshipped_imports(bundle: Path) -> list[str]:
    """``file: module`` for each squall module a shipped file imports that the bundle lacks.

    Every import counts, inside functions too, except those under ``if TYPE_CHECKING:`` (never run).
    """
    source = packaging.squall_package_dir().parent
    found = []
    for path in sorted([*(bundle / "squall").rglob("*.py"), *(bundle / "functions").rglob("*.py")]):
        for module in _imported_names(ast.parse(path.read_text(encoding="utf-8"))):
            if module.split(".")[0] == "squall" and _is_module(source, module) and not _is_module(bundle, module):
                found.append(f"{path.relative_to(bundle).as_posix()}: {module}")
    return sorted(set(found))


def _imported_names(tree: ast.AST) -> Iterator[str]:
    """Every name an import statement may load as a module: ``import a.b``, ``from a import b`` (a, a.b)."""
    nodes = [tree]
    while nodes:
        node = nodes.pop()
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            nodes.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)
        nodes.extend(ast.iter_child_nodes(node))


def _is_module(root: Path, module: str) -> bool:
    path = root.joinpath(*module.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def test_the_worker_and_the_reconciler_run_a_task_from_the_bundle_alone(bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.json"

    done = run_from(bundle, out)

    assert done.returncode == 0, done.stderr
    report = json.loads(out.read_text())
    assert report["worker"] == {"batchItemFailures": []}
    assert report["state"] == "SUCCESS"
    assert json.loads(report["result"]) == {"order_id": "o-1", "charged": 100, "currency": "EUR"}
    # The leftover copy of the finished task is acknowledged; the malformed body is dead-lettered.
    assert report["reconciler"] == {"batchItemFailures": []}
    assert report["dead_letter_bodies"] == [MALFORMED_BODY]
    assert "squall.handler" in report["squall_modules"]
    outside = {name: file for name, file in report["squall_modules"].items() if not Path(file).is_relative_to(bundle)}
    assert outside == {}
    assert not Path(report["powertools"]).is_relative_to(bundle)


def test_a_bundle_without_a_module_the_worker_imports_fails_to_run(tmp_path: Path) -> None:
    broken = packaging.stage_bundle(SHOP_OPTIONS.code, not_run=(*packaging.NOT_RUN, "worker/metrics.py"))

    done = run_from(broken, tmp_path / "report.json")

    assert done.returncode != 0
    assert "No module named 'squall.worker.metrics'" in done.stderr


def test_the_bundle_ships_the_squall_package_less_exactly_what_neither_function_runs(bundle: Path) -> None:
    package = packaging.squall_package_dir()
    for omitted in packaging.NOT_RUN:
        assert (package / omitted).exists(), f"squall/{omitted} no longer exists: drop it from NOT_RUN"
    expected = {
        path.relative_to(package).as_posix()
        for path in package.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and not any(path.relative_to(package).is_relative_to(omitted) for omitted in packaging.NOT_RUN)
    }
    shipped = {
        path.relative_to(bundle / "squall").as_posix() for path in (bundle / "squall").rglob("*") if path.is_file()
    }
    assert shipped == expected
    assert {"handler.py", "worker/reconciler.py", "state/store.py"} <= shipped
    assert not {"deploy/cost.py", "deploy/prices.json", "testing.py", "ops/dlq.py"} & shipped


def test_no_shipped_module_imports_a_squall_module_the_bundle_leaves_out(bundle: Path) -> None:
    assert unshipped_imports(bundle) == []


def test_the_import_scan_finds_an_unshipped_module_imported_at_run_time_only(bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "bundle"
    shutil.copytree(bundle, copy)
    (copy / "squall" / "worker" / "extra.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from squall.cli import main\n"
        "if TYPE_CHECKING:\n"
        "    from squall import testing\n"
        "def later():\n"
        "    from squall import limits\n"
        "    from squall.deploy import cost\n",
        encoding="utf-8",
    )

    assert unshipped_imports(copy) == [
        "squall/worker/extra.py: squall.cli",
        "squall/worker/extra.py: squall.deploy.cost",
    ]
