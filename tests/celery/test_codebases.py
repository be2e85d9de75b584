"""Three Celery code bases, ported to Squall by rewriting their imports only, behave on Squall as under Celery.

Each code base under tests/celery/codebases is Celery source (see its package docstring). The Celery side imports
it as it is and runs Celery in eager mode: tasks run in process, retries at once, results in an in-process backend
that a running task's state can be read from. The Squall side rewrites every file with ``squall migrate``'s
:func:`~squall.cli.migrate.migrate_source` into a temporary tree of the same layout, imports that instead, and runs
it on the local runtime (moto, a fake clock: a retry waits its countdown inside ``rt.drain()``).

The tests compare what both sides show: what a polling page sees, results and final states, attempts per webhook
delivery and what the failure branches recorded, queues, signals, and beat's next firings. Each test is written as
Celery behaves: a difference fails it.
"""

from __future__ import annotations

import ast
import copy
import importlib
import itertools
import random
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import celery._state
import celery.schedules
import celery.signals
import pytest
import requests
from celery.utils.dispatch.signal import Signal as CelerySignal
from flask.testing import FlaskClient

import squall.celery.app as face_app
from squall import clock, local
from squall.celery import _context as face_context
from squall.celery import signals as face_signals
from squall.celery.schedules import schedule_name
from squall.cli.migrate import migrate_source

# Celery 5.7 warns that a task's queue= attribute is to have no effect in 6.0; the code bases use it, as theirs do.
pytestmark = pytest.mark.filterwarnings("ignore::celery.exceptions.CDeprecationWarning")

CODEBASES = "tests.celery.codebases"
SOURCE = Path(__file__).parent / "codebases"
#: Celery's eager mode, with a broker and a result backend that live in process (a running task's state is kept).
EAGER = {
    "task_always_eager": True,
    "task_eager_propagates": False,
    "task_store_eager_result": True,
    "result_backend": "cache+memory://",
    "broker_url": "memory://",
}
#: The progress task draws its length and messages from ``random``: both sides draw the same.
SEED = 20261202
FIRINGS = 20
#: Beat's fixed "now": mid-minute, nine days before Berlin's clocks go forward (daily entries cross it).
BEAT_START = datetime(2026, 3, 20, 10, 17, 23, tzinfo=UTC)


# --- one code base, imported as Celery source or as its rewrite ---------------------------------------------


def port(root: Path) -> list[str]:
    """Rewrite every code base file's imports into ``root`` (same layout); the imports left unmapped."""
    unmapped: list[str] = []
    for source in sorted(SOURCE.rglob("*.py")):
        target = root.joinpath(*CODEBASES.split("."), source.relative_to(SOURCE))
        target.parent.mkdir(parents=True, exist_ok=True)
        migration = migrate_source(source.read_text(encoding="utf-8"))
        unmapped += [u.describe(source.relative_to(SOURCE)) for u in migration.unmapped]
        target.write_text(migration.text, encoding="utf-8")
    return unmapped


