#!/usr/bin/env bash
# Packages one service as a PEX and starts it the way a host would (only the PEX and CPython
# 3.11), next to a data tier started from its own PEX; calls its `health` method with the PEX's
# own interpreter, then SIGTERMs it and expects exit 0.
#   scripts/smoke-pex.sh sso
set -euo pipefail
svc="${1:?usage: smoke-pex.sh <service>}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "${root}"
./pants package "services/${svc}:${svc}" libs/hn-datatier:datatier
pex="${root}/dist/services.${svc}/${svc}.pex"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "${pid}" 2>/dev/null || true; done
  wait || true
  rm -rf "${work}"
}
trap cleanup EXIT
export PEX_ROOT="${work}/pex_root"

wait_for_file() {  # file, pid, what
  for _ in $(seq 1 1200); do
    [[ -s "$1" ]] && return 0
    kill -0 "$2" 2>/dev/null || { cat "${work}"/*.log >&2 || true; echo "smoke: $3 exited early" >&2; exit 1; }
    sleep 0.1
  done
  echo "smoke: $3 never became ready" >&2; exit 1
}

python3.11 dist/libs.hn-datatier/datatier.pex up >"${work}/tier.env" 2>"${work}/tier.log" &
pids+=($!)
until grep -q '^# scratch' "${work}/tier.env" 2>/dev/null; do wait_for_file "${work}/tier.env" "${pids[0]}" "the data tier"; sleep 0.2; done
# shellcheck disable=SC1091
source "${work}/tier.env"

HN_READY_FILE="${work}/ready.json" HN_SSO_HASH_PROFILE=test python3.11 "${pex}" >"${work}/${svc}.log" 2>&1 &
pids+=($!)
wait_for_file "${work}/ready.json" "${pids[1]}" "${svc}.pex"
PEX_INTERPRETER=1 python3.11 "${pex}" -c "
import json, sys
from hn_runtime import get_service
rep = json.load(open(sys.argv[1]))['endpoints']['rep']
health = get_service('${svc}', endpoints=[rep], timeout=10).health()
assert health.service_name == '${svc}' and health.state == 'up', health
print('smoke: ${svc}.pex answered health:', health)
" "${work}/ready.json"
kill -TERM "${pids[1]}"
wait "${pids[1]}"
echo "smoke: ${svc}.pex drained and exited 0"
