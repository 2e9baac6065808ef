#!/usr/bin/env bash
# Builds the page into clients/web/dist/ (npm ci for the page and the SDK, then `npm run build`)
# unless dist/ is newer than everything it is built from; prints the folder. `./hn up` runs it and
# hands the folder to brokerlist (HN_BROKERLIST_PAGE_DIR). Exits 1, saying why, without npm.
set -euo pipefail
web="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "${web}/../.." && pwd)"
built="${web}/dist/play.js"

if ! command -v npm >/dev/null; then
  echo "clients/web: no npm on PATH: the page is not built (install Node.js 20 or later)" >&2
  exit 1
fi
sources=(
  "${web}/src" "${web}/scripts/build.mjs" "${web}/package-lock.json"
  "${repo}/clients/typescript/src" "${repo}/clients/typescript/package-lock.json"
  "${repo}/libs/hn-runtime/idl" "${repo}/services"/*/idl
)
# The SDK's generated code (src/gen/) is made by the build itself, before the bundle.
if [[ ! -f ${built} || -n $(find "${sources[@]}" -newer "${built}" -not -path '*/src/gen/*' -print -quit) ]]; then
  echo "clients/web: building the page (npm ci, the SDK, esbuild)" >&2
  (cd "${web}" && npm ci --prefer-offline --no-audit --no-fund && npm run build) >&2
fi
echo "${web}/dist"
