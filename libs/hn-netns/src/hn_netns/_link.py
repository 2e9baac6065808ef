"""What one host's link does to the packets that cross it."""

from __future__ import annotations

import dataclasses
import math

__all__ = ["Link"]


@dataclasses.dataclass(frozen=True)
class Link:
    """A host's link to the switch, the same in both directions: every packet that crosses it,
    going out or coming in, waits `delay_ms` ± `jitter_ms` (uniform, never below 0) and is lost
    with probability `loss`. A packet between two hosts crosses two links, so with the defaults a
    one-way trip takes 2-6 ms and a round trip at least 4 ms."""

    delay_ms: float = 2.0
    jitter_ms: float = 1.0
    loss: float = 0.001

    def __post_init__(self) -> None:
        for name in ("delay_ms", "jitter_ms", "loss"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
        if self.loss > 1:
            raise ValueError(f"loss is a probability (0..1), not {self.loss!r}")

    def changed(self, *, delay_ms: float | None, jitter_ms: float | None, loss: float | None) -> Link:
        """This link with the given fields replaced (None keeps a field)."""
        return Link(
            delay_ms=self.delay_ms if delay_ms is None else delay_ms,
            jitter_ms=self.jitter_ms if jitter_ms is None else jitter_ms,
            loss=self.loss if loss is None else loss,
        )

    def line(self) -> str:
        """The shaper daemon's command for this link."""
        return f"{self.delay_ms!r} {self.jitter_ms!r} {self.loss!r}"

    @classmethod
    def from_line(cls, line: str) -> Link:
        delay_ms, jitter_ms, loss = (float(word) for word in line.split())
        return cls(delay_ms, jitter_ms, loss)
