"""A small driver for headless Chromium (Debian's ``chromium``) over the DevTools protocol, standard library only.

Chromium is started with ``--remote-debugging-pipe``: the protocol's JSON messages travel over two pipes
(the browser reads file descriptor 3 and writes 4, each message ended by a NUL byte), so there is no port,
no websocket and nothing to download. The flags are those this machine's notes ask for (no sandbox as
root, no background networking: the machine has no network and Chromium's own calls home would fail).

``Browser.page()`` opens a tab that records what the page does: every request it makes (``requests``),
console messages and uncaught exceptions (``errors``). ``python -m tests.browser SITE OUT`` writes the
screenshots of a generated site that the README shows.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM_ENV = "MAMP_BENCH_CHROMIUM"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-extensions",
    "--hide-scrollbars",
    "--mute-audio",
]


def find_chromium() -> str | None:
    """``MAMP_BENCH_CHROMIUM``, else ``chromium`` (Debian) or ``chromium-browser`` / ``google-chrome`` on PATH."""
    explicit = os.environ.get(CHROMIUM_ENV)
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with a fresh profile; ``close()`` ends it and removes the profile."""

    def __init__(self, executable: str, timeout: float = 20.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="mamp-bench-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def pipes_as_3_and_4() -> None:  # in the child, before exec: the descriptors Chromium reads and writes
            read, write = os.dup(to_browser_r), os.dup(from_browser_w)  # above 4 first, so that dup2 cannot clobber
            os.dup2(read, 3)
            os.dup2(write, 4)

        args = [executable, *FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank"]
        self.process = subprocess.Popen(
            args,
            preexec_fn=pipes_as_3_and_4,
            close_fds=False,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._events: list[dict[str, Any]] = []

    # -- the protocol ------------------------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        """Send a command and wait for its answer (events that arrive meanwhile are kept for ``Page``)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive(self.timeout)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})
            self._events.append(reply)

    def _receive(self, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise BrowserError(f"no message from Chromium within {timeout} s")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise BrowserError("Chromium closed its end of the pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_event(self, session: str, method: str, timeout: float | None = None) -> dict[str, Any]:
        """The next event ``method`` of a tab (events already received count)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, event in enumerate(self._events):
                if event.get("sessionId") == session and event.get("method") == method:
                    return self._events.pop(i)
            self._events.append(self._receive(max(0.0, deadline - time.monotonic())))

    def drain(self, session: str) -> list[dict[str, Any]]:
        """The events of a tab received so far (removed from the queue)."""
        mine = [e for e in self._events if e.get("sessionId") == session]
        self._events = [e for e in self._events if e.get("sessionId") != session]
        return mine

    # -- tabs --------------------------------------------------------------------------------------------

    def page(self, width: int = 1280, height: int = 900) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, target, session)
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable", session=session)
        page.resize(width, height)
        return page

    def close(self) -> None:
        with contextlib.suppress(BrowserError, OSError):
            self.send("Browser.close")
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """A tab: navigation, script, clicks, screenshots; what it requested and what went wrong in it."""

    def __init__(self, browser: Browser, target: str, session: str):
        self.browser, self.target, self.session = browser, target, session
        self.requests: list[str] = []  # every URL the page asked for, in order
        self.errors: list[str] = []  # console errors and warnings, uncaught exceptions, failed loads

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def resize(self, width: int, height: int) -> None:
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def goto(self, url: str) -> None:
        """Navigate and wait for the load event (then record what happened)."""
        self.send("Page.navigate", {"url": url})
        self.browser.wait_event(self.session, "Page.loadEventFired")
        self.settle()

    def wait_load(self) -> None:
        """After a click that navigates: wait for the new page's load event."""
        self.browser.wait_event(self.session, "Page.loadEventFired")
        self.settle()

    def settle(self) -> None:
        """Collect the events received so far into ``requests`` and ``errors``."""
        self.evaluate("1")  # a round trip: events the page sent before it are in the queue
        for event in self.browser.drain(self.session):
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                self.requests.append(params["request"]["url"])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "warning", "assert"):
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
                self.errors.append(f"console.{params['type']}: {text}")
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                self.errors.append(f"exception: {details.get('exception', {}).get('description') or details}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
                entry = params["entry"]
                self.errors.append(f"log {entry.get('source')}: {entry.get('text')} {entry.get('url', '')}".strip())
            elif method == "Network.loadingFailed":
                self.errors.append(f"load failed: {params.get('errorText')} ({params.get('requestId')})")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-able; promises awaited)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression[:80]}: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def click(self, selector: str) -> None:
        """A real mouse click at the centre of the first element ``selector`` matches (scrolled into view)."""
        box = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); if (!e) return null;"
            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
            " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
        )
        if box is None:
            raise BrowserError(f"nothing matches {selector!r}")
        for kind in ("mousePressed", "mouseReleased"):
            self.send(
                "Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1}
            )

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            size = self.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params["clip"] = {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}
        data = self.send("Page.captureScreenshot", params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self.browser.send("Target.closeTarget", {"targetId": self.target})


# the README's screenshots: (file, page or "row" for the first measured row the index links to, width, height,
# the element to scroll to the top)
SCREENSHOTS = (
    ("site-index.png", "index.html", 1280, 900, None),
    ("site-synthetic.png", "index.html", 1280, 640, "#linear-synthetic"),
    ("site-row.png", "row", 1280, 1200, None),
    ("site-compare.png", "compare.html", 1280, 420, None),
    ("site-narrow.png", "index.html", 390, 844, "#linear-real"),
)


def screenshots(site: Path, out: Path) -> list[Path]:
    """The screenshots of a generated site that the README shows."""
    executable = find_chromium()
    if executable is None:
        raise SystemExit(f"no Chromium found (install Debian's chromium, or set {CHROMIUM_ENV})")
    browser = Browser(executable)
    written = []
    try:
        for name, page_name, width, height, anchor in SCREENSHOTS:
            page = browser.page(width, height)
            page.goto((site / "index.html").resolve().as_uri())
            if page_name == "row":
                page.goto(page.evaluate("document.querySelector('a.measured').href"))
            elif page_name != "index.html":
                page.goto((site / page_name).resolve().as_uri())
            if anchor:
                page.evaluate(f"document.querySelector({json.dumps(anchor)}).scrollIntoView()")
            written.append(page.screenshot(out / name))
            page.close()
    finally:
        browser.close()
    return written


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit("usage: python -m tests.browser SITE_DIR OUT_DIR")
    for path in screenshots(Path(sys.argv[1]), Path(sys.argv[2])):
        print(path)
