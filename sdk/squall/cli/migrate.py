"""``squall migrate``: rewrite a tree's Celery imports to ``squall.celery``, and report what has no counterpart.

:func:`migrate_source` is the whole rewrite, on text: it finds import statements with :mod:`ast` and replaces
only the module path of each (``celery.schedules`` becomes ``squall.celery.schedules``), so comments, layout
and every other byte stay as they were. A statement that imports anything :data:`CELERY_MAP` does not list is
left whole and reported, because half a statement rewritten would import from two places. The command walks
files and directories around it.
"""

from __future__ import annotations

import ast
import difflib
import io
import os
import re
import tokenize
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click

from squall.cli import cli
from squall.cli._support import CliError, Exit


@dataclass(frozen=True)
class Target:
    """Where ``squall.celery`` provides a Celery module's names: the module to import them from, and which."""

    module: str
    names: frozenset[str]


def _names(text: str) -> frozenset[str]:
    return frozenset(text.split())


_CANVAS = "chain group chord signature Signature Chain Group Chord"

#: Celery module -> where squall.celery provides it. A module whose target is its own path under ``squall.`` is
#: mirrored, so ``import celery.exceptions`` maps too; the others (canvas, app.task) map as from-imports only.
CELERY_MAP: dict[str, Target] = {
    "celery": Target("squall.celery", _names(f"Celery shared_task Task {_CANVAS} states current_app current_task")),
    "celery.schedules": Target("squall.celery.schedules", _names("crontab schedule")),
    "celery.exceptions": Target(
        "squall.celery.exceptions",
        _names(
            "AlreadyRegistered CeleryError ChordError Ignore ImproperlyConfigured InvalidTaskError "
            "MaxRetriesExceededError NotRegistered QueueNotFound Reject Retry SoftTimeLimitExceeded TaskError "
            "TaskPredicate TaskRevokedError TimeLimitExceeded TimeoutError WorkerLostError"
        ),
    ),
    "celery.result": Target("squall.celery.result", _names("AsyncResult GroupResult")),
    "celery.utils.log": Target("squall.celery.utils.log", _names("get_task_logger get_logger")),
    "celery.signals": Target(
        "squall.celery.signals",
        _names(
            "Signal after_setup_logger after_setup_task_logger after_task_publish beat_init before_task_publish "
            "celeryd_after_setup celeryd_init import_modules setup_logging task_failure task_postrun task_prerun "
            "task_received task_rejected task_retry task_revoked task_success task_unknown worker_init "
            "worker_process_init worker_process_shutdown worker_ready worker_shutdown"
        ),
    ),
    "celery.states": Target(
        "squall.celery.states",
        _names(
            "PENDING RECEIVED STARTED SUCCESS FAILURE RETRY REVOKED REJECTED IGNORED READY_STATES UNREADY_STATES "
            "EXCEPTION_STATES PROPAGATE_STATES ALL_STATES"
        ),
    ),
    "celery.canvas": Target("squall.celery", _names(_CANVAS)),
    "celery.app.task": Target("squall.celery", _names("Task")),
}

#: Modules that ``import celery.x`` may name: squall.celery has a module at the same path.
MIRRORED = frozenset(module for module, target in CELERY_MAP.items() if target.module == f"squall.{module}")

#: Top-level packages of Celery's family: their imports are rewritten when mapped and reported when not.
CELERY_FAMILY = frozenset({"celery", "kombu", "billiard", "django_celery_beat", "django_celery_results"})

_NO_WORKER = "Lambda runs the tasks, there is no worker or beat to run: see docs/coming-from-celery.md"
_QUEUES = "declare queues in task_queues by name or Celery(..., queues=[...])"
_UNSUPPORTED = "not supported: see docs/coming-from-celery.md"

