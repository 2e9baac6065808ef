# Reads the platform contract that envs/<environment> publishes in SSM Parameter Store. A
# service's root needs nothing else from the platform: not its state, not its credentials.

locals {
  names = [
    "vpc_id",
    "public_subnet_ids",
    "app_subnet_ids",
    "service_security_group_id",
    "broker_security_group_id",
    "broker_port",
    "broker_target_group_arn",
    "broker_ws_port",
    "broker_ws_target_group_arn",
    "brokerlist_target_group_arn",
    "yellow_private_ips",
    "yellow_subnet_ids",
    "hn_yellow",
    "hn_yellow_curve_key",
    "curve_authority",
    "hn_pg_dsn",
    "hn_redis_url",
    "pg_client_env_path",
    "redis_client_env_path",
    "artifact_bucket",
    "log_host",
    "monitoring_security_group_id",
    "monitoring_targets",
    "yellow_security_group_id",
    "hn_sentinels",
    "hn_pgpool",
    "sentinel_password_parameter",
    "pgpool_monitor_password_parameter",
  ]
}

data "aws_ssm_parameter" "contract" {
  for_each = toset(local.names)
  name     = "/highnoon/${var.environment}/platform/${each.key}"
}

locals {
  # Plain String parameters: insecure_value is their value without the sensitive mark.
  v = { for name in local.names : name => data.aws_ssm_parameter.contract[name].insecure_value }
}
