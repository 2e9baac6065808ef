#!/usr/bin/env bash
# Dependency audit: every requirement pinned in 3rdparty/python/default.lock (direct and transitive),
# and every npm lockfile of the repository (clients/typescript, clients/web: package-lock.json).
#
#   scripts/audit-dependencies.sh                    # fails on a finding not accepted in docs/security.md
#   scripts/audit-dependencies.sh --allow-unaudited  # also passes (loudly) when some pin could not be audited
#
# Vulnerability data is asked of OSV first, then of PyPI's JSON API, through pip-audit
# (HN_AUDIT_SERVICES="osv pypi" sets the order); a service that answers for no pin at all is
# treated as unreachable. When none answers, the pins are checked offline against the PyPA
# advisories vendored in 3rdparty/advisories (scripts/osv_audit.py prints the snapshot's date:
# later advisories are not covered). Accepted findings are the vulnerability ids listed, with a
# reason, in the "Accepted findings" table of docs/security.md. Pins PyPI has yanked are reported too.
# npm lockfiles: `npm audit --package-lock-only` asks the npm registry's advisory endpoint (nothing
# installed); a finding fails like a Python one, but there is no offline copy of npm's advisories, so
# a lockfile the registry could not audit is reported NOT AUDITED and does not change the exit status.
# pip-audit and the offline matcher's two packages (pinned below) live in a cached venv.
#
# Exit status: 0 audited, nothing unexplained (or not audited with --allow-unaudited);
# 1 findings (Python or npm); 2 not audited (no service answered and a pin is not covered offline); 3 the tooling failed.
set -euo pipefail
cd "$(dirname "$0")/.."

PIP_AUDIT_VERSION=2.10.1
# The offline matcher's imports, at the lockfile's versions (its test runs with those under Pants).
audit_pins=("pip-audit==$PIP_AUDIT_VERSION" "packaging==26.4" "PyYAML==6.0.4")
allow_unaudited=0
for arg in "$@"; do
  case "$arg" in
    --allow-unaudited) allow_unaudited=1 ;;
    -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "audit: unknown argument $arg" >&2; exit 3 ;;
  esac
done

python=""
for candidate in python3.11 python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 9))'; then
    python="$candidate"
    break
  fi
done
[ -n "$python" ] || { echo "audit: needs CPython >= 3.9" >&2; exit 3; }

venv="${HN_AUDIT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/highnoon/audit-tools}"
if [ ! -x "$venv/bin/pip-audit" ] || [ "$(cat "$venv/.pins" 2>/dev/null)" != "${audit_pins[*]}" ]; then
  echo "audit: installing ${audit_pins[*]} into $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${audit_pins[@]}" \
    >"$venv/install.log" 2>&1; then
    cat "$venv/install.log" >&2
    rm -rf "$venv"
    echo "audit: cannot install ${audit_pins[*]} from PyPI" >&2
    exit 3
  fi
  echo "${audit_pins[*]}" >"$venv/.pins"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The Python parts are modules of the repository root (scripts/BUILD; tested under Pants).
"$python" -m scripts.lock_pins 3rdparty/python/default.lock >"$work/pinned.txt"
echo "audit: $(wc -l <"$work/pinned.txt") pinned requirements in 3rdparty/python/default.lock"

# Accepted findings: the ids in the first column of docs/security.md's "Accepted findings" table
# (a row without a reason fails here).
"$venv/bin/python" -m scripts.osv_audit accepted >"$work/accepted.txt" || exit 3
ignores=()
while read -r id; do
  [ -n "$id" ] && ignores+=(--ignore-vuln "$id")
