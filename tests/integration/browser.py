"""A minimal headless-Chromium driver over the DevTools protocol on a pipe, for testing pages we write.

Chromium started with ``--remote-debugging-pipe`` reads JSON commands, each ended by a NUL byte, on its fd 3
and writes replies and events the same way on its fd 4. A small Python trampoline moves our pipe ends to
those numbers before exec'ing the browser (``pass_fds`` keeps fd numbers, so they must be moved in the
child). No dependency beyond the standard library.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
_TRAMPOLINE = (
    "import os, sys\nos.dup2(int(sys.argv[1]), 3)\nos.dup2(int(sys.argv[2]), 4)\nos.execv(sys.argv[3], sys.argv[3:])\n"
)


def find_chromium() -> str | None:
    """The browser to drive: $CHROMIUM if set, else the first of the usual names on PATH."""
    named = os.environ.get("CHROMIUM")
    if named:
        return shutil.which(named) or (named if os.access(named, os.X_OK) else None)
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    """The browser failed, answered with an error, or did not answer in time."""


class Browser:
    """One headless Chromium with one page, driven synchronously. Use as a context manager."""

    def __init__(
        self, executable: str | None = None, *, width: int = 1280, height: int = 900, timeout: float = 30.0
    ) -> None:
        executable = executable or find_chromium()
        if executable is None:
            raise BrowserError("no Chromium found; install it (Debian: apt-get install chromium) or set $CHROMIUM")
        self.timeout = timeout
        self.console: list[dict[str, Any]] = []  # {"level", "text", "source"}
        self.exceptions: list[str] = []
        self._events: list[dict[str, Any]] = []
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._next_id = 0
        self._profile = tempfile.TemporaryDirectory(prefix="selfdisc-chromium-", ignore_cleanup_errors=True)
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        # Above 10 so that moving them to 3 and 4 in the child cannot overwrite one with the other.
        child_read = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD_CLOEXEC, 10)
        child_write = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser_read)
        os.close(from_browser_write)
        flags = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile.name}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--mute-audio",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-c", _TRAMPOLINE, str(child_read), str(child_write), executable, *flags],
                pass_fds=(child_read, child_write),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        finally:
            os.close(child_read)
            os.close(child_write)
        self._stderr: list[bytes] = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.session = ""
        try:
            target = self.send("Target.createTarget", {"url": "about:blank"}, session=None)["targetId"]
            self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=None)[
                "sessionId"
            ]
            for domain in ("Page", "Runtime", "Log"):
                self.send(f"{domain}.enable")
            self.send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
        except BaseException:
            self.close()
            raise

    # -- plumbing ---------------------------------------------------------------------------------------

    def _read(self) -> None:
        """Split the browser's output into messages; replies go to the queue, events are recorded."""
        buffer = b""
        while True:
            try:
                chunk = os.read(self._from_browser, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                self._replies.put(None)
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    self._replies.put(message)
                else:
                    self._event(message)

    def _drain_stderr(self) -> None:
        assert self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line)

    def _event(self, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append({"level": params.get("type"), "text": text, "source": "console-api"})
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            self.exceptions.append(details.get("exception", {}).get("description") or details.get("text", "?"))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            self.console.append({"level": entry.get("level"), "text": entry.get("text"), "source": entry.get("source")})
        self._events.append(message)

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None | bool = True,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Run one command and return its result (on the page's session unless ``session=None``)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is True and self.session:
            message["sessionId"] = self.session
        elif isinstance(session, str):
            message["sessionId"] = session
        try:
            os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        except OSError as error:
            raise BrowserError(f"{method}: the browser is gone ({error}); stderr: {self.stderr()[-2000:]}") from None
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(f"{method}: no reply within {timeout or self.timeout:.0f} s")
            try:
                reply = self._replies.get(timeout=left)
            except queue.Empty:
                continue
            if reply is None:
                raise BrowserError(f"{method}: the browser closed its pipe; stderr: {self.stderr()[-2000:]}")
            if reply.get("id") != self._next_id:
                continue  # a late reply to an earlier command that timed out
            if "error" in reply:
                raise BrowserError(f"{method}: {reply['error']}")
            return reply.get("result", {})

    def stderr(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    # -- what tests use ---------------------------------------------------------------------------------

    def open(self, url: str) -> None:
        """Navigate and wait for the load event."""
        seen = len(self._events)
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if any(e.get("method") == "Page.loadEventFired" for e in self._events[seen:]):
                return
            time.sleep(0.02)
        raise BrowserError(f"{url} did not finish loading within {self.timeout:.0f} s")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (awaiting it if it is a promise)."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(
                f"evaluating {expression[:80]!r}: "
                f"{details.get('exception', {}).get('description') or details.get('text')}"
            )
        return result.get("result", {}).get("value")

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """A PNG of the viewport, or of the whole page."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params.update(
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1},
            )
        data = self.send("Page.captureScreenshot", params, timeout=max(self.timeout, 60))["data"]
        path = Path(path)
        path.write_bytes(base64.b64decode(data))
        return path

    def errors(self) -> list[str]:
        """Console errors and uncaught exceptions so far."""
        return [str(m["text"]) for m in self.console if m.get("level") == "error"] + list(self.exceptions)

    def close(self) -> None:
        try:
            if self._process.poll() is None:
                try:
                    self.send("Browser.close", session=None, timeout=5)
                except BrowserError:
                    pass
                try:
                    self._process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=5)
        finally:
            for fd in (self._to_browser, self._from_browser):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._profile.cleanup()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
