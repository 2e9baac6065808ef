"""Cut the advisories of the pinned packages out of a full PyPA advisory-database snapshot.

    python -m scripts.refresh_advisories ../shared/advisories/pypa --commit 3ccb612... --date 2024-10-10

Copies `vulns/<package>/` of every package 3rdparty/python/default.lock pins, with the snapshot's
README.md and LICENSE (CC-BY 4.0), into 3rdparty/advisories/pypa (replacing what was there), and
writes 3rdparty/advisories/snapshot.json: where the data came from, its commit and date, and every
package the cut covers, with advisories or not, so the audit tells a package pinned since the cut
(not covered: refresh) from a package without advisories. A snapshot that is a git checkout gives
its commit and date itself. Standard library only: no environment to set up.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from scripts.lock_pins import normalize, read_pins

__all__ = ["SOURCE", "refresh"]

SOURCE = "https://github.com/pypa/advisory-database"
REPO = Path(__file__).resolve().parents[1]


def refresh(snapshot: Path, lockfile: Path, target: Path, *, commit: str, date: str) -> dict[str, object]:
    """Replace `target/pypa` with the pinned packages' advisories from `snapshot`; returns the
    description written to `target/snapshot.json`."""
    if not (snapshot / "vulns").is_dir():
        raise SystemExit(f"refresh: {snapshot} has no vulns/ folder: not a PyPA advisory-database snapshot")
    pinned = sorted({normalize(pin.name) for pin in read_pins(lockfile)})
    folders = {normalize(folder.name): folder for folder in (snapshot / "vulns").iterdir() if folder.is_dir()}
    out = target / "pypa"
    if out.exists():
        shutil.rmtree(out)
    (out / "vulns").mkdir(parents=True)
    for name in ("README.md", "LICENSE"):
        shutil.copy2(snapshot / name, out / name)
    advisories = 0
    for name in pinned:
        if name in folders:
            shutil.copytree(folders[name], out / "vulns" / folders[name].name)
            advisories += sum(1 for _ in folders[name].glob("*.yaml"))
    description: dict[str, object] = {
        "source": SOURCE,
        "commit": commit,
        "date": date,
        "license": "CC-BY-4.0 (pypa/LICENSE)",
        "advisories": advisories,
        "packages": pinned,
    }
    (target / "snapshot.json").write_text(json.dumps(description, indent=1) + "\n")
    return description


def _git(snapshot: Path, *args: str) -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(snapshot), *args], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.refresh_advisories", description=__doc__.split("\n")[0])
    parser.add_argument("snapshot", type=Path, help="a PyPA advisory-database checkout or copy (holding vulns/)")
    parser.add_argument("--commit", default="", help="its commit (default: from git, if it is a checkout)")
    parser.add_argument("--date", default="", help="its date, YYYY-MM-DD (default: the commit's, from git)")
    parser.add_argument("--lock", type=Path, default=REPO / "3rdparty/python/default.lock")
    parser.add_argument("--target", type=Path, default=REPO / "3rdparty/advisories")
    args = parser.parse_args(argv)
    commit = args.commit or _git(args.snapshot, "rev-parse", "HEAD")
    date = args.date or _git(args.snapshot, "log", "-1", "--format=%cs")
    if not commit or not date:
        parser.error("the snapshot is not a git checkout: give --commit and --date")
    description = refresh(args.snapshot, args.lock, args.target, commit=commit, date=date)
    covered = description["packages"]
    assert isinstance(covered, list)
    print(
        f"refresh: {description['advisories']} advisories for the {len(covered)} pinned packages, "
        f"from {SOURCE} at {commit} ({date}), in {args.target}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
