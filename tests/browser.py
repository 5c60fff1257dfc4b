"""A real headless browser for the tests of the HTML reports: Chromium driven over the DevTools
protocol (a websocket, ``websocket-client``).

:func:`chromium` finds the browser (Debian's ``chromium``, which ``.ci/run`` installs). Without
one the browser tests are skipped, unless ``TWIN_REQUIRE_BROWSER`` is set (CI sets it), when they
fail instead. :class:`Browser` starts it headless with a fresh profile and no network of its own
(no sync, no component updates, no background requests), and :meth:`Browser.load` opens a page
and reports what a person opening it would meet: console errors and uncaught exceptions, every
request the page made, and the rendered size of each of its figures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REQUIRE_ENV = "TWIN_REQUIRE_BROWSER"
NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--window-size=1400,1000",
)
TIMEOUT = 60.0


def chromium() -> str:
    """The Chromium executable, or skip (fail when :data:`REQUIRE_ENV` is set)."""
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get(REQUIRE_ENV):
        pytest.fail(f"{REQUIRE_ENV} is set but no Chromium is installed (looked for {NAMES})")
    pytest.skip("no Chromium installed (apt-get install chromium)")


@dataclass
class Page:
    """What loading a page showed."""

    errors: list[str]
    """Console errors, uncaught exceptions and failed loads, one line each."""
    requests: list[str]
    """URLs the page requested (the page itself first)."""
    figures: list[dict[str, Any]]
    """Each ``<figure>``'s content: ``tag``, rendered ``width`` and ``height``, and for images the
    decoded ``natural_width``."""
    scripts: int
    title: str


class Browser:
    """One headless Chromium (a context manager), pages loaded one after another."""

    def __init__(self, executable: str) -> None:
        import websocket  # the test extra's websocket-client

        self._profile = tempfile.mkdtemp(prefix="twin-chromium-")
        self._process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self._profile}", "--remote-debugging-port=0"]
            + ["about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port = self._port()
            page = self._page_target(port)
            self._socket = websocket.create_connection(
                page["webSocketDebuggerUrl"], timeout=TIMEOUT, suppress_origin=True
            )
        except BaseException:
            self.close()
            raise
        self._next = 0
        self._events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._call(f"{domain}.enable")

    def _port(self) -> int:
        active = Path(self._profile) / "DevToolsActivePort"
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"Chromium exited with status {self._process.returncode}")
            lines = active.read_text().splitlines() if active.is_file() else []
            if len(lines) >= 2:
                return int(lines[0])
            time.sleep(0.05)
        raise TimeoutError("Chromium did not open its DevTools port")

    @staticmethod
    def _page_target(port: int) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
                pages = [t for t in json.load(reply) if t.get("type") == "page"]
            if pages:
                return pages[0]
            time.sleep(0.05)
        raise TimeoutError("Chromium has no page to drive")

    def _receive(self) -> dict[str, Any]:
        message: dict[str, Any] = json.loads(self._socket.recv())
        return message

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        self._next += 1
        self._socket.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:
            message = self._receive()
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self._events.append(message)

    def _wait_for(self, method: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == method for e in self._events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {method} within {TIMEOUT} s")
            self._events.append(self._receive())

    def load(self, path: Path) -> Page:
        """Open ``path`` and report on it once it has loaded (:class:`Page`)."""
        self._events = []
        self._call("Page.navigate", url=path.resolve().as_uri())
        self._wait_for("Page.loadEventFired")
        time.sleep(0.2)  # late console messages
        self._call("Runtime.evaluate", expression="0")  # drains what arrived meanwhile
        figures = self._evaluate(
            """[...document.querySelectorAll('figure')].map(f => {
                 const e = f.querySelector('svg, img');
                 if (!e) return {tag: null, width: 0, height: 0};
                 const b = e.getBoundingClientRect();
                 return {tag: e.tagName.toLowerCase(), width: b.width, height: b.height,
                         natural_width: e.naturalWidth === undefined ? null : e.naturalWidth};
               })"""
        )
        return Page(
            errors=self._errors(),
            requests=[
                e["params"]["request"]["url"]
                for e in self._events
                if e.get("method") == "Network.requestWillBeSent"
            ],
            figures=figures,
            scripts=self._evaluate("document.scripts.length"),
            title=self._evaluate("document.title"),
        )

    def _evaluate(self, expression: str) -> Any:
        reply = self._call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"evaluating {expression!r}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def _errors(self) -> list[str]:
        out = []
        for e in self._events:
            method, params = e.get("method"), e.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append("console: " + " ".join(str(a.get("value")) for a in params.get("args", [])))
            elif method == "Runtime.exceptionThrown":
                out.append("exception: " + str(params.get("exceptionDetails", {}).get("text")))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.append("log: " + str(params["entry"].get("text")))
            elif method == "Network.loadingFailed":
                out.append("failed load: " + str(params.get("errorText")))
        return out

    def close(self) -> None:
        socket = getattr(self, "_socket", None)
        if socket is not None:
            socket.close()
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
