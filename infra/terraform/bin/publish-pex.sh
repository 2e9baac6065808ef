#!/usr/bin/env bash
# Builds one PEX, uploads it as an immutable release and writes the tfvars that deploy it:
#   infra/terraform/bin/publish-pex.sh <environment> <service>   # services/<service>
#   infra/terraform/bin/publish-pex.sh <environment> datatier    # libs/hn-datatier (the Sentinel agent)
#   infra/terraform/bin/publish-pex.sh <environment> autoscaler  # libs/hn-autoscale (infra/terraform/autoscaler)
# The release is <BUILD version>+g<commit>, so a release names the code it was built from; an
# object already uploaded under that name is never replaced (the hosts check its sha256 anyway).
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

base_version="$(sed -n 's/^[[:space:]]*version="\([^"]*\)".*/\1/p' "${build}" | head -n 1)"
version="${base_version}+g$(git rev-parse --short=10 HEAD)"
PANTS_CONCURRENT=True ./pants package "${target}"
sha256="$(sha256sum "${pex}" | cut -d' ' -f1)"

bucket="$(aws ssm get-parameter --name "/highnoon/${env}/platform/artifact_bucket" --query Parameter.Value --output text 2>/dev/null ||
  echo "highnoon-${env}-artifacts")"
key="${prefix}/${version}/${name}.pex"
if existing="$(aws s3api head-object --bucket "${bucket}" --key "${key}" --query 'Metadata.sha256' --output text 2>/dev/null)"; then
  if [[ "${existing}" != "${sha256}" ]]; then
    echo "publish-pex: s3://${bucket}/${key} exists with another sha256 (${existing}); not replacing a release" >&2
    exit 1
  fi
else
  aws s3api put-object --bucket "${bucket}" --key "${key}" --body "${pex}" --metadata "sha256=${sha256}" >/dev/null
fi

cat >"${tfvars}" <<EOF
# Written by infra/terraform/bin/publish-pex.sh ${env} ${what}: the release to deploy.
${var_prefix}pex_version = "${version}"
${var_prefix}pex_sha256  = "${sha256}"
EOF
echo "publish-pex: s3://${bucket}/${key} (sha256 ${sha256}); ${tfvars} written"
