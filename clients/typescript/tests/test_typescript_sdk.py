"""The TypeScript SDK's tests, run by the repository's test command.

`npm ci`, then `npm test` (the IDL generated, the SDK built with tsc, node's test runner over
clients/typescript/test/) against a real platform started here: yellow, sso, match, two brokers
(one plain: TCP and WebSocket; one with a certificate of a local CA: TLS and secure WebSocket) and
brokerlist in this process, on the data tier. The node tests find it through HN_BROKERLIST_URL,
and the CA to trust in HN_TEST_CA_FILE.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from hn_broker import BrokerConfig, BrokerService, LocalCa, make_local_ca
from hn_brokerlist import BrokerlistService
from hn_datatier.local import DataTier
from hn_match import MatchConfig, MatchService, Timing
from hn_process import run_tool
from hn_runtime.testing import running, wait_for
from hn_sso import SsoConfig, SsoService
from hn_yellow import YellowService
from hn_yellow_client import YellowDiscovery

#: the npm package, from the sandbox's root (the working directory of a Pants test)
PACKAGE = Path("clients/typescript")
#: a broker idle cut short enough for the test of pings to see it happen
BROKER_IDLE_S = 2.0
#: a queue per node test that queues, so players of different tests are never paired
MODES = ("duel", "ts_push", "ts_duel", "ts_resume", "ts_schemes")
#: the schemes the two brokers serve between them
SCHEMES = {"tcp", "ws", "tls", "wss"}


def _schemes_listed(url: str) -> set[str]:
    with urllib.request.urlopen(f"{url}v2/brokers", timeout=2) as response:
        return {kind for broker in json.load(response)["brokers"] for kind in broker["endpoints"]}


@contextlib.contextmanager
def _platform(tier: DataTier, ca: LocalCa) -> Iterator[str]:
    """The platform a game client sees, on `tier`; yields brokerlist's URL."""
    data = {"pg_dsn": tier.env["HN_PG_DSN"], "redis_url": tier.env["HN_REDIS_URL"]}
    with contextlib.ExitStack() as stack:
        yellow = stack.enter_context(running(YellowService()))
        discovery = YellowDiscovery([yellow.endpoints["rep"]])
        stack.callback(discovery.directory.close)
        # Every player of the tests comes from 127.0.0.1: one address making many accounts.
        sso = SsoService(SsoConfig(**data, hash_profile="test", account_creations_per_address=10**9))
        stack.enter_context(running(sso, discovery=discovery))
        # A duel short enough for tests; the rules are production's.
        timing = Timing(ready_timeout_s=10.0, signal_delay_s=(0.2, 0.5), shot_window_s=3.0)
        match = MatchService(MatchConfig(**data, modes=MODES, tick_s=0.05, timing=timing))
        stack.enter_context(running(match, discovery=discovery))
        edge = {"redis_url": tier.env["HN_REDIS_URL"], "idle_timeout_s": BROKER_IDLE_S, "ws_port": 0}
        plain = BrokerService(BrokerConfig(**edge))
        secure = BrokerService(BrokerConfig(**edge, tls_cert=ca.cert_file, tls_key=ca.key_file))
        for broker in (plain, secure):
            stack.enter_context(running(broker, discovery=discovery))
        brokerlist = stack.enter_context(running(BrokerlistService(), discovery=discovery))
        url = f"http://{brokerlist.endpoints['http']}/"
        wait_for(
            lambda: all(any(i.state == "up" for i in discovery.directory.instances(name)) for name in ("sso", "match"))
            and _schemes_listed(url) == SCHEMES,
            message="the platform up, its brokers listed with every scheme",
        )
        yield url


def _npm(*args: str, env: dict[str, str], timeout_s: float) -> str:
    """`npm ARGS` in the package; its output, or the test fails with it."""
    return run_tool(["npm", *args], cwd=PACKAGE, env=env, timeout=timeout_s)


def test_typescript_sdk(data_tier: DataTier) -> None:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    # Offline from npm's cache when it holds the lockfile's packages; the registry otherwise.
    _npm("ci", "--prefer-offline", "--no-audit", "--no-fund", env=env, timeout_s=300)
    scratch = tempfile.mkdtemp(prefix="hn-ts-ca-")
    try:
        ca = make_local_ca(scratch)
        with _platform(data_tier, ca) as brokerlist_url:
            env.update(
                HN_BROKERLIST_URL=brokerlist_url, HN_TEST_BROKER_IDLE_S=str(BROKER_IDLE_S), HN_TEST_CA_FILE=ca.ca_file
            )
            out = _npm("test", env=env, timeout_s=300)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    sys.stdout.write(out)
    assert "# skipped 0" in out and "# fail 0" in out, out[-5000:]
