"""Tiny wheels written on the spot, and a requirements file that installs them from a local directory only.

The infra tests install these instead of real distributions (tests/infra/test_cdk_dependencies.py,
tests/infra/test_wheel_deploy.py): no package index is reached, and each wheel holds only what a test looks for.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path


def write_wheel(
    directory: Path,
    name: str,
    version: str,
    files: Mapping[str, str],
    *,
    tag: str = "py3-none-any",
    requires: Sequence[str] = (),
) -> Path:
    """A wheel of ``files`` (path -> text) with its METADATA, WHEEL and RECORD, as pip expects one."""
    dist_info = f"{name}-{version}.dist-info"
    contents = {
        **files,
        f"{dist_info}/METADATA": "".join(
            [f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n", *(f"Requires-Dist: {r}\n" for r in requires)]
        ),
        f"{dist_info}/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: squall-tests\nRoot-Is-Purelib: {str(tag.endswith('any')).lower()}\n"
            f"Tag: {tag}\n"
        ),
    }
    rows = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        rows.append(f"{path},sha256={digest},{len(text.encode())}\n")
    wheel = directory / f"{name}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in contents.items():
            archive.writestr(path, text)
        archive.writestr(f"{dist_info}/RECORD", "".join([*rows, f"{dist_info}/RECORD,,\n"]))
    return wheel


def requirements_file(directory: Path, wheelhouse: Path, *lines: str) -> Path:
    """A requirements file that installs ``lines`` from ``wheelhouse`` only."""
    path = directory / "requirements.txt"
    path.write_text("\n".join(["--no-index", f"--find-links {wheelhouse}", *lines, ""]), encoding="utf-8")
    return path


def distributions(bundle: Path) -> set[str]:
    """``name-version`` of every distribution pip left in ``bundle``."""
    return {path.name.removesuffix(".dist-info") for path in bundle.glob("*.dist-info")}
