"""The operator's web dashboard: queues, tasks, dead letters, schedules and cost, server-rendered by Flask.

:func:`create_app` builds the WSGI app for one Squall app; :class:`DashboardServer` serves it on a thread
(``squall ui``, ``squall dev``). Pages read through :mod:`squall.ops` and :mod:`squall.scheduler`; every change
is a CSRF-checked POST, and Jinja's autoescape renders task data (attacker-controlled text) inert.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from squall.ui import security, views
from squall.ui.recent import RecentTasks

if TYPE_CHECKING:
    from squall.app import Squall

__all__ = ["DEFAULT_PORT", "DashboardServer", "RecentTasks", "create_app"]

#: The port ``squall ui`` listens on unless told otherwise (stable, so a bookmark keeps working).
DEFAULT_PORT = 8787


def create_app(app: Squall, *, recent: RecentTasks | None = None, host: str = security.DEFAULT_HOST) -> Flask:
    """The dashboard of ``app``; ``recent`` adds the tasks this process saw change state (every state)."""
    web = Flask(__name__)
    web.config.update(SQUALL_APP=app, SQUALL_RECENT=recent)
    web.jinja_env.autoescape = True  # every template, whatever its file name
    security.install(web, host=host)
    web.register_blueprint(views.pages)
    return web


class DashboardServer:
    """The dashboard served on ``host:port`` by a background thread until :meth:`stop`."""

    def __init__(
        self,
        app: Squall,
        *,
        host: str = security.DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        recent: RecentTasks | None = None,
    ) -> None:
        self._server: BaseWSGIServer = make_server(host, port, create_app(app, recent=recent, host=host), threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="squall-dashboard", daemon=True)

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>/``."""
        return f"http://{self._server.host}:{self._server.port}/"

    def start(self) -> DashboardServer:
        """Start serving; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
