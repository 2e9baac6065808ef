"""One chaos scenario, run the same way by every test file of the tier (`run`): the platform
healthy, a fresh workload of players playing, the fault, the platform healed (within a deadline),
the load going on, then the checks (see _invariants.py) and a row of figures (see conftest.py for
what each column means).

Every fault says when it is in force (`Scenario.land`): a killed process is dead, a stopped one is
stopped, a network cut drops packets. Recovery ("served again after") and "healed after" are
measured from that moment, by probes that all begin after it: an attempt begun before the fault
landed proves nothing about the platform with the fault on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gevent

from hn_chaos import CheckResult, Figures, History
from hn_runtime.testing import time_factor, wait_for

from _invariants import check_everything
from _nemesis import Platform, process_gone, process_stopped
from _players import Workload, classify

__all__ = [
    "LAND_TIMEOUT_S",
    "DUELS_AFTER",
    "DUELS_BEFORE",
    "HEAL_TIMEOUT_S",
    "HOLD_S",
    "LOAD_TIMEOUT_S",
    "PLAYERS",
    "Scenario",
    "run",
]

PLAYERS = 10
#: acknowledged duels before the fault (the load is steady), and after it (the load goes on)
DUELS_BEFORE = 5
DUELS_AFTER = 5
#: how long a SIGSTOP or a proxy fault lasts where nothing else decides it
HOLD_S = 4.0
#: deadlines (x HN_TEST_TIME_FACTOR)
HEAL_TIMEOUT_S = 120.0
LOAD_TIMEOUT_S = 90.0
#: a signal takes effect (a process dies or stops) within this (x HN_TEST_TIME_FACTOR)
LAND_TIMEOUT_S = 15.0


@dataclass
class Scenario:
    platform: Platform
    history: History
    workload: Workload
    notes: list[str] = field(default_factory=list)
    #: when the fault was in force, on the history's clock (None: not yet)
    landed_at: float | None = None
    #: when every part was back to normal after the fault (the history's clock)
    healed_at: float | None = None
    #: what a fault found out, for its scenario's own checks
    facts: dict[str, Any] = field(default_factory=dict)
    #: probes a fresh player from `landed_at` on; its value: when the first one got through
    probe: gevent.Greenlet | None = None
    _watchers: list[gevent.Greenlet] = field(default_factory=list)

    def land(self, at: float | None = None) -> float:
        """The fault is in force now, or at `at` (a `time.monotonic()` reading, as hn-netns' faults
        return): recovery is measured from here. Only the first call counts (a fault made of
        several steps lands with its first); returns the landing on the history's clock."""
        if self.landed_at is None:
            self.landed_at = self.history.now() if at is None else at - self.history.started  # its clock: monotonic
            self.history.mark("landed")
            self.probe = self.platform.first_served(self.history)
        return self.landed_at

    def land_when(self, condition: Callable[[], bool], what: str) -> None:
        """Land as soon as `condition` holds (checked every few milliseconds, alongside a fault
        that blocks while it lands: a data-tier restart that kills its process first)."""

        def watch() -> None:
            wait_for(condition, timeout=LAND_TIMEOUT_S, interval=0.005, message=what)
            self.land()

        self._watchers.append(gevent.spawn(watch))

    def land_when_gone(self, pid: int) -> None:
        """Land once process `pid` is dead (gone, or a zombie not yet reaped): spawn before the kill."""
        self.land_when(lambda: process_gone(pid), f"process {pid} dead")

    def stopped(self, pid: int) -> float:
        """Wait until process `pid` is stopped (SIGSTOP sent) and land."""
        wait_for(lambda: process_stopped(pid), timeout=LAND_TIMEOUT_S, interval=0.005, message=f"{pid} stopped")
        return self.land()

    def dead(self, pid: int) -> float:
        """Wait until process `pid` is dead (SIGKILL sent) and land."""
        wait_for(lambda: process_gone(pid), timeout=LAND_TIMEOUT_S, interval=0.005, message=f"{pid} dead")
        return self.land()

    def _landed(self, name: str) -> float:
        """After the fault: the watchers done, and the landing known (a fault that never says
        when it landed is a bug of the scenario)."""
        for watcher in self._watchers:
            watcher.get(timeout=LAND_TIMEOUT_S * time_factor())
        assert self.landed_at is not None, f"the fault {name!r} never said when it landed (Scenario.land)"
        return self.landed_at

    def stop(self) -> None:
        for greenlet in [*self._watchers, *([self.probe] if self.probe is not None else [])]:
            greenlet.kill(block=False)

    def hold(self, seconds: float = HOLD_S) -> None:
        """Keep the fault on for `seconds`: the fault's duration, not a wait for anything."""
        gevent.sleep(seconds)
        self.notes.append(f"held {seconds:.0f} s")

    def hold_until(self, condition: Callable[[], object], what: str, timeout: float = 30.0) -> None:
        """Keep the fault on until the platform has noticed it (`condition`), within a deadline."""
        began = self.history.now()
        wait_for(condition, timeout=timeout, interval=0.1, message=what)
        self.notes.append(f"held {self.history.now() - began:.1f} s until {what}")


def run(
    platform: Platform,
    report: list[Figures],
    name: str,
    fault: Callable[[Scenario], None],
    *,
    route: Callable[[str], str] | None = None,
    checks: Callable[[Scenario], list[CheckResult]] | None = None,
) -> Figures:
    """`checks`: the scenario's own checks, run after the common ones (on the stopped workload),
    counted in the figures and asserted the same way."""
    platform.wait_healthy(timeout=HEAL_TIMEOUT_S, what=f"the platform healthy before {name}")
    history = History(classify=classify)
    workload = Workload(platform.brokerlist_url, players=PLAYERS, route=route, history=history).start()
    scenario = Scenario(platform, history, workload)
    try:
        wait_for(
            lambda: workload.everyone_logged_in() and workload.duels_since(0) >= DUELS_BEFORE,
            timeout=LOAD_TIMEOUT_S,
            interval=0.1,
            message="a steady load before the fault",
        )
        history.mark(name)
        fault(scenario)
        fault_at = scenario._landed(name)
        platform.wait_healthy(timeout=HEAL_TIMEOUT_S, what=f"the platform healed after {name}")
        healed_at = scenario.healed_at = history.mark("healed")
        assert scenario.probe is not None
        recovered_at = scenario.probe.get(timeout=HEAL_TIMEOUT_S * time_factor())
        wait_for(
            lambda: workload.duels_since(healed_at) >= DUELS_AFTER,
            timeout=LOAD_TIMEOUT_S,
            interval=0.1,
            message="the load going on after the fault",
        )
    finally:
        scenario.stop()
        workload.stop()
    results = check_everything(workload, platform.tier)
    if checks is not None:
        results += checks(scenario)
    failing = [c for c in results if not c.ok]
    if workload.restarts:
        scenario.notes.append(f"{workload.restarts} players started a new client")
    figures = Figures.of(
        name,
        history,
        results,
        fault_at=fault_at,
        recovered_at=recovered_at,
        healed_at=healed_at,
        notes="; ".join(scenario.notes),
    )
    report.append(figures)
    print(figures.line())
    for check in results:
        print(" ", check)
    for error, count in history.errors():
        print(f"  x{count} {error}")
    assert not failing, "\n".join(str(c) for c in failing)
    return figures
