"""Importing the ``--app`` module: a failure in the user's own code shows the user's frames, then one line."""

from __future__ import annotations

import importlib
import os
import sysconfig
import traceback
from pathlib import Path
from typing import IO, Any

import click

import squall

#: Where frames that are not the user's come from: the import machinery, click, squall, the standard library and
#: installed packages. The user's own modules (the app's, and what it imports from their project) are elsewhere.
_NOT_THEIRS = (
    *(str(Path(module.__file__ or "").parent) + os.sep for module in (importlib, click, squall)),
    *{str(Path(sysconfig.get_path(name))) + os.sep for name in ("stdlib", "platstdlib", "purelib", "platlib")},
)


class AppImportError(click.ClickException):
    """The app's module raised while being imported: the traceback through the user's own files, then one line."""

    def __init__(self, spec: str, exc: BaseException) -> None:
        self.spec = spec
        self.error = exc
        self.report = traceback.TracebackException.from_exception(exc, compact=True)
        _keep_theirs(self.report)
        super().__init__(self._line())

    def _line(self) -> str:
        frames = self.report.stack
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        problem = "".join(self.report.format_exception_only()).strip().splitlines()[-1]
        return f"cannot import the app {self.spec!r}: its module raised{where}: {problem}"

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo("".join(self.report.format()).rstrip(), err=True, file=file)
        click.echo(f"error: {self.format_message()}", err=True, file=file)


def _theirs(filename: str) -> bool:
    return not filename.startswith("<") and not filename.startswith(_NOT_THEIRS)


def _keep_theirs(report: traceback.TracebackException | None) -> None:
    """Drop every frame but the user's, in ``report`` and the exceptions chained to it."""
    seen: set[int] = set()
    while report is not None and id(report) not in seen:
        seen.add(id(report))
        report.stack = traceback.StackSummary.from_list([f for f in report.stack if _theirs(f.filename)])
        if report.__cause__ is not None:
            _keep_theirs(report.__cause__)
        report = report.__context__


def import_app_module(spec: str) -> None:
    """Import the module ``spec`` names; a usage error if it is not there, :class:`AppImportError` if it raises."""
    module_name = spec.partition(":")[0]
    try:
        importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        parts = module_name.split(".")
        if exc.name in {".".join(parts[: i + 1]) for i in range(len(parts))}:
            raise click.UsageError(f"cannot import {spec!r}: {exc}") from exc
        raise AppImportError(spec, exc) from exc  # the module is there; something it imports is not
    except Exception as exc:
        raise AppImportError(spec, exc) from exc
