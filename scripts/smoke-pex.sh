#!/usr/bin/env bash
# Builds every PEX the repository ships in ONE `./pants package`, then starts each the way a host
# does (only the PEX and CPython 3.11), next to one data tier started from its own PEX: it must
# answer (health over ZeroMQ, HTTP, metrics, or its CLI), then exit 0 on SIGTERM
# (scripts/smoke_pex.py says what each check is).
#   scripts/smoke-pex.sh            # yellow, sso, match, broker, brokerlist, autoscaler, agent, hn
#   scripts/smoke-pex.sh sso hn     # some of them (yellow and the data tier always start)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "${root}"
read -r -a targets < <(python3.11 scripts/smoke_pex.py --targets "$@")
./pants package "${targets[@]}"
exec python3.11 scripts/smoke_pex.py "$@"
