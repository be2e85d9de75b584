"""Stage the functions' code bundle without Docker: a plain directory CDK zips as a Lambda asset.

The bundle holds the installed ``squall`` package, whose :mod:`squall.functions` are the Lambda entry points
(``squall.functions.worker.handler``, ``squall.functions.reconciler.handler``), and the user's code: a package
directory or a module under its own name, a source root's contents at the bundle's root, so ``SQUALL_APP``
imports on Lambda as it does where the app was synthesized. The worker and the reconciler share this one bundle
(one asset), as both import the app named by ``SQUALL_APP``.

A user's third-party dependencies (``squall:requirements``) are pip-installed for the functions' platform,
not the synth's: wheels only, for the runtime's CPython and the functions' architecture on manylinux, into
a directory of their own that is then copied into the bundle (:func:`install_requirements`). The synth's
interpreter runs pip in a subprocess and never imports from that directory, so what the bundle holds never
shadows the synth's own packages. boto3 comes from the Lambda runtime and Powertools from its public layer:
both are left out unless the requirements pin them on purpose (:data:`PROVIDED`).

Of the ``squall`` package, only what the two functions run is shipped (:data:`NOT_RUN` lists the rest);
tests/infra/test_cdk_bundle.py runs both functions from a staged bundle alone, so leaving out a module they
import fails there.
"""

from __future__ import annotations

import atexit
import csv
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

import squall
from squall.cdk import bytecode as bytecode_module
from squall.cdk.options import is_source_root
from squall.deploy.context import CODE, REQUIREMENTS
from squall.errors import ConfigurationError

#: The Lambda handler strings of the worker and the reconciler (squall.functions), for the staged bundle.
HANDLER = "squall.functions.worker.handler"
RECONCILER_HANDLER = "squall.functions.reconciler.handler"
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
#: Never shipped from a source root (a project directory, ``code="."``): environments, build output, VCS
#: data and the CDK's own files, which a project directory usually holds next to its code.
PROJECT_DEBRIS = (
    ".git",
    ".venv",
    "venv",
    ".env",
    "node_modules",
    "cdk.out",
    "cdk.json",
    "cdk.context.json",
    "build",
    "dist",
    "*.dist-info",
    ".tox",
    ".nox",
    ".idea",
    ".vscode",
)
#: Parts of the ``squall`` package no function (worker, reconciler, REST API) imports, left out of the bundle
#: (paths relative to the package): the CLI and the operations behind it (``ops``: listing, the DLQ, queue
#: depths), the dashboard, the local runtime, the cost model (its workflow, HTTP-target, API and offload parts,
#: its item sizes) and its price list, the CDK constructs (``cdk``: they run at synth), the test helpers, and the
#: type checkers' marker.
NOT_RUN = (
    "cli",
    "local",
    "ui",
    "ops/dlq.py",  # ops/revoking.py ships: app.revoke runs it, and a task may revoke another
    "ops/listing.py",
    "ops/queues.py",
    "cdk",
    "deploy/cost.py",
    "deploy/workflow_cost.py",
    "deploy/http_cost.py",
    "deploy/api_cost.py",
    "deploy/offload_cost.py",
    "deploy/item_sizes.py",
    "deploy/prices.json",
    "testing.py",
    "py.typed",
)


def squall_package_dir() -> Path:
    """The directory of the installed ``squall`` package (an editable install points at ``sdk/``)."""
    return Path(squall.__file__).resolve().parent


def stage_bundle(
    code: Iterable[Path],
    *,
    requirements: Path | None = None,
    not_run: Collection[str] = NOT_RUN,
    exclude: Iterable[Path] = (),
    bytecode: bool | str = True,
) -> Path:
    """Copy squall (less ``not_run``), ``code`` and the ``requirements`` installed for Lambda
    (:func:`install_requirements`) into a fresh directory and return it.

    A package directory or a module in ``code`` goes in under its own name; a source root (a directory without
    ``__init__.py``) has its entries copied to the bundle's root, less :data:`PROJECT_DEBRIS`, cloud assemblies and
    the ``exclude`` paths (the synth's output directory). Two entries of one
    name are refused, as is a dependency that would shadow shipped code.

    ``bytecode``: compile the bundle for the functions' Python (:mod:`squall.cdk.bytecode`) with the interpreter
    it finds (True), with this one (a path: the caller vouches for its version), or not at all (False).

    The directory lives until the process exits: CDK copies it into the cloud assembly while the
    stack is constructed, and the asset hash depends only on the content, so synths are repeatable.
    """
    staging = Path(tempfile.mkdtemp(prefix="squall-bundle-"))
    atexit.register(shutil.rmtree, staging, True)
    package = squall_package_dir()
    excluded = {path.resolve() for path in exclude}
    sources = [package, *(entry for path in code for entry in _entries(path.resolve(), excluded))]
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
    if requirements is not None:
        dependencies = install_requirements(requirements)
        # Compared as modules: an installed package ``x/`` would hide a code path ``x.py`` from ``import x``.
        shipped = {Path(name).stem for name in names}
        shadowed = sorted(path.stem for path in dependencies.iterdir() if path.stem in shipped)
        if shadowed:
            raise ConfigurationError(
                f"{REQUIREMENTS}: {requirements} installs {', '.join(shadowed)}, which the bundle already ships as "
                "code; rename your code or drop the requirement"
            )
        # Copied as pip wrote it: *.dist-info included, which importlib.metadata reads at run time.
        shutil.copytree(dependencies, staging, dirs_exist_ok=True)
    python = bytecode_module.interpreter(PYTHON_VERSION) if bytecode is True else (bytecode or None)
    if python is not None:
        bytecode_module.compile_bundle(staging, python)
    return staging


