"""Offline dependency audit: every pin of the lockfile against a snapshot of OSV advisories.

    python -m scripts.osv_audit check      # exit 0 clean, 1 unexplained findings, 2 pins not covered
    python -m scripts.osv_audit accepted   # the accepted ids of docs/security.md, one a line

The advisories are the PyPA advisory database's (OSV YAML, `vulns/<package>/<id>.yaml`), cut to
the pinned packages by `scripts.refresh_advisories` into 3rdparty/advisories. A pin is affected by
an advisory when its version is listed in `affected[].versions`, or falls in one of the
`affected[].ranges` of type ECOSYSTEM, compared in PEP 440 order with OSV's event semantics
(introduced / fixed / last_affected / limit). GIT ranges name commits, not releases: an advisory
says which releases those cover in its `versions` list.

A finding passes only when docs/security.md's "Accepted findings" table lists its id (or one of
its aliases) with a written reason.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the resolve; only safe_load is used
from packaging.version import InvalidVersion, Version

from scripts.lock_pins import Pin, normalize, read_pins

__all__ = [
    "Accepted",
    "Advisory",
    "AdvisoryError",
    "Finding",
    "affects",
    "find",
    "load_advisories",
    "read_accepted",
]

REPO = Path(__file__).resolve().parents[1]
_ID = re.compile(r"^(PYSEC|GHSA|CVE|OSV)-[A-Za-z0-9-]+$")


class AdvisoryError(ValueError):
    """An advisory (or the accepted-findings table) this audit cannot read: it fails, never skips."""


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    summary: str
    #: The `affected` entries of the PyPI packages it names (raw OSV).
    affected: tuple[Mapping[str, Any], ...]
    path: str

    @property
    def packages(self) -> set[str]:
        return {normalize(a["package"]["name"]) for a in self.affected}


@dataclass(frozen=True)
class Finding:
    pin: Pin
    advisory: Advisory
    #: Releases that fix it, above the pinned one (from the ranges' `fixed` events).
    fixed: tuple[str, ...]


@dataclass(frozen=True)
class Accepted:
    id: str
    package: str
    reason: str
    review_by: str


def _version(text: str, where: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion as exc:
        raise AdvisoryError(f"{where}: {text!r} is not a PEP 440 version") from exc


def _in_range(version: Version, events: Sequence[Mapping[str, Any]], where: str) -> bool:
    """OSV's evaluation of one range: walk its events in version order ("0" first); an
    `introduced` at or below the version opens, a `fixed` at or below (a `last_affected` below)
    closes; a `limit` caps the range from above."""
    limits = [str(e["limit"]) for e in events if "limit" in e]
    if limits and not any(limit == "*" or version < _version(limit, where) for limit in limits):
        return False
    bounds: list[tuple[tuple[int, Version], str]] = []
    for event in events:
        for kind in ("introduced", "fixed", "last_affected"):
            if kind in event:
                text = str(event[kind])
                key = (-1, Version("0")) if kind == "introduced" and text == "0" else (0, _version(text, where))
                bounds.append((key, kind))
    affected = False
    for (rank, bound), kind in sorted(bounds, key=lambda b: b[0]):
        if kind == "introduced" and (rank < 0 or version >= bound):
            affected = True
        elif kind == "fixed" and version >= bound:
            affected = False
        elif kind == "last_affected" and version > bound:
            affected = False
    return affected


def _listed(version: Version, listed: Iterable[Any]) -> bool:
    for entry in listed:
        try:
            if Version(str(entry)) == version:
                return True
        except InvalidVersion:
            if str(entry) == str(version):
                return True
    return False


def affects(advisory: Advisory, pin: Pin) -> tuple[str, ...] | None:
    """None if the advisory does not affect the pin; else the releases that fix it, above the pin."""
    version = _version(pin.version, f"{pin.name}=={pin.version}")
    hit = False
    fixed: list[str] = []
    for entry in advisory.affected:
        if normalize(entry["package"]["name"]) != normalize(pin.name):
            continue
        ranges = [r for r in entry.get("ranges") or [] if r.get("type") == "ECOSYSTEM"]
        in_ranges = any(_in_range(version, r.get("events") or [], advisory.path) for r in ranges)
        if in_ranges or _listed(version, entry.get("versions") or []):
            hit = True
            fixed += [str(e["fixed"]) for r in ranges for e in r.get("events") or [] if "fixed" in e]
    if not hit:
        return None
    above = sorted({f for f in fixed if _version(f, advisory.path) > version}, key=Version)
    return tuple(above)


def load_advisories(root: Path) -> dict[str, list[Advisory]]:
    """The advisories under `root` (holding vulns/), by the normalized names of the PyPI packages
    they affect; withdrawn ones left out."""
    by_package: dict[str, list[Advisory]] = {}
    for path in sorted((root / "vulns").glob("*/*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict) or "id" not in doc:
            raise AdvisoryError(f"{path}: not an OSV advisory")
        if doc.get("withdrawn"):
            continue
        affected = tuple(a for a in doc.get("affected") or [] if a.get("package", {}).get("ecosystem") == "PyPI")
        advisory = Advisory(
            id=str(doc["id"]),
            aliases=tuple(str(a) for a in doc.get("aliases") or []),
            summary=" ".join(str(doc.get("summary") or doc.get("details") or "").split()),
            affected=affected,
            path=str(path),
        )
        for package in advisory.packages:
            by_package.setdefault(package, []).append(advisory)
    return by_package


def find(pins: Iterable[Pin], advisories: Mapping[str, Sequence[Advisory]]) -> list[Finding]:
    findings = []
    for pin in pins:
        for advisory in advisories.get(normalize(pin.name), ()):
            fixed = affects(advisory, pin)
            if fixed is not None:
                findings.append(Finding(pin, advisory, fixed))
    return findings


def read_accepted(security_md: Path) -> dict[str, Accepted]:
    """The "Accepted findings" table of docs/security.md, by id: | id | package | why | review by |.
    A row without a reason is an error: an exemption is written down or it does not exist."""
    accepted: dict[str, Accepted] = {}
    inside = False
    for number, line in enumerate(security_md.read_text().splitlines(), start=1):
        if line.startswith("#"):
            inside = line.strip() == "### Accepted findings"
            continue
        if not inside or not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0].lower() == "id" or set(cells[0]) <= set("-: "):
            continue  # the header and its separator
        if len(cells) != 4 or not _ID.match(cells[0]):
            raise AdvisoryError(f"{security_md}:{number}: expected | id | package | why | review by |: {line}")
        if not cells[2]:
            raise AdvisoryError(f"{security_md}:{number}: {cells[0]} is accepted without a reason")
        accepted[cells[0]] = Accepted(*cells)
    return accepted


def _check(args: argparse.Namespace) -> int:
    snapshot = json.loads((args.advisories / "snapshot.json").read_text())
    pins = read_pins(args.lock)
    advisories = load_advisories(args.advisories / "pypa")
    accepted = read_accepted(args.accepted)
    count = len({a.id for found in advisories.values() for a in found})
    print(
        f"audit: offline: the PyPA advisory database ({snapshot['source']}) at {snapshot['commit'][:12]}, "
        f"dated {snapshot['date']}: {count} advisories for the pinned packages"
    )
    print(
        f"audit: advisories published after {snapshot['date']} are NOT covered "
        "(refresh the snapshot: 3rdparty/advisories/README.md)"
    )
    uncovered = [pin for pin in pins if normalize(pin.name) not in set(snapshot["packages"])]
    for pin in uncovered:
        print(f"NOT COVERED {pin.name}=={pin.version}: pinned since the advisories were cut; refresh them")
    unexplained = 0
    used: set[str] = set()
    for finding in find(pins, advisories):
        advisory, pin = finding.advisory, finding.pin
        ids = [advisory.id, *advisory.aliases]
        known = next((accepted[i] for i in ids if i in accepted), None)
        fixes = ", ".join(finding.fixed) or "no fixed version"
        head = f"{pin.name}=={pin.version}: {advisory.id} ({', '.join(advisory.aliases)}) fixed in {fixes}"
        if known is not None:
            used.add(known.id)
            print(f"ACCEPTED {head}\n    docs/security.md: {known.reason} (review by {known.review_by})")
            continue
        unexplained += 1
        print(f"FINDING {head}\n    {advisory.summary[:300]}")
    for stale in sorted(set(accepted) - used):
        print(f"audit: note: {stale} is accepted in docs/security.md but affects no pin offline")
    print(
        f"audit: offline: {len(pins) - len(uncovered)} pins audited, {unexplained} unexplained findings, "
        f"{len(used)} accepted, {len(uncovered)} not covered"
    )
    return 1 if unexplained else (2 if uncovered else 0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.osv_audit", description=__doc__.split("\n")[0])
    parser.add_argument("--lock", type=Path, default=REPO / "3rdparty/python/default.lock")
    parser.add_argument("--advisories", type=Path, default=REPO / "3rdparty/advisories")
    parser.add_argument("--accepted", type=Path, default=REPO / "docs/security.md")
    parser.add_argument("command", choices=["check", "accepted"])
    args = parser.parse_args(argv)
    try:
        if args.command == "accepted":
            print("\n".join(sorted(read_accepted(args.accepted))))
            return 0
        return _check(args)
    except AdvisoryError as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
