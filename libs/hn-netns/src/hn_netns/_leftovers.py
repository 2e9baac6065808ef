"""What a harness may leave behind if its cleanup fails: namespaces, links, processes."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Collection

from hn_netns._commands import run, tool
from hn_netns._reaper import sweep

__all__ = ["Leftovers", "leftovers", "namespaces", "sweep_stale"]

# hn<pid>n<counter>, then "-<host>" or ".sw": see Network.
_HARNESS_NAMESPACE = re.compile(r"^hn(\d+)n\d+[-.]")


@dataclasses.dataclass(frozen=True)
class Leftovers:
    """Named namespaces, links of the calling namespace, and processes that outlived a harness.
    False when nothing is left."""

    namespaces: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    processes: tuple[int, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.namespaces or self.links or self.processes)


def namespaces() -> list[str]:
    """The named network namespaces (`ip netns list`)."""
    return [line.split()[0] for line in run([tool("ip"), "netns", "list"]).splitlines() if line.strip()]


def _links() -> list[str]:
    names = []
    for line in run([tool("ip"), "-o", "link", "show"]).splitlines():
        # "4: eth0@if3: <BROADCAST,...": the name, without its peer's index
        names.append(line.split(":")[1].strip().split("@")[0])
    return names


def _processes_in(namespace_ids: Collection[int]) -> list[int]:
    """Processes whose network namespace is one of `namespace_ids` (inode numbers), named or not."""
    wanted = {f"net:[{inode}]" for inode in namespace_ids}
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):  # gone meanwhile, or a kernel thread
                if os.readlink(f"/proc/{entry}/ns/net") in wanted:
                    found.append(int(entry))
    return found


def leftovers(prefix: str, namespace_ids: Collection[int] = ()) -> Leftovers:
    """What is left of the harness whose names start with `prefix`: namespaces named after it,
    links named after it in this namespace, and processes still in any of `namespace_ids` (a
    namespace outlives its name while a process is in it)."""
    return Leftovers(
        namespaces=tuple(n for n in namespaces() if n.startswith(prefix)),
        links=tuple(n for n in _links() if n.startswith(prefix)),
        processes=tuple(_processes_in(namespace_ids)) if namespace_ids else (),
    )


def sweep_stale() -> list[str]:
    """Remove the namespaces of harnesses whose process is gone (and whose reaper failed too:
    the machine was cut short); returns their names."""
    swept = []
    for name in namespaces():
        match = _HARNESS_NAMESPACE.match(name)
        if match is None:
            continue
        try:
            os.kill(int(match[1]), 0)
        except ProcessLookupError:
            sweep(tool("ip"), name)
            swept.append(name)
        except PermissionError:  # alive, another user's
            pass
    return swept
