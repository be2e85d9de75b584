"""Per-message options (envelope version 2): the ones this SDK understands, and how a set of them is judged.

Every option Squall understands is declared once, in :data:`OPTIONS` (name → check), with
:func:`declare_option`. An option named in an envelope's ``required`` list that this worker does not
understand makes the whole message refused ("this worker does not understand required option 'x'; upgrade
the worker"): an older worker never runs a message without the callback or workflow step it carries. An
unknown option not named there is carried along unread (a retry or a redrive keeps it). Option names are
1-64 characters of ``a-z``, ``0-9`` and ``_``, starting with a letter; an option whose value is ``null``
reads as not given. :mod:`squall.wire.envelope` places options in the envelope; this module owns what they
are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from squall.limits import MAX_RETRIES_CEILING
from squall.wire import codec

#: Option names: short, lower-case identifiers any producer can spell (never the codec's tag key).
MAX_OPTION_NAME_CHARS = 64
_OPTION_NAME = re.compile(f"[a-z][a-z0-9_]{{0,{MAX_OPTION_NAME_CHARS - 1}}}")
#: Required options an unknown-option refusal quotes by name before it counts the rest.
_QUOTED_OPTIONS = 3


@dataclass(frozen=True, slots=True)
class Option:
    """A per-message option this SDK understands: how its value is checked, and whether it is required."""

    name: str
    #: The problem with a value, as a phrase that follows "option '<name>'" ("must be ..., got ..."), or None
    #: when the value is usable. It sees values as the codec reads them (lists, tagged values restored) and,
    #: when encoding, as given (a tuple where a list would be). It should not raise (decoding is total: a check
    #: that raises refuses the value, and says so).
    problem: Callable[[Any], str | None]
    #: Whether the encoder lists the option in ``required``, so that a worker that does not understand it
    #: refuses the message instead of running it without (a callback, a workflow step, an offloaded body).
    required: bool = False


#: Every option this SDK understands, by name: the one place an option is declared (see declare_option).
OPTIONS: dict[str, Option] = {}


def declare_option(name: str, problem: Callable[[Any], str | None], *, required: bool = False) -> Option:
    """Declare a per-message option: its name, its check, and whether older workers must refuse it."""
    if not _OPTION_NAME.fullmatch(name):
        raise ValueError(
            f"option name {name!r} is not usable: give 1-{MAX_OPTION_NAME_CHARS} of a-z, 0-9 and _, starting "
            "with a letter"
        )
    if name in OPTIONS:
        raise ValueError(f"option {name!r} is declared already; an option is declared once")
    option = OPTIONS[name] = Option(name, problem, required)
    return option


def max_retries_problem(value: object) -> str | None:
    """What is wrong with a per-call retry budget (None: usable, or null for the task's own)."""
    if value is None or (codec.is_int(value) and 0 <= value <= MAX_RETRIES_CEILING):
        return None
    return f"must be an integer from 0 to {MAX_RETRIES_CEILING}, got {codec.short_repr(value)}"


declare_option("max_retries", max_retries_problem)


def declared_required(names: Iterable[str]) -> set[str]:
    """Those of ``names`` that their declaration marks required (the encoder lists them in ``required``)."""
    return {name for name in names if name in OPTIONS and OPTIONS[name].required}


def not_understood(names: Iterable[str]) -> list[str]:
    """Those of ``names`` this SDK does not understand, sorted."""
    return sorted(name for name in names if name not in OPTIONS)


def quoted(names: list[str]) -> str:
    """``option 'a'``, or ``options 'a', 'b' and 2 more``: a bounded list of option names for a reason."""
    shown = ", ".join(codec.short_repr(name) for name in names[:_QUOTED_OPTIONS])
    more = len(names) - _QUOTED_OPTIONS
    if len(names) == 1:
        return f"option {shown}"
    return f"options {shown}" + (f" and {more} more" if more > 0 else "")


def option_problems(options: Mapping[str, Any], required: Collection[str]) -> list[str]:
    """What is wrong with ``options`` (names, the values of known ones, nesting) and the ``required`` list."""
    problems = []
    for name, value in options.items():
        if not (isinstance(name, str) and _OPTION_NAME.fullmatch(name)):
            problems.append(
                f"option name {codec.short_repr(name)} is not one: options are named by 1-{MAX_OPTION_NAME_CHARS} "
                "of a-z, 0-9 and _, starting with a letter"
            )
            continue
        option = OPTIONS.get(name)
        if value is not None and option is not None:
            try:
                problem = option.problem(value)
            except Exception as exc:  # a check is extension code: its failure refuses the value, never escapes
                problem = f"could not be checked ({type(exc).__name__}: {str(exc)[:80]})"
            if problem is not None:
                problems.append(f"option {name!r} {problem}")
        if codec.too_deep(value):
            problems.append(f"option {codec.short_repr(name)} is nested too deeply (over {codec.MAX_DEPTH} levels)")
    missing = [name for name in required if name not in options]
    if missing:
        problems.append(f"field 'required' names {quoted(missing)} the envelope does not give")
    return problems
