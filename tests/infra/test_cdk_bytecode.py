"""The bundle ships bytecode for the functions' Python when an interpreter of that version is at hand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cdk_support import SHOP_OPTIONS, bundle_environment

from squall.cdk import bytecode, packaging
from squall.errors import ConfigurationError

HERE = f"{sys.version_info.major}.{sys.version_info.minor}"
#: PEP 552: the flags word of a hash-based pyc whose source is never checked.
UNCHECKED_HASH_FLAGS = 0b01
#: Appended to a module's source: importing fails if (and only if) the source is what runs.
READ_MARK = '\nraise RuntimeError("the source was read")\n'


def import_from(bundle: Path, statement: str) -> subprocess.CompletedProcess[str]:
    """Run ``statement`` in a fresh interpreter that sees only ``bundle`` and site-packages, writing nothing."""
    env = bundle_environment(bundle, AWS_DEFAULT_REGION="us-east-1")
    command = [sys.executable, "-S", "-P", "-c", statement]
    return subprocess.run(command, cwd=bundle, env=env, capture_output=True, text=True, check=False)  # noqa: S603


@pytest.fixture(scope="module")
def compiled() -> Path:
    """The shop's bundle compiled by this interpreter, standing in for one of the functions' version."""
    return packaging.stage_bundle(SHOP_OPTIONS.code, bytecode=sys.executable)


def test_every_shipped_module_has_unchecked_hash_bytecode_for_the_interpreter_that_compiled_it(compiled: Path) -> None:
    modules = sorted(compiled.rglob("*.py"))
    tag = sys.implementation.cache_tag

    missing = [str(m) for m in modules if not (m.parent / "__pycache__" / f"{m.stem}.{tag}.pyc").is_file()]
    flags = {int.from_bytes((p.read_bytes()[4:8]), "little") for p in compiled.rglob(f"__pycache__/*.{tag}.pyc")}

    assert modules
    assert missing == []
    assert flags == {UNCHECKED_HASH_FLAGS}
    assert packaging.has_bytecode(compiled)


def test_the_worker_imports_its_bytecode_without_reading_the_source(compiled: Path, tmp_path: Path) -> None:
    # Given a compiled bundle whose handler module's source is then changed
    handler = compiled / "squall" / "handler.py"
    original = handler.read_text()
    handler.write_text(original + READ_MARK)
    try:
        # When the worker's entry point is imported
        done = import_from(compiled, f"import {packaging.HANDLER.rpartition('.')[0]}")
    finally:
        handler.write_text(original)

    # Then it loads from the bytecode: the source is never compiled (nor its modification time compared)
    assert done.returncode == 0, done.stderr


def test_a_source_only_bundle_compiles_at_import_and_a_broken_source_fails(tmp_path: Path) -> None:
    # The control for the test above: without bytecode the same edit breaks the import.
    source_only = packaging.stage_bundle(SHOP_OPTIONS.code, bytecode=False)
    handler = source_only / "squall" / "handler.py"
    handler.write_text(handler.read_text() + READ_MARK)

    done = import_from(source_only, "import squall.handler")

    assert not packaging.has_bytecode(source_only)
    assert done.returncode != 0
    assert "the source was read" in done.stderr


def test_the_interpreter_of_the_functions_version_is_this_one_when_it_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bytecode.INTERPRETER_VARIABLE, raising=False)

    assert bytecode.interpreter(HERE) == sys.executable


def test_no_interpreter_of_another_version_means_no_bytecode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(bytecode.INTERPRETER_VARIABLE, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing named python9.99 here

    assert bytecode.interpreter("9.99") is None


def test_a_named_interpreter_of_the_wrong_version_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bytecode.INTERPRETER_VARIABLE, sys.executable)

    with pytest.raises(ConfigurationError) as caught:
        bytecode.interpreter("9.99")

    message = str(caught.value)
    assert "\n" not in message
    assert bytecode.INTERPRETER_VARIABLE in message
    assert "not a Python 9.99 interpreter" in message


def test_a_named_interpreter_of_the_right_version_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(bytecode.INTERPRETER_VARIABLE, sys.executable)

    assert bytecode.interpreter(HERE) == sys.executable
