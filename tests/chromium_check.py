"""Open an HTML file in a real headless Chromium and report what a reader's browser would see.

Talks the DevTools protocol over `--remote-debugging-pipe` (file descriptors 3 and 4, messages ended by a
NUL byte), so it needs nothing beyond the standard library: no websocket client, no selenium. It
collects console messages, uncaught exceptions, browser log entries and every network request the page
makes, then asks the page whether each <img> decoded with a non-zero natural size, and can save a
full-page screenshot.

    python tests/chromium_check.py RUN/report.html [--screenshot /tmp/report.png]
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--remote-debugging-pipe", "--hide-scrollbars", "--mute-audio", "--disable-dev-shm-usage"]

# Waits for every image to decode, so "rendered" means decodable pixels, not just "in the DOM".
IMAGES_JS = """
Promise.all(Array.from(document.images).map(i => i.decode().then(() => true, () => false).then(ok => ({
  src: i.getAttribute('src').slice(0, 40), ok: ok, complete: i.complete,
  width: i.naturalWidth, height: i.naturalHeight}))))
"""


def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def in_ci() -> bool:
    """CI sets CI=true (GitHub, GitLab, .ci/run): there the browser check must run, never vanish."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def need_chromium() -> str:
    """The browser for a test: skip without one on a workstation; fail without one in CI."""
    import pytest

    binary = find_chromium()
    if binary is None:
        if in_ci():
            pytest.fail("CI is set but no chromium binary is on PATH: the report's browser check must run in CI "
                        "(apt-get install chromium)")
        pytest.skip("no chromium binary on PATH (apt-get install chromium); in CI this fails")
    return binary


class _Pipe:
    """One DevTools connection: send a command, wait for its answer, keep every event seen meanwhile."""

    def __init__(self, proc, write_fd: int, read_fd: int, deadline: float):
        self.proc, self.write_fd, self.read_fd, self.deadline = proc, write_fd, read_fd, deadline
        self.buf, self.events, self.next_id = b"", [], 0

    def _read_message(self) -> dict:
        while b"\0" not in self.buf:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"Chromium closed the pipe (exit code {self.proc.poll()}); see its stderr")
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        while data:
            data = data[os.write(self.write_fd, data):]
        while True:
            reply = self._read_message()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str) -> dict:
        for ev in self.events:
            if ev.get("method") == method:
                return ev
        while True:
            ev = self._read_message()
            self.events.append(ev)
            if ev.get("method") == method:
                return ev


def _high_fd(fd: int) -> int:
    """A copy of `fd` numbered >= 10, so moving it to 3 or 4 in the child never clobbers the other end."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


def check_page(html_path, screenshot=None, width: int = 1280, height: int = 4000, timeout: float = 90.0) -> dict:
    """Load `html_path` in headless Chromium; return what went wrong (empty lists when nothing did)."""
    binary = find_chromium()
    if binary is None:
        raise FileNotFoundError("no chromium binary on PATH")
    start = time.monotonic()
    to_chrome_r, to_chrome_w = (_high_fd(f) for f in os.pipe())
    from_chrome_r, from_chrome_w = (_high_fd(f) for f in os.pipe())

    # Chromium reads commands on fd 3 and writes replies on fd 4. A fresh, single-threaded Python moves the
    # pipe ends there and execs it: no preexec_fn, which would run Python between fork and exec in this
    # process, unsafe with threads (JAX's). (sh cannot: dash only redirects fds 0-9.)
    move = (f"import os, sys; os.dup2({to_chrome_r}, 3); os.dup2({from_chrome_w}, 4); "
            f"os.close({to_chrome_r}); os.close({from_chrome_w}); os.execv(sys.argv[1], sys.argv[1:])")
    with tempfile.TemporaryDirectory() as profile, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-c", move, binary, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, pass_fds=(to_chrome_r, from_chrome_w),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        cdp = _Pipe(proc, to_chrome_w, from_chrome_r, start + timeout)
        try:
            target = cdp.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            sid = cdp.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Runtime", "Log", "Page", "Network"):
                cdp.call(f"{domain}.enable", session=sid)
            cdp.call("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=sid)
            cdp.call("Page.navigate", {"url": Path(html_path).resolve().as_uri()}, session=sid)
            cdp.wait_event("Page.loadEventFired")
            images = cdp.call("Runtime.evaluate", {"expression": IMAGES_JS, "awaitPromise": True,
                                                   "returnByValue": True}, session=sid)["result"]["value"]
            title = cdp.call("Runtime.evaluate", {"expression": "document.title", "returnByValue": True},
                             session=sid)["result"]["value"]
            if screenshot:
                size = cdp.call("Page.getLayoutMetrics", session=sid)["cssContentSize"]
                clip = {"x": 0, "y": 0, "width": width, "height": min(size["height"], 16000), "scale": 1}
                shot = cdp.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                           "clip": clip}, session=sid)
                Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
            try:
                cdp.call("Browser.close")
            except RuntimeError:
                pass  # the pipe may close before the answer arrives
        except (RuntimeError, TimeoutError) as exc:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-2000:]
            raise RuntimeError(f"{exc}\n--- chromium stderr (tail) ---\n{tail}") from None
        finally:
            os.close(to_chrome_w)
            os.close(from_chrome_r)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    events = cdp.events
    params = [ev.get("params", {}) for ev in events]
    return {
        "title": title,
        "images": images,
        "console": [f"{p['type']}: {' '.join(str(a.get('value', a.get('description', ''))) for a in p['args'])}"
                    for ev, p in zip(events, params, strict=True) if ev.get("method") == "Runtime.consoleAPICalled"],
        "exceptions": [p["exceptionDetails"].get("text", "") + " " + str(p["exceptionDetails"].get("exception", {})
                                                                        .get("description", ""))
                       for ev, p in zip(events, params, strict=True) if ev.get("method") == "Runtime.exceptionThrown"],
        "log_errors": [f"{p['entry'].get('source')}: {p['entry'].get('text')}"
                       for ev, p in zip(events, params, strict=True)
                       if ev.get("method") == "Log.entryAdded" and p["entry"].get("level") in ("error", "warning")],
        "requests": [p["request"]["url"][:80] for ev, p in zip(events, params, strict=True)
                     if ev.get("method") == "Network.requestWillBeSent"],
        "failed": [p.get("errorText", "") for ev, p in zip(events, params, strict=True)
                   if ev.get("method") == "Network.loadingFailed"],
        "seconds": round(time.monotonic() - start, 2),
    }


def problems(result: dict) -> list[str]:
    """Everything that would make a reader's page look broken; empty when the page is clean."""
    out = [f"console {c}" for c in result["console"] if not c.startswith(("log:", "info:", "debug:"))]
    out += [f"exception {x}" for x in result["exceptions"]]
    out += [f"log {x}" for x in result["log_errors"]]
    out += [f"network {u}" for u in result["requests"] if not u.startswith(("file:", "data:", "about:"))]
    out += [f"failed load {x}" for x in result["failed"]]
    out += [f"image did not render: {i['src']}" for i in result["images"] if not (i["ok"] and i["width"] > 0)]
    return out


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html")
    ap.add_argument("--screenshot")
    args = ap.parse_args()
    res = check_page(args.html, args.screenshot)
    bad = problems(res)
    print(json.dumps({**res, "images": len(res["images"]), "problems": bad}, indent=2))
    sys.exit(1 if bad else 0)
