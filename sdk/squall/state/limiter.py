"""The limiter's items: one per task and flow key for a rate, one for concurrency, one per task for overrides.

Items live in the task table beside the tasks, under their own key prefixes:

=============================  ==================================================================
key (``pk``)                   attributes
=============================  ==================================================================
``limit#rate#<task>#<key>``    ``tat`` (N): the rate's theoretical arrival time (GCRA, below)
``limit#conc#<task>#<key>``    ``n`` (N): slots held; ``h_<token>`` (N): each holder's lease end
``limit#config#<task>``        ``rate`` (S), ``burst`` (N), ``concurrency`` (N): runtime overrides;
                               ``paused`` (BOOL): the whole task is paused
=============================  ==================================================================

Rate and concurrency items may also hold ``paused`` (BOOL): while it is there, every delivery of that task and
key is deferred (the condition of every admission checks it, so it holds at once). Each carries ``expires_at``
(the table's TTL, a week after its last use) so that the state of a key nobody uses goes away; a paused key's
item has none, and the config item never has one.

A concurrency item keeps its holders as top-level attributes (``h_<token>``), not a nested map: UpdateItem cannot
set a path inside a map that is not there yet, so a map would need a second write to create it.

**The rate is a GCRA** (the generic cell rate algorithm: a token bucket that stores one number). With emission
interval ``T`` (``per / count``) and burst ``b``, a request at ``now`` is given the slot ``tat' - b*T`` where
``tat' = max(tat, now) + T``, and ``tat`` becomes ``tat'``; in any window of ``W`` seconds at most ``b + W/T``
slots start, and with ``b = 1`` consecutive slots are at least ``T`` apart. Each admission is one conditional
UpdateItem: its condition is the ``tat`` the caller last saw (``tat = :known``), or, when that is past, any past
``tat`` (``tat <= :now``); a failed condition returns the item (``ReturnValuesOnConditionCheckFailure``), so a
caller that lost a race learns the real ``tat`` without a read, and tries again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from squall.state.schema import KEY_ATTRIBUTE, TTL_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

_CONDITION_FAILED = "ConditionalCheckFailedException"
#: Prefix of the limiter's items.
PREFIX = "limit#"
#: Prefix of a concurrency item's holder attributes.
HOLDER = "h_"
#: The attributes of a task's config item that override its declared limits.
OVERRIDES = ("rate", "burst", "concurrency")
#: Seconds a limiter item outlives its last use (the TTL), so that a key nobody uses goes away.
IDLE_TTL_SECONDS = 7 * 86400


def rate_key(task: str, key: str) -> str:
    return f"{PREFIX}rate#{task}#{key}"


def concurrency_key(task: str, key: str) -> str:
    return f"{PREFIX}conc#{task}#{key}"


def config_key(task: str) -> str:
    return f"{PREFIX}config#{task}"


def _num(value: float) -> dict[str, str]:
    return {"N": repr(float(value)) if isinstance(value, float) else str(value)}


def _read_num(item: Mapping[str, Any], name: str) -> float | None:
    value = item.get(name)
    return float(value["N"]) if value is not None and "N" in value else None


def next_slot(tat: float | None, now: float, *, interval: float, burst: int) -> float:
    """When a request at ``now`` may start, given the key's ``tat`` (GCRA): ``max(tat, now) + T - b*T``, or now."""
    base = now if tat is None or tat <= now else tat
    return max(now, base + interval - burst * interval)


@dataclass(frozen=True, slots=True)
class Reservation:
    """What a rate admission got: a slot starting at ``start`` (written), or nothing (``start`` None).

    ``tat`` is the item's theoretical arrival time as last seen; ``paused`` whether the key is paused; ``later``
    is set (to the slot's start) when nothing was written because the slot is beyond the horizon.
    """

    start: float | None
    tat: float | None
    paused: bool = False
    later: float | None = None


@dataclass(frozen=True, slots=True)
class Slot:
    """What a concurrency acquisition got (``held``), the earliest lease among the holders, and whether the
    key is paused."""

    held: bool
    earliest: float | None = None
    paused: bool = False
    #: Holders whose lease had ended, with that lease: their slots can be taken back.
    lapsed: tuple[tuple[str, float], ...] = ()


