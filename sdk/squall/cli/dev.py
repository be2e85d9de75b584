"""``squall dev``: the local development server (moto on 127.0.0.1, the real worker, the wall clock)."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from squall import limits
from squall.cli import AppRef, cli
from squall.cli._support import CliError, err, friendly, out, styled_state, translate

if TYPE_CHECKING:
    from squall.local.devserver import Transition
    from squall.local.runtime import Runtime

#: What ``--api-port`` and ``--ui-port`` are by default: the ports after ``--port`` (any free one if it is 0).
_API_OFFSET, _UI_OFFSET = 1, 2
_LAST_PORT = 65535


def _require_local_extra() -> None:
    """One line naming the extra to install if the dev server's libraries are missing (the CLI works without them)."""
    try:
        import moto.server  # noqa: F401  # the runtime imports moto only once serving: check it before anything

        import squall.local.devserver  # noqa: F401  # the API's and the dashboard's libraries (Powertools, Flask)
    except ImportError as exc:
        missing = exc.name or "a module it needs"
        problem = f"squall dev needs the local extra ({missing} is not installed): pip install 'squall[local]'"
        raise CliError(problem) from None


def _port_after(port: int, given: int | None, offset: int) -> int:
    if given is not None:
        return given
    return 0 if port == 0 or port + offset > _LAST_PORT else port + offset


def _print_env(ref: AppRef, port: int, api_port: int, ui_port: int) -> None:
    """The ``export`` lines for ``eval "$(squall dev --env)"``, and where the API and dashboard are, as comments."""
    from squall.local.devserver import client_environment, listening

    if port == 0:
        raise CliError("squall dev --env needs the dev server's own port: give the --port it was started with")
    for name, value in client_environment(port, app_spec=ref.spec, stage=ref.stage).items():
        click.echo(f"export {name}={value}")
    if api_port:
        click.echo(f"# REST API: http://127.0.0.1:{api_port}/v1 (its token is the one squall dev printed)")
    if ui_port:
        click.echo(f"# dashboard: http://127.0.0.1:{ui_port}/")
    if not listening(port):
        start = "squall dev" if port == limits.DEV_PORT else f"squall dev --port {port}"
        click.echo(f"no squall dev is listening on 127.0.0.1:{port} yet: start it with `{start}`", err=True)


@cli.command(short_help="Serve the app locally on 127.0.0.1.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=limits.DEV_PORT,
    show_default=True,
    help="Port of the AWS endpoint on 127.0.0.1 (0: a free one); the API and dashboard take the next two.",
)
@click.option("--quiet", is_flag=True, help="Do not print task state changes.")
@click.option(
    "--allow-private-targets",
    is_flag=True,
    help="Let HTTP targets call private addresses such as 127.0.0.1 (still only http and https).",
)
@click.option("--api-port", type=click.IntRange(0, 65535), default=None, help="REST API port (default: --port + 1).")
@click.option("--ui-port", type=click.IntRange(0, 65535), default=None, help="Dashboard port (default: --port + 2).")
@click.option(
    "--env",
    "print_env",
    is_flag=True,
    help='Print the export lines a second shell needs, then exit: eval "$(squall dev --env)".',
)
@click.option("--reload", is_flag=True, help="Restart when the app's code changes (the tasks and queues are kept).")
@click.option(
    "--state",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep tasks, results, messages and schedules in this directory across restarts (default: not kept).",
)
@click.pass_obj
@friendly
def dev(
    ref: AppRef,
    port: int,
    quiet: bool,
    allow_private_targets: bool,
    api_port: int | None,
    ui_port: int | None,
    print_env: bool,
    reload: bool,
    state: Path | None,
) -> None:
    """Run the app locally: AWS emulated on 127.0.0.1, the worker polling, schedules firing. Ctrl-C stops."""
    api, ui = _port_after(port, api_port, _API_OFFSET), _port_after(port, ui_port, _UI_OFFSET)
    if print_env:
        _print_env(ref, port, api, ui)
        return
    _require_local_extra()
    from squall.local import reloading

    if reload and not reloading.is_watched_process():
        _check_ports(port, api, ui)  # here: a watched child that cannot serve waits for a change instead
        code = reloading.supervise(state, lambda line: out().print(line, markup=False))
        if code:
            sys.exit(code)
        return
    if reload:

        def report(exc: BaseException) -> None:
            problem = exc if isinstance(exc, click.ClickException) else translate(exc)
            message = problem.format_message() if problem is not None else f"{type(exc).__name__}: {exc}"
            err().print(f"squall dev: {message} (waiting for a change to reload)", markup=False)

        reloading.watch(lambda stop: _serve(ref, stop, port, quiet, allow_private_targets, api, ui, state), report)
    else:
        _serve_until_signalled(ref, port, quiet, allow_private_targets, api, ui, state)
    out().print("squall dev: stopped")


def _check_ports(port: int, api: int, ui: int) -> None:
    from squall.local.devserver import check_port

    for number, option in ((port, "--port"), (api, "--api-port"), (ui, "--ui-port")):
        check_port(number, option)


def _serve_until_signalled(
    ref: AppRef, port: int, quiet: bool, allow_private_targets: bool, api: int, ui: int, state: Path | None
) -> None:
    stop = threading.Event()

    def halt(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, halt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _serve(ref, stop, port, quiet, allow_private_targets, api, ui, state)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _serve(
    ref: AppRef,
    stop: threading.Event,
    port: int,
    quiet: bool,
    allow_private_targets: bool,
    api_port: int,
    ui_port: int,
    state: Path | None,
) -> None:
    """Import the app and serve it until ``stop`` is set."""
    from squall.local.devserver import DevServer, export_line

    app = ref.get()
    console = out()

    def ready(rt: Runtime) -> None:
        endpoint = rt.environment["AWS_ENDPOINT_URL"]
        console.print(
            f"squall dev: app [bold]{app.name}[/] served on {endpoint} (moto, region {rt.settings.region}), "
            f"queues {', '.join(rt.settings.queues)}, {len(app.tasks)} task(s)"
        )
        if server.restored:
            console.print(f"squall dev: {server.restored}", markup=False, soft_wrap=True)
        console.print("In another shell (or a notebook's environment), use it with:")
        console.print(f"  {export_line(rt)}", markup=False, soft_wrap=True)
        example = next(iter(app.tasks), "TASK")
        console.print(f"  squall --app {ref.spec} send {example} --args '[...]'", markup=False, soft_wrap=True)
        if server.api_url is not None:
            console.print(f"api: {server.api_url}", markup=False, soft_wrap=True)
            console.print(f"token: {server.api_token}", markup=False, soft_wrap=True)
        if server.ui_url is not None:
            console.print(f"dashboard: {server.ui_url}", markup=False, soft_wrap=True)
        console.print("Ctrl-C stops. Task state changes:" if not quiet else "Ctrl-C stops.")
        sys.stdout.flush()

    def show(change: Transition) -> None:
        when = datetime.fromtimestamp(change.at).strftime("%H:%M:%S")
        console.print(f"{when}  {styled_state(change.state, 7)}  {change.name or '?'}  {change.task_id}")
        sys.stdout.flush()

    def report(exc: BaseException) -> None:
        err().print(f"[red]squall dev: {type(exc).__name__}: {exc}[/] (still serving)")

    server = DevServer(
        app,
        port=port,
        on_transition=None if quiet else show,
        on_error=report,
        allow_private_targets=allow_private_targets,
        api_port=api_port,
        ui_port=ui_port,
        state=state,
    )
    server.serve(stop, ready)