done <"$work/accepted.txt"
[ ${#ignores[@]} -eq 0 ] || echo "audit: accepted (explained in docs/security.md): ${ignores[*]//--ignore-vuln /}"

audited=""
status=0
for service in ${HN_AUDIT_SERVICES:-osv pypi}; do
  echo "audit: asking $service"
  rc=0
  "$venv/bin/pip-audit" --requirement "$work/pinned.txt" --no-deps --disable-pip \
    --vulnerability-service "$service" --format json --output "$work/$service.json" \
    --progress-spinner off --timeout 30 --desc on --aliases on "${ignores[@]}" 2>"$work/$service.err" || rc=$?
  verdict=0
  "$python" - "$work/$service.json" "$service" "$rc" "$work/$service.err" <<'EOF' || verdict=$?
import json, os, sys
path, service, rc, err = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if not os.path.exists(path) or os.path.getsize(path) == 0:
    last = ([line.strip() for line in open(err) if line.strip()] or ["(no output)"])[-1]
    print(f"audit: {service} unreachable (pip-audit exit {rc}, no report): {last[:300]}")
    sys.exit(10)
report = json.load(open(path))
deps = report["dependencies"]
skipped = [d for d in deps if "skip_reason" in d]
if deps and len(skipped) == len(deps):
    print(f"audit: {service} answered for none of the {len(deps)} pins ({skipped[0]['skip_reason']}): unreachable here")
    sys.exit(10)
found = [(d["name"], d["version"], v) for d in deps for v in d.get("vulns", [])]
for name, version, v in found:
    fixes = ", ".join(v.get("fix_versions") or []) or "no fixed version"
    aliases = ", ".join(v.get("aliases") or [])
    print(f"FINDING {name}=={version}: {v['id']} ({aliases}) fixed in {fixes}\n    {(v.get('description') or '').strip()[:300]}")
for d in skipped:
    print(f"NOT AUDITED {d['name']}: {d['skip_reason']}")
print(f"audit: {service}: {len(deps) - len(skipped)} pins audited, {len(found)} unexplained findings, {len(skipped)} not audited")
sys.exit(1 if found else (2 if skipped else 0))
EOF
  [ "$verdict" -ne 10 ] || continue
  audited="$service"
  status=$verdict
  break
done

if [ -z "$audited" ]; then
  echo "audit: no vulnerability service answered from here: checking the vendored advisories instead"
  status=0
  "$venv/bin/python" -m scripts.osv_audit check || status=$?
  [ "$status" -eq 3 ] && exit 3
  [ "$status" -eq 2 ] || audited="offline"
fi

# Yanked pins: PyPI's simple API (PEP 691 JSON) says which release files their maintainers withdrew.
"$python" - "$work/pinned.txt" <<'EOF' || true
import json, re, sys, urllib.request
yanked, unreachable, unknown = [], 0, []
for line in open(sys.argv[1]):
    name, version = line.strip().split("==")
    request = urllib.request.Request(
        f"https://pypi.org/simple/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    try:
        files = json.load(urllib.request.urlopen(request, timeout=30))["files"]
    except Exception:  # noqa: BLE001 - a report, not a gate: say what could not be checked
        unreachable += 1
        continue
    release = re.compile(rf"-{re.escape(version)}(-|\.tar\.gz$|\.zip$)")
    mine = [f for f in files if release.search(f["filename"])]
    if not mine:
        unknown.append(f"{name}=={version}")
    withdrawn = [f for f in mine if f.get("yanked")]
    if withdrawn:
        reason = withdrawn[0]["yanked"]
        yanked.append((name, version, reason if isinstance(reason, str) else ""))
for name, version, reason in yanked:
    print(f"YANKED {name}=={version}: {reason or 'no reason given'}")
checked = sum(1 for _ in open(sys.argv[1])) - unreachable - len(unknown)
print(f"audit: yanked pins: {len(yanked)} of {checked} checked on PyPI"
      + (f"; {unreachable} unreachable" if unreachable else "")
      + (f"; no such release file: {', '.join(unknown)}" if unknown else ""))
EOF

# npm lockfiles (tracked ones: node_modules/ holds none of ours). npm exits 1 on a finding and on an
# unreachable registry alike: scripts.npm_audit reads the report to tell them apart.
npm_found=0
npm_unaudited=()
mapfile -t locks < <(git ls-files -- '*package-lock.json' | grep -v '/node_modules/')
for lock in "${locks[@]}"; do
  dir="$(dirname "$lock")"
  if ! command -v npm >/dev/null; then
    echo "NOT AUDITED $lock: npm is not installed here"
    npm_unaudited+=("$lock")
    continue
  fi
  echo "audit: npm: asking the registry about $lock"
  report="$work/npm-$(echo "$dir" | tr / -).json"
  (cd "$dir" && timeout 180 npm audit --package-lock-only --json --fetch-retries=1 --fetch-timeout=30000 \
    >"$report" 2>"$report.err") || true
  verdict=0
  "$venv/bin/python" -m scripts.npm_audit "$report" "$lock" || verdict=$?
  case "$verdict" in
    0) ;;
    1) npm_found=1 ;;
    10) npm_unaudited+=("$lock") ;;
    *) cat "$report.err" >&2; exit 3 ;;
  esac
done
if [ ${#npm_unaudited[@]} -gt 0 ]; then
  echo "audit: npm: NOT AUDITED: ${npm_unaudited[*]} (no offline copy of npm's advisories; not a failure)"
fi

if [ -z "$audited" ]; then
  [ "$npm_found" -eq 0 ] || exit 1
  echo "audit: NOT AUDITED: pins not covered by the vendored advisories (see docs/security.md, Dependency audit)"
  if [ "$allow_unaudited" -eq 1 ]; then
    echo "audit: --allow-unaudited: passing anyway"
    exit 0
  fi
  exit 2
fi
if [ "$npm_found" -eq 1 ] && [ "$status" -ne 3 ]; then
  exit 1
fi
exit "$status"
