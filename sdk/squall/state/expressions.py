"""DynamoDB expressions for the task item: attribute placeholders, typed values, and the conditions.

Each condition of the state machine is named here once; :mod:`squall.state.store` composes them into its writes.
"""

from __future__ import annotations

import functools
from typing import Any

from squall.state.schema import INDEX_PARTITION_ATTRIBUTE, INDEX_SORT_ATTRIBUTE, KEY_ATTRIBUTE, ErrorInfo, index_keys
from squall.states import State

# Placeholders for every attribute name: several (name, state, token, result, error) are reserved words.
NAMES = {
    f"#{n}": n
    for n in [
        "pk",
        "name",
        "queue",
        "state",
        "attempt",
        "max_retries",
        "created_at",
        "eta",
        "started_at",
        "failed_at",
        "next_attempt_at",
        "finished_at",
        "lettered_at",
        "updated_at",
        "lease_until",
        "token",
        "result",
        "error",
        "progress",
        "reason",
        "redrives",
        "expires_at",
        "ix_pk",
        "ix_sk",
    ]
}


@functools.lru_cache(maxsize=256)
def names_in(update: str, condition: str) -> dict[str, str]:
    """The placeholders an expression pair uses; cached, as the worker builds the same few per record."""
    return {k: v for k, v in NAMES.items() if k in update or k in condition}


def set_index(update: str, values: dict[str, Any], task_id: str, state: State, at: float) -> str:
    """Add the index keys for ``state`` to a SET clause (``update`` must not have a REMOVE yet)."""
    keys = index_keys(task_id, state, at)
    values[":ixpk"], values[":ixsk"] = keys[INDEX_PARTITION_ATTRIBUTE], keys[INDEX_SORT_ATTRIBUTE]
    return update + ", #ix_pk = :ixpk, #ix_sk = :ixsk"


def num(value: float) -> dict[str, str]:
    """A DynamoDB number value (floats rounded to microseconds)."""
    if isinstance(value, float):
        # Times and durations: fixed-point formatting is the same text, faster. Below 2**33 doubles are closer
        # together than 1e-6, so each six-decimal value is a distinct double whose shortest repr is that value.
        if 1.0 <= value < 8_589_934_592.0:
            fixed = f"{value:.6f}".rstrip("0")
            return {"N": fixed + "0" if fixed[-1] == "." else fixed}
        return {"N": repr(round(value, 6))}
    return {"N": str(value)}


def text(value: str) -> dict[str, str]:
    """A DynamoDB string value."""
    return {"S": value}


def error_value(error: ErrorInfo) -> dict[str, Any]:
    """A stored error: a map of three strings."""
    return {"M": {"type": text(error.type), "message": text(error.message), "traceback": text(error.traceback)}}


# --- conditions, each named once (their placeholders' values come from STATE_VALUES and the caller) -------

#: No item, or one whose TTL has passed (DynamoDB deletes expired items lazily, up to days later).
ABSENT = "(attribute_not_exists(#pk) OR #expires_at < :now)"
#: A STARTED attempt whose claim lapsed: its worker crashed or timed out.
LAPSED = "(#state = :started AND #lease_until < :now)"
#: A task that may be claimed for an attempt now. A RETRY is claimable once it is due (``:due`` = now plus the
#: worker's ETA tolerance): an earlier copy of its message (a duplicate delivery) waits instead of running early.
CLAIMABLE = (
    "(attribute_not_exists(#pk) OR #state = :pending "
    "OR (#state = :retry AND (attribute_not_exists(#next_attempt_at) OR #next_attempt_at <= :due)) "
    f"OR {LAPSED}) AND (attribute_not_exists(#expires_at) OR #expires_at >= :now)"
)
#: A task nobody is running and that has not finished: it may be revoked, or marked DEAD unclaimed.
NOT_STARTED = f"{ABSENT} OR #state IN (:pending, :retry) OR {LAPSED}"
#: The write belongs to the attempt holding the claim.
OWNED = "#token = :token"
#: The state values every condition above may name.
STATE_VALUES = {f":{state.value.lower()}": {"S": state.value} for state in State}


@functools.lru_cache(maxsize=256)
def state_values_in(update: str, condition: str) -> dict[str, dict[str, str]]:
    """The state values an expression pair names; cached like :func:`names_in` (callers must not change it)."""
    return {k: v for k, v in STATE_VALUES.items() if k in condition or k in update}


#: A long-delayed task recorded PENDING (TaskStore.hold), and every attribute that write names: the producer's IAM
#: policy allows an UpdateItem naming these alone (squall.cdk.policies.hold_task_records).
HOLD = (
    "SET #state = :pending, #name = :name, #queue = :queue, #created_at = :created, #eta = :eta, "
    "#updated_at = :now, #expires_at = :exp"
)
HELD_ATTRIBUTES = (KEY_ATTRIBUTE, *sorted(set(names_in(HOLD, ABSENT).values()) - {KEY_ATTRIBUTE}))
