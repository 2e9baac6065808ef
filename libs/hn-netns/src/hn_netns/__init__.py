"""hn-netns: many hosts on one machine, from Linux network namespaces, for tests and `hn up`.

- `Network(hosts=3)`: each host a network namespace with one address of a private /24 on a
  bridge of the harness's own (a veth pair each), loopback up, no route out. A context manager;
  everything it made is removed by `close()`, at exit, and by its reaper process if this one dies.
- `Host`: `address`, `popen(argv, env=...)`, `run(argv)`, `command(argv)` (a command line for a
  caller's own process runner): processes inside the host, killed when the network closes.
- `Network.enter(host)`: the calling process moves into the host (setns): its sockets are the
  host's, its cuts apply to them. Before starting threads (it refuses otherwise); `leave()` and
  `close()` take it back. `Network.host_at(address)`: the host holding an address.
- Links: `Link(delay_ms, jitter_ms, loss)` per host, both directions (default 2 ms ± 1 ms, 0.1 %),
  by `tc netem` or, on kernels without it, a userspace NFQUEUE shaper; `set_link(host, ...)`.
- Faults: `cut(a, others, one_way=False)`, `isolate(host)`, `partition(side, side)`, `heal(...)`,
  `flap(host, down_s=, up_s=)`; `blocked()` and `dropped_by_cuts(host)` say what is in force.
- `leftovers(prefix)`, `Network.leftovers()`: what a harness left behind (nothing, once closed);
  `sweep_stale()` removes what dead harnesses left.
"""

from hn_netns._commands import CommandFailed, NetnsUnavailable
from hn_netns._flap import Flap
from hn_netns._host import Host
from hn_netns._leftovers import Leftovers, leftovers, sweep_stale
from hn_netns._link import Link
from hn_netns._network import HostRef, Network

__version__ = "0.1.0"

__all__ = [
    "CommandFailed",
    "Flap",
    "Host",
    "HostRef",
    "Leftovers",
    "Link",
    "Network",
    "NetnsUnavailable",
    "leftovers",
    "sweep_stale",
]
