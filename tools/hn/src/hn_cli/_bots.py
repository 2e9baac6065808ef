"""Bot players: each fetches the brokerlist, logs in as a guest, and plays for as long as asked.

`run_bots` prints a live progress line and a summary: logins, matches, duels, p50/p99 latency
per message type, errors. `run_ramp` follows a curve of bots over time instead.
"""

from __future__ import annotations

import itertools
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gevent
import gevent.event

from hn_client import Duelist, GameClient
from hn_stats import percentile

__all__ = ["BotStats", "run_bots", "run_ramp", "parse_ramp", "ramp_target"]


@dataclass
class BotStats:
    players: int = 0
    logins: int = 0
    #: MatchFound received (a duel begun) / results received / duels called off
    matches: int = 0
    duels: int = 0
    aborted: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    latency_ms: dict[str, list[float]] = field(default_factory=dict)
    #: players that logged in / finished at least one duel
    logged_in: set[int] = field(default_factory=set)
    dueled: Counter[int] = field(default_factory=Counter)
    #: bots playing now, and those that left (logged out) as a ramp went down
    active: int = 0
    left: int = 0
    #: sessions resumed on another broker (a broker drained or lost), calls sent again meanwhile
    resumes: int = 0
    resent: int = 0
    #: why duels were called off
    aborted_why: Counter[str] = field(default_factory=Counter)
    #: (seconds since the start, bots playing) at each change, for ramps
    timeline: list[tuple[float, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.logins > 0 and not self.errors

    def everyone_played(self, duels: int) -> bool:
        """Every bot started logged in and finished at least `duels` duels."""
        return len(self.logged_in) == self.players and all(self.dueled[n] >= duels for n in self.logged_in)

    def timed(self, type_: str, call: Callable[[], Any]) -> Any:
        started = time.perf_counter()
        try:
            return call()
        finally:
            self.latency_ms.setdefault(type_, []).append((time.perf_counter() - started) * 1000)

    def progress(self, elapsed: float) -> str:
        errors = sum(self.errors.values())
        return (
            f"\r[{elapsed:6.1f}s] players {self.players}  active {self.active}  logins {self.logins}  "
            f"matches {self.matches}  duels {self.duels}  aborted {self.aborted}  left {self.left}  errors {errors}   "
        )

    def summary(self) -> str:
        lines = [
            f"players {self.players}, logins {self.logins}, matches {self.matches}, duels {self.duels}, "
            f"aborted {self.aborted}, left {self.left}, errors {sum(self.errors.values())}",
            f"players who logged in {len(self.logged_in)}, who finished a duel {len(self.dueled)}",
            f"sessions resumed on another broker {self.resumes}, calls sent again {self.resent}",
            f"{'message type':<24}{'calls':>8}{'p50 ms':>10}{'p99 ms':>10}",
        ]
        for type_, samples in sorted(self.latency_ms.items()):
            p50, p99 = percentile(samples, 0.5), percentile(samples, 0.99)
            lines.append(f"{type_:<24}{len(samples):>8}{p50:>10.1f}{p99:>10.1f}")
        for why, count in self.aborted_why.most_common(5):
            lines.append(f"aborted: {why} x{count}")
        for error, count in self.errors.most_common():
            lines.append(f"error: {error} x{count}")
        return "\n".join(lines)


_device_ids = itertools.count(1)


def play(
    brokerlist: str,
    number: int,
    stats: BotStats,
    until: Callable[[], bool],
    leaving: Callable[[], bool] = lambda: False,
    ca_file: str | None = None,
) -> None:
    """One bot's life: connect, log in, then duel until `until()`.

    A bot asked to leave (`leaving()`, a ramp going down) finishes its duel, or leaves the queue,
    and logs out, as a player quitting the game does.
    """
    client = GameClient(brokerlist, timeout=30, ca_file=ca_file)  # ca_file: brokers speaking TLS
    stats.active += 1
    try:
        stats.timed("connect", client.connect)
        device = f"bot-{os.getpid()}-{number}-{next(_device_ids)}"
        stats.timed("sso.guest_login", lambda: client.guest_login(device))
        stats.logins += 1
        stats.logged_in.add(number)
        duel_forever(client, number, stats, lambda: until() or leaving())
        if leaving():
            stats.timed("sso.logout", client.logout)
            stats.left += 1
    except Exception as exc:  # noqa: BLE001 - a bot's failure is a figure, not a crash
        stats.errors[f"{type(exc).__name__}: {exc}"[:160]] += 1
    finally:
        stats.active -= 1
        stats.resumes += client.resumes
        stats.resent += client.resent
        client.close()


def duel_forever(client: GameClient, number: int, stats: BotStats, until: Callable[[], bool]) -> None:
    """What a bot does once logged in: queue, duel, and again until `until()`, counting
    everything; a failed duel is counted and the bot plays on."""
    duelist = Duelist(client)
    while not until():
        try:
            outcome = duelist.duel(timed=stats.timed, stop=until, timeout=90)
        except Exception as exc:  # noqa: BLE001 - a failed duel is a figure; the bot plays on
            stats.errors[f"duel: {type(exc).__name__}: {exc}"[:160]] += 1
            gevent.sleep(1.0)
            continue
        if outcome is None:
            return  # stopped while queued
        stats.matches += 1
        stats.latency_ms.setdefault("matchmaking (queue -> found)", []).append(outcome.waited_s * 1000)
        if outcome.result is None:
            stats.aborted += 1
            stats.aborted_why[str(outcome.aborted)[:80]] += 1
            continue
        stats.duels += 1
        stats.dueled[number] += 1


def ramp_target(ramp: Sequence[tuple[float, int]], elapsed: float) -> int:
    """Bots wanted `elapsed` seconds in: linear between the ramp's (seconds, bots) points."""
    if not ramp:
        return 0
    if elapsed <= ramp[0][0]:
        return ramp[0][1]
    for (t0, n0), (t1, n1) in zip(ramp, ramp[1:], strict=False):
        if elapsed <= t1:
            return round(n0 + (n1 - n0) * (elapsed - t0) / (t1 - t0)) if t1 > t0 else n1
    return ramp[-1][1]


def parse_ramp(text: str) -> list[tuple[float, int]]:
    """ "0:0,30:300,60:300,90:0" -> [(0, 0), (30, 300), (60, 300), (90, 0)] (seconds:bots)."""
    points = []
    for item in text.split(","):
        seconds, _, bots = item.strip().partition(":")
        points.append((float(seconds), int(bots)))
    if any(b[0] < a[0] for a, b in zip(points, points[1:], strict=False)) or any(n < 0 for _, n in points):
        raise ValueError(f"a ramp is seconds:bots points in time order, e.g. 0:0,30:300,90:0 (got {text!r})")
    return points


def run_ramp(
    brokerlist: str,
    ramp: Sequence[tuple[float, int]],
    *,
    stop: gevent.event.Event | None = None,
    out: Any = None,
    tick: float = 0.1,
    ca_file: str | None = None,
) -> BotStats:
    """Bots following `ramp` ((seconds, bots) points): new ones join as it rises, random ones
    leave (finish their duel, log out) as it falls. Ends once the ramp is over and every bot
    has left (bots still there then are asked to leave), or at `stop`."""
    out = out or sys.stdout
    stats = BotStats()
    stop = stop or gevent.event.Event()
    started = time.monotonic()
    playing: list[tuple[gevent.Greenlet, gevent.event.Event]] = []
    end = ramp[-1][0] if ramp else 0.0
    last_print = 0.0

    def finished() -> bool:
        return bool(stop.is_set())

    while not stop.is_set():
        elapsed = time.monotonic() - started
        playing = [(g, leave) for g, leave in playing if not g.dead]
        staying = [(g, leave) for g, leave in playing if not leave.is_set()]
        target = ramp_target(ramp, elapsed) if elapsed <= end else 0
        if len(staying) < target:
            for _ in range(target - len(staying)):
                leave = gevent.event.Event()
                playing.append(
                    (gevent.spawn(play, brokerlist, stats.players, stats, finished, leave.is_set, ca_file), leave)
                )
                stats.players += 1
        elif len(staying) > target:
            # Players quit in no particular order (the newest first would empty the newest
            # brokers first, and an autoscaler would only ever drain empty ones).
            for _, leave in random.sample(staying, len(staying) - target):
                leave.set()
        if not stats.timeline or stats.timeline[-1][1] != target:
            stats.timeline.append((round(elapsed, 2), target))
        if elapsed > end and not playing:
            break
        if elapsed - last_print >= 1.0:
            last_print = elapsed
            out.write(stats.progress(elapsed))
            out.flush()
        gevent.sleep(tick)
    for _, leave in playing:
        leave.set()
    gevent.joinall([g for g, _ in playing], timeout=120)
    out.write(stats.progress(time.monotonic() - started) + "\n" + stats.summary() + "\n")
    out.flush()
    return stats


def run_bots(
    brokerlist: str,
    *,
    players: int,
    rate: float,
    duration: float | None,
    stop: gevent.event.Event | None = None,
    duels: int | None = None,
    plot: str = "",
    out: Any = None,
    ca_file: str | None = None,
) -> BotStats:
    """Start `players` bots at `rate` per second; play `duration` seconds (or until `stop`).

    With `duels`, the run ends once every bot has finished that many duels (bots done early keep
    playing, so nobody is left without an opponent), or a bot failed, or `duration` is up.
    """
    out = out or sys.stdout
    stats = BotStats()
    stop = stop or gevent.event.Event()
    started = time.monotonic()
    bots: list[gevent.Greenlet] = []
    spawner_done = gevent.event.Event()

    def over() -> bool:
        if stop.is_set() or (duration is not None and time.monotonic() - started >= duration):
            return True
        if duels is None or not spawner_done.is_set():
            return False
        return stats.everyone_played(duels) or (bool(stats.errors) and all(b.dead for b in bots))

    def spawner() -> None:
        for n in range(players):
            if over():
                break
            bots.append(gevent.spawn(play, brokerlist, n, stats, over, ca_file=ca_file))
            stats.players += 1
            gevent.sleep(1.0 / rate if rate > 0 else 0)
        spawner_done.set()

    gevent.spawn(spawner)
    while not over():
        out.write(stats.progress(time.monotonic() - started))
        out.flush()
        gevent.sleep(1.0)
    spawner_done.wait()
    gevent.joinall(bots, timeout=60)
    out.write(stats.progress(time.monotonic() - started) + "\n" + stats.summary() + "\n")
    out.flush()
    if plot:
        write_plot(stats, plot)
    return stats


def write_plot(stats: BotStats, path: str) -> None:
    """A PNG of latency per message type (`_plot`)."""
    from hn_cli._plot import latency_png

    title = f"{stats.players} bots: {stats.logins} logins, {stats.duels} duels, {sum(stats.errors.values())} errors"
    latency_png(path, title, stats.latency_ms)
