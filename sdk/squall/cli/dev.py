"""``squall dev``: the local development server (moto on 127.0.0.1, the real worker, the wall clock)."""

from __future__ import annotations

import signal
import sys
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from squall.cli import AppRef, cli
from squall.cli._support import err, friendly, out, styled_state
from squall.local.devserver import DevServer, Transition, export_line

if TYPE_CHECKING:
    from squall.local.runtime import Runtime


@cli.command(short_help="Serve the app locally on 127.0.0.1.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Port on 127.0.0.1 (default 0: a free one).")
@click.option("--quiet", is_flag=True, help="Do not print task state changes.")
@click.pass_obj
@friendly
def dev(ref: AppRef, port: int, quiet: bool) -> None:
    """Run the app locally: AWS emulated on 127.0.0.1, the worker polling, schedules firing. Ctrl-C stops."""
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
        console.print("Ctrl-C stops. Task state changes:" if not quiet else "Ctrl-C stops.")
        sys.stdout.flush()

    def show(change: Transition) -> None:
        when = datetime.fromtimestamp(change.at).strftime("%H:%M:%S")
        console.print(f"{when}  {styled_state(change.state, 7)}  {change.name or '?'}  {change.task_id}")
        sys.stdout.flush()

    def report(exc: BaseException) -> None:
        err().print(f"[red]squall dev: {type(exc).__name__}: {exc}[/] (still serving)")

    stop = threading.Event()

    def halt(signum: int, frame: Any) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, halt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        DevServer(app, port=port, on_transition=None if quiet else show, on_error=report).serve(stop, ready)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("squall dev: stopped")