#: What to do instead, by imported name or module (the longest matching prefix wins).
HINTS: dict[str, str] = {
    **{
        f"{module}.{name}": _UNSUPPORTED
        for module in ("celery", "celery.canvas")
        for name in ("chunks", "starmap", "xmap")
    },
    "kombu.Queue": _QUEUES,
    "kombu.Exchange": _QUEUES,
    "kombu": "queues are SQS queues, with no kombu messaging: see docs/coming-from-celery.md",
    "billiard": _NO_WORKER,
    "celery.bin": _NO_WORKER,
    "celery.worker": _NO_WORKER,
    "celery.apps": _NO_WORKER,
    "celery.beat": "periodic tasks are EventBridge Scheduler schedules: see docs/scheduling.md",
    "celery.contrib.testing": "test with the squall_runtime pytest fixture (squall.testing)",
    "celery.contrib.pytest": "test with the squall_runtime pytest fixture (squall.testing)",
    "django_celery_beat": "schedules kept at run time are app.schedules.create(...): see docs/scheduling.md",
    "django_celery_results": "results are kept in the app's DynamoDB table: read them with app.AsyncResult(id)",
}
_NO_COUNTERPART = "no counterpart: see docs/coming-from-celery.md"

#: Directories never walked into (a name given on the command line is still read).
SKIP_DIRS = frozenset({".venv", "venv", "node_modules", ".git", "__pycache__", "build", "dist", "cdk.out"})

# The keyword that ends a from-import's module path (not a part of a name such as `celery.importer`).
_IMPORT_KEYWORD = re.compile(r"(?<![\w.])import(?!\w)")
_NEWLINE = re.compile(r"\r\n|\r|\n")  # the line ends Python's parser counts, so ast's line numbers match


@dataclass(frozen=True)
class Unmapped:
    """An imported name or module that squall.celery does not provide; its statement was left as it was."""

    line: int
    what: str
    hint: str

    def describe(self, path: object) -> str:
        """The report line: ``path:line: <what> is not provided by squall.celery (<hint>)``."""
        return f"{path}:{self.line}: {self.what} is not provided by squall.celery ({self.hint})"


@dataclass(frozen=True)
class Migration:
    """A source text's rewrite: the new text and what could not be mapped."""

    text: str
    unmapped: list[Unmapped]


@dataclass
class FileOutcome:
    """What migrating one file did (or would do)."""

    path: Path
    before: str = ""
    after: str = ""
    unmapped: list[Unmapped] = field(default_factory=list)
    problem: str | None = None  # why the file was not read as Python, if it was not

    @property
    def changed(self) -> bool:
        """Whether the rewrite differs from the file."""
        return self.problem is None and self.after != self.before


def hint(what: str, module: str | None = None) -> str:
    """What to do instead of importing ``what`` (a dotted name), imported from ``module`` if by a from-import."""
    keys = [key for key in HINTS if what == key or what.startswith(key + ".")]
    if keys:
        return HINTS[max(keys, key=len)]
    target = CELERY_MAP.get(module or what)
    if target is None:
        return _NO_COUNTERPART
    provided = ", ".join(sorted(target.names, key=lambda name: (name.lower(), name)))
    if module is None:  # `import celery.canvas`: no such module, but its names are in another
        return f"import its names instead: {target.module} provides {provided}"
    if what.endswith(".*"):  # squall.celery's `*` is not Celery's: a name missing would fail only when used
        return f"import the names you use: {target.module} provides {provided}"
    return f"{target.module} provides {provided}"


def _from_module(module: str) -> str:
    """The module a from-import of Celery's ``module`` imports from once rewritten."""
    target = CELERY_MAP.get(module)
    return f"squall.{module}" if target is None else target.module


def _provides(module: str, name: str) -> bool:
    """Whether ``from <module> import <name>`` has a counterpart in :func:`_from_module`."""
    target = CELERY_MAP.get(module)
    if target is not None and name in target.names:
        return True
    # `from celery import schedules`: a submodule, there if squall.celery mirrors both paths.
    return f"{module}.{name}" in MIRRORED and _from_module(module) == f"squall.{module}"


