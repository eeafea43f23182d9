"""Headless Chromium for the engineering tests, driven through its DevTools protocol.

Shared by the tests that must see a page after its scripts ran (the report's
layout, the listening page's blinding and click-through).
"""

import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


class Chromium:
    """Headless Chromium driven through its DevTools protocol over a pipe (no websocket library needed)."""

    def __init__(self, profile: Path, downloads: Path):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        # Moved above 4 so that placing them at 3 and 4 in the child clobbers neither.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child_r, from_child_w)]
        os.close(to_child_r)
        os.close(from_child_w)

        def pipes_at_3_and_4():
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
             "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
             "--remote-debugging-pipe", "about:blank"],
            pass_fds=(3, 4), preexec_fn=pipes_at_3_and_4, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for fd in high:
            os.close(fd)
        self._buffer, self._id = b"", 0
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})

    def call(self, method: str, params: dict | None = None, page: bool = False, timeout: float = 60) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        if page:
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            while b"\0" not in self._buffer:
                left = deadline - time.time()
                if left <= 0 or not select.select([self._from_child], [], [], left)[0]:
                    raise TimeoutError(f"chromium did not answer {method}")
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise EOFError("chromium closed its pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def open(self, url: str, timeout: float = 30) -> None:
        """Navigate, and return once the new document has loaded and its scripts ran."""
        self.eval("window.__leaving = true")  # Page.navigate returns before the old document goes
        self.call("Page.navigate", {"url": url}, page=True)
        deadline = time.time() + timeout
        while True:
            try:
                if self.eval("!window.__leaving && document.readyState === 'complete'"):
                    return
            except RuntimeError:  # the old document's context went while we asked
                pass
            if time.time() > deadline:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.05)

    def eval(self, expression: str):
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                                "returnByValue": True}, page=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def dom(self, settle_s: float = 1.0) -> str:
        """The page's DOM as serialised after its scripts ran, ``settle_s`` after loading
        (an image's error handler, say, fires once its load has failed)."""
        self.eval(f"new Promise(resolve => setTimeout(resolve, {int(settle_s * 1000)}))")
        return self.eval("document.documentElement.outerHTML")

    def screenshot(self, path: Path, width: int = 1200, height: int = 1600) -> Path:
        import base64

        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, page=True)
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", {"format": "png"}, page=True)["data"]))
        return path

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=10)
        except (TimeoutError, EOFError, OSError, RuntimeError):
            pass
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)
