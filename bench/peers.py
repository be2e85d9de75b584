"""Benchmark 2: the no-op task with a result, side by side with what users would pick instead.

* Celery on its SQS broker (kombu's SQS transport) with its DynamoDB result backend: MEASURED. A real
  ``celery worker`` process runs against a moto server on 127.0.0.1 whose WSGI app counts every request
  (kombu receives with its own asynchronous HTTP client, past any botocore hook, so counting happens at the
  server). The bench process is the producer (``noop.delay(i)``).
* Step Functions Standard, Google Cloud Tasks and Upstash QStash: MODELLED from published prices, with
  the per-task counts of the simplest way to run a task with each, stated in the table.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bench.counting import ServerCounter, counted_moto_server
from bench.report import Table, money, num
from squall.deploy import cost
from squall.local.runtime import environ

ROOT = Path(__file__).resolve().parent.parent
#: Operations that scale with tasks; anything else Celery calls (CreateQueue, DescribeTable...) is setup.
PER_TASK_OPERATIONS = frozenset(
    {
        "SendMessage",
        "SendMessageBatch",
        "ReceiveMessage",
        "DeleteMessage",
        "DeleteMessageBatch",
        "ChangeMessageVisibility",
        "ChangeMessageVisibilityBatch",
        "PutItem",
        "UpdateItem",
        "GetItem",
    }
)
#: Celery's backend reads the stored state before writing a result (so it never overwrites a SUCCESS); its
#: GetItem is eventually consistent: half a read unit for an item up to 4 KB.
CELERY_READ_UNITS_PER_GET = 0.5
#: Longest the bench waits for Celery's worker to store every result, in seconds.
CELERY_TIMEOUT_SECONDS = 120.0


def celery_available() -> str | None:
    """None if Celery and kombu's SQS transport can be imported, else what is missing and how to get it."""
    missing = [name for name in ("celery", "kombu", "pycurl") if not _installed(name)]
    if missing:
        return (
            f"not installed: {', '.join(missing)}. Install the bench extra: "
            ".venv/bin/pip install -e '.[bench]' (celery[sqs] brings kombu's SQS transport and pycurl)"
        )
    return None


def _installed(name: str) -> bool:
    if name in sys.modules:
        return True  # celery replaces some modules with lazy proxies whose __spec__ is None
    return importlib.util.find_spec(name) is not None


@dataclass
class CeleryMeasured:
    """What Celery used for N no-op tasks with results."""

    n: int
    sqs: dict[str, int] = field(default_factory=dict)
    put_items: int = 0
    write_units: int = 0
    get_items: int = 0
    setup_calls: dict[str, int] = field(default_factory=dict)
    prefetch: int = 10
    unavailable: str | None = None

    @property
    def sqs_requests(self) -> int:
        """SQS requests that scale with tasks (idle receives and setup calls left out)."""
        return sum(v for k, v in self.sqs.items() if k not in ("idle_receive", "other"))


