"""The harness: N hosts on one switch, with links that delay and lose, and cuts between hosts.

Layout (nothing of it in the caller's namespace):

    namespace <prefix>.sw         bridge br0, ports v0..vN-1, no address, no uplink
    namespace <prefix>-<host>     lo, eth0 (the peer of its port) with one address of the subnet

`prefix` is `hn<pid>n<counter>`: parallel harnesses, in one process or many, never share a
name, and a namespace left by a dead process can be told (`sweep_stale`). Interface names are
the same in every harness (eth0, v0, br0): each lives in a namespace of its own harness.
The hosts have a route to their subnet and no other, so their traffic stays on the switch.
"""

from __future__ import annotations

import atexit
import itertools
import os
import re
import threading
import time
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from hn_netns._addresses import machine_networks, pick_subnet
from hn_netns._commands import NetnsUnavailable, run, tool
from hn_netns._enter import open_namespace, set_namespace, single_threaded
from hn_netns._firewall import dropped_by_cuts, install_base_rules, write_cuts
from hn_netns._flap import Flap
from hn_netns._host import Host
from hn_netns._leftovers import Leftovers, leftovers, sweep_stale
from hn_netns._link import Link
from hn_netns._reaper import Reaper, sweep
from hn_netns._shaping import SHAPINGS, NetemShaper, QueueShaper, Shaper, kernel_has_netem
from hn_process import child_env, time_factor, wait_until

if TYPE_CHECKING:
    # Never imported at run time: tells Pants' dependency inference to ship the two programs the
    # harness runs as `python -m` (its reaper, and the shaper daemon in each host), which a
    # library using hn_netns (the data tier's tests) would otherwise lack.
    import hn_netns._reaper_process  # noqa: F401
    import hn_netns._shaper_process  # noqa: F401

__all__ = ["HostRef", "Network"]

HostRef = Host | str
_HOST_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_counter = itertools.count()

# IPv6 off in every namespace: the cuts are IPv4 rules, and link-local IPv6 would slip past them.
_NO_IPV6 = (
    "for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 /proc/sys/net/ipv6/conf/default/disable_ipv6;"
    " do [ -e $f ] && echo 1 > $f; done; true"
)


