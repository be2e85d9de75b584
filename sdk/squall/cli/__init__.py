"""The ``squall`` command: operate an app locally or on AWS.

Commands live in submodules of this package, one subject each, and register themselves on :data:`cli`.
User mistakes (bad JSON, an unknown task, no credentials) print one readable line, never a traceback.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING

import click

from squall import __version__, config
from squall.errors import SquallError

if TYPE_CHECKING:
    from squall.app import Squall

#: Submodules that add commands to the group (each imports ``cli`` from here); one per line.
COMMAND_MODULES: tuple[str, ...] = (
    "squall.cli.tasks",
    "squall.cli.dlq",
    "squall.cli.schedules",
    "squall.cli.stats",
    "squall.cli.dev",
    "squall.cli.cost",
    "squall.cli.deploy",
    "squall.cli.migrate",
    "squall.cli.limits",
    "squall.cli.ui",
)


def _late_global(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--app``/``--stage`` given after a subcommand: it overrides what was given before it (or $SQUALL_APP)."""
    if value is not None:
        ref = ctx.find_object(AppRef)
        if ref is not None:  # None only when a command is invoked on its own, outside ``squall``
            setattr(ref, "spec" if param.name == "app_spec" else "stage", value)


def _global_options() -> list[click.Option]:
    """The group's own options, repeated on each subcommand so ``squall send --app tasks:app ...`` works too."""
    return [
        click.Option(
            ["--app", "app_spec"],
            metavar="MODULE:ATTR",
            expose_value=False,
            callback=_late_global,
            help="The Squall app, e.g. 'tasks:app' (as `squall --app`).",
        ),
        click.Option(
            ["--stage"],
            metavar="STAGE",
            expose_value=False,
            callback=_late_global,
            help="The deployment to operate (as `squall --stage`).",
        ),
    ]


class SquallGroup(click.Group):
    """A group whose subcommands (and theirs) also accept the global ``--app`` and ``--stage``.

    A command that declares an option of the same name keeps its own (``squall deploy --app`` has its meaning).
    """

    group_class = type  # subgroups (``squall dlq``) are SquallGroups too, so their commands get the options

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        taken = {opt for param in cmd.params for opt in param.opts}
        cmd.params.extend(option for option in _global_options() if not taken & set(option.opts))
        super().add_command(cmd, name)


@click.group(cls=SquallGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="squall")
@click.option(
    "--app",
    "app_spec",
    envvar="SQUALL_APP",
    metavar="MODULE:ATTR",
    help="The Squall app, e.g. 'tasks:app' (default: $SQUALL_APP).",
)
@click.option(
    "--stage",
    metavar="STAGE",
    help="The deployment to operate, e.g. 'prod' (default: $SQUALL_STAGE, or the app's own).",
)
@click.pass_context
def cli(ctx: click.Context, app_spec: str | None, stage: str | None) -> None:
    """Squall: a serverless task queue for Python on AWS."""
    ctx.obj = AppRef(app_spec, stage)


class AppRef:
    """The app named on the command line, imported on first use, at the stage named there if one is."""

    def __init__(self, spec: str | None, stage: str | None = None) -> None:
        self.spec = spec
        self.stage = stage
        self._app: Squall | None = None

    def get(self) -> Squall:
        """Import and return the app, or fail with one line (after the traceback of an error in the module itself)."""
        if self._app is None:
            if not self.spec or ":" not in self.spec:
                raise click.UsageError("name your app with --app MODULE:ATTR (or set SQUALL_APP), e.g. --app tasks:app")
            from squall.app import load_app
            from squall.cli._appimport import import_app_module

            if "" not in sys.path:
                sys.path.insert(0, "")  # the app's module is usually in the working directory
            import_app_module(self.spec)  # the user's own error at import, shown with their frames only
            app = load_app(self.spec)
            if self.stage is not None:
                # Before anything reads the app's settings, which are resolved for its stage on first use.
                app.stage = config.check_stage(self.stage)
            self._app = app
        return self._app


def main() -> None:
    """Entry point of the ``squall`` console script."""
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except SquallError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
