"""Nothing of a network is left once it is closed: normally, after an exception, after its
process was killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from hn_netns import Network, leftovers
from hn_process import child_env, no_process_left, wait_until


def _sleepers(net: Network) -> list[int]:
    """A process in each host, and one it forked (no harness knows that one's pid)."""
    a, b = net.hosts
    forked = b.popen(["sh", "-c", "sleep 300 & echo $!; wait"], stdout=subprocess.PIPE, text=True)
    assert forked.stdout is not None
    return [a.popen(["sleep", "300"]).pid, forked.pid, int(forked.stdout.readline())]


def test_closing_removes_every_namespace_link_rule_and_process() -> None:
    with Network(2) as net:
        pids = _sleepers(net)
        net.cut(net.hosts[0], net.hosts[1])
        assert net.leftovers().namespaces  # the check sees a live network
        assert len(net.leftovers().processes) >= 3
    assert not net.leftovers()
    assert no_process_left(pids)


def test_an_exception_inside_the_with_block_leaves_nothing() -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with Network(2) as net:
            pids = _sleepers(net)
            raise RuntimeError("boom")
    assert not net.leftovers()
    assert no_process_left(pids)


_HARNESS = """
import subprocess, sys, time
from hn_netns import Network
net = Network(2)
# No death signal: only the reaper can stop this one.
sleeper = net.hosts[0].popen(["sleep", "300"], preexec_fn=None, start_new_session=True)
print(net.prefix, sleeper.pid, flush=True)
time.sleep(300)
"""


def test_a_harness_killed_outright_is_cleaned_up_by_its_reaper() -> None:
    harness = subprocess.Popen([sys.executable, "-c", _HARNESS], env=child_env(), stdout=subprocess.PIPE, text=True)
    assert harness.stdout is not None
    prefix, pid = harness.stdout.readline().split()
    assert leftovers(prefix).namespaces
    os.kill(harness.pid, signal.SIGKILL)
    harness.wait()
    wait_until(lambda: not leftovers(prefix) and no_process_left([int(pid)]), timeout=20, scaled=True)
