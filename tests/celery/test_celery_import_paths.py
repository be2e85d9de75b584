"""squall.celery keeps its import paths: a name that moved to a module of its own is still read from the old one."""

from __future__ import annotations

import importlib

import pytest

#: (the module a name was read from, the name, the module that owns it now).
MOVED = [
    ("squall.celery.app", "shared_task", "squall.celery.shared"),
    ("squall.celery.app", "gen_task_name", "squall.celery.shared"),
    ("squall.celery.app", "_SHARED", "squall.celery.shared"),
    ("squall.celery.task", "squall_body", "squall.celery.trace"),
    ("squall.celery.task", "exponential_backoff", "squall.celery.trace"),
    ("squall.celery.task", "Rejected", "squall.celery.trace"),
    ("squall.celery.task", "STATE_KEY", "squall.celery.trace"),
    ("squall.celery.schedules", "Cronspec", "squall.celery.cronfields"),
]

#: What users and tests import from each module (docs/coming-from-celery.md, docs/cli.md, tests/).
PUBLIC = {
    "squall.celery": ["Celery", "Task", "shared_task", "signature", "AsyncResult", "GroupResult", "chain", "states"],
    "squall.celery.app": ["Celery", "shared_task", "squall_app_name", "gen_task_name"],
    "squall.celery.task": ["Task", "Rejected", "STATE_KEY", "exponential_backoff", "squall_body"],
    "squall.celery.schedules": ["Cronspec", "crontab", "expression_for", "schedule", "schedule_name", "solar"],
}


@pytest.mark.parametrize(("old", "name", "owner"), MOVED)
def test_a_moved_name_is_the_same_object_from_its_old_module(old: str, name: str, owner: str) -> None:
    # Given the module a name was read from before it moved, and the module that owns it now
    before, now = importlib.import_module(old), importlib.import_module(owner)

    # When the name is read from each
    found = getattr(before, name, None)

    # Then both give the one object (the shared-task list too, so that saving and restoring it through the
    # old path still changes what new apps declare)
    assert found is not None
    assert found is getattr(now, name)


@pytest.mark.parametrize("module", sorted(PUBLIC))
def test_every_public_name_is_importable_from_its_module(module: str) -> None:
    # Given a module users import from
    loaded = importlib.import_module(module)

    # When each of its public names is looked up
    missing = [name for name in PUBLIC[module] if not hasattr(loaded, name)]

    # Then none is missing
    assert missing == []


def test_schedules_exports_what_it_exported() -> None:
    # Given the schedules module, whose crontab fields are read by a module of their own
    schedules = importlib.import_module("squall.celery.schedules")

    # When its star-export list is read
    exported = sorted(schedules.__all__)

    # Then it is unchanged, and every name in it resolves
    assert exported == ["Cronspec", "crontab", "expression_for", "schedule", "schedule_name", "solar"]
    assert all(hasattr(schedules, name) for name in exported)