@pytest.fixture(scope="module")
def ported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The three code bases rewritten for Squall, under a root to put first on sys.path."""
    root = tmp_path_factory.mktemp("ported")
    port(root)
    return root


@pytest.fixture(scope="module")
def once() -> dict[str, Any]:
    """Each scenario's outcome on both sides, run by the first test that needs it (inside that test's sandboxed
    environment, which a module-scoped fixture would be set up before) and read by the others."""
    return {}


def _gaps(times: list[float]) -> list[int]:
    """Whole seconds between successive times."""
    return [round(later - earlier) for earlier, later in itertools.pairwise(times)]


def _ours(name: str) -> bool:
    return name == CODEBASES or name.startswith(CODEBASES + ".")


@contextmanager
def codebase(root: Path | None) -> Iterator[Callable[[str], ModuleType]]:
    """Import the code bases from ``root`` (their rewrite) or from here (None), for the block only.

    Afterwards none of their modules is left in sys.modules, and neither Celery nor squall.celery keeps what they
    registered globally: shared tasks, signal receivers, the current app.
    """
    saved_path = list(sys.path)
    saved_modules = {name: module for name, module in sys.modules.items() if _ours(name)}
    celery_signals = [s for s in vars(celery.signals).values() if isinstance(s, CelerySignal)]
    face_signal_list = [s for s in vars(face_signals).values() if isinstance(s, face_signals.Signal)]
    saved_celery = (set(celery._state._on_app_finalizers), celery._state._tls.current_app, set(celery._state._apps))
    saved_celery_receivers = [list(s.receivers) for s in celery_signals]
    saved_face = (list(face_app._SHARED), set(face_context._apps), list(face_context._current))
    saved_face_receivers = [list(s._receivers) for s in face_signal_list]
    for name in saved_modules:
        del sys.modules[name]
    if root is not None:
        sys.path.insert(0, str(root))
    importlib.invalidate_caches()
    try:
        yield lambda name: importlib.import_module(f"{CODEBASES}.{name}")
    finally:
        sys.path[:] = saved_path
        for name in [name for name in sys.modules if _ours(name)]:
            del sys.modules[name]
        sys.modules.update(saved_modules)
        importlib.invalidate_caches()
        celery._state._on_app_finalizers.clear()
        celery._state._on_app_finalizers.update(saved_celery[0])
        celery._state._set_current_app(saved_celery[1])
        for app in set(celery._state._apps) - saved_celery[2]:
            celery._state._apps.discard(app)  # so that shared tasks declared later are not given to them
        for signal, receivers in zip(celery_signals, saved_celery_receivers, strict=True):
            signal.receivers[:] = receivers
            signal.sender_receivers_cache.clear()
        face_app._SHARED[:], face_context._current[:] = saved_face[0], saved_face[2]
        for app in set(face_context._apps) - saved_face[1]:
            face_context._apps.discard(app)
        for face_signal, face_receivers in zip(face_signal_list, saved_face_receivers, strict=True):
            face_signal._receivers[:] = face_receivers


def test_every_import_of_the_three_code_bases_is_rewritten_and_nothing_else_changes(tmp_path: Path) -> None:
    # given the code bases, written against Celery
    # when squall migrate's rewrite is applied to each file
    unmapped = port(tmp_path)

    # then every Celery import has a counterpart, no module imports celery any more, and only imports changed
    assert unmapped == []
    for source in sorted(SOURCE.rglob("*.py")):
        rewritten = tmp_path.joinpath(*CODEBASES.split("."), source.relative_to(SOURCE)).read_text(encoding="utf-8")
        tree = ast.parse(rewritten)
        imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and not n.level]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [name for name in imported if name.partition(".")[0] == "celery"], source
        before, after = source.read_text(encoding="utf-8").splitlines(), rewritten.splitlines()
        changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
        assert all(a == b.replace("from celery", "from squall.celery") for b, a in changed), changed


def test_a_code_base_leaves_no_module_and_no_registration_behind(ported: Path) -> None:
    # given what is registered before a code base is imported
    shared, receivers = len(face_app._SHARED), len(face_signals.task_postrun.receivers)

    # when its rewrite is imported, and its app finalized, in the block
    with codebase(ported) as load:
        load("analytics.celery").app.loader.import_default_modules()
        assert len(face_app._SHARED) > shared
        assert len(face_signals.task_postrun.receivers) > receivers

    # then nothing of it is left
    assert not [name for name in sys.modules if _ours(name)]
    assert (len(face_app._SHARED), len(face_signals.task_postrun.receivers)) == (shared, receivers)


# --- 1. the Flask progress bar ---------------------------------------------------------------------------

PENDING_ANSWER = {"state": "PENDING", "current": 0, "total": 1, "status": "Pending..."}
DONE_ANSWER = {"state": "SUCCESS", "current": 100, "total": 100, "status": "Task completed!", "result": 42}
MAX_POLLS = 200


@dataclass
class Page:
    """The progress page's JavaScript: it GETs the status URL until the task is done, keeping every answer."""

    client: FlaskClient
    answers: list[dict[str, Any]] = field(default_factory=list)

    def poll(self, url: str) -> dict[str, Any]:
        answer = self.client.get(url).get_json()
        self.answers.append(answer)
        return dict(answer)

    def poll_until_done(self, url: str, wait: Callable[[], object]) -> None:
        for _ in range(MAX_POLLS):
            if self.poll(url)["state"] not in ("PENDING", "PROGRESS"):
                return
            wait()
        raise AssertionError(f"{url} was still running after {MAX_POLLS} polls")


@dataclass
class ProgressRun:
    """What one side's page saw."""

    status_code: int
    location: str
    task_id: str
    answers: list[dict[str, Any]]
    unknown: dict[str, Any]  # the answer for a task id nobody started


def run_progress_page(
    module: ModuleType, *, advance: Callable[[float], object], wait: Callable[[], object], fail_at: int | None
) -> ProgressRun:
    """Start the long task and poll it as the page does; the task's ``time.sleep`` lets the page poll meanwhile."""
    page = Page(module.app.test_client())
    task_ids: list[str] = []

    def sleep(seconds: float) -> None:
        task_ids.append(module.long_task.request.id)
        page.poll(f"/status/{module.long_task.request.id}")
        if fail_at is not None and len(task_ids) >= fail_at:
            raise RuntimeError("reactor offline")
        advance(seconds)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "time", SimpleNamespace(sleep=sleep))
        patch.setattr(module, "random", random.Random(SEED))
        started = page.client.post("/longtask")
        location = started.headers["Location"]
        page.poll_until_done(location, wait)
    unknown = page.client.get("/status/00000000-0000-0000-0000-000000000000").get_json()
    return ProgressRun(started.status_code, location, task_ids[0], page.answers, unknown)


