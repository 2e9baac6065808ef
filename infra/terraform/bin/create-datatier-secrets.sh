#!/usr/bin/env bash
# Creates the data tier's passwords in SSM Parameter Store as SecureStrings, each 32 random letters
# and digits, unless the parameter exists already (it never overwrites one: rotating is a
# deliberate `put-parameter --overwrite`, README). Terraform never sees a value: its state holds
# the parameters' names only. Run once per environment, before the first apply of envs/<env>.
#   infra/terraform/bin/create-datatier-secrets.sh staging
# Needs the AWS CLI with credentials that may put parameters under /highnoon/<env>/datatier.
set -euo pipefail
env="${1:?usage: create-datatier-secrets.sh <environment>}"
prefix="/highnoon/${env}/datatier"
# The same list as modules/data-tier-config's `secrets` (tests/ holds them equal).
names=(
  "${prefix}/client/env/PGPASSWORD"
  "${prefix}/postgres/replication_password"
  "${prefix}/postgres/pgpool_password"
  "${prefix}/redis-client/env/HN_REDIS_PASSWORD"
  "${prefix}/redis/sentinel_user_password"
  "${prefix}/redis/replica_user_password"
  "${prefix}/redis/admin_user_password"
  "${prefix}/redis/monitor_user_password"
  "${prefix}/sentinel-client/env/HN_SENTINEL_PASSWORD"
)

umask 077
value_file="$(mktemp)"
trap 'rm -f "${value_file}"' EXIT
for name in "${names[@]}"; do
  if aws ssm get-parameter --name "${name}" --query Parameter.Name --output text >/dev/null 2>&1; then
    echo "exists:  ${name}"
    continue
  fi
  # Letters and digits only: the hosts put them unquoted into redis.conf, sentinel.conf and
  # .pgpass. Through a file, never on a command line (every user of the machine can read those).
  python3 -c 'import secrets, string; print("".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32)), end="")' >"${value_file}"
  aws ssm put-parameter --type SecureString --name "${name}" --value "file://${value_file}" >/dev/null
  echo "created: ${name}"
done
