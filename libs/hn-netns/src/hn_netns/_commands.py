"""The system tools the harness drives (iproute2's `ip` and `tc`, `iptables-restore`), run with
their errors made readable."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any

__all__ = ["CommandFailed", "NetnsUnavailable", "in_namespace", "run", "tool"]

# Where Debian puts them; a non-login shell's PATH may lack the sbin folders.
_SBIN = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
_PACKAGES = {"ip": "iproute2", "tc": "iproute2", "iptables-restore": "iptables", "iptables": "iptables"}


class NetnsUnavailable(RuntimeError):
    """This machine cannot host the harness: a tool is missing or this process is not root."""


class CommandFailed(RuntimeError):
    """A tool exited with an error; the message carries its command line and its stderr."""

    def __init__(self, argv: Sequence[str], returncode: int, stderr: str) -> None:
        super().__init__(f"{' '.join(argv)} exited with {returncode}: {stderr.strip()}")
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr = stderr


@functools.cache
def tool(name: str) -> str:
    """The absolute path of a system tool (found on PATH or in the sbin folders)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    found = shutil.which(name, path=path)
    if found is None:
        package = _PACKAGES.get(name, name)
        raise NetnsUnavailable(f"`{name}` not found: install {package} (scripts/install-system-packages.sh)")
    return found


def run(argv: Sequence[str], *, input: str | None = None, check: bool = True, timeout: float = 30.0) -> str:
    """Run a tool to completion and return its stdout; CommandFailed if it fails and `check`."""
    # Never both `input` and `stdin`: gevent's subprocess refuses them together even when stdin is None.
    feed: dict[str, Any] = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
    done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **feed)
    if check and done.returncode != 0:
        raise CommandFailed(argv, done.returncode, done.stderr)
    return str(done.stdout)


def in_namespace(namespace: str, argv: Sequence[str]) -> list[str]:
    """`argv` run inside a named network namespace (and with its /sys, as `ip netns exec` does)."""
    return [tool("ip"), "netns", "exec", namespace, *argv]
