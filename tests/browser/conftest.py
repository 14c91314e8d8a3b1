"""JupyterLab in a real subprocess and headless Debian Chromium (Python Playwright).

The lab gets its own temporary root, data, config and runtime directories and
an SQLite store (env ``MOTORHEAD_URL``) that the tests seed and inspect, so
nothing of the developer's setup leaks in and no state is left behind.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic", "--disable-dev-shm-usage"]
TIMEOUT_MS = 60_000  # generous: CI runs JupyterLab and Chromium on 2 slow cores


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _need(condition: bool, reason: str) -> None:
    if not condition:
        if IN_CI:
            pytest.fail(f"{reason} (required under CI)")
        pytest.skip(reason)


@dataclass
class Lab:
    url: str
    store_url: str
    root: Path
    log: Path

    def memory(self) -> Any:
        import motorhead_magic as mh

        return mh.connect(self.store_url, window_size=4)


@contextmanager
def running_lab(base: Path) -> Iterator[Lab]:
    """A JupyterLab server on a free loopback port, without token, with its own
    dirs under ``base`` (also used by ``benchmarks/bench_lab.py``)."""
    dirs = {name: base / name for name in ("root", "data", "config", "runtime", "ipython")}
    for d in dirs.values():
        d.mkdir(parents=True, exist_ok=True)
    # No "get Jupyter news?" toast over the screenshots.
    labconfig = dirs["config"] / "labconfig"
    labconfig.mkdir(exist_ok=True)
    (labconfig / "page_config.json").write_text(json.dumps(
        {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}))
    store_url = f"sqlite:///{base / 'memory.db'}"
    port = _free_port()
    env = {
        **os.environ,
        "MOTORHEAD_URL": store_url,
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "IPYTHONDIR": str(dirs["ipython"]),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    log = base / "lab.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
           "--ip=127.0.0.1", "--ServerApp.port_retries=0", "--allow-root",
           "--IdentityProvider.token=", "--ServerApp.password=", "--LabApp.news_url=None",
           "--LabApp.expose_app_in_browser=True", "--ServerApp.open_browser=False",
           f"--ServerApp.root_dir={dirs['root']}"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited early:\n{log.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/motorhead-magic/api/sessions", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"jupyter lab did not answer:\n{log.read_text()[-3000:]}") from None
                time.sleep(0.5)
        yield Lab(url=url, store_url=store_url, root=dirs["root"], log=log)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("lab")) as lab:
        yield lab


def launch_chromium(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                      headless=True)


def open_lab(context: Any, lab: Lab) -> Any:
    """A page on the lab, once JupyterLab and the sidebar's plugin are up and restored."""
    page = context.new_page()
    # A workspace of its own, so no earlier test's notebooks are restored into this page.
    page.goto(f"{lab.url}/lab/workspaces/t{uuid.uuid4().hex[:12]}", wait_until="domcontentloaded")
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.commands"
                           " .hasCommand('motorhead:open-sidebar')", timeout=120_000)
    # Wait for the layout restorer, or it re-activates the file browser after our clicks.
    page.evaluate("() => window.jupyterapp.restored.then(() => true)")
    return page


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium for one test module. Not per session: while sync Playwright runs, its
    asyncio loop counts as running in the main thread, which breaks later async
    tests (pytest-jupyter's) in the same pytest process."""
    _need(Path(CHROMIUM).exists(), f"{CHROMIUM} is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "python playwright is not installed")
    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, lab: Lab, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh browser context on the lab; a screenshot is kept if the test fails."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = open_lab(context, lab)
    yield page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        shot(page, f"FAILED-{request.node.name}")
    context.close()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
