"""The HTML report in a real browser: headless Chromium driven over the W3C WebDriver protocol.

The protocol is plain HTTP + JSON, so a dozen lines of ``urllib`` replace a client library. The report
opened from disk must log no errors, sort its table on a click, draw every picture with a non-zero size,
decode every embedded PNG, request nothing over the network and run no plugin-provided script. A
full-page screenshot is saved under ``test-artifacts/`` for people to look at. Skipped where Chromium or
chromedriver is not installed (``.ci/run`` installs both).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from unlearnbench.cli import main
from unlearnbench.reporting.html import write_html
from unlearnbench.results import RunResults, Summary, load

REPO_ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO_ROOT / "test-artifacts"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
HOSTILE = '<script>window.pwned = 1</script><img src="x" onerror="window.pwned = 2"> Evil et al. 2024'

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Chromium and chromedriver (apt-get install chromium chromium-driver)",
)


class WebDriver:
    """The few WebDriver commands these tests use, against a chromedriver started on a free port."""

    def __init__(self, user_data_dir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        assert CHROMEDRIVER is not None
        self.process = subprocess.Popen(
            [CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while not self._ready():
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.process.kill()
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.1)
        args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-dev-shm-usage",
            f"--user-data-dir={user_data_dir}",
            "--window-size=1280,900",
        ]
        capabilities = {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL", "performance": "ALL"},
        }
        try:
            value = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        except BaseException:
            self.process.kill()
            raise
        self.session = f"/session/{value['sessionId']}"

    def _ready(self) -> bool:
        try:
            return bool(self._call("GET", "/status").get("ready"))
        except (OSError, urllib.error.URLError):
            return False

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read())["value"]
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"{method} {path}: {exc.read().decode(errors='replace')[:500]}") from None

    def command(self, method: str, path: str, body: Any = None) -> Any:
        """One command of the current session, e.g. ``command("POST", "/url", {"url": ...})``."""
        return self._call(method, self.session + path, body)

    def run(self, script: str, *args: Any) -> Any:
        """The value of a synchronous script (``return ...``)."""
        return self.command("POST", "/execute/sync", {"script": script, "args": list(args)})

    def run_async(self, script: str, *args: Any) -> Any:
        """The value a script passes to its last argument, the callback."""
        return self.command("POST", "/execute/async", {"script": script, "args": list(args)})

    def logs(self, kind: str) -> list[dict[str, Any]]:
        """Chromium's log entries of ``kind`` ("browser" or "performance") since the last call."""
        entries: list[dict[str, Any]] = self.command("POST", "/se/log", {"type": kind})
        return entries

    def quit(self) -> None:
        try:
            self.command("DELETE", "")
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    driver = WebDriver(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()


def _with_contestants(results: RunResults) -> RunResults:
    """The run plus a hostile copy of its method item with other numbers, so sorting has work to do."""
    base = results.items[-1]
    shifted = {
        k: dataclasses.replace(v, mean=v.mean - 0.05)
        for k, v in base.summary.items()
        if isinstance(v, Summary)
    }
    hostile = dataclasses.replace(
        base, item_id="hostile[x=<b>1</b>]", method="hostile", description=HOSTILE, summary=shifted
    )
    return dataclasses.replace(results, items=(*results.items, hostile))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> Path:
    folder = tmp_path_factory.mktemp("browser-run") / "run"
    given = os.environ.get("UNLEARNBENCH_BROWSER_RESULTS")
    if given:  # check the report of an existing run (e.g. a cs354-mini results.json) instead of a fresh one
        folder.mkdir(parents=True)
        return write_html(_with_contestants(load(given)), folder / "report.html")
    method = "finetune[epochs=1,lr=0.01]"
    args = ["run", "--preset", "fake", "-q", "--method", method, "--output-dir", str(folder)]
    # Module scope runs before the per-test isolation: isolate by hand (no ./plugins, no config file).
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder.parent)
        patch.setenv("UNLEARNBENCH_CACHE_DIR", str(shared_cache))
        assert main(args) == 0
    return write_html(_with_contestants(load(folder / "results.json")), folder / "report.html")


@pytest.fixture(scope="module")
def opened(browser: WebDriver, report: Path) -> WebDriver:
    browser.logs("browser")
    browser.logs("performance")
    browser.command("POST", "/url", {"url": report.as_uri()})
    return browser


def test_no_console_errors_and_no_script_from_data(opened: WebDriver) -> None:
    severe = [e for e in opened.logs("browser") if e.get("level") == "SEVERE"]
    assert not severe, severe
    assert opened.run("return document.readyState") == "complete"
    assert opened.run("return typeof window.pwned") == "undefined"
    assert HOSTILE in opened.run("return document.body.innerText")


