"""``squall dev``: the local development server (moto on 127.0.0.1, the real worker, the wall clock)."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from squall.cli import AppRef, cli
from squall.cli._support import CliError, err, friendly, out, styled_state

if TYPE_CHECKING:
    from squall.local.devserver import Transition
    from squall.local.runtime import Runtime


def _require_local_extra() -> None:
    """One line naming the extra to install if the dev server's libraries are missing (the CLI works without them)."""
    try:
        import moto.server  # noqa: F401  # the runtime imports moto only once serving: check it before anything

        import squall.local.devserver  # noqa: F401  # the API's and the dashboard's libraries (Powertools, Flask)
    except ImportError as exc:
        missing = exc.name or "a module it needs"
        problem = f"squall dev needs the local extra ({missing} is not installed): pip install 'squall[local]'"
        raise CliError(problem) from None


@cli.command(short_help="Serve the app locally on 127.0.0.1.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port on 127.0.0.1 (default 0: a free one).")
@click.option("--quiet", is_flag=True, help="Do not print task state changes.")
@click.option(
    "--allow-private-targets",
    is_flag=True,
    help="Let HTTP targets call private addresses such as 127.0.0.1 (still only http and https).",
)
@click.option("--api-port", type=click.IntRange(0, 65535), default=0, help="REST API port (default 0: a free one).")
@click.option("--ui-port", type=click.IntRange(0, 65535), default=0, help="Dashboard port (default 0: a free one).")
@click.pass_obj
@friendly
def dev(ref: AppRef, port: int, quiet: bool, allow_private_targets: bool, api_port: int, ui_port: int) -> None:
    """Run the app locally: AWS emulated on 127.0.0.1, the worker polling, schedules firing. Ctrl-C stops."""
    _require_local_extra()
    from squall.local.devserver import DevServer, export_line

    app = ref.get()
    console = out()

    def ready(rt: Runtime) -> None:
        endpoint = rt.environment["AWS_ENDPOINT_URL"]
        console.print(
            f"squall dev: app [bold]{app.name}[/] served on {endpoint} (moto, region {rt.settings.region}), "
            f"queues {', '.join(rt.settings.queues)}, {len(app.tasks)} task(s)"
        )
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

    stop = threading.Event()
    server = DevServer(
        app,
        port=port,
        on_transition=None if quiet else show,
        on_error=report,
        allow_private_targets=allow_private_targets,
        api_port=api_port,
        ui_port=ui_port,
    )

    def halt(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, halt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve(stop, ready)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("squall dev: stopped")
