#!/usr/bin/env bash
# Packs a built web page (clients/web/dist/, `npm run build`) into the archive brokerlist's hosts
# unpack and serve under /play/ (modules/pex-unit, HN_BROKERLIST_PAGE_DIR):
#   infra/terraform/bin/pack-page.sh <built folder> <archive.tar.gz>
# It refuses a folder brokerlist would refuse at its start (hn_brokerlist's own Page.load decides:
# page files only, no dotfiles, no symlinks, index.html), so a bad build fails here, not on a host.
# The archive is reproducible (names sorted, times, owners and gzip's header fixed): the same
# build packs to the same sha256, so publishing a release again finds the object it uploaded.
set -euo pipefail
src="${1:?usage: pack-page.sh <built folder> <archive.tar.gz>}"
out="${2:?usage: pack-page.sh <built folder> <archive.tar.gz>}"
root="$(cd "$(dirname "$0")/../../.." && pwd)"
page_py="${root}/services/brokerlist/src/hn_brokerlist/_page.py"

# _page.py uses the standard library only: loaded by its path, without the service's dependencies
# (-B: no __pycache__ left in the checkout, which a release must find clean).
python3 -B - "${page_py}" "${src}" <<'PY'
import importlib.util
import sys

spec = importlib.util.spec_from_file_location("hn_brokerlist_page", sys.argv[1])
page = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = page  # dataclasses looks its module up while building the classes
spec.loader.exec_module(page)
try:
    page.Page.load(sys.argv[2])
except page.PageError as exc:
    sys.exit(f"pack-page: brokerlist would refuse this page: {exc}")
PY

tmp="$(mktemp "${out}.XXXXXX")"
trap 'rm -f "${tmp}"' EXIT
LC_ALL=C tar --create --file=- --directory="${src}" --sort=name --format=gnu \
  --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u=rwX,go=rX . | gzip -9 -n >"${tmp}"
chmod 0644 "${tmp}"
mv -f "${tmp}" "${out}"
trap - EXIT
sha256sum "${out}" | cut -d' ' -f1
