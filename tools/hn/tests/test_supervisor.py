"""Supervised service processes do not outlive the process that started them."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

from hn_process import child_env
from hn_runtime.testing import wait_for

_PARENT = """
import sys, gevent
from hn_cli._supervisor import Supervised
child = Supervised("sleeper", "_sleeper", {}, sys.argv[1])
child.start()
print(child.process.pid, flush=True)
gevent.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_service_processes_go_when_hn_up_is_killed() -> None:
    log = os.path.join(tempfile.mkdtemp(prefix="hn-supervisor-"), "sleeper.log")
    parent = subprocess.Popen([sys.executable, "-c", _PARENT, log], env=child_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.kill()  # kill -9: no chance to stop its children
        parent.wait()
        wait_for(lambda: not _alive(child), message="the supervised process gone with its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
