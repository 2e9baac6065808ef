output "contract" {
  description = "What the service roots read from SSM Parameter Store (/highnoon/<environment>/platform/<name>)."
  value       = local.contract
}

output "broker_endpoint" {
  description = "The brokers' stable public entry (host:port of the NLB)."
  value       = module.edge.broker_endpoint
}

output "brokerlist_dns_name" {
  description = "Point brokerlist's public name at this (an alias record to brokerlist_zone_id)."
  value       = module.edge.brokerlist_dns_name
}

output "brokerlist_zone_id" {
  description = "Hosted zone of the HTTPS load balancer."
  value       = module.edge.brokerlist_zone_id
}

output "data_hosts" {
  description = "Every data-tier host: role, fixed address, instance id."
  value       = module.data_tier.hosts
}

output "data_tier_secret_parameters" {
  description = "The SecureStrings to create before the first apply (bin/create-datatier-secrets.sh <env> makes them)."
  value       = module.data_tier.secret_parameters
}

output "data_tier_ssm_prefix" {
  description = "Where the data tier's passwords must be created before the first apply (README)."
  value       = module.data_tier.ssm_prefix
}
