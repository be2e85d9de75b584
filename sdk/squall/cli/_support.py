"""What every command shares: errors as one line, ``--json``, rich output, times and durations."""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, ParamSpec, TypeVar

import click
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)
from rich.console import Console

from squall import clock
from squall.errors import SquallError

if TYPE_CHECKING:
    from squall.app import Squall
    from squall.cli import AppRef

P = ParamSpec("P")
R = TypeVar("R")

#: AWS error codes that mean "your credentials", with what to do.
_CREDENTIAL_CODES = {"ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"}


class CliError(click.ClickException):
    """A user-facing failure: printed as one ``error: ...`` line on stderr, exit status 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)


class Exit(click.ClickException):
    """End a command with a status other than 0 or 1 after printing ``message`` (if any) on stderr."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code  # type: ignore[misc]  # click declares it on the class; per instance is fine

    def show(self, file: IO[Any] | None = None) -> None:
        if self.message:
            click.echo(self.message, err=True, file=file)


def suggest(*words: str) -> str:
    """A ``squall`` command to suggest in a message, naming the app (and stage) this one runs with.

    ``suggest("status", task_id)`` is ``squall --app tasks:app status 0b1c...``: pasted as is, it works.
    """
    from squall.cli import AppRef

    ctx = click.get_current_context(silent=True)
    ref = ctx.find_object(AppRef) if ctx is not None else None
    spec = ref.spec if ref is not None and ref.spec else "MODULE:ATTR"
    stage = ["--stage", ref.stage] if ref is not None and ref.stage else []
    return shlex.join(["squall", "--app", spec, *stage, *words])


#: A ``squall COMMAND`` suggested in a message from below the CLI, without ``--app`` (which it cannot know).
_BARE_SUGGESTION = re.compile(r"`squall (?!--app )([^`]*)`")


def with_app(message: str) -> str:
    """``message`` with each `squall ...` command it suggests naming the app, as :func:`suggest` does."""
    return _BARE_SUGGESTION.sub(lambda m: f"`{suggest()} {m.group(1)}`", message)


def translate(exc: BaseException) -> CliError | None:
    """The one-line error for a mistake or an environment problem, or None for a bug (keep its traceback)."""
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CliError(
            "no AWS credentials found: for a deployed stack configure them (aws configure, AWS_PROFILE); for the "
            f"dev server export the lines `{suggest('dev')}` printed"
        )
    if isinstance(exc, NoRegionError):
        return CliError(
            f"no AWS region set: export AWS_REGION (the stack's region, or the one `{suggest('dev')}` printed)"
        )
    if isinstance(exc, EndpointConnectionError):
        return CliError(
            f"cannot reach {exc.kwargs.get('endpoint_url')}: if AWS_ENDPOINT_URL points at `{suggest('dev')}`, is it "
            "still running? Unset AWS_ENDPOINT_URL to use AWS itself"
        )
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "?"), error.get("Message", "")
        operation = getattr(exc, "operation_name", "a request")
        hint = ""
        if code in _CREDENTIAL_CODES:
            hint = "; refresh your AWS credentials (aws sso login, or new keys)"
        elif code in {"AccessDenied", "AccessDeniedException"}:
            hint = "; your credentials lack this permission (the stack's producer policy grants the SDK's calls)"
        return CliError(f"AWS refused {operation}: {code}: {message}{hint}")
    if isinstance(exc, SquallError):
        return CliError(with_app(str(exc)))
    return None


def friendly(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn user mistakes and environment problems raised by a command into one readable line."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except click.ClickException:
            raise
        except Exception as exc:
            error = translate(exc)
            if error is None:
                raise
            raise error from exc

    return wrapper


def json_option(fn: Callable[P, R]) -> Callable[P, R]:
    """The ``--json`` flag of every read command: machine-readable output on stdout instead of tables."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(fn)


def the_app(ref: AppRef) -> Squall:
    """The ``--app`` app."""
    return ref.get()


def out() -> Console:
    """Rich console on stdout. Piped, rows are never wrapped or cut (``grep`` and ``awk`` see whole lines)."""
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS", "0")) or 10_000
    return Console(width=width, highlight=False)


def err() -> Console:
    """Rich console on stderr (progress, notes), so stdout stays clean for scripts."""
    return Console(stderr=True, highlight=False)


def emit_json(value: Any) -> None:
    """Print ``value`` as indented JSON."""
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def parse_json(text: str | None, what: str, kind: type[list[Any]] | type[dict[str, Any]]) -> Any:
    """A JSON option's value, checked to be a list or an object; BadParameter otherwise."""
    if text is None:
        return kind()
    shape, example = ("array", '[2, "a"]') if kind is list else ("object", '{"key": 1}')
    try:
        value = json.loads(text)
    except ValueError as exc:
        problem = f"not valid JSON ({exc}); give a JSON {shape}, e.g. '{example}'"
        raise click.BadParameter(problem, param_hint=what) from None
    if not isinstance(value, kind):
        raise click.BadParameter(f"must be a JSON {shape}, e.g. '{example}'; got {text!r}", param_hint=what)
    return value


def utc(epoch: float | None) -> str:
    """``2026-11-23 09:00:01`` (UTC) or ``-``."""
    return "-" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def iso(epoch: float | None) -> str | None:
    """ISO 8601 UTC, for JSON output."""
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).isoformat().replace("+00:00", "Z")


def age(epoch: float | None, now: float | None = None) -> str:
    """How long ago, compactly: ``42s``, ``7m``, ``3h``, ``2d``."""
    if epoch is None:
        return "-"
    seconds = max(0.0, (clock.now() if now is None else now) - epoch)
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:.0f}s"


STATE_STYLES = {
    "PENDING": "dim",
    "STARTED": "cyan",
    "SUCCESS": "green",
    "FAILURE": "red",
    "RETRY": "yellow",
    "DEAD": "bold red",
    "REVOKED": "magenta",
}


def styled_state(state: str, width: int = 0) -> str:
    """A state with its colour, as rich markup, padded to ``width`` characters."""
    return f"[{STATE_STYLES.get(state, '')}]{state:<{width}}[/]"


def resolve_task_name(app: Squall, name: str) -> str:
    """A registered task's full name from its full name or a unique last part (``charge`` for ``shop.charge``)."""
    if name in app.tasks:
        return name
    matches = [full for full in app.tasks if full.endswith("." + name)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise CliError(f"task name {name!r} is ambiguous: it could be {', '.join(sorted(matches))}")
    app.get_task(name)  # raises TaskNotRegistered, listing the registered tasks
    return name
