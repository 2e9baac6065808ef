#!/usr/bin/env bash
# Sets up this machine (system packages, Pants) and runs every service locally on loopback until
# Ctrl-C, logs under run/<service>.log. The full local cluster with the data tier and bots comes
# with the `hn up` command (see the issues); this is its first step.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-system-packages.sh
./pants package services:: >/dev/null
mkdir -p run
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait
}
trap cleanup EXIT INT TERM
for svc in yellow brokerlist broker sso match; do
  rm -f "run/${svc}.ready"
  HN_READY_FILE="run/${svc}.ready" python3.11 "dist/services.${svc}/${svc}.pex" >"run/${svc}.log" 2>&1 &
  pids+=("$!")
done
for svc in yellow brokerlist broker sso match; do
  for _ in $(seq 1 600); do [[ -f "run/${svc}.ready" ]] && break; sleep 0.1; done
  printf '%-11s %s\n' "${svc}" "$(cat "run/${svc}.ready" 2>/dev/null || echo 'did not start: see run/'"${svc}"'.log')"
done
echo "running; Ctrl-C stops everything"
wait