class LimiterItems:
    """Conditional writes of the limiter's items (each one UpdateItem; failed conditions return the item)."""

    def __init__(self, client: Callable[[], DynamoDBClient], table: str) -> None:
        self._client, self._table = client, table

    def _update(
        self, pk: str, update: str, condition: str | None, names: dict[str, str], values: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Run one UpdateItem; None when written, else the item as it was (empty if absent)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "Key": {KEY_ATTRIBUTE: {"S": pk}},
            "UpdateExpression": update,
            "ExpressionAttributeNames": names,
        }
        if values:
            request["ExpressionAttributeValues"] = values
        if condition is not None:
            request["ConditionExpression"] = condition
            request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        try:
            self._client().update_item(**request)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != _CONDITION_FAILED:
                raise
            item: dict[str, Any] = exc.response.get("Item") or {}  # type: ignore[assignment]
            return dict(item)
        return None

    # --- rate -------------------------------------------------------------------------------------------------

    def reserve(
        self, task: str, key: str, *, interval: float, burst: int, now: float, known: float | None, horizon: float
    ) -> Reservation:
        """Reserve the next slot if it starts within ``horizon`` seconds of ``now``; one conditional write.

        ``known`` is the ``tat`` the caller last saw (None: it assumes the key idle). Returns the slot's start;
        or, without writing, when the slot is further than ``horizon`` away, when it starts (``later``); or,
        when the condition failed, the ``tat`` now known (None if the item has none): try again with it.
        """
        base = now if known is None or known <= now else known
        new_tat = base + interval
        start = next_slot(known, now, interval=interval, burst=burst)
        if start - now > horizon:
            return Reservation(None, known, later=start)
        names = {"#tat": "tat", "#exp": TTL_ATTRIBUTE, "#paused": "paused"}
        values = {":new": _num(new_tat), ":exp": _num(int(new_tat) + IDLE_TTL_SECONDS)}
        if base == now:
            condition = "(attribute_not_exists(#tat) OR #tat <= :now) AND attribute_not_exists(#paused)"
            values[":now"] = _num(now)
        else:
            condition = "#tat = :known AND attribute_not_exists(#paused)"
            values[":known"] = _num(known if known is not None else now)
        old = self._update(rate_key(task, key), "SET #tat = :new, #exp = :exp", condition, names, values)
        if old is None:
            return Reservation(start, new_tat)
        return Reservation(None, _read_num(old, "tat"), paused="paused" in old)

    # --- concurrency ------------------------------------------------------------------------------------------

    def acquire(self, task: str, key: str, *, token: str, limit: int, lease_until: float, now: float) -> Slot:
        """Take a slot for ``token`` (held until ``lease_until`` unless released) if fewer than ``limit`` are held."""
        names = {"#n": "n", "#h": HOLDER + token, "#exp": TTL_ATTRIBUTE, "#paused": "paused"}
        values = {
            ":one": _num(1),
            ":limit": _num(limit),
            ":lease": _num(lease_until),
            ":exp": _num(int(lease_until) + IDLE_TTL_SECONDS),
        }
        old = self._update(
            concurrency_key(task, key),
            "SET #h = :lease, #exp = :exp ADD #n :one",
            "(attribute_not_exists(#n) OR #n < :limit) AND attribute_not_exists(#paused)",
            names,
            values,
        )
        if old is None:
            return Slot(True)
        leases = {name[len(HOLDER) :]: float(v["N"]) for name, v in old.items() if name.startswith(HOLDER)}
        lapsed = tuple((holder, lease) for holder, lease in leases.items() if lease <= now)
        return Slot(False, min(leases.values(), default=None), "paused" in old, lapsed)

    def release(self, task: str, key: str, *, token: str, lease: float | None = None) -> bool:
        """Give back ``token``'s slot (with ``lease``: only if it still has that lease); whether it was held."""
        names = {"#n": "n", "#h": HOLDER + token}
        values: dict[str, Any] = {":minus": _num(-1)}
        condition = "attribute_exists(#h)"
        if lease is not None:
            condition = "#h = :lease"
            values[":lease"] = _num(lease)
        return self._update(concurrency_key(task, key), "REMOVE #h ADD #n :minus", condition, names, values) is None

    # --- pause and overrides ----------------------------------------------------------------------------------

    def set_paused(self, pk: str, paused: bool, *, now: float | None = None) -> None:
        """Pause (or resume) item ``pk``: a rate or concurrency key (give ``now``), or a task's config item.

        A paused key's item loses its TTL, so that a pause outlasts any idle spell; resuming gives it back.
        """
        names = {"#paused": "paused"}
        values: dict[str, Any] = {}
        keyed = now is not None
        if keyed:
            names["#exp"] = TTL_ATTRIBUTE
        if paused:
            update = "SET #paused = :true" + (" REMOVE #exp" if keyed else "")
            values[":true"] = {"BOOL": True}
        else:
            update = ("SET #exp = :exp " if keyed else "") + "REMOVE #paused"
            if now is not None:
                values[":exp"] = _num(int(now) + IDLE_TTL_SECONDS)
        self._update(pk, update, None, names, values)

    def get(self, pk: str, *, consistent: bool = False) -> dict[str, Any]:
        """Item ``pk`` as stored (empty when absent)."""
        response = self._client().get_item(
            TableName=self._table, Key={KEY_ATTRIBUTE: {"S": pk}}, ConsistentRead=consistent
        )
        return dict(response.get("Item") or {})

    def set_config(self, task: str, *, rate: str | None, burst: int | None, concurrency: int | None) -> None:
        """Override ``task``'s limits: those given (None leaves that one as it is); one UpdateItem, no read."""
        given: dict[str, dict[str, str]] = {}
        if rate is not None:
            given["rate"] = {"S": rate}
        if burst is not None:
            given["burst"] = _num(burst)
        if concurrency is not None:
            given["concurrency"] = _num(concurrency)
        update = "SET " + ", ".join(f"#{name} = :{name}" for name in given)
        names = {f"#{name}": name for name in given}
        self._update(config_key(task), update, None, names, {f":{name}": v for name, v in given.items()})

    def clear_config(self, task: str) -> None:
        """Drop ``task``'s overrides (a task-wide pause stays): its declared limits apply again."""
        names = {f"#{name}": name for name in OVERRIDES}
        self._update(config_key(task), "REMOVE " + ", ".join(names), None, names, {})

    def keys_of(self, task: str) -> list[str]:
        """The limiter item keys of ``task`` (a scan with a key prefix: an operator's read, never the worker's)."""
        found: list[str] = []
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(#pk, :rate) OR begins_with(#pk, :conc)",
            "ExpressionAttributeNames": {"#pk": KEY_ATTRIBUTE},
            "ExpressionAttributeValues": {
                ":rate": {"S": rate_key(task, "")},
                ":conc": {"S": concurrency_key(task, "")},
            },
            "ProjectionExpression": "#pk",
        }
        while True:
            page = self._client().scan(**request)
            found += [item[KEY_ATTRIBUTE]["S"] for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return sorted(found)
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
