"""The offline dependency audit (scripts/osv_audit.py): OSV ranges matched in PEP 440 order on the
real PyPA advisories vendored in 3rdparty/advisories, accepted findings, and the subset's refresh."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from scripts.lock_pins import Pin, normalize, read_pins
from scripts.osv_audit import Advisory, AdvisoryError, affects, load_advisories, main, read_accepted
from scripts.refresh_advisories import refresh

# The repository (the sandbox root under Pants, which holds the vendored files).
REPO = Path(__file__).resolve().parents[2]
VENDORED = REPO / "3rdparty" / "advisories"


@pytest.fixture(scope="module")
def advisories() -> dict[str, list[Advisory]]:
    return load_advisories(VENDORED / "pypa")


def advisory(advisories: dict[str, list[Advisory]], package: str, advisory_id: str) -> Advisory:
    (found,) = (a for a in advisories[package] if a.id == advisory_id)
    return found


def ranges_only(found: Advisory) -> Advisory:
    """The advisory without its `versions` lists: only its ranges decide."""
    affected = tuple({k: v for k, v in entry.items() if k != "versions"} for entry in found.affected)
    return dataclasses.replace(found, affected=affected)


def test_ranges_are_walked_in_version_order_not_file_order(advisories: dict[str, list[Advisory]]) -> None:
    # Its ECOSYSTEM events come as introduced 2.0.0, fixed 2.0.6, introduced 0, fixed 1.26.17.
    found = ranges_only(advisory(advisories, "urllib3", "PYSEC-2023-192"))
    assert affects(found, Pin("urllib3", "1.0")) == ("1.26.17", "2.0.6")
    assert affects(found, Pin("urllib3", "1.26.16")) == ("1.26.17", "2.0.6")
    assert affects(found, Pin("urllib3", "1.26.17")) is None
    assert affects(found, Pin("urllib3", "2.0.0")) == ("2.0.6",)
    assert affects(found, Pin("urllib3", "2.0.5")) == ("2.0.6",)
    assert affects(found, Pin("urllib3", "2.0.6")) is None
    assert affects(found, Pin("urllib3", "2.8.0")) is None


def test_several_introduced_fixed_pairs_in_pep_440_order(advisories: dict[str, list[Advisory]]) -> None:
    found = ranges_only(advisory(advisories, "redis", "PYSEC-2023-45"))
    versions = ("4.1.9", "4.2.0", "4.3.5", "4.3.6", "4.4.0", "4.4.3", "4.5.2", "4.5.3", "5.2.1")
    hits = {v for v in versions if affects(found, Pin("redis", v)) is not None}
    assert hits == {"4.2.0", "4.3.5", "4.4.0", "4.5.2"}
    # PEP 440, not string order: a release candidate comes before its release, 4.10 after 4.5.
    assert affects(found, Pin("redis", "4.3.6rc1")) == ("4.3.6", "4.4.3", "4.5.3")
    assert affects(found, Pin("redis", "4.10.0")) is None
    assert affects(found, Pin("Redis", "4.2.0")) is not None, "names compare normalized"


def test_listed_versions_count_even_outside_the_ranges(advisories: dict[str, list[Advisory]]) -> None:
    """OSV: a version in `versions` is affected whatever the ranges say. PyPA's gevent advisory
    lists 23.9.0 while its range is fixed at 23.9.0."""
    found = advisory(advisories, "gevent", "PYSEC-2023-177")
    assert affects(found, Pin("gevent", "23.9.0")) == ()
    assert affects(ranges_only(found), Pin("gevent", "23.9.0")) is None
    assert affects(found, Pin("gevent", "1.0.0")) is not None, '"1.0" is listed: the same release'
    assert affects(found, Pin("gevent", "24.11.1")) is None


def test_withdrawn_advisories_are_left_out(advisories: dict[str, list[Advisory]]) -> None:
    assert (VENDORED / "pypa" / "vulns" / "redis" / "PYSEC-2023-73.yaml").exists()
    assert "PYSEC-2023-73" not in {a.id for a in advisories["redis"]}


def synthetic(events: list[dict[str, str]]) -> Advisory:
    entry = {"package": {"ecosystem": "PyPI", "name": "pkg"}, "ranges": [{"type": "ECOSYSTEM", "events": events}]}
    return Advisory("OSV-TEST-1", (), "", (entry,), "synthetic")


def test_last_affected_and_limit_events() -> None:
    """OSV's other two events (no vendored advisory uses them)."""
    last = synthetic([{"introduced": "1.0"}, {"last_affected": "1.4"}])
    assert [affects(last, Pin("pkg", v)) is not None for v in ("0.9", "1.0", "1.4", "1.4.post1", "1.5")] == [
        False,
        True,
        True,
        False,
        False,
    ]
    limited = synthetic([{"introduced": "0"}, {"limit": "2.0"}])
    assert affects(limited, Pin("pkg", "1.9")) is not None and affects(limited, Pin("pkg", "2.0")) is None


