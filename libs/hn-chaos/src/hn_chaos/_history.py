"""Operation histories in the Jepsen style, and the checks run on them once the faults are over.

Every operation a workload attempts is recorded with its outcome:

- ok: acknowledged. The system said it happened, so it must still be there afterwards.
- failed: a clear error that means "this did not happen" (a refusal, a declared error).
- unknown: no answer (a timeout, the connection lost mid-call). It may or may not have happened:
  both are correct, and which one it was is a figure, not a failure.

    history = History(classify=my_classifier)
    op = history.run("register", lambda: client.register(name, pw), key=name, process="p3")
    ...
    history.close()                                      # still pending -> unknown
    result = check_set(history, "register", lambda ops: {op.key: accounts_named(op.key) for op in ops})
    assert not result.lost and not result.duplicates

`check_set` is Jepsen's set checker: `present(ops)` looks the keys up in the system's store and
says how many times each is there. An acknowledged key found 0 times is lost; a key found more
than once is duplicated; unknown and failed operations found there are counted (an unknown one
applied is fine; a failed one applied means the error was not as clear as it claimed).
"""

from __future__ import annotations

import enum
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import gevent

__all__ = ["CheckResult", "History", "Op", "Outcome", "check_set", "default_classify"]

T = TypeVar("T")


class Outcome(enum.Enum):
    OK = "ok"
    FAILED = "failed"
    UNKNOWN = "unknown"


@dataclass(eq=False)
class Op:
    index: int
    kind: str
    #: what the operation is about (an account name, a device id, a match id); may be set late
    key: Hashable | None
    #: which client did it
    process: str
    #: seconds since the history began
    invoked_at: float
    completed_at: float | None = None
    outcome: Outcome | None = None
    value: Any = None
    error: str = ""

    @property
    def pending(self) -> bool:
        return self.outcome is None

    def __str__(self) -> str:
        state = self.outcome.value if self.outcome else "pending"
        return (
            f"#{self.index} {self.kind}({self.key!r}) by {self.process} at {self.invoked_at:.2f}s: {state} {self.error}"
        )


def default_classify(exc: BaseException) -> Outcome:
    """No answer (timeouts, broken connections) is unknown; any other error is a clear failure."""
    if isinstance(exc, TimeoutError | ConnectionError | EOFError | gevent.Timeout):
        return Outcome.UNKNOWN
    return Outcome.FAILED


