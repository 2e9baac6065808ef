#!/usr/bin/env bash
# Packages one service as a PEX, starts it the way a host would (only the PEX and CPython 3.11),
# calls its `health` method with the PEX's own interpreter, then SIGTERMs it and expects exit 0.
#   scripts/smoke-pex.sh sso
set -euo pipefail
svc="${1:?usage: smoke-pex.sh <service>}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "${root}"
./pants package "services/${svc}:${svc}"
pex="${root}/dist/services.${svc}/${svc}.pex"
work="$(mktemp -d)"
trap 'kill "${pid}" 2>/dev/null || true; rm -rf "${work}"' EXIT
export PEX_ROOT="${work}/pex_root"
HN_READY_FILE="${work}/ready.json" HN_LOG_LEVEL=info python3.11 "${pex}" >"${work}/out.log" 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [[ -f "${work}/ready.json" ]] && break
  kill -0 "${pid}" 2>/dev/null || { cat "${work}/out.log"; echo "smoke: ${svc}.pex exited early" >&2; exit 1; }
  sleep 0.1
done
[[ -f "${work}/ready.json" ]] || { cat "${work}/out.log"; echo "smoke: ${svc}.pex never became ready" >&2; exit 1; }
PEX_INTERPRETER=1 python3.11 "${pex}" -c "
import json, sys
from hn_runtime import get_service
rep = json.load(open(sys.argv[1]))['endpoints']['rep']
health = get_service('${svc}', endpoints=[rep], timeout=10).health()
assert health.service_name == '${svc}' and health.state == 'up', health
print('smoke: ${svc}.pex answered health:', health)
" "${work}/ready.json"
kill -TERM "${pid}"
wait "${pid}"
echo "smoke: ${svc}.pex drained and exited 0"
