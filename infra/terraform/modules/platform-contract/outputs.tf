output "vpc_id" {
  description = "The environment's VPC."
  value       = local.v.vpc_id
}

output "public_subnet_ids" {
  description = "Public subnets (brokers)."
  value       = split(",", local.v.public_subnet_ids)
}

output "app_subnet_ids" {
  description = "Private subnets of the logic services."
  value       = split(",", local.v.app_subnet_ids)
}

output "service_security_group_id" {
  description = "Security group of the logic service hosts."
  value       = local.v.service_security_group_id
}

output "broker_security_group_id" {
  description = "Security group of the broker hosts."
  value       = local.v.broker_security_group_id
}

output "broker_port" {
  description = "Client port of the brokers."
  value       = tonumber(local.v.broker_port)
}

output "broker_target_group_arn" {
  description = "The broker NLB's target group."
  value       = local.v.broker_target_group_arn
}

output "broker_ws_port" {
  description = "WebSocket port of the brokers."
  value       = tonumber(local.v.broker_ws_port)
}

output "broker_ws_target_group_arn" {
  description = "The broker NLB's target group for the WebSocket port."
  value       = local.v.broker_ws_target_group_arn
}

output "brokerlist_target_group_arn" {
  description = "The HTTPS load balancer's target group (brokerlist)."
  value       = local.v.brokerlist_target_group_arn
}

output "yellow_private_ips" {
  description = "Fixed addresses of the yellow servers."
  value       = split(",", local.v.yellow_private_ips)
}

output "yellow_subnet_ids" {
  description = "Subnet of each yellow address, same order."
  value       = split(",", local.v.yellow_subnet_ids)
}

output "hn_yellow" {
  description = "HN_YELLOW for every process."
  value       = local.v.hn_yellow
}

output "hn_yellow_curve_key" {
  description = "HN_YELLOW_CURVE_KEY: yellow's CURVE public key, for every process but yellow."
  value       = local.v.hn_yellow_curve_key
}

output "curve_authority_parameter" {
  description = "The SSM parameter holding the CURVE authority, which the hosts read at every start (hn-service's curve_authority_parameter)."
  value       = data.aws_ssm_parameter.contract["curve_authority"].name
}

output "hn_pg_dsn" {
  description = "HN_PG_DSN (Pgpool), without password."
  value       = local.v.hn_pg_dsn
}

output "hn_redis_url" {
  description = "HN_REDIS_URL (Twemproxy), without password (HN_REDIS_PASSWORD comes from redis_client_env_path)."
  value       = local.v.hn_redis_url
}

output "pg_client_env_path" {
  description = "SSM path with PGPASSWORD, for the services that use PostgreSQL."
  value       = local.v.pg_client_env_path
}

output "redis_client_env_path" {
  description = "SSM path with HN_REDIS_PASSWORD, for the services that use Redis."
  value       = local.v.redis_client_env_path
}

output "artifact_bucket" {
  description = "Bucket of the PEX releases."
  value       = local.v.artifact_bucket
}

output "log_host" {
  description = "Private address of the log host every host ships its journal to (infra/terraform/monitoring runs it there)."
  value       = local.v.log_host
}

output "monitoring_security_group_id" {
  description = "Security group of the monitoring host (Prometheus, Alertmanager, Grafana, the log host): the data tier's exporters answer it."
  value       = local.v.monitoring_security_group_id
}

output "monitoring_targets" {
  description = "What Prometheus scrapes besides yellow's /sd: file_sd groups per data-tier exporter job (postgres, pgpool, redis) and the Twemproxy agents' metrics addresses."
  value       = jsondecode(local.v.monitoring_targets)
}

output "yellow_security_group_id" {
  description = "Security group of the yellow hosts (beside service_security_group_id): the Sentinels let it in, for the status page."
  value       = local.v.yellow_security_group_id
}

output "hn_sentinels" {
  description = "HN_SENTINELS for yellow's status page: every Sentinel as host:port, comma-separated."
  value       = local.v.hn_sentinels
}

output "hn_pgpool" {
  description = "HN_PGPOOL for yellow's status page: Pgpool's internal NLB, host:port."
  value       = local.v.hn_pgpool
}

output "sentinel_password_parameter" {
  description = "Name of the SecureString holding the Sentinels' password (yellow's status page reads it at each start)."
  value       = local.v.sentinel_password_parameter
}

output "pgpool_monitor_password_parameter" {
  description = "Name of the SecureString holding hn_pgpool's password, the role yellow's status page logs in to Pgpool as."
  value       = local.v.pgpool_monitor_password_parameter
}
