"""Stage the functions' code bundle without Docker: a plain directory CDK zips as a Lambda asset.

The bundle holds the ``squall`` package, the Lambda entry points (``functions/``) and the user's code,
each under its own name at the root, so ``functions.worker.handler``, ``functions.reconciler.handler`` and
``SQUALL_APP`` import as they do in the repository. The worker and the reconciler share this one bundle
(one asset), as both import the app named by ``SQUALL_APP``. boto3 comes from the Lambda runtime and
Powertools from its public layer, so nothing is pip-installed here: a user's third-party dependencies must
be shipped as code paths too.

Of the ``squall`` package, only what the two functions run is shipped (:data:`NOT_RUN` lists the rest);
tests/infra/test_cdk_bundle.py runs both functions from a staged bundle alone, so leaving out a module they
import fails there.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

import squall
from infra.options import REPO_ROOT

#: The entry points' directory (``functions/worker.py`` -> handler ``functions.worker.handler``).
FUNCTIONS_DIR = REPO_ROOT / "functions"
#: The Lambda handler strings of the worker and the reconciler, for the staged bundle.
HANDLER = "functions.worker.handler"
RECONCILER_HANDLER = "functions.reconciler.handler"
#: Never shipped: caches, tests and build debris (glob patterns matched on every path component).
EXCLUDED = (
    "__pycache__",
    "*.pyc",
    "*.pyo",
    "tests",
    "test_*.py",
    "conftest.py",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
    "*.egg-info",
    ".DS_Store",
)
#: Parts of the ``squall`` package neither function imports, left out of the bundle (paths relative to the
#: package): the CLI and the operations behind it (``ops``: listing, the DLQ), the local runtime, the cost
#: model and its price list, the test helpers, and the type checkers' marker.
NOT_RUN = ("cli", "local", "ops", "deploy/cost.py", "deploy/prices.json", "testing.py", "py.typed")


def squall_package_dir() -> Path:
    """The directory of the installed ``squall`` package (an editable install points at ``sdk/``)."""
    return Path(squall.__file__).resolve().parent


def stage_bundle(
    code: Iterable[Path], *, functions_dir: Path = FUNCTIONS_DIR, not_run: Collection[str] = NOT_RUN
) -> Path:
    """Copy squall (less ``not_run``), the entry points and ``code`` into a fresh directory and return it.

    The directory lives until the process exits: CDK copies it into the cloud assembly while the
    stack is constructed, and the asset hash depends only on the content, so synths are repeatable.
    """
    staging = Path(tempfile.mkdtemp(prefix="squall-bundle-"))
    atexit.register(shutil.rmtree, staging, True)
    package = squall_package_dir()
    sources = [package, functions_dir, *code]
    names = [source.name for source in sources]
    clashes = sorted({name for name in names if names.count(name) > 1})
    if clashes:
        raise ValueError(f"worker bundle: two code paths are both named {', '.join(clashes)}; rename one")
    for source in sources:
        target = staging / source.name
        if source.is_dir():
            shutil.copytree(source, target, ignore=_ignore(source, not_run if source == package else ()))
        else:
            shutil.copy2(source, target)
    return staging


def _ignore(root: Path, omitted: Collection[str]) -> Callable[[str, list[str]], set[str]]:
    """A ``copytree`` filter: debris (:data:`EXCLUDED`) anywhere, and the ``omitted`` paths under ``root``."""
    debris = shutil.ignore_patterns(*EXCLUDED)

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory).relative_to(root)
        return set(debris(directory, names)) | {name for name in names if (here / name).as_posix() in omitted}

    return ignore
