"""squall.celery's app: settings, queues declared from what the app can name, routing, task modules imported when
needed, beat entries as periodic schedules, sending by name, shared tasks, the Squall name it deploys as."""

from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import pytest
from kombu import Queue as KombuQueue

from squall import Queue, State, local
from squall.celery import Celery, shared_task, states
from squall.celery.app import squall_app_name
from squall.celery.exceptions import ImproperlyConfigured, QueueNotFound
from squall.celery.schedules import crontab
from squall.errors import InvalidSchedule, TaskDefinitionError


@pytest.fixture
def packages(tmp_path: Path) -> Iterator[Path]:
    """A directory on sys.path for throwaway task packages; sys.path and sys.modules restored after."""
    sys.path.insert(0, str(tmp_path))
    before = set(sys.modules)
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in set(sys.modules) - before:
            del sys.modules[name]


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def test_the_conf_reads_as_a_dict_and_attributes_with_celerys_defaults() -> None:
    app = Celery("conf-app")
    app.conf.update({"task_default_queue": "work"}, timezone="Europe/Berlin")
    app.conf.result_expires = timedelta(hours=2)

    assert app.conf["task_default_queue"] == "work" == app.default_queue
    assert app.conf.timezone == "Europe/Berlin"
    assert app.conf.task_default_retry_delay == 180  # Celery's default, not given
    assert app.conf.get("no_such_setting", "fallback") == "fallback"


def test_config_from_object_reads_a_namespace_and_celery3_names(packages: Path) -> None:
    write(packages, "proj_settings.py", """
        DEBUG = True
        CELERY_BROKER_URL = "sqs://"
        CELERY_TASK_DEFAULT_QUEUE = "django"
        CELERY_TIMEZONE = "America/New_York"
        CELERY_ALWAYS_EAGER = False
    """)  # fmt: skip
    write(packages, "old_celeryconfig.py", """
        BROKER_URL = "sqs://"
        CELERY_DEFAULT_QUEUE = "old"
        task_ignore_result = True
    """)  # fmt: skip

    django = Celery("django-style")
    django.config_from_object("proj_settings", namespace="CELERY")
    old = Celery("old-style")
    old.config_from_object("old_celeryconfig")

    assert (django.default_queue, django.conf.timezone, django.conf.task_always_eager) == (
        "django",
        "America/New_York",
        False,
    )
    assert "DEBUG" not in django.conf
    assert (old.default_queue, old.conf.task_ignore_result) == ("old", True)
    with pytest.raises(ImproperlyConfigured, match="cannot import 'missing_settings'"):
        old.config_from_object("missing_settings")
    old.config_from_object("missing_settings", silent=True)


def test_pickle_is_refused_and_an_unknown_celery_setting_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    app = Celery("strict")
    with pytest.raises(ImproperlyConfigured, match="JSON only"):
        app.conf.task_serializer = "pickle"
    with pytest.raises(ImproperlyConfigured, match="JSON only"):

        @app.task(serializer="pickle")
        def pickled() -> None: ...

    with caplog.at_level(logging.INFO, logger="squall.celery"):
        app.conf.update(task_acks_late=True, task_frobnicate=1, SECRET_KEY="flask's")
        app.conf.task_frobnicate = 2
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["squall.celery: task_frobnicate is not a setting squall.celery knows; it does nothing"]
    assert any("task_acks_late has no effect here" in r.getMessage() for r in caplog.records)


def test_every_queue_the_app_can_name_is_declared_and_routes_choose_among_them() -> None:
    app = Celery("routing")
    app.conf.task_default_queue = "default"
    app.conf.task_queues = [KombuQueue("priority"), Queue("bulk", batch_size=5, max_concurrency=3)]
    app.conf.task_routes = {"routing.reports.*": {"queue": "reports"}, "routing.mail": "mail"}

    @app.task(name="routing.reports.monthly")
    def monthly() -> None: ...

    @app.task(name="routing.mail")
    def mail() -> None: ...

    @app.task(queue="own")
    def own() -> None: ...

    assert list(app.queues) == ["default", "priority", "bulk", "reports", "mail", "own"]
    assert app.queues["bulk"].batch_size == 5  # a Squall Queue keeps its settings
    assert (monthly._squall.options.queue, mail._squall.options.queue, own._squall.options.queue) == (
        "reports",
        "mail",
        "own",
    )
    assert app.route("routing.mail", (), {}, queue="priority") == "priority"  # the call's queue wins
    with pytest.raises(QueueNotFound, match=r"queue 'brand-new' .* is not declared: .* task_queues, task_routes"):
        mail.apply_async(queue="brand-new")


def test_a_router_function_is_asked_at_send_and_an_undeclared_answer_is_refused() -> None:
    def router(name: str, args: tuple[object, ...], kwargs: dict[str, object], options: object, **kw: object) -> object:
        return {"queue": "vip"} if kwargs.get("vip") else ("nowhere" if kwargs.get("lost") else None)

    app = Celery("router", task_queues=["vip"], task_routes=[router])

    @app.task
    def order(**kwargs: object) -> None: ...

    with local.run(app) as rt:
        sent = order.delay(vip=True)
        rt.drain()
        assert app.store.get(sent.id).queue == "vip"  # type: ignore[union-attr]
        with pytest.raises(QueueNotFound, match="'nowhere'"):
            order.delay(lost=True)


