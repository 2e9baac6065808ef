"""Yellow's status page in a real headless Chromium, live through a Redis failover on `hn up`.

The page stays loaded (never reloaded: a marker set on the first load must survive) while the
test kills shard0's master; the page must show, by itself, the replica promoted and the old
master down, every Sentinel agreeing; and sso's request rate from the calls `hn call` made.

Chromium is driven through Debian's chromedriver by plain W3C WebDriver over HTTP (a few JSON
requests: no Selenium in the lockfile for one test).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from hn_cli import read_cluster
from hn_process import ManagedProcess, WaitTimeout, free_port, port_accepts
from hn_runtime.testing import time_factor, wait_for

from _hn import hn, hn_up

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
]

#: the page's rows as [shard, role, address, class] and [service, family, rate text]
READ_PAGE = """
const rows = (selector, read) => Array.from(document.querySelectorAll(selector)).map(read);
return {
  marker: window.hnMarker || null,
  redis: rows("#redis tr[data-shard]", r => [r.dataset.shard, r.dataset.role, r.dataset.address, r.className,
                                             r.cells[8].textContent]),
  sentinels: rows("#sentinels tr[data-address]", r => r.className),
  pgpool: rows("#pgpool tr[data-role]", r => [r.dataset.role, r.className]),
  services: rows("#services tr[data-service]", r => [r.dataset.service, r.dataset.family,
                                                     r.querySelector(".rate").textContent]),
};
"""


class Browser:
    """One WebDriver session of chromedriver."""

    def __init__(self, base: str, profile: str) -> None:
        self.base = base
        options = {"binary": CHROMIUM, "args": [*FLAGS, f"--user-data-dir={profile}"]}
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=60 * time_factor()) as response:
            return json.load(response)["value"]

    def get(self, url: str) -> None:
        self._call("POST", f"/session/{self.session}/url", {"url": url})

    def run(self, script: str) -> Any:
        return self._call("POST", f"/session/{self.session}/execute/sync", {"script": script, "args": []})

    def quit(self) -> None:
        self._call("DELETE", f"/session/{self.session}")


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    port = free_port()
    scratch = tempfile.TemporaryDirectory(prefix="hn-chromium-")
    driver = ManagedProcess(
        "chromedriver",
        [CHROMEDRIVER, f"--port={port}"],
        log_path=os.path.join(scratch.name, "chromedriver.log"),
    ).start()
    try:
        wait_for(lambda: port_accepts(port), timeout=30, message="chromedriver listening")
        browser = Browser(f"http://127.0.0.1:{port}", os.path.join(scratch.name, "profile"))
        try:
            yield browser
        finally:
            browser.quit()
    finally:
        driver.stop()
        scratch.cleanup()


@pytest.mark.integration
def test_the_status_page_shows_a_redis_failover_live_in_chromium() -> None:
    assert os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER), "Debian's chromium and chromium-driver"
    with hn_up("--bots", "0") as up, chromium() as browser:
        cluster = read_cluster(str(up.run_dir))
        shard0 = cluster["data_tier"]["redis"][0]
        assert shard0["shard"] == "shard0"
        old, new = (node["address"] for node in shard0["nodes"])
        browser.get(cluster["yellow_status_page"])
        browser.run("window.hnMarker = 'first load';")
        last: dict[str, Any] = {}

        def read() -> dict[str, Any]:
            last.update(browser.run(READ_PAGE))
            return last

        def until(condition: Callable[[], Any], what: str, timeout: float = 60) -> Any:
            try:
                return wait_for(condition, timeout=timeout, interval=0.5, message=what)
            except WaitTimeout as exc:
                raise AssertionError(f"{exc}; the page last showed {last}") from None

        def sso_rate() -> str | None:
            rates = [s[2] for s in read()["services"] if s[:2] == ["sso", "requests"]]
            return rates[0] if rates else None

        # Yellow scrapes only while someone looks: calls made once the page has a first window.
        until(lambda: sso_rate() not in (None, "–"), "sso's first window")
        for _ in range(3):
            called = hn(up.run_dir, "call", "sso", "health")
            assert called.returncode == 0, called.stderr

        def shard0_rows(page: dict[str, Any]) -> list[list[str]]:
            return sorted(row[1:4] for row in page["redis"] if row[0] == "shard0")

        def healthy() -> dict[str, Any] | None:
            page = read()
            ok = (
                shard0_rows(page) == [["master", old, "up"], ["replica", new, "up"]]
                and page["sentinels"] == ["up", "up", "up"]
                and sorted(page["pgpool"]) == [["primary", "up"], ["standby", "up"]]
                and sso_rate() not in (None, "–", "0.00/s")
            )
            return page if ok else None

        page = until(healthy, "the tier healthy and sso's rate")
        assert any(row[4].startswith("3/3 agree") for row in page["redis"] if row[:2] == ["shard0", "master"]), page

        os.kill(shard0["nodes"][0]["pid"], signal.SIGKILL)

        def failed_over() -> dict[str, Any] | None:
            page = read()
            rows = shard0_rows(page)
            return page if rows == [["master", new, "up"], ["replica", old, "down"]] else None

        page = until(failed_over, "the replica promoted, the old master down")
        master = next(row for row in page["redis"] if row[:2] == ["shard0", "master"])
        assert master[4].startswith("3/3 agree"), page
        assert page["marker"] == "first load", "the page updated itself, without a reload"