def progress_under_celery(fail_at: int | None = None) -> ProgressRun:
    with codebase(None) as load:
        module = load("flask_progress.app")
        module.celery.conf.update(EAGER)
        # Eager: the task runs inside POST /longtask, so the page's answers mid-way come from the task's sleeps.
        return run_progress_page(module, advance=lambda seconds: None, wait=lambda: None, fail_at=fail_at)


def progress_on_squall(ported: Path, fail_at: int | None = None, step: float | None = None) -> ProgressRun:
    """The page on Squall; each of the task's sleeps moves the clock by its seconds (or by ``step``)."""
    with codebase(ported) as load:
        module = load("flask_progress.app")
        with local.run(module.celery) as rt:
            # The worker runs the task while the page waits between polls (rt.drain).
            advance = clock.sleep if step is None else lambda seconds: clock.sleep(step)
            return run_progress_page(module, advance=advance, wait=rt.drain, fail_at=fail_at)


@pytest.fixture
def progress_runs(ported: Path, once: dict[str, Any]) -> dict[str, ProgressRun]:
    """The page run once per side; each test reads another part of what it saw."""
    if "progress" not in once:
        once["progress"] = {"celery": progress_under_celery(), "squall": progress_on_squall(ported)}
    return dict(once["progress"])


def test_post_longtask_answers_202_with_the_status_url_of_the_task(progress_runs: dict[str, ProgressRun]) -> None:
    # given the page started the task on each side
    for run in progress_runs.values():
        # then the answer is 202, with the task's status URL in Location
        assert run.status_code == 202
        assert run.location == f"/status/{run.task_id}"


def test_the_page_sees_every_progress_step_then_the_result_as_under_celery(
    progress_runs: dict[str, ProgressRun],
) -> None:
    # given the page polled while the task ran and until it was done
    under_celery, on_squall = progress_runs["celery"].answers, progress_runs["squall"].answers

    # then under Celery (eager, the task ran inside the POST) it saw each PROGRESS step and the result
    steps = under_celery[:-1]
    assert len(steps) >= 10
    assert [a["state"] for a in steps] == ["PROGRESS"] * len(steps)
    assert [a["current"] for a in steps] == list(range(len(steps)))
    assert {a["total"] for a in steps} == {len(steps)}
    assert under_celery[-1] == DONE_ANSWER
    # and on Squall it first saw the queued task as PENDING (the example's branch), then exactly the same
    assert on_squall[0] == PENDING_ANSWER
    assert on_squall[1:] == under_celery


def test_a_task_id_nobody_started_reads_pending(progress_runs: dict[str, ProgressRun]) -> None:
    assert progress_runs["celery"].unknown == progress_runs["squall"].unknown == PENDING_ANSWER


def test_a_task_failing_mid_way_shows_the_failure_branch_with_the_exception_as_under_celery(ported: Path) -> None:
    # given the task raises on its third step
    under_celery = progress_under_celery(fail_at=3).answers
    on_squall = progress_on_squall(ported, fail_at=3).answers

    # then the page saw the first steps, then FAILURE with the exception's text, on both sides
    failure = {"state": "FAILURE", "current": 1, "total": 1, "status": "reactor offline"}
    assert [a["state"] for a in under_celery] == ["PROGRESS"] * 3 + ["FAILURE"]
    assert under_celery[-1] == failure
    assert on_squall == [PENDING_ANSWER, *under_celery]


def test_a_step_reported_within_a_second_of_the_last_is_seen_by_the_next_poll(
    ported: Path, progress_runs: dict[str, ProgressRun]
) -> None:
    # given the task reports a step every quarter of a second
    on_squall = progress_on_squall(ported, step=0.25).answers
    # then the page sees every step, as under Celery
    assert on_squall[1:] == progress_runs["celery"].answers


# --- 2. webhook deliveries --------------------------------------------------------------------------------


