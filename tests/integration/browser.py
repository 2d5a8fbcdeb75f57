"""Open a page in Debian's headless Chromium and report what a person would see: console errors, the
charts' drawn sizes, and a screenshot. Driven over the Chrome DevTools Protocol with aiohttp's websocket
client (no browser-driver dependency). scripts/bootstrap.sh test installs chromium.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

# The flags this machine's notes give for a closed network: no background connections, no sandbox (root).
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--hide-scrollbars", "--remote-debugging-port=0"]


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclasses.dataclass
class PageView:
    errors: list[str]  # console errors, uncaught exceptions, failed loads
    charts: list[dict[str, float]]  # per <svg>: width, height (CSS px), drawn paths
    title: str
    screenshot: bytes  # PNG
    probe: Any = None  # the value of view()'s ``probe`` expression, evaluated in the loaded page


async def view(url: str, *, width: int = 1200, max_height: int = 2400, timeout_s: float = 60,
               probe: str | None = None) -> PageView:
    """Load ``url`` in a fresh headless Chromium and look at it; ``probe``, a JavaScript expression with a
    JSON-able value, is evaluated once the page has loaded (before the screenshot resizes the viewport)."""
    exe = chromium()
    if exe is None:
        raise RuntimeError("chromium is not installed (scripts/bootstrap.sh test installs it)")
    profile = Path(tempfile.mkdtemp(prefix="chromium-"))
    proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", f"--window-size={width},900",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        port = await _devtools_port(profile, proc, timeout_s)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = await resp.json()
            page = next(t for t in targets if t.get("type") == "page")
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                return await asyncio.wait_for(_look(ws, url, width, max_height, probe), timeout_s)
    finally:
        proc.kill()
        proc.wait(10)
        shutil.rmtree(profile, ignore_errors=True)


async def _devtools_port(profile: Path, proc: subprocess.Popen, timeout_s: float) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
        with contextlib.suppress(OSError, ValueError):
            return int(marker.read_text().splitlines()[0])
        await asyncio.sleep(0.1)
    raise RuntimeError("chromium did not open its DevTools port")


async def _look(ws: aiohttp.ClientWebSocketResponse, url: str, width: int, max_height: int,
                probe: str | None) -> PageView:
    ids = itertools.count(1)
    errors: list[str] = []
    events: asyncio.Queue = asyncio.Queue()
    pending: dict[int, asyncio.Future] = {}

    async def reader() -> None:
        async for msg in ws:
            data = json.loads(msg.data)
            if "id" in data and data["id"] in pending:
                pending.pop(data["id"]).set_result(data)
            else:
                events.put_nowait(data)

    async def call(method: str, **params: Any) -> dict[str, Any]:
        n = next(ids)
        pending[n] = asyncio.get_running_loop().create_future()
        await ws.send_str(json.dumps({"id": n, "method": method, "params": params}))
        answer = await pending[n]
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    task = asyncio.create_task(reader())
    try:
        for domain in ("Runtime", "Log", "Page"):
            await call(f"{domain}.enable")
        await call("Emulation.setDeviceMetricsOverride", width=width, height=900, deviceScaleFactor=1, mobile=False)
        await call("Page.navigate", url=url)
        while True:  # until the load event, noting every error on the way
            event = await events.get()
            _note_error(event, errors)
            if event.get("method") == "Page.loadEventFired":
                break
        await asyncio.sleep(0.3)  # late console messages
        while not events.empty():
            _note_error(events.get_nowait(), errors)
        measured = await call("Runtime.evaluate", returnByValue=True, expression="""
            ({title: document.title, height: document.documentElement.scrollHeight,
              charts: Array.from(document.querySelectorAll('svg')).map(s => {
                const r = s.getBoundingClientRect();
                return {width: r.width, height: r.height, paths: s.querySelectorAll('path').length};
              })})""")
        value = measured["result"]["value"]
        probed = None
        if probe is not None:
            answer = await call("Runtime.evaluate", returnByValue=True, expression=probe)
            if "exceptionDetails" in answer:
                raise RuntimeError(f"probe failed: {answer['exceptionDetails'].get('text')}")
            probed = answer["result"].get("value")
        height = min(int(value["height"]), max_height)
        await call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                   mobile=False)
        shot = await call("Page.captureScreenshot", format="png")
        return PageView(errors, value["charts"], value["title"], base64.b64decode(shot["data"]), probed)
    finally:
        task.cancel()


def _note_error(event: dict[str, Any], errors: list[str]) -> None:
    method, params = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        errors.append("console: " + " ".join(str(a.get("value", a.get("description"))) for a in params["args"]))
    elif method == "Runtime.exceptionThrown":
        errors.append("exception: " + params["exceptionDetails"].get("text", ""))
    elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
        errors.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
