"""DynamoDB item sizes and the write units they cost (Amazon DynamoDB Developer Guide, "Item sizes and formats").

The cost model (:mod:`squall.deploy.cost`, which re-exports these) and the benchmarks count write units with them.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from squall import limits


def attribute_value_bytes(value: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value in the low-level typed format ({"S": ...})."""
    (kind, data), *_ = value.items()
    if kind == "S":
        return len(str(data).encode("utf-8"))
    if kind == "N":
        return number_bytes(str(data))
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode("utf-8")) for s in data)
    if kind == "NS":
        return sum(number_bytes(n) for n in data)
    if kind == "BS":
        return sum(len(b) for b in data)
    if kind == "L":
        return 3 + sum(1 + attribute_value_bytes(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + attribute_value_bytes(v) for k, v in data.items())
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def number_bytes(text: str) -> int:
    """A number's size: one byte per two significant digits, plus one."""
    digits = Decimal(text).normalize().as_tuple().digits
    significant = len("".join(map(str, digits)).strip("0")) or 1
    return math.ceil(significant / 2) + 1


def item_bytes(item: dict[str, dict[str, Any]] | None) -> int:
    """An item's size: each attribute's name (UTF-8) plus its value."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + attribute_value_bytes(value) for name, value in item.items())


def write_units(before: int, after: int) -> int:
    """Write units of one write: 1 per started KB of the larger of the item before and after (minimum 1).

    A conditional write that fails is charged the same way, on the item as it stands.
    """
    return max(1, math.ceil(max(before, after) / limits.DYNAMODB_WRITE_UNIT_BYTES))
