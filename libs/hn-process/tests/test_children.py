"""Children: their environment, their lifetime, and /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hn_process import (
    ManagedProcess,
    ProcessFailed,
    child_env,
    no_process_left,
    processes,
    wait_until,
)

# A parent that starts children the way the launcher does, prints their pids, then waits to be killed.
_PARENT = r"""
import os, signal, subprocess, sys, time
from hn_process import ManagedProcess, Watchdog, dies_with_parent
scratch = sys.argv[1]
watchdog = Watchdog()
watchdog.remove_on_death(scratch)
# In its own session, so only the watchdog (not the death signal) can reach it.
watched = ManagedProcess("watched", ["sleep", "60"], log_path=None, deathsig=0, watchdog=watchdog).start()
# The death signal alone.
tied = subprocess.Popen(["sleep", "60"], preexec_fn=dies_with_parent(signal.SIGKILL))
print(watched.pid, tied.pid, flush=True)
time.sleep(60)
"""


def test_a_child_started_elsewhere_imports_what_this_process_imports(tmp_path: Path) -> None:
    env = child_env({"HN_EXTRA": "yes"})
    out = subprocess.run(
        [sys.executable, "-c", "import os, hn_process; print(os.environ['HN_EXTRA'])"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout == "yes\n"
    assert all(os.path.isabs(p) for p in env["PYTHONPATH"].split(os.pathsep))


def test_children_die_with_their_parent_and_the_watchdog_cleans_up(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    parent = subprocess.Popen(
        [sys.executable, "-c", _PARENT, str(scratch)], env=child_env(), stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        pids = [int(pid) for pid in parent.stdout.readline().split()]
        assert len(pids) == 2, "the parent did not start its children"
        assert {p.pid for p in processes() if p.ppid == parent.pid} >= set(pids)
        assert not no_process_left(pids)
    finally:
        parent.kill()
        parent.wait()
    wait_until(lambda: no_process_left(pids), timeout=15, scaled=True, message="the children to die")
    wait_until(lambda: not scratch.exists(), timeout=10, scaled=True, message="the watchdog to remove scratch")


def test_a_managed_process_that_exits_fails_its_readiness_wait_with_its_log(tmp_path: Path) -> None:
    proc = ManagedProcess("short", ["sh", "-c", "echo bad config; exit 3"], log_path=str(tmp_path / "log")).start()
    with pytest.raises(ProcessFailed, match=r"short exited with 3:\nbad config"):
        proc.wait_ready(lambda: False, timeout=30)


def test_a_managed_process_is_stopped_with_everything_it_forked(tmp_path: Path) -> None:
    proc = ManagedProcess(
        "forker", ["sh", "-c", "sleep 60 & echo $!; wait"], log_path=str(tmp_path / "log"), stop_signal=signal.SIGTERM
    ).start()
    proc.wait_ready(lambda: (tmp_path / "log").read_text().strip(), timeout=10)
    forked = int((tmp_path / "log").read_text().split()[0])
    assert proc.pid is not None and not no_process_left([proc.pid, forked])
    proc.stop(timeout=5)
    assert not proc.alive
    assert no_process_left([forked])