class Network:
    """N hosts (network namespaces) on one switch; see the module's docstring and README.md.

    `hosts`: a count (hosts h0, h1, ...) or names. `link`: every link's initial shape (default
    2 ms ± 1 ms, 0.1 % loss). `shaping`: "netem" (`tc netem`), "queue" (the userspace shaper) or
    "auto" (netem where the kernel has it). Built on construction; `close()` (or leaving the
    `with` block, or the process exiting or dying) removes every namespace, link, rule and process.
    """

    def __init__(
        self,
        hosts: int | Sequence[str] = 2,
        *,
        link: Link | None = None,
        shaping: str = "auto",
        ready_timeout: float = 30.0,
    ) -> None:
        names = [f"h{i}" for i in range(hosts)] if isinstance(hosts, int) else list(hosts)
        _check_names(names)
        if shaping not in SHAPINGS:
            raise ValueError(f"shaping must be one of {SHAPINGS}, not {shaping!r}")
        if os.geteuid() != 0:
            raise NetnsUnavailable("a network namespace harness needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN)")
        self.prefix = f"hn{os.getpid()}n{next(_counter)}"
        self.switch = f"{self.prefix}.sw"
        self.subnet = pick_subnet(machine_networks())
        self.hosts: tuple[Host, ...] = tuple(
            Host(name, f"{self.prefix}-{name}", str(self.subnet[i + 1])) for i, name in enumerate(names)
        )
        self._by_name = {host.name: host for host in self.hosts}
        self._links = {name: link or Link() for name in names}
        self._cuts: set[tuple[str, str]] = set()
        self._flapping: dict[Flap, frozenset[tuple[str, str]]] = {}
        self._flaps_down: set[Flap] = set()
        self._written: dict[str, frozenset[str]] = {name: frozenset() for name in names}
        self._dropped = dict.fromkeys(names, 0)  # by the rules written before the current ones
        self._shapers: dict[str, Shaper] = {}
        self._namespace_ids: set[int] = set()
        self._lock = threading.RLock()
        self._closed = False
        #: the host this process entered (`enter`), and its own namespace to return to
        self.entered: Host | None = None
        self._home: int | None = None
        self.shaping = shaping
        sweep_stale()
        self._reaper = Reaper(tool("ip"), child_env())
        atexit.register(self.close)
        try:
            self._build(ready_timeout * time_factor())
        except BaseException:
            self.close()
            raise

    # -- building -------------------------------------------------------------------------------

    def _build(self, timeout: float) -> None:
        self._make_namespaces()
        self._wire()
        self._shape(timeout)
        wait_until(self._ports_forwarding, timeout=timeout, interval=0.01, message="every switch port forwarding")

    def _make_namespaces(self) -> None:
        for namespace in (self.switch, *(host.namespace for host in self.hosts)):
            self._reaper.guard(namespace)
            run([tool("ip"), "netns", "add", namespace])
            self._namespace_ids.add(os.stat(f"/run/netns/{namespace}").st_ino)
            run([tool("ip"), "netns", "exec", namespace, "sh", "-c", _NO_IPV6])

    def _wire(self) -> None:
        """The switch, a veth pair per host (made inside the namespaces: nothing appears in the
        caller's), and each host's address."""
        switch = ["link set lo up", "link add br0 type bridge stp_state 0 forward_delay 0", "link set br0 up"]
        for i, host in enumerate(self.hosts):
            switch += [
                f"link add v{i} type veth peer name {host.interface} netns {host.namespace}",
                f"link set v{i} master br0",
                f"link set v{i} up",
            ]
        _ip_batch(self.switch, switch)
        for host in self.hosts:
            address = f"{host.address}/{self.subnet.prefixlen}"
            _ip_batch(
                host.namespace,
                ["link set lo up", f"addr add {address} dev {host.interface}", f"link set {host.interface} up"],
            )

    def _shape(self, timeout: float) -> None:
        if self.shaping == "auto":
            self.shaping = "netem" if kernel_has_netem(self.switch, "v0") else "queue"
        for i, host in enumerate(self.hosts):
            install_base_rules(host.namespace, host.interface, queue=self.shaping == "queue")
            link = self._links[host.name]
            if self.shaping == "netem":
                self._shapers[host.name] = NetemShaper([(host.namespace, host.interface), (self.switch, f"v{i}")])
                self._shapers[host.name].set(link)
            else:
                self._shapers[host.name] = QueueShaper(host.namespace, link)
        for shaper in self._shapers.values():  # the daemons start together, then each is waited for
            if isinstance(shaper, QueueShaper):
                shaper.wait_ready(timeout)

    def _ports_forwarding(self) -> bool:
        ports = run([tool("ip"), "-n", self.switch, "-d", "-o", "link", "show", "master", "br0"]).splitlines()
        return len(ports) == len(self.hosts) and all(
            "state UP" in port and "state forwarding" in port for port in ports
        )

    # -- hosts and links ------------------------------------------------------------------------

    def __getitem__(self, name: str) -> Host:
        return self._by_name[name]

    def _host(self, ref: HostRef) -> Host:
        host = self._by_name.get(ref if isinstance(ref, str) else ref.name)
        if host is None or (isinstance(ref, Host) and host is not ref):
            raise KeyError(f"{ref!r} is not a host of this network")
        return host

    def _hosts(self, refs: HostRef | Iterable[HostRef]) -> list[Host]:
        return [self._host(refs)] if isinstance(refs, Host | str) else [self._host(ref) for ref in refs]

    def host_at(self, address: str) -> Host:
        """The host whose address `address` is (KeyError if none)."""
        for host in self.hosts:
            if host.address == address:
                return host
        raise KeyError(f"no host of {self.prefix} has address {address}")

    # -- this process inside a host -------------------------------------------------------------

    def enter(self, host: HostRef) -> Host:
        """Move the calling process into `host`'s network namespace: from now on its sockets bind
        and connect as that host (its address, its link's delay and loss, its cuts), and the
        processes it starts run there too (`ip netns exec` still reaches any other host).

        Call it before starting any thread: setns(2) moves only the calling thread (and those it
        starts later), so this refuses while another thread runs. Entering another host of this
        network moves again; `leave()` (and `close()`, first thing) returns to the namespace the
        process was in before its first `enter`."""
        target = self._host(host)
        with self._lock:
            self._check_open()
            single_threaded()
            fd = open_namespace(f"/run/netns/{target.namespace}")
            try:
                if self._home is None:
                    self._home = open_namespace("/proc/thread-self/ns/net")
                set_namespace(fd)
            finally:
                os.close(fd)
            self.entered = target
            return target

    def leave(self) -> None:
        """Back to the namespace the process was in before `enter` (nothing if it did not enter).
        Like `enter`, it moves the calling thread: call it from the thread that entered."""
        with self._lock:
            if self._home is None:
                return
            set_namespace(self._home)
            os.close(self._home)
            self._home = None
            self.entered = None

    def link(self, host: HostRef) -> Link:
        """The host's link as it is now."""
        return self._links[self._host(host).name]

    def set_link(
        self,
        host: HostRef,
        *,
        delay_ms: float | None = None,
        jitter_ms: float | None = None,
        loss: float | None = None,
    ) -> Link:
        """Change the host's link (both directions; None keeps a field); in force for the next packet."""
        name = self._host(host).name
        with self._lock:
            self._check_open()
            new = self._links[name].changed(delay_ms=delay_ms, jitter_ms=jitter_ms, loss=loss)
            self._shapers[name].set(new)
            self._links[name] = new
            return new

    # -- faults ---------------------------------------------------------------------------------

    # The faults return the moment they landed (time.monotonic(), once every rule is in force):
    # the chaos tier measures recovery from there, not from an attempt that began before.

    def cut(self, host: HostRef, others: HostRef | Iterable[HostRef], *, one_way: bool = False) -> float:
        """`host`'s packets stop reaching `others`, and theirs stop reaching it; with `one_way`,
        only the first ("others no longer hear host; host still hears them")."""
        return self._add_cuts(self._pairs(host, others, one_way=one_way))

    def isolate(self, host: HostRef) -> float:
        """Cut `host` off from every other host, both ways."""
        return self.cut(host, self.hosts)

    def partition(self, *sides: Iterable[HostRef]) -> float:
        """Split the network: no host hears a host of another side (hosts on no side stay joined to all)."""
        groups = [self._hosts(side) for side in sides]
        pairs: set[tuple[str, str]] = set()
        for i, group in enumerate(groups):
            for other in groups[i + 1 :]:
                for host in group:
                    pairs |= self._pairs(host, other, one_way=False)
        return self._add_cuts(pairs)

    def _pairs(self, host: HostRef, others: HostRef | Iterable[HostRef], *, one_way: bool) -> set[tuple[str, str]]:
        sender = self._host(host).name
        pairs = set()
        for other in self._hosts(others):
            if other.name != sender:
                pairs.add((sender, other.name))
                if not one_way:
                    pairs.add((other.name, sender))
        return pairs

    def _add_cuts(self, pairs: set[tuple[str, str]]) -> float:
        with self._lock:
            self._cuts |= pairs
            return self._write()

    def heal(self, host: HostRef | None = None, others: HostRef | Iterable[HostRef] | None = None) -> float:
        """Undo cuts: all of them; or every cut to or from `host`; or those between `host` and
        `others`, both ways. A flapping link goes on flapping until its flap is stopped."""
        with self._lock:
            if host is None:
                self._cuts.clear()
            else:
                name = self._host(host).name
                peers = {h.name for h in self.hosts} if others is None else {h.name for h in self._hosts(others)}

                def healed(pair: tuple[str, str]) -> bool:
                    sender, receiver = pair
                    return name in pair and (receiver if sender == name else sender) in peers

                self._cuts = {pair for pair in self._cuts if not healed(pair)}
            return self._write()

    def flap(self, host: HostRef, *, down_s: float, up_s: float, peers: Iterable[HostRef] | None = None) -> Flap:
        """Cut `host` off from `peers` (every other host by default) for `down_s`, join it for
        `up_s`, and again, until the returned Flap is stopped (at the latest by `close()`)."""
        name = self._host(host).name
        others = [h.name for h in (self.hosts if peers is None else self._hosts(peers)) if h.name != name]
        pairs = frozenset({(name, o) for o in others} | {(o, name) for o in others})

        def set_down(down: bool) -> None:
            with self._lock:
                if not self._closed:
                    (self._flaps_down.add if down else self._flaps_down.discard)(flap)
                    self._write()

        flap = Flap(set_down, down_s=down_s, up_s=up_s)
        with self._lock:
            self._check_open()
            self._flapping[flap] = pairs
        return flap.start()

    def blocked(self) -> frozenset[tuple[str, str]]:
        """The (sender, receiver) host-name pairs whose packets are dropped now (cuts and flaps)."""
        with self._lock:
            down = (self._flapping[flap] for flap in self._flaps_down if flap in self._flapping)
            return frozenset(self._cuts.union(*down))

    def dropped_by_cuts(self, host: HostRef) -> int:
        """Packets dropped on arrival at `host` by cuts and flaps since the network was made."""
        host = self._host(host)
        with self._lock:
            self._check_open()
            current = dropped_by_cuts(host.namespace) if self._written[host.name] else 0
            return self._dropped[host.name] + current

    def _write(self) -> float:
        """Bring each receiver's rules to the blocked pairs (only the receivers that changed);
        the moment they are all in force."""
        self._check_open()
        blocked = self.blocked()
        for host in self.hosts:
            senders = frozenset(sender for sender, receiver in blocked if receiver == host.name)
            if senders != self._written[host.name]:
                if self._written[host.name]:  # rewriting the chain resets its counters: keep them
                    self._dropped[host.name] += dropped_by_cuts(host.namespace)
                write_cuts(host.namespace, (self._by_name[s].address for s in senders))
                self._written[host.name] = senders
        return time.monotonic()

    # -- the end --------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(f"network {self.prefix} is closed")

    def close(self) -> None:
        """Remove everything: flaps stopped, every process in the hosts killed, every namespace
        (with its links, bridge and rules) deleted. Safe to call twice."""
        with self._lock:
            if self._closed:
                return
            # Out of the host first: the sweep below kills every process inside the namespaces.
            self.leave()
            flaps = list(self._flapping)
        for flap in flaps:  # outside the lock: a flap's last step takes it
            flap.stop()
        with self._lock:
            self._closed = True
        for namespace in (*(host.namespace for host in self.hosts), self.switch):
            sweep(tool("ip"), namespace)
            self._reaper.release(namespace)
        for shaper in self._shapers.values():
            shaper.close()
        for host in self.hosts:
            host._reap()
        self._reaper.close()
        atexit.unregister(self.close)

    def leftovers(self) -> Leftovers:
        """What is left of this network: nothing, once it is closed (a test asserts it)."""
        return leftovers(self.prefix, self._namespace_ids)

    def __enter__(self) -> Network:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Network {self.prefix} {self.subnet} hosts={[h.name for h in self.hosts]} shaping={self.shaping}>"


def _ip_batch(namespace: str, commands: list[str]) -> None:
    run([tool("ip"), "-n", namespace, "-batch", "-"], input="\n".join(commands) + "\n")


def _check_names(names: list[str]) -> None:
    if not 1 <= len(names) <= 250:
        raise ValueError(f"a network has 1 to 250 hosts, not {len(names)}")
    if len(set(names)) != len(names):
        raise ValueError(f"host names repeat: {names}")
    for name in names:
        if not _HOST_NAME.match(name):
            raise ValueError(f"host name {name!r}: lowercase letters, digits and '-', at most 32")
