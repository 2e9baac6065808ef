output "contract" {
  description = "The platform contract the service roots read from SSM."
  value       = module.platform.contract
}

output "broker_endpoint" {
  description = "The brokers' stable public entry."
  value       = module.platform.broker_endpoint
}

output "brokerlist_dns_name" {
  description = "Point brokerlist's public name here."
  value       = module.platform.brokerlist_dns_name
}

output "data_hosts" {
  description = "The data tier's hosts and fixed addresses."
  value       = module.platform.data_hosts
}