def has_bytecode(bundle: Path) -> bool:
    """Whether a staged bundle ships compiled modules."""
    return next(bundle.glob("squall/__pycache__/*.pyc"), None) is not None


def _entries(path: Path, excluded: Collection[Path]) -> list[Path]:
    """What one code path puts at the bundle's root: itself, or a source root's entries less debris.

    Debris includes any cloud assembly (``cdk synth --output DIR`` writes one wherever asked) and the paths in
    ``excluded``: shipping the synth's own output would grow the bundle with every synth, and change its hash.
    """
    if not is_source_root(path):
        return [path]
    skipped = shutil.ignore_patterns(*EXCLUDED, *PROJECT_DEBRIS)(str(path), [p.name for p in path.iterdir()])
    return sorted(
        p for p in path.iterdir() if p.name not in skipped and p.resolve() not in excluded and not _is_cloud_assembly(p)
    )


def _is_cloud_assembly(path: Path) -> bool:
    """Whether ``path`` is a CDK cloud assembly directory (its manifest and its ``cdk.out`` version file)."""
    return path.is_dir() and (path / "manifest.json").is_file() and (path / "cdk.out").is_file()


def _ignore(root: Path, omitted: Collection[str]) -> Callable[[str, list[str]], set[str]]:
    """A ``copytree`` filter: debris (:data:`EXCLUDED`) anywhere, and the ``omitted`` paths under ``root``."""
    debris = shutil.ignore_patterns(*EXCLUDED)

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory).relative_to(root)
        return set(debris(directory, names)) | {name for name in names if (here / name).as_posix() in omitted}

    return ignore