def _is_celery(module: str) -> bool:
    return module.partition(".")[0] in CELERY_FAMILY


class _Offsets:
    """Character offsets in a text from ast's (line, UTF-8 byte column) positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.starts = [0] + [match.end() for match in _NEWLINE.finditer(text)]

    def at(self, line: int, byte_column: int) -> int:
        start = self.starts[line - 1]
        # ast counts columns in UTF-8 bytes; a line's text before the column may hold wider characters.
        prefix = self.text[start : start + byte_column].encode()[:byte_column]
        return start + len(prefix.decode(errors="ignore"))

    def span(self, node: ast.stmt | ast.alias) -> tuple[int, int]:
        end_line, end_column = node.end_lineno, node.end_col_offset
        assert end_line is not None  # noqa: S101  # ast.parse gives every node its end
        assert end_column is not None  # noqa: S101
        return self.at(node.lineno, node.col_offset), self.at(end_line, end_column)


Edit = tuple[int, int, str]  # replace text[start:end] with the string


def _from_edits(node: ast.ImportFrom, offsets: _Offsets) -> tuple[list[Edit], list[Unmapped]]:
    module = node.module or ""
    if node.level or not _is_celery(module):
        return [], []  # a relative import is the project's own module, never Celery's
    unmapped = [
        Unmapped(node.lineno, f"{module}.{alias.name}", hint(f"{module}.{alias.name}", module))
        for alias in node.names
        if alias.name == "*" or not _provides(module, alias.name)
    ]
    if unmapped:
        return [], unmapped
    start, end = offsets.span(node)
    statement = offsets.text[start:end]
    keyword = _IMPORT_KEYWORD.search(statement, len("from"))
    assert keyword is not None  # noqa: S101  # a from-import parsed, so its `import` keyword is there
    path = statement[len("from") : keyword.start()]
    first = len("from") + len(path) - len(path.lstrip(" \t\f\\\r\n"))
    last = len("from") + len(path.rstrip(" \t\f\\\r\n"))
    assert re.sub(r"[\s\\]", "", statement[first:last]) == module  # noqa: S101  # the span is the path ast read
    return [(start + first, start + last, _from_module(module))], []


def _import_edits(node: ast.Import, offsets: _Offsets) -> tuple[list[Edit], list[Unmapped]]:
    aliases = [alias for alias in node.names if _is_celery(alias.name)]
    unmapped = [Unmapped(node.lineno, a.name, hint(a.name)) for a in aliases if a.name not in MIRRORED]
    if unmapped or not aliases:
        return [], unmapped
    if len(node.names) == 1 and node.names[0].name == "celery" and node.names[0].asname is None:
        start, end = offsets.span(node)
        return [(start, end, "from squall import celery")], []
    edits: list[Edit] = []
    for alias in aliases:
        start, end = offsets.span(alias)
        new = f"squall.{alias.name}"
        if alias.asname is not None:
            new += f" as {alias.asname}"
        elif alias.name == "celery":
            new += " as celery"
        else:
            # `import celery.exceptions` binds `celery` with the submodule loaded; importing the submodule first
            # sets it as an attribute of squall.celery, so `celery.exceptions.Retry` resolves as before.
            new += ", squall.celery as celery"
        edits.append((start, end, new))
    return edits, []


def migrate_source(text: str) -> Migration:
    """Rewrite ``text``'s Celery imports to squall.celery; raises SyntaxError if it is not valid Python."""
    tree = ast.parse(text)
    offsets = _Offsets(text)
    edits: list[Edit] = []
    unmapped: list[Unmapped] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found, missing = _from_edits(node, offsets)
        elif isinstance(node, ast.Import):
            found, missing = _import_edits(node, offsets)
        else:
            continue
        edits += found
        unmapped += missing
    for start, end, new in sorted(edits, reverse=True):  # from the end, so earlier offsets stay valid
        text = text[:start] + new + text[end:]
    return Migration(text, sorted(unmapped, key=lambda u: u.line))


