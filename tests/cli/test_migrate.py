"""``squall migrate``: Celery imports rewritten to squall.celery byte for byte, and what has no counterpart reported."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from squall.cli.migrate import CELERY_MAP, MIRRORED, migrate_source

Squall_ = Callable[..., Result]

FLASK_APP = '''\
"""The web app, and the Celery that runs its background work."""
from flask import Flask
from celery import Celery  # the task queue


def make_celery(app: Flask) -> Celery:
    celery = Celery(app.import_name)  # not an import: left alone
    celery.conf.update(app.config)
    return celery
'''

TASKS = """\
import logging

from celery import shared_task
from celery.exceptions import MaxRetriesExceededError
from celery.utils.log import get_task_logger

logger = get_task_logger(__name__)


@shared_task(bind=True, max_retries=3)
def charge(self, order_id):
    try:
        raise self.retry(countdown=5)
    except MaxRetriesExceededError:
        logger.error("gave up on %s", order_id)
"""

CELERY_PY = """\
import os

import celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proj.settings")
app = celery.Celery("proj")
app.conf.beat_schedule = {"nightly": {"task": "proj.tasks.report", "schedule": crontab(hour=2, minute=0)}}
"""

CANVAS = """\
from celery import (
    chain,  # steps in order
    group,
    chord as fan_in,
)
from celery import group, chunks

flow = chain(group(), fan_in([], None))
"""

QUEUES = """\
from kombu import Exchange, Queue

task_queues = [Queue("reports", Exchange("reports"))]
"""

BROKEN = """\
from celery import Celery

