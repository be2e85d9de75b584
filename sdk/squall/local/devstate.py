"""What ``squall dev --state DIR`` keeps across restarts: a JSON snapshot of what moto holds for the app.

moto keeps everything in memory. The dev server writes this snapshot when it stops cleanly (Ctrl-C, SIGTERM,
and before each ``--reload``) and reads it when it starts, after provisioning the app's resources afresh:

* DynamoDB: every item of every table (task records, results, workflow state), in DynamoDB JSON;
* SQS: every message of every queue (source queues, dead-letter queues, the intake): body, attributes, receive
  count, sent time (so retention still counts from the first send), and how much of its delay or visibility
  timeout remained (those resume where they stopped: the time the server was stopped does not count);
* EventBridge Scheduler: every schedule of the app's group as GetSchedule returned it, with its CreationDate
  (a rate keeps its phase) and paused ones paused; firings that fell due while stopped are sent, late but in
  order, at start (as the local scheduler sends firings it was late for);
* S3: the objects of every bucket (offloaded arguments and results).

JSON only (binary values in base64): the file is data, nothing in it is imported or run. A snapshot of
another format version is refused with one line. Where the API cannot set a value (a message's receive
count and hidden time, a schedule's CreationDate or a StartDate in the past), the backend is written
directly, in the functions at the end of this module.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from squall import clock, limits
from squall.errors import ConfigurationError
from squall.local.motoshim import ACCOUNT_ID
from squall.scheduler.schedules import REQUEST_FIELDS
from squall.scheduler.scheduling import PERIODIC_PREFIX

if TYPE_CHECKING:
    from squall.local.runtime import Runtime

#: The snapshot's format; a file of another one is refused rather than half read.
FORMAT = 1
#: The snapshot's file name inside the state directory.
FILE_NAME = "squall-dev-state.json"


@dataclass(frozen=True, slots=True)
class Counts:
    """How much a snapshot held."""

    items: int
    messages: int
    schedules: int
    objects: int

    def __str__(self) -> str:
        return (
            f"{self.items} item(s), {self.messages} message(s), {self.schedules} schedule(s), "
            f"{self.objects} stored object(s)"
        )


def snapshot_path(directory: Path) -> Path:
    """Where the snapshot of ``directory`` is."""
    return directory / FILE_NAME


def save(rt: Runtime, directory: Path) -> Counts:
    """Write what moto holds for ``rt``'s app to ``directory`` (atomically: a crash leaves the last snapshot)."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "app": rt.settings.app,
        "saved_at": clock.now(),
        "tables": _dump_tables(rt),
        "queues": _dump_queues(rt),
        "schedules": _dump_schedules(rt),
        "buckets": _dump_buckets(rt),
    }
    directory.mkdir(parents=True, exist_ok=True)
    target = snapshot_path(directory)
    scratch = target.with_suffix(".tmp")
    scratch.write_text(json.dumps(doc, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(scratch, target)
    return _counts(doc)


def restore(rt: Runtime, directory: Path) -> Counts | None:
    """Put the snapshot in ``directory`` back into moto; None if there is none yet."""
    path = snapshot_path(directory)
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"{path} cannot be read as a squall dev snapshot ({exc}): move it away") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise ConfigurationError(f"{path} is snapshot format {found!r}, not {FORMAT}: move it away to start afresh")
    if doc.get("app") != rt.settings.app:
        raise ConfigurationError(
            f"{path} holds app {doc.get('app')!r}, not {rt.settings.app!r}: give this app a --state of its own"
        )
    _load_tables(rt, doc["tables"])
    _load_queues(rt, doc["queues"])
    _load_schedules(rt, doc["schedules"], float(doc["saved_at"]))
    _load_buckets(rt, doc["buckets"])
    return _counts(doc)


def _counts(doc: dict[str, Any]) -> Counts:
    return Counts(
        items=sum(len(items) for items in doc["tables"].values()),
        messages=sum(len(messages) for messages in doc["queues"].values()),
        schedules=len(doc["schedules"]),
        objects=sum(len(objects) for objects in doc["buckets"].values()),
    )


def _client(rt: Runtime, service: str) -> Any:
    session: Any = rt.session  # one helper for four services: the typed overloads want a literal name each
    return session.client(service, region_name=rt.settings.region, endpoint_url=rt.environment.get("AWS_ENDPOINT_URL"))


# --- DynamoDB: items in DynamoDB JSON, binary values (B, BS) in base64 --------------------------------------


def _to_json(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {key: _to_json(item) for key, item in value.items()}
    if isinstance(value, list | set | tuple):
        return [_to_json(item) for item in value]
    return value


def _from_json(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"base64"}:
            return base64.b64decode(value["base64"])
        return {key: _from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_from_json(item) for item in value]
    return value


def _dump_tables(rt: Runtime) -> dict[str, list[Any]]:
    dynamodb = _client(rt, "dynamodb")
    tables: dict[str, list[Any]] = {}
    for page in dynamodb.get_paginator("list_tables").paginate():
        for name in page.get("TableNames", []):
            items = [item for scan in dynamodb.get_paginator("scan").paginate(TableName=name) for item in scan["Items"]]
            tables[name] = [_to_json(item) for item in items]
    return tables


def _load_tables(rt: Runtime, tables: dict[str, list[Any]]) -> None:
    dynamodb = _client(rt, "dynamodb")
    present = {name for page in dynamodb.get_paginator("list_tables").paginate() for name in page["TableNames"]}
    for name, items in tables.items():
        if name not in present:
            continue  # a table the app no longer declares
        size = limits.DYNAMODB_BATCH_WRITE_ITEMS
        for first in range(0, len(items), size):
            batch = [{"PutRequest": {"Item": _from_json(item)}} for item in items[first : first + size]]
            requests: dict[str, Any] = {name: batch}
            while requests:  # what DynamoDB could not take this time comes back as UnprocessedItems
                requests = dynamodb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}


# --- SQS ----------------------------------------------------------------------------------------------------


def _dump_queues(rt: Runtime) -> dict[str, list[dict[str, Any]]]:
    now_ms = clock.now() * 1000.0
    queues: dict[str, list[dict[str, Any]]] = {}
    for name, queue in _moto_queues(rt.settings.region).items():
        queues[name] = [
            {
                "body": message.body,
                "attributes": _to_json(message.message_attributes or {}),
                "system_attributes": _to_json(message.system_attributes or {}),
                "group_id": message.group_id,
                "deduplication_id": message.deduplication_id,
                "sent_timestamp": message.sent_timestamp,
                "first_receive_timestamp": message.approximate_first_receive_timestamp,
                "receive_count": message.approximate_receive_count,
                "hidden_ms": max(0.0, float(message.visible_at) - now_ms),
                "delayed_ms": max(0.0, float(message.delayed_until) - now_ms),
            }
            for message in list(queue._messages)
        ]
    return queues


def _load_queues(rt: Runtime, queues: dict[str, list[dict[str, Any]]]) -> None:
    sqs = _client(rt, "sqs")
    held = _moto_queues(rt.settings.region)
    for name, messages in queues.items():
        if name not in held or not messages:
            continue  # a queue the app no longer declares: its messages have nowhere to go
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        for saved in messages:
            request: dict[str, Any] = {"QueueUrl": url, "MessageBody": saved["body"]}
            if saved["group_id"] is not None:
                request["MessageGroupId"] = saved["group_id"]
                request["MessageDeduplicationId"] = saved["deduplication_id"] or os.urandom(16).hex()
            message_id = sqs.send_message(**request)["MessageId"]
            _moto_set_message(held[name], message_id, saved)


# --- EventBridge Scheduler ----------------------------------------------------------------------------------


def _epoch(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


def _dump_schedules(rt: Runtime) -> list[dict[str, Any]]:
    scheduler, group = _client(rt, "scheduler"), rt.settings.schedule_group
    if not group:
        return []
    saved = []
    for page in scheduler.get_paginator("list_schedules").paginate(GroupName=group):
        for item in page.get("Schedules", []):
            doc = scheduler.get_schedule(Name=item["Name"], GroupName=group)
            saved.append(
                {
                    "request": {key: doc[key] for key in (*REQUEST_FIELDS, "State") if doc.get(key) is not None},
                    "created": _epoch(doc.get("CreationDate")),
                    "start": _epoch(doc.get("StartDate")),
                    "end": _epoch(doc.get("EndDate")),
                }
            )
    return saved


def _load_schedules(rt: Runtime, schedules: list[dict[str, Any]], saved_at: float) -> None:
    scheduler = _client(rt, "scheduler")
    existing = {
        item["Name"]
        for page in scheduler.get_paginator("list_schedules").paginate(GroupName=rt.settings.schedule_group)
        for item in page.get("Schedules", [])
    }
    for saved in schedules:
        request = dict(saved["request"])
        if request["Name"] in existing or request["Name"].startswith(PERIODIC_PREFIX):
            # A periodic schedule is the code's: provisioned from it again, or gone with it. The same expression
            # keeps its phase (its first CreationDate); a changed one starts afresh, as a deploy would.
            if request["Name"] in existing:
                current = scheduler.get_schedule(Name=request["Name"], GroupName=request["GroupName"])
                if current["ScheduleExpression"] == request["ScheduleExpression"]:
                    _moto_set_schedule(rt.settings.region, request["GroupName"], request["Name"], saved)
            continue
        scheduler.create_schedule(**request)
        _moto_set_schedule(rt.settings.region, request["GroupName"], request["Name"], saved)
    if rt.scheduler is not None:
        rt.scheduler.resume_from(saved_at)  # firings up to the stop were made then; later ones are still due


# --- S3 -----------------------------------------------------------------------------------------------------


def _dump_buckets(rt: Runtime) -> dict[str, list[dict[str, Any]]]:
    s3 = _client(rt, "s3")
    buckets: dict[str, list[dict[str, Any]]] = {}
    for bucket in s3.list_buckets().get("Buckets", []):
        name, objects = bucket["Name"], []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
            for entry in page.get("Contents", []):
                body = s3.get_object(Bucket=name, Key=entry["Key"])["Body"].read()
                objects.append({"key": entry["Key"], "body": base64.b64encode(body).decode("ascii")})
        buckets[name] = objects
    return buckets


def _load_buckets(rt: Runtime, buckets: dict[str, list[dict[str, Any]]]) -> None:
    s3 = _client(rt, "s3")
    present = {bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])}
    for name, objects in buckets.items():
        if name not in present:
            continue
        for saved in objects:
            s3.put_object(Bucket=name, Key=saved["key"], Body=base64.b64decode(saved["body"]))


