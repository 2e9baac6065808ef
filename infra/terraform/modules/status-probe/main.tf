# What yellow's status page needs to probe the data tier (hn_datatier.ProbeConfig.from_env), the
# way `hn up` gives it locally (tools/hn: _status_env): the Sentinels and Pgpool to ask, the role
# to ask Pgpool as, and the two passwords as files. No provider and no resource: the output is
# plain text, so tests/fixtures/render renders it offline into yellow's unit and prepare script.
#
# The passwords stay SecureStrings: hn-service's extra_ssm_files makes the host fetch them at each
# start into files only the service user reads, and the unit names the files (*_FILE), so user
# data, the unit and Terraform state hold parameter names, never a value.

locals {
  files = {
    "sentinel.password"       = var.sentinel_credential_parameter
    "pgpool-monitor.password" = var.pgpool_credential_parameter
  }
  env = {
    HN_SENTINELS                    = var.sentinels
    HN_PGPOOL                       = var.pgpool
    HN_PGPOOL_MONITOR_USER          = var.pgpool_user
    HN_SENTINEL_PASSWORD_FILE       = "${var.state_dir}/sentinel.password"
    HN_PGPOOL_MONITOR_PASSWORD_FILE = "${var.state_dir}/pgpool-monitor.password"
  }
}
