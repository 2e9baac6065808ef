"""The link shaper for kernels without `sch_netem`: a daemon inside one host's namespace.

`python -m hn_netns._shaper_process DELAY_MS JITTER_MS LOSS` binds the NFQUEUE queues the host's
iptables rules send its link's packets to (OUT_QUEUE: leaving through the link, IN_QUEUE:
arriving through it), holds each packet for the link's delay and drops the lost ones: what
`tc netem` does in the kernel, in userspace. Releases within a direction keep the packets' order
(netem with jitter may reorder them; TCP over a reordering link only retransmits more).

It prints `ready` once bound, then reads one link per line on stdin (`DELAY_MS JITTER_MS LOSS`),
answering `ok` when the next packet gets it; it exits at end of input (the harness closed it or
died). The rules use `--queue-bypass`, so packets pass unshaped while no daemon is bound.
"""

from __future__ import annotations

import collections
import os
import random
import selectors
import sys
import time

from hn_netns._firewall import IN_QUEUE, OUT_QUEUE
from hn_netns._link import Link
from hn_netns._nfqueue import NF_DROP, Queued, QueueSocket

__all__ = ["serve"]


def serve(link: Link, control_in: int, control_out: int) -> None:
    queues = QueueSocket([OUT_QUEUE, IN_QUEUE])
    held: dict[int, collections.deque[tuple[float, Queued]]] = {q: collections.deque() for q in (OUT_QUEUE, IN_QUEUE)}
    last_release = dict.fromkeys(held, 0.0)
    # select(2), not epoll: its timeout has microseconds, epoll's whole milliseconds (a 1.2 ms
    # wait would become 2 ms, and every crossing would run late).
    selector = selectors.SelectSelector()
    selector.register(queues.fileno(), selectors.EVENT_READ, "packets")
    selector.register(control_in, selectors.EVENT_READ, "control")
    pending_control = b""
    os.write(control_out, b"ready\n")
    while True:
        due = [q[0][0] for q in held.values() if q]
        timeout = max(0.0, min(due) - time.monotonic()) if due else None
        for key, _ in selector.select(timeout):
            if key.data == "packets":
                now = time.monotonic()
                for packet in queues.received():
                    if link.loss and random.random() < link.loss:
                        queues.verdict(packet, NF_DROP)
                        continue
                    delay = max(0.0, link.delay_ms + random.uniform(-link.jitter_ms, link.jitter_ms)) / 1000
                    release = max(now + delay, last_release[packet.queue])
                    last_release[packet.queue] = release
                    held[packet.queue].append((release, packet))
            else:
                chunk = os.read(control_in, 4096)
                if not chunk:  # the harness is gone: let what is held go, and stop
                    for waiting in held.values():
                        if waiting:
                            queues.accept_through(waiting[-1][1])
                    return
                pending_control += chunk
                *lines, rest = pending_control.split(b"\n")
                pending_control = rest
                for line in lines:
                    link = Link.from_line(line.decode())
                    os.write(control_out, b"ok\n")
        now = time.monotonic()
        for waiting in held.values():
            last: Queued | None = None
            while waiting and waiting[0][0] <= now:
                last = waiting.popleft()[1]
            if last is not None:
                queues.accept_through(last)


def main() -> None:
    serve(Link(*(float(arg) for arg in sys.argv[1:4])), sys.stdin.fileno(), sys.stdout.fileno())


if __name__ == "__main__":
    main()
