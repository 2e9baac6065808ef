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
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hn_broker import BrokerConfig, BrokerService, LocalCa, make_local_ca
from hn_brokerlist import BrokerlistConfig, BrokerlistService
from hn_datatier.local import DataTier
from hn_process import run_tool, time_factor
from hn_runtime.testing import running, wait_for

from _platform import Platform, platform_on

#: the npm package of the page, from the sandbox's root (the working directory of a Pants test)
PAGE = Path("clients/web")
#: Debian's chromium (scripts/install-system-packages.sh installs it)
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def built_page() -> Path:
    """The page built as `./hn up` builds it: npm ci from the lockfiles, the SDK, then esbuild."""
    # npm works offline from its cache when that holds the lockfiles' packages.
    out = run_tool(["bash", "scripts/build.sh"], cwd=PAGE, timeout=600)
    return Path(out.strip().splitlines()[-1])


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
        env = {
            **os.environ,
            "HN_PAGE_URL": page_url,
            "HN_TEST_TRANSPORTS": "ws,wss",
            "HN_TEST_CERT_FILE": ca.cert_file,
            "HN_CHROMIUM": CHROMIUM,
            "HN_TEST_TIME_FACTOR": str(time_factor()),
        }
        out = run_tool(["node", "test/duel.mjs"], cwd=PAGE, env=env, timeout=180)
    print(out)
    assert "browser duel: ok over ws and wss" in out
