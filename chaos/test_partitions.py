"""Partitions under a steady load, the platform spread over hosts (network namespaces with their
own addresses, links that delay and lose: libs/hn-netns), each scenario run as every chaos
scenario is (`run`, in _scenario.py: the same history and checks, a row of figures):

- a broker's host cut from the service hosts: the broker fences itself, its players move to
  the other broker and resume;
- a match host cut off mid-duel, then healed: each duel's fate settles once;
- the two yellows split, each with half the services and a broker, then healed: their views
  converge and no call goes to an instance that is not there once they have;
- a Redis master's host cut from the Sentinels and its replica while a client on its side keeps
  writing to it: acknowledged writes lost on failover, with min-replicas-to-write off, and on
  (then bounded by min-replicas-max-lag, asserted);
- Pgpool's host cut off, then healed;
- an asymmetric partition: a service host stops hearing a broker host (which still hears it);
- a flapping link on a service host.

Root is required (network namespaces): without it the tests fail, they do not skip.
HN_PARTITIONS=smoke runs two scenarios (the broker cut, the Redis master cut with min-replicas
on, about 1.5 min); the whole file (about 4.5 min: one cluster, the scenarios in sequence) is
`PANTS_CONCURRENT=True ./pants test chaos/test_partitions.py`, and scripts/test.sh runs it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from hn_chaos import CheckResult, Figures, Outcome

from _hosts import MAX_LAG_S, SERVICE_HOSTS, SIDES, HostsPlatform, Write, partition_spec
from _nemesis import green_psycopg2
from _scenario import DUELS_AFTER, HOLD_S, Scenario, run
from _started import started

pytestmark = pytest.mark.chaos

#: how long Redis may go on acknowledging writes after its replica was cut off, beyond max-lag:
#: the replica acknowledges once a second, the master counts the lag in whole seconds and
#: refreshes its count of good replicas once a second
MAX_LAG_SLACK_S = 3.0
#: a write older than this before the cut had reached the replica (it streams continuously)
REPLICATED_BEFORE_S = 1.0


@pytest.fixture(scope="session")
def platform() -> Iterator[HostsPlatform]:
    """The cluster over the hosts of _hosts.LAYOUT, min-replicas on; nothing left afterwards."""
    if os.geteuid() != 0:
        pytest.fail("the partition scenarios need root (network namespaces, iptables)")
    with started(partition_spec()) as cluster:
        green_psycopg2()
        platform = HostsPlatform(cluster)
        platform.set_min_replicas(1, MAX_LAG_S)
        platform.wait_healthy(timeout=180, what="the platform up over its hosts")
        network = platform.network
        yield platform
    left = network.leftovers()
    assert not left, f"left behind by the cluster's network: {left}"


# -- a: a broker's host cut from the service hosts ------------------------------------------------


def broker_cut(s: Scenario) -> None:
    p = s.platform
    assert isinstance(p, HostsPlatform)
    broker = "broker-1"
    address = p.instance(broker).endpoints["client"]
    edge = p.host_of(broker)
    on_it = sum(1 for pl in s.workload.players if pl.client is not None and pl.client.broker == address)
    s.land(p.network.cut(edge, p.hosts(SERVICE_HOSTS)))
    s.notes.append(f"cut {edge.name} ({broker}, {on_it} players) from {', '.join(SERVICE_HOSTS)}")
    try:
        s.hold_until(
            lambda: not any(pl.client is not None and pl.client.broker == address for pl in s.workload.players)
            and s.workload.duels_since(s.landed_at or 0.0) >= DUELS_AFTER,
            f"every player off {broker} and {DUELS_AFTER} duels played",
            timeout=60.0,
        )
    finally:
        p.network.heal()


# -- b: a match host cut off mid-duel -------------------------------------------------------------


def match_cut(s: Scenario) -> None:
    p = s.platform
    assert isinstance(p, HostsPlatform)
    svc = p.host_of("match-1")
    in_flight: set[str] = set()

    def accounts() -> list[int]:
        return [pl.client.account.account_id for pl in s.workload.players if pl.client and pl.client.account]

    def mid_duel() -> bool:
        in_flight.update(p.duels_on("match-1", accounts()))
        return bool(in_flight)

    s.hold_until(mid_duel, "a duel in progress on match-1", timeout=30.0)
    s.land(p.network.isolate(svc))
    s.facts["in flight"] = set(in_flight)
    s.notes.append(f"isolated {svc.name} (sso-1, match-1) with {len(in_flight)} duels in progress on match-1")
    try:
        s.hold_until(lambda: getattr(p.instance("match-1"), "state", "") != "up", "yellow marked match-1 down")
    finally:
        p.network.heal()


def settled_once(s: Scenario) -> list[CheckResult]:
    """Each duel in progress on the match instance when it was cut off: stored at most once, and
    only as its players were told (a player told a result finds it; a clear failure finds none)."""
    from _invariants import stored_results

    result = CheckResult("duels cut off mid-way settled once")
    in_flight = sorted(s.facts.get("in flight", set()))
    stored = stored_results(s.platform.tier, in_flight)
    result.checked = len(in_flight)
    told: dict[str, set[Outcome]] = {}
    for op in s.history.ops("duel"):
        if op.key in in_flight and op.outcome is not None:
            told.setdefault(str(op.key), set()).add(op.outcome)
    for match_id in in_flight:
        count = stored.get(match_id, 0)
        if count > 1:
            result.duplicates[match_id] = count
        outcomes = told.get(match_id, set())
        if count == 0 and Outcome.OK in outcomes:
            result.problems.append(f"duel {match_id}: a player was told its result, none stored")
        if count == 1 and Outcome.FAILED in outcomes:
            result.problems.append(f"duel {match_id}: a player was told it failed, a result is stored")
    settled = sum(1 for m in in_flight if stored.get(m, 0) == 1)
    s.notes.append(f"{settled} of them stored once, {len(in_flight) - settled} never")
    return [result]


# -- c: the yellows split ---------------------------------------------------------------------------


def yellows_split(s: Scenario) -> None:
    p = s.platform
    assert isinstance(p, HostsPlatform)
    sides = [p.hosts(side) for side in SIDES]
    yellows = p.cluster.yellow_addresses
    # What each yellow will lose sight of: the instances on the other side.
    unseen = [
        [r for host in other for r in p.cluster.layout[host.name] if r.split("-")[0] in ("sso", "match", "broker")]
        for other in reversed(sides)
    ]
    s.land(p.network.partition(*sides))
    s.notes.append(" vs ".join("+".join(h.name for h in side) for side in sides))
    try:
        s.hold_until(
            lambda: all(
                getattr(p.instance(i, yellow), "state", "up") != "up"
                for yellow, lost in zip(yellows, unseen, strict=True)
                for i in lost
            ),
            "each yellow marked the other side's instances down",
        )
    finally:
        p.network.heal()


#: what an operation's error says when its call went to an instance that was not there (or could
#: not be reached): the broker found no live instance or gave up on one, a duel aborted because its
#: instance was lost, a call lost in flight
_NOT_THERE = ("BrokerRejected", "is gone", "out of reach", "lost with the call in flight", "no live instance")


def calls_after_convergence(s: Scenario) -> list[CheckResult]:
    """Once the yellows' views have converged again (every instance up in both, the same
    endpoints, brokerlist listing every broker: the platform healed), no call goes to an instance
    that is not there: no operation begun afterwards ends without an answer or with an error
    that says its instance was gone or out of reach. A live instance's own answer (match's
    "finish duel X first" to a player whose duel, begun during the split, has not ended yet) is
    not such a call: those are counted in the notes."""
    result = CheckResult("no call to an instance not there once the views converged")
    after = [op for op in s.history.operations if s.healed_at is not None and op.invoked_at >= s.healed_at]
    result.checked = len(after)
    answered = 0
    for op in after:
        if op.outcome is Outcome.OK or op.error == "the workload stopped first":
            continue
        if op.outcome is Outcome.UNKNOWN or any(sign in op.error for sign in _NOT_THERE):
            result.problems.append(f"{op.kind} {op.key} by {op.process} after convergence: {op.error}")
        else:
            answered += 1
    s.notes.append(f"after convergence: {len(after)} operations, {answered} refused by a live instance")
    return [result]


# -- d: a Redis master's host cut from the Sentinels, a client on its side writing ----------------


def redis_master_cut(min_replicas: bool) -> Callable[[Scenario], None]:
    def fault(s: Scenario) -> None:
        p = s.platform
        assert isinstance(p, HostsPlatform)
        tier = p.tier
        shard = "shard0"
        old = p.redis_master(shard)
        p.set_min_replicas(1 if min_replicas else 0, MAX_LAG_S)
        writer = p.start_writer(old)
        try:
            s.hold_until(lambda: sum(w.outcome == "ok" for w in writer.writes()) >= 20, "the writer writing")
            began = time.monotonic()
            landed = p.network.isolate(writer.host)
            s.land(landed)
            s.notes.append(f"isolated {writer.host.name} (the masters), a writer there writing to {old.name}")

            def failed_over() -> bool:
                new = tier.sentinel_master(shard)
                return (
                    new is not None
                    and new != old
                    and tier.twemproxy_servers().get(shard) == new.address
                    and time.monotonic() - landed >= MAX_LAG_S + MAX_LAG_SLACK_S
                )

            s.hold_until(failed_over, "Sentinel promoted the replica, Twemproxy followed", timeout=60.0)
            p.network.heal()
            new = p.redis_master(shard)
            s.hold_until(lambda: p.shard_healthy(shard), f"{old.name} back as {new.name}'s replica", timeout=60.0)
        finally:
            p.network.heal()  # (again, if something above failed: the old master must be reachable)
            writes = writer.stop()  # only now: the old master is a replica, its writes gone
            p.set_min_replicas(1, MAX_LAG_S)
        acked = [w for w in writes if w.outcome == "ok"]
        lost_keys = set(p.missing(new, [f"{writer.prefix}{w.n}" for w in acked]))
        lost = [w for w in acked if f"{writer.prefix}{w.n}" in lost_keys]
        after_cut = [w for w in acked if w.invoked >= began]
        refused = next((w for w in writes if w.invoked >= began and w.outcome == "failed"), None)
        s.facts.update(began=began, landed=landed, acked=acked, lost=lost, writes=writes)
        s.notes.append(
            f"the cut in force {landed - began:.1f} s after it began going in;"
            f" min-replicas {'on' if min_replicas else 'off'}: the old master acknowledged {len(after_cut)} writes"
            f" after the cut began, {len(lost)} acknowledged writes lost"
            + (f", refused writes {refused.invoked - landed:.1f} s after the cut was in force" if refused else "")
        )

    return fault


def write_loss_bound(s: Scenario) -> list[CheckResult]:
    """With min-replicas on, Redis' promise: an isolated master stops acknowledging writes once its
    replica's last acknowledgement is older than max-lag. So, with `began` when the cut started
    going in and `landed` when it was in force:

    - no write invoked later than landed + max-lag + MAX_LAG_SLACK_S is acknowledged by the old
      master (it stopped accepting in time);
    - every acknowledged write lost was invoked within [began - REPLICATED_BEFORE_S,
      landed + max-lag + MAX_LAG_SLACK_S]: the bound is the writes acknowledged in that window.
    """
    result = CheckResult("writes lost on failover within min-replicas-max-lag")
    facts = s.facts
    began, landed = facts["began"], facts["landed"]
    acked: list[Write] = facts["acked"]
    lost: list[Write] = facts["lost"]
    window = (began - REPLICATED_BEFORE_S, landed + MAX_LAG_S + MAX_LAG_SLACK_S)
    result.checked = len(acked)
    late = [w for w in acked if w.invoked > window[1]]
    if late:
        result.problems.append(
            f"{len(late)} writes acknowledged by the isolated master more than {MAX_LAG_S} s"
            f" + {MAX_LAG_SLACK_S} s after the cut (the last {late[-1].invoked - landed:.1f} s after)"
        )
    outside = [w for w in lost if not window[0] <= w.invoked <= window[1]]
    if outside:
        result.problems.append(f"{len(outside)} lost writes outside the window max-lag allows: {outside[:5]}")
    bound = sum(1 for w in acked if window[0] <= w.invoked <= window[1])
    s.notes.append(f"bound {bound} (acknowledged within max-lag {MAX_LAG_S} s + {MAX_LAG_SLACK_S:.0f} s of the cut)")
    return [result]


# -- e, f, g: Pgpool cut off, an asymmetric partition, a flapping link ----------------------------


def pgpool_cut(s: Scenario) -> None:
    p = s.platform
    assert isinstance(p, HostsPlatform)
    pool = p.host_of("pgpool")
    s.land(p.network.isolate(pool))
    s.notes.append(f"isolated {pool.name}")
    try:
        s.hold()
    finally:
        p.network.heal()


def one_way(s: Scenario) -> None:
    p = s.platform
    assert isinstance(p, HostsPlatform)
    edge, svc = p.host_of("broker-1"), p.host_of("sso-1")
    s.land(p.network.cut(edge, svc, one_way=True))
    s.notes.append(f"{svc.name} stopped hearing {edge.name}; {edge.name} still heard {svc.name}")
    try:
        s.hold(2 * HOLD_S)
    finally:
        p.network.heal()
    s.notes.append(f"{p.network.dropped_by_cuts(svc)} packets dropped at {svc.name} so far")


def flapping(s: Scenario) -> None:
    p = s.platform
    assert isinstance(p, HostsPlatform)
    svc = p.host_of("sso-2")
    flap = p.network.flap(svc, down_s=0.5, up_s=0.5)
    try:
        s.land_when(lambda: flap.downs >= 1, "the link down a first time")
        s.hold(2 * HOLD_S)
    finally:
        flap.stop()
    s.notes.append(f"{svc.name}'s link went down {flap.downs} times (0.5 s down, 0.5 s up, plus rewriting the rules)")


# -- the scenarios ----------------------------------------------------------------------------------

SCENARIOS: dict[str, tuple[Callable[[Scenario], None], Callable[[Scenario], list[CheckResult]] | None]] = {
    "partition: a broker's host cut from the service hosts": (broker_cut, None),
    "partition: a match host cut off mid-duel, healed": (match_cut, settled_once),
    "partition: the yellows split, each with half the world, healed": (yellows_split, calls_after_convergence),
    "partition: the Redis masters' host cut off, writer on its side, min-replicas off": (
        redis_master_cut(min_replicas=False),
        None,
    ),
    "partition: the Redis masters' host cut off, writer on its side, min-replicas on": (
        redis_master_cut(min_replicas=True),
        write_loss_bound,
    ),
    "partition: Pgpool's host cut off, healed": (pgpool_cut, None),
    "partition: one way, a service host stops hearing a broker host": (one_way, None),
    "partition: a service host's link flapping": (flapping, None),
}
SMOKE = [
    "partition: a broker's host cut from the service hosts",
    "partition: the Redis masters' host cut off, writer on its side, min-replicas on",
]
CHOSEN = SMOKE if os.environ.get("HN_PARTITIONS", "") == "smoke" else list(SCENARIOS)


@pytest.mark.parametrize("name", CHOSEN)
def test_partition(name: str, platform: HostsPlatform, report: list[Figures]) -> None:
    fault, checks = SCENARIOS[name]
    run(platform, report, name, fault, checks=checks)
