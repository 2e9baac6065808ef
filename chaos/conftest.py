"""One platform for the whole chaos run, and the figures table every scenario adds a row to."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from typing import Any

import gevent
import pytest

from hn_chaos import Figures, markdown_table, write_report, write_summary
from hn_cli import Cluster, ClusterSpec
from hn_process import Watchdog

from _nemesis import Platform, green_psycopg2

#: the repository to write the figures into when set (an absolute path: tests run in a sandbox):
#: the whole table to docs/reliability.md, the summary into README.md's figures block "chaos"
REPORT_ENV = "HN_RELIABILITY_REPO"
COMMAND = 'HN_RELIABILITY_REPO="$PWD" PANTS_CONCURRENT=True ./pants test --force chaos::'

PREAMBLE = """\
The chaos tier (`chaos/`, tests marked `chaos`) runs the whole platform on one machine (hn's local
cluster: the data tier, yellow, 2 sso, 2 match, 2 brokers, brokerlist, each a supervised process),
puts a steady load of 10 players on it (each registers or logs in as a guest, then duels, again and
again, through brokerlist and a broker), and does one thing to it per row. Every operation is
recorded as **ok** (acknowledged), **failed** (a clear error: it did not happen) or **unknown** (no
answer: it may have happened), then checked against PostgreSQL and Redis themselves:

- **lost**: acknowledged operations not there afterwards: a registration that does not log in, a
  guest device bound to another account, a duel result missing or different from what the players
  were told (must be 0);
- **dup.**: something there twice: an account or device twice, a rating applied twice (the rating
  row disagrees with the results), a second live session token for one account (must be 0);
- **unknown applied**: operations that got no answer and happened anyway (allowed: no answer
  promises nothing);
- **failed yet applied**: operations that got a clear error and happened anyway (must be 0: a
  clear error says it did not happen);
- **served again after**: from the moment the fault landed (the killed process dead, the stopped
  one stopped, the cut dropping packets, the proxy's fault switched on) until a fresh player
  (brokerlist, broker, guest login, queue status) got through again, probing all along from that
  moment (an attempt begun before it does not count): 0 s means new players never noticed;
- **healed after**: from the moment the fault landed until every part was back to normal (all
  services up in yellow and brokerlist, both PostgreSQL backends up in Pgpool, each Redis shard
  with one agreed master, a linked replica and Twemproxy pointing at it);
- **errors over**: from the first to the last operation that failed or got no answer.

kill -9 leaves restarting to the supervisor (services; Twemproxy's agent respawns nutcracker) or
restarts at once (PostgreSQL, Pgpool: the launcher, as systemd would); a Redis master is not
restarted: Sentinel promotes its replica and it comes back as a replica. The PostgreSQL primary's
host is lost instead (chaos/test_postgres_failover.py): killed or frozen (the postmaster and every
backend), it stays so until Pgpool's failover_command has fenced it (kill -9 of a frozen one) and
promoted the synchronous replica and Pgpool writes to it; then the keeper rewinds it (pg_rewind)
into the new primary's replica. Its "served again after" is the outage a player sees, from the
fault to the first guest login (a write) through the new primary. SIGSTOP freezes the
process (its whole process group for PostgreSQL and Pgpool) for the time in the notes, then
SIGCONT. Only correctness is asserted (the "must be 0" columns, and **failed** for the rolling
restart: a deploy of every service fails nothing); the times are figures of one run on a shared
2-core VM.

Run it alone with `PANTS_CONCURRENT=True ./pants test chaos::` (or `pytest -m chaos` in an
environment with the repository's sources); with `HN_RELIABILITY_REPO` set to the repository's
absolute path it writes this page and the summary in the README.
"""


def _guard(cluster: Cluster, watchdog: Watchdog) -> None:
    """Hand every service process (each leads its own process group) to a watchdog process that
    stops them if this process dies without stopping the cluster (a test runner's timeout, Pants
    restarting the run after a file changed): the data tier has its own, hn's supervisor has none."""
    watched: dict[int, Any] = {}
    while True:
        for supervised in cluster.processes:
            process = supervised.process
            if process is not None and process.pid not in watched and process.poll() is None:
                watched[process.pid] = process
                watchdog.watch(process.pid, signal.SIGTERM)
        for pid, child in list(watched.items()):
            if child.poll() is not None:  # gone: never signal its process group id again
                watchdog.forget(pid)
                del watched[pid]
        gevent.sleep(0.2)


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    # Not pytest's tmp_path: its parents are 0700, and the data tier runs PostgreSQL as "postgres"
    # when the tests run as root.
    scratch = tempfile.mkdtemp(prefix="hn-chaos-")
    os.chmod(scratch, 0o755)
    spec = ClusterSpec(
        run_dir=scratch,
        extra_env={
            # Short duels (the rules are production's): more of them per scenario.
            "HN_MATCH_SIGNAL_DELAY_S": "0.2,0.6",
            "HN_MATCH_READY_TIMEOUT_S": "5",
            "HN_MATCH_TICK_S": "0.1",
        },
    )
    cluster = Cluster(spec)
    watchdog = Watchdog()
    guard = gevent.spawn(_guard, cluster, watchdog)
    try:
        cluster.start()
        green_psycopg2()
        platform = Platform(cluster)
        platform.wait_healthy(timeout=180, what="the platform up")
        yield platform
    finally:
        guard.kill()
        cluster.stop()
        watchdog.close()
        if os.environ.get("HN_CHAOS_KEEP", "") in ("", "0"):
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            print(f"\nthe run's logs are kept in {cluster.run_dir}")


def _every_file_rows(repo: str, test_file: str, rows: list[Figures]) -> list[Figures]:
    """This test file's rows saved beside the page (docs/reliability.json, one entry per file:
    Pants runs each file in its own process), and every file's rows, in file order."""
    path = os.path.join(repo, "docs", "reliability.json")
    saved: dict[str, list[dict[str, Any]]] = {}
    if os.path.exists(path):
        with open(path) as fh:
            saved = json.load(fh)
    saved[test_file] = [dataclasses.asdict(row) for row in rows]
    with open(f"{path}.tmp", "w") as fh:
        json.dump(saved, fh, indent=1, sort_keys=True)
        fh.write("\n")
    os.replace(f"{path}.tmp", path)
    return [Figures(**row) for name in sorted(saved) for row in saved[name]]


@pytest.fixture(scope="session")
def report(request: pytest.FixtureRequest) -> Iterator[list[Figures]]:
    rows: list[Figures] = []
    yield rows
    if not rows:
        return
    print("\n" + markdown_table(rows))
    repo = os.environ.get(REPORT_ENV)
    if repo:
        test_file = "+".join(sorted({item.path.name for item in request.session.items}))
        every = _every_file_rows(repo, test_file, rows)
        page = os.path.join(repo, "docs", "reliability.md")
        write_report(page, every, title="Reliability: faults under load", command=COMMAND, preamble=PREAMBLE)
        write_summary(os.path.join(repo, "README.md"), every, command=COMMAND)
