"""The layering of the squall package: the import contract holds, and the checker catches a violation.

``./run test`` runs ``lint-imports`` on the tree (the contract is ``[tool.importlinter]`` in pyproject.toml).
These tests check the checker on a copy of the package with a deliberate violation, and check what the
contract leaves out on purpose: imports made only for typing, which must still not reach ``squall.app``.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sdk" / "squall"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
#: The modules that compose an app or run one: they may import squall.app.
ABOVE_THE_APP = (
    "squall.app",
    "squall.cli",
    "squall.local",
    "squall.testing",
    "squall.handler",
    "squall.cdk",
    "squall.celery",
    "squall.functions",
    "squall.api",
    "squall.ui",
    "squall",
)


def contract_layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))
    (contract,) = config["tool"]["importlinter"]["contracts"]
    return [name.strip() for layer in contract["layers"] for name in layer.replace("|", ":").split(":")]


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on ``tree`` (holding pyproject.toml and sdk/squall), importing squall from there."""
    env = {**os.environ, "PYTHONPATH": str(tree / "sdk")}
    return subprocess.run(  # noqa: S603  # our own checker, on a copy of our own tree
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=tree, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture
def copy_of_the_tree(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(PACKAGE, tmp_path / "sdk" / "squall", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_every_module_of_the_package_is_in_a_layer() -> None:
    layers = contract_layers()
    modules = {
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in PACKAGE.rglob("*.py")
    }
    unplaced = sorted(
        m for m in modules if m != "squall" and not any(m == layer or m.startswith(layer + ".") for layer in layers)
    )
    assert unplaced == []


def test_the_tree_keeps_the_contract(copy_of_the_tree: Path) -> None:
    result = lint_imports(copy_of_the_tree)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 kept, 0 broken" in result.stdout


def test_the_checker_refuses_a_lower_layer_importing_a_higher_one(copy_of_the_tree: Path) -> None:
    # Given the wire format imports the worker, inside a function (an import the module graph must still see)
    codec = copy_of_the_tree / "sdk" / "squall" / "wire" / "codec.py"
    codec.write_text(
        codec.read_text("utf-8") + "\n\ndef _late() -> None:\n    from squall.worker import execution  # noqa\n",
        encoding="utf-8",
    )

    result = lint_imports(copy_of_the_tree)

    assert result.returncode == 1
    assert "squall.wire is not allowed to import squall.worker" in result.stdout
    assert "squall.wire.codec -> squall.worker.execution" in result.stdout


def app_imports_for_typing(path: Path, package: Path = PACKAGE) -> list[str]:
    """Where a module imports ``squall.app`` or the app class from ``squall``, for typing or not."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            names = {alias.name for alias in node.names}
            if node.module == "squall.app" or (node.module == "squall" and ("Squall" in names or "app" in names)):
                found.append(f"{path.relative_to(package.parent)}:{node.lineno}")
        elif isinstance(node, ast.Import) and any(alias.name == "squall.app" for alias in node.names):
            found.append(f"{path.relative_to(package.parent)}:{node.lineno}")
    return found


def below_the_app() -> list[Path]:
    def module(path: Path) -> str:
        return ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")

    return [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if not any(module(path) == m or module(path).startswith(m + ".") for m in ABOVE_THE_APP[:-1])
        and module(path) != "squall"
    ]


def test_nothing_below_the_app_imports_it_even_for_typing() -> None:
    """The contract ignores imports for typing; below the app, those go to squall.protocols.App instead."""
    assert [hit for path in below_the_app() for hit in app_imports_for_typing(path)] == []


def test_the_typing_scan_finds_an_app_import_under_type_checking(tmp_path: Path) -> None:
    module = tmp_path / "squall" / "wire" / "late.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from squall.app import Squall\n", encoding="utf-8"
    )

    hits = app_imports_for_typing(module, tmp_path / "squall")

    assert hits == ["squall/wire/late.py:3"]


def test_the_architecture_page_maps_every_module() -> None:
    """docs/architecture.md's module table names every module (or its whole package) and no module that is gone."""
    page = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    table = page[page.index("## Modules") :]
    named = {token for token in re.findall(r"`([\w/.]+)`", table) if token.endswith((".py", "/"))}
    modules = [p.relative_to(PACKAGE).as_posix() for p in PACKAGE.rglob("*.py") if p.name != "__init__.py"]

    def mapped(module: str) -> bool:
        folder = module.rsplit("/", 1)[0] + "/" if "/" in module else ""
        return module in named or (folder and folder in named) or module.rsplit("/", 1)[-1] in named

    assert sorted(m for m in modules if not mapped(m)) == []
    gone = [
        n for n in named if n.endswith(".py") and "/" in n and not (PACKAGE / n).exists() and not (ROOT / n).exists()
    ]
    assert gone == []