def test_no_network_requests(opened: WebDriver, report: Path) -> None:
    requests = []
    for entry in opened.logs("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            params = message["params"]
            requests.append((params.get("documentURL", ""), params["request"]["url"]))
    # The browser's own pages (a new-tab page loading at start-up) request chrome:// resources: only the
    # report's document counts, and nothing anywhere may go to the network.
    page = report.as_uri()
    mine = [url for document, url in requests if document == page]
    assert page in mine
    assert [u for u in mine if u != page and not u.startswith("data:image/png;base64,")] == []
    assert [u for _, u in requests if u.split(":", 1)[0] in ("http", "https", "ws", "wss", "ftp")] == []


def test_table_sorts_on_click(opened: WebDriver) -> None:
    read_rows = (
        "return Array.from(document.querySelectorAll('#results tbody tr')).map(r => r.cells[0].textContent)"
    )
    before = opened.run(read_rows)
    assert before[:2] == ["original", "retrain"]
    index = opened.run(
        "return Array.from(document.querySelectorAll('#results thead th'))"
        ".findIndex(h => h.title.startsWith('accuracy.TA'))"
    )
    assert index > 0
    header = opened.command(
        "POST", "/element", {"using": "css selector", "value": f"#results thead th:nth-child({index + 1})"}
    )
    element = next(iter(header.values()))
    values = (
        "return Array.from(document.querySelectorAll('#results tbody tr.method'))"
        f".map(r => Number(r.cells[{index}].getAttribute('data-value')))"
    )
    opened.command("POST", f"/element/{element}/click", {})
    ascending = opened.run(values)
    assert len(ascending) == 2 and ascending == sorted(ascending) and ascending[0] < ascending[1]
    assert opened.run(read_rows)[:2] == ["original", "retrain"]  # references stay on top
    opened.command("POST", f"/element/{element}/click", {})
    assert opened.run(values) == sorted(ascending, reverse=True)


def test_every_picture_renders(opened: WebDriver) -> None:
    sizes = opened.run(
        "return Array.from(document.querySelectorAll('figure')).map(f => {"
        "const r = f.querySelector('svg').getBoundingClientRect(); return [f.id, r.width, r.height]; })"
    )
    assert len(sizes) >= 1 + 5 * 4 + 5
    assert [s for s in sizes if not (s[1] > 50 and s[2] > 50)] == []
    decoded = opened.run_async(
        "const done = arguments[arguments.length - 1];"
        "const srcs = Array.from(document.querySelectorAll('svg image')).map(i => i.getAttribute('href'));"
        "Promise.all(srcs.map(s => new Promise(ok => { const im = new Image();"
        " im.onload = () => ok(im.naturalWidth);"
        " im.onerror = () => ok(0); im.src = s; }))).then(done);"
    )
    assert decoded and all(width > 0 for width in decoded)


def test_screenshot(opened: WebDriver) -> None:
    height = int(opened.run("return document.documentElement.scrollHeight"))
    opened.command("POST", "/window/rect", {"width": 1280, "height": min(height + 100, 16000)})
    png = base64.b64decode(opened.command("GET", "/screenshot"))
    ARTIFACTS.mkdir(exist_ok=True)
    target = ARTIFACTS / "report.png"
    target.write_bytes(png)
    assert png.startswith(b"\x89PNG") and os.path.getsize(target) > 10_000


def test_the_ranking_opens_the_report_in_order_with_its_marks_and_no_overflow(opened: WebDriver, report: Path) -> None:
    from unlearnbench.reporting.ranking import rank

    opened.command("POST", "/window/rect", {"width": 1280, "height": 800})
    opened.run("window.scrollTo(0, 0)")
    expected = rank(_with_contestants(load(report.with_name("results.json"))))
    assert expected is not None and expected.items
    shown = opened.run("return Array.from(document.querySelectorAll('#ranking-table tbody tr:not(.baseline) th'))"
                       ".map(t => t.textContent)")  # fmt: skip
    assert shown == [item.item_id for item in expected.items]
    ties = opened.run("return document.querySelectorAll('#ranking-table .tie').length")
    assert ties == sum(item.tied_with_above for item in expected.items)
    top = opened.run("return document.querySelector('#ranking-table').getBoundingClientRect().top")
    height = opened.run("return window.innerHeight")
    assert top < height, "the ranking starts on the first screen"
    width = opened.run("return window.innerWidth")
    assert opened.run("return document.querySelector('#ranking-table').getBoundingClientRect().right") <= width
    assert opened.run("return document.documentElement.scrollWidth") <= width  # no horizontal scrolling
