"""The platform under test (hn's local Cluster) and what the nemesis does to it.

`Platform` wraps a started `Cluster`: health of every part (services in yellow and brokerlist,
Pgpool's backends, each Redis shard's master, replica and Twemproxy's view of it), a probe that
plays a fresh client, and the processes to kill or stop: a service's own process, a Redis node,
the PostgreSQL replica, Pgpool (process groups, as a host would freeze them) and nutcracker.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import gevent
import psycopg2.extensions
from gevent.socket import wait_read, wait_write

from hn_chaos import History
from hn_cli import Cluster
from hn_datatier import redis_from_url
from hn_datatier.local import DataTier, RedisNode
from hn_datatier.testing import direct_redis
from hn_process import no_process_left, processes
from hn_runtime import HNError
from hn_runtime.testing import time_factor, wait_for

from _players import fresh_client

__all__ = ["Platform", "green_psycopg2", "process_gone", "process_stopped"]

#: how long one health or probe step may take before it counts as "no"
STEP_TIMEOUT_S = 8.0


def _green_wait(conn: Any, timeout: float | None = None) -> None:
    while True:
        state = conn.poll()
        if state == psycopg2.extensions.POLL_OK:
            return
        if state == psycopg2.extensions.POLL_READ:
            wait_read(conn.fileno(), timeout=timeout)
        elif state == psycopg2.extensions.POLL_WRITE:
            wait_write(conn.fileno(), timeout=timeout)


def green_psycopg2() -> None:
    """psycopg2 in this process yields to gevent (a frozen Pgpool must not freeze the workload)."""
    psycopg2.extensions.set_wait_callback(_green_wait)


@contextlib.contextmanager
def _bounded(seconds: float = STEP_TIMEOUT_S) -> Iterator[None]:
    with gevent.Timeout(seconds * time_factor()):
        yield


def _state(pid: int) -> str:
    """A process' state letter from /proc ("" when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""


def process_gone(pid: int) -> bool:
    """Dead: no such process, or a zombie its parent has not reaped yet."""
    return no_process_left([pid])


def process_stopped(pid: int) -> bool:
    """Stopped by a signal (SIGSTOP): state T."""
    return _state(pid) == "T"


