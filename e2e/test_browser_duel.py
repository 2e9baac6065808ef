"""High Noon in a browser, end to end: two headless Chromium tabs play one whole duel.

The page (clients/web) is installed and built with npm here (the SDK with it), and served by a
brokerlist under /play/. Two brokers: one plain (TCP and ws), one with a certificate of a
throwaway local CA (TLS and wss). clients/web/test/duel.mjs drives Chromium through Playwright:
one tab plays over ws, the other over wss (Chromium trusts the test certificate's key alone), each
logs in as a guest, queues, waits for the signal, shoots, and sees the result and its rating.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hn_broker import BrokerConfig, BrokerService, LocalCa, make_local_ca
from hn_brokerlist import BrokerlistConfig, BrokerlistService
from hn_datatier.local import DataTier
from hn_process import time_factor
from hn_runtime.testing import running, wait_for

from _platform import Platform, platform_on

#: the npm package of the page, from the sandbox's root (the working directory of a Pants test)
PAGE = Path("clients/web")
#: Debian's chromium (scripts/install-system-packages.sh installs it)
CHROMIUM = "/usr/bin/chromium"


def _npm(*args: str, timeout_s: float) -> str:
    """`npm ARGS` in the page's package; its output, or the test fails with it."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        ["npm", *args],
        cwd=PAGE,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout_s * time_factor(),
    )
    assert done.returncode == 0, f"npm {' '.join(args)} exited with {done.returncode}:\n{done.stdout[-20000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def built_page() -> Path:
    """The page built as `hn up` builds it: dependencies from the lockfiles, then esbuild."""
    # Offline from npm's cache when it holds the lockfiles' packages; the registry otherwise.
    _npm("ci", "--prefer-offline", "--no-audit", "--no-fund", timeout_s=300)
    _npm("run", "build", timeout_s=300)
    return (PAGE / "dist").resolve()


def _schemes(url: str) -> set[str]:
    with urllib.request.urlopen(f"{url}v2/brokers", timeout=2) as response:
        return {kind for broker in json.load(response)["brokers"] for kind in broker["endpoints"]}


@contextlib.contextmanager
def _page_brokerlist(platform: Platform, page: Path, ca: LocalCa) -> Iterator[str]:
    """Beside the platform's plain broker, one speaking TLS and wss; and a brokerlist serving
    the page. Yields the page's URL once brokerlist lists both brokers' schemes."""
    ids = platform.identities
    secure = BrokerConfig(
        redis_url=platform.tier.env["HN_REDIS_URL"], ws_port=0, tls_cert=ca.cert_file, tls_key=ca.key_file
    )
    with (
        running(BrokerService(secure), discovery=platform.discovery, curve=ids.curve_config("broker")),
        running(
            BrokerlistService(BrokerlistConfig(page_dir=str(page))),
            discovery=platform.discovery,
            curve=ids.curve_config("brokerlist"),
        ) as brokerlist,
    ):
        url = f"http://{brokerlist.endpoints['http']}/"
        wait_for(lambda: _schemes(url) == {"tcp", "ws", "tls", "wss"}, message="both brokers listed with every scheme")
        yield f"{url}play/"


def test_two_browser_tabs_duel_over_ws_and_wss(data_tier: DataTier, built_page: Path, tmp_path: Path) -> None:
    ca = make_local_ca(str(tmp_path / "tls"))
    with (
        platform_on(data_tier, matches=1, ws_port=0) as platform,
        _page_brokerlist(platform, built_page, ca) as page_url,
    ):
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        env.update(
            HN_PAGE_URL=page_url,
            HN_TEST_TRANSPORTS="ws,wss",
            HN_TEST_CERT_FILE=ca.cert_file,
            HN_CHROMIUM=CHROMIUM,
            HN_TEST_TIME_FACTOR=str(time_factor()),
        )
        done = subprocess.run(
            ["node", "test/duel.mjs"],
            cwd=PAGE,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=180 * time_factor(),
        )
    print(done.stdout)
    assert done.returncode == 0, done.stdout[-20000:]
    assert "browser duel: ok over ws and wss" in done.stdout
