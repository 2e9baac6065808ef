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