class Platform:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        assert cluster.tier is not None
        self.tier: DataTier = cluster.tier

    @property
    def brokerlist_url(self) -> str:
        return self.cluster.brokerlist_url

    # -- health ------------------------------------------------------------------------------

    def instance(self, name: str, yellow: str = "") -> Any:
        """What a yellow (default: the first) says about instance `name` (None when it does not
        know it, or does not answer)."""
        try:
            with _bounded():
                return next((i for i in self.cluster.instances(yellow) if i.instance_id == name), None)
        except (HNError, gevent.Timeout):
            return None

    def services_healthy(self) -> bool:
        """Every service process alive and up in every yellow, the yellows agreeing on each one's
        endpoints; brokerlist lists every broker (and only live ones)."""
        if not all(p.alive for p in self.cluster.processes):
            return False
        try:
            with _bounded():
                views = [self.cluster.instances(yellow) for yellow in self.cluster.yellow_addresses]
                with urllib.request.urlopen(self.brokerlist_url, timeout=2) as response:
                    listed = set(json.load(response)["brokerList"])
        except (HNError, OSError, ValueError, gevent.Timeout):
            return False
        wanted = [p.name for p in self.cluster.processes if not p.name.startswith("yellow")]
        ups = [{i.instance_id: i for i in view if i.state == "up"} for view in views]
        if not all(i in up for up in ups for i in wanted):
            return False
        endpoints = [{i: dict(up[i].endpoints) for i in wanted} for up in ups]
        if any(e != endpoints[0] for e in endpoints):
            return False  # the yellows' views have not converged
        up = ups[0]
        brokers = {up[i].endpoints.get("client") for i in wanted if up[i].service_name == "broker"}
        return listed == brokers

    def pgpool_healthy(self) -> bool:
        try:
            with _bounded():
                rows = self.tier.pool_nodes()
        except (gevent.Timeout, psycopg2.Error):
            return False
        roles = sorted(r["role"] for r in rows)
        return roles == ["primary", "standby"] and all(r["status"] in ("up", "waiting") for r in rows)

    def shard_healthy(self, shard: str) -> bool:
        """One master every Sentinel agrees on, Twemproxy pointing at it, a replica linked to it."""
        try:
            with _bounded():
                master = self.tier.sentinel_master(shard)
                if master is None or self.tier.twemproxy_servers().get(shard) != master.address:
                    return False
                for sentinel in self.tier.sentinel_nodes:
                    with sentinel.client() as client:
                        state = client.sentinel_master(shard)
                        if int(state["port"]) != master.port or "s_down" in state["flags"]:
                            return False
                        replicas = client.sentinel_slaves(shard)
                        if not any(r.get("master-link-status") == "ok" and not r.get("is_sdown") for r in replicas):
                            return False
                with direct_redis(master) as client:
                    return bool(int(client.info("replication")["connected_slaves"]) >= 1)
        except (gevent.Timeout, OSError, Exception):  # noqa: BLE001 - any failure is "not yet"
            return False

    def twemproxy_serves(self) -> bool:
        try:
            with (
                _bounded(),
                redis_from_url(
                    self.tier.redis_url, decode_responses=True, socket_timeout=2, socket_connect_timeout=2
                ) as client,
            ):
                for i in range(8):  # a few keys: very likely both shards
                    key = f"chaos:probe:{i}:{uuid.uuid4().hex[:8]}"
                    client.set(key, "1", ex=60)
                    if client.get(key) != "1":
                        return False
            return True
        except Exception:  # noqa: BLE001 - any failure is "not yet"
            return False

    def healthy(self) -> bool:
        """Everything back to normal: the state every scenario starts from."""
        return (
            self.services_healthy()
            and self.pgpool_healthy()
            and all(self.shard_healthy(s.name) for s in self.tier.shards)
            and self.twemproxy_serves()
        )

    def serves(self) -> bool:
        """A fresh player gets through: brokerlist, a broker, a guest login (sso, PostgreSQL,
        Redis) and a queue status (match)."""
        client = fresh_client(self.brokerlist_url, timeout=4.0, reconnect=False)
        try:
            with _bounded():
                client.connect()
                client.guest_login(f"probe-{uuid.uuid4().hex[:16]}")
                client.call("match.status")
            return True
        except (Exception, gevent.Timeout):  # noqa: BLE001 - any failure is "not yet"
            return False
        finally:
            client.close()

    def first_served(self, history: History) -> gevent.Greenlet:
        """Probe again and again from now; the greenlet's value is the history time of the first
        probe that got through (the time its attempt began)."""

        def probe() -> float:
            while True:
                began = history.now()
                if self.serves():
                    return began
                gevent.sleep(0.1)

        return gevent.spawn(probe)

    def wait_healthy(self, timeout: float = 120.0, what: str = "the platform back to normal") -> None:
        wait_for(self.healthy, timeout=timeout, interval=0.2, message=what)

    # -- processes ---------------------------------------------------------------------------

    def pid(self, name: str) -> int:
        process = self.cluster.process(name).process
        assert process is not None
        return process.pid

    def service_signal(self, name: str, signum: int) -> None:
        self.cluster.process(name).signal(signum)

    def restart(self, name: str, signum: int, *, landed: Callable[[], object] | None = None) -> None:
        """Signal service process `name` (SIGKILL, SIGTERM) and wait until the supervisor runs it
        again under its instance id, yellow lists the new process (its fresh endpoints: services
        bind new ports) and the whole platform is healthy. `landed` is called once the signal is
        in force: SIGKILL once the process is dead, SIGTERM once sent (the drain is the fault)."""
        supervised = self.cluster.process(name)
        pid = self.pid(name)
        before = None if name.startswith("yellow") else dict(self.instance(name).endpoints)

        def back() -> bool:
            if not supervised.alive or self.pid(name) == pid:
                return False
            if before is not None:
                info = self.instance(name)
                if info is None or info.state != "up" or dict(info.endpoints) == before:
                    return False
            return self.healthy()

        supervised.signal(signum)
        if landed is not None:
            if signum == signal.SIGKILL:
                wait_for(lambda: process_gone(pid), timeout=15, interval=0.005, message=f"{name} ({pid}) dead")
            landed()
        wait_for(back, timeout=120, interval=0.1, message=f"{name} running again, in yellow, the platform healthy")

    def broker_of_most(self, addresses: list[str]) -> str:
        """The broker process most of `addresses` (broker client endpoints) are connected to."""
        counts: dict[str, int] = {}
        brokers = {p.name for p in self.cluster.processes if p.module == "hn_broker"}
        for info in self.cluster.instances():
            if info.instance_id in brokers:
                counts[info.instance_id] = sum(1 for a in addresses if a == info.endpoints.get("client"))
        return max(sorted(counts), key=lambda name: counts[name])

    def redis_master(self, shard: str) -> RedisNode:
        master = self.tier.sentinel_master(shard)
        assert master is not None, f"no master for {shard}"
        return master

    def nutcracker_pid(self) -> int:
        """nutcracker: the Twemproxy agent's child (the agent respawns it if it dies)."""
        assert self.tier.agent is not None and self.tier.agent.pid is not None
        agent = self.tier.agent.pid
        for process in processes():
            if process.ppid == agent and process.comm == "nutcracker" and process.state != "Z":
                return process.pid
        raise LookupError("no nutcracker under the Twemproxy agent")

    def nutcracker_running(self, other_than: int = 0) -> bool:
        try:
            return self.nutcracker_pid() != other_than
        except LookupError:
            return False


def signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


STOP, CONT, KILL, TERM = signal.SIGSTOP, signal.SIGCONT, signal.SIGKILL, signal.SIGTERM
