# Reading the data tier's secrets from SSM Parameter Store (SecureString) on a data host, with its
# instance role. Included by every boot script of infra/terraform/modules/data-tier-config.
# The region from the instance metadata (IMDSv2 only), unless given.
if [ -z "${AWS_DEFAULT_REGION:-}" ]; then
  token=$(curl -sSf -m 2 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" http://169.254.169.254/latest/api/token)
  AWS_DEFAULT_REGION=$(curl -sSf -m 2 -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/placement/region)
fi
export AWS_DEFAULT_REGION

# secret NAME: the value of one SecureString parameter.
secret() { aws ssm get-parameter --with-decryption --name "$1" --query Parameter.Value --output text; }

# fill_secrets IN OUT: IN (a configuration Terraform rendered, holding `@@ssm:<parameter>@@`
# markers and no password) copied to OUT (mode 0600) with each marker replaced by that
# parameter's value. Values must be letters and digits (bin/create-datatier-secrets.sh makes
# such): they go unquoted into redis.conf and sentinel.conf.
fill_secrets() {
  python3 - "$1" "$2" <<'PY'
import os
import re
import subprocess
import sys

source, target = sys.argv[1:]
with open(source) as fh:
    text = fh.read()
values = {}


def value(match):
    name = match.group(1)
    if name not in values:
        got = subprocess.run(
            ["aws", "ssm", "get-parameter", "--with-decryption", "--name", name,
             "--query", "Parameter.Value", "--output", "text"],
            capture_output=True, text=True,
        )
        if got.returncode != 0:
            sys.exit(f"fill_secrets: cannot read {name}: {got.stderr.strip()}")
        values[name] = got.stdout.strip()
        if not re.fullmatch(r"[A-Za-z0-9]{16,}", values[name]):
            sys.exit(f"fill_secrets: {name} must be at least 16 letters and digits")
    return values[name]


filled = re.sub(r"@@ssm:([A-Za-z0-9/_.-]+)@@", value, text)
fd = os.open(target + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as fh:
    fh.write(filled)
os.replace(target + ".tmp", target)
PY
}