#: The functions' Python: the newest that aws-cdk-lib 2.275 and the Powertools layer both offer, as pip's
#: ``--python-version`` takes it. squall.cdk.constructs.function builds the Lambda runtime from it; kept here, in plain
#: text, so that staging a bundle never imports the CDK.
PYTHON_VERSION = "3.14"
#: The functions' architecture: Graviton, cheaper per GB-s than x86_64 (squall/deploy/prices.json); the bundle's
#: wheels and the Powertools layer are chosen for it.
ARCHITECTURE = "arm64"
#: The machine name manylinux wheels carry for each Lambda architecture.
MACHINES = {"arm64": "aarch64", "x86_64": "x86_64"}
#: The glibc of the functions' OS: the python3.12 and later runtimes run on Amazon Linux 2023, whose glibc is 2.34
#: (Lambda developer guide, "Lambda runtimes"; Amazon Linux 2023 release notes), so every manylinux wheel up to
#: ``manylinux_2_34`` loads there. An AWS figure kept here rather than in squall.limits: only this module uses it.
LAMBDA_GLIBC = (2, 34)
#: ``manylinux2014`` is glibc 2.17 (PEP 599), the oldest level named in the PEP 600 form.
MANYLINUX2014_GLIBC_MINOR = 17
#: Distributions the Lambda runtime (the AWS SDK) and the Powertools layer already provide, by group. A group is
#: left out of the bundle, even when another requirement depends on it, unless the requirements file pins one of
#: its members with ``==`` (or ``===``) on a line of its own: then the whole group ships, so a pinned boto3 never
#: runs on the runtime's botocore, and the bundle's copy shadows the runtime's (``/var/task`` is first on the path).
PROVIDED = (frozenset({"boto3", "botocore", "s3transfer"}), frozenset({"aws-lambda-powertools"}))
#: Never installed from the requirements: the bundle ships the synth's own squall, less :data:`NOT_RUN`.
SHIPPED_BY_SYNTH = "squall"
#: A requirement line pinning a distribution: ``name[extras] == version`` (the name in group 1).
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*===?\s*[^\s;#]")
#: What pip says when no distribution of a requirement suits the platform, and which versions it saw.
_NO_MATCH = re.compile(r"No matching distribution found for (\S+)")
_SEEN = re.compile(r"\(from versions: ([^)]*)\)")

#: Requirements already installed in this process, by :func:`_cache_key`: repeated synths reuse them.
_installed: dict[str, Path] = {}


def platform_tags(architecture: str = ARCHITECTURE) -> tuple[str, ...]:
    """pip ``--platform`` values for a Lambda architecture: every manylinux level its glibc loads, newest first.

    pip does not widen a PEP 600 tag (``manylinux_2_34``) to the older levels, so each is named; it does widen
    ``manylinux2014_x86_64`` to ``manylinux2010`` and ``manylinux1``.
    """
    try:
        machine = MACHINES[architecture]
    except KeyError:
        raise ValueError(
            f"no manylinux machine for Lambda architecture {architecture!r}; use one of {sorted(MACHINES)}"
        ) from None
    major, newest = LAMBDA_GLIBC
    levels = range(newest, MANYLINUX2014_GLIBC_MINOR - 1, -1)
    return (*(f"manylinux_{major}_{minor}_{machine}" for minor in levels), f"manylinux2014_{machine}")


def pinned(requirements_text: str) -> frozenset[str]:
    """The normalized names a requirements file pins with ``==`` or ``===`` on its own lines."""
    found = (_PIN.match(line) for line in requirements_text.splitlines())
    return frozenset(_normalized(match.group(1)) for match in found if match)


def install_requirements(requirements: Path) -> Path:
    """pip-install ``requirements`` for the functions' platform into a directory of their own, and return it.

    pip resolves the whole file for the target (``--platform``, ``--implementation cp``, ``--python-version``,
    wheels only), not the synth's machine: a dependency's dependencies are chosen by their wheels for Lambda, and
    environment markers are evaluated for Lambda's Python. ``--no-deps`` would skip that and ship an incomplete
    set. Then :data:`PROVIDED` groups not pinned on purpose, and squall itself, are removed. The result is
    cached for the process by the file's content, the platform and the Python version.
    """
    text = requirements.read_text(encoding="utf-8")
    platforms = platform_tags()
    key = _cache_key(text, platforms)
    if key in _installed:
        return _installed[key]
    target = Path(tempfile.mkdtemp(prefix=f"squall-deps-{key[:12]}-"))
    atexit.register(shutil.rmtree, target, True)
    command = [
        *(sys.executable, "-m", "pip", "install", "--target", str(target), "--requirement", str(requirements)),
        *(f"--platform={platform}" for platform in platforms),
        *("--implementation", "cp", "--python-version", PYTHON_VERSION, "--only-binary=:all:"),
        # Bytecode compiled by the synth's interpreter is for its own Python version, useless on Lambda's.
        *("--no-compile", "--no-input", "--disable-pip-version-check"),
    ]
    # The synth's own interpreter running pip, with arguments built here; the file is the deployer's own.
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=requirements.parent)  # noqa: S603
    if done.returncode != 0:
        raise ConfigurationError(_pip_failure(requirements, f"{done.stdout}\n{done.stderr}"))
    keep = pinned(text)
    for dist_info in sorted(target.glob("*.dist-info")):
        name = _normalized(dist_info.name.removesuffix(".dist-info").rpartition("-")[0])
        group = next((group for group in PROVIDED if name in group), frozenset())
        if name == SHIPPED_BY_SYNTH or (group and not group & keep):
            _remove_distribution(target, dist_info)
    # Console scripts: nothing on Lambda runs them, and their shebangs name the synth's interpreter.
    if (target / "bin").is_dir():
        shutil.rmtree(target / "bin")
    _installed[key] = target
    return target


def _cache_key(text: str, platforms: Iterable[str]) -> str:
    material = "\0".join([text, PYTHON_VERSION, *platforms])
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def _normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Aws_Lambda.Powertools`` -> ``aws-lambda-powertools``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _pip_failure(requirements: Path, output: str) -> str:
    """One line saying what pip could not install and what to do."""
    if (match := _NO_MATCH.search(output)) is not None:
        seen = _SEEN.search(output)
        platform = f"CPython {PYTHON_VERSION} on manylinux {MACHINES[ARCHITECTURE]} (Lambda {ARCHITECTURE})"
        return (
            f"{REQUIREMENTS}: no wheel of {match.group(1)} for {platform} (versions with one: "
            f"{seen.group(1) if seen else 'none'}); pin a version that publishes such a wheel, or vendor the "
            f"package as a {CODE} path"
        )
    errors = [line.strip() for line in output.splitlines() if line.strip().startswith("ERROR:")]
    reason = errors[-1] if errors else (output.strip().splitlines() or ["no output"])[-1]
    return f"{REQUIREMENTS}: pip could not install {requirements} for Lambda ({reason}); fix the file and synth again"


def _remove_distribution(target: Path, dist_info: Path) -> None:
    """Delete one installed distribution from ``target``: the files its RECORD lists, then its emptied folders."""
    with (dist_info / "RECORD").open(encoding="utf-8", newline="") as record:
        files = [target / row[0] for row in csv.reader(record) if row]
    folders: set[Path] = set()
    for path in files:
        # RECORD may name scripts outside the target (``../../bin/x``): only what lies inside is ours to delete.
        if path.resolve().is_relative_to(target.resolve()) and path.is_file():
            path.unlink()
            folders.update(parent for parent in path.parents if parent.is_relative_to(target) and parent != target)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    if dist_info.is_dir():
        shutil.rmtree(dist_info)