class History:
    """An append-only record of operations and of the nemesis' events, on one clock."""

    def __init__(
        self,
        *,
        classify: Callable[[BaseException], Outcome] = default_classify,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.classify = classify
        self._clock = clock
        self.started = clock()
        self.operations: list[Op] = []
        #: (seconds, description) of what the nemesis did: "kill -9 sso-1", "heal"
        self.events: list[tuple[float, str]] = []

    def now(self) -> float:
        """Seconds since the history began."""
        return self._clock() - self.started

    # -- recording ---------------------------------------------------------------------------

    def invoke(self, kind: str, key: Hashable | None = None, process: str = "") -> Op:
        op = Op(len(self.operations), kind, key, process, self.now())
        self.operations.append(op)
        return op

    def _complete(self, op: Op, outcome: Outcome, value: Any = None, error: str = "") -> Op:
        if op.outcome is not None:
            raise RuntimeError(f"operation completed twice: {op}")
        op.completed_at, op.outcome, op.value, op.error = self.now(), outcome, value, error[:300]
        return op

    def ok(self, op: Op, value: Any = None) -> Op:
        return self._complete(op, Outcome.OK, value)

    def fail(self, op: Op, error: str) -> Op:
        return self._complete(op, Outcome.FAILED, error=error)

    def unknown(self, op: Op, error: str) -> Op:
        return self._complete(op, Outcome.UNKNOWN, error=error)

    def error(self, op: Op, exc: BaseException, classify: Callable[[BaseException], Outcome] | None = None) -> Op:
        """Complete `op` with the outcome the classifier gives `exc`."""
        outcome = (classify or self.classify)(exc)
        return self._complete(op, outcome, error=f"{type(exc).__name__}: {exc}")

    def run(
        self,
        kind: str,
        fn: Callable[[], T],
        *,
        key: Hashable | None = None,
        process: str = "",
        classify: Callable[[BaseException], Outcome] | None = None,
    ) -> Op:
        """Invoke, call `fn()`, record its value or its error; the op says which it was.

        A greenlet killed mid-call (the workload stopping) records unknown and is re-raised.
        """
        op = self.invoke(kind, key, process)
        try:
            value = fn()
        except gevent.GreenletExit:
            self.unknown(op, "interrupted")
            raise
        except (Exception, gevent.Timeout) as exc:  # noqa: BLE001 - every error is an outcome to record
            self.error(op, exc, classify)
            return op
        return self.ok(op, value)

    def discard(self, op: Op) -> None:
        """Forget a pending operation the client itself called off before it did anything (a
        player who stops waiting in a queue): not an outcome of the system."""
        if not op.pending:
            raise RuntimeError(f"only a pending operation can be discarded: {op}")
        self.operations.remove(op)

    def mark(self, event: str) -> float:
        """Record a nemesis event; returns its time on the history's clock."""
        at = self.now()
        self.events.append((at, event))
        return at

    def close(self, reason: str = "never completed") -> int:
        """Operations still pending become unknown (the workload was stopped); returns how many."""
        pending = [op for op in self.operations if op.pending]
        for op in pending:
            self.unknown(op, reason)
        return len(pending)

    # -- reading -----------------------------------------------------------------------------

    def ops(self, kind: str | Iterable[str] | None = None, outcome: Outcome | None = None) -> list[Op]:
        kinds = {kind} if isinstance(kind, str) else (set(kind) if kind is not None else None)
        return [
            op
            for op in self.operations
            if (kinds is None or op.kind in kinds) and (outcome is None or op.outcome is outcome)
        ]

    def counts(self, kind: str | Iterable[str] | None = None) -> dict[str, int]:
        ops = self.ops(kind)
        tally = Counter(op.outcome.value if op.outcome else "pending" for op in ops)
        return {"attempted": len(ops), **{o.value: tally[o.value] for o in Outcome}, "pending": tally["pending"]}

    def succeeded_since(self, at: float, kind: str | Iterable[str] | None = None) -> int:
        """Acknowledged operations invoked at or after `at` (seconds on the history's clock)."""
        return sum(1 for op in self.ops(kind, Outcome.OK) if op.invoked_at >= at)

    def error_window(self, since: float = 0.0) -> tuple[float, float] | None:
        """(first, last) completion times of the operations that did not succeed, from `since`."""
        times = [
            op.completed_at
            for op in self.operations
            if op.outcome in (Outcome.FAILED, Outcome.UNKNOWN)
            and op.completed_at is not None
            and op.completed_at >= since
        ]
        return (min(times), max(times)) if times else None

    def errors(self, limit: int = 5) -> list[tuple[str, int]]:
        """The most common errors, with their counts."""
        tally = Counter(
            f"{op.kind} {op.outcome.value}: {op.error}"[:160]
            for op in self.operations
            if op.outcome in (Outcome.FAILED, Outcome.UNKNOWN)
        )
        return tally.most_common(limit)


@dataclass
class CheckResult:
    name: str
    #: acknowledged operations that were checked
    checked: int = 0
    lost: list[Op] = field(default_factory=list)
    #: key -> how many times it is there (more than once)
    duplicates: dict[Hashable, int] = field(default_factory=dict)
    #: unknown / failed operations whose effect is there anyway
    applied_unknown: int = 0
    applied_failed: int = 0
    #: anything else the check found wrong (an acknowledged value that differs from the stored one)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        # A clear error promises the operation did not happen (Jepsen's :fail); an unknown one
        # promises nothing.
        return not self.lost and not self.duplicates and not self.problems and not self.applied_failed

    def __str__(self) -> str:
        text = (
            f"{self.name}: {self.checked} acknowledged checked, {len(self.lost)} lost, "
            f"{len(self.duplicates)} duplicated, {self.applied_unknown} unknown applied, "
            f"{self.applied_failed} failed yet applied"
        )
        details = [f"  lost: {op}" for op in self.lost[:10]]
        details += [f"  duplicated: {key!r} x{n}" for key, n in list(self.duplicates.items())[:10]]
        details += [f"  problem: {p}" for p in self.problems[:10]]
        return "\n".join([text, *details])


def check_set(
    history: History,
    kind: str | Iterable[str],
    present: Callable[[Sequence[Op]], Mapping[Hashable, int]],
    *,
    name: str = "",
) -> CheckResult:
    """Every acknowledged `kind` operation's key must be in the store, once (see the module)."""
    ops = [op for op in history.ops(kind) if op.key is not None and not op.pending]
    found = present(ops)
    result = CheckResult(name or (kind if isinstance(kind, str) else "/".join(kind)))
    acknowledged = {op.key for op in ops if op.outcome is Outcome.OK}
    result.checked = sum(1 for op in ops if op.outcome is Outcome.OK)
    result.lost = [op for op in ops if op.outcome is Outcome.OK and found.get(op.key, 0) == 0]
    result.duplicates = {key: n for key, n in found.items() if n > 1}
    for outcome, attribute in ((Outcome.UNKNOWN, "applied_unknown"), (Outcome.FAILED, "applied_failed")):
        keys = {op.key for op in ops if op.outcome is outcome} - acknowledged
        setattr(result, attribute, sum(1 for key in keys if found.get(key, 0) > 0))
    return result
