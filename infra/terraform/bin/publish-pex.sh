#!/usr/bin/env bash
# Builds one PEX, uploads it as an immutable release and writes the tfvars that deploy it:
#   infra/terraform/bin/publish-pex.sh <environment> <service>   # services/<service>
#   infra/terraform/bin/publish-pex.sh <environment> datatier    # libs/hn-datatier (the Sentinel agent)
#   infra/terraform/bin/publish-pex.sh <environment> autoscaler  # libs/hn-autoscale (infra/terraform/autoscaler)
# The release is <BUILD version>+g<commit>, so a release names the code it was built from; an
# object already uploaded under that name is never replaced (the hosts check its sha256 anyway).
# brokerlist's release also carries the browser page it serves under /play/ (clients/web, built
# with `npm ci && npm run build`, so Node.js 20+ and npm are needed): packed by bin/pack-page.sh and
# uploaded beside the PEX as services/brokerlist/<version>/page.tar.gz, its sha256 written into the
# same tfvars. HN_PUBLISH_PAGE=0 publishes the PEX alone and writes `page = null` (no page).
# Needs the AWS CLI with credentials for the environment's account.
set -euo pipefail
env="${1:?usage: publish-pex.sh <environment> <service|datatier|autoscaler>}"
what="${2:?usage: publish-pex.sh <environment> <service|datatier|autoscaler>}"
root="$(cd "$(dirname "$0")/../../.." && pwd)"
cd "${root}"

if [[ "${what}" == "datatier" ]]; then
  target="libs/hn-datatier:datatier"
  build="libs/hn-datatier/BUILD"
  pex="dist/libs.hn-datatier/datatier.pex"
  prefix="libs/hn-datatier"
  name="datatier"
  tfvars="infra/terraform/envs/${env}/datatier.release.tfvars"
  var_prefix="datatier_"
elif [[ "${what}" == "autoscaler" ]]; then
  target="libs/hn-autoscale:autoscaler"
  build="libs/hn-autoscale/BUILD"
  pex="dist/libs.hn-autoscale/autoscaler.pex"
  # Where modules/hn-service fetches a release from (services/<name>/<version>/<name>.pex).
  prefix="services/autoscaler"
  name="autoscaler"
  tfvars="infra/terraform/autoscaler/${env}.release.tfvars"
  var_prefix=""
else
  target="services/${what}:${what}"
  build="services/${what}/BUILD"
  pex="dist/services.${what}/${what}.pex"
  prefix="services/${what}"
  name="${what}"
  tfvars="infra/terraform/services/${what}/${env}.release.tfvars"
  var_prefix=""
fi
[[ -f "${build}" ]] || { echo "publish-pex: no ${build}" >&2; exit 1; }
if [[ -n "$(git status --porcelain -- "$(dirname "${build}")" libs)" ]]; then
  echo "publish-pex: uncommitted changes under $(dirname "${build}") or libs/: commit first, a release names a commit" >&2
  exit 1
fi
# The page is built from clients/web, the TypeScript SDK and every IDL (libs/ is checked above).
page="no"
if [[ "${what}" == "brokerlist" && "${HN_PUBLISH_PAGE:-1}" != "0" ]]; then
  page="yes"
  page_sources=(clients/web clients/typescript services/*/idl)
  if [[ -n "$(git status --porcelain -- "${page_sources[@]}")" ]]; then
    echo "publish-pex: uncommitted changes under ${page_sources[*]}: commit first, a release names a commit" >&2
    exit 1
  fi
  command -v npm >/dev/null || {
    echo "publish-pex: brokerlist's page needs npm (Node.js 20 or later); HN_PUBLISH_PAGE=0 publishes without it" >&2
    exit 1
  }
fi

base_version="$(sed -n 's/^[[:space:]]*version="\([^"]*\)".*/\1/p' "${build}" | head -n 1)"
version="${base_version}+g$(git rev-parse --short=10 HEAD)"
PANTS_CONCURRENT=True ./pants package "${target}"
sha256="$(sha256sum "${pex}" | cut -d' ' -f1)"
if [[ "${page}" == "yes" ]]; then
  (cd clients/web && npm ci --prefer-offline --no-audit --no-fund && npm run build)
  page_archive="dist/services.${what}/page.tar.gz"
  mkdir -p "$(dirname "${page_archive}")"
  page_sha256="$(infra/terraform/bin/pack-page.sh clients/web/dist "${page_archive}")"
fi

bucket="$(aws ssm get-parameter --name "/highnoon/${env}/platform/artifact_bucket" --query Parameter.Value --output text 2>/dev/null ||
  echo "highnoon-${env}-artifacts")"
upload_once() { # upload_once <file> <key> <sha256>: a release's object is written once, never replaced
  local existing
  if existing="$(aws s3api head-object --bucket "${bucket}" --key "$2" --query 'Metadata.sha256' --output text 2>/dev/null)"; then
    if [[ "${existing}" != "$3" ]]; then
      echo "publish-pex: s3://${bucket}/$2 exists with another sha256 (${existing}); not replacing a release" >&2
      exit 1
    fi
  else
    aws s3api put-object --bucket "${bucket}" --key "$2" --body "$1" --metadata "sha256=$3" >/dev/null
  fi
  echo "publish-pex: s3://${bucket}/$2 (sha256 $3)"
}

upload_once "${pex}" "${prefix}/${version}/${name}.pex" "${sha256}"
if [[ "${page}" == "yes" ]]; then
  upload_once "${page_archive}" "${prefix}/${version}/page.tar.gz" "${page_sha256}"
fi

{
  echo "# Written by infra/terraform/bin/publish-pex.sh ${env} ${what}: the release to deploy."
  echo "${var_prefix}pex_version = \"${version}\""
  echo "${var_prefix}pex_sha256  = \"${sha256}\""
  if [[ "${page}" == "yes" ]]; then
    echo "# The browser page under /play/ (clients/web), published beside the PEX."
    echo "page = {"
    echo "  version = \"${version}\""
    echo "  sha256  = \"${page_sha256}\""
    echo "}"
  elif [[ "${what}" == "brokerlist" ]]; then
    echo "# Published with HN_PUBLISH_PAGE=0: no browser page."
    echo "page = null"
  fi
} >"${tfvars}"
echo "publish-pex: ${tfvars} written"
