"""wait_until: the one poll loop of the repository."""

from __future__ import annotations

import gevent
import pytest
from gevent import monkey

from hn_process import WaitTimeout, time_factor, wait_until


def test_returns_the_first_truthy_value() -> None:
    answers = iter([None, 0, "", ["found"]])
    assert wait_until(lambda: next(answers), timeout=5) == ["found"]


def test_a_missed_deadline_is_a_timeout_to_code_and_a_failed_assertion_to_a_test() -> None:
    with pytest.raises(WaitTimeout, match="timed out after 0.0s waiting for the impossible") as caught:
        wait_until(lambda: False, timeout=0.01, message="the impossible")
    assert isinstance(caught.value, TimeoutError) and isinstance(caught.value, AssertionError)


def test_the_deadline_stretches_by_the_time_factor_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HN_TEST_TIME_FACTOR", "10")
    assert time_factor() == 10.0
    with pytest.raises(WaitTimeout, match=r"after 0\.2s"):
        wait_until(lambda: False, timeout=0.02, scaled=True)
    with pytest.raises(WaitTimeout, match=r"after 0\.0s"):
        wait_until(lambda: False, timeout=0.02)


def test_waiting_lets_other_greenlets_run() -> None:
    # The root conftest patches, as every HighNoon process's entry point does: time.sleep, which
    # wait_until calls between polls, is then gevent's and yields to the hub.
    assert monkey.is_module_patched("time")
    seen: list[str] = []
    gevent.spawn_later(0.05, seen.append, "ran")
    assert wait_until(lambda: seen, timeout=5) == ["ran"]
