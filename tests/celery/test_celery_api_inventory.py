"""The Celery APIs the three code bases use are each named in docs/coming-from-celery.md's coverage table, and the
counts its measured paragraph gives are the inventory's (tests/celery/api_inventory.py)."""

from __future__ import annotations

import re
from collections import Counter

from tests.celery.api_inventory import DOC, coverage_marks, inventory, mark_of

from squall.celery import conf


def test_every_api_the_code_bases_use_is_named_in_the_coverage_table() -> None:
    marks = coverage_marks()

    missing = sorted(api for api in inventory() if mark_of(api, marks) is None)

    assert missing == []


def test_the_measured_paragraph_gives_the_inventorys_counts() -> None:
    found, marks = inventory(), coverage_marks()
    counts = Counter(mark_of(api, marks) for api in found)

    stated = re.search(r"\*\*(\d+) distinct APIs, (\d+) ✔ and (\d+) ≈, none ✘\*\*", DOC.read_text())

    assert stated is not None
    assert tuple(map(int, stated.groups())) == (len(found), counts["✔"], counts["≈"])
    assert counts["✘"] == 0


def test_the_inventory_finds_what_the_code_bases_are_known_to_use() -> None:
    found = inventory()

    assert found["celery.exceptions.MaxRetriesExceededError"] == {"webhooks"}
    assert found["update_state(meta=)"] == {"flask_progress"}
    assert found["beat entry options.expires"] == {"analytics"}
    assert found["setting task_default_queue"] == {"analytics"}
    assert {"shared_task(autoretry_for=)", "task(retry_kwargs=)", "retry(countdown=)"} <= set(found)


def test_every_setting_the_face_reads_or_accepts_without_effect_is_listed_in_the_doc() -> None:
    text = DOC.read_text()

    unlisted = sorted(name for name in (*conf.READ, *conf.NO_EFFECT) if f"`{name}`" not in text)

    assert unlisted == []
