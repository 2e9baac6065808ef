"""The machine's processes, read from /proc (Linux)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["ProcessInfo", "no_process_left", "processes"]


@dataclass(frozen=True)
class ProcessInfo:
    pid: int
    ppid: int
    #: /proc's one-letter state ("Z": a zombie)
    state: str
    comm: str


def processes() -> Iterator[ProcessInfo]:
    """Every process on the machine, from /proc (those that exit meanwhile are skipped)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                head, _, tail = fh.read().rpartition(")")
            fields = tail.split()
            yield ProcessInfo(int(entry), int(fields[1]), fields[0], head.partition("(")[2])
        except (OSError, IndexError):
            continue


def no_process_left(pids: Iterable[int]) -> bool:
    """True when none of `pids` exists any more (zombies of our own children count as gone)."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if state != "Z":
            return False
    return True
