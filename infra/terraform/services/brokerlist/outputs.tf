output "autoscaling_group_name" {
  description = "The service's autoscaling group (empty for fixed-address services)."
  value       = module.service.autoscaling_group_name
}

output "private_ips" {
  description = "Addresses of fixed-address hosts (yellow)."
  value       = module.service.private_ips
}

output "artifact" {
  description = "The release the hosts run."
  value       = module.service.artifact
}

output "page_artifact" {
  description = "The browser page's archive the hosts serve under /play/ (empty: none)."
  value       = module.service.page_artifact
}

output "ssm_env_path" {
  description = "Where this service's secrets go in SSM Parameter Store (SecureString, one parameter per variable)."
  value       = module.service.ssm_env_path
}