def test_include_and_autodiscover_are_imported_when_the_tasks_are_first_needed(packages: Path) -> None:
    write(packages, "shop_pkg/__init__.py", "")
    write(packages, "shop_pkg/celery.py", """
        from squall.celery import Celery
        app = Celery("shop-pkg", include=["shop_pkg.jobs"])
        app.autodiscover_tasks(["shop_pkg.billing", "shop_pkg.no_tasks_here"])
    """)  # fmt: skip
    write(packages, "shop_pkg/jobs.py", """
        from shop_pkg.celery import app
        @app.task
        def job():
            return "job"
    """)  # fmt: skip
    write(packages, "shop_pkg/billing/__init__.py", "")
    write(packages, "shop_pkg/billing/tasks.py", """
        from squall.celery import shared_task
        @shared_task(ignore_result=True)
        def invoice(n):
            return n
    """)  # fmt: skip
    write(packages, "shop_pkg/no_tasks_here/__init__.py", "")

    from shop_pkg.celery import app  # type: ignore[import-not-found]

    assert "shop_pkg.jobs" not in sys.modules  # not yet: importing it first would be circular
    assert sorted(app.tasks) == ["shop_pkg.billing.tasks.invoice", "shop_pkg.jobs.job"]
    assert app.celery_task("shop_pkg.billing.tasks.invoice")._squall.options.ignore_result is True


def test_shared_task_registers_with_apps_made_before_and_after() -> None:
    before = Celery("shared-before")

    @shared_task(name="shared.ping")
    def ping() -> str:
        return "pong"

    after = Celery("shared-after")

    assert "shared.ping" in before.tasks
    assert "shared.ping" in after.tasks
    with local.run(after) as rt:
        result = ping.delay()  # the current app's
        rt.drain()
        assert result.get() == "pong"


def test_beat_schedule_and_add_periodic_task_become_periodic_schedules_in_the_app_timezone() -> None:
    app = Celery("beat-app", timezone="Europe/Berlin")
    app.conf.beat_schedule = {
        "nightly cleanup": {"task": "beat.cleanup", "schedule": crontab(hour=3, minute=0), "args": (7,)},
        "every-5-minutes": {
            "task": "beat.cleanup",
            "schedule": timedelta(minutes=5),
            "kwargs": {"days": 1},
            "options": {"expires": timedelta(minutes=4)},
        },
    }

    @app.task(name="beat.cleanup")
    def cleanup(days: int) -> int:
        return days

    @app.on_after_configure.connect
    def setup(sender: Celery, **kwargs: object) -> None:
        sender.add_periodic_task(60.0, cleanup.s(2), name="each minute", expires=30)

    declared = {name.split("-")[0]: s for name, s in app.periodic_schedules.items()}
    assert sorted(declared) == ["each_minute", "every", "nightly_cleanup"]
    assert (declared["nightly_cleanup"].expression.text, declared["nightly_cleanup"].args) == (
        "cron(0 3 * * ? *)",
        (7,),
    )
    assert {s.timezone for s in declared.values()} == {"Europe/Berlin"}
    assert declared["every"].expression.text == "rate(5 minutes)"
    assert declared["every"].kwargs == {"days": 1}
    assert (declared["each_minute"].expression.text, declared["each_minute"].args) == ("rate(1 minute)", (2,))
    # An entry's expires: each firing expires that long after its scheduled time (REVOKED, never run)
    assert [declared[n].expires for n in ("each_minute", "every", "nightly_cleanup")] == [30.0, 240.0, None]


def test_a_beat_entry_that_cannot_be_deployed_is_refused_naming_it() -> None:
    unknown = Celery("beat-unknown", beat_schedule={"ghost": {"task": "nobody.declares.this", "schedule": 60}})
    with pytest.raises(TaskDefinitionError, match=r"beat_schedule entry 'ghost' names task 'nobody\.declares\.this'"):
        _ = unknown.periodic_schedules

    fast = Celery("beat-fast", beat_schedule={"too fast": {"task": "fast.t", "schedule": 10.0}})

    @fast.task(name="fast.t")
    def t() -> None: ...

    with pytest.raises(InvalidSchedule, match="too fast"):
        _ = fast.periodic_schedules


def test_send_task_sends_by_name_routed_as_a_call() -> None:
    app = Celery("by-name", task_queues=["reports"], task_routes={"reports.*": {"queue": "reports"}})
    with local.run(app) as rt:
        result = app.send_task("reports.monthly", args=["2026-11"])
        assert app.store.get(result.id) is None  # queued, not yet claimed
        rt.drain()
        assert result.state == states.FAILURE  # no worker has the code
        assert "reports.monthly" in str(app.store.get(result.id).reason)  # type: ignore[union-attr]
        assert app.store.get(result.id).queue == "reports"  # type: ignore[union-attr]
        assert app.store.get(result.id).state is State.DEAD  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("main", "name"),
    [("proj", "proj"), ("My Proj", "my-proj"), ("__main__", "main"), (None, "celery"), ("2fast", "fast")],
)
def test_the_squall_name_comes_from_main(main: str | None, name: str) -> None:
    assert squall_app_name(main) == name


def test_a_task_module_run_as_main_names_its_tasks_after_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    module = ModuleType("__main__")
    app = Celery("scripted")

    def add(x: int, y: int) -> int:
        return x + y

    add.__module__ = module.__name__
    task = app.task(add)
    assert task.name == "scripted.add"


def test_autodiscover_without_packages_reads_djangos_installed_apps(packages: Path) -> None:
    write(packages, "django/__init__.py", "")  # a stand-in for a configured Django project
    write(packages, "django/conf.py", """
        class _Settings:
            INSTALLED_APPS = ["django.contrib.admin", "orders"]
        settings = _Settings()
    """)  # fmt: skip
    write(packages, "orders/__init__.py", "")
    write(packages, "orders/tasks.py", """
        from squall.celery import shared_task
        @shared_task
        def ship(order_id):
            return order_id
    """)  # fmt: skip

    app = Celery("django-discovery")
    app.autodiscover_tasks()

    assert "orders.tasks.ship" in app.tasks
