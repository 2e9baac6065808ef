"""Moving the calling process into a host's network namespace, and back (`Network.enter`).

Python 3.11 has no `os.setns` (3.12 does): libc's `setns(2)` through ctypes. The kernel switches
only the calling thread; threads started afterwards inherit it, threads already running keep
their namespace. So a process enters a host before it starts any thread (`enter` refuses while
another thread runs: a keeper, a pool or a library's I/O thread would keep the old network and
its sockets would go where the caller's do not).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
import threading

from hn_process import WaitTimeout, wait_until

__all__ = ["current_namespace", "open_namespace", "set_namespace", "single_threaded"]

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def set_namespace(fd: int) -> None:
    """setns(fd, CLONE_NEWNET) for the calling thread; OSError if the kernel refuses."""
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns(CLONE_NEWNET): {os.strerror(err)}")


def open_namespace(path: str) -> int:
    """A file descriptor of a network namespace (`/proc/self/ns/net`, `/run/netns/<name>`)."""
    return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def current_namespace() -> int:
    """The inode of the calling thread's network namespace (compare with `os.stat` of a netns file)."""
    return os.stat(f"/proc/self/task/{threading.get_native_id()}/ns/net").st_ino


def _quiet_gevent_pool() -> None:
    """Stop the idle workers of gevent's thread pool (its resolver's: getaddrinfo runs there). It
    starts new ones when next needed, and those start from this thread: in the new namespace."""
    if "gevent" not in sys.modules:
        return
    from gevent._hub_local import get_hub_if_exists

    hub = get_hub_if_exists()
    pool = getattr(hub, "_threadpool", None) if hub is not None else None
    if pool is not None:
        pool.size = 0


def single_threaded() -> None:
    """Raise unless the calling thread is the process's only one (kernel threads of the process
    counted, not only Python's: libzmq's I/O threads would keep the old network). Under gevent,
    Python's threads are greenlets of this one, and its thread pool's idle workers are stopped."""
    _quiet_gevent_pool()

    def alone() -> bool:
        return len(os.listdir("/proc/self/task")) == 1

    # A thread just joined may still be leaving the kernel's list for a moment.
    with contextlib.suppress(WaitTimeout):
        wait_until(alone, timeout=1.0, interval=0.01)
    tasks = os.listdir("/proc/self/task")
    if len(tasks) > 1:
        names = []
        for task in tasks:
            if int(task) != threading.get_native_id():
                with contextlib.suppress(OSError):  # gone meanwhile
                    with open(f"/proc/self/task/{task}/comm") as fh:
                        names.append(fh.read().strip())
        raise RuntimeError(
            f"enter() needs a process with one thread (setns moves only the calling thread): "
            f"{len(tasks)} threads run ({', '.join(names)} besides this one); enter before starting threads"
        )