def python_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and the ``*.py`` files under the directories named (not under :data:`SKIP_DIRS`)."""
    found: dict[Path, None] = {}
    for path in paths:
        if not path.is_dir():
            found[path] = None
            continue
        for root, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
            found.update((Path(root, name), None) for name in sorted(files) if name.endswith(".py"))
    return list(found)


def migrate_file(path: Path, *, write: bool) -> FileOutcome:
    """Migrate one file, rewriting it in place if ``write`` and anything changed."""
    data = path.read_bytes()
    outcome = FileOutcome(path)
    try:
        # The encoding the file declares (or UTF-8), so a file is written back as it was read, a BOM included.
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        outcome.before = data.decode(encoding)
        migration = migrate_source(outcome.before)
    except SyntaxError as exc:
        outcome.problem = f"{path}:{exc.lineno or 1}: not valid Python, left as it was ({exc.msg})"
        return outcome
    except (UnicodeDecodeError, LookupError) as exc:
        outcome.problem = f"{path}:1: not readable as Python source, left as it was ({exc})"
        return outcome
    outcome.after, outcome.unmapped = migration.text, migration.unmapped
    if write and outcome.changed:
        path.write_bytes(outcome.after.encode(encoding))
    return outcome


def unified_diff(outcome: FileOutcome) -> str:
    """The change to one file as a unified diff; a relative path is prefixed ``a/`` and ``b/``, as git writes it."""
    path = str(outcome.path)
    old, new = (path, path) if outcome.path.is_absolute() else (f"a/{path}", f"b/{path}")
    lines = difflib.unified_diff(
        outcome.before.splitlines(keepends=True), outcome.after.splitlines(keepends=True), fromfile=old, tofile=new
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def summary(outcomes: Sequence[FileOutcome], *, dry: bool) -> str:
    """The last line: files changed, names not mapped, files not read."""
    changed = sum(o.changed for o in outcomes)
    unmapped = sum(len(o.unmapped) for o in outcomes)
    problems = sum(o.problem is not None for o in outcomes)
    verb = "would be rewritten" if dry else "rewritten"
    return (
        f"{changed} of {len(outcomes)} file(s) {verb}; {unmapped} import(s) not provided by squall.celery; "
        f"{problems} file(s) not valid Python"
    )


@cli.command(short_help="Rewrite Celery imports to squall.celery.")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path), metavar="PATH...")
@click.option("--check", is_flag=True, help="Change nothing; exit 1 if any file would change.")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff on stdout instead of rewriting.")
def migrate(paths: tuple[Path, ...], check: bool, show_diff: bool) -> None:
    """Rewrite the Celery imports in PATH... (files, or directories walked for *.py) to squall.celery.

    Imports squall.celery does not provide are left as they were and listed with what to do instead.
    Needs no app. Exit 1 if anything was left (or, with --check, would change).
    """
    dry = check or show_diff
    outcomes: list[FileOutcome] = []
    for path in python_files(paths):
        try:
            outcomes.append(migrate_file(path, write=not dry))
        except OSError as exc:
            raise CliError(f"cannot {'read' if dry else 'rewrite'} {path}: {exc.strerror or exc}") from exc
    # With --diff stdout is the diff alone (for `git apply`), so the per-file lines go to stderr.
    for outcome in outcomes:
        if outcome.changed:
            if show_diff:
                click.echo(unified_diff(outcome), nl=False)
            click.echo(f"{'would rewrite' if dry else 'rewrote'} {outcome.path}", err=show_diff)
    for outcome in outcomes:
        for line in [outcome.problem] if outcome.problem else [u.describe(outcome.path) for u in outcome.unmapped]:
            click.echo(line, err=show_diff)
    click.echo(summary(outcomes, dry=dry), err=True)
    left = any(o.unmapped or o.problem for o in outcomes)
    if left or (check and any(o.changed for o in outcomes)):
        raise Exit("", 1)
