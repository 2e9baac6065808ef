"""One platform for the whole chaos run, and the figures table every scenario adds a row to."""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from hn_chaos import Figures, markdown_table, write_report, write_summary

from _nemesis import Platform, green_psycopg2
from _started import chaos_spec, started

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

## Partitions

`chaos/test_partitions.py` runs the platform over 12 hosts: Linux network namespaces, each with
its own address on a switch of the harness's own (libs/hn-netns), every link delayed 2 ms ± 1 ms
with 0.1 % loss, every service binding and advertising its host's address, CURVE on, two yellows
(independent peers: every instance heartbeats to both, clients merge their views). The test
process itself is on the `bots` host: its players, probes and checks cross the links.

| host | holds |
|---|---|
| pg | the PostgreSQL primary and its synchronous replica |
| pool | Pgpool-II, sentinel-2 |
| cache-a | both Redis shards' masters (at start) |
| cache-b | their replicas |
| proxy | Twemproxy (nutcracker and its Sentinel agent) |
| yellow-1 | yellow-1, brokerlist |
| yellow-2 | yellow-2 |
| svc-1 | sso-1, match-1, sentinel-0 |
| svc-2 | sso-2, match-2, sentinel-1 |
| edge-1, edge-2 | broker-1, broker-2 |
| bots | the test: 10 players, the probes, the checks |

Redis runs with `min-replicas-to-write 1` and `min-replicas-max-lag 3` here (off in the loopback
cluster). A cut drops packets on arrival (the sender's `send()` succeeds, nothing arrives), as a
real partition does; "served again after" and "healed after" count from the moment it is in
force (hn-netns returns it once every rule is written). Each scenario runs under the same load
and checks as every row here, every must-be-0 column asserted:

- **a broker's host cut from the service hosts** (edge-1 from yellow-1, yellow-2, svc-1, svc-2;
  the players still reach it): broker-1 reaches neither yellow nor any instance of its services,
  fences itself and turns its players away; the scenario holds until no player is on broker-1
  and duels go on (on broker-2, where they resumed their sessions), then heals.
- **a match host cut off mid-duel** (svc-1 isolated once a duel is in progress on match-1, as
  match's own record of each player's duel says): held until yellow marks match-1 down, then
  healed. Also asserted: each duel in progress at the cut is stored at most once, and as its
  players were told (a player told a result finds it stored; one told it failed finds none).
- **the yellows split** into yellow-1 + svc-1 + edge-1 and yellow-2 + svc-2 + edge-2 (the data
  tier and the players hear both sides): held until each yellow has marked the other side's
  instances down, then healed. Healed means the views converged: every instance up in both
  yellows with the same endpoints, brokerlist listing every broker. Also asserted: no call goes
  to an instance that is not there once they have: no operation begun afterwards ends without an
  answer or with an error saying its instance was gone or out of reach (a live instance's own
  refusal, such as match's "finish duel X first" to a player whose duel began during the split,
  is counted in the notes).
- **the Redis masters' host cut off while a client on its side keeps writing**: a writer inside
  the host of shard0's master writes numbered keys straight to it every 20 ms and records which
  were acknowledged; the host is isolated (from the Sentinels, the replicas, Twemproxy, every
  service); held until Sentinel has promoted the replica, Twemproxy follows it and max-lag + 3 s
  have passed; healed; once the old master is the new one's replica, the acknowledged keys
  missing on the new master are counted (the notes). Run twice: min-replicas **off** (the
  classic loss: everything the isolated master acknowledged after the cut) and **on**, where
  the bound is asserted: the isolated master acknowledges no write invoked later than max-lag +
  3 s after the cut was in force (the replica acknowledges once a second, the master counts the
  lag in whole seconds and recounts its good replicas once a second), and every lost write was
  invoked between 1 s before the cut began going in and that limit; the bound in the notes is
  the number of writes acknowledged in that window. The price of "on" shows in its row: a
  promoted master has no replica until the old one rejoins after the heal, so it refuses writes
  until then. These writes are the measurement, not the players' operations: the must-be-0
  columns stay the players'.
- **Pgpool's host cut off** for 4 s, then healed.
- **an asymmetric partition**: svc-1 stops hearing edge-1 (broker-1's packets to sso-1 and
  match-1 are dropped on arrival) while edge-1 still hears svc-1, for 8 s, then healed.
- **a flapping link**: svc-2 cut off from every host and joined again (0.5 s each, plus the time
  the rules take to change: the notes say how many times it went down) for 8 s.

Run the whole file with `PANTS_CONCURRENT=True ./pants test chaos/test_partitions.py` (as root:
without, it fails rather than skips); `HN_PARTITIONS=smoke` runs two scenarios, the broker cut
and the Redis cut with min-replicas on.

## Every scenario
"""


@pytest.fixture(scope="session")
def platform() -> Iterator[Platform]:
    """The loopback cluster (a test file may override this fixture with a cluster of its own)."""
    with started(chaos_spec()) as cluster:
        green_psycopg2()
        platform = Platform(cluster)
        platform.wait_healthy(timeout=180, what="the platform up")
        yield platform


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
