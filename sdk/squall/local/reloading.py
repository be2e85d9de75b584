"""``squall dev --reload``: the dev server in a child process, started again whenever the app's code changes.

The parent (:func:`supervise`) runs the same command as a child, in a process group of its own, and starts
it again each time the child exits with :data:`RELOAD_EXIT`; it passes Ctrl-C and SIGTERM on to the child,
once, so the child stops cleanly (and writes its state) before the parent exits with the child's status.
The child (:func:`watch`) serves in a thread while Werkzeug's stat reloader (the one behind ``flask run
--reload``; Flask is already a dependency) polls the files of the imported modules and of the working
directory, and exits with 3 when one changes.

Werkzeug's public face for its reloader is ``run_simple(use_reloader=True)``, which must serve one WSGI app
itself; the dev server serves moto, the REST API and the dashboard, so the child uses the function
``run_simple`` uses, ``werkzeug._reloader.run_with_reloader``, and the parent is this module's own (Werkzeug's
would pass Ctrl-C on by killing the child after a quarter of a second, before its state is written).
"""

from __future__ import annotations

import _thread
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: The status with which the child asks to be started again (Werkzeug's reloader exits with it on a change).
RELOAD_EXIT = 3
#: Seconds between two looks at the files' modification times (Werkzeug's default).
RELOAD_POLL_SECONDS = 1.0
#: Seconds a stopping child may take to write its state before the parent gives up on it.
STOP_TIMEOUT_SECONDS = 60.0
#: Set by Werkzeug's protocol in the watched process's environment.
_CHILD_FLAG = "WERKZEUG_RUN_MAIN"
#: Squall's own files, not watched: the app's code is what reloads (an upgrade of Squall wants a restart).
_OWN_FILES = str(Path(__file__).resolve().parents[1] / "*")
#: What the child is run with: this interpreter and the ``squall`` command's own entry point.
_ENTRY = "from squall.cli import main; main()"


def is_watched_process() -> bool:
    """Whether this process is the child :func:`supervise` started (the one that serves)."""
    # Read here, not in squall.config: a flag of the reloader's process protocol, not a setting of the app.
    return os.environ.get(_CHILD_FLAG) == "true"


def supervise(state: Path | None, announce: Callable[[str], None], argv: list[str] | None = None) -> int:
    """Run this command (``argv``, default ``sys.argv``) as a watched child until it exits other than to reload.

    Without ``state`` the child keeps its state in a temporary directory, so a reload keeps the tasks and
    messages and a stop forgets them, as without ``--reload``. ``announce`` is told of each restart.
    Returns the child's last exit status.
    """
    args = list(sys.argv if argv is None else argv)[1:]
    with tempfile.TemporaryDirectory(prefix="squall-dev-") as scratch:
        if state is None:
            args += ["--state", str(Path(scratch) / "state")]
        env = {**os.environ, _CHILD_FLAG: "true"}
        while True:
            code = _run_child([sys.executable, "-c", _ENTRY, *args], env)
            if code != RELOAD_EXIT:
                return code
            announce("squall dev: the code changed, restarting")


def _run_child(command: list[str], env: dict[str, str]) -> int:
    # A process group of its own: Ctrl-C at the terminal reaches the parent only, which passes it on once
    # (twice, the second would interrupt the child's clean stop).
    child = subprocess.Popen(command, env=env, process_group=0)  # noqa: S603  # our own command, our own arguments

    def pass_on(signum: int, frame: Any) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, pass_on) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return child.wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.poll() is None:  # the parent itself is leaving (an error): the child must not outlive it
            child.terminate()
            try:
                child.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                child.kill()


def watch(serve: Callable[[threading.Event], None], report: Callable[[BaseException], None]) -> None:
    """In the watched child: ``serve(stop)`` in a thread until a file changes (exit 3), Ctrl-C or SIGTERM.

    ``serve`` returns when ``stop`` is set, after writing its state. If it fails (the app's module does not
    import any more), ``report`` is told and the child waits for the next change to try again.
    """
    from werkzeug._reloader import run_with_reloader

    stop, done, leaving = threading.Event(), threading.Event(), threading.Event()
    parent = os.getppid()

    def main() -> None:
        try:
            serve(stop)
        except Exception as exc:
            report(exc)  # e.g. a syntax error just saved: the next save reloads
            return
        finally:
            done.set()
        if not leaving.is_set():
            _thread.interrupt_main()  # serving ended on its own (stopped): end the reloader's loop too

    def orphaned() -> None:
        # The parent killed outright (SIGKILL) cannot pass anything on: stop rather than hold the ports.
        while not done.wait(RELOAD_POLL_SECONDS):
            if os.getppid() != parent:
                stop.set()
                return

    threading.Thread(target=orphaned, name="squall-dev-parent", daemon=True).start()
    try:
        run_with_reloader(main, exclude_patterns=[_OWN_FILES], reloader_type="stat", interval=RELOAD_POLL_SECONDS)
    except SystemExit as exc:
        if exc.code == RELOAD_EXIT:
            raise  # a file changed: stop cleanly (below), then ask the parent for a new child
        # SIGTERM: Werkzeug's handler exits with 0; stop cleanly, as on Ctrl-C (caught by Werkzeug)
    finally:
        leaving.set()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the clean stop below is not to be interrupted
        stop.set()
        done.wait(STOP_TIMEOUT_SECONDS)
