"""The iptables rules inside each host's namespace: cuts, and the hand-off to the shaper.

A cut is enforced where the packet arrives: the receiver's `HN-CUT` chain (first in INPUT) drops
what comes from a sender it must not hear. Dropping on arrival is what a real partition looks
like to both ends: the sender's packets leave without an error (a drop on the way out would
fail its `send()` with EPERM) and simply never arrive. One chain per receiver, rewritten whole
with `iptables-restore` (declaring a chain there empties it), so each change is atomic.
"""

from __future__ import annotations

from collections.abc import Iterable

from hn_netns._commands import in_namespace, run, tool

__all__ = ["CUT_CHAIN", "IN_QUEUE", "OUT_QUEUE", "dropped_by_cuts", "install_base_rules", "write_cuts"]

CUT_CHAIN = "HN-CUT"
# The NFQUEUE queues of the userspace shaper (hn_netns._shaper_process), in each host's namespace.
OUT_QUEUE = 0  # packets leaving through the host's link
IN_QUEUE = 1  # packets arriving through it


def install_base_rules(namespace: str, interface: str, *, queue: bool) -> None:
    """The empty cut chain, and (`queue`) the link's packets both ways to the userspace shaper."""
    lines = ["*filter", f":{CUT_CHAIN} - [0:0]", f"-A INPUT -j {CUT_CHAIN}"]
    if queue:
        # --queue-bypass: while no shaper is bound, packets pass unshaped instead of being dropped.
        lines += [
            f"-A INPUT -i {interface} -j NFQUEUE --queue-num {IN_QUEUE} --queue-bypass",
            f"-A OUTPUT -o {interface} -j NFQUEUE --queue-num {OUT_QUEUE} --queue-bypass",
        ]
    _restore(namespace, lines + ["COMMIT"], flush=True)


def write_cuts(namespace: str, senders: Iterable[str]) -> None:
    """The receiver in `namespace` hears none of the `senders` (addresses), and every other host."""
    rules = [f"-A {CUT_CHAIN} -s {address}/32 -j DROP" for address in sorted(senders)]
    _restore(namespace, ["*filter", f":{CUT_CHAIN} - [0:0]", *rules, "COMMIT"], flush=False)


def dropped_by_cuts(namespace: str) -> int:
    """Packets the receiver's cuts dropped since its cut chain was last written (which zeroes them)."""
    out = run(in_namespace(namespace, [tool("iptables"), "-w", "-L", CUT_CHAIN, "-n", "-v", "-x"]))
    total = 0
    for line in out.splitlines()[2:]:  # a title line, then the column names
        words = line.split()
        if words and words[0].isdigit():
            total += int(words[0])
    return total


def _restore(namespace: str, lines: list[str], *, flush: bool) -> None:
    argv = [tool("iptables-restore"), "-w"] + ([] if flush else ["--noflush"])
    run(in_namespace(namespace, argv), input="\n".join(lines) + "\n")
