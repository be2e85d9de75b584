"""``squall ui``: the operator's web dashboard, served on 127.0.0.1 against the account the credentials name."""

from __future__ import annotations

import socket

import click

from squall.cli import AppRef, cli
from squall.cli._support import CliError, friendly, out


@cli.command(short_help="Serve the web dashboard on 127.0.0.1.")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port to listen on (default 8787).")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; anything but loopback exposes the dashboard (and its actions) to the network.",
)
@click.pass_obj
@friendly
def ui(ref: AppRef, port: int | None, host: str) -> None:
    """Serve the dashboard of the app's deployed queues, tasks, dead letters and schedules. Ctrl-C stops."""
    try:
        from squall.ui import DEFAULT_PORT, create_app
    except ImportError as exc:
        raise click.UsageError(f"the dashboard needs Flask ({exc.name} is missing): pip install 'squall[ui]'") from None
    from werkzeug.serving import make_server

    app = ref.get()
    port = DEFAULT_PORT if port is None else port
    _check_free(host, port)
    server = make_server(host, port, create_app(app, host=host), threaded=True)
    out().print(f"dashboard: http://{server.host}:{server.port}/  (app {app.name}; Ctrl-C stops)", markup=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass  # Ctrl-C is how an operator stops the server: not an error
    finally:
        server.server_close()


def _check_free(host: str, port: int) -> None:
    """One line if ``host:port`` cannot be bound (werkzeug would print two and exit on its own)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port} ({exc.strerror}): pick another --port, or 0") from None
