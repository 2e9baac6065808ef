"""The reaper process (see hn_netns._reaper): `python -m hn_netns._reaper_process IP_PATH`."""

from __future__ import annotations

import signal
import sys

from hn_netns._reaper import sweep

__all__ = ["main"]


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    ip = sys.argv[1]
    namespaces: list[str] = []
    for line in sys.stdin:
        command, _, name = line.strip().partition(" ")
        if command == "+":
            namespaces.append(name)
        elif command == "-" and name in namespaces:
            namespaces.remove(name)
        elif command == "exit":
            return
    for name in namespaces:
        sweep(ip, name)


if __name__ == "__main__":
    main()
