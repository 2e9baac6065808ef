"""The verdict on `npm audit --package-lock-only --json` reports (scripts/npm_audit.py): an audit
with advisories, accepted ones, and the reports of an audit that never happened."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scripts.npm_audit import NOT_AUDITED, NotAudited, Unreadable, advisories, main

# What npm 11 printed on this project's machines, whose registry proxy refuses the bulk POST.
REFUSED = {
    "message": "405 Method Not Allowed - POST https://registry.npmjs.org/-/npm/v1/security/advisories/bulk",
    "method": "POST",
    "uri": "https://registry.npmjs.org/-/npm/v1/security/advisories/bulk",
    "headers": {"allow": ["GET,HEAD"], "content-length": ["0"]},
    "statusCode": 405,
    "body": "",
    "error": {"summary": "", "detail": ""},
}
# No network at all: npm's error object alone.
OFFLINE = {
    "error": {
        "code": "ENOTFOUND",
        "summary": "request to https://registry.npmjs.org/-/npm/v1/security/advisories/bulk failed, reason: getaddrinfo ENOTFOUND registry.npmjs.org",
        "detail": "",
    }
}


def report(vulnerabilities: dict[str, Any]) -> dict[str, Any]:
    """npm 7+'s report (auditReportVersion 2), as `npm audit --json` writes it."""
    return {
        "auditReportVersion": 2,
        "vulnerabilities": vulnerabilities,
        "metadata": {
            "vulnerabilities": {"info": 0, "low": 0, "moderate": 0, "high": 0, "critical": 0, "total": 0},
            "dependencies": {"prod": 9, "dev": 30, "optional": 0, "peer": 0, "peerOptional": 0, "total": 38},
        },
    }


def via(package: str, ghsa: str, source: int) -> dict[str, Any]:
    return {
        "source": source,
        "name": package,
        "dependency": package,
        "title": f"{package}: a made-up flaw",
        "url": f"https://github.com/advisories/{ghsa}",
        "severity": "high",
        "cwe": ["CWE-400"],
        "cvss": {"score": 7.5, "vectorString": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"},
        "range": "<8.17.1",
    }


# ws has an advisory; a package that depends on it is vulnerable only through it (`via` a name).
VULNERABLE = report(
    {
        "ws": {
            "name": "ws",
            "severity": "high",
            "isDirect": True,
            "via": [via("ws", "GHSA-3h5v-q93c-6h6q", 1098392)],
            "effects": ["isomorphic-ws"],
            "range": "<8.17.1",
            "nodes": ["node_modules/ws"],
            "fixAvailable": True,
        },
        "isomorphic-ws": {
            "name": "isomorphic-ws",
            "severity": "high",
            "isDirect": False,
            "via": ["ws"],
            "effects": [],
            "range": "*",
            "nodes": ["node_modules/isomorphic-ws"],
            "fixAvailable": True,
        },
    }
)


def write_accepted(path: Path, rows: list[str]) -> Path:
    table = ["| id | package | why it is accepted | review by |", "|---|---|---|---|", *rows]
    path.write_text("# Security\n\n### Accepted findings\n\n" + "\n".join(table) + "\n\n## Next\n")
    return path


def run(tmp_path: Path, body: dict[str, Any] | str, rows: list[str] | None = None) -> int:
    path = tmp_path / "npm-audit.json"
    path.write_text(body if isinstance(body, str) else json.dumps(body))
    accepted = write_accepted(tmp_path / "security.md", rows or [])
    return main([str(path), "clients/web/package-lock.json", "--accepted", str(accepted)])


def test_each_advisory_is_named_once_by_its_ghsa_id() -> None:
    found = advisories(VULNERABLE)
    assert not isinstance(found, NotAudited)
    assert [(a.id, a.package, a.vulnerable, a.severity) for a in found] == [
        ("GHSA-3h5v-q93c-6h6q", "ws", "<8.17.1", "high")
    ]


def test_a_finding_fails_unless_accepted_with_a_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, VULNERABLE) == 1
    out = capsys.readouterr().out
    assert "FINDING clients/web/package-lock.json: ws <8.17.1: GHSA-3h5v-q93c-6h6q (high)" in out
    assert "38 packages audited, 1 unexplained findings, 0 accepted" in out
    rows = ["| GHSA-3h5v-q93c-6h6q | ws | the test's server only, never shipped | 2027-06-01 |"]
    assert run(tmp_path, VULNERABLE, rows) == 0
    out = capsys.readouterr().out
    assert "ACCEPTED" in out and "the test's server only, never shipped (review by 2027-06-01)" in out
    assert run(tmp_path, VULNERABLE, ["| GHSA-3h5v-q93c-6h6q | ws |  | 2027-06-01 |"]) == 3, "no reason, no exemption"


def test_a_clean_report_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, report({})) == 0
    assert "38 packages audited, 0 unexplained findings" in capsys.readouterr().out


@pytest.mark.parametrize("body, reason", [(REFUSED, "405 Method Not Allowed"), (OFFLINE, "ENOTFOUND")])
def test_a_registry_that_did_not_answer_is_no_audit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: dict[str, Any], reason: str
) -> None:
    """npm exits 1 here as it does on a finding; the report tells the two apart."""
    assert run(tmp_path, body) == NOT_AUDITED
    out = capsys.readouterr().out
    assert out.startswith("NOT AUDITED clients/web/package-lock.json: the registry's audit endpoint did not answer")
    assert reason in out


def test_no_report_is_no_audit_and_garbage_is_a_tooling_failure(tmp_path: Path) -> None:
    assert run(tmp_path, "") == NOT_AUDITED
    assert run(tmp_path, "npm ERR! something") == 3
    assert run(tmp_path, "[]") == 3
    with pytest.raises(Unreadable):
        advisories({"auditReportVersion": 2})