class FlakyEndpoints(BaseHTTPRequestHandler):
    """``POST /hooks/<k>/<name>`` fails with 500 for the first k requests of that path, then answers 200."""

    server: Endpoints

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.server.lock:
            times = self.server.requests.setdefault(self.path, [])
            times.append(clock.now())
            failing = len(times) <= int(self.path.split("/")[2])
        self.send_response(500 if failing else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test reads the requests, not a log."""


class Endpoints(ThreadingHTTPServer):
    """A webhook receiver on 127.0.0.1 that keeps, per path, when each request arrived (on Squall's clock)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FlakyEndpoints)
        self.lock = threading.Lock()
        self.requests: dict[str, list[float]] = {}

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


@contextmanager
def serving() -> Iterator[Endpoints]:
    server = Endpoints()
    # A short poll interval: shutdown() waits for the serving loop to look again.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@dataclass
class WebhookRun:
    """What one side did with the same deliveries."""

    fanned_out: list[Any]  # the group's results, in order
    deliveries: dict[str, tuple[str, int, str | None]]  # by path: status, attempts, what the failure branch saw
    requests: dict[str, list[float]]  # by path: when each request arrived
    outcomes: dict[str, tuple[str, Any]]  # by path, for the single calls: final state and result
    retries: list[tuple[str, int, Any]]  # the task_retry receiver's records
    queues: dict[str, str | None]  # task name -> the queue it ran from (Squall) or Celery's router picked
    attempts_seen: list[tuple[str, int]]  # (task name, request.retries) of every run, from task_prerun
    own_class: dict[str, bool]  # by path, for the single calls that failed: is the result a requests.HTTPError?
    states_at_start: list[tuple[str, int, str]]  # (task name, request.retries, its state read) as each run starts


FANNED = ["/hooks/0/order-a", "/hooks/2/order-b", "/hooks/99/order-c"]
APP_HOOKS = ["/hooks/3/app-d", "/hooks/99/app-e"]
EVENTS = ["/hooks/1/events-f", "/hooks/99/events-g"]


def run_webhooks(
    load: Callable[[str], ModuleType], signals: Any, run: Callable[[], object], route: Callable[[Any, Any], str | None]
) -> WebhookRun:
    """Send the same deliveries on one side: ``run`` runs what was sent, ``route`` names a task's queue."""
    transport, models = load("webhooks.transport"), load("webhooks.models")
    attempts_seen: list[tuple[str, int]] = []
    states_at_start: list[tuple[str, int, str]] = []
    queues: dict[str, str | None] = {}

    def prerun(sender: Any = None, task_id: str = "", task: Any = None, **kwargs: Any) -> None:
        attempts_seen.append((task.name, task.request.retries))
        states_at_start.append((task.name, task.request.retries, transport.app.AsyncResult(task_id).state))
        queues[task.name] = route(transport.app, task)

    signals.task_prerun.connect(prerun)
    with serving() as endpoints:
        group_result = transport.trigger_webhooks_async({"order": 1}, [endpoints.url(p) for p in FANNED])
        singles = {p: transport.trigger_app_webhook({"app": 1}, endpoints.url(p)) for p in APP_HOOKS}
        singles |= {p: transport.send_observability_events.delay(endpoints.url(p), [{"e": 1}]) for p in EVENTS}
        run()
        fanned_out = group_result.get(timeout=1)
        received = dict(endpoints.requests)
        base = endpoints.url("")
    deliveries = {
        d.url.removeprefix(base): (d.status, len(d.attempts), _masked(d.failure, d.attempts))
        for d in models.DELIVERIES.values()
    }
    outcomes = {p: (r.state, _masked_result(r.result)) for p, r in singles.items()}
    own_class = {p: isinstance(r.result, requests.HTTPError) for p, r in singles.items() if r.failed()}
    retries = list(transport.RETRIES)
    return WebhookRun(
        fanned_out, deliveries, received, outcomes, retries, queues, attempts_seen, own_class, sorted(states_at_start)
    )


def _masked(text: str | None, attempts: list[Any]) -> str | None:
    """The failure text with the run's task id (which differs between the sides) as ``<id>``."""
    if text is None:
        return None
    for attempt in attempts:
        text = text.replace(str(attempt.task_id), "<id>")
    return text


def _masked_result(value: Any) -> Any:
    if isinstance(value, BaseException):
        return type(value).__name__, str(value).split(" for url")[0]
    return value


def celery_router_queue(app: Any, task: Any) -> str | None:
    """The queue Celery's router sends ``task`` to (eager runs skip routing, so ask the router)."""
    options = {k: v for k, v in task._get_exec_options().items() if v is not None}
    return str(app.amqp.router.route(options, task.name, (), {})["queue"].name)


def webhooks_under_celery() -> WebhookRun:
    with codebase(None) as load:
        load("webhooks.celeryconf").app.conf.update(EAGER)
        return run_webhooks(load, celery.signals, lambda: None, celery_router_queue)


def webhooks_on_squall(ported: Path) -> WebhookRun:
    with codebase(ported) as load:
        app = load("webhooks.celeryconf").app
        with local.run(app) as rt:
            return run_webhooks(
                load, face_signals, rt.drain, lambda app, task: task.request.delivery_info.get("routing_key")
            )


@pytest.fixture
def webhook_runs(ported: Path, once: dict[str, Any]) -> dict[str, WebhookRun]:
    """The deliveries sent once per side."""
    if "webhooks" not in once:
        once["webhooks"] = {"celery": webhooks_under_celery(), "squall": webhooks_on_squall(ported)}
    return dict(once["webhooks"])


def test_each_delivery_is_attempted_as_often_as_under_celery_and_ends_the_same(
    webhook_runs: dict[str, WebhookRun],
) -> None:
    under_celery, on_squall = webhook_runs["celery"], webhook_runs["squall"]
    # then: raise self.retry() gives the task's default max_retries (3; retry_kwargs is autoretry's only),
    # retry() without raise and max_retries=5 gives 5, autoretry_for with retry_kwargs gives 5
    attempts = {path: len(times) for path, times in under_celery.requests.items()}
    assert attempts == {
        "/hooks/0/order-a": 1,
        "/hooks/2/order-b": 3,
        "/hooks/99/order-c": 4,
        "/hooks/3/app-d": 4,
        "/hooks/99/app-e": 6,
        "/hooks/1/events-f": 2,
        "/hooks/99/events-g": 6,
    }
    assert {path: len(times) for path, times in on_squall.requests.items()} == attempts
    assert on_squall.attempts_seen.count(("tests.celery.codebases.webhooks.transport.deliver_app_webhook", 5)) == 1
    assert sorted(on_squall.attempts_seen) == sorted(under_celery.attempts_seen)


def test_the_fan_out_group_returns_each_deliverys_outcome_in_order(webhook_runs: dict[str, WebhookRun]) -> None:
    assert webhook_runs["celery"].fanned_out == ["success", "success", "failed"]
    assert webhook_runs["squall"].fanned_out == webhook_runs["celery"].fanned_out


def test_the_failure_branches_record_what_they_recorded_under_celery(webhook_runs: dict[str, WebhookRun]) -> None:
    under_celery, on_squall = webhook_runs["celery"].deliveries, webhook_runs["squall"].deliveries
    # then the deliveries whose retries were spent caught MaxRetriesExceededError and marked themselves failed
    assert {path: (status, attempts) for path, (status, attempts, _) in under_celery.items()} == {
        "/hooks/0/order-a": ("success", 1),
        "/hooks/2/order-b": ("success", 3),
        "/hooks/99/order-c": ("failed", 4),
        "/hooks/3/app-d": ("success", 4),
        "/hooks/99/app-e": ("failed", 6),
    }
    assert on_squall == under_celery


def test_single_calls_end_in_celerys_states_with_celerys_results(webhook_runs: dict[str, WebhookRun]) -> None:
    under_celery = webhook_runs["celery"].outcomes
    assert under_celery == {
        "/hooks/3/app-d": ("SUCCESS", "success"),
        "/hooks/99/app-e": ("SUCCESS", "failed"),
        "/hooks/1/events-f": ("SUCCESS", 1),
        "/hooks/99/events-g": ("FAILURE", ("HTTPError", "500 Server Error: Internal Server Error")),
    }
    assert webhook_runs["squall"].outcomes == under_celery


def test_tasks_run_from_the_queue_celerys_router_picks(webhook_runs: dict[str, WebhookRun]) -> None:
    # given queue= on the decorator, a task_routes glob (with queue= at call time) and an exact task_routes entry
    transport = "tests.celery.codebases.webhooks.transport"
    assert webhook_runs["celery"].queues == {
        f"{transport}.send_webhook_request_async": "webhooks",
        f"{transport}.deliver_app_webhook": "app-webhooks",
        f"{transport}.send_observability_events": "observability",
    }
    assert webhook_runs["squall"].queues == webhook_runs["celery"].queues


def test_squall_waits_each_countdown_celery_asked_for_between_attempts(webhook_runs: dict[str, WebhookRun]) -> None:
    # given Celery's eager mode ran the retries at once, announcing each countdown (task_retry's reason.when)
    asked = {
        "/hooks/99/order-c": [10, 20, 40],  # retry_backoff * 2**retries, from the task's own code
        "/hooks/99/app-e": [10, 20, 40, 80, 160],
        "/hooks/99/events-g": [10, 20, 40, 80, 160],  # autoretry_for's backoff, no jitter
    }
    # then on Squall the endpoint saw the retries that far apart on the clock
    for path, countdowns in asked.items():
        times = webhook_runs["squall"].requests[path]
        assert _gaps(times) == countdowns, path


def test_task_retry_receivers_see_the_retry_of_hand_written_retries_as_under_celery(
    webhook_runs: dict[str, WebhookRun],
) -> None:
    def manual(run: WebhookRun) -> list[tuple[str, int, Any]]:
        return sorted(r for r in run.retries if not r[0].endswith("send_observability_events"))

    assert len(manual(webhook_runs["celery"])) == 3 + 2 + 5 + 3  # order-c, order-b, app-e, app-d
    assert manual(webhook_runs["squall"]) == manual(webhook_runs["celery"])


def test_task_retry_receivers_see_the_retry_of_autoretries_as_under_celery(webhook_runs: dict[str, WebhookRun]) -> None:
    def autoretries(run: WebhookRun) -> list[tuple[str, int, Any]]:
        return sorted(r for r in run.retries if r[0].endswith("send_observability_events"))

    assert len(autoretries(webhook_runs["celery"])) == 1 + 5
    assert autoretries(webhook_runs["squall"]) == autoretries(webhook_runs["celery"])


def test_a_failed_tasks_result_is_an_instance_of_the_exception_raised(webhook_runs: dict[str, WebhookRun]) -> None:
    assert webhook_runs["celery"].own_class == {"/hooks/99/events-g": True}
    assert webhook_runs["squall"].own_class == webhook_runs["celery"].own_class


def test_a_retried_task_reads_retry_while_its_next_attempt_runs(webhook_runs: dict[str, WebhookRun]) -> None:
    under_celery = webhook_runs["celery"].states_at_start
    assert {state for _, retries, state in under_celery if retries == 0} == {"PENDING"}
    assert {state for _, retries, state in under_celery if retries > 0} == {"RETRY"}
    assert webhook_runs["squall"].states_at_start == under_celery


def test_calling_a_delivery_task_directly_runs_it_here_and_a_retry_raises_retry_as_under_celery(ported: Path) -> None:
    seen = []
    for root in (None, ported):
        with codebase(root) as load, serving() as endpoints:
            # given a delivery that succeeds and one whose endpoint fails, the task called as a plain function
            transport, models = load("webhooks.transport"), load("webhooks.models")
            retry = importlib.import_module("celery.exceptions" if root is None else "squall.celery.exceptions").Retry
            ok = models.create_event_delivery(endpoints.url("/hooks/0/direct-ok"), {})
            failing = models.create_event_delivery(endpoints.url("/hooks/9/direct-fail"), {})
            returned = transport.send_webhook_request_async(ok.id)
            # when its retry is asked for outside a worker, it raises Retry (no MaxRetriesExceededError, no retry)
            with pytest.raises(retry) as raised:
                transport.send_webhook_request_async(failing.id)
            attempts = [(a.task_id, a.retries, a.status) for a in [*ok.attempts, *failing.attempts]]
            seen.append((returned, str(raised.value), attempts, failing.status, dict(endpoints.requests)))
    under_celery, on_squall = seen
    plain = [(None, 0, "success"), (None, 0, "failed")]  # no task id, no retries: not in a worker
    assert under_celery[:4] == ("success", "Task can be retried", plain, "pending")
    assert [len(times) for times in under_celery[4].values()] == [1, 1]
    assert on_squall[:4] == under_celery[:4]
    assert [len(times) for times in on_squall[4].values()] == [1, 1]


# --- 3. the analytics product's tasks and beat schedules ---------------------------------------------------

ANALYTICS = "tests.celery.codebases.analytics"
APPS = ("ingestion", "reports", "billing", "maintenance")


def load_analytics(load: Callable[[str], ModuleType], *, eager: bool) -> Any:
    """The analytics app, its discovered task modules imported (what a worker does first)."""
    if eager:  # the test's settings, as a Django test run overrides them
        settings = load("analytics.settings")
        for key, value in EAGER.items():
            setattr(settings, f"CELERY_{key.upper()}", value)
    app = load("analytics.celery").app
    app.loader.import_default_modules()
    return app


def test_settings_from_the_django_namespace_autodiscovery_routes_and_loggers_are_celerys(ported: Path) -> None:
    facts = []
    for root in (None, ported):
        with codebase(root) as load:
            # given the app configured from the settings module (namespace CELERY), its tasks autodiscovered
            app = load_analytics(load, eager=False)
            names = sorted(name for name in app.tasks if name.startswith(ANALYTICS))
            if root is None:
                queues = {name: celery_router_queue(app, app.tasks[name]) for name in names}
            else:
                queues = {name: app.route(name, (), {}) for name in names}
            loggers = {a: (m.logger.name, m.logger.parent.name) for a in APPS for m in [load(f"analytics.{a}.tasks")]}
            conf = app.conf
            settings = (conf.task_default_queue, str(conf.timezone), conf.result_expires, conf.task_serializer)
            facts.append((names, queues, loggers, settings))
    # then both sides see the same 14 tasks, queues, task loggers (children of celery.task) and settings
    under_celery, on_squall = facts
    assert len(under_celery[0]) == 14
    assert set(under_celery[1].values()) == {"analytics-default", "ingestion", "stats", "analytics-stats"}
    assert under_celery[2]["billing"] == (f"{ANALYTICS}.billing.tasks", "celery.task")
    assert under_celery[3] == ("analytics-default", "Europe/Berlin", timedelta(days=2), "json")
    assert on_squall == under_celery


def celery_firings(app: Any, entry: dict[str, Any], start: datetime, count: int) -> list[datetime]:
    """The next ``count`` runs Celery's beat makes of an entry after ``start``: each run is due when the schedule's
    ``remaining_estimate(last_run_at)`` reaches zero, and becomes the next ``last_run_at``."""
    now = [start]
    schedule = copy.copy(celery.schedules.maybe_schedule(entry["schedule"], False, app))
    schedule.nowfun = lambda: now[0]
    fires: list[datetime] = []
    while len(fires) < count:
        fires.append((now[0] + schedule.remaining_estimate(now[0])).astimezone(UTC))
        now[0] = fires[-1]
    return fires


def _intervals(fires: list[datetime]) -> list[timedelta]:
    return [later - earlier for earlier, later in itertools.pairwise(fires)]


@dataclass
class BeatEntry:
    """One side's view of a beat entry: what it runs and when it fires next."""

    task: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    crontab: bool
    fires: list[datetime]


@pytest.fixture(scope="module")
def beat(ported: Path) -> dict[str, dict[str, BeatEntry]]:
    """Each side's beat entries by name: Celery's ``beat_schedule`` (with what ``add_periodic_task`` added when the
    app was configured), and the periodic schedules the Squall app declares."""
    with codebase(None) as load:
        app = load_analytics(load, eager=False)
        under_celery = {
            name: BeatEntry(entry["task"], tuple(entry.get("args") or ()), dict(entry.get("kwargs") or {}),
                            isinstance(entry["schedule"], celery.schedules.crontab),
                            celery_firings(app, entry, BEAT_START, FIRINGS))
            for name, entry in app.conf.beat_schedule.items()
        }  # fmt: skip
    with codebase(ported) as load:
        app = load_analytics(load, eager=False)
        assert {p.timezone for p in app.periodic_schedules.values()} == {"Europe/Berlin"}
        on_squall = {
            name: BeatEntry(p.task.name, p.args, p.kwargs, str(p.expression).startswith("cron("),
                            p.preview(BEAT_START, FIRINGS))
            for name, p in app.periodic_schedules.items()
        }  # fmt: skip
    return {"celery": under_celery, "squall": on_squall}


def test_every_beat_entry_and_periodic_task_is_a_schedule_of_the_same_task_and_arguments(
    beat: dict[str, dict[str, BeatEntry]],
) -> None:
    under_celery, on_squall = beat["celery"], beat["squall"]
    assert len(under_celery) == 20  # 14 in beat_schedule, 6 from add_periodic_task (names with spaces among them)
    assert sorted(on_squall) == sorted(schedule_name(name) for name in under_celery)
    for name, entry in under_celery.items():
        squall_entry = on_squall[schedule_name(name)]
        assert (squall_entry.task, squall_entry.args, squall_entry.kwargs) == (entry.task, entry.args, entry.kwargs)


def test_every_crontab_fires_at_the_times_celery_beat_computes_in_the_apps_timezone(
    beat: dict[str, dict[str, BeatEntry]],
) -> None:
    crontabs = {name: entry for name, entry in beat["celery"].items() if entry.crontab}
    assert len(crontabs) == 13
    for name, entry in crontabs.items():
        assert beat["squall"][schedule_name(name)].fires == entry.fires, name


def test_every_interval_fires_every_n_from_the_start_as_under_celery(beat: dict[str, dict[str, BeatEntry]]) -> None:
    intervals = {name: entry for name, entry in beat["celery"].items() if not entry.crontab}
    assert len(intervals) == 7  # seconds as a float and as ints, timedeltas, schedule(run_every=...)
    for name, entry in intervals.items():
        fires = beat["squall"][schedule_name(name)].fires
        assert _intervals(fires) == _intervals(entry.fires), name
        assert fires[0] - BEAT_START == entry.fires[0] - BEAT_START == entry.fires[1] - entry.fires[0], name


@dataclass
class TaskRuns:
    """What running a few analytics tasks did on one side."""

    outcomes: dict[str, tuple[str, Any]]  # by call: the state read back by id, and the result (an exception as text)
    own_class: dict[str, bool]  # by failed call: whether its result is an instance of the class raised
    runs: dict[str, list[str | None]]  # by call: the state task_postrun saw for each run
    countdowns: dict[str, list[Any]]  # by call: each countdown task_retry announced (reason.when)
    started: dict[str, list[float]]  # by call: when each run started, on the clock


CALLS: list[tuple[str, str, tuple[Any, ...], dict[str, int]]] = [
    # (call, task, args, outage: query -> how many times it fails)
    ("cohort retried twice", "reports.tasks.calculate_cohort", (3,), {"SELECT cohort 3d": 2}),
    ("batch past its retries", "ingestion.tasks.process_event_batch", ("b-1", [{"e": 1}]), {"INSERT batch b-1": 9}),
    ("export retried by hand", "reports.tasks.export_report", ("weekly",), {"EXPORT weekly": 9}),
    ("usage after one outage", "billing.tasks.sync_usage_report", ("daily",), {"SELECT usage daily": 1}),
    ("ignored result", "billing.tasks.monthly_invoice_run", (), {}),
]


def run_analytics_tasks(load: Callable[[str], ModuleType], signals: Any, run: Callable[[], object]) -> TaskRuns:
    """Send each of CALLS on one side; ``run`` runs what was sent."""
    metrics, clickhouse = load("analytics.celery"), load("analytics.clickhouse")
    app = metrics.app
    countdowns: dict[str, list[Any]] = {}
    started: dict[str, list[float]] = {}

    def retried(sender: Any = None, request: Any = None, reason: Any = None, **kwargs: Any) -> None:
        countdowns.setdefault(request.id, []).append(getattr(reason, "when", reason))

    def prerun(task_id: str = "", **kwargs: Any) -> None:
        started.setdefault(task_id, []).append(clock.now())

    signals.task_retry.connect(retried)
    signals.task_prerun.connect(prerun)
    sent = {}
    for call, path, args, outage in CALLS:
        module, _, function = path.rpartition(".")
        clickhouse.OUTAGES.update(outage)
        sent[call] = getattr(load(f"analytics.{module}"), function).delay(*args).id
    run()
    outcomes, own_class = {}, {}
    for call, task_id in sent.items():
        result = app.AsyncResult(task_id)
        value = result.result
        if isinstance(value, Exception):
            own_class[call] = isinstance(value, clickhouse.ClickHouseUnavailable)
            value = (type(value).__name__, str(value))
        outcomes[call] = (result.state, value)
    # By task id: on Squall, beat's schedules also fire while the clock moves over the retries' countdowns.
    runs = {call: [state for run, _, state in metrics.TASK_RUNS if run == task_id] for call, task_id in sent.items()}
    return TaskRuns(
        outcomes,
        own_class,
        runs,
        {call: countdowns.get(task_id, []) for call, task_id in sent.items()},
        {call: started.get(task_id, []) for call, task_id in sent.items()},
    )


@pytest.fixture
def analytics_runs(ported: Path, once: dict[str, Any]) -> dict[str, TaskRuns]:
    """A few analytics tasks run once per side."""
    if "analytics" not in once:
        with codebase(None) as load:
            load_analytics(load, eager=True)
            under_celery = run_analytics_tasks(load, celery.signals, lambda: None)
        with codebase(ported) as load, local.run(load_analytics(load, eager=False)) as rt:
            on_squall = run_analytics_tasks(load, face_signals, rt.drain)
        once["analytics"] = {"celery": under_celery, "squall": on_squall}
    return dict(once["analytics"])


def test_tasks_retry_and_end_in_celerys_states_with_celerys_results(analytics_runs: dict[str, TaskRuns]) -> None:
    under_celery = analytics_runs["celery"].outcomes
    assert under_celery == {
        "cohort retried twice": ("SUCCESS", {"days": 3, "rows": 1, "attempts": 3}),
        "batch past its retries": ("FAILURE", ("ClickHouseUnavailable", "INSERT batch b-1: connection refused")),
        "export retried by hand": ("FAILURE", ("ClickHouseUnavailable", "EXPORT weekly: connection refused")),
        "usage after one outage": ("SUCCESS", {"period": "daily", "retries": 1}),
        "ignored result": ("PENDING", None),
    }
    on_squall = analytics_runs["squall"].outcomes
    assert {call: o for call, o in on_squall.items() if call != "ignored result"} == {
        call: o for call, o in under_celery.items() if call != "ignored result"
    }


def test_a_failed_tasks_result_is_the_very_class_a_task_of_the_app_names(analytics_runs: dict[str, TaskRuns]) -> None:
    # given ClickHouseUnavailable is in a task's autoretry_for (export_report names none, process_event_batch does)
    assert analytics_runs["celery"].own_class == {"batch past its retries": True, "export retried by hand": True}
    assert analytics_runs["squall"].own_class == analytics_runs["celery"].own_class


def test_a_task_with_ignore_result_reads_pending_after_it_ran(analytics_runs: dict[str, TaskRuns]) -> None:
    assert analytics_runs["celery"].outcomes["ignored result"] == ("PENDING", None)
    assert analytics_runs["squall"].outcomes["ignored result"] == ("PENDING", None)


def test_task_postrun_sees_each_run_with_celerys_state(analytics_runs: dict[str, TaskRuns]) -> None:
    under_celery = analytics_runs["celery"].runs
    assert under_celery == {
        "cohort retried twice": ["RETRY", "RETRY", "SUCCESS"],
        "batch past its retries": ["RETRY", "RETRY", "FAILURE"],
        "export retried by hand": ["RETRY", "FAILURE"],
        "usage after one outage": ["RETRY", "SUCCESS"],
        "ignored result": ["SUCCESS"],
    }
    assert analytics_runs["squall"].runs == under_celery


def test_squall_retries_after_the_countdown_celery_announces(analytics_runs: dict[str, TaskRuns]) -> None:
    # given the countdowns Celery asked for: retry_backoff 5 (no jitter), Celery's default_retry_delay (180 s),
    # the task's own default_retry_delay (60 s), retry_backoff 30
    asked = analytics_runs["celery"].countdowns
    assert asked == {
        "cohort retried twice": [5, 10],
        "batch past its retries": [180, 180],
        "export retried by hand": [60],
        "usage after one outage": [30],
        "ignored result": [],
    }
    # then on Squall each run started that long after the one before
    for call, started in analytics_runs["squall"].started.items():
        assert _gaps(started) == asked[call], call


def test_conf_beat_schedule_lists_what_add_periodic_task_added(ported: Path) -> None:
    for root in (None, ported):
        with codebase(root) as load:
            # given the app configured, its on_after_configure receiver having added 6 periodic tasks
            app = load_analytics(load, eager=False)
            # then beat_schedule lists them with the 14 of the settings
            assert "send weekly digest" in app.conf.beat_schedule
            assert len(app.conf.beat_schedule) == 20, root
