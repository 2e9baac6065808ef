"""`hn logs`: the platform's JSON log lines from wherever they are, merged in time order.

A source (`--from`, repeatable) is one of:

- a run directory: every `<process>.log` in it (`hn up` writes one per process; the default is the
  current run);
- `-`: lines on stdin, either the processes' JSON lines themselves or journal entries as
  `journalctl -o json` prints them (`journalctl -u 'hn-*' -o json | hn logs --from - --trace ID`);
- `http://HOST:19531`: the log host. Every host ships its journal there (systemd-journal-upload
  to systemd-journal-remote, infra/terraform/modules/log-host), and the log host serves what it
  holds with systemd-journal-gatewayd, which this reads as JSON entries.

A journal entry's MESSAGE is the process's JSON line; its process is `<host>/<unit's identifier>`.
With `--trace ID` only that request's lines are shown, with the time since the previous hop.
"""

from __future__ import annotations

import glob
import heapq
import json
import os
import sys
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

__all__ = [
    "LogLine",
    "format_line",
    "journal_line",
    "log_host_lines",
    "merged_logs",
    "print_logs",
    "run_dir_lines",
    "stream_lines",
]

#: How long the log host may take to send its entries (seconds per read).
LOG_HOST_TIMEOUT = 30.0


@dataclass(frozen=True)
class LogLine:
    #: ISO 8601, UTC, as the processes write it (hn_runtime's logging): sortable as text
    timestamp: str
    #: the log file's name in a run directory; `<host>/<identifier>` from a journal
    process: str
    event: dict[str, Any]


def _json(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _iso(microseconds: str) -> str:
    moment = datetime.fromtimestamp(int(microseconds) / 1e6, tz=UTC)
    return moment.isoformat().replace("+00:00", "Z")


def journal_line(entry: dict[str, Any]) -> LogLine | None:
    """A journal entry (journalctl -o json, gatewayd) holding a JSON log line in MESSAGE; None for
    any other entry (a unit starting, a line that is not JSON)."""
    message = entry.get("MESSAGE")
    if not isinstance(message, str):
        return None  # binary messages come as byte arrays: never one of ours
    event = _json(message)
    if event is None:
        return None
    host = entry.get("_HOSTNAME", "")
    name = entry.get("SYSLOG_IDENTIFIER") or entry.get("_SYSTEMD_UNIT") or entry.get("_COMM") or "?"
    stamp = str(event.get("timestamp") or _iso(entry.get("__REALTIME_TIMESTAMP", "0")))
    return LogLine(stamp, f"{host}/{name}" if host else str(name), event)


def _line(event: dict[str, Any], process: str) -> LogLine | None:
    """A parsed line: a journal entry, or a process's own JSON line."""
    if "MESSAGE" in event and "__REALTIME_TIMESTAMP" in event:
        return journal_line(event)
    return LogLine(str(event.get("timestamp", "")), process, event)


def run_dir_lines(run_dir: str) -> list[Iterator[LogLine]]:
    """One time-ordered source per `<process>.log` of a run directory."""

    def read(path: str) -> Iterator[LogLine]:
        name = os.path.basename(path).removesuffix(".log")
        with open(path, errors="replace") as fh:
            for text in fh:
                event = _json(text)
                if event is not None:
                    yield LogLine(str(event.get("timestamp", "")), name, event)

    paths = sorted(glob.glob(os.path.join(run_dir, "*.log")))
    if not paths:
        raise FileNotFoundError(f"no *.log in {run_dir}")
    return [read(p) for p in paths]


def stream_lines(stream: IO[str], name: str = "stdin") -> Iterator[LogLine]:
    """JSON lines or journal entries (one JSON object a line); anything else is skipped."""
    for text in stream:
        event = _json(text) if text.lstrip().startswith("{") else None
        line = _line(event, name) if event is not None else None
        if line is not None:
            yield line


def log_host_lines(url: str, *, timeout: float = LOG_HOST_TIMEOUT) -> Iterator[LogLine]:
    """Every HighNoon line the log host's systemd-journal-gatewayd serves (`GET /entries`)."""
    request = urllib.request.Request(url.rstrip("/") + "/entries", headers={"Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        for raw in response:
            entry = _json(raw.decode("utf-8", errors="replace"))
            line = journal_line(entry) if entry is not None else None
            if line is not None:
                yield line


def _source(spec: str, stdin: IO[str]) -> list[Iterator[LogLine]]:
    if spec == "-":
        return [stream_lines(stdin)]
    if spec.startswith(("http://", "https://")):
        return [log_host_lines(spec)]
    return run_dir_lines(spec)


def merged_logs(
    sources: Iterable[str], *, trace_id: str | None = None, stdin: IO[str] | None = None
) -> Iterator[LogLine]:
    """The lines of every source (see the module's docstring), in time order; only `trace_id`'s
    if given. A run directory's files are each in order already; a stream or the log host's
    entries are sorted once filtered (a journal interleaves hosts by arrival, not by time)."""
    streams: list[Iterable[LogLine]] = []
    for spec in sources:
        for lines in _source(spec, stdin or sys.stdin):
            if trace_id is not None:
                lines = iter([line for line in lines if line.event.get("trace_id") == trace_id])
            if spec == "-" or spec.startswith(("http://", "https://")):
                lines = iter(sorted(lines, key=lambda line: line.timestamp))
            streams.append(lines)
    yield from heapq.merge(*streams, key=lambda line: line.timestamp)


def _moment(stamp: str) -> float | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def format_line(line: LogLine, *, previous: float | None = None, hops: bool = False) -> str:
    """One human line: time, (with `hops`) the time since `previous`, process, level, event, the rest."""
    event = line.event
    hop = ""
    if hops:
        moment = _moment(line.timestamp)
        if moment is not None and previous is not None:
            hop = f"+{(moment - previous) * 1000:7.1f}ms "
        else:
            hop = " " * 11
    fields = {k: v for k, v in event.items() if k not in ("timestamp", "event", "level")}
    level = str(event.get("level", ""))
    return f"{line.timestamp} {hop}{line.process:<14} {level:<7} {event.get('event', '')}  {json.dumps(fields)}"


def print_logs(lines: Iterable[LogLine], *, as_json: bool, hops: bool, out: IO[str] | None = None) -> int:
    """Print `lines` (JSON lines with `as_json`); returns how many."""
    out = out or sys.stdout
    previous: float | None = None
    count = 0
    for line in lines:
        count += 1
        if as_json:
            print(json.dumps({"process": line.process, **line.event}), file=out)
            continue
        print(format_line(line, previous=previous, hops=hops), file=out)
        previous = _moment(line.timestamp) if hops else None
    return count
