"""Compile the staged bundle to bytecode for the functions' Python, so a cold start does not compile it.

Lambda's ``/var/task`` is read-only: an interpreter that finds no ``__pycache__`` there compiles every module it
imports from source on each cold start and cannot keep the result. Measured on the worker's bundle
(``python -m bench --only coldstart``), that compiling is most of the time the worker's import spends beyond boto3
and Powertools. Bytecode is specific to a Python minor version, so only an interpreter of the runtime's version
(:data:`squall.cdk.packaging.PYTHON_VERSION`) can write it: ``SQUALL_BYTECODE_PYTHON`` names one, else the synth's
own interpreter when it is that version, else ``python3.X`` on ``PATH``; without one the bundle ships as source
and the stack says so at synth (an info annotation), and it runs as before.

The files are written with ``--invalidation-mode unchecked-hash`` (PEP 552): the interpreter uses them without
comparing the source's modification time, which a zip asset does not keep exactly, and the same source always
gives the same bytes, so the asset hash stays repeatable.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from squall.errors import ConfigurationError

#: Names an interpreter of the functions' Python version to compile the bundle with (a path or a command).
INTERPRETER_VARIABLE = "SQUALL_BYTECODE_PYTHON"


def interpreter(version: str) -> str | None:
    """An interpreter of Python ``version`` ("3.14") to compile with, or None when none is at hand."""
    named = os.environ.get(INTERPRETER_VARIABLE, "").strip()
    if named:
        found = shutil.which(named) or (named if Path(named).is_file() else None)
        if found is None or version_of(found) != version:
            raise ConfigurationError(
                f"{INTERPRETER_VARIABLE}={named!r} is not a Python {version} interpreter; name one (the functions "
                f"run Python {version}) or unset it to ship the bundle without bytecode"
            )
        return found
    if f"{sys.version_info.major}.{sys.version_info.minor}" == version:
        return sys.executable
    on_path = shutil.which(f"python{version}")
    return on_path if on_path is not None and version_of(on_path) == version else None


def version_of(python: str) -> str | None:
    """The ``major.minor`` version of the interpreter ``python``, or None if it does not run."""
    try:
        done = subprocess.run(  # noqa: S603  # an interpreter the deployer named or PATH holds, no shell
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def compile_bundle(bundle: Path, python: str) -> int:
    """Write ``__pycache__`` bytecode next to every module of ``bundle`` with ``python``; the files written.

    A file that does not compile (a dependency's Python 2 test data, say) is left as source: importing it fails
    on Lambda as it would without bytecode, and nothing else changes.
    """
    subprocess.run(  # noqa: S603  # the interpreter found above on the staged directory, no shell
        [python, "-m", "compileall", "-q", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(bundle)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return sum(1 for _ in bundle.rglob("__pycache__/*.pyc"))
