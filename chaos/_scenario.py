"""One chaos scenario, run the same way by every test file of the tier (`run`): the platform
healthy, a fresh workload of players playing, the fault, the platform healed (within a deadline),
the load going on, then the checks (see _invariants.py) and a row of figures (see conftest.py for
what each column means)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import gevent

from hn_chaos import Figures, History
from hn_runtime.testing import time_factor, wait_for

from _invariants import check_everything
from _nemesis import Platform
from _players import Workload, classify

__all__ = ["DUELS_AFTER", "DUELS_BEFORE", "HEAL_TIMEOUT_S", "HOLD_S", "LOAD_TIMEOUT_S", "PLAYERS", "Scenario", "run"]

PLAYERS = 10
#: acknowledged duels before the fault (the load is steady), and after it (the load goes on)
DUELS_BEFORE = 5
DUELS_AFTER = 5
#: how long a SIGSTOP or a proxy fault lasts where nothing else decides it
HOLD_S = 4.0
#: deadlines (x HN_TEST_TIME_FACTOR)
HEAL_TIMEOUT_S = 120.0
LOAD_TIMEOUT_S = 90.0


@dataclass
class Scenario:
    platform: Platform
    history: History
    workload: Workload
    notes: list[str] = field(default_factory=list)

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
) -> Figures:
    platform.wait_healthy(timeout=HEAL_TIMEOUT_S, what=f"the platform healthy before {name}")
    history = History(classify=classify)
    workload = Workload(platform.brokerlist_url, players=PLAYERS, route=route, history=history).start()
    scenario = Scenario(platform, history, workload)
    probe: gevent.Greenlet | None = None
    try:
        wait_for(
            lambda: workload.everyone_logged_in() and workload.duels_since(0) >= DUELS_BEFORE,
            timeout=LOAD_TIMEOUT_S,
            interval=0.1,
            message="a steady load before the fault",
        )
        fault_at = history.mark(name)
        probe = platform.first_served(history)
        fault(scenario)
        platform.wait_healthy(timeout=HEAL_TIMEOUT_S, what=f"the platform healed after {name}")
        healed_at = history.mark("healed")
        recovered_at = probe.get(timeout=HEAL_TIMEOUT_S * time_factor())
        wait_for(
            lambda: workload.duels_since(healed_at) >= DUELS_AFTER,
            timeout=LOAD_TIMEOUT_S,
            interval=0.1,
            message="the load going on after the fault",
        )
    finally:
        if probe is not None:
            probe.kill(block=False)
        workload.stop()
    checks = check_everything(workload, platform.tier)
    failing = [c for c in checks if not c.ok]
    if workload.restarts:
        scenario.notes.append(f"{workload.restarts} players started a new client")
    figures = Figures.of(
        name,
        history,
        checks,
        fault_at=fault_at,
        recovered_at=recovered_at,
        healed_at=healed_at,
        notes="; ".join(scenario.notes),
    )
    report.append(figures)
    print(figures.line())
    for check in checks:
        print(" ", check)
    for error, count in history.errors():
        print(f"  x{count} {error}")
    assert not failing, "\n".join(str(c) for c in failing)
    return figures