def measure_celery(n: int, *, prefetch: int = 10) -> CeleryMeasured:
    """Run ``n`` no-op tasks through Celery's SQS broker and DynamoDB backend on a counted moto server."""
    result = CeleryMeasured(n, prefetch=prefetch)
    result.unavailable = celery_available()
    if result.unavailable:
        return result
    with counted_moto_server() as (endpoint, counter):
        env = {
            **os.environ,
            "SQUALL_BENCH_ENDPOINT": endpoint,
            "SQUALL_BENCH_CELERY_PREFETCH": str(prefetch),
            "SQUALL_BENCH_RUN": uuid.uuid4().hex[:8],
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        env.pop("AWS_ENDPOINT_URL", None)
        with environ(env):
            return _run_celery(result, counter, env)


def _run_celery(result: CeleryMeasured, counter: ServerCounter, env: dict[str, str]) -> CeleryMeasured:
    # Imported here: the module reads the endpoint from the environment when it is first imported.
    sys.modules.pop("bench.celery_app", None)
    from bench import celery_app

    # Every task is sent before the worker starts, as in Squall's scenarios, so that receives can fill up.
    counter.reset()
    for i in range(result.n):
        celery_app.noop.delay(i)
    worker = _start_worker(env)
    try:
        _wait_for_puts(counter, result.n, worker)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    result.sqs = dict(counter.sqs)
    result.put_items = counter.operations[("dynamodb", "PutItem")]
    result.write_units = sum(cost.write_units(0, size) for size in counter.put_sizes)
    result.get_items = counter.operations[("dynamodb", "GetItem")]
    result.setup_calls = {
        f"{service}:{op}": count for (service, op), count in counter.operations.items() if op not in PER_TASK_OPERATIONS
    }
    return result


def _start_worker(env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "bench.celery_app",
        "worker",
        "--pool=solo",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--loglevel=WARNING",
    ]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait_for_puts(counter: ServerCounter, count: int, worker: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + CELERY_TIMEOUT_SECONDS
    while counter.operations[("dynamodb", "PutItem")] < count:
        if worker.poll() is not None:
            stderr = worker.stderr.read().decode("utf-8", "replace") if worker.stderr else ""
            raise RuntimeError(f"the celery worker exited with {worker.returncode}: {stderr[-2000:]}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"celery stored {counter.operations[('dynamodb', 'PutItem')]} of {count} results")
        time.sleep(0.05)


@dataclass(frozen=True)
class Peer:
    """A modelled alternative: its dollars per million no-op tasks and what the figure includes."""

    name: str
    basis: str
    per_million: float
    includes: str


def modelled_peers(prices: cost.PriceTable | None = None) -> list[Peer]:
    """Step Functions Standard, Cloud Tasks and QStash for a no-op task, from published prices."""
    p = prices or cost.load_prices()
    million = 1_000_000
    lam = cost.usage(cost.Workload(batch_size=1, producer_batch=1))
    lambda_each = lam.lambda_invocations * p["lambda_request"].each + lam.lambda_gb_seconds * (
        p["lambda_gb_second_arm64"].each
    )
    # The smallest useful state machine: one Task state that invokes the function and ends, so one state
    # transition per execution; its output is the result, kept with the execution's history.
    sfn_transitions = 1
    sfn = sfn_transitions * p["stepfunctions_standard_transition"].each + lambda_each
    # Cloud Tasks bills every API call and every push delivery attempt, each per 32 KB: CreateTask + 1 push.
    cloud_tasks = 2 * p["cloud_tasks_operation"].each
    qstash = 1 * p["qstash_message"].each
    return [
        Peer(
            "Step Functions Standard",
            f"{sfn_transitions} state transition (one Task state invoking the Lambda) + 1 Lambda invocation "
            f"({cost.DEFAULT_DURATION_MS:g} ms at 128 MB arm64, unbatched)",
            sfn * million,
            "orchestration, the worker's compute, the result (execution output, 90 days)",
        ),
        Peer(
            "Google Cloud Tasks",
            "2 operations: CreateTask + 1 push delivery attempt (each ≤ 32 KB)",
            cloud_tasks * million,
            "the queue only: no result store, no worker compute",
        ),
        Peer(
            "Upstash QStash (pay as you go)",
            "1 message",
            qstash * million,
            "the queue only: no result store, no worker compute",
        ),
    ]


def celery_per_million(m: CeleryMeasured, prices: cost.PriceTable | None = None) -> dict[str, float]:
    """Celery's measured requests and write units at the same list prices (on-demand DynamoDB)."""
    p = prices or cost.load_prices()
    million = 1_000_000
    return {
        "sqs": m.sqs_requests / m.n * million * p["sqs_standard_request"].each,
        "dynamodb": (
            m.write_units * p["dynamodb_write_request_unit"].each
            + m.get_items * CELERY_READ_UNITS_PER_GET * p["dynamodb_read_request_unit"].each
        )
        / m.n
        * million,
    }


def tables(squall_noop: cost.Usage | None, celery: CeleryMeasured) -> list[Table]:
    """Squall, Celery (measured) and the modelled peers for one no-op task with a result."""
    rows: list[list[str]] = []
    if squall_noop is not None:
        squall_cost = cost.price_per_million(squall_noop)
        rows.append(
            [
                "Squall (measured counts)",
                num(squall_noop.sqs_requests),
                num(squall_noop.dynamodb_write_units),
                money(sum(squall_cost.values())),
                "queue, compute (Lambda, assumed 20 ms/task), result store, metrics",
            ]
        )
    if celery.unavailable:
        rows.append(["Celery 5 + SQS + DynamoDB (measured)", "", "", "", f"not measured: {celery.unavailable}"])
    else:
        per_task = {k: v / celery.n for k, v in celery.sqs.items() if k not in ("idle_receive", "other")}
        detail = ", ".join(f"{k} {num(v)}" for k, v in sorted(per_task.items()))
        celery_cost = celery_per_million(celery)
        read_units = celery.get_items * CELERY_READ_UNITS_PER_GET / celery.n
        rows.append(
            [
                "Celery 5 + SQS + DynamoDB (measured)",
                num(celery.sqs_requests / celery.n),
                f"{num(celery.write_units / celery.n)} (+ {num(read_units)} read)",
                money(sum(celery_cost.values())),
                f"queue and result store; NOT the always-on worker servers. SQS per task: {detail}",
            ]
        )
    for peer in modelled_peers():
        rows.append([f"{peer.name} (modelled from published prices)", "", "", money(peer.per_million), peer.includes])
    side = Table(
        "A no-op task with a result, side by side (per task; dollars per million tasks)",
        ["system", "SQS requests", "DynamoDB write units", "$/M tasks", "what the figure covers"],
        rows,
        notes=[
            "Celery: celery " + _version("celery") + ", kombu " + _version("kombu") + f"; solo pool, prefetch "
            f"{celery.prefetch} (so one ReceiveMessage may fetch 10; Celery's default of 4 per process fetches "
            "fewer), acks early (the default: DeleteMessage before the task runs), results in DynamoDB "
            "(a GetItem, eventually consistent, then one PutItem per task), remote control/events/gossip/"
            "mingle/heartbeat off. Counted at the moto server; empty receives (idle polling) excluded, as for Squall.",
            *[f"{peer.name}: {peer.basis}." for peer in modelled_peers()],
            "Prices: squall/prices.json. Free tiers are not applied to anyone.",
        ],
    )
    tables = [side]
    if not celery.unavailable:
        tables.append(
            Table(
                "Celery: every request it made for N tasks (measured at the moto server)",
                ["N", "SQS by kind", "PutItem", "GetItem", "setup calls (not per task)"],
                [
                    [
                        str(celery.n),
                        ", ".join(f"{k} {v}" for k, v in sorted(celery.sqs.items())),
                        str(celery.put_items),
                        str(celery.get_items),
                        ", ".join(f"{k} {v}" for k, v in sorted(celery.setup_calls.items())) or "none",
                    ]
                ],
                notes=[
                    "Setup calls happen once per process (queue lookup, table checks) and are left out of the "
                    "per-task figures. 'idle_receive' are empty long polls while the worker waited.",
                ],
            )
        )
    return tables


def _version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:  # a missing package has no version to show; the table says it was not measured
        return "?"
