"""The verdict on one `npm audit --package-lock-only --json` report (scripts/audit-dependencies.sh).

    python -m scripts.npm_audit <report.json> <package-lock.json>
    # exit 0 audited and clean, 1 unexplained findings, 10 not audited (the registry's audit
    # endpoint did not answer), 3 a report this cannot read

npm exits 1 both when it finds something and when it cannot ask the registry, so its exit status
says nothing; the report does. A report with `vulnerabilities` (npm 7+'s format, auditReportVersion
2) is an audit; one without (`{"error": ...}` or `{"message": ..., "statusCode": ...}`: no network,
a registry or mirror that refuses the bulk advisory POST) is no audit at all, and is said so.

Each advisory is named by its GHSA id (from its URL), the ids docs/security.md's "Accepted
findings" table lists: a listed one is reported as accepted, any other is a finding. Packages
that are vulnerable only through another (`via` naming a package) are that advisory again, not
a finding of their own.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scripts.osv_audit import Accepted, AdvisoryError, read_accepted

__all__ = ["NotAudited", "NpmAdvisory", "Unreadable", "advisories", "main"]

REPO = Path(__file__).resolve().parents[1]
NOT_AUDITED = 10
_GHSA = re.compile(r"GHSA(-[23456789cfghjmpqrvwx]{4}){3}")


class Unreadable(ValueError):
    """Not an npm audit report (nor npm's error object): the tooling failed."""


@dataclass(frozen=True)
class NotAudited:
    reason: str


@dataclass(frozen=True)
class NpmAdvisory:
    id: str  # GHSA-..., or npm's own advisory number when the URL names none
    package: str
    vulnerable: str  # the range of versions it affects
    severity: str
    title: str
    url: str


def _id(via: Mapping[str, Any]) -> str:
    found = _GHSA.search(str(via.get("url", "")))
    return found.group(0) if found else f"npm-{via.get('source', '?')}"


def advisories(report: Mapping[str, Any]) -> list[NpmAdvisory] | NotAudited:
    """The advisories a report names (each once), or why there was no audit."""
    if "vulnerabilities" not in report:
        error = report.get("error")
        detail = report.get("message") or (error.get("summary") if isinstance(error, Mapping) else error)
        if not detail:
            raise Unreadable(f"neither an audit report nor npm's error: keys {sorted(report)}")
        return NotAudited(" ".join(str(detail).split())[:300])
    vulnerabilities = report["vulnerabilities"]
    if not isinstance(vulnerabilities, Mapping):
        raise Unreadable("`vulnerabilities` is not an object")
    found: dict[tuple[str, str], NpmAdvisory] = {}
    for package, entry in vulnerabilities.items():
        for via in entry.get("via", []):
            if not isinstance(via, Mapping):
                continue  # vulnerable through another package: that one carries the advisory
            advisory = NpmAdvisory(
                id=_id(via),
                package=str(via.get("name", package)),
                vulnerable=str(via.get("range", "")),
                severity=str(via.get("severity", "")),
                title=str(via.get("title", "")),
                url=str(via.get("url", "")),
            )
            found.setdefault((advisory.id, advisory.package), advisory)
    return sorted(found.values(), key=lambda a: (a.package, a.id))


def _packages(report: Mapping[str, Any]) -> str:
    total = report.get("metadata", {}).get("dependencies", {}).get("total")
    return f"{total} packages" if isinstance(total, int) else "its packages"


def verdict(report: Mapping[str, Any], lockfile: str, accepted: Mapping[str, Accepted]) -> tuple[int, list[str]]:
    """(exit status, lines to print) for one lockfile's report."""
    found = advisories(report)
    if isinstance(found, NotAudited):
        return NOT_AUDITED, [f"NOT AUDITED {lockfile}: the registry's audit endpoint did not answer: {found.reason}"]
    lines, unexplained = [], 0
    for advisory in found:
        head = (
            f"{lockfile}: {advisory.package} {advisory.vulnerable}: {advisory.id} ({advisory.severity}) {advisory.url}"
        )
        known = accepted.get(advisory.id)
        if known is not None:
            lines.append(f"ACCEPTED {head}\n    docs/security.md: {known.reason} (review by {known.review_by})")
            continue
        unexplained += 1
        lines.append(f"FINDING {head}\n    {advisory.title[:300]}")
    lines.append(
        f"audit: npm: {lockfile}: {_packages(report)} audited, {unexplained} unexplained findings, "
        f"{len(found) - unexplained} accepted"
    )
    return (1 if unexplained else 0), lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.npm_audit", description=__doc__.split("\n")[0])
    parser.add_argument("report", type=Path, help="npm audit --json output")
    parser.add_argument("lockfile", help="the package-lock.json it audited, as printed")
    parser.add_argument("--accepted", type=Path, default=REPO / "docs/security.md")
    args = parser.parse_args(argv)
    try:
        text = args.report.read_text() if args.report.exists() else ""
        if not text.strip():
            print(f"NOT AUDITED {args.lockfile}: npm audit wrote no report")
            return NOT_AUDITED
        try:
            report = json.loads(text)
        except json.JSONDecodeError as exc:
            raise Unreadable(f"{args.report}: not JSON: {exc}") from exc
        if not isinstance(report, Mapping):
            raise Unreadable(f"{args.report}: not a JSON object")
        status, lines = verdict(report, args.lockfile, read_accepted(args.accepted))
    except (Unreadable, AdvisoryError) as exc:
        print(f"audit: npm: {exc}", file=sys.stderr)
        return 3
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
