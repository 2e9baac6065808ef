"""Histories record every outcome; the set check finds lost, duplicated and applied-anyway keys."""

from __future__ import annotations

import os
import tempfile

import gevent
import pytest

from hn_chaos import (
    SUMMARY_BLOCK,
    Figures,
    History,
    Outcome,
    check_set,
    markdown_table,
    write_report,
    write_summary,
)
from hn_figures import begin_marker, end_marker


class Refused(Exception):
    pass


def test_run_records_ok_failed_and_unknown() -> None:
    history = History()
    ok = history.run("put", lambda: 42, key="a", process="p1")

    def refuse() -> None:
        raise Refused("no")

    def lose() -> None:
        raise ConnectionResetError("peer reset")

    def hang() -> None:
        with gevent.Timeout(0.01):
            gevent.sleep(1)

    failed = history.run("put", refuse, key="b")
    unknown = history.run("put", lose, key="c")
    timed_out = history.run("put", hang, key="d")
    assert (ok.outcome, ok.value) == (Outcome.OK, 42)
    assert failed.outcome is Outcome.FAILED and "Refused: no" in failed.error
    assert unknown.outcome is Outcome.UNKNOWN and timed_out.outcome is Outcome.UNKNOWN
    assert history.counts() == {"attempted": 4, "ok": 1, "failed": 1, "unknown": 2, "pending": 0}
    assert all(op.completed_at is not None and op.completed_at >= op.invoked_at for op in history.operations)


def test_a_custom_classifier_decides_what_is_clear() -> None:
    history = History(classify=lambda exc: Outcome.UNKNOWN if isinstance(exc, Refused) else Outcome.FAILED)

    def refuse() -> None:
        raise Refused("maybe")

    assert history.run("put", refuse).outcome is Outcome.UNKNOWN


def test_an_interrupted_operation_is_unknown_and_the_interruption_goes_on() -> None:
    history = History()
    greenlet = gevent.spawn(history.run, "put", lambda: gevent.sleep(10), key="x")
    gevent.sleep(0)
    greenlet.kill()
    assert isinstance(greenlet.value, gevent.GreenletExit)
    assert history.ops("put")[0].outcome is Outcome.UNKNOWN


def test_close_turns_pending_operations_unknown_and_completing_twice_is_an_error() -> None:
    history = History()
    op = history.invoke("put", "k")
    assert history.counts()["pending"] == 1
    assert history.close() == 1
    assert op.outcome is Outcome.UNKNOWN and op.error == "never completed"
    with pytest.raises(RuntimeError):
        history.ok(op)
    with pytest.raises(RuntimeError):
        history.discard(op)
    called_off = history.invoke("put", "q")
    history.discard(called_off)
    assert history.counts()["attempted"] == 1


def test_check_set_finds_lost_duplicated_and_applied_anyway() -> None:
    history = History()
    for key in ("a", "b", "c"):
        history.ok(history.invoke("put", key))
    history.unknown(history.invoke("put", "u1"), "timeout")
    history.unknown(history.invoke("put", "u2"), "timeout")
    history.fail(history.invoke("put", "f1"), "refused")
    store = {"a": 1, "c": 2, "u1": 1, "f1": 1}  # b lost, c twice, u1 applied, f1 applied anyway

    result = check_set(history, "put", lambda ops: {op.key: store.get(op.key, 0) for op in ops})  # type: ignore[misc]
    assert [op.key for op in result.lost] == ["b"]
    assert result.duplicates == {"c": 2}
    assert (result.checked, result.applied_unknown, result.applied_failed) == (3, 1, 1)
    assert not result.ok
    failed_yet_applied = History()
    failed_yet_applied.fail(failed_yet_applied.invoke("put", "f"), "refused")
    assert not check_set(failed_yet_applied, "put", lambda ops: {"f": 1}).ok, "a clear error that happened is wrong"
    assert "1 lost" in str(result)


def test_a_key_acknowledged_on_retry_is_not_counted_as_applied_unknown() -> None:
    history = History()
    history.unknown(history.invoke("put", "k"), "timeout")
    history.ok(history.invoke("put", "k"))
    result = check_set(history, "put", lambda ops: {"k": 1})
    assert result.ok and result.applied_unknown == 0


def test_figures_and_the_markdown_table() -> None:
    history = History()
    fault_at = history.mark("kill -9 sso-1")
    history.ok(history.invoke("put", "a"))
    history.unknown(history.invoke("put", "b"), "ConnectionLost")
    check = check_set(history, "put", lambda ops: {"a": 1})
    figures = Figures.of(
        "kill -9 sso",
        history,
        [check],
        fault_at=fault_at,
        recovered_at=fault_at + 2.5,
        healed_at=fault_at + 4,
        notes="x|y",
    )
    assert (figures.attempted, figures.ok, figures.unknown, figures.lost, figures.duplicates) == (2, 1, 1, 0, 0)
    assert figures.correct and figures.recovered_s == pytest.approx(2.5)
    assert "served again after 2.5 s, healed after 4.0 s" in figures.line()
    table = markdown_table([figures])
    assert table.splitlines()[2].startswith("| kill -9 sso | 2 | 1 | 0 | 1 | 0 | 0 |") and "x/y" in table
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, "docs", "reliability.md")
        write_report(path, [figures], title="Reliability", command="./pants test chaos::")
        text = open(path).read()
        assert text.startswith("# Reliability") and "./pants test chaos::" in text and "| kill -9 sso |" in text

        readme = os.path.join(scratch, "README.md")
        with open(readme, "w") as fh:
            fh.write(
                f"# Title\n\nbefore\n\n{begin_marker(SUMMARY_BLOCK)}\nan older table\n"
                f"{end_marker(SUMMARY_BLOCK)}\n\nafter\n"
            )
        write_summary(readme, [figures], command="./pants test chaos::")
        text = open(readme).read()
        assert "an older table" not in text and text.startswith("# Title\n\nbefore\n") and text.endswith("after\n")
        assert "| kill -9 sso | 1 / 0 / 1 | 0, 0, 0 | 2.5 s |" in text and "`./pants test chaos::`" in text
        with open(readme, "w") as fh:
            fh.write("# No block\n")
        with pytest.raises(ValueError):
            write_summary(readme, [figures], command="x")