def test_an_unreadable_bound_fails_loud() -> None:
    with pytest.raises(AdvisoryError, match="not a PEP 440 version"):
        affects(synthetic([{"introduced": "0"}, {"fixed": "two"}]), Pin("pkg", "1.0"))


def write_lock(path: Path, pins: dict[str, str]) -> Path:
    requirements = [{"project_name": name, "version": version} for name, version in pins.items()]
    path.write_text(
        "// a Pants lockfile header\n" + json.dumps({"locked_resolves": [{"locked_requirements": requirements}]})
    )
    return path


def write_accepted(path: Path, rows: list[str]) -> Path:
    table = ["| id | package | why it is accepted | review by |", "|---|---|---|---|", *rows]
    path.write_text("# Security\n\n### Accepted findings\n\nText.\n\n" + "\n".join(table) + "\n\n## Next\n| x |\n")
    return path


def audit(tmp_path: Path, pins: dict[str, str], rows: list[str]) -> int:
    lock = write_lock(tmp_path / "default.lock", pins)
    accepted = write_accepted(tmp_path / "security.md", rows)
    return main(["--lock", str(lock), "--advisories", str(VENDORED), "--accepted", str(accepted), "check"])


def test_a_vulnerable_pin_fails_unless_accepted_with_a_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit(tmp_path, {"urllib3": "2.8.0", "gevent": "24.11.1"}, []) == 0
    out = capsys.readouterr().out
    assert "dated 2024-10-10" in out and "after 2024-10-10 are NOT covered" in out

    assert audit(tmp_path, {"urllib3": "1.26.17", "gevent": "24.11.1"}, []) == 1
    out = capsys.readouterr().out
    assert "FINDING urllib3==1.26.17: PYSEC-2023-212 (CVE-2023-45803, GHSA-g4mx-q9vg-27p4) fixed in 1.26.18" in out
    assert out.count("FINDING") == 1

    # Accepted by an alias, with a reason: passes, and says so.
    row = "| GHSA-g4mx-q9vg-27p4 | urllib3 | the redirect body is never sent by us | 2025-01-01 |"
    assert audit(tmp_path, {"urllib3": "1.26.17"}, [row]) == 0
    assert "ACCEPTED urllib3==1.26.17: PYSEC-2023-212" in capsys.readouterr().out

    # Without a reason it is no exemption at all.
    assert audit(tmp_path, {"urllib3": "1.26.17"}, ["| PYSEC-2023-212 | urllib3 |  | 2025-01-01 |"]) == 3
    assert "accepted without a reason" in capsys.readouterr().err


def test_a_package_pinned_after_the_cut_is_not_covered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert audit(tmp_path, {"urllib3": "2.8.0", "left-pad": "1.0"}, []) == 2
    assert "NOT COVERED left-pad==1.0" in capsys.readouterr().out


def test_accepted_table_rows(tmp_path: Path) -> None:
    path = write_accepted(tmp_path / "security.md", ["| PYSEC-2023-212 | urllib3 | not reachable | 2025-01-01 |"])
    assert read_accepted(path)["PYSEC-2023-212"].reason == "not reachable"
    write_accepted(path, ["| not-an-id | urllib3 | reason | 2025-01-01 |"])
    with pytest.raises(AdvisoryError, match="expected"):
        read_accepted(path)


def test_refresh_cuts_the_pinned_packages_out_of_a_full_snapshot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full = tmp_path / "full"
    shutil.copytree(VENDORED / "pypa", full)
    other = full / "vulns" / "not-pinned"
    other.mkdir()
    shutil.copy(VENDORED / "pypa" / "vulns" / "urllib3" / "PYSEC-2023-212.yaml", other / "PYSEC-0000-1.yaml")
    lock = write_lock(tmp_path / "default.lock", {"urllib3": "1.26.17", "Zope.Event": "6.2"})
    target = tmp_path / "advisories"
    described = refresh(full, lock, target, commit="abc123", date="2030-01-01")
    assert described["packages"] == ["urllib3", "zope-event"]
    assert sorted(p.name for p in (target / "pypa" / "vulns").iterdir()) == ["urllib3"]
    assert (target / "pypa" / "LICENSE").read_text() == (VENDORED / "pypa" / "LICENSE").read_text()
    accepted = write_accepted(tmp_path / "security.md", [])
    assert main(["--lock", str(lock), "--advisories", str(target), "--accepted", str(accepted), "check"]) == 1
    out = capsys.readouterr().out
    assert "at abc123, dated 2030-01-01" in out and "FINDING urllib3==1.26.17: PYSEC-2023-212" in out


def test_the_vendored_subset_is_the_pinned_packages_of_the_lockfile() -> None:
    """What `refresh` would write now: nothing pinned is missing, nothing unpinned is carried."""
    pinned = sorted({normalize(p.name) for p in read_pins(REPO / "3rdparty" / "python" / "default.lock")})
    snapshot = json.loads((VENDORED / "snapshot.json").read_text())
    assert snapshot["packages"] == pinned
    assert {normalize(p.name) for p in (VENDORED / "pypa" / "vulns").iterdir()} <= set(pinned)
