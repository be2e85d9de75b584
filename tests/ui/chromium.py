"""Headless Debian Chromium driven over the Chrome DevTools Protocol on a pipe: no driver, no download.

``--remote-debugging-pipe`` makes Chromium read protocol commands on its fd 3 and write replies and events on
its fd 4, each a JSON object ended by a NUL byte, so the standard library is the whole client. The browser runs
with a throw-away profile and everything that could reach the network on its own switched off; pages come
only from servers the tests start on 127.0.0.1. Every wait is bounded.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

#: The Debian package's browser (the test suite never downloads one).
CHROMIUM = Path("/usr/bin/chromium")
#: Longest wait for one protocol reply or one page load, in seconds.
TIMEOUT = 30.0
FLAGS = (
    "--headless",
    "--no-sandbox",  # containers and CI runners have no user namespaces for the sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    "--remote-debugging-pipe",
)


class Chromium:
    """One headless browser with one page; :meth:`close` ends it."""

    def __init__(self) -> None:
        self._profile = tempfile.mkdtemp(prefix="squall-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_fds() -> None:  # in the child, before exec: the protocol's fixed descriptors
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        self.process = subprocess.Popen(  # noqa: S603  # the system browser, fixed arguments
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire_fds,  # only dup2 runs there, before the browser's own threads
            close_fds=False,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True, name="chromium-pipe").start()
        page = next(t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page")
        self._session = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]
        self.page("Page.enable")
        self.page("Runtime.enable")

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as pipe:
            while chunk := pipe.read(65_536):
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                with self._changed:
                    for raw in messages:
                        message = json.loads(raw)
                        if "id" in message:
                            self._replies[message["id"]] = message
                        else:
                            self.events.append(message)
                    self._changed.notify_all()

    def send(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        """Send one protocol command and return its result; RuntimeError if the browser answered an error."""
        self._next_id += 1
        ident = self._next_id
        command: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if session is not None:
            command["sessionId"] = session
        os.write(self._to_browser, json.dumps(command).encode() + b"\0")
        with self._changed:
            if not self._changed.wait_for(lambda: ident in self._replies, timeout=TIMEOUT):
                raise TimeoutError(f"chromium did not answer {method} in {TIMEOUT} s")
            reply = self._replies.pop(ident)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return dict(reply.get("result", {}))

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        """A command to the page."""
        return self.send(method, self._session, **params)

    def _wait_for_load(self, after: int) -> None:
        def loaded() -> bool:
            return any(e["method"] == "Page.loadEventFired" for e in self.events[after:])

        with self._changed:
            if not self._changed.wait_for(loaded, timeout=TIMEOUT):
                raise TimeoutError(f"the page did not load in {TIMEOUT} s")

    def open(self, url: str) -> str:
        """Load ``url`` and return the rendered DOM."""
        seen = len(self.events)
        self.page("Page.navigate", url=url)
        self._wait_for_load(seen)
        return self.dom()

    def dom(self) -> str:
        """The page's DOM as the browser holds it now."""
        return str(self.evaluate("document.documentElement.outerHTML"))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (DevTools runs it whatever the page's CSP)."""
        return self.page("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def click(self, selector: str) -> str:
        """Click the element ``selector`` names, as a mouse does, wait for the page it leads to, return its DOM."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView(); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        if box is None:
            raise LookupError(f"no element matches {selector!r}")
        seen = len(self.events)
        x, y = box
        for kind in ("mousePressed", "mouseReleased"):
            self.page("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)
        self._wait_for_load(seen)
        return self.dom()

    def screenshot(self, path: Path) -> Path:
        """Save the whole page as a PNG at ``path``."""
        shot = self.page("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def dialogs(self) -> list[dict[str, Any]]:
        """Every JavaScript dialog (alert, confirm) a page opened so far."""
        return [e for e in self.events if e["method"] == "Page.javascriptDialogOpening"]

    def close(self) -> None:
        """End the browser and remove its profile."""
        try:
            self.send("Browser.close")
        except (TimeoutError, RuntimeError, OSError):
            self.process.kill()  # a browser that will not close politely is ended: the test is over anyway
        try:
            self.process.wait(timeout=TIMEOUT)
        finally:
            os.close(self._to_browser)
            shutil.rmtree(self._profile, ignore_errors=True)