# --- moto's backends: what the API cannot set (moto is pinned; re-check these on upgrade, as motoshim's) -----


def _moto_queues(region: str) -> dict[str, Any]:
    from moto.sqs.models import sqs_backends

    return dict(sqs_backends[ACCOUNT_ID][region].queues)


def _moto_set_message(queue: Any, message_id: str, saved: dict[str, Any]) -> None:
    """Give the message just sent its saved attributes, counts and remaining hidden time."""
    now_ms = clock.now() * 1000.0
    for message in queue._messages:
        if message.id == message_id:
            message.message_attributes = _from_json(saved["attributes"])
            message.system_attributes = _from_json(saved["system_attributes"])
            message.sent_timestamp = saved["sent_timestamp"]
            message.approximate_first_receive_timestamp = saved["first_receive_timestamp"]
            message.approximate_receive_count = saved["receive_count"]
            message.visible_at = now_ms + saved["hidden_ms"] if saved["hidden_ms"] else 0.0
            message.delayed_until = now_ms + saved["delayed_ms"] if saved["delayed_ms"] else 0.0
            return


def _moto_set_schedule(region: str, group: str, name: str, saved: dict[str, Any]) -> None:
    """Give the schedule its saved CreationDate, StartDate and EndDate (a StartDate may now be in the past)."""
    from moto.scheduler.models import scheduler_backends

    schedule = scheduler_backends[ACCOUNT_ID][region].get_schedule(group_name=group, name=name)
    if saved["created"] is not None:
        schedule.creation_date = saved["created"]
    schedule.start_date = saved["start"]
    schedule.end_date = saved["end"]