def broken(:
    pass
"""

PROJECT = {
    "web/app.py": FLASK_APP,
    "proj/tasks.py": TASKS,
    "proj/celery.py": CELERY_PY,
    "proj/canvas.py": CANVAS,
    "proj/queues.py": QUEUES,
    "proj/broken.py": BROKEN,
    "proj/README.md": "from celery import Celery\n",  # not Python: never read
    ".venv/lib/vendored.py": "from celery import Celery\n",
    "build/lib/proj/tasks.py": "from celery import shared_task\n",
}

REPORT = [
    "proj/broken.py:3: not valid Python, left as it was (invalid syntax)",
    "proj/canvas.py:6: celery.chunks is not provided by squall.celery (not supported: see docs/coming-from-celery.md)",
    "proj/queues.py:1: kombu.Exchange is not provided by squall.celery "
    "(declare queues in task_queues by name or Celery(..., queues=[...]))",
    "proj/queues.py:1: kombu.Queue is not provided by squall.celery "
    "(declare queues in task_queues by name or Celery(..., queues=[...]))",
]


def write_tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(text.encode())


def read_tree(root: Path, files: dict[str, str]) -> dict[str, str]:
    return {name: (root / name).read_bytes().decode() for name in files}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Celery project in the working directory (so paths print relative, as a user would see them)."""
    write_tree(tmp_path, PROJECT)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_flask_apps_import_is_rewritten_and_every_other_byte_kept() -> None:
    assert migrate_source(FLASK_APP).text == FLASK_APP.replace(
        "from celery import Celery  # the task queue", "from squall.celery import Celery  # the task queue"
    )


def test_a_tasks_modules_imports_from_three_celery_modules_are_rewritten() -> None:
    migration = migrate_source(TASKS)

    assert migration.text.splitlines()[2:5] == [
        "from squall.celery import shared_task",
        "from squall.celery.exceptions import MaxRetriesExceededError",
        "from squall.celery.utils.log import get_task_logger",
    ]
    assert migration.text.splitlines()[:2] + migration.text.splitlines()[5:] == (
        TASKS.splitlines()[:2] + TASKS.splitlines()[5:]
    )
    assert migration.unmapped == []


def test_import_celery_binds_the_same_name_from_squall() -> None:
    assert migrate_source(CELERY_PY).text == (
        CELERY_PY.replace("import celery\n", "from squall import celery\n").replace(
            "from celery.schedules", "from squall.celery.schedules"
        )
    )


def test_a_parenthesised_import_keeps_its_comments_and_aliases_and_one_with_an_unmapped_name_is_left() -> None:
    migration = migrate_source(CANVAS)

    assert migration.text == CANVAS.replace("from celery import (", "from squall.celery import (", 1)
    assert [(u.line, u.what) for u in migration.unmapped] == [(6, "celery.chunks")]


@pytest.mark.parametrize(
    ("source", "rewritten"),
    [
        ("import celery as c\n", "import squall.celery as c\n"),
        ("import celery.exceptions\n", "import squall.celery.exceptions, squall.celery as celery\n"),
        ("import celery.schedules as s  # beat\n", "import squall.celery.schedules as s  # beat\n"),
        ("import os, celery  # two\n", "import os, squall.celery as celery  # two\n"),
        ("if TYPE_CHECKING: import celery\n", "if TYPE_CHECKING: from squall import celery\n"),
        ("from celery.canvas import chain, Signature\n", "from squall.celery import chain, Signature\n"),
        ("from celery.app.task import Task as Base\n", "from squall.celery import Task as Base\n"),
        ("from celery import schedules, states\n", "from squall.celery import schedules, states\n"),
        ("from celery.utils import log\n", "from squall.celery.utils import log\n"),
        ("from celery.states import READY_STATES\n", "from squall.celery.states import READY_STATES\n"),
        ("from celery . schedules \\\n    import crontab\n", "from squall.celery.schedules \\\n    import crontab\n"),
        ('s = "café"; from celery import group\n', 's = "café"; from squall.celery import group\n'),
        ("x = 1\r\nfrom celery import group\r\ny = 2\r\n", "x = 1\r\nfrom squall.celery import group\r\ny = 2\r\n"),
        (
            "def f():\n    from celery.result import AsyncResult\n",
            "def f():\n    from squall.celery.result import AsyncResult\n",
        ),
        (
            "from .celery import app\nfrom celery_extras import x\n",
            "from .celery import app\nfrom celery_extras import x\n",
        ),
    ],
)
def test_each_form_of_import_is_rewritten_to_an_equivalent(source: str, rewritten: str) -> None:
    migration = migrate_source(source)

    assert migration.text == rewritten
    assert migration.unmapped == []


def test_rewritten_imports_resolve_the_names_and_attribute_paths_the_code_uses(tmp_path: Path) -> None:
    # Given stand-in squall.celery modules that import none of their submodules, and Celery-style code
    stand_in = {
        "squall/__init__.py": "",
        "squall/celery/__init__.py": "class Celery:\n    pass\n",
        "squall/celery/exceptions.py": "class Retry(Exception):\n    pass\n",
        "squall/celery/schedules.py": "def crontab(**fields):\n    return fields\n",
        "squall/celery/result.py": "class AsyncResult:\n    pass\n",
    }
    write_tree(tmp_path, stand_in)
    programs = {
        "plain.py": "import celery\n\nprint(celery.__name__, celery.Celery.__module__)\n",
        "dotted.py": """\
import celery.exceptions
import celery.schedules as schedules
import os, celery.result
from celery.exceptions import Retry

print(celery.__name__, celery.exceptions.Retry is Retry, celery.result.AsyncResult.__module__)
print(schedules.crontab(hour=2), os.sep == os.path.sep)
""",
    }
    for name, program in programs.items():
        (tmp_path / name).write_text(migrate_source(program).text)

    # When each runs, in a fresh namespace, with only the stand-ins to import (no site-packages, no PYTHONPATH)
    run = subprocess.run(  # this interpreter, on files the test wrote
        [sys.executable, "-S", "-E", "-c", "import runpy; runpy.run_path('plain.py'); runpy.run_path('dotted.py')"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    # Then every name and attribute path resolves to squall.celery's modules
    assert run.stderr == ""
    assert run.stdout.splitlines() == [
        "squall.celery squall.celery",
        "squall.celery True squall.celery.result",
        "{'hour': 2} True",
    ]


def test_names_and_modules_squall_celery_does_not_provide_are_reported_and_their_statements_left() -> None:
    source = """\
from celery import Celery, chunks
from celery.signals import heartbeat_sent
from celery import *
import celery.canvas
import celery.contrib.abortable, celery
from celery.contrib.testing.worker import start_worker
from django_celery_beat.models import PeriodicTask
"""
    migration = migrate_source(source)

    assert migration.text == source
    assert [u.describe("m.py") for u in migration.unmapped] == [
        "m.py:1: celery.chunks is not provided by squall.celery (not supported: see docs/coming-from-celery.md)",
        "m.py:2: celery.signals.heartbeat_sent is not provided by squall.celery (squall.celery.signals provides "
        "after_setup_logger, after_setup_task_logger, after_task_publish, beat_init, before_task_publish, "
        "celeryd_after_setup, celeryd_init, import_modules, setup_logging, Signal, task_failure, task_postrun, "
        "task_prerun, task_received, task_rejected, task_retry, task_revoked, task_success, task_unknown, "
        "worker_init, worker_process_init, worker_process_shutdown, worker_ready, worker_shutdown)",
        "m.py:3: celery.* is not provided by squall.celery (import the names you use: squall.celery provides "
        "Celery, Chain, chain, Chord, chord, current_app, current_task, Group, group, shared_task, Signature, "
        "signature, states, Task)",
        "m.py:4: celery.canvas is not provided by squall.celery (import its names instead: squall.celery provides "
        "Chain, chain, Chord, chord, Group, group, Signature, signature)",
        "m.py:5: celery.contrib.abortable is not provided by squall.celery "
        "(no counterpart: see docs/coming-from-celery.md)",
        "m.py:6: celery.contrib.testing.worker.start_worker is not provided by squall.celery "
        "(test with the squall_runtime pytest fixture (squall.testing))",
        "m.py:7: django_celery_beat.models.PeriodicTask is not provided by squall.celery "
        "(schedules kept at run time are app.schedules.create(...): see docs/scheduling.md)",
    ]


def test_a_rewrite_is_idempotent() -> None:
    for source in (FLASK_APP, TASKS, CELERY_PY, CANVAS, "import celery.exceptions, celery as c\n"):
        once = migrate_source(source).text

        assert migrate_source(once).text == once


def test_migrate_rewrites_the_tree_in_place_and_reports_what_it_left(project: Path, squall: Squall_) -> None:
    result = squall("migrate", "proj", "web", app=None)

    assert result.exit_code == 1  # something was left unmapped
    assert result.stdout.splitlines() == [
        "rewrote proj/canvas.py",
        "rewrote proj/celery.py",
        "rewrote proj/tasks.py",
        "rewrote web/app.py",
        *REPORT,
    ]
    assert result.stderr == (
        "4 of 6 file(s) rewritten; 3 import(s) not provided by squall.celery; 1 file(s) not valid Python\n"
    )
    after = read_tree(project, PROJECT)
    assert after["proj/tasks.py"] == migrate_source(TASKS).text
    assert after["web/app.py"] == migrate_source(FLASK_APP).text
    unchanged = [
        "proj/queues.py",
        "proj/broken.py",
        "proj/README.md",
        ".venv/lib/vendored.py",
        "build/lib/proj/tasks.py",
    ]
    assert {name: after[name] for name in unchanged} == {name: PROJECT[name] for name in unchanged}


def test_migrating_a_migrated_tree_changes_nothing(project: Path, squall: Squall_) -> None:
    squall("migrate", ".", app=None)
    before = read_tree(project, PROJECT)

    again = squall("migrate", ".", app=None)

    assert read_tree(project, PROJECT) == before
    assert not [line for line in again.stdout.splitlines() if line.startswith("rewrote")]
    assert again.stdout.splitlines() == REPORT  # what is left is still said
    assert again.stderr.startswith("0 of 6 file(s) rewritten;")


def test_a_tree_that_maps_completely_exits_0(tmp_path: Path, squall: Squall_) -> None:
    write_tree(tmp_path, {"tasks.py": TASKS, "app.py": FLASK_APP})

    first = squall("migrate", str(tmp_path), app=None)
    second = squall("migrate", str(tmp_path / "tasks.py"), str(tmp_path), app=None)

    assert (first.exit_code, second.exit_code) == (0, 0)
    assert first.stdout == f"rewrote {tmp_path / 'app.py'}\nrewrote {tmp_path / 'tasks.py'}\n"
    assert second.stdout == ""
    assert second.stderr == (
        "0 of 2 file(s) rewritten; 0 import(s) not provided by squall.celery; 0 file(s) not valid Python\n"
    )


def test_check_changes_nothing_and_exits_1_when_a_file_would_change(tmp_path: Path, squall: Squall_) -> None:
    write_tree(tmp_path, {"tasks.py": TASKS})

    check = squall("migrate", "--check", str(tmp_path), app=None)
    assert (tmp_path / "tasks.py").read_text() == TASKS
    squall("migrate", str(tmp_path), app=None)
    clean = squall("migrate", "--check", str(tmp_path), app=None)

    assert check.exit_code == 1
    assert check.stdout == f"would rewrite {tmp_path / 'tasks.py'}\n"
    assert check.stderr.startswith("1 of 1 file(s) would be rewritten;")
    assert (clean.exit_code, clean.stdout) == (0, "")


def test_diff_prints_a_unified_diff_on_stdout_and_changes_nothing(project: Path, squall: Squall_) -> None:
    result = squall("migrate", "--diff", "web", app=None)

    assert result.exit_code == 0
    assert (project / "web/app.py").read_text() == FLASK_APP
    assert result.stdout == (
        "--- a/web/app.py\n"
        "+++ b/web/app.py\n"
        "@@ -1,6 +1,6 @@\n"
        ' """The web app, and the Celery that runs its background work."""\n'
        " from flask import Flask\n"
        "-from celery import Celery  # the task queue\n"
        "+from squall.celery import Celery  # the task queue\n"
        " \n"
        " \n"
        " def make_celery(app: Flask) -> Celery:\n"
    )
    assert result.stderr.splitlines()[0] == "would rewrite web/app.py"  # stdout stays a patch


def test_diff_with_check_exits_1_and_reports_on_stderr(project: Path, squall: Squall_) -> None:
    result = squall("migrate", "--diff", "--check", "proj/queues.py", "proj/celery.py", app=None)

    assert result.exit_code == 1
    assert result.stdout.startswith("--- a/proj/celery.py\n")
    assert result.stderr.splitlines()[:3] == ["would rewrite proj/celery.py", REPORT[2], REPORT[3]]
    assert (project / "proj/celery.py").read_text() == CELERY_PY


def test_a_file_in_a_declared_encoding_is_written_back_in_it(tmp_path: Path, squall: Squall_) -> None:
    source = "# -*- coding: latin-1 -*-\nfrom celery import shared_task  # für später\n"
    (tmp_path / "legacy.py").write_bytes(source.encode("latin-1"))

    result = squall("migrate", str(tmp_path / "legacy.py"), app=None)

    assert result.exit_code == 0
    assert (tmp_path / "legacy.py").read_bytes() == source.replace("from celery", "from squall.celery").encode(
        "latin-1"
    )


@pytest.mark.parametrize("args", [[], ["no/such/dir"]])
def test_no_path_or_a_missing_one_is_a_usage_error(tmp_path: Path, squall: Squall_, args: list[str]) -> None:
    result = squall("migrate", *args, app=None)

    assert result.exit_code == 2
    assert "PATH" in result.stderr


def test_migrate_has_help_and_needs_no_app(squall: Squall_) -> None:
    result = squall("migrate", "--help", app=None)

    assert result.exit_code == 0
    assert "--check" in result.stdout
    assert "--diff" in result.stdout


def test_every_name_in_the_map_is_provided_by_squall_celery() -> None:
    missing = []
    for celery_module, target in CELERY_MAP.items():
        module = importlib.import_module(target.module)
        missing += [f"{celery_module}.{name} -> {target.module}" for name in target.names if not hasattr(module, name)]
    for celery_module in MIRRORED:
        importlib.import_module(f"squall.{celery_module}")  # `import celery.x` becomes `import squall.celery.x`

    assert missing == []
